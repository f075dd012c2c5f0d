//! The request as RFC 9421 sees it: the parts derived components are computed from, and the
//! header fields.

/// A borrowed view of one HTTP request for signing or verification.
///
/// `authority` is the request's host (and port) as the client addressed it — the `Host` header
/// or the HTTP/2 `:authority`; `path` is the absolute path without the query; `query` is the
/// query without the leading `?` (`None` when the target had no `?`).
#[derive(Debug, Clone, Copy)]
pub struct RequestView<'a> {
    /// Method, e.g. `GET` (RFC 9421 §2.2.1 `@method`, case kept).
    pub method: &'a str,
    /// `http` or `https` (§2.2.4 `@scheme`).
    pub scheme: &'a str,
    /// Host and optional port (§2.2.3 `@authority`).
    pub authority: &'a str,
    /// Absolute path, e.g. `/articles/42` (§2.2.6 `@path`).
    pub path: &'a str,
    /// Query without `?` (§2.2.7 `@query`, §2.2.8 `@query-param`).
    pub query: Option<&'a str>,
    /// The header fields (§2.1).
    pub headers: &'a http::HeaderMap,
}

impl<'a> RequestView<'a> {
    /// A view of `url` (`scheme://authority/path?query`) with `headers`.
    ///
    /// # Errors
    /// A message naming what is missing when `url` is not an absolute `http(s)` URL.
    pub fn from_url(
        method: &'a str,
        url: &'a str,
        headers: &'a http::HeaderMap,
    ) -> Result<RequestView<'a>, String> {
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| format!("`{url}`: not an absolute URL (scheme://host/path)"))?;
        if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
            return Err(format!("`{url}`: scheme must be http or https"));
        }
        let rest = rest.split_once('#').map_or(rest, |(r, _)| r);
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, target) = rest.split_at(split);
        if authority.is_empty() || authority.contains('@') {
            return Err(format!("`{url}`: no host, or user info in the authority"));
        }
        let (path, query) = match target.split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (target, None),
        };
        Ok(RequestView {
            method,
            scheme,
            authority,
            path: if path.is_empty() { "/" } else { path },
            query,
            headers,
        })
    }
}
