//! Web Bot Auth in the gateway: verifies the request's RFC 9421 signature with `tollgate-httpsig`
//! before classification, fetching the signing agent's key directory (asynchronously, cached),
//! and hands the outcome in (DESIGN.md "Verification"; pattern of [`crate::fcrdns`]).
//!
//! - Key directories: `GET <origin>/.well-known/http-message-signatures-directory` (media type
//!   `application/http-message-signatures-directory+json`) or a direct JWKS URL
//!   (draft-ietf-webbotauth-httpsig-protocol-01 §4). HTTPS only (loopback HTTP only with the
//!   test switch `allow_http_loopback`); the host must resolve to public addresses; redirects are
//!   followed only within the agent's origin (at most 3); `fetch_timeout_ms` bounds the whole
//!   fetch; bodies over `max_directory_bytes` are refused; at most 64 keys are read.
//! - Which signers are checked: those pinned in the catalogue (`web_bot_auth = "https://…"`) or
//!   in `[server.web_bot_auth.agents]`, and any other only with `allow_unlisted = true`. A pinned
//!   directory identifies its agent even when the User-Agent does not.
//! - Cache: moka, `directory_cache_capacity` entries; fetched keys live `directory_ttl_secs`,
//!   failures `directory_negative_ttl_secs`; concurrent fetches of one URL are coalesced.
//! - Outcomes: no signature → nothing changes; valid → `verified(signature)` and a
//!   [`SignedIdentity`] in the request's extensions for later phases; present but invalid →
//!   `spoofed` with the reason code; not checkable (directory unavailable, signer not allowed,
//!   no `Signature-Agent`) → `unverified`, never `spoofed`.
//! - Later phases read the verified signature from the request:
//!   `req.extensions().get::<SignedIdentity>()` — `thumbprint` (the paying account's key),
//!   `covers("crawler-max-price")` / `covers("crawler-exact-price")` (was the offer signed?),
//!   `nonce`, `expires`. It is absent for unsigned, invalid or unchecked signatures, and for a
//!   charged request without a nonce when `require_nonce_for_charge` is set.
//! - The nonce and verified-signature caches survive a configuration reload (same bounds); they
//!   are in memory only, so a restart forgets used nonces (a replay within the signature's
//!   remaining lifetime, ≤ `max_window_secs`, is then possible once).
//! - Metrics: counter `tollgate_signature_verifications_total{outcome,reason}`; gauges
//!   `tollgate_signature_directory_cache_entries`, `tollgate_signature_verified_cache_entries`,
//!   `tollgate_signature_nonce_cache_entries`.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::rt::TokioExecutor;
use serde::Deserialize;
use tollgate_agents::verify::{Client, SpoofReason, UnverifiedReason, Verification, VerifiedBy};
use tollgate_agents::{AgentId, Catalogue};
pub use tollgate_httpsig::SignedIdentity;
use tollgate_httpsig::{PublicKey, Rejection, RequestView, Verifier};

/// `[server.web_bot_auth]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WebBotAuthConfig {
    /// Verify signatures at all. Default true.
    pub enabled: bool,
    /// Longest accepted `expires − created`, seconds. Default 86 400 (24 h).
    pub max_window_secs: i64,
    /// Clock skew tolerated on `created` / `expires`, seconds. Default 30.
    pub clock_skew_secs: i64,
    /// A signed request that is charged must carry a `nonce` to count as the payer's
    /// identity (replay protection for money). Default true.
    pub require_nonce_for_charge: bool,
    /// Fetch key directories of signers that neither the catalogue nor `agents` pins.
    /// Default false.
    pub allow_unlisted: bool,
    /// Tests only: allow `http://` key directories on loopback addresses. Default false.
    pub allow_http_loopback: bool,
    /// Accept only directories whose responses carry a valid directory signature per key
    /// (draft §4.2; keys without one are dropped). A directory that carries an invalid one is
    /// always refused. Default false.
    pub require_directory_signature: bool,
    /// Whole directory fetch (connect, TLS, response, body), milliseconds. Default 2000.
    pub fetch_timeout_ms: u64,
    /// Largest directory body read, bytes. Default 65 536.
    pub max_directory_bytes: usize,
    /// Key directories cached (entries). Default 10 000.
    pub directory_cache_capacity: u64,
    /// How long fetched keys are used, seconds. Default 3600.
    pub directory_ttl_secs: u64,
    /// How long a failed fetch is remembered, seconds. Default 300.
    pub directory_negative_ttl_secs: u64,
    /// Verified signatures remembered until they expire (entries). Default 100 000.
    pub verified_cache_capacity: u64,
    /// Nonces remembered until their signature expires (entries). Default 1 000 000.
    pub nonce_cache_capacity: u64,
    /// Pins: signer name → its key directory origin or JWKS URL. A catalogue agent's name adds
    /// to / overrides the catalogue's `web_bot_auth` and makes its valid signatures identify that
    /// agent; any other name (a partner crawler not in the catalogue) only allows the signer:
    /// its valid signatures verify the client (`verified(signature)`) without naming an agent.
    pub agents: std::collections::BTreeMap<String, String>,
}

impl Default for WebBotAuthConfig {
    fn default() -> Self {
        WebBotAuthConfig {
            enabled: true,
            max_window_secs: 86_400,
            clock_skew_secs: 30,
            require_nonce_for_charge: true,
            allow_unlisted: false,
            allow_http_loopback: false,
            require_directory_signature: false,
            fetch_timeout_ms: 2_000,
            max_directory_bytes: 65_536,
            directory_cache_capacity: 10_000,
            directory_ttl_secs: 3_600,
            directory_negative_ttl_secs: 300,
            verified_cache_capacity: 100_000,
            nonce_cache_capacity: 1_000_000,
            agents: Default::default(),
        }
    }
}

impl WebBotAuthConfig {
    /// Checks the pins' URLs and the windows.
    ///
    /// # Errors
    /// A message naming the signer or URL.
    pub fn validate(&self, _catalogue: &Catalogue) -> Result<(), String> {
        for (name, url) in &self.agents {
            tollgate_httpsig::agent::keys_url(url)
                .map_err(|e| format!("web_bot_auth.agents.{name}: {e}"))?;
        }
        if self.max_window_secs <= 0 || self.clock_skew_secs < 0 {
            return Err("web_bot_auth: max_window_secs must be > 0 and clock_skew_secs ≥ 0".into());
        }
        Ok(())
    }
}

/// What the signature check found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SigOutcome {
    /// No `Signature-Input` / `Signature`.
    Unsigned,
    /// A valid signature; `agent` when its key directory is pinned to a catalogue agent.
    Verified {
        /// Who signed and what.
        identity: SignedIdentity,
        /// The pinned agent.
        agent: Option<AgentId>,
    },
    /// Present but could not be checked (`directory-unavailable`, `signer-not-allowed`,
    /// `no-signature-agent`, `directory-not-https`): unverified.
    Unchecked(&'static str),
    /// Present and invalid: spoofed.
    Invalid(Rejection),
}

impl SigOutcome {
    /// (`outcome`, `reason`) labels: `none`/`verified`/`unverified`/`spoofed` and the reason
    /// code (`ok` when verified, `-` when unsigned).
    pub fn labels(&self) -> (&'static str, &'static str) {
        match self {
            SigOutcome::Unsigned => ("none", "-"),
            SigOutcome::Verified { .. } => ("verified", "ok"),
            SigOutcome::Unchecked(r) => ("unverified", r),
            SigOutcome::Invalid(r) => ("spoofed", r.reason.code()),
        }
    }

    /// For the decision log: `-`, `verified(<thumbprint>)`, `unverified(<reason>)`,
    /// `spoofed(<reason>)`.
    pub fn summary(&self) -> String {
        match self {
            SigOutcome::Unsigned => "-".into(),
            SigOutcome::Verified { identity, .. } => format!("verified({})", identity.thumbprint),
            SigOutcome::Unchecked(r) => format!("unverified({r})"),
            SigOutcome::Invalid(r) => format!("spoofed({})", r.reason.code()),
        }
    }

    /// Hands the outcome to the classification: a pinned agent's valid signature identifies
    /// that agent (`verified(signature)`, even if the User-Agent says otherwise); a valid
    /// signature from an unpinned signer verifies a client that claims no agent; an invalid
    /// one is `spoofed(<reason>)`; an unchecked one turns only `unverified` into
    /// `unverified(signature unchecked)`.
    pub fn apply(&self, client: &mut Client, catalogue: &Catalogue) {
        match self {
            SigOutcome::Unsigned => {}
            SigOutcome::Verified {
                agent: Some(id), ..
            } => {
                client.agent = Some(*id);
                client.class = catalogue.agent(*id).class;
                client.verification = Verification::Verified(VerifiedBy::Signature);
            }
            SigOutcome::Verified { agent: None, .. } => {
                if client.agent.is_none() {
                    client.verification = Verification::Verified(VerifiedBy::Signature);
                }
            }
            SigOutcome::Unchecked(_) => {
                if matches!(client.verification, Verification::Unverified(_)) {
                    client.verification =
                        Verification::Unverified(UnverifiedReason::SignatureUnchecked);
                }
            }
            SigOutcome::Invalid(r) => {
                client.verification =
                    Verification::Spoofed(SpoofReason::InvalidSignature(r.reason.code()));
            }
        }
    }
}

/// A cached directory fetch: the keys, or why there are none.
type DirResult = Arc<Result<Vec<PublicKey>, String>>;

struct DirExpiry {
    ttl: Duration,
    negative_ttl: Duration,
}

impl moka::Expiry<String, DirResult> for DirExpiry {
    fn expire_after_create(&self, _: &String, v: &DirResult, _: Instant) -> Option<Duration> {
        Some(if v.is_ok() {
            self.ttl
        } else {
            self.negative_ttl
        })
    }
}

/// A DNS resolver for directory fetches that drops addresses that are not public (private,
/// loopback, link-local, …), keeping loopback only when the test switch allows it (SSRF guard).
#[derive(Clone)]
struct PublicOnly {
    allow_loopback: bool,
}

fn public_or_allowed(ip: IpAddr, allow_loopback: bool) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
        v4 => v4,
    };
    if ip.is_loopback() {
        return allow_loopback;
    }
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            !(a.is_private()
                || a.is_link_local()
                || a.is_unspecified()
                || a.is_broadcast()
                || a.is_multicast()
                || a.is_documentation()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || o[0] >= 240)
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            !(a.is_unspecified()
                || a.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || s[0] == 0x2001 && s[1] == 0x0db8)
        }
    }
}

impl tower::Service<Name> for PublicOnly {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = std::io::Error;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<Self::Response, Self::Error>> + Send>,
    >;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let allow = self.allow_loopback;
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((name.as_str(), 0))
                .await?
                .filter(|a| public_or_allowed(a.ip(), allow))
                .collect();
            if addrs.is_empty() {
                return Err(std::io::Error::other(format!(
                    "{name} resolves to no public address"
                )));
            }
            Ok(addrs.into_iter())
        })
    }
}

type Fetcher = HttpClient<hyper_rustls::HttpsConnector<HttpConnector<PublicOnly>>, Empty<Bytes>>;

/// The gateway's Web Bot Auth checker: verifier (verified-signature and nonce caches), key
/// directory cache and fetcher, and the pins. `Send + Sync`.
pub struct WebSig {
    cfg: WebBotAuthConfig,
    verifier: Verifier,
    directories: moka::future::Cache<String, DirResult>,
    /// Keys URL → pinned catalogue agent (`None`: an allowed signer outside the catalogue).
    pins: HashMap<String, Option<AgentId>>,
    fetcher: Fetcher,
}

impl std::fmt::Debug for WebSig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebSig")
            .field("cfg", &self.cfg)
            .field("pins", &self.pins.len())
            .finish_non_exhaustive()
    }
}

impl WebSig {
    /// A checker for `cfg`, with the catalogue's pins (first agent wins when several name the
    /// same directory) overridden by `cfg.agents`.
    pub fn new(cfg: &WebBotAuthConfig, catalogue: &Catalogue) -> WebSig {
        Self::build(cfg, catalogue, None)
    }

    /// Like [`WebSig::new`], keeping `previous`'s nonce and verified-signature caches when their
    /// bounds did not change (a reload must not make used nonces usable again).
    pub fn reloaded(cfg: &WebBotAuthConfig, catalogue: &Catalogue, previous: &WebSig) -> WebSig {
        Self::build(cfg, catalogue, Some(previous))
    }

    fn build(cfg: &WebBotAuthConfig, catalogue: &Catalogue, previous: Option<&WebSig>) -> WebSig {
        let mut pins = HashMap::new();
        for (i, a) in catalogue.agents().iter().enumerate() {
            let id = AgentId(i as u16);
            let url = cfg.agents.get(&a.name).or(a.verify.web_bot_auth.as_ref());
            if let Some(Ok((keys, _))) = url.map(|u| tollgate_httpsig::agent::keys_url(u)) {
                pins.entry(keys).or_insert(Some(id));
            }
        }
        for (name, url) in &cfg.agents {
            let id = catalogue
                .agents()
                .iter()
                .position(|a| &a.name == name)
                .map(|i| AgentId(i as u16));
            if let Ok((keys, _)) = tollgate_httpsig::agent::keys_url(url) {
                pins.insert(keys, id);
            }
        }
        let mut http = HttpConnector::new_with_resolver(PublicOnly {
            allow_loopback: cfg.allow_http_loopback,
        });
        http.enforce_http(false);
        http.set_connect_timeout(Some(Duration::from_millis(cfg.fetch_timeout_ms.max(1))));
        let https = hyper_rustls::HttpsConnectorBuilder::new()
            .with_webpki_roots()
            .https_or_http()
            .enable_http1()
            .wrap_connector(http);
        let fetcher = HttpClient::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(30))
            .build(https);
        let policy = tollgate_httpsig::Policy {
            max_window_secs: cfg.max_window_secs,
            clock_skew_secs: cfg.clock_skew_secs,
        };
        let verifier = match previous {
            Some(p)
                if p.cfg.verified_cache_capacity == cfg.verified_cache_capacity
                    && p.cfg.nonce_cache_capacity == cfg.nonce_cache_capacity =>
            {
                p.verifier.with_policy(policy)
            }
            _ => Verifier::new(
                policy,
                tollgate_httpsig::CacheLimits {
                    verified: cfg.verified_cache_capacity,
                    nonces: cfg.nonce_cache_capacity,
                },
            ),
        };
        WebSig {
            verifier,
            directories: moka::future::Cache::builder()
                .max_capacity(cfg.directory_cache_capacity)
                .expire_after(DirExpiry {
                    ttl: Duration::from_secs(cfg.directory_ttl_secs),
                    negative_ttl: Duration::from_secs(cfg.directory_negative_ttl_secs),
                })
                .build(),
            pins,
            fetcher,
            cfg: cfg.clone(),
        }
    }

    /// The settings.
    pub fn config(&self) -> &WebBotAuthConfig {
        &self.cfg
    }

    /// Checks the request's signature (once per request); `now` is unix seconds. Records the
    /// metric.
    pub async fn check(&self, req: &RequestView<'_>, now: i64) -> SigOutcome {
        let outcome = self.check_inner(req, now).await;
        let (o, r) = outcome.labels();
        if o != "none" {
            metrics::counter!("tollgate_signature_verifications_total", "outcome" => o, "reason" => r)
                .increment(1);
            let (verified, nonces) = self.verifier.cache_entries();
            metrics::gauge!("tollgate_signature_verified_cache_entries").set(verified as f64);
            metrics::gauge!("tollgate_signature_nonce_cache_entries").set(nonces as f64);
        }
        outcome
    }

    async fn check_inner(&self, req: &RequestView<'_>, now: i64) -> SigOutcome {
        if !self.cfg.enabled {
            return SigOutcome::Unsigned;
        }
        let parsed = match self.verifier.parse(req, now) {
            Ok(None) => return SigOutcome::Unsigned,
            Ok(Some(p)) => p,
            Err(e) => return SigOutcome::Invalid(e),
        };
        let Some(agent) = &parsed.agent else {
            return SigOutcome::Unchecked("no-signature-agent");
        };
        let pinned = self.pins.get(&agent.keys_url).copied();
        if pinned.is_none() && !self.cfg.allow_unlisted {
            return SigOutcome::Unchecked("signer-not-allowed");
        }
        let keys = match self.keys(&agent.keys_url).await {
            Ok(k) => k,
            Err(reason) => return SigOutcome::Unchecked(reason),
        };
        let Ok(keys) = keys.as_ref() else {
            return SigOutcome::Unchecked("directory-unavailable");
        };
        match self.verifier.verify(&parsed, keys, now) {
            Ok(identity) => SigOutcome::Verified {
                identity,
                agent: pinned.flatten(),
            },
            Err(e) => SigOutcome::Invalid(e),
        }
    }

    /// The keys at `url`, from the cache or fetched (concurrent callers share one fetch).
    async fn keys(&self, url: &str) -> Result<DirResult, &'static str> {
        let (scheme, host) = split_url(url).ok_or("directory-not-https")?;
        if scheme != "https" && !(self.cfg.allow_http_loopback && is_loopback_host(host)) {
            return Err("directory-not-https");
        }
        if let Ok(ip) = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
        {
            if !public_or_allowed(ip, self.cfg.allow_http_loopback) {
                return Err("directory-not-public");
            }
        }
        let r = self
            .directories
            .get_with(url.to_string(), async {
                let r = self.fetch(url).await;
                if let Err(e) = &r {
                    tracing::warn!(target: "tollgate::websig", url, error = %e, "key directory unavailable");
                }
                Arc::new(r)
            })
            .await;
        metrics::gauge!("tollgate_signature_directory_cache_entries")
            .set(self.directories.entry_count() as f64);
        Ok(r)
    }

    /// One directory fetch, following at most 3 redirects that stay on the URL's origin.
    async fn fetch(&self, url: &str) -> Result<Vec<PublicKey>, String> {
        let timeout = Duration::from_millis(self.cfg.fetch_timeout_ms.max(1));
        let origin = origin_of(url).ok_or_else(|| format!("`{url}`: not an absolute URL"))?;
        let work = async {
            let mut target = url.to_string();
            for _ in 0..4 {
                let req = http::Request::get(&target)
                    .header(
                        http::header::ACCEPT,
                        "application/http-message-signatures-directory+json, application/jwk-set+json;q=0.9, application/json;q=0.8",
                    )
                    .header(http::header::USER_AGENT, concat!("tollgate/", env!("CARGO_PKG_VERSION")))
                    .body(Empty::new())
                    .map_err(|e| format!("`{target}`: {e}"))?;
                let resp = self
                    .fetcher
                    .request(req)
                    .await
                    .map_err(|e| format!("`{target}`: {e}"))?;
                let status = resp.status();
                if status.is_redirection() {
                    let loc = resp
                        .headers()
                        .get(http::header::LOCATION)
                        .and_then(|v| v.to_str().ok())
                        .ok_or_else(|| format!("`{target}`: {status} without Location"))?;
                    let next = if loc.starts_with('/') {
                        format!("{origin}{loc}")
                    } else {
                        loc.to_string()
                    };
                    if origin_of(&next).as_deref() != Some(origin.as_str()) {
                        return Err(format!(
                            "`{target}`: redirect off the agent's origin to `{next}`"
                        ));
                    }
                    target = next;
                    continue;
                }
                if status != http::StatusCode::OK {
                    return Err(format!("`{target}`: status {status}"));
                }
                let ctype = resp
                    .headers()
                    .get(http::header::CONTENT_TYPE)
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("")
                    .to_ascii_lowercase();
                let media = ctype.split(';').next().unwrap_or("").trim().to_string();
                if ![
                    tollgate_httpsig::DIRECTORY_MEDIA_TYPE,
                    "application/jwk-set+json",
                    "application/json",
                ]
                .contains(&media.as_str())
                {
                    return Err(format!(
                        "`{target}`: content type `{ctype}` is not a key directory"
                    ));
                }
                let headers = resp.headers().clone();
                let body = Limited::new(resp.into_body(), self.cfg.max_directory_bytes)
                    .collect()
                    .await
                    .map_err(|e| {
                        format!(
                            "`{target}`: body: {e} (limit {} bytes)",
                            self.cfg.max_directory_bytes
                        )
                    })?
                    .to_bytes();
                let (keys, _skipped) = tollgate_httpsig::jwk::parse_directory(&body)
                    .map_err(|e| format!("`{target}`: {e}"))?;
                return self.proven_keys(&target, &headers, &body, keys);
            }
            Err(format!("`{url}`: too many redirects"))
        };
        tokio::time::timeout(timeout, work)
            .await
            .map_err(|_| format!("`{url}`: no answer within {} ms", timeout.as_millis()))?
    }

    /// The keys of a fetched directory after its response signatures (draft §4.2, App. E.2.3):
    /// an invalid signature refuses the directory; with signatures, only proven keys stay;
    /// without, all keys stay unless `require_directory_signature`.
    fn proven_keys(
        &self,
        target: &str,
        headers: &http::HeaderMap,
        body: &[u8],
        keys: Vec<PublicKey>,
    ) -> Result<Vec<PublicKey>, String> {
        use tollgate_httpsig::directory::{verify_directory_response, DirectoryProof};
        let (scheme, authority) = origin_of(target)
            .and_then(|o| {
                o.split_once("://")
                    .map(|(s, a)| (s.to_string(), a.to_string()))
            })
            .ok_or_else(|| format!("`{target}`: not an absolute URL"))?;
        let default_port = if scheme == "https" { ":443" } else { ":80" };
        let authority = authority.strip_suffix(default_port).unwrap_or(&authority);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        let proof =
            verify_directory_response(authority, headers, body, &keys, now, self.verifier.policy())
                .map_err(|e| format!("`{target}`: directory signature: {e}"))?;
        match proof {
            DirectoryProof::Signed(proven) => Ok(keys
                .into_iter()
                .filter(|k| proven.contains(&k.thumbprint))
                .collect()),
            DirectoryProof::Unsigned if self.cfg.require_directory_signature => Err(format!(
                "`{target}`: no directory signature (require_directory_signature)"
            )),
            DirectoryProof::Unsigned => Ok(keys),
        }
    }

    /// True when `identity` may stand for a payer on a charged request: with
    /// `require_nonce_for_charge`, only signatures that carry a nonce (so the replay check ran).
    pub fn usable_for_charge(&self, identity: &SignedIdentity) -> bool {
        !self.cfg.require_nonce_for_charge || identity.nonce.is_some()
    }
}

fn split_url(url: &str) -> Option<(&str, &str)> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest.get(..end)?;
    let host = match authority.rfind(':') {
        Some(i) if !authority.ends_with(']') => authority.get(..i)?,
        _ => authority,
    };
    Some((scheme, host))
}

fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    Some(format!(
        "{}://{}",
        scheme.to_ascii_lowercase(),
        rest.get(..end)?.to_ascii_lowercase()
    ))
}

fn is_loopback_host(host: &str) -> bool {
    host.eq_ignore_ascii_case("localhost")
        || host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .parse::<IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// The request phase hook: checks the signature of `req` (as `facts` describe it) once, with
/// the live checker. The scheme is `X-Forwarded-Proto` from a trusted proxy, else `http`.
pub(crate) async fn check_request(
    live: &crate::gateway::Live,
    req: &http::Request<hyper::body::Incoming>,
    facts: &tollgate_agents::RequestFacts<'_>,
    trusted_peer: bool,
) -> SigOutcome {
    let Some(websig) = &live.websig else {
        return SigOutcome::Unsigned;
    };
    let h = req.headers();
    if !h.contains_key("signature-input") && !h.contains_key("signature") {
        return SigOutcome::Unsigned;
    }
    let scheme = trusted_peer
        .then(|| h.get("x-forwarded-proto").and_then(|v| v.to_str().ok()))
        .flatten()
        .unwrap_or("http");
    let view = RequestView {
        method: facts.method,
        scheme,
        authority: facts.host.unwrap_or(""),
        path: facts.path,
        query: facts.query,
        headers: h,
    };
    websig.check(&view, facts.time.unwrap_or(0)).await
}

/// Puts the verified [`SignedIdentity`] into the request's extensions for later phases — except
/// on a charged request without a nonce when `require_nonce_for_charge` is set (then the
/// signature does not identify a payer).
pub(crate) fn hand_over(
    websig: Option<&WebSig>,
    sig: &SigOutcome,
    decision: &tollgate_policy::Decision,
    ext: &mut http::Extensions,
) {
    let (Some(websig), SigOutcome::Verified { identity, .. }) = (websig, sig) else {
        return;
    };
    if matches!(decision.action, tollgate_policy::Action::Charge(_))
        && !websig.usable_for_charge(identity)
    {
        tracing::info!(target: "tollgate::websig", thumbprint = %identity.thumbprint, "signature without nonce not accepted for a charged request (require_nonce_for_charge)");
        return;
    }
    ext.insert(identity.clone());
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_unless_loopback_is_allowed() {
        for (ip, allow, ok) in [
            ("93.184.216.34", false, true),
            ("10.1.2.3", false, false),
            ("192.168.0.1", false, false),
            ("169.254.169.254", false, false),
            ("100.64.0.1", false, false),
            ("127.0.0.1", false, false),
            ("127.0.0.1", true, true),
            ("::1", true, true),
            ("fd00::1", true, false),
            ("fe80::1", false, false),
            ("::ffff:10.0.0.1", false, false),
            ("2606:4700::1111", false, true),
        ] {
            assert_eq!(
                public_or_allowed(ip.parse().unwrap(), allow),
                ok,
                "{ip} allow_loopback={allow}"
            );
        }
    }

    #[test]
    fn url_parts() {
        assert_eq!(
            split_url("http://127.0.0.1:8080/.well-known/x"),
            Some(("http", "127.0.0.1"))
        );
        assert_eq!(split_url("https://[::1]:443/"), Some(("https", "[::1]")));
        assert_eq!(
            origin_of("HTTPS://Agent.Example:8443/jwks.json").as_deref(),
            Some("https://agent.example:8443")
        );
        assert!(is_loopback_host("localhost"));
        assert!(!is_loopback_host("example.com"));
    }

    #[test]
    fn pins_come_from_the_catalogue_and_the_config() {
        let cat = Catalogue::embedded().unwrap();
        let mut cfg = WebBotAuthConfig::default();
        cfg.agents
            .insert("curl".into(), "http://127.0.0.1:9/".into());
        cfg.validate(&cat).unwrap();
        let w = WebSig::new(&cfg, &cat);
        let name = |url: &str| {
            w.pins
                .get(url)
                .map(|id| id.map_or("(allowed signer)".into(), |id| cat.agent(id).name.clone()))
        };
        assert_eq!(
            name("https://chatgpt.com/.well-known/http-message-signatures-directory").as_deref(),
            Some("ChatGPT Agent")
        );
        assert_eq!(
            name("https://agent.bot.goog/.well-known/http-message-signatures-directory").as_deref(),
            Some("Google-Agent")
        );
        assert_eq!(
            name("http://127.0.0.1:9/.well-known/http-message-signatures-directory").as_deref(),
            Some("curl")
        );
        // A partner crawler outside the catalogue: allowed to sign, identifies no agent.
        cfg.agents.insert(
            "MyPartnerBot".into(),
            "https://crawler.partner.example".into(),
        );
        cfg.validate(&cat).unwrap();
        let w = WebSig::new(&cfg, &cat);
        let name = |url: &str| {
            w.pins
                .get(url)
                .map(|id| id.map_or("(allowed signer)".into(), |id| cat.agent(id).name.clone()))
        };
        assert_eq!(
            name("https://crawler.partner.example/.well-known/http-message-signatures-directory")
                .as_deref(),
            Some("(allowed signer)")
        );
        cfg.agents.insert("Bad".into(), "ftp://x.test".into());
        assert!(cfg
            .validate(&cat)
            .unwrap_err()
            .starts_with("web_bot_auth.agents.Bad: "));
    }

    fn identity(nonce: Option<&str>) -> SignedIdentity {
        SignedIdentity {
            thumbprint: "poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U".into(),
            signature_agent: Some(
                "https://chatgpt.com/.well-known/http-message-signatures-directory".into(),
            ),
            covered: vec!["@authority".into(), "crawler-max-price".into()],
            nonce: nonce.map(str::to_string),
            created: 1,
            expires: 61,
        }
    }

    #[test]
    fn a_pinned_signer_identifies_its_agent_whatever_the_user_agent() {
        let cat = Catalogue::embedded().unwrap();
        let chatgpt = cat
            .agents()
            .iter()
            .position(|a| a.name == "ChatGPT Agent")
            .map(|i| AgentId(i as u16))
            .unwrap();
        let firefox = Client {
            ua: tollgate_agents::UaMatch::Browser,
            agent: None,
            class: tollgate_agents::Class::Browser,
            verification: Verification::Unverified(UnverifiedReason::NoClaim),
        };
        let mut c = firefox;
        SigOutcome::Verified {
            identity: identity(None),
            agent: Some(chatgpt),
        }
        .apply(&mut c, &cat);
        assert_eq!(c.agent, Some(chatgpt));
        assert_eq!(c.class, tollgate_agents::Class::AiAgent);
        assert_eq!(
            c.verification,
            Verification::Verified(VerifiedBy::Signature)
        );
        // Invalid: spoofed with the reason; unchecked: unverified, never spoofed.
        let mut c = firefox;
        SigOutcome::Invalid(Rejection::new(tollgate_httpsig::Reason::Expired, "x"))
            .apply(&mut c, &cat);
        assert_eq!(
            c.verification,
            Verification::Spoofed(SpoofReason::InvalidSignature("expired"))
        );
        let mut c = firefox;
        SigOutcome::Unchecked("directory-unavailable").apply(&mut c, &cat);
        assert_eq!(
            c.verification,
            Verification::Unverified(UnverifiedReason::SignatureUnchecked)
        );
        let mut verified = firefox;
        verified.verification = Verification::Verified(VerifiedBy::IpRange);
        let mut c = verified;
        SigOutcome::Unchecked("directory-unavailable").apply(&mut c, &cat);
        assert_eq!(c.verification, Verification::Verified(VerifiedBy::IpRange));
    }

    #[tokio::test]
    async fn directories_must_be_https_on_public_addresses() {
        let cat = Catalogue::embedded().unwrap();
        let strict = WebSig::new(&WebBotAuthConfig::default(), &cat);
        let wk = tollgate_httpsig::DIRECTORY_PATH;
        for (url, want) in [
            (format!("http://127.0.0.1:9{wk}"), "directory-not-https"),
            (format!("http://crawler.example{wk}"), "directory-not-https"),
            (format!("https://10.0.0.1{wk}"), "directory-not-public"),
            (format!("https://[::1]:8443{wk}"), "directory-not-public"),
            (
                format!("https://169.254.169.254{wk}"),
                "directory-not-public",
            ),
        ] {
            assert_eq!(strict.keys(&url).await.err(), Some(want), "{url}");
        }
        // The test switch allows loopback HTTP (nothing listens here: a failed, cached fetch).
        let cfg = WebBotAuthConfig {
            allow_http_loopback: true,
            fetch_timeout_ms: 500,
            ..WebBotAuthConfig::default()
        };
        let lax = WebSig::new(&cfg, &cat);
        let r = lax.keys(&format!("http://127.0.0.1:9{wk}")).await.unwrap();
        let e = r.as_ref().as_ref().unwrap_err();
        assert!(
            e.starts_with("`http://127.0.0.1:9/.well-known/http-message-signatures-directory`: "),
            "{e}"
        );
        assert_eq!(
            lax.keys(&format!("https://10.0.0.1{wk}")).await.err(),
            Some("directory-not-public")
        );
    }

    #[test]
    fn a_reload_keeps_used_nonces_used() {
        let cat = Catalogue::embedded().unwrap();
        let signer = tollgate_httpsig::Signer::from_bytes(&[7; 32]);
        let mut h = http::HeaderMap::new();
        let url = "https://news.example/a";
        let req = RequestView::from_url("GET", url, &h).unwrap();
        let mut opts = tollgate_httpsig::SignOptions::new(1_000, "https://crawler.example");
        opts.nonce = Some("once".into());
        let out = signer.sign(&req, &opts).unwrap();
        h.insert("signature-input", out.signature_input.parse().unwrap());
        h.insert("signature", out.signature.parse().unwrap());
        h.insert(
            "signature-agent",
            out.signature_agent.unwrap().parse().unwrap(),
        );
        let req = RequestView::from_url("GET", url, &h).unwrap();
        let keys = [signer.public_key().clone()];
        let before = WebSig::new(&WebBotAuthConfig::default(), &cat);
        let p = before.verifier.parse(&req, 1_010).unwrap().unwrap();
        before.verifier.verify(&p, &keys, 1_010).unwrap();
        let cfg = WebBotAuthConfig {
            clock_skew_secs: 5,
            ..WebBotAuthConfig::default()
        };
        let after = WebSig::reloaded(&cfg, &cat, &before);
        assert_eq!(after.verifier.policy().clock_skew_secs, 5);
        let e = after.verifier.verify(&p, &keys, 1_011).unwrap_err();
        assert_eq!(e.reason, tollgate_httpsig::Reason::Replayed);
        // A fresh checker (a restart) has no memory: documented limit.
        let fresh = WebSig::new(&cfg, &cat);
        assert!(fresh.verifier.verify(&p, &keys, 1_011).is_ok());
    }

    #[test]
    fn charged_requests_need_a_nonce_when_configured() {
        let cat = Catalogue::embedded().unwrap();
        let cfg = WebBotAuthConfig {
            require_nonce_for_charge: true,
            ..WebBotAuthConfig::default()
        };
        let w = WebSig::new(&cfg, &cat);
        let decision = |action| tollgate_policy::Decision {
            action,
            rule: Some(0),
            reason: None,
            shadowed: vec![],
        };
        let charge = decision(tollgate_policy::Action::Charge("USD 0.05".parse().unwrap()));
        let allow = decision(tollgate_policy::Action::Allow);
        let handed = |nonce: Option<&str>, d: &tollgate_policy::Decision| {
            let mut ext = http::Extensions::new();
            let sig = SigOutcome::Verified {
                identity: identity(nonce),
                agent: None,
            };
            hand_over(Some(&w), &sig, d, &mut ext);
            ext.get::<SignedIdentity>().map(|i| i.thumbprint.clone())
        };
        let t = Some("poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U".to_string());
        assert_eq!(handed(None, &charge), None);
        assert_eq!(handed(Some("n1"), &charge), t);
        assert_eq!(handed(None, &allow), t);
        assert!(identity(None).covers("crawler-max-price"));
        assert!(!identity(None).covers("crawler-exact-price"));
    }
}
