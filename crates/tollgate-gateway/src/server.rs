//! Listeners: the public one (HTTP/1.1 and h2c on one port) and the admin one.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

use crate::gateway::Gateway;
use crate::respond::{Body, BoxError};

/// Accepts connections on `listener` until `shutdown` resolves. Each connection is served on its
/// own task with HTTP/1.1 or HTTP/2 (prior knowledge, "h2c"), whichever the client speaks, and
/// closed when its client starts no request for `[server] client_idle_timeout_secs` (read when
/// the connection is accepted; see [`serve_connection`]).
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
        let idle = gateway.live().config.server.client_idle_timeout_secs;
        tokio::spawn(serve_connection(
            Arc::clone(&gateway),
            stream,
            peer,
            Duration::from_secs(idle),
        ));
    }
}

/// Requests a connection has started and answered (responses whose body was written or dropped).
#[derive(Default)]
struct Activity {
    started: AtomicU64,
    finished: AtomicU64,
}

/// A response body that counts itself finished when hyper drops it (written, or the connection
/// gone), so an idle check knows whether a response is still streaming.
struct Counted {
    body: Body,
    activity: Arc<Activity>,
}

impl hyper::body::Body for Counted {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<hyper::body::Frame<Bytes>, BoxError>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> hyper::body::SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        self.activity.finished.fetch_add(1, Ordering::Relaxed);
    }
}

/// How long an idle connection has to close after a graceful shutdown (an HTTP/2 client
/// acknowledging the GOAWAY's PING) before it is dropped.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(2);

/// Serves one connection. Every `idle` period (zero: never) it checks whether the client
/// started a request or a response ended since the last check; if neither happened and no
/// response is still being written, the connection is shut down (HTTP/2: GOAWAY) and, if it has not closed after
/// [`SHUTDOWN_GRACE`], dropped. So a client that sends nothing, sends a request head too slowly
/// to finish it (slowloris), or leaves a keep-alive connection idle loses it after between one
/// and two periods — including a connection still being sniffed for HTTP/1.1 or HTTP/2, which
/// hyper alone would wait on forever — while a long upload or download goes on. One timer per
/// connection and period and two relaxed atomic adds per request, not a timer per request head
/// (hyper's `header_read_timeout`, about 1,500 instructions a request: docs/PERFORMANCE.md).
async fn serve_connection(
    gateway: Arc<Gateway>,
    stream: tokio::net::TcpStream,
    peer: SocketAddr,
    idle: Duration,
) {
    let activity = Arc::new(Activity::default());
    let svc = service_fn({
        let activity = Arc::clone(&activity);
        move |req| {
            activity.started.fetch_add(1, Ordering::Relaxed);
            let (gateway, activity) = (Arc::clone(&gateway), Arc::clone(&activity));
            async move {
                let resp = gateway.handle(peer, req).await?;
                Ok::<_, Infallible>(resp.map(|body| Counted { body, activity }))
            }
        }
    });
    let builder = auto::Builder::new(TokioExecutor::new());
    let conn = builder.serve_connection(TokioIo::new(stream), svc);
    tokio::pin!(conn);
    let result = if idle.is_zero() {
        conn.await
    } else {
        let mut seen = (0, 0);
        loop {
            tokio::select! {
                r = conn.as_mut() => break r,
                _ = tokio::time::sleep(idle) => {
                    let started = activity.started.load(Ordering::Relaxed);
                    let finished = activity.finished.load(Ordering::Relaxed);
                    // A response that ended since the last check counts as activity too: the
                    // client gets a whole period after it to send its next request.
                    let now = (started, finished);
                    if now == seen && started == finished {
                        tracing::debug!(target: "tollgate::server", %peer, "idle connection closed");
                        conn.as_mut().graceful_shutdown();
                        match tokio::time::timeout(SHUTDOWN_GRACE, conn.as_mut()).await {
                            Ok(r) => break r,
                            Err(_) => return,
                        }
                    }
                    seen = now;
                }
            }
        }
    };
    if let Err(e) = result {
        tracing::debug!(target: "tollgate::server", error = %e, %peer, "connection ended with an error");
    }
}

/// Binds `addr`, with a clear error naming it.
pub async fn bind(addr: SocketAddr) -> Result<TcpListener, String> {
    TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))
}
