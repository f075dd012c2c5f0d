//! The pay-per-crawl protocol on the wire, compatible with Cloudflare's Pay Per Crawl
//! (docs/standards.md §5.1): the price a client offers (`crawler-exact-price` /
//! `crawler-max-price`), whether it meets the quote, the credentials it pays with
//! (`Authorization: Bearer …` API keys and `Authorization: License …` RSL tokens), and the
//! machine-readable error codes sent back in `crawler-error`.
//!
//! Everything here is pure; the gateway does the I/O (account lookup, origin fetch, ledger).

use http::{HeaderMap, StatusCode};
use tollgate_policy::Money;

/// `crawler-price`: the quote, on a 402 (and, from the origin, a per-page price).
pub const CRAWLER_PRICE: &str = "crawler-price";
/// `crawler-exact-price`: "I pay exactly this" (must equal the quote).
pub const CRAWLER_EXACT_PRICE: &str = "crawler-exact-price";
/// `crawler-max-price`: "I pay up to this".
pub const CRAWLER_MAX_PRICE: &str = "crawler-max-price";
/// `crawler-charged`: what was billed, on the 2xx that was charged.
pub const CRAWLER_CHARGED: &str = "crawler-charged";
/// `crawler-error`: a [`CrawlerError`] code.
pub const CRAWLER_ERROR: &str = "crawler-error";
/// `tollgate-receipt`: `id=<ledger entry id>, hash=<hex SHA-256 of the entry>` on a charged
/// response (see [`receipt_value`]); the crawler keeps it to reconcile with the publisher's
/// invoice.
pub const RECEIPT: &str = "tollgate-receipt";

/// Cloudflare Pay Per Crawl error codes (standards.md §5.1), each with its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CrawlerError {
    /// 403: the client may not crawl at any price (suspended account, unknown key).
    CrawlerForbidden,
    /// 400: a price header without an identity that can pay (no signature, no API key).
    StrongAuthRequired,
    /// 400: signed, but the signature does not cover the price header.
    InvalidSignature,
    /// 400: a price header that is not `CUR amount`.
    InvalidCrawlerPriceValue,
    /// 402: no price header on a charged route.
    MissingCrawlerPrice,
    /// 403: the account could not pay (no account for this identity, balance, credit limit,
    /// quota).
    PaymentFailed,
    /// 402: `crawler-exact-price` differs from the quote.
    InvalidCrawlerExactPrice,
    /// 402: `crawler-max-price` is below the quote (or in another currency).
    InvalidCrawlerMaxPrice,
    /// 400: both price headers.
    ConflictingPriceHeaders,
    /// 502: the origin's own `crawler-price` is not a valid price.
    InvalidContentPrice,
    /// 500 (503 when the ledger is down and the gateway fails closed): worth retrying later.
    InternalError,
}

impl CrawlerError {
    /// The code sent in `crawler-error`.
    pub fn code(self) -> &'static str {
        match self {
            CrawlerError::CrawlerForbidden => "CrawlerForbidden",
            CrawlerError::StrongAuthRequired => "StrongAuthRequired",
            CrawlerError::InvalidSignature => "InvalidSignature",
            CrawlerError::InvalidCrawlerPriceValue => "InvalidCrawlerPriceValue",
            CrawlerError::MissingCrawlerPrice => "MissingCrawlerPrice",
            CrawlerError::PaymentFailed => "PaymentFailed",
            CrawlerError::InvalidCrawlerExactPrice => "InvalidCrawlerExactPrice",
            CrawlerError::InvalidCrawlerMaxPrice => "InvalidCrawlerMaxPrice",
            CrawlerError::ConflictingPriceHeaders => "ConflictingPriceHeaders",
            CrawlerError::InvalidContentPrice => "InvalidContentPrice",
            CrawlerError::InternalError => "InternalError",
        }
    }

    /// The status Cloudflare answers this error with.
    pub fn status(self) -> StatusCode {
        match self {
            CrawlerError::StrongAuthRequired
            | CrawlerError::InvalidSignature
            | CrawlerError::InvalidCrawlerPriceValue
            | CrawlerError::ConflictingPriceHeaders => StatusCode::BAD_REQUEST,
            CrawlerError::MissingCrawlerPrice
            | CrawlerError::InvalidCrawlerExactPrice
            | CrawlerError::InvalidCrawlerMaxPrice => StatusCode::PAYMENT_REQUIRED,
            CrawlerError::CrawlerForbidden | CrawlerError::PaymentFailed => StatusCode::FORBIDDEN,
            CrawlerError::InvalidContentPrice => StatusCode::BAD_GATEWAY,
            CrawlerError::InternalError => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Whether the answer carries the quote in `crawler-price` (so the client can retry with a
    /// matching offer).
    pub fn quotes(self) -> bool {
        self.status() == StatusCode::PAYMENT_REQUIRED
    }
}

/// All codes, for mapping a carried code back to its `'static` name.
pub const ALL_ERRORS: [CrawlerError; 11] = [
    CrawlerError::CrawlerForbidden,
    CrawlerError::StrongAuthRequired,
    CrawlerError::InvalidSignature,
    CrawlerError::InvalidCrawlerPriceValue,
    CrawlerError::MissingCrawlerPrice,
    CrawlerError::PaymentFailed,
    CrawlerError::InvalidCrawlerExactPrice,
    CrawlerError::InvalidCrawlerMaxPrice,
    CrawlerError::ConflictingPriceHeaders,
    CrawlerError::InvalidContentPrice,
    CrawlerError::InternalError,
];

/// The `'static` code equal to `code`, if it is one of [`ALL_ERRORS`] (a carried answer can only
/// name a real code).
pub fn static_code(code: &str) -> Option<&'static str> {
    ALL_ERRORS.iter().map(|e| e.code()).find(|c| *c == code)
}

/// What the client offers to pay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Offer {
    /// No price header.
    None,
    /// `crawler-exact-price`.
    Exact(Money),
    /// `crawler-max-price`.
    Max(Money),
}

impl Offer {
    /// The header the offer came in, if any (a signed client must cover it).
    pub fn header(&self) -> Option<&'static str> {
        match self {
            Offer::None => None,
            Offer::Exact(_) => Some(CRAWLER_EXACT_PRICE),
            Offer::Max(_) => Some(CRAWLER_MAX_PRICE),
        }
    }
}

/// Reads the client's offer from the request headers.
///
/// Errors: both headers → `ConflictingPriceHeaders`; a value that is not `CUR amount` (or not
/// visible ASCII, or repeated) → `InvalidCrawlerPriceValue`.
pub fn offer(headers: &HeaderMap) -> Result<Offer, CrawlerError> {
    let one = |name: &str| -> Result<Option<Money>, CrawlerError> {
        let mut values = headers.get_all(name).iter();
        let Some(v) = values.next() else {
            return Ok(None);
        };
        if values.next().is_some() {
            return Err(CrawlerError::InvalidCrawlerPriceValue);
        }
        let s = v
            .to_str()
            .map_err(|_| CrawlerError::InvalidCrawlerPriceValue)?;
        s.parse::<Money>()
            .map(Some)
            .map_err(|_| CrawlerError::InvalidCrawlerPriceValue)
    };
    match (one(CRAWLER_EXACT_PRICE), one(CRAWLER_MAX_PRICE)) {
        (Ok(Some(_)), Ok(Some(_))) => Err(CrawlerError::ConflictingPriceHeaders),
        (Err(e), _) | (_, Err(e)) => Err(e),
        (Ok(Some(m)), Ok(None)) => Ok(Offer::Exact(m)),
        (Ok(None), Ok(Some(m))) => Ok(Offer::Max(m)),
        (Ok(None), Ok(None)) => Ok(Offer::None),
    }
}

/// Whether `offer` pays `quote`; the amount to charge is always the quote (a max price is a
/// budget, not a bid).
///
/// Errors: no offer → `MissingCrawlerPrice`; exact ≠ quote (amount or currency) →
/// `InvalidCrawlerExactPrice`; max < quote or another currency → `InvalidCrawlerMaxPrice`.
pub fn accept(quote: Money, offer: Offer) -> Result<Money, CrawlerError> {
    match offer {
        Offer::None => Err(CrawlerError::MissingCrawlerPrice),
        Offer::Exact(m) if m == quote => Ok(quote),
        Offer::Exact(_) => Err(CrawlerError::InvalidCrawlerExactPrice),
        Offer::Max(m) if m.currency == quote.currency && m.micros >= quote.micros => Ok(quote),
        Offer::Max(_) => Err(CrawlerError::InvalidCrawlerMaxPrice),
    }
}

/// A credential in `Authorization`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential<'a> {
    /// `Authorization: Bearer <api key>`.
    ApiKey(&'a str),
    /// `Authorization: License <token>` (RSL 1.0 OLP licence token).
    LicenseToken(&'a str),
}

/// The credential in the `Authorization` header, if it is one of tollgate's: `Bearer` with a key
/// starting with `api_key_prefix`, or `License` (scheme names are case-insensitive, RFC 9110
/// §11.1). Other schemes (the origin's own Basic or Bearer auth) are not ours: `None`.
pub fn credential<'a>(headers: &'a HeaderMap, api_key_prefix: &str) -> Option<Credential<'a>> {
    let v = headers.get(http::header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.trim().split_once(' ')?;
    let token = token.trim();
    if token.is_empty() {
        return None;
    }
    if scheme.eq_ignore_ascii_case("bearer") && token.starts_with(api_key_prefix) {
        Some(Credential::ApiKey(token))
    } else if scheme.eq_ignore_ascii_case("license") {
        Some(Credential::LicenseToken(token))
    } else {
        None
    }
}

/// The origin's per-page price (dynamic pricing): its `crawler-price` response header.
///
/// `Ok(None)` when absent; `Err(InvalidContentPrice)` when present but not a valid price.
pub fn origin_price(headers: &HeaderMap) -> Result<Option<Money>, CrawlerError> {
    match headers.get(CRAWLER_PRICE) {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .ok()
            .and_then(|s| s.parse::<Money>().ok())
            .map(Some)
            .ok_or(CrawlerError::InvalidContentPrice),
    }
}

/// The receipt header value: `id=<entry>, hash=<hex>` for an entry in the chain;
/// `spooled, hash=<hex of the spool line>` when the ledger was down (fail-open) and the charge
/// waits in the spool.
pub fn receipt_value(entry_id: i64, hash: &str, spooled: bool) -> String {
    if spooled {
        format!("spooled, hash={hash}")
    } else {
        format!("id={entry_id}, hash={hash}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn usd(s: &str) -> Money {
        s.parse().unwrap()
    }

    fn hm(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut m = HeaderMap::new();
        for (k, v) in pairs {
            m.append(*k, HeaderValue::from_str(v).unwrap());
        }
        m
    }

    #[test]
    fn offers_are_read_from_either_price_header() {
        assert_eq!(offer(&hm(&[])), Ok(Offer::None));
        assert_eq!(
            offer(&hm(&[("crawler-max-price", "USD 0.05")])),
            Ok(Offer::Max(usd("USD 0.05")))
        );
        assert_eq!(
            offer(&hm(&[("crawler-exact-price", "USD 0.002")])),
            Ok(Offer::Exact(usd("USD 0.002")))
        );
    }

    #[test]
    fn both_price_headers_conflict() {
        let h = hm(&[
            ("crawler-max-price", "USD 0.05"),
            ("crawler-exact-price", "USD 0.002"),
        ]);
        assert_eq!(offer(&h), Err(CrawlerError::ConflictingPriceHeaders));
        assert_eq!(CrawlerError::ConflictingPriceHeaders.status(), 400);
    }

    #[test]
    fn malformed_or_repeated_prices_are_invalid_values() {
        for bad in ["0.05", "usd 0.05", "USD -1", "USD 0.0000001", "USD"] {
            assert_eq!(
                offer(&hm(&[("crawler-max-price", bad)])),
                Err(CrawlerError::InvalidCrawlerPriceValue),
                "{bad}"
            );
        }
        let twice = hm(&[
            ("crawler-max-price", "USD 0.05"),
            ("crawler-max-price", "USD 0.06"),
        ]);
        assert_eq!(offer(&twice), Err(CrawlerError::InvalidCrawlerPriceValue));
    }

    #[test]
    fn a_max_price_at_or_above_the_quote_pays_the_quote() {
        let q = usd("USD 0.002");
        assert_eq!(accept(q, Offer::Max(usd("USD 0.05"))), Ok(q));
        assert_eq!(accept(q, Offer::Max(usd("USD 0.002"))), Ok(q));
        assert_eq!(
            accept(q, Offer::Max(usd("USD 0.001999"))),
            Err(CrawlerError::InvalidCrawlerMaxPrice)
        );
        assert_eq!(
            accept(q, Offer::Max(usd("EUR 5"))),
            Err(CrawlerError::InvalidCrawlerMaxPrice)
        );
    }

    #[test]
    fn an_exact_price_must_equal_the_quote() {
        let q = usd("USD 0.002");
        assert_eq!(accept(q, Offer::Exact(usd("USD 0.002"))), Ok(q));
        assert_eq!(
            accept(q, Offer::Exact(usd("USD 0.003"))),
            Err(CrawlerError::InvalidCrawlerExactPrice)
        );
        assert_eq!(
            accept(q, Offer::Exact(usd("EUR 0.002"))),
            Err(CrawlerError::InvalidCrawlerExactPrice)
        );
        assert_eq!(
            accept(q, Offer::None),
            Err(CrawlerError::MissingCrawlerPrice)
        );
    }

    #[test]
    fn error_codes_and_statuses_are_cloudflares() {
        let all = [
            (CrawlerError::CrawlerForbidden, "CrawlerForbidden", 403),
            (CrawlerError::StrongAuthRequired, "StrongAuthRequired", 400),
            (CrawlerError::InvalidSignature, "InvalidSignature", 400),
            (
                CrawlerError::InvalidCrawlerPriceValue,
                "InvalidCrawlerPriceValue",
                400,
            ),
            (
                CrawlerError::MissingCrawlerPrice,
                "MissingCrawlerPrice",
                402,
            ),
            (CrawlerError::PaymentFailed, "PaymentFailed", 403),
            (
                CrawlerError::InvalidCrawlerExactPrice,
                "InvalidCrawlerExactPrice",
                402,
            ),
            (
                CrawlerError::InvalidCrawlerMaxPrice,
                "InvalidCrawlerMaxPrice",
                402,
            ),
            (
                CrawlerError::ConflictingPriceHeaders,
                "ConflictingPriceHeaders",
                400,
            ),
            (
                CrawlerError::InvalidContentPrice,
                "InvalidContentPrice",
                502,
            ),
            (CrawlerError::InternalError, "InternalError", 500),
        ];
        for (e, code, status) in all {
            assert_eq!((e.code(), e.status().as_u16()), (code, status));
            assert_eq!(e.quotes(), status == 402, "{code}");
        }
    }

    #[test]
    fn only_our_credentials_are_taken_from_authorization() {
        let h = hm(&[("authorization", "Bearer tg_abc123")]);
        assert_eq!(credential(&h, "tg_"), Some(Credential::ApiKey("tg_abc123")));
        let h = hm(&[("authorization", "bearer   tg_abc123 ")]);
        assert_eq!(credential(&h, "tg_"), Some(Credential::ApiKey("tg_abc123")));
        let h = hm(&[("authorization", "License eyJ0b2tlbiI")]);
        assert_eq!(
            credential(&h, "tg_"),
            Some(Credential::LicenseToken("eyJ0b2tlbiI"))
        );
        // The origin's own schemes pass through untouched.
        for other in [
            "Bearer someone-elses-token",
            "Basic dXNlcjpwYXNz",
            "Bearer",
            "License ",
        ] {
            assert_eq!(
                credential(&hm(&[("authorization", other)]), "tg_"),
                None,
                "{other}"
            );
        }
    }

    #[test]
    fn origin_prices_are_validated() {
        assert_eq!(origin_price(&hm(&[])), Ok(None));
        assert_eq!(
            origin_price(&hm(&[("crawler-price", "USD 3.14")])),
            Ok(Some(usd("USD 3.14")))
        );
        assert_eq!(
            origin_price(&hm(&[("crawler-price", "three dollars")])),
            Err(CrawlerError::InvalidContentPrice)
        );
    }

    #[test]
    fn only_real_codes_map_back() {
        assert_eq!(static_code("PaymentFailed"), Some("PaymentFailed"));
        assert_eq!(static_code("<script>"), None);
    }

    #[test]
    fn receipts_name_entry_and_hash() {
        assert_eq!(receipt_value(42, "ab12", false), "id=42, hash=ab12");
        assert_eq!(receipt_value(0, "cd34", true), "spooled, hash=cd34");
    }
}
