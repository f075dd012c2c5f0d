//! Answers tollgate gives itself (DESIGN.md invariant 4): machine clients get machine answers
//! (`text/plain` or JSON, with the status, the rule, a link to the terms and `Retry-After` where it
//! applies); only browsers navigating get a short HTML page.

use bytes::Bytes;
use http::header::{HeaderValue, CACHE_CONTROL, CONTENT_TYPE, RETRY_AFTER};
use http::{HeaderMap, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tollgate_agents::Class;

/// Error type of response bodies.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
/// The one response body type of the gateway (origin bodies stream through it unbuffered).
pub type Body = http_body_util::combinators::UnsyncBoxBody<Bytes, BoxError>;

/// A body from bytes.
pub fn full(b: impl Into<Bytes>) -> Body {
    Full::new(b.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// How the client wants its answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AnswerKind {
    /// A browser navigating: a short HTML page.
    Html,
    /// A client that asked for JSON.
    Json,
    /// Everyone else: plain text.
    Text,
}

/// HTML only for browsers navigating (`Sec-Fetch-Mode: navigate`, or `Accept: text/html` without
/// Sec-Fetch headers); JSON when `Accept` names `application/json`; plain text otherwise.
pub fn answer_kind(class: Class, headers: &HeaderMap) -> AnswerKind {
    let accept = headers
        .get(http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if accept.contains("application/json") {
        return AnswerKind::Json;
    }
    if class == Class::Browser {
        let navigate = match headers.get("sec-fetch-mode").and_then(|v| v.to_str().ok()) {
            Some(mode) => mode == "navigate",
            None => accept.contains("text/html"),
        };
        if navigate {
            return AnswerKind::Html;
        }
    }
    AnswerKind::Text
}

/// What a refusal says.
#[derive(Debug, Clone)]
pub struct Refusal<'a> {
    /// Status code: 402, 403, 429, 502, 503.
    pub status: StatusCode,
    /// Short machine code: `forbidden`, `payment-required`, `rate-limited`, `bad-gateway`.
    pub code: &'static str,
    /// One sentence for people.
    pub message: String,
    /// The deciding rule.
    pub rule: Option<&'a str>,
    /// Link to the site's terms.
    pub terms: Option<&'a str>,
    /// Seconds, for 429/503.
    pub retry_after_secs: Option<u64>,
    /// For 402: the quoted price (`USD 0.002`).
    pub price: Option<String>,
    /// Pay-per-crawl error code for `crawler-error` (`PaymentFailed`, …).
    pub crawler_error: Option<&'static str>,
}

impl Refusal<'_> {
    /// A refusal with only a status, a code and a message (no rule, terms, retry or price).
    pub fn plain(status: StatusCode, code: &'static str, message: String) -> Refusal<'static> {
        Refusal {
            status,
            code,
            message,
            rule: None,
            terms: None,
            retry_after_secs: None,
            price: None,
            crawler_error: None,
        }
    }
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// A local answer held whole — status, headers, body — so it can be kept and served again:
/// cloning shares the body bytes.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Status code.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

impl Answer {
    /// The response, consuming the answer.
    pub fn into_response(self) -> Response<Body> {
        let mut resp = Response::new(full(self.body));
        *resp.status_mut() = self.status;
        *resp.headers_mut() = self.headers;
        resp
    }

    /// A response with this answer's status, headers and (shared) body.
    pub fn response(&self) -> Response<Body> {
        self.clone().into_response()
    }
}

/// Builds the response for a refusal in the client's preferred kind.
pub fn refusal(r: &Refusal<'_>, kind: AnswerKind) -> Response<Body> {
    refusal_answer(r, kind).into_response()
}

/// The refusal as an [`Answer`] (see [`refusal`]).
pub fn refusal_answer(r: &Refusal<'_>, kind: AnswerKind) -> Answer {
    let (ctype, body) = match kind {
        AnswerKind::Json => {
            let mut o = serde_json::json!({
                "status": r.status.as_u16(),
                "error": r.code,
                "message": r.message,
            });
            if let Some(rule) = r.rule {
                o["rule"] = rule.into();
            }
            if let Some(t) = r.terms {
                o["terms"] = t.into();
            }
            if let Some(s) = r.retry_after_secs {
                o["retry_after_secs"] = s.into();
            }
            if let Some(p) = &r.price {
                o["price"] = p.clone().into();
            }
            if let Some(c) = r.crawler_error {
                o["crawler_error"] = c.into();
            }
            ("application/json", format!("{o}\n"))
        }
        AnswerKind::Text => {
            use std::fmt::Write as _;
            let mut t = String::with_capacity(160 + r.message.len());
            let _ = writeln!(
                t,
                "{} {}",
                r.status.as_u16(),
                r.status.canonical_reason().unwrap_or("")
            );
            t.push_str(&r.message);
            t.push('\n');
            if let Some(p) = &r.price {
                let _ = writeln!(t, "price: {p} per request");
            }
            if let Some(c) = r.crawler_error {
                let _ = writeln!(t, "crawler-error: {c}");
            }
            if let Some(rule) = r.rule {
                let _ = writeln!(t, "rule: {rule}");
            }
            if let Some(terms) = r.terms {
                let _ = writeln!(t, "terms: {terms}");
            }
            ("text/plain; charset=utf-8", t)
        }
        AnswerKind::Html => {
            let terms = r
                .terms
                .map(|t| format!("<p><a href=\"{0}\">{0}</a></p>", html_escape(t)))
                .unwrap_or_default();
            (
                "text/html; charset=utf-8",
                format!(
                    "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>{0} {1}</title></head><body><h1>{1}</h1><p>{2}</p>{3}</body></html>\n",
                    r.status.as_u16(),
                    html_escape(r.status.canonical_reason().unwrap_or("")),
                    html_escape(&r.message),
                    terms
                ),
            )
        }
    };
    let mut headers = HeaderMap::new();
    let h = &mut headers;
    h.insert(CONTENT_TYPE, HeaderValue::from_static(ctype));
    h.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(s) = r.retry_after_secs {
        h.insert(RETRY_AFTER, HeaderValue::from(s));
    }
    if let Some(p) = &r.price {
        if let Ok(v) = HeaderValue::from_str(p) {
            h.insert("crawler-price", v);
        }
    }
    if let Some(c) = r.crawler_error {
        h.insert("crawler-error", HeaderValue::from_static(c));
    }
    if let Some(t) = r.terms {
        if let Ok(v) = HeaderValue::from_str(&format!("<{t}>; rel=\"terms-of-service\"")) {
            h.insert(http::header::LINK, v);
        }
    }
    Answer {
        status: r.status,
        headers,
        body: Bytes::from(body),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hm(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.insert(
                http::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                HeaderValue::from_str(v).unwrap(),
            );
        }
        m
    }

    #[test]
    fn only_navigating_browsers_get_html() {
        let nav = hm(&[
            ("accept", "text/html,application/xhtml+xml"),
            ("sec-fetch-mode", "navigate"),
        ]);
        assert_eq!(answer_kind(Class::Browser, &nav), AnswerKind::Html);
        assert_eq!(answer_kind(Class::AiTraining, &nav), AnswerKind::Text);
        let fetch = hm(&[("accept", "text/html"), ("sec-fetch-mode", "cors")]);
        assert_eq!(answer_kind(Class::Browser, &fetch), AnswerKind::Text);
        assert_eq!(
            answer_kind(Class::Browser, &hm(&[("accept", "text/html")])),
            AnswerKind::Html
        );
        assert_eq!(
            answer_kind(Class::Tool, &hm(&[("accept", "application/json")])),
            AnswerKind::Json
        );
        assert_eq!(answer_kind(Class::Tool, &hm(&[])), AnswerKind::Text);
    }

    #[test]
    fn a_quote_carries_the_price_header_and_terms_link() {
        let r = Refusal {
            status: StatusCode::PAYMENT_REQUIRED,
            code: "payment-required",
            message: "AI training crawlers pay per request here.".into(),
            rule: Some("charge-ai-training"),
            terms: Some("https://example.org/terms"),
            retry_after_secs: None,
            price: Some("USD 0.002".into()),
            crawler_error: None,
        };
        let resp = refusal(&r, AnswerKind::Json);
        assert_eq!(resp.status(), 402);
        assert_eq!(resp.headers()["crawler-price"], "USD 0.002");
        assert_eq!(resp.headers()["content-type"], "application/json");
        assert_eq!(
            resp.headers()["link"],
            "<https://example.org/terms>; rel=\"terms-of-service\""
        );
    }

    #[test]
    fn a_carried_answer_round_trips_through_a_header() {
        let r = Refusal {
            status: StatusCode::PAYMENT_REQUIRED,
            code: "payment-required",
            message: "\u{dc}berBot pays \"USD 0.002\"".into(),
            rule: Some("charge"),
            terms: None,
            retry_after_secs: None,
            price: Some("USD 0.002".into()),
            crawler_error: None,
        };
        let c = CarriedAnswer::of(&r, AnswerKind::Json);
        let v = c.encode();
        assert!(v.bytes().all(|b| b.is_ascii_graphic()), "{v}");
        assert!(HeaderValue::from_str(&v).is_ok());
        assert_eq!(CarriedAnswer::decode(&v), Some(c.clone()));
        let resp = c.render();
        assert_eq!(resp.status(), 402);
        assert_eq!(resp.headers()["crawler-price"], "USD 0.002");
        assert_eq!(CarriedAnswer::decode("%7Bnot json"), None);
    }

    #[test]
    fn rate_limits_carry_retry_after() {
        let r = Refusal {
            status: StatusCode::TOO_MANY_REQUESTS,
            code: "rate-limited",
            message: "slow down".into(),
            rule: None,
            terms: None,
            retry_after_secs: Some(3),
            price: None,
            crawler_error: None,
        };
        let resp = refusal(&r, AnswerKind::Text);
        assert_eq!(resp.headers()["retry-after"], "3");
        assert_eq!(resp.headers()["content-type"], "text/plain; charset=utf-8");
    }
}

/// A refusal carried across nginx's `auth_request` (which only passes 2xx/401/403): forward-auth
/// answers 403 with this in the `X-Tollgate-Answer` header; nginx hands it back on
/// `/.tollgate/answer`, where it is rendered without deciding again (so a rate-limit token is
/// never taken twice). It can only ever render a refusal, so a forged one harms no one but its
/// sender.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CarriedAnswer {
    /// Status code (402, 403, 429, 502, 503, 504; anything else renders as 403).
    pub status: u16,
    /// Machine code.
    pub code: String,
    /// Sentence for people.
    pub message: String,
    /// Deciding rule.
    pub rule: Option<String>,
    /// Terms link.
    pub terms: Option<String>,
    /// Retry-After seconds.
    pub retry: Option<u64>,
    /// Quoted price.
    pub price: Option<String>,
    /// `crawler-error` code.
    #[serde(default)]
    pub error: Option<String>,
    /// Answer kind chosen for the original client.
    pub kind: AnswerKind,
}

impl CarriedAnswer {
    /// Captures a refusal.
    pub fn of(r: &Refusal<'_>, kind: AnswerKind) -> CarriedAnswer {
        CarriedAnswer {
            status: r.status.as_u16(),
            code: r.code.to_string(),
            message: r.message.clone(),
            rule: r.rule.map(str::to_string),
            terms: r.terms.map(str::to_string),
            retry: r.retry_after_secs,
            price: r.price.clone(),
            error: r.crawler_error.map(str::to_string),
            kind,
        }
    }

    /// The header value: percent-encoded JSON (visible ASCII only).
    pub fn encode(&self) -> String {
        let json = serde_json::to_string(self).unwrap_or_default();
        percent_encoding::utf8_percent_encode(&json, percent_encoding::NON_ALPHANUMERIC).to_string()
    }

    /// Parses a header value made by [`CarriedAnswer::encode`].
    pub fn decode(value: &str) -> Option<CarriedAnswer> {
        let json = percent_encoding::percent_decode_str(value)
            .decode_utf8()
            .ok()?;
        serde_json::from_str(&json).ok()
    }

    /// Renders it.
    pub fn render(&self) -> Response<Body> {
        let status = match self.status {
            402 | 403 | 429 | 502 | 503 | 504 => {
                StatusCode::from_u16(self.status).unwrap_or(StatusCode::FORBIDDEN)
            }
            _ => StatusCode::FORBIDDEN,
        };
        let code: &'static str = match self.code.as_str() {
            "payment-required" => "payment-required",
            "rate-limited" => "rate-limited",
            "bad-gateway" => "bad-gateway",
            "gateway-timeout" => "gateway-timeout",
            _ => "forbidden",
        };
        refusal(
            &Refusal {
                status,
                code,
                message: self.message.clone(),
                rule: self.rule.as_deref(),
                terms: self.terms.as_deref(),
                retry_after_secs: self.retry,
                price: self.price.clone(),
                crawler_error: self.error.as_deref().and_then(crate::payment::static_code),
            },
            self.kind,
        )
    }
}
