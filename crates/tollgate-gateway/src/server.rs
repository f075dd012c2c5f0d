//! Listeners: the public one (HTTP/1.1 and h2c on one port) and the admin one.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use crate::gateway::Gateway;

/// Accepts connections on `listener` until `shutdown` resolves. Each connection is served on its
/// own task with HTTP/1.1 or HTTP/2 (prior knowledge, "h2c"), whichever the client speaks. An
/// HTTP/1.1 connection whose client does not send a whole request head within
/// `[server] client_header_timeout_secs` (read when the connection is accepted) is closed.
pub async fn serve(
    gateway: Arc<Gateway>,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(target: "tollgate::server", error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let _ = stream.set_nodelay(true);
        let g = Arc::clone(&gateway);
        let header_timeout = gateway.live().config.server.client_header_timeout_secs;
        tokio::spawn(async move {
            let svc = service_fn(move |req| Arc::clone(&g).handle(peer, req));
            let mut builder = auto::Builder::new(TokioExecutor::new());
            if header_timeout > 0 {
                builder
                    .http1()
                    .timer(TokioTimer::new())
                    .header_read_timeout(Duration::from_secs(header_timeout));
            }
            if let Err(e) = builder.serve_connection(TokioIo::new(stream), svc).await {
                tracing::debug!(target: "tollgate::server", error = %e, %peer, "connection ended with an error");
            }
        });
    }
}

/// Binds `addr`, with a clear error naming it.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))
}
