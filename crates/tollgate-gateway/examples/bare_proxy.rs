//! A bare reverse proxy on tollgate's stack (tokio, hyper 1, the pooled hyper-util legacy client):
//! the floor for `bench/gateway-vs-nginx.sh`, which runs it next to `tollgate serve` and nginx so
//! the report can split tollgate's CPU per request into what the stack costs and what tollgate's
//! own work (classification, policy, metrics, logging) adds. Not a product feature: no logging,
//! no classification, no timeouts, no header hygiene beyond what hyper does.
//!
//! Usage: `bare_proxy LISTEN_ADDR ORIGIN_URL`, e.g. `bare_proxy 127.0.0.1:9000 http://127.0.0.1:8000`.
//! Each request goes to the origin's scheme and authority with its own path and query and an
//! appended `X-Forwarded-For: <peer ip>`; bodies stream both ways; no answer from the origin → 502.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode, Uri, Version};
use http_body_util::{Either, Empty};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

type Body = Either<Incoming, Empty<Bytes>>;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [listen, origin] = args.as_slice() else {
        eprintln!("usage: bare_proxy LISTEN_ADDR ORIGIN_URL");
        std::process::exit(2);
    };
    let listen: SocketAddr = listen.parse()?;
    let origin: Uri = origin.parse()?;
    // Like `tollgate serve`: a multi-thread runtime, so TOKIO_WORKER_THREADS applies.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(run(listen, origin))
}

async fn run(listen: SocketAddr, origin: Uri) -> Result<(), Box<dyn std::error::Error>> {
    let mut conn = HttpConnector::new();
    conn.set_nodelay(true);
    let client: Client<_, Incoming> = Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(256)
        .build(conn);
    let listener = TcpListener::bind(listen).await?;
    loop {
        let Ok((stream, peer)) = listener.accept().await else {
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (client, origin) = (client.clone(), origin.clone());
        let xff = HeaderValue::try_from(peer.ip().to_string())?;
        tokio::spawn(async move {
            let svc = service_fn(move |req: Request<Incoming>| {
                let (client, origin, xff) = (client.clone(), origin.clone(), xff.clone());
                async move { Ok::<_, Infallible>(forward(&client, &origin, xff, req).await) }
            });
            let _ = auto::Builder::new(TokioExecutor::new())
                .serve_connection(TokioIo::new(stream), svc)
                .await;
        });
    }
}

async fn forward(
    client: &Client<HttpConnector, Incoming>,
    origin: &Uri,
    xff: HeaderValue,
    mut req: Request<Incoming>,
) -> Response<Body> {
    let mut parts = origin.clone().into_parts();
    parts.path_and_query = req.uri().path_and_query().cloned();
    let Ok(uri) = Uri::from_parts(parts) else {
        return status(StatusCode::BAD_REQUEST);
    };
    *req.uri_mut() = uri;
    *req.version_mut() = Version::HTTP_11; // an h2c client's request goes out over HTTP/1.1
    req.headers_mut().append("x-forwarded-for", xff);
    match client.request(req).await {
        Ok(resp) => resp.map(Either::Left),
        Err(_) => status(StatusCode::BAD_GATEWAY),
    }
}

fn status(code: StatusCode) -> Response<Body> {
    let mut resp = Response::new(Either::Right(Empty::new()));
    *resp.status_mut() = code;
    resp
}
