//! The origin: a pooled HTTP/1.1 client to `http://host:port` or a Unix socket, or static files
//! (`dir:`). Bodies stream both ways; nothing is buffered.

use std::path::{Path, PathBuf};
use std::time::Duration;

use http::uri::{Authority, PathAndQuery};
use http::{Request, Response, Uri};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tower::ServiceExt;
use tower_http::services::ServeDir;

use crate::config::Origin;
use crate::respond::{Body, BoxError};

/// Why the origin gave no response.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// Connection refused, reset, DNS, …
    #[error("the origin {origin} did not answer: {source}")]
    Unreachable {
        /// The origin.
        origin: String,
        /// Cause.
        source: BoxError,
    },
    /// The client's request body failed while it was being sent (bad chunked framing, cut
    /// short): a 400, not the origin's fault.
    #[error("the client's request body is malformed: {0}")]
    BadRequestBody(BoxError),
    /// No response head within the configured time.
    #[error("the origin {origin} did not answer within {secs} s")]
    Timeout {
        /// The origin.
        origin: String,
        /// The limit.
        secs: u64,
    },
}

enum Kind {
    Http {
        client: Client<HttpConnector, Incoming>,
        authority: Authority,
    },
    Unix {
        client: Client<hyperlocal::UnixConnector, Incoming>,
        path: PathBuf,
    },
    Dir {
        root: PathBuf,
        files: ServeDir,
    },
}

/// A configured origin.
pub struct Upstream {
    kind: Kind,
    timeout: Duration,
    name: String,
}

fn path_and_query(uri: &Uri) -> PathAndQuery {
    uri.path_and_query()
        .cloned()
        .unwrap_or_else(|| PathAndQuery::from_static("/"))
}

impl Upstream {
    /// Builds the client for `origin`. `connect_timeout` bounds TCP connects; `timeout` bounds
    /// the wait for the response head.
    pub fn new(origin: &Origin, connect_timeout: Duration, timeout: Duration) -> Upstream {
        let kind = match origin {
            Origin::Http(uri) => {
                let mut conn = HttpConnector::new();
                conn.set_connect_timeout(Some(connect_timeout));
                conn.set_nodelay(true);
                let client = Client::builder(TokioExecutor::new())
                    .pool_idle_timeout(Duration::from_secs(60))
                    .pool_max_idle_per_host(256)
                    .build(conn);
                let authority = uri
                    .authority()
                    .cloned()
                    .unwrap_or_else(|| Authority::from_static("127.0.0.1"));
                Kind::Http { client, authority }
            }
            Origin::Unix(path) => Kind::Unix {
                client: Client::builder(TokioExecutor::new()).build(hyperlocal::UnixConnector),
                path: path.clone(),
            },
            Origin::Dir(root) => Kind::Dir {
                root: root.clone(),
                files: ServeDir::new(root).append_index_html_on_directories(true),
            },
        };
        Upstream {
            kind,
            timeout,
            name: origin.to_string(),
        }
    }

    /// The origin's name for messages.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The `Host` to send when the client sent none (HTTP/2 carries `:authority` instead, and
    /// HTTP/1.0 may carry nothing): the origin's authority, or `localhost` for sockets and files.
    pub fn default_host(&self) -> &str {
        match &self.kind {
            Kind::Http { authority, .. } => authority.as_str(),
            _ => "localhost",
        }
    }

    /// Sends the (already header-cleaned) request to the origin. The request URI is replaced by
    /// the origin's; only its path and query are kept, so an absolute-form target
    /// (`GET http://elsewhere/`) can never send tollgate elsewhere.
    pub async fn forward(
        &self,
        mut req: Request<Incoming>,
    ) -> Result<Response<Body>, UpstreamError> {
        let pq = path_and_query(req.uri());
        match &self.kind {
            Kind::Http { client, authority } => {
                let uri = Uri::builder()
                    .scheme("http")
                    .authority(authority.clone())
                    .path_and_query(pq)
                    .build()
                    .map_err(|e| self.failed(e))?;
                *req.uri_mut() = uri;
                *req.version_mut() = http::Version::HTTP_11;
                let resp = tokio::time::timeout(self.timeout, client.request(req))
                    .await
                    .map_err(|_| self.timed_out())?
                    .map_err(|e| self.failed(e))?;
                Ok(resp.map(|b| b.map_err(|e| Box::new(e) as BoxError).boxed_unsync()))
            }
            Kind::Unix { client, path } => {
                *req.uri_mut() = hyperlocal::Uri::new(path, pq.as_str()).into();
                *req.version_mut() = http::Version::HTTP_11;
                let resp = tokio::time::timeout(self.timeout, client.request(req))
                    .await
                    .map_err(|_| self.timed_out())?
                    .map_err(|e| self.failed(e))?;
                Ok(resp.map(|b| b.map_err(|e| Box::new(e) as BoxError).boxed_unsync()))
            }
            Kind::Dir { root, files } => {
                if !names_a_file(pq.path()) {
                    // As ServeDir answers for a missing file (it answers 500 for a name the
                    // filesystem rejects as too long).
                    let mut resp = Response::new(crate::respond::full(bytes::Bytes::new()));
                    *resp.status_mut() = http::StatusCode::NOT_FOUND;
                    return Ok(resp);
                }
                // `//name` is a network-path reference: ServeDir's redirect to `//name/` would
                // send the client to the host `name`. One leading slash is the same file.
                let pq = match pq.as_str().len() - pq.as_str().trim_start_matches('/').len() {
                    0 | 1 => pq,
                    n => PathAndQuery::try_from(&pq.as_str()[n - 1..]).unwrap_or(pq),
                };
                if let Some(p) = feed_index(root, pq.path()) {
                    let q = pq.query().map(|q| format!("?{q}")).unwrap_or_default();
                    if let Ok(u) = format!("{p}{q}").parse::<Uri>() {
                        *req.uri_mut() = u;
                    }
                } else {
                    *req.uri_mut() = Uri::from(pq);
                }
                let resp = files
                    .clone()
                    .oneshot(req)
                    .await
                    .map_err(|e| self.failed(e))?;
                Ok(resp.map(|b| b.map_err(|e| Box::new(e) as BoxError).boxed_unsync()))
            }
        }
    }

    /// Why the request failed: the client's own body ([`request_body_failed`]) or the origin.
    fn failed(&self, e: impl Into<BoxError>) -> UpstreamError {
        let e = e.into();
        if request_body_failed(&*e) {
            return UpstreamError::BadRequestBody(e);
        }
        UpstreamError::Unreachable {
            origin: self.name.clone(),
            source: e,
        }
    }

    fn timed_out(&self) -> UpstreamError {
        UpstreamError::Timeout {
            origin: self.name.clone(),
            secs: self.timeout.as_secs(),
        }
    }
}

/// True if hyper's client failed because the request body it was sending failed (hyper reports
/// a body error as a user error, whose source is the incoming body's parse error).
fn request_body_failed(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(err) = cur {
        if let Some(h) = err.downcast_ref::<hyper::Error>() {
            if h.is_user() {
                return true;
            }
        }
        cur = err.source();
    }
    false
}

/// For `dir:` origins: a directory without `index.html` but with `index.xml` (a feed) serves the
/// feed, so `/feed/` works as it does on a typical site.
fn feed_index(root: &Path, path: &str) -> Option<String> {
    if !path.ends_with('/') || path.contains("..") {
        return None;
    }
    let dir = root.join(path.trim_start_matches('/'));
    (!dir.join("index.html").exists() && dir.join("index.xml").is_file())
        .then(|| format!("{path}index.xml"))
}

/// Longest file name the filesystem takes (`NAME_MAX` on Linux), bytes.
const NAME_MAX: usize = 255;

/// False if a segment of `path`, percent-decoded as ServeDir decodes it, is longer than any file
/// name can be: no file has that name.
fn names_a_file(path: &str) -> bool {
    path.split('/')
        .all(|seg| percent_encoding::percent_decode_str(seg).count() <= NAME_MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_longer_than_a_file_name_name_no_file() {
        let long = "p".repeat(256);
        assert!(names_a_file(&format!("/a/{}", "p".repeat(255))));
        assert!(!names_a_file(&format!("/a/{long}/b")));
        // Decoded length counts: 300 bytes of `%41` are 100 bytes of name.
        assert!(names_a_file(&format!("/{}", "%41".repeat(100))));
        assert!(!names_a_file(&format!("/{}", "%41".repeat(256))));
    }
}
