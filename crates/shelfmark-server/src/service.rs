//! The server as a network service: the accept loop, TLS, and each connection's protocol and
//! deadlines. Its own module (rather than `axum::serve`) because an admin's server must close
//! clients that stall: `axum::serve` has no deadline on a request's head, so idle and
//! half-sent connections would stay open until the process runs out of files.
//!
//! Plain connections speak HTTP/1.1 (loopback, or behind a TLS-terminating proxy); TLS ones
//! speak what ALPN chose, HTTP/2 or HTTP/1.1. Every HTTP/1 connection has
//! `Config::header_read_timeout` to send each request's head, kept-alive waits included; the
//! TLS handshake has the same bound. What happens after the head (body, handler) is bounded by
//! the request deadline in `http::guard`.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tower::Service;

use crate::state::AppState;

/// How long in-flight requests may take to finish once shutdown began.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// Serves `app` on `listener` (TLS when the state's config names certificate files) until
/// `shutdown` completes, then lets in-flight requests finish.
pub(crate) async fn run(
    listener: TcpListener,
    state: &AppState,
    app: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let tls = match &state.config.tls {
        Some(files) => Some(crate::tls::acceptor(files).map_err(std::io::Error::other)?),
        None => None,
    };
    let head_deadline = state.config.header_read_timeout;
    let graceful = GracefulShutdown::new();
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of files or a client gone before it was accepted: go on accepting
                    // once the moment passes, as every server does.
                    tracing::warn!(error = %e, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let connection = Connection {
            app: app.clone(),
            peer,
            head_deadline,
            watcher: graceful.watcher(),
        };
        tokio::spawn(connection.serve(stream, tls.clone()));
    }
    drop(listener);
    tracing::info!(
        connections = graceful.count(),
        "shutting down: finishing in-flight requests"
    );
    if tokio::time::timeout(SHUTDOWN_GRACE, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("requests still running after {SHUTDOWN_GRACE:?}: stopping them");
    }
    Ok(())
}

/// One accepted client.
struct Connection {
    app: Router,
    peer: SocketAddr,
    head_deadline: Duration,
    watcher: Watcher,
}

impl Connection {
    async fn serve(self, stream: TcpStream, tls: Option<TlsAcceptor>) {
        let Some(tls) = tls else {
            return self.http1(stream).await;
        };
        let stream = match tokio::time::timeout(self.head_deadline, tls.accept(stream)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) => {
                tracing::debug!(peer = %self.peer, error = %e, "TLS handshake refused");
                return;
            }
            Err(_) => {
                tracing::debug!(peer = %self.peer, "TLS handshake too slow: closed");
                return;
            }
        };
        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
        if h2 {
            self.http2(stream).await
        } else {
            self.http1(stream).await
        }
    }

    async fn http1<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(self, stream: S) {
        let service = self.service();
        let mut builder = hyper::server::conn::http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.head_deadline)
            .keep_alive(true);
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        if let Err(e) = self.watcher.watch(connection).await {
            tracing::debug!(peer = %self.peer, error = %e, "connection ended");
        }
    }

    async fn http2<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(self, stream: S) {
        let service = self.service();
        let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
        builder
            .timer(TokioTimer::new())
            // A peer that answers no ping within the deadline is gone: its streams are closed.
            .keep_alive_interval(Some(Duration::from_secs(20)))
            .keep_alive_timeout(self.head_deadline);
        let connection = builder.serve_connection(TokioIo::new(stream), service);
        if let Err(e) = self.watcher.watch(connection).await {
            tracing::debug!(peer = %self.peer, error = %e, "connection ended");
        }
    }

    /// The router, as hyper calls it, with the client's address for the handlers that need it
    /// (sign-in throttling).
    fn service(
        &self,
    ) -> impl hyper::service::Service<
        hyper::Request<Incoming>,
        Response = axum::response::Response,
        Error = std::convert::Infallible,
        Future: Send + 'static,
    > + Clone
    + Send
    + 'static {
        let app = self.app.clone();
        let peer = self.peer;
        hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            // The router is always ready: calling it without `poll_ready` is allowed.
            app.clone().call(request)
        })
    }
}
