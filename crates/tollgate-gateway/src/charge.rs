//! The `charge` action with a ledger (issue #5): identify the payer, check the offer against the
//! quote, fetch from the origin, and release a 2xx only after its ledger entry is durable.
//!
//! Order of checks (each failure answers with its `crawler-error`, standards.md §5.1):
//! 1. price headers well-formed (`InvalidCrawlerPriceValue`, `ConflictingPriceHeaders`);
//! 2. no offer → 402 quote (`MissingCrawlerPrice`);
//! 3. an identity that can pay: a tollgate API key or licence token, or a verified Web Bot Auth
//!    signature (`StrongAuthRequired`); a signature must cover the price header
//!    (`InvalidSignature`);
//! 4. an active account for it (`CrawlerForbidden` for unknown credentials and suspended
//!    accounts, `PaymentFailed` for a key without an account);
//!    a paying signature must also cover the page (`@path`, and `@query` when there is one, or
//!    `@target-uri`); a HEAD is answered without a charge;
//! 5. origin answers; a non-2xx is passed on and never charged;
//! 6. the price is the origin's own `crawler-price` for the page (dynamic pricing), else the
//!    account's, else the rule's; the offer must meet it (else 402 with that price);
//! 7. the body is read whole (within `upstream_timeout_secs`), the charge is committed (group commit), then the response goes
//!    out with `crawler-charged` and the receipt. A ledger that is down answers 503
//!    (`fail-closed`) or spools (`fail-open`, inside the ledger).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::header::HeaderValue;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use tollgate_httpsig::SignedIdentity;
use tollgate_ledger::{AccountAuth, AccountStatus, ChargeError, Ledger, UsageEvent};
use tollgate_policy::Money;

use crate::gateway::{Gateway, Live};
use crate::payment::{self, CrawlerError, Credential, Offer};
use crate::respond::{full, AnswerKind, Body, Refusal};

/// How the request identified itself to pay, found before the decision.
#[derive(Debug, Clone, Default)]
pub(crate) enum Payer {
    /// No tollgate credential and no verified signature.
    #[default]
    Anonymous,
    /// A credential or key that belongs to an account.
    Account {
        /// The account.
        auth: AccountAuth,
        /// Whether the price header, if any, is protected: always for API keys and licence
        /// tokens (TLS protects the whole request); for signatures, when it is a covered
        /// component.
        covers: PriceCover,
    },
    /// A tollgate API key or licence token no account has (revoked, expired, mistyped).
    UnknownCredential,
    /// A verified signature whose key no account has.
    UnknownKey(String),
    /// The ledger could not be asked.
    LedgerDown(String),
}

/// Which price headers the payer's proof covers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) enum PriceCover {
    /// Any (bearer credentials).
    #[default]
    All,
    /// The covered components of the verified signature.
    Signature(Box<SignedIdentity>),
}

impl PriceCover {
    fn covers(&self, header: &str) -> bool {
        match self {
            PriceCover::All => true,
            PriceCover::Signature(id) => id.covers(header),
        }
    }

    /// Whether the proof names the page paid for: a signature must cover `@target-uri`, or
    /// `@path` and (when the request has a query) `@query` — else one signed fetch could pay
    /// for any other page or query variant.
    fn binds_target(&self, has_query: bool) -> bool {
        match self {
            PriceCover::All => true,
            PriceCover::Signature(id) => {
                id.covers("@target-uri")
                    || (id.covers("@path") && (!has_query || id.covers("@query")))
            }
        }
    }
}

/// Finds the payer: a tollgate credential in `Authorization` first, else the verified Web Bot
/// Auth signature's key thumbprint. While the database is down the ledger still answers for
/// credentials it found recently (`identity_stale_ttl`), so fail-open knows who pays.
pub(crate) async fn identify(
    ledger: Ledger,
    headers: &HeaderMap,
    signed: Option<&SignedIdentity>,
) -> Payer {
    let (cred, covers) = match payment::credential(headers, tollgate_ledger::API_KEY_PREFIX) {
        Some(Credential::ApiKey(k)) => (tollgate_ledger::Credential::ApiKey(k), PriceCover::All),
        Some(Credential::LicenseToken(t)) => (
            tollgate_ledger::Credential::LicenseToken(t),
            PriceCover::All,
        ),
        None => match signed {
            Some(id) => (
                tollgate_ledger::Credential::Thumbprint(&id.thumbprint),
                PriceCover::Signature(Box::new(id.clone())),
            ),
            None => return Payer::Anonymous,
        },
    };
    match ledger.authenticate(cred).await {
        Ok(Some(auth)) => Payer::Account { auth, covers },
        Ok(None) => match cred {
            tollgate_ledger::Credential::Thumbprint(t) => Payer::UnknownKey(t.to_string()),
            _ => Payer::UnknownCredential,
        },
        Err(e) => Payer::LedgerDown(e.to_string()),
    }
}

static REQUEST_SEQ: AtomicU64 = AtomicU64::new(0);

/// A request id unique across restarts and replicas: start time (µs, hex), process id, sequence.
pub(crate) fn request_id() -> String {
    static PREFIX: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let prefix = PREFIX.get_or_init(|| {
        let us = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_micros())
            .unwrap_or(0);
        format!("{us:x}-{:x}", std::process::id())
    });
    format!("{prefix}-{}", REQUEST_SEQ.fetch_add(1, Ordering::Relaxed))
}

/// Reads a body whole, up to `max` bytes. Errors: the body failed, or it is longer than `max`.
async fn read_whole(mut body: Body, max: usize) -> Result<Bytes, String> {
    let mut buf = bytes::BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| e.to_string())?;
        if let Ok(data) = frame.into_data() {
            if buf.len() + data.len() > max {
                return Err(format!("longer than {max} bytes"));
            }
            buf.extend_from_slice(&data);
        }
    }
    Ok(buf.freeze())
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// What the charge needs to know about the request beyond the request itself.
pub(crate) struct ChargeCtx<'a> {
    pub live: &'a Live,
    pub peers: crate::gateway::Peers,
    pub who: &'a str,
    pub rule: &'a str,
    pub agent: Option<&'a str>,
    pub price: Money,
    pub kind: AnswerKind,
    pub nginx: bool,
    /// Method and target as the client sent them (for the ledger's URL).
    pub method: &'a str,
    pub url: String,
}

impl Gateway {
    fn pay_refusal(
        &self,
        cx: &ChargeCtx<'_>,
        e: CrawlerError,
        quote: Money,
        message: String,
    ) -> Response<Body> {
        metrics::counter!("tollgate_charges_total", "outcome" => e.code()).increment(1);
        let ledger_down = e == CrawlerError::InternalError;
        self.quote(
            cx.live,
            cx.nginx,
            &Refusal {
                status: if ledger_down {
                    StatusCode::SERVICE_UNAVAILABLE
                } else {
                    e.status()
                },
                code: if e.status() == StatusCode::PAYMENT_REQUIRED {
                    "payment-required"
                } else {
                    "forbidden"
                },
                message,
                rule: Some(cx.rule),
                terms: cx.live.config.server.terms_url.as_deref(),
                retry_after_secs: ledger_down.then_some(5),
                price: e.quotes().then(|| quote.to_string()),
                crawler_error: Some(e.code()),
            },
            cx.kind,
        )
    }

    /// The `charge` action when a ledger is configured (see the module docs for the order).
    pub(crate) async fn charge(
        &self,
        ledger: Ledger,
        cx: ChargeCtx<'_>,
        req: Request<Incoming>,
        payer: Payer,
    ) -> Response<Body> {
        let quote = cx.price;
        let offer = match payment::offer(req.headers()) {
            Ok(o) => o,
            Err(e) => {
                let m = format!("{}: the price headers are not valid: send one of crawler-max-price or crawler-exact-price, as `USD 0.002`.", cx.who);
                return self.pay_refusal(&cx, e, quote, m);
            }
        };
        let (auth, covers) = match payer {
            Payer::Account { auth, covers } => (auth, covers),
            Payer::LedgerDown(e) => {
                tracing::warn!(target: "tollgate::ledger", error = %e, "ledger unavailable: cannot identify the payer");
                metrics::counter!("tollgate_ledger_unavailable_total").increment(1);
                return self.pay_refusal(
                    &cx,
                    CrawlerError::InternalError,
                    quote,
                    "The payment ledger is unavailable; retry later.".into(),
                );
            }
            _ if offer == Offer::None => {
                let m = format!("{}: this site charges {quote} per request. Identify with Web Bot Auth or an API key and send crawler-max-price to pay; see the terms for accounts.", cx.who);
                return self.pay_refusal(&cx, CrawlerError::MissingCrawlerPrice, quote, m);
            }
            Payer::Anonymous => {
                let m = format!("{}: paying needs an identity: a Web Bot Auth signature covering the price header, or an API key (Authorization: Bearer).", cx.who);
                return self.pay_refusal(&cx, CrawlerError::StrongAuthRequired, quote, m);
            }
            Payer::UnknownCredential => {
                let m = "This API key or licence token is not valid (revoked, expired or unknown).";
                return self.pay_refusal(&cx, CrawlerError::CrawlerForbidden, quote, m.into());
            }
            Payer::UnknownKey(t) => {
                let m = format!("No account pays for signing key {t}; see the terms to open one.");
                return self.pay_refusal(&cx, CrawlerError::PaymentFailed, quote, m);
            }
        };
        if let Some(h) = offer.header() {
            if !covers.covers(h) {
                let m = format!("The Web Bot Auth signature must cover the {h} header.");
                return self.pay_refusal(&cx, CrawlerError::InvalidSignature, quote, m);
            }
        }
        if !covers.binds_target(cx.url.contains('?')) {
            let m = "A paying Web Bot Auth signature must cover the page it pays for: @path (and @query when there is a query) or @target-uri.".to_string();
            return self.pay_refusal(&cx, CrawlerError::InvalidSignature, quote, m);
        }
        if auth.status != AccountStatus::Active {
            let m = format!("Account {} is suspended.", auth.account);
            return self.pay_refusal(&cx, CrawlerError::CrawlerForbidden, quote, m);
        }
        if cx.method == "HEAD" {
            // No content is delivered: an identified payer's HEAD is answered, never charged.
            return self.pass(cx.live, req, cx.peers, cx.kind).await;
        }
        // The price: the origin's own for this page if it sets one (dynamic pricing), else the
        // account's, else the rule's. It is known only once the origin answers, so the offer is
        // checked then (an exact offer must equal the final price).
        let quote = auth.price_override.unwrap_or(quote);
        if offer == Offer::None {
            let m = format!("{}: the price is {quote} per request.", cx.who);
            return self.pay_refusal(&cx, CrawlerError::MissingCrawlerPrice, quote, m);
        }
        let mut resp = self.pass(cx.live, req, cx.peers, cx.kind).await;
        if !resp.status().is_success() {
            // A failed origin response is never charged.
            return resp;
        }
        let quote = match payment::origin_price(resp.headers()) {
            Err(e) => {
                tracing::warn!(target: "tollgate::ledger", url = %cx.url, "origin sent an invalid crawler-price");
                let m = "The origin's price for this page is not valid.".to_string();
                return self.pay_refusal(&cx, e, quote, m);
            }
            Ok(Some(p)) => {
                resp.headers_mut().remove(payment::CRAWLER_PRICE);
                p
            }
            Ok(None) => quote,
        };
        if let Err(e) = payment::accept(quote, offer) {
            let m = format!("{}: the price of this page is {quote}.", cx.who);
            return self.pay_refusal(&cx, e, quote, m);
        }
        let (parts, body) = resp.into_parts();
        let max = cx.live.config.payments.max_charged_body_bytes;
        let within = Duration::from_secs(cx.live.config.server.upstream_timeout_secs);
        let read = tokio::time::timeout(within, read_whole(body, max)).await;
        let bytes: Bytes = match read.unwrap_or_else(|_| Err(format!("stalled for {within:?}"))) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(target: "tollgate::ledger", url = %cx.url, error = %e, "charged body not read whole; not charged");
                return crate::respond::refusal(
                    &Refusal::plain(
                        StatusCode::BAD_GATEWAY,
                        "bad-gateway",
                        format!("tollgate: the origin's page could not be read whole (at most {max} bytes are charged); nothing was charged."),
                    ),
                    AnswerKind::Text,
                );
            }
        };
        let event = UsageEvent {
            time: unix_ms(),
            account: auth.account.clone(),
            identity: auth.identity.clone(),
            agent: cx.agent.map(str::to_string),
            method: cx.method.to_string(),
            url: cx.url.clone(),
            status: if self.is_forward_auth() {
                0
            } else {
                parts.status.as_u16()
            },
            bytes: bytes.len() as u64,
            price: quote,
            rule: Some(cx.rule.to_string()),
            request_id: request_id(),
        };
        match ledger.charge(event).await {
            Ok(receipt) => {
                metrics::counter!("tollgate_charges_total", "outcome" => if receipt.spooled { "spooled" } else { "charged" }).increment(1);
                metrics::counter!("tollgate_charged_micros_total", "currency" => quote.currency().to_string()).increment(quote.micros);
                let mut resp = Response::from_parts(parts, full(bytes));
                let h = resp.headers_mut();
                if let Ok(v) = HeaderValue::from_str(&quote.to_string()) {
                    h.insert(payment::CRAWLER_CHARGED, v);
                }
                if let Ok(v) = HeaderValue::from_str(&payment::receipt_value(
                    receipt.entry_id,
                    &receipt.hash,
                    receipt.spooled,
                )) {
                    h.insert(payment::RECEIPT, v);
                }
                resp
            }
            Err(ChargeError::Unavailable(e)) => {
                tracing::warn!(target: "tollgate::ledger", error = %e, "ledger unavailable: charged response withheld");
                metrics::counter!("tollgate_ledger_unavailable_total").increment(1);
                self.pay_refusal(
                    &cx,
                    CrawlerError::InternalError,
                    quote,
                    "The payment ledger is unavailable; nothing was charged. Retry later.".into(),
                )
            }
            Err(ChargeError::Suspended) => {
                let m = format!("Account {} is suspended.", auth.account);
                self.pay_refusal(&cx, CrawlerError::CrawlerForbidden, quote, m)
            }
            Err(e) => {
                let m = format!("Account {} could not pay {quote}: {e}.", auth.account);
                self.pay_refusal(&cx, CrawlerError::PaymentFailed, quote, m)
            }
        }
    }
}

/// After an allowed request by an identified account: records the free licensed use
/// (`[payments] record_free`, price 0) in the background; allowed traffic never waits on the
/// ledger.
pub(crate) fn record_free(
    ledger: &Ledger,
    auth: &AccountAuth,
    method: &str,
    url: String,
    said: &crate::gateway::Said<'_>,
    status: StatusCode,
) {
    let event = UsageEvent {
        time: unix_ms(),
        account: auth.account.clone(),
        identity: auth.identity.clone(),
        agent: said.agent.map(str::to_string),
        method: method.to_string(),
        url,
        status: status.as_u16(),
        bytes: 0,
        price: Money {
            currency: *b"USD",
            micros: 0,
        },
        rule: Some(said.rule.to_string()),
        request_id: request_id(),
    };
    let ledger = ledger.clone();
    tokio::spawn(async move {
        if let Err(e) = ledger.record(event).await {
            tracing::warn!(target: "tollgate::ledger", error = %e, "free licensed use not recorded");
        }
    });
}

/// Largest licence-token request body, bytes.
const TOKEN_BODY_MAX: usize = 16 * 1024;
/// Time to read one licence-token request body.
const TOKEN_BODY_TIMEOUT: Duration = Duration::from_secs(5);

fn oauth_json(status: StatusCode, body: serde_json::Value) -> Response<Body> {
    let mut r = Response::new(full(format!("{body}\n")));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    // RFC 6749 §5.1: token responses are never cached.
    h.insert(
        http::header::CACHE_CONTROL,
        HeaderValue::from_static("no-store"),
    );
    if status == StatusCode::UNAUTHORIZED {
        h.insert(
            http::header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"tollgate\""),
        );
    }
    r
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response<Body> {
    oauth_json(
        status,
        serde_json::json!({"error": error, "error_description": description}),
    )
}

/// Client credentials from HTTP Basic (RFC 6749 §2.3.1: form-urlencoded, then base64) or, failing
/// that, the `client_id` / `client_secret` form fields.
fn client_credentials(headers: &HeaderMap, form: &[(String, String)]) -> Option<(String, String)> {
    use base64::Engine as _;
    if let Some(v) = headers
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    {
        let (scheme, b64) = v.trim().split_once(' ')?;
        if !scheme.eq_ignore_ascii_case("basic") {
            return None;
        }
        let raw = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .ok()?;
        let raw = String::from_utf8(raw).ok()?;
        let (id, secret) = raw.split_once(':')?;
        let dec = |s: &str| {
            form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
        };
        return Some((dec(id)?, dec(secret)?));
    }
    let field = |name: &str| form.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone());
    Some((field("client_id")?, field("client_secret")?))
}

/// The token endpoint when payments are off (no ledger): 404 with an OAuth error body, so a
/// crawler learns there is nothing to license here rather than reaching the origin.
pub(crate) fn payments_off_token() -> Response<Body> {
    oauth_error(
        StatusCode::NOT_FOUND,
        "invalid_request",
        "this site takes no payments here (no ledger configured)",
    )
}

/// The RSL 1.0 OLP token endpoint (standards.md §3.6; OAuth 2.0 client credentials, RFC 6749
/// §4.4): `POST` with `grant_type=client_credentials`, the account name as `client_id` and one of
/// its API keys as `client_secret` (HTTP Basic or form fields). Answers
/// `{"access_token", "token_type": "License", "expires_in"}`; the token is then sent as
/// `Authorization: License <token>`. Errors are RFC 6749 §5.2 JSON (`invalid_request`,
/// `invalid_client`, `unsupported_grant_type`, `server_error`).
pub(crate) async fn token_endpoint(
    ledger: Ledger,
    req: Request<Incoming>,
    ttl: Duration,
) -> Response<Body> {
    if req.method() != http::Method::POST {
        let mut r = oauth_error(
            StatusCode::METHOD_NOT_ALLOWED,
            "invalid_request",
            "use POST with grant_type=client_credentials",
        );
        r.headers_mut()
            .insert(http::header::ALLOW, HeaderValue::from_static("POST"));
        return r;
    }
    let (parts, body) = req.into_parts();
    let read = tokio::time::timeout(
        TOKEN_BODY_TIMEOUT,
        http_body_util::Limited::new(body, TOKEN_BODY_MAX).collect(),
    )
    .await;
    let bytes = match read {
        Ok(Ok(c)) => c.to_bytes(),
        _ => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "the request body must be a form of at most 16 KiB",
            )
        }
    };
    let form: Vec<(String, String)> = form_urlencoded::parse(&bytes).into_owned().collect();
    match form.iter().find(|(k, _)| k == "grant_type") {
        Some((_, g)) if g == "client_credentials" => {}
        Some(_) => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "unsupported_grant_type",
                "only grant_type=client_credentials is supported",
            )
        }
        None => {
            return oauth_error(
                StatusCode::BAD_REQUEST,
                "invalid_request",
                "missing grant_type",
            )
        }
    }
    let Some((id, secret)) = client_credentials(&parts.headers, &form) else {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "send the account name and an API key as HTTP Basic credentials",
        );
    };
    match ledger.issue_license_token(&id, &secret, ttl).await {
        Ok(Some(t)) => oauth_json(
            StatusCode::OK,
            serde_json::json!({
                "access_token": t.access_token,
                "token_type": "License",
                "expires_in": t.expires_in,
            }),
        ),
        Ok(None) => oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "unknown account, wrong key, or account suspended",
        ),
        Err(e) => {
            tracing::warn!(target: "tollgate::ledger", error = %e, "licence token not issued");
            oauth_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "server_error",
                "the ledger is unavailable; retry later",
            )
        }
    }
}
