//! The running server the integration tests speak to: the real server on a loopback port
//! (port 0) over a fresh database, a librarian signed in, and the requests and records the
//! tests make again and again (shared by `api.rs` and `circulation.rs`).
// Each test binary uses its own part of this module.
#![allow(dead_code, unused_macros, unused_imports)]

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE, ETAG, IF_NONE_MATCH};
use reqwest::{Method, RequestBuilder, Response, StatusCode};
use serde_json::{Value, json};
use shelfmark_core::isbn;
use shelfmark_server::store::Store;
use shelfmark_server::{AppState, Config, serve};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use uuid::Uuid;

use super::{Backend, PASSWORD, TestDb};

/// A running server with a logged-in librarian.
pub(crate) struct Server {
    pub(crate) base: String,
    pub(crate) http: reqwest::Client,
    pub(crate) token: String,
    pub(crate) db: TestDb,
    pub(crate) state: AppState,
    pub(crate) stop: Option<oneshot::Sender<()>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

impl Server {
    pub(crate) async fn start(backend: Backend) -> Option<Server> {
        Server::start_with(backend, Config::default()).await
    }

    pub(crate) async fn start_with(backend: Backend, config: Config) -> Option<Server> {
        let db = TestDb::new(backend).await?;
        let store = db.store_with_staff().await;
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let (stop, stopped) = oneshot::channel::<()>();
        let state = AppState::new(store, config);
        tokio::spawn(serve(listener, state.clone(), async {
            let _ = stopped.await;
        }));
        let mut server = Server {
            base: format!("http://{addr}"),
            http: reqwest::Client::new(),
            token: String::new(),
            db,
            state,
            stop: Some(stop),
        };
        server.token = server.login("librarian").await;
        Some(server)
    }

    pub(crate) async fn login(&self, user: &str) -> String {
        let r = self
            .http
            .post(self.url("/v1/sessions"))
            .json(&json!({"username": user, "password": PASSWORD}))
            .send()
            .await
            .expect("login");
        assert_eq!(r.status(), StatusCode::CREATED);
        let body: Value = r.json().await.expect("json");
        body["token"].as_str().expect("token").to_owned()
    }

    pub(crate) fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// A request as the librarian.
    pub(crate) fn req(&self, method: Method, path: &str) -> RequestBuilder {
        self.http
            .request(method, self.url(path))
            .header(AUTHORIZATION, format!("Bearer {}", self.token))
    }

    pub(crate) async fn create(&self, path: &str, body: &Value) -> String {
        let r = self
            .req(Method::PUT, path)
            .header(IF_NONE_MATCH, "*")
            .json(body)
            .send()
            .await
            .expect("send");
        assert_eq!(r.status(), StatusCode::CREATED, "creating {path}");
        etag(&r)
    }

    pub(crate) async fn new_book(&self, n: u32, title: &str) -> (Uuid, String) {
        let id = Uuid::now_v7();
        let etag = self
            .create(&format!("/v1/books/{id}"), &book(id, n, title))
            .await;
        (id, etag)
    }
}

pub(crate) fn etag(r: &Response) -> String {
    r.headers()
        .get(ETAG)
        .and_then(|v| v.to_str().ok())
        .expect("an ETag")
        .to_owned()
}

pub(crate) fn book(id: Uuid, n: u32, title: &str) -> Value {
    json!({
        "id": id, "isbn": isbn::from_body(n), "title": title, "authors": ["Ann Author"],
        "publisher": "Harbour Press", "year": 2001, "subjects": ["Gardening"],
        "summary": "Line one.\nLine two.", "notes": ""
    })
}

pub(crate) fn copy(id: Uuid, book_id: Uuid, barcode: &str) -> Value {
    json!({"id": id, "book_id": book_id, "barcode": barcode, "branch": "Central",
           "call_number": "635 AUT", "status": "available"})
}

/// The problem document of an error answer, after checking its status and media type.
pub(crate) async fn problem(r: Response, status: StatusCode, name: &str) -> Value {
    assert_eq!(r.status(), status);
    assert_eq!(
        r.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()),
        Some("application/problem+json")
    );
    let body: Value = r.json().await.expect("problem json");
    assert_eq!(body["type"], format!("/problems/{name}"), "{body}");
    assert_eq!(body["status"], status.as_u16());
    assert!(body["title"].is_string() && body["detail"].is_string());
    body
}

macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(server) = super::Server::start(super::Backend::Sqlite).await {
                        super::$name(server).await;
                    }
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    if let Some(server) = super::Server::start(super::Backend::Postgres).await {
                        super::$name(server).await;
                    }
                }
            )*
        }
    };
}
pub(crate) use on_both_backends;

/// A new patron; a premium one is registered by the manager (only a manager may).
pub(crate) async fn new_patron(s: &Server, name: &str, premium: bool) -> Uuid {
    let id = Uuid::now_v7();
    let email = format!(
        "{}.{}@example.org",
        name.to_lowercase().replace(' ', "."),
        id.simple()
    );
    let path = format!("/v1/patrons/{id}");
    let request = if premium {
        s.as_manager(Method::PUT, &path).await
    } else {
        s.req(Method::PUT, &path)
    };
    let r = request
        .header(IF_NONE_MATCH, "*")
        .json(&json!({"id": id, "name": name, "email": email, "premium": premium, "branch": "Riverside"}))
        .send()
        .await
        .expect("send");
    assert_eq!(r.status(), StatusCode::CREATED, "creating {path}");
    id
}

/// A book with `copies` available copies.
pub(crate) async fn book_with_copies(s: &Server, n: u32, copies: usize) -> (Uuid, Vec<Uuid>) {
    let (book_id, _) = s.new_book(n, &format!("Contested {n}")).await;
    let mut ids = Vec::new();
    for i in 0..copies {
        let id = Uuid::now_v7();
        s.create(
            &format!("/v1/copies/{id}"),
            &copy(id, book_id, &format!("B{n}-{i}")),
        )
        .await;
        ids.push(id);
    }
    (book_id, ids)
}

/// The desktop's placement: the whole record, `copy_id: null`, `If-None-Match: *`.
pub(crate) fn place_hold(
    base: &str,
    s: &Server,
    hold_id: Uuid,
    patron: Uuid,
    book: Uuid,
) -> RequestBuilder {
    s.http
        .put(format!("{base}/v1/holds/{hold_id}"))
        .bearer_auth(&s.token)
        .header(IF_NONE_MATCH, "*")
        .json(
            &json!({"id": hold_id, "patron_id": patron, "book_id": book, "status": "active",
                      "copy_id": null, "cancel_reason": null}),
        )
}

pub(crate) async fn get_json(s: &Server, path: &str) -> (Value, String) {
    let r = s.req(Method::GET, path).send().await.expect("send");
    assert_eq!(r.status(), StatusCode::OK, "GET {path}");
    let tag = etag(&r);
    (r.json().await.expect("json"), tag)
}

pub(crate) async fn items(s: &Server, path: &str) -> Vec<Value> {
    let (page, _) = get_json(s, path).await;
    page["items"].as_array().expect("items").clone()
}

/// A second server instance on the same database; dropping the sender stops it.
pub(crate) async fn second_instance(s: &Server) -> (String, oneshot::Sender<()>) {
    second_instance_with(s, Config::default()).await
}

/// [`second_instance`] with its own settings.
pub(crate) async fn second_instance_with(
    s: &Server,
    config: Config,
) -> (String, oneshot::Sender<()>) {
    let store = Store::connect(&s.db.url).await.expect("second instance");
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let other = format!("http://{}", listener.local_addr().expect("addr"));
    let (stop, stopped) = oneshot::channel::<()>();
    tokio::spawn(serve(listener, AppState::new(store, config), async {
        let _ = stopped.await;
    }));
    (other, stop)
}

impl Server {
    /// A request as the manager.
    pub(crate) async fn as_manager(&self, method: Method, path: &str) -> RequestBuilder {
        let token = self.login("manager").await;
        self.http.request(method, self.url(path)).bearer_auth(token)
    }
}
