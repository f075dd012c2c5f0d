//! RSL 1.0 (Really Simple Licensing, RSL-SPEC-1.0; standards.md §3): the licence document and
//! its HTTP association.

use std::fmt::Write as _;

use tollgate_policy::{Action, Money, Policy};

use crate::config::{PaymentType, SignalsConfig};

/// Media type of an RSL document (RSL 1.0 §3.2).
pub const RSL_MEDIA_TYPE: &str = "application/rsl+xml";

/// RSL namespace.
pub const RSL_NAMESPACE: &str = "https://rslstandard.org/rsl";

/// The `Link` header value that associates a response with the licence (RSL 1.0 discovery via
/// HTTP, RFC 8288): `<https://example.org/license.xml>; rel="license"; type="application/rsl+xml"`.
pub fn license_link_header(cfg: &SignalsConfig) -> String {
    format!(
        "<{}>; rel=\"license\"; type=\"{RSL_MEDIA_TYPE}\"",
        cfg.license_url()
    )
}

/// The payment type and price the licence states: the configured ones; with no configured
/// price and a free licence, the first enforced `charge` rule's price as a per-`crawl` payment
/// (so the licence never says "free" while the gateway answers 402).
fn payment(cfg: &SignalsConfig, policy: &Policy) -> (PaymentType, Option<Money>) {
    let lic = &cfg.license;
    if lic.price.is_some() || lic.payment != PaymentType::Free {
        return (lic.payment, lic.price);
    }
    policy
        .rules()
        .iter()
        .filter(|r| !r.shadow)
        .find_map(|r| match &r.action {
            Action::Charge(m) => Some((PaymentType::Crawl, Some(*m))),
            _ => None,
        })
        .unwrap_or((PaymentType::Free, None))
}

/// The licence document served at `cfg.license.path` (RSL 1.0 §3.2, media type
/// [`RSL_MEDIA_TYPE`]), UTF-8 XML ending in a newline.
///
/// One `<content url="/">` carries the site licence: `<permits type="usage">` and
/// `<prohibits type="usage">` (space-separated RSL usage tokens), `<payment type="…">` with
/// `<amount currency="USD">0.002</amount>` when priced, `<legal type="contact">` and, in the
/// content, `<terms>`. Each policy rule that denies everyone a set of paths (no class, agent,
/// operator or gateway-only condition) adds a `<content url="<robots pattern>">` whose licence
/// prohibits `all`, with the same glob conversion as robots.txt ([`crate::robots`]).
pub fn rsl_document(cfg: &SignalsConfig, policy: &Policy) -> String {
    let lic = &cfg.license;
    let mut x = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n");
    let _ = writeln!(x, "<rsl xmlns=\"{RSL_NAMESPACE}\">");
    x.push_str("  <content url=\"/\">\n    <license>\n");
    let tokens =
        |v: &[crate::config::RslUsage]| v.iter().map(|u| u.as_str()).collect::<Vec<_>>().join(" ");
    if !lic.permits.is_empty() {
        let _ = writeln!(
            x,
            "      <permits type=\"usage\">{}</permits>",
            tokens(&lic.permits)
        );
    }
    if !lic.prohibits.is_empty() {
        let _ = writeln!(
            x,
            "      <prohibits type=\"usage\">{}</prohibits>",
            tokens(&lic.prohibits)
        );
    }
    match payment(cfg, policy) {
        (kind, Some(price)) => {
            let text = price.to_string();
            let amount = text.split_once(' ').map_or(text.as_str(), |(_, a)| a);
            let _ = writeln!(
                x,
                "      <payment type=\"{}\">\n        <amount currency=\"{}\">{}</amount>\n      </payment>",
                kind.as_str(),
                escape(price.currency()),
                escape(amount)
            );
        }
        (kind, None) => {
            let _ = writeln!(x, "      <payment type=\"{}\"/>", kind.as_str());
        }
    }
    if let Some(c) = &lic.contact {
        let _ = writeln!(x, "      <legal type=\"contact\">{}</legal>", escape(c));
    }
    x.push_str("    </license>\n");
    if let Some(t) = &lic.terms_url {
        let _ = writeln!(x, "    <terms>{}</terms>", escape(t));
    }
    x.push_str("  </content>\n");
    for url in crate::robots::everyone_denied_patterns(policy) {
        let _ = writeln!(
            x,
            "  <content url=\"{}\">\n    <license>\n      <prohibits type=\"usage\">all</prohibits>\n    </license>\n  </content>",
            escape(&url)
        );
    }
    x.push_str("</rsl>\n");
    x
}

/// XML escaping for text and attribute values.
fn escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}
