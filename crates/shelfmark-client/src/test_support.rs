//! What the crate's unit tests share: servers on loopback that answer as a misconfigured
//! deployment would.

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// A plain HTTP server on loopback that answers anything with a 400 (what an `https://`
/// address pointed at a server without TLS meets).
pub(crate) async fn plain_http_server() -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binds");
    let addr = listener.local_addr().expect("address");
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            let mut buf = [0u8; 1024];
            let _ = socket.read(&mut buf).await;
            let _ = socket
                .write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n")
                .await;
        }
    });
    addr
}
