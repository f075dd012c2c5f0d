//! The request path, as named phases (Pingora style): `facts` → `classify` → `decide` → `record`
//! → `act`. Classification and the decision are the pure cores shared with `scan`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use arc_swap::ArcSwap;
use bytes::Bytes;
use http::header::{HeaderValue, HOST, USER_AGENT};
use http::{HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde::Serialize;
use tokio::sync::Semaphore;
use tollgate_agents::verify::{Client, RequestFacts};
use tollgate_agents::{Classifier, UaMatch};
use tollgate_policy::{Action, Decision, Headers};

use crate::config::{Config, ServerConfig};
use crate::forwarding::{canonical, client_addr, is_trusted, set_forwarding, strip_hop_by_hop};
use crate::limiter::{BucketKey, Limiter};
use crate::origin::{Upstream, UpstreamError};
use crate::respond::{
    answer_kind, full, refusal, refusal_answer, Answer, AnswerKind, Body, CarriedAnswer, Refusal,
};

/// Where nginx hands a refusal carried across `auth_request` back to tollgate
/// (see docs/deploy/nginx-forward-auth.conf).
pub const ANSWER_PATH: &str = "/.tollgate/answer";

/// The 429 a `limit` or a full tarpit answers with.
fn rate_limited<'a>(
    who: &str,
    rule: &'a str,
    terms: Option<&'a str>,
    retry_after_secs: u64,
) -> Refusal<'a> {
    Refusal {
        status: StatusCode::TOO_MANY_REQUESTS,
        code: "rate-limited",
        message: format!("{who}: too many requests; retry later."),
        rule: Some(rule),
        terms,
        retry_after_secs: Some(retry_after_secs),
        price: None,
        crawler_error: None,
    }
}

/// Renders the refusal carried in `X-Tollgate-Answer` (forward-auth with nginx).
fn carried_answer(req: &Request<Incoming>) -> Response<Body> {
    let carried = req
        .headers()
        .get("x-tollgate-answer")
        .and_then(|v| v.to_str().ok())
        .and_then(CarriedAnswer::decode);
    match carried {
        Some(c) => c.render(),
        None => refusal(
            &Refusal::plain(
                StatusCode::FORBIDDEN,
                "forbidden",
                "The site's policy does not allow this request.".into(),
            ),
            AnswerKind::Text,
        ),
    }
}

/// The answer to `CONNECT` (RFC 9110 §9.3.6): tollgate is a reverse proxy, not a tunnel, so,
/// like nginx, it answers 400 and closes the connection; the origin never sees the request and
/// no policy is consulted (the target names a host, not a page of the site).
fn connect_refused(peer: SocketAddr) -> Response<Body> {
    tracing::debug!(target: "tollgate::server", %peer, "CONNECT refused");
    let mut resp = refusal(
        &Refusal::plain(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "tollgate: CONNECT is not served here (this is a reverse proxy, not a tunnel).".into(),
        ),
        AnswerKind::Text,
    );
    resp.headers_mut()
        .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
    resp
}

/// The answer to a method longer than [`FORWARDED_METHOD_MAX`] bytes (no registered method is):
/// 501 (RFC 9110 §9.1), before any policy, log line or origin request.
fn method_not_implemented() -> Response<Body> {
    refusal(
        &Refusal::plain(
            StatusCode::NOT_IMPLEMENTED,
            "not-implemented",
            "tollgate: this request method is not implemented.".into(),
        ),
        AnswerKind::Text,
    )
}

/// The settings read once at start that differ between `old` and `new` (a reload applies the
/// rest, including the policy, origin, signals and the admin token).
pub fn restart_only_changes(old: &ServerConfig, new: &ServerConfig) -> Vec<&'static str> {
    let admin_listen = |c: &ServerConfig| c.admin.as_ref().map(|a| a.listen);
    [
        ("[server] listen", old.listen != new.listen),
        (
            "[server.admin] listen",
            admin_listen(old) != admin_listen(new),
        ),
        (
            "[server.tarpit] max_concurrent",
            old.tarpit.max_concurrent != new.tarpit.max_concurrent,
        ),
        ("[server] log_json", old.log_json != new.log_json),
        (
            "[server] ranges_update_hours",
            old.ranges_update_hours != new.ranges_update_hours,
        ),
        ("[server.fcrdns]", old.fcrdns != new.fcrdns),
    ]
    .into_iter()
    .filter_map(|(name, changed)| changed.then_some(name))
    .collect()
}

/// Recent decisions kept for `/api/decisions`.
pub const RECENT_DECISIONS: usize = 1_000;

/// Bytes of a path a recent decision keeps (longer ones are cut at a character boundary), so
/// the list stays small whatever the clients send: at most about 1 MiB of paths in all.
pub const RECENT_PATH_MAX: usize = 1_024;

/// Longest method served, and longest `X-Forwarded-Method` believed (the longest registered
/// method is 16 bytes).
const FORWARDED_METHOD_MAX: usize = 32;

/// The first `max` bytes of `s` or fewer, ending at a character boundary.
fn cut(s: &str, max: usize) -> &str {
    let mut end = s.len().min(max);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

/// Everything that a reload replaces at once.
pub struct Live {
    /// The parsed config (server + policy).
    pub config: Config,
    /// The origin client.
    pub upstream: Upstream,
    /// `tollgate_requests_total` handles by label set, so the hot path does not hash label
    /// strings. Per config (rule indexes belong to one policy); bounded by agents × classes ×
    /// actions × rules.
    counters: std::sync::RwLock<
        std::collections::HashMap<CounterKey, metrics::Counter, foldhash::fast::FixedState>,
    >,
    /// Web Bot Auth checker (`None` when `[server.web_bot_auth] enabled = false`).
    pub websig: Option<crate::websig::WebSig>,
    /// Refusals and quotes already built, so a repeat is a copy (their text names the agent,
    /// the rule, the price and the terms: all fixed per key and config). Bounded by
    /// [`ANSWER_CACHE_MAX`].
    answers:
        std::sync::RwLock<std::collections::HashMap<AnswerKey, Answer, foldhash::fast::FixedState>>,
}

impl Live {
    /// The origin client, the Web Bot Auth checker and an empty counter cache for `config`.
    /// `previous` (on reload) hands its signature nonce and verified caches on.
    fn new(
        config: Config,
        catalogue: &tollgate_agents::Catalogue,
        previous: Option<&Live>,
    ) -> Live {
        let s = &config.server;
        let upstream = Upstream::new(
            &s.origin,
            Duration::from_millis(s.connect_timeout_ms),
            Duration::from_secs(s.upstream_timeout_secs),
        );
        let wba = &config.server.web_bot_auth;
        let websig = wba
            .enabled
            .then(|| match previous.and_then(|p| p.websig.as_ref()) {
                Some(p) => crate::websig::WebSig::reloaded(wba, catalogue, p),
                None => crate::websig::WebSig::new(wba, catalogue),
            });
        Live {
            config,
            upstream,
            counters: Default::default(),
            websig,
            answers: Default::default(),
        }
    }

    /// The answer kept under `key`, or `build`'s, kept for next time.
    fn answer(&self, key: AnswerKey, build: impl FnOnce() -> Answer) -> Response<Body> {
        if let Some(a) = self
            .answers
            .read()
            .ok()
            .and_then(|m| m.get(&key).map(Answer::response))
        {
            return a;
        }
        let a = build();
        if key.2 == OTHER_REASON {
            return a.into_response();
        }
        if let Ok(mut m) = self.answers.write() {
            if m.len() >= ANSWER_CACHE_MAX {
                m.clear();
            }
            m.insert(key, a.clone());
        }
        a.into_response()
    }
}

/// One decision, as `/api/decisions` and the decision log show it.
#[derive(Debug, Clone, Serialize)]
pub struct DecisionRecord {
    /// Unix seconds.
    pub time: i64,
    /// Client address.
    pub client: String,
    /// Method.
    pub method: String,
    /// Path as requested (no query).
    pub path: String,
    /// Catalogue agent, if any.
    pub agent: Option<String>,
    /// Class.
    pub class: &'static str,
    /// `verified(ip-range)`, `unverified`, `spoofed`, …
    pub verification: String,
    /// Action taken (`allow`, `deny`, `charge(USD 0.002)`, …).
    pub action: String,
    /// Deciding rule or reason.
    pub rule: String,
    /// Shadow rules that matched.
    pub shadow: Vec<String>,
    /// Web Bot Auth: `-`, `verified(<thumbprint>)`, `unverified(<reason>)`, `spoofed(<reason>)`.
    pub signature: String,
}

/// What `act` needs to say about a decision (borrowed from the live config and catalogue).
pub struct Said<'a> {
    /// The deciding rule (or `default` / `protected-path`).
    pub rule: &'a str,
    /// The agent's name, if any.
    pub agent: Option<&'a str>,
    /// The class.
    pub class: &'static str,
}

impl Said<'_> {
    /// `GPTBot (ai-training)` or `this client (browser)`, for refusal messages.
    fn who(&self) -> String {
        match self.agent {
            Some(a) => format!("{a} ({})", self.class),
            None => format!("this client ({})", self.class),
        }
    }
}

/// A decision as kept for `/api/decisions`: compact (no strings but the request's own), turned
/// into a [`DecisionRecord`] only when asked for. Holds the config and classifier it was decided
/// with, so names resolve as they were.
struct RecentEntry {
    time: i64,
    client: IpAddr,
    /// The method and then the path (no query), copied: a [`Shared`] would keep hyper's whole
    /// read buffer (up to hundreds of KiB) alive for as long as the entry is kept.
    method_path: Box<str>,
    /// Where the method ends in `method_path`.
    method_len: usize,
    client_class: Client,
    decision: Decision,
    signature: Option<String>,
    live: Arc<Live>,
    classifier: Arc<Classifier>,
}

impl RecentEntry {
    fn record(&self) -> DecisionRecord {
        let policy = &self.live.config.policy;
        // A char boundary: the end of the method's `str`.
        let (method, path) = self
            .method_path
            .split_at_checked(self.method_len)
            .unwrap_or(("", &self.method_path));
        DecisionRecord {
            time: self.time,
            client: self.client.to_string(),
            method: method.to_string(),
            path: path.to_string(),
            agent: self
                .client_class
                .agent
                .map(|id| self.classifier.catalogue().agent(id).name.clone()),
            class: self.client_class.class.as_str(),
            verification: self.client_class.verification.to_string(),
            action: self.decision.action.to_string(),
            rule: policy.rule_name(&self.decision).to_string(),
            shadow: self
                .decision
                .shadowed
                .iter()
                .map(|&i| policy.rules()[i].name.clone())
                .collect(),
            signature: self.signature.clone().unwrap_or_else(|| "-".into()),
        }
    }
}

/// Shadow rule names for the decision log, without collecting them.
struct ShadowNames<'a>(&'a tollgate_policy::Policy, &'a [usize]);

impl std::fmt::Debug for ShadowNames<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list()
            .entries(self.1.iter().map(|&i| &self.0.rules()[i].name))
            .finish()
    }
}

/// Key of a cached `tollgate_requests_total` series: agent, class, action, rule (or reason).
type CounterKey = (u32, u8, u8, u32);

/// The deciding rule as a number: its index, or a reserved value per reason without a rule
/// ([`OTHER_REASON`] for a reason this list does not know).
fn rule_key(d: &Decision) -> u32 {
    match (d.rule, d.reason) {
        (Some(i), _) => i as u32,
        (None, None | Some("default")) => u32::MAX,
        (None, Some("protected-path")) => u32::MAX - 1,
        (None, Some(_)) => OTHER_REASON,
    }
}

/// [`rule_key`] of a reason it does not list: such answers are not kept.
const OTHER_REASON: u32 = u32::MAX - 2;

/// The [`AnswerKey`] of a local answer.
fn answer_key(
    client: &Client,
    d: &Decision,
    kind: AnswerKind,
    nginx: bool,
    which: u8,
) -> AnswerKey {
    (
        client.agent.map_or(u32::MAX, |a| u32::from(a.0)),
        client.class as u8,
        rule_key(d),
        kind as u8,
        nginx,
        which,
    )
}

/// Key of a kept local answer: agent, class, rule (see [`rule_key`]), answer kind, nginx
/// forward-auth, and which answer (0 = refusal, 1 = 402 quote without a ledger). Everything the
/// answer says follows from these and the config it is kept with.
type AnswerKey = (u32, u8, u32, u8, bool, u8);

/// Local answers kept per config before the cache is cleared (agents × classes × rules × kinds
/// can exceed it only under a flood of distinct agents).
pub const ANSWER_CACHE_MAX: usize = 4096;

/// The gateway: live config, shared state, and the request handler.
pub struct Gateway {
    live: ArcSwap<Live>,
    classifier: ArcSwap<Classifier>,
    limiter: Limiter,
    tarpit: Arc<Semaphore>,
    recent: Mutex<VecDeque<RecentEntry>>,
    forward_auth: bool,
    config_path: Option<PathBuf>,
    fcrdns: Option<crate::fcrdns::Fcrdns>,
    /// User-Agent → match, so repeat clients skip the automaton. Bounded: at most
    /// [`UA_CACHE_MAX`] headers of at most [`UA_CACHE_MAX_LEN`] bytes; cleared when full. The
    /// catalogue never changes while serving, so entries stay valid across range updates.
    ua_cache: std::sync::RwLock<
        std::collections::HashMap<Box<[u8]>, UaMatch, foldhash::fast::FixedState>,
    >,
    /// The usage ledger (accounts, charges), when `[payments] ledger` or `--ledger` names one.
    ledger: Option<tollgate_ledger::Ledger>,
    /// `tollgate_verification_total` by outcome (verified, unverified, spoofed), registered once.
    verification_counters: [metrics::Counter; 3],
    /// `tollgate_upstream_seconds`, registered once.
    upstream_seconds: metrics::Histogram,
}

/// Entries in the User-Agent cache before it is cleared.
pub const UA_CACHE_MAX: usize = 20_000;
/// Longer User-Agents are matched every time, not cached.
pub const UA_CACHE_MAX_LEN: usize = 512;

struct HeaderView<'a>(&'a HeaderMap);

impl Headers for HeaderView<'_> {
    fn get(&self, name: &str) -> Option<&str> {
        header_str(self.0, name)
    }

    fn any(&self, name: &str, f: &mut dyn FnMut(&str) -> bool) -> bool {
        self.0
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .any(f)
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Text of the request held in hyper's own buffers: making one, or cloning it, shares the bytes
/// instead of copying them (one `String` per field per request otherwise).
#[derive(Clone)]
pub(crate) enum Shared {
    /// A fixed default (`GET`, `/`).
    Static(&'static str),
    /// The request method.
    Method(http::Method),
    /// The request target (origin form).
    Target(http::uri::PathAndQuery),
    /// The target's authority (HTTP/2 `:authority`, absolute-form targets).
    Authority(http::uri::Authority),
    /// A header value that is visible ASCII (checked when made: see [`Shared::header`]).
    Header(HeaderValue),
    /// Text rewritten from what the proxy reported (see [`Shared::forwarded_target`]).
    Owned(String),
}

impl Shared {
    /// `v` if it is visible ASCII (`HeaderValue::to_str` succeeds).
    fn header(v: &HeaderValue) -> Option<Shared> {
        v.to_str().is_ok().then(|| Shared::Header(v.clone()))
    }

    /// The text.
    pub(crate) fn as_str(&self) -> &str {
        match self {
            Shared::Static(s) => s,
            Shared::Method(m) => m.as_str(),
            Shared::Target(t) => t.as_str(),
            Shared::Authority(a) => a.as_str(),
            // Checked in `Shared::header`.
            Shared::Header(v) => v.to_str().unwrap_or_default(),
            Shared::Owned(s) => s,
        }
    }

    /// The request target a proxy reports in `X-Forwarded-Uri` / `X-Original-Uri`, in origin
    /// form, so the policy sees the path the origin will: an absolute-form URI
    /// (`http://host/private`) keeps only its path and query (`/` if it has no path), and bytes
    /// outside visible ASCII (nginx passes `$request_uri` through raw) are percent-encoded, which
    /// the path normalisation decodes again (`/private/café` → `/private/caf%C3%A9`, matching
    /// `/private/**` as before).
    fn forwarded_target(v: &HeaderValue) -> Shared {
        let raw = v.as_bytes();
        let after_scheme = raw
            .iter()
            .position(|&b| !(b.is_ascii_alphanumeric() || b"+-.".contains(&b)))
            .filter(|&i| i > 0 && raw[i..].starts_with(b"://"))
            .map(|i| &raw[i + 3..]);
        let origin_form = match after_scheme {
            // The authority ends at the first `/`, `?` or `#`.
            Some(rest) => match rest.iter().position(|b| b"/?#".contains(b)) {
                Some(i) => &rest[i..],
                None => &b""[..],
            },
            None => raw,
        };
        if after_scheme.is_none() && raw.iter().all(u8::is_ascii_graphic) {
            return Shared::Header(v.clone());
        }
        let mut out = String::with_capacity(origin_form.len() + 1);
        if origin_form.first() != Some(&b'/') {
            out.push('/');
        }
        for &b in origin_form {
            if b.is_ascii_graphic() {
                out.push(char::from(b));
            } else {
                // Writing to a `String` cannot fail.
                let _ = write!(out, "%{b:02X}");
            }
        }
        Shared::Owned(out)
    }
}

/// The original request, as seen by the gateway or (forward-auth) reported by the proxy.
pub(crate) struct Original {
    method: Shared,
    target: Shared,
    host: Option<Shared>,
}

impl Original {
    /// The URL a ledger entry names: `[signals] site_url` + the target when the site's public
    /// URL is configured (a client's `Host` header cannot change what an invoice says), else
    /// `//host/target` (the scheme is not known behind proxies), else the target.
    fn url(&self, live: &Live) -> String {
        if let Some(sig) = &live.config.signals {
            return format!(
                "{}{}",
                sig.config.site_url.trim_end_matches('/'),
                self.target.as_str()
            );
        }
        match &self.host {
            Some(h) => format!("//{}{}", h.as_str(), self.target.as_str()),
            None => self.target.as_str().to_string(),
        }
    }
}

/// The addresses of a request: the TCP peer, the client (after trusted proxies), and whether
/// the peer is a trusted proxy.
#[derive(Clone, Copy)]
pub(crate) struct Peers {
    peer: IpAddr,
    client_ip: IpAddr,
    trusted_peer: bool,
}

fn header_str<'a>(h: &'a HeaderMap, name: &str) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok())
}

/// `/robots.txt`, `/.well-known/tdmrep.json` and the licence document, generated from the
/// policy, for GET and HEAD (a HEAD gets the same headers and an empty body).
fn signal_document(live: &Live, method: &str, raw_path: &str) -> Option<Response<Body>> {
    let sig = live.config.signals.as_ref()?;
    if method != "GET" && method != "HEAD" {
        return None;
    }
    let path = tollgate_policy::path::normalize(raw_path);
    let (ctype, body) = if path == "/robots.txt" {
        ("text/plain; charset=utf-8", &sig.robots_txt)
    } else if path == tollgate_signals::TDMREP_PATH {
        ("application/json", &sig.tdmrep_json)
    } else if path == sig.license_path {
        (tollgate_signals::RSL_MEDIA_TYPE, &sig.rsl_xml)
    } else {
        return None;
    };
    let len = body.len();
    let mut r = Response::new(if method == "HEAD" {
        full(Bytes::new())
    } else {
        full(body.clone())
    });
    let h = r.headers_mut();
    h.insert(http::header::CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert(http::header::CONTENT_LENGTH, HeaderValue::from(len));
    h.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("max-age=3600"),
    );
    Some(r)
}

impl Gateway {
    /// A gateway for `config`. `config_path` is re-read on [`Gateway::reload`].
    pub fn new(
        config: Config,
        classifier: Arc<Classifier>,
        forward_auth: bool,
        config_path: Option<PathBuf>,
    ) -> Gateway {
        let s = &config.server;
        let tarpit = Arc::new(Semaphore::new(s.tarpit.max_concurrent));
        let fcrdns = match crate::fcrdns::Fcrdns::new(&s.fcrdns) {
            Ok(f) => Some(f),
            Err(e) => {
                tracing::warn!(target: "tollgate::server", error = %e, "no DNS resolver: reverse-DNS verification is off");
                None
            }
        };
        Gateway {
            live: ArcSwap::from_pointee(Live::new(config, classifier.catalogue(), None)),
            classifier: ArcSwap::from(classifier),
            limiter: Limiter::default(),
            tarpit,
            recent: Mutex::new(VecDeque::with_capacity(RECENT_DECISIONS)),
            forward_auth,
            config_path,
            fcrdns,
            ua_cache: std::sync::RwLock::new(std::collections::HashMap::with_hasher(
                foldhash::fast::FixedState::default(),
            )),
            ledger: None,
            verification_counters: ["verified", "unverified", "spoofed"]
                .map(|o| metrics::counter!("tollgate_verification_total", "outcome" => o)),
            upstream_seconds: metrics::histogram!("tollgate_upstream_seconds"),
        }
    }

    /// Charges `charge` decisions to accounts in `ledger` (without one they only quote).
    pub fn with_ledger(mut self, ledger: tollgate_ledger::Ledger) -> Gateway {
        self.ledger = Some(ledger);
        self
    }

    /// The ledger, if payments are on.
    pub fn ledger(&self) -> Option<&tollgate_ledger::Ledger> {
        self.ledger.as_ref()
    }

    /// Whether this gateway answers forward-auth subrequests.
    pub(crate) fn is_forward_auth(&self) -> bool {
        self.forward_auth
    }

    /// The User-Agent match, from the cache when this header was seen before.
    fn match_ua(&self, classifier: &Classifier, ua: &[u8]) -> UaMatch {
        if ua.len() > UA_CACHE_MAX_LEN {
            return classifier.matcher().match_ua(ua);
        }
        if let Some(m) = self.ua_cache.read().ok().and_then(|c| c.get(ua).copied()) {
            return m;
        }
        let m = classifier.matcher().match_ua(ua);
        if let Ok(mut c) = self.ua_cache.write() {
            if c.len() >= UA_CACHE_MAX {
                c.clear();
            }
            c.insert(ua.into(), m);
            metrics::gauge!("tollgate_ua_cache_entries").set(c.len() as f64);
        }
        m
    }

    fn requests_counter(
        &self,
        live: &Live,
        client: &Client,
        d: &Decision,
        said: &Said<'_>,
    ) -> metrics::Counter {
        let key: CounterKey = (
            client.agent.map_or(u32::MAX, |a| u32::from(a.0)),
            client.class as u8,
            match d.action {
                Action::Allow => 0,
                Action::Deny => 1,
                Action::Charge(_) => 2,
                Action::Challenge => 3,
                Action::Limit(_) => 4,
                Action::Tarpit => 5,
            },
            rule_key(d),
        );
        if let Some(c) = live.counters.read().ok().and_then(|m| m.get(&key).cloned()) {
            return c;
        }
        let c = metrics::counter!(
            "tollgate_requests_total",
            "class" => said.class,
            "agent" => said.agent.unwrap_or("-").to_string(),
            "action" => d.action.name(),
            "rule" => said.rule.to_string()
        );
        if let Ok(mut m) = live.counters.write() {
            m.insert(key, c.clone());
        }
        c
    }

    /// Completes a claim that published ranges did not prove with forward-confirmed reverse DNS,
    /// for agents that document host names. A failed check is `spoofed`; an unavailable one
    /// changes nothing (DESIGN.md: lookups that time out count as unverified).
    async fn verify_fcrdns(&self, classifier: &Classifier, client: &mut Client, ip: IpAddr) {
        use tollgate_agents::verify::{SpoofReason, Verification, VerifiedBy};
        let (Some(fcrdns), Some(id)) = (&self.fcrdns, client.agent) else {
            return;
        };
        if matches!(client.verification, Verification::Verified(_)) {
            return;
        }
        let suffixes = &classifier.catalogue().agent(id).verify.fcrdns;
        if suffixes.is_empty() {
            return;
        }
        match fcrdns.check(ip, suffixes).await {
            crate::fcrdns::FcrdnsOutcome::Verified { .. } => {
                client.verification = Verification::Verified(VerifiedBy::Fcrdns);
            }
            crate::fcrdns::FcrdnsOutcome::Mismatch { .. } => {
                if !matches!(client.verification, Verification::Spoofed(_)) {
                    client.verification = Verification::Spoofed(SpoofReason::FcrdnsMismatch);
                }
            }
            crate::fcrdns::FcrdnsOutcome::Unavailable => {}
        }
    }

    /// The live config.
    pub fn live(&self) -> arc_swap::Guard<Arc<Live>> {
        self.live.load()
    }

    /// The classifier in use.
    pub fn classifier(&self) -> Arc<Classifier> {
        self.classifier.load_full()
    }

    /// Swaps in a classifier built from fresh range data (the catalogue must be the same one, so
    /// agent ids stay valid for requests in flight).
    pub fn set_classifier(&self, classifier: Arc<Classifier>) {
        self.classifier.store(classifier);
    }

    /// Re-reads the config file and swaps it in atomically; on any error the old config stays
    /// and the error (with file:line) is returned.
    pub fn reload(&self) -> Result<(), String> {
        let path = self
            .config_path
            .as_ref()
            .ok_or("no config file to reload (serving the embedded example)")?;
        let text = crate::config::read_config(path)?;
        let config = Config::parse(
            &path.display().to_string(),
            &text,
            self.classifier.load().catalogue(),
        )
        .map_err(|e| e.to_string())?;
        let old = self.live.load();
        let kept = restart_only_changes(&old.config.server, &config.server);
        if !kept.is_empty() {
            tracing::warn!(
                target: "tollgate::server",
                settings = %kept.join(", "),
                "changed settings take effect only after a restart; the rest of the config is applied"
            );
        }
        let live = Live::new(config, self.classifier.load().catalogue(), Some(&old));
        self.live.store(Arc::new(live));
        Ok(())
    }

    /// Recent decisions, newest last.
    pub fn recent_decisions(&self) -> Vec<DecisionRecord> {
        match self.recent.lock() {
            Ok(r) => r.iter().map(RecentEntry::record).collect(),
            Err(p) => p.into_inner().iter().map(RecentEntry::record).collect(),
        }
    }

    /// Token buckets held.
    pub fn limiter_buckets(&self) -> u64 {
        self.limiter.len()
    }

    /// Local answers (refusals, quotes) kept for the current config; at most
    /// [`ANSWER_CACHE_MAX`].
    pub fn kept_answers(&self) -> usize {
        self.live.load().answers.read().map_or(0, |m| m.len())
    }

    fn original(&self, req: &Request<Incoming>, trusted_peer: bool) -> Original {
        let h = req.headers();
        let shared = |name: &str| h.get(name).and_then(Shared::header);
        if self.forward_auth && trusted_peer {
            return Original {
                // A method that is no RFC 9110 token (or longer than any real one) is
                // unknown: `-`, which no rule's `method` matches.
                method: h
                    .get("x-forwarded-method")
                    .or_else(|| h.get("x-original-method"))
                    .map_or(Shared::Static("GET"), |v| {
                        http::Method::from_bytes(v.as_bytes())
                            .ok()
                            .filter(|_| v.len() <= FORWARDED_METHOD_MAX)
                            .map_or(Shared::Static("-"), Shared::Method)
                    }),
                target: h
                    .get("x-forwarded-uri")
                    .or_else(|| h.get("x-original-uri"))
                    .map_or(Shared::Static("/"), Shared::forwarded_target),
                host: shared("x-forwarded-host").or_else(|| shared("host")),
            };
        }
        Original {
            method: Shared::Method(req.method().clone()),
            target: req
                .uri()
                .path_and_query()
                .map_or(Shared::Static("/"), |p| Shared::Target(p.clone())),
            host: h
                .get(HOST)
                .and_then(Shared::header)
                .or_else(|| req.uri().authority().cloned().map(Shared::Authority)),
        }
    }

    /// Handles one request (the hyper service function).
    pub async fn handle(
        self: Arc<Self>,
        peer: SocketAddr,
        mut req: Request<Incoming>,
    ) -> Result<Response<Body>, Infallible> {
        if self.forward_auth && req.uri().path() == ANSWER_PATH {
            return Ok(carried_answer(&req));
        }
        if req.method() == Method::CONNECT {
            return Ok(connect_refused(peer));
        }
        if req.method().as_str().len() > FORWARDED_METHOD_MAX {
            // hyper takes a method of any length; one longer than any registered method would
            // otherwise be logged and kept in the recent decisions whole.
            return Ok(method_not_implemented());
        }
        let live = self.live.load_full();
        let server = &live.config.server;
        // Phase 1: facts.
        let peer_ip = canonical(peer.ip());
        let trusted_peer = is_trusted(peer_ip, &server.trusted_proxies);
        let client_ip = client_addr(peer_ip, req.headers(), &server.trusted_proxies);
        let orig = self.original(&req, trusted_peer);
        let (path, query) = match orig.target.as_str().split_once('?') {
            Some((p, q)) => (p, Some(q)),
            None => (orig.target.as_str(), None),
        };
        // The licence-token endpoint is tollgate's own, never blocked (like the signals).
        if !self.forward_auth && path == live.config.payments.token_path {
            return Ok(match self.ledger.clone() {
                Some(ledger) => {
                    let ttl = Duration::from_secs(live.config.payments.token_ttl_secs);
                    crate::charge::token_endpoint(ledger, req, ttl).await
                }
                None => crate::charge::payments_off_token(),
            });
        }
        let ua = req
            .headers()
            .get(USER_AGENT)
            .map(HeaderValue::as_bytes)
            .unwrap_or(b"");
        let facts = RequestFacts {
            client_ip: Some(client_ip),
            method: orig.method.as_str(),
            host: orig.host.as_ref().map(Shared::as_str),
            path,
            query,
            user_agent: ua,
            time: Some(unix_now()),
        };
        // Phase 2: classify (pure) and decide (pure).
        // One classifier for the whole request (a ranges update may swap it meanwhile).
        let classifier = self.classifier.load_full();
        let ua_match = self.match_ua(&classifier, facts.user_agent);
        let mut client = classifier.client_for(ua_match, facts.client_ip);
        self.verify_fcrdns(&classifier, &mut client, client_ip)
            .await;
        let sig = crate::websig::check_request(&live, &req, &facts, trusted_peer).await;
        sig.apply(&mut client, classifier.catalogue());
        // An account's credential proves who the client is (verified(api-key)).
        let payer = match self.ledger.clone() {
            Some(ledger) => crate::charge::identify(ledger, req.headers(), None).await,
            None => crate::charge::Payer::Anonymous,
        };
        if let crate::charge::Payer::Account { auth, .. } = &payer {
            // A suspended account's key proves nothing the policy may reward.
            if auth.status == tollgate_ledger::AccountStatus::Active
                && (auth.identity.starts_with("key:") || auth.identity.starts_with("license:"))
            {
                client.verification = tollgate_agents::verify::Verification::Verified(
                    tollgate_agents::verify::VerifiedBy::ApiKey,
                );
            }
        }
        let decision = live.config.policy.decide(
            classifier.catalogue(),
            &facts,
            &client,
            &HeaderView(req.headers()),
        );
        // Phase 3: record.
        let record = self.record(
            &live,
            &classifier,
            &facts,
            &client,
            &decision,
            client_ip,
            &sig,
        );
        // Later phases find the verified signature (thumbprint, covered components) here.
        crate::websig::hand_over(live.websig.as_ref(), &sig, &decision, req.extensions_mut());
        // Phase 4: act. Signal documents are answered here, never blocked (invariant 3).
        if let Some(resp) = signal_document(&live, orig.method.as_str(), path) {
            return Ok(resp);
        }
        // Local answers use the kind, and so does a passed request's 502/504.
        let kind = answer_kind(client.class, req.headers());
        let resp = self
            .act(
                &live,
                &classifier,
                req,
                Peers {
                    peer: peer_ip,
                    client_ip,
                    trusted_peer,
                },
                &client,
                &decision,
                &record,
                kind,
                payer,
                &orig,
            )
            .await;
        Ok(resp)
    }

    #[allow(clippy::too_many_arguments)]
    fn record<'a>(
        &self,
        live: &'a Arc<Live>,
        classifier: &'a Arc<Classifier>,
        facts: &RequestFacts<'_>,
        client: &Client,
        d: &'a Decision,
        ip: IpAddr,
        sig: &crate::websig::SigOutcome,
    ) -> Said<'a> {
        let policy = &live.config.policy;
        let said = Said {
            rule: policy.rule_name(d),
            agent: client
                .agent
                .map(|id| classifier.catalogue().agent(id).name.as_str()),
            class: client.class.as_str(),
        };
        self.requests_counter(live, client, d, &said).increment(1);
        let outcome = match client.verification {
            tollgate_agents::verify::Verification::Verified(_) => 0,
            tollgate_agents::verify::Verification::Unverified(_) => 1,
            tollgate_agents::verify::Verification::Spoofed(_) => 2,
        };
        self.verification_counters[outcome].increment(1);
        for &i in &d.shadowed {
            metrics::counter!("tollgate_shadow_matches_total", "rule" => policy.rules()[i].name.clone()).increment(1);
        }
        let signature =
            (!matches!(sig, crate::websig::SigOutcome::Unsigned)).then(|| sig.summary());
        tracing::info!(
            target: "tollgate::decision",
            client = %crate::forwarding::IpText::new(ip),
            method = facts.method,
            path = facts.path,
            agent = said.agent.unwrap_or("-"),
            class = said.class,
            verification = %client.verification,
            action = %d.action,
            rule = said.rule,
            shadow = ?ShadowNames(policy, &d.shadowed),
            signature = signature.as_deref().unwrap_or("-"),
            "decision"
        );
        let entry = RecentEntry {
            time: facts.time.unwrap_or(0),
            client: ip,
            method_path: [facts.method, cut(facts.path, RECENT_PATH_MAX)]
                .concat()
                .into(),
            method_len: facts.method.len(),
            client_class: *client,
            decision: d.clone(),
            signature,
            live: Arc::clone(live),
            classifier: Arc::clone(classifier),
        };
        let mut recent = match self.recent.lock() {
            Ok(r) => r,
            Err(p) => p.into_inner(),
        };
        if recent.len() >= RECENT_DECISIONS {
            recent.pop_front();
        }
        recent.push_back(entry);
        said
    }

    #[allow(clippy::too_many_arguments)]
    async fn act(
        &self,
        live: &Live,
        classifier: &Classifier,
        req: Request<Incoming>,
        peers: Peers,
        client: &Client,
        d: &Decision,
        rec: &Said<'_>,
        kind: AnswerKind,
        payer: crate::charge::Payer,
        orig: &Original,
    ) -> Response<Body> {
        let mut req = req;
        if self.ledger.is_some()
            && crate::payment::credential(req.headers(), tollgate_ledger::API_KEY_PREFIX).is_some()
        {
            // The crawler's key or licence token is for tollgate, not for the origin.
            req.headers_mut().remove(http::header::AUTHORIZATION);
        }
        let server = &live.config.server;
        let terms = server.terms_url.as_deref();
        // nginx's auth_request passes only 2xx/401/403: carry the real answer in a header.
        let nginx = self.forward_auth
            && req
                .headers()
                .get("x-tollgate-proxy")
                .and_then(|v| v.to_str().ok())
                == Some("nginx");
        match &d.action {
            Action::Allow => {
                let resp = self.pass(live, req, peers, kind).await;
                if let (Some(ledger), crate::charge::Payer::Account { auth, .. }) =
                    (&self.ledger, &payer)
                {
                    if live.config.payments.record_free
                        && auth.status == tollgate_ledger::AccountStatus::Active
                        && resp.status().is_success()
                    {
                        crate::charge::record_free(
                            ledger,
                            auth,
                            orig.method.as_str(),
                            orig.url(live),
                            rec,
                            resp.status(),
                        );
                    }
                }
                resp
            }
            Action::Deny | Action::Challenge => live.answer(answer_key(client, d, kind, nginx, 0), || {
                self.refuse_answer(
                    nginx,
                    &Refusal {
                        status: StatusCode::FORBIDDEN,
                        code: "forbidden",
                        message: format!("The site's policy does not allow {} to fetch this page.", rec.who()),
                        rule: Some(rec.rule),
                        terms,
                        retry_after_secs: None,
                        price: None,
                        crawler_error: None,
                    },
                    kind,
                )
            }),
            Action::Charge(price) => match self.ledger.clone() {
                Some(ledger) => {
                    // No API key or licence token: a verified signature may name the payer.
                    let signed = req
                        .extensions()
                        .get::<tollgate_httpsig::SignedIdentity>()
                        .cloned();
                    let payer = match (payer, signed) {
                        (crate::charge::Payer::Anonymous, Some(id)) => {
                            crate::charge::identify(ledger.clone(), req.headers(), Some(&id)).await
                        }
                        (p, _) => p,
                    };
                    let cx = crate::charge::ChargeCtx {
                        live,
                        peers,
                        who: &rec.who(),
                        rule: rec.rule,
                        agent: rec.agent,
                        price: *price,
                        kind,
                        nginx,
                        method: orig.method.as_str(),
                        url: orig.url(live),
                    };
                    self.charge(ledger, cx, req, payer).await
                }
                // Without a ledger a charge rule can only quote.
                None => live.answer(answer_key(client, d, kind, nginx, 1), || {
                    self.quote_answer(
                        live,
                        nginx,
                        &Refusal {
                            status: StatusCode::PAYMENT_REQUIRED,
                            code: "payment-required",
                            message: format!("{}: this site asks {price} per request but takes no payments here yet (no ledger); see the terms to license its content.", rec.who()),
                            rule: Some(rec.rule),
                            terms,
                            retry_after_secs: None,
                            price: Some(price.to_string()),
                            crawler_error: Some(crate::payment::CrawlerError::MissingCrawlerPrice.code()),
                        },
                        kind,
                    )
                }),
            },
            Action::Limit(spec) => {
                let agent = client.agent.map(|a| a.0);
                let operator = client.agent.map(|a| classifier.catalogue().agent(a).operator.as_str());
                let key = BucketKey::new(d.rule.unwrap_or(usize::MAX), spec.key, peers.client_ip, agent, operator);
                match self.limiter.take(key, spec, Instant::now()) {
                    Ok(()) => self.pass(live, req, peers, kind).await,
                    Err(wait) => self.refuse(
                nginx,
                        &rate_limited(
                            &rec.who(),
                            rec.rule,
                            terms,
                            wait.as_secs_f64().ceil().max(1.0) as u64,
                        ),
                        kind,
                    ),
                }
            }
            Action::Tarpit => self.tarpit(live, &rec.who(), rec.rule, terms, kind, nginx),
        }
    }

    pub(crate) async fn pass(
        &self,
        live: &Live,
        mut req: Request<Incoming>,
        peers: Peers,
        kind: AnswerKind,
    ) -> Response<Body> {
        if self.forward_auth {
            let mut r = Response::new(full(Bytes::new()));
            *r.status_mut() = StatusCode::OK;
            return r;
        }
        // HTTP/2 requests carry the host as :authority; the origin speaks HTTP/1.1 and needs Host.
        if !req.headers().contains_key(HOST) {
            let host = req
                .uri()
                .authority()
                .map_or(live.upstream.default_host(), |a| a.as_str());
            if let Ok(v) = HeaderValue::from_str(host) {
                req.headers_mut().insert(HOST, v);
            }
        }
        let headers = req.headers_mut();
        strip_hop_by_hop(headers);
        set_forwarding(headers, peers.peer, peers.client_ip, peers.trusted_peer);
        let started = Instant::now();
        match live.upstream.forward(req).await {
            Ok(mut resp) => {
                self.upstream_seconds
                    .record(started.elapsed().as_secs_f64());
                // tollgate answers in its own HTTP version, whatever the origin's (an HTTP/1.0
                // origin would otherwise turn the client's connection into HTTP/1.0).
                *resp.version_mut() = http::Version::HTTP_11;
                strip_hop_by_hop(resp.headers_mut());
                if let Some(sig) = &live.config.signals {
                    let h = resp.headers_mut();
                    for (name, value) in &sig.headers {
                        // The origin's own statement wins; `Link` is additive.
                        if name == http::header::LINK {
                            h.append(name.clone(), value.clone());
                        } else if !h.contains_key(name) {
                            h.insert(name.clone(), value.clone());
                        }
                    }
                }
                resp
            }
            Err(UpstreamError::BadRequestBody(e)) => {
                // The client's own framing failed (bad chunked encoding, a body shorter than its
                // Content-Length): its fault, not the origin's.
                tracing::debug!(target: "tollgate::upstream", error = %e, "bad request body");
                let message = "tollgate: the request body is malformed.".to_string();
                refusal(
                    &Refusal::plain(StatusCode::BAD_REQUEST, "bad-request", message),
                    kind,
                )
            }
            Err(e) => {
                // The public answer does not name the origin (an internal address); the log
                // line does.
                let (status, code, message) = match e {
                    UpstreamError::Timeout { secs, .. } => (
                        StatusCode::GATEWAY_TIMEOUT,
                        "gateway-timeout",
                        format!("tollgate: the site's server did not answer within {secs} s."),
                    ),
                    _ => (
                        StatusCode::BAD_GATEWAY,
                        "bad-gateway",
                        "tollgate: the site's server could not be reached.".to_string(),
                    ),
                };
                metrics::counter!("tollgate_upstream_errors_total", "status" => status.as_str().to_string()).increment(1);
                tracing::warn!(target: "tollgate::upstream", error = %e, "origin failed");
                refusal(&Refusal::plain(status, code, message), kind)
            }
        }
    }

    /// A refusal as the client should see it; with nginx forward-auth, a 403 carrying it.
    /// A 402 quote: the refusal plus the RSL licence `Link` (when `[signals]` has one), so a
    /// crawler finds the terms it is asked to pay under (standards.md §5.3).
    pub(crate) fn quote(
        &self,
        live: &Live,
        nginx: bool,
        r: &Refusal<'_>,
        kind: AnswerKind,
    ) -> Response<Body> {
        self.quote_answer(live, nginx, r, kind).into_response()
    }

    /// The 402 quote as an [`Answer`] (see [`Gateway::quote`]).
    fn quote_answer(&self, live: &Live, nginx: bool, r: &Refusal<'_>, kind: AnswerKind) -> Answer {
        let mut answer = self.refuse_answer(nginx, r, kind);
        if let Some(sig) = &live.config.signals {
            for (name, value) in &sig.headers {
                if name == http::header::LINK {
                    answer.headers.append(name.clone(), value.clone());
                }
            }
        }
        answer
    }

    pub(crate) fn refuse(&self, nginx: bool, r: &Refusal<'_>, kind: AnswerKind) -> Response<Body> {
        self.refuse_answer(nginx, r, kind).into_response()
    }

    /// The refusal as an [`Answer`]; with nginx forward-auth, a 403 carrying it in a header.
    fn refuse_answer(&self, nginx: bool, r: &Refusal<'_>, kind: AnswerKind) -> Answer {
        if !nginx {
            return refusal_answer(r, kind);
        }
        let mut headers = HeaderMap::new();
        if let Ok(v) = HeaderValue::from_str(&CarriedAnswer::of(r, kind).encode()) {
            headers.insert("x-tollgate-answer", v);
        }
        Answer {
            status: StatusCode::FORBIDDEN,
            headers,
            body: Bytes::new(),
        }
    }

    fn tarpit(
        &self,
        live: &Live,
        who: &str,
        rule: &str,
        terms: Option<&str>,
        kind: AnswerKind,
        nginx: bool,
    ) -> Response<Body> {
        let cfg = &live.config.server.tarpit;
        // A forward-auth check cannot trickle the page itself: it answers 429 at once.
        let permit = if cfg.enabled && !self.forward_auth {
            Arc::clone(&self.tarpit).try_acquire_owned().ok()
        } else {
            None
        };
        let Some(permit) = permit else {
            return self.refuse(
                nginx,
                &rate_limited(who, rule, terms, cfg.duration_secs.max(1)),
                kind,
            );
        };
        metrics::gauge!("tollgate_tarpit_active").increment(1.0);
        let bps = cfg.bytes_per_second.max(1) as usize;
        let secs = cfg.duration_secs;
        let (tx, rx) = tokio::sync::mpsc::channel::<
            Result<hyper::body::Frame<Bytes>, crate::respond::BoxError>,
        >(1);
        // Hold the permit for the life of the trickle: the permit is moved into the task.
        let held = permit;
        tokio::spawn(async move {
            let _held = held;
            for _ in 0..secs {
                if tx
                    .send(Ok(hyper::body::Frame::data(Bytes::from(vec![b' '; bps]))))
                    .await
                    .is_err()
                {
                    break;
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            metrics::gauge!("tollgate_tarpit_active").decrement(1.0);
        });
        let body = http_body_util::StreamBody::new(tokio_stream::wrappers::ReceiverStream::new(rx));
        let mut r = Response::new(body.boxed_unsync());
        r.headers_mut().insert(
            http::header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain"),
        );
        r
    }
}
