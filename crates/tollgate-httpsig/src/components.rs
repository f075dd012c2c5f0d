//! Covered components and their values (RFC 9421 §2): derived components (`@method`,
//! `@authority`, …, §2.2) and HTTP fields with the `key`, `sf` and `bs` parameters (§2.1).

use base64::Engine as _;
use sfv::{BareItem, FieldType as _, Item, ListEntry, Parser};

use crate::message::RequestView;
use crate::{Reason, Rejection};

/// One covered component identifier, as it appears in `Signature-Input` (RFC 9421 §2).
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    /// The identifier as an RFC 9651 item: a string (`"@authority"`, `"crawler-max-price"`)
    /// with its parameters (`;key="sig1"`, `;name="q"`, `;sf`, `;bs`).
    pub item: Item,
}

impl Component {
    /// The identifier's name (`@authority`, `signature-agent`).
    pub fn name(&self) -> &str {
        self.item
            .bare_item
            .as_string()
            .map(|s| s.as_str())
            .unwrap_or("")
    }

    /// The identifier serialized as in the signature base, e.g. `"signature-agent";key="sig1"`.
    pub fn serialized(&self) -> String {
        self.item.serialize()
    }

    /// Parses an identifier written as in `Signature-Input`, e.g. `"@path"` or
    /// `"signature-agent";key="sig1"`; a bare name (`@path`, `crawler-max-price`) is quoted first.
    ///
    /// # Errors
    /// [`Reason::Malformed`] when it is not a string item with a valid name.
    pub fn parse(s: &str) -> Result<Component, Rejection> {
        let text = if s.starts_with('"') {
            s.to_string()
        } else {
            format!("\"{s}\"")
        };
        let item: Item = Parser::new(&text).parse().map_err(|e| {
            Rejection::new(
                Reason::Malformed,
                format!("component identifier `{s}`: {e}"),
            )
        })?;
        Component::from_item(item, "component identifier")
    }

    /// Checks an item from `Signature-Input` is a valid component identifier (a string; field
    /// names lower case; derived names known; known parameters only).
    pub(crate) fn from_item(item: Item, place: &str) -> Result<Component, Rejection> {
        let Some(name) = item.bare_item.as_string().map(|s| s.as_str().to_string()) else {
            return Err(Rejection::new(
                Reason::Malformed,
                format!("{place}: a component identifier must be a string"),
            ));
        };
        let bad = |m: String| Rejection::new(Reason::Malformed, format!("{place} `{name}`: {m}"));
        if let Some(derived) = name.strip_prefix('@') {
            const KNOWN: [&str; 8] = [
                "method",
                "target-uri",
                "authority",
                "scheme",
                "request-target",
                "path",
                "query",
                "query-param",
            ];
            if !KNOWN.contains(&derived) {
                return Err(bad("unknown or unsupported derived component".into()));
            }
            for (k, _) in &item.params {
                match (derived, k.as_str()) {
                    ("query-param", "name") => {}
                    (_, "req") => return Err(bad("`req` applies to responses only".into())),
                    (_, other) => return Err(bad(format!("unsupported parameter `{other}`"))),
                }
            }
            if derived == "query-param"
                && item
                    .params
                    .get("name")
                    .and_then(BareItem::as_string)
                    .is_none()
            {
                return Err(bad("needs a string `name` parameter".into()));
            }
        } else {
            if name.is_empty()
                || !name.bytes().all(|b| {
                    b.is_ascii_lowercase() || b.is_ascii_digit() || b"!#$%&'*+-.^_`|~".contains(&b)
                })
            {
                return Err(bad(
                    "a field name must be a lower-case HTTP field name".into()
                ));
            }
            for (k, v) in &item.params {
                match k.as_str() {
                    "key" if v.as_string().is_some() => {}
                    "sf" | "bs" if v.as_boolean() == Some(true) => {}
                    other => return Err(bad(format!("unsupported parameter `{other}`"))),
                }
            }
            if item.params.contains_key("bs")
                && (item.params.contains_key("sf") || item.params.contains_key("key"))
            {
                return Err(bad("`bs` cannot be combined with `sf` or `key`".into()));
            }
        }
        Ok(Component { item })
    }

    /// The component's value for the signature base (RFC 9421 §2.1, §2.2).
    ///
    /// # Errors
    /// [`Reason::MissingComponent`] when the request lacks the field, member or query
    /// parameter; [`Reason::Malformed`] when the field cannot be parsed as the parameters ask.
    pub fn value(&self, req: &RequestView<'_>) -> Result<String, Rejection> {
        let name = self.name();
        match name {
            "@method" => Ok(req.method.to_string()),
            "@target-uri" => Ok(format!(
                "{}://{}{}",
                req.scheme.to_ascii_lowercase(),
                authority(req),
                request_target(req)
            )),
            "@authority" => Ok(authority(req)),
            "@scheme" => Ok(req.scheme.to_ascii_lowercase()),
            "@request-target" => Ok(request_target(req)),
            "@path" => Ok(if req.path.is_empty() {
                "/".to_string()
            } else {
                req.path.to_string()
            }),
            "@query" => Ok(format!("?{}", req.query.unwrap_or(""))),
            "@query-param" => self.query_param(req),
            _ => self.field_value(req),
        }
    }

    fn query_param(&self, req: &RequestView<'_>) -> Result<String, Rejection> {
        let wanted = self
            .item
            .params
            .get("name")
            .and_then(BareItem::as_string)
            .map(|s| s.as_str())
            .unwrap_or("");
        let mut found = None;
        for pair in req.query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (n, v) = pair.split_once('=').unwrap_or((pair, ""));
            if form_encode(&form_decode(n)) == wanted {
                if found.is_some() {
                    return Err(Rejection::new(
                        Reason::Malformed,
                        format!(
                            "query parameter `{wanted}` occurs more than once (RFC 9421 §2.2.8)"
                        ),
                    ));
                }
                found = Some(form_encode(&form_decode(v)));
            }
        }
        found.ok_or_else(|| {
            Rejection::new(
                Reason::MissingComponent,
                format!("covered query parameter `{wanted}` is not in the request"),
            )
        })
    }

    fn field_value(&self, req: &RequestView<'_>) -> Result<String, Rejection> {
        let name = self.name();
        let missing = || {
            Rejection::new(
                Reason::MissingComponent,
                format!("covered field `{name}` is not in the request"),
            )
        };
        let values: Vec<&[u8]> = req
            .headers
            .get_all(name)
            .iter()
            .map(|v| v.as_bytes())
            .collect();
        if values.is_empty() {
            return Err(missing());
        }
        if self.item.params.contains_key("bs") {
            let b64 = base64::engine::general_purpose::STANDARD;
            return Ok(values
                .iter()
                .map(|v| format!(":{}:", b64.encode(v)))
                .collect::<Vec<_>>()
                .join(", "));
        }
        let mut combined = String::new();
        for (i, v) in values.iter().enumerate() {
            let s = std::str::from_utf8(v).map_err(|_| {
                Rejection::new(
                    Reason::Malformed,
                    format!("field `{name}` is not text (use the `bs` parameter)"),
                )
            })?;
            if i > 0 {
                combined.push_str(", ");
            }
            combined.push_str(s.trim_matches(|c| c == ' ' || c == '\t'));
        }
        let malformed = |e: sfv::Error| {
            Rejection::new(
                Reason::Malformed,
                format!("field `{name}` is not a structured field: {e}"),
            )
        };
        if let Some(key) = self.item.params.get("key").and_then(BareItem::as_string) {
            let dict: sfv::Dictionary = Parser::new(&combined).parse().map_err(malformed)?;
            let member = dict.get(key.as_str()).ok_or_else(|| {
                Rejection::new(
                    Reason::MissingComponent,
                    format!("field `{name}` has no member `{}`", key.as_str()),
                )
            })?;
            return serialize_entry(member).ok_or_else(|| {
                Rejection::new(
                    Reason::Malformed,
                    format!(
                        "field `{name}` member `{}` cannot be serialized",
                        key.as_str()
                    ),
                )
            });
        }
        if self.item.params.contains_key("sf") {
            return reserialize(&combined).ok_or_else(|| {
                Rejection::new(
                    Reason::Malformed,
                    format!("field `{name}` is not a structured field"),
                )
            });
        }
        Ok(combined)
    }
}

/// Serializes one dictionary member value: an item or an inner list (RFC 9421 §2.1.2).
fn serialize_entry(e: &ListEntry) -> Option<String> {
    match e {
        ListEntry::Item(i) => Some(i.serialize()),
        ListEntry::InnerList(l) => {
            let list: sfv::List = vec![ListEntry::InnerList(l.clone())];
            list.serialize()
        }
    }
}

/// Strict re-serialization of a structured field of unknown type: dictionary, list, then item.
fn reserialize(s: &str) -> Option<String> {
    if let Ok(d) = Parser::new(s).parse::<sfv::Dictionary>() {
        return d.serialize();
    }
    if let Ok(l) = Parser::new(s).parse::<sfv::List>() {
        return l.serialize();
    }
    Parser::new(s).parse::<Item>().ok().map(|i| i.serialize())
}

/// `@authority`: the host lower-cased, the port kept unless it is the scheme's default
/// (RFC 9421 §2.2.3).
fn authority(req: &RequestView<'_>) -> String {
    let a = req.authority.to_ascii_lowercase();
    let default = match req.scheme.to_ascii_lowercase().as_str() {
        "https" => ":443",
        "http" => ":80",
        _ => return a,
    };
    match a.strip_suffix(default) {
        Some(host) => host.to_string(),
        None => a,
    }
}

fn request_target(req: &RequestView<'_>) -> String {
    let path = if req.path.is_empty() { "/" } else { req.path };
    match req.query {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    }
}

/// application/x-www-form-urlencoded parsing of one name or value (`+` is a space).
fn form_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                let hex = |c: u8| (c as char).to_digit(16);
                match (
                    b.get(i + 1).and_then(|&c| hex(c)),
                    b.get(i + 2).and_then(|&c| hex(c)),
                ) {
                    (Some(h), Some(l)) => {
                        out.push((h * 16 + l) as u8);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            c => out.push(c),
        }
        i += 1;
    }
    out
}

/// The application/x-www-form-urlencoded byte serializer (URL Standard §5.2), as RFC 9421
/// §2.2.8 requires for `@query-param` names and values.
fn form_encode(b: &[u8]) -> String {
    let mut out = String::with_capacity(b.len());
    for &c in b {
        match c {
            b' ' => out.push('+'),
            b'*' | b'-' | b'.' | b'_' => out.push(c as char),
            c if c.is_ascii_alphanumeric() => out.push(c as char),
            c => out.push_str(&format!("%{c:02X}")),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_codec_round_trips_rfc_examples() {
        assert_eq!(form_encode(&form_decode("Value")), "Value");
        assert_eq!(form_encode(&form_decode("with%20space")), "with+space");
        assert_eq!(form_encode(&form_decode("%E2%82%AC")), "%E2%82%AC");
        assert_eq!(form_encode(&form_decode("bad%zz%")), "bad%25zz%25");
    }

    #[test]
    fn authority_drops_default_ports_only() {
        let h = http::HeaderMap::new();
        let mut r = RequestView {
            method: "GET",
            scheme: "https",
            authority: "Example.COM:443",
            path: "/",
            query: None,
            headers: &h,
        };
        assert_eq!(authority(&r), "example.com");
        r.authority = "example.com:8443";
        assert_eq!(authority(&r), "example.com:8443");
        r.scheme = "http";
        r.authority = "example.com:80";
        assert_eq!(authority(&r), "example.com");
    }
}
