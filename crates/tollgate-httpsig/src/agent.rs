//! The `Signature-Agent` field: where the signer's key directory is
//! (draft-ietf-webbotauth-httpsig-protocol-01 §3; earlier forms in draft-meunier-*-00…03).
//!
//! Three forms are accepted, as deployed signers send them:
//!
//! | form | example | key directory |
//! |---|---|---|
//! | legacy string | `"https://chatgpt.com"` | origin → `/.well-known/http-message-signatures-directory` |
//! | dictionary member | `sig1="https://crawler.example"` | same, when the URL is an origin |
//! | direct JWKS URL | `sig1="https://x.test/jwks.json"` (or `;type=jwks_uri`) | fetched as is |
//!
//! The member is the one named by the covered component `"signature-agent";key="…"`, else the
//! one named like the signature's label, else the only member.

use sfv::{BareItem, Item, ListEntry, Parser};

use crate::components::Component;
use crate::jwk::DIRECTORY_PATH;
use crate::{Reason, Rejection};

/// A resolved `Signature-Agent`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignatureAgent {
    /// The URL the keys are fetched from: `<origin>/.well-known/http-message-signatures-directory`
    /// for an origin, else the JWKS URL as sent (fragment dropped). This is the signer's identity
    /// (the key is looked up by (this URL, keyid), never by keyid alone).
    pub keys_url: String,
    /// The origin (`https://host[:port]`), lower case.
    pub origin: String,
    /// The dictionary member used, `None` for the legacy string form.
    pub member: Option<String>,
}

/// The URL of the key directory at `origin`'s well-known path, or a direct JWKS URL as is.
///
/// # Errors
/// A message when `url` is not an absolute `http(s)` URL with a host.
pub fn keys_url(url: &str) -> Result<(String, String), String> {
    let url = url.split_once('#').map_or(url, |(u, _)| u);
    let (scheme, rest) = url
        .split_once("://")
        .ok_or_else(|| format!("`{url}` is not an absolute URL"))?;
    let scheme = scheme.to_ascii_lowercase();
    if scheme != "https" && scheme != "http" {
        return Err(format!("`{url}`: scheme must be https"));
    }
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (host, target) = rest.split_at(split);
    if host.is_empty() || host.contains('@') {
        return Err(format!("`{url}`: no host, or user info in the URL"));
    }
    let origin = format!("{scheme}://{}", host.to_ascii_lowercase());
    let target = target.split_once('?').map_or(target, |(p, _)| p);
    if target.is_empty() || target == "/" {
        Ok((format!("{origin}{DIRECTORY_PATH}"), origin))
    } else {
        Ok((format!("{origin}{target}"), origin))
    }
}

/// Resolves the request's `Signature-Agent` (all field lines combined) for the signature
/// `label` covering `covered`. `Ok(None)` when the field is absent.
///
/// # Errors
/// [`Reason::Malformed`] naming the header and member when it cannot be parsed or resolved.
pub fn resolve(
    headers: &http::HeaderMap,
    label: &str,
    covered: &[Component],
) -> Result<Option<SignatureAgent>, Rejection> {
    let lines: Vec<&str> = headers
        .get_all("signature-agent")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .collect();
    if lines.is_empty() {
        if headers.contains_key("signature-agent") {
            return Err(Rejection::new(
                Reason::Malformed,
                "Signature-Agent is not ASCII",
            ));
        }
        return Ok(None);
    }
    let combined = lines.join(", ");
    let bad = |m: String| Rejection::new(Reason::Malformed, format!("Signature-Agent: {m}"));
    let resolve_url = |url: &str, member: Option<String>, jwks: bool| {
        let (mut keys, origin) = keys_url(url).map_err(&bad)?;
        if jwks && keys.ends_with(DIRECTORY_PATH) && url.trim_end_matches('/') == origin {
            // `type=jwks_uri` on a bare origin: fetch the origin itself.
            keys = format!("{origin}/");
        }
        Ok(Some(SignatureAgent {
            keys_url: keys,
            origin,
            member,
        }))
    };
    if let Ok(item) = Parser::new(&combined).parse::<Item>() {
        let url = item
            .bare_item
            .as_string()
            .ok_or_else(|| bad("the value must be a string".into()))?;
        return resolve_url(url.as_str(), None, false);
    }
    let dict: sfv::Dictionary = Parser::new(&combined)
        .parse()
        .map_err(|e| bad(format!("neither a string nor a dictionary: {e}")))?;
    let keyed = covered.iter().find_map(|c| {
        (c.name() == "signature-agent")
            .then(|| c.item.params.get("key").and_then(BareItem::as_string))
            .flatten()
            .map(|k| k.as_str().to_string())
    });
    let name = match keyed {
        Some(k) => k,
        None if dict.contains_key(label) => label.to_string(),
        None if dict.len() == 1 => dict
            .keys()
            .next()
            .map(|k| k.as_str().to_string())
            .unwrap_or_default(),
        None => {
            return Err(bad(format!(
                "{} members and none is named `{label}` or covered with `key`",
                dict.len()
            )))
        }
    };
    let Some(ListEntry::Item(member)) = dict.get(name.as_str()) else {
        return Err(bad(format!("no string member `{name}`")));
    };
    let url = member
        .bare_item
        .as_string()
        .ok_or_else(|| bad(format!("member `{name}` is not a string")))?;
    let jwks = match member.params.get("type") {
        None => false,
        Some(t) => match t
            .as_token()
            .map(|t| t.as_str())
            .or(t.as_string().map(|s| s.as_str()))
        {
            Some("directory") => false,
            Some("jwks_uri") => true,
            _ => {
                return Err(bad(format!(
                    "member `{name}`: unsupported `type` (directory and jwks_uri are)"
                )))
            }
        },
    };
    resolve_url(url.as_str(), Some(name), jwks)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve_one(value: &str, label: &str, covered: &[&str]) -> Result<SignatureAgent, String> {
        let mut h = http::HeaderMap::new();
        h.insert("signature-agent", value.parse().unwrap());
        let covered: Vec<Component> = covered
            .iter()
            .map(|c| Component::parse(c).unwrap())
            .collect();
        resolve(&h, label, &covered)
            .map(|o| o.unwrap())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn the_three_forms_seen_in_the_wild() {
        let legacy = resolve_one(r#""https://chatgpt.com""#, "sig1", &["signature-agent"]).unwrap();
        assert_eq!(
            legacy.keys_url,
            "https://chatgpt.com/.well-known/http-message-signatures-directory"
        );
        assert_eq!(legacy.member, None);
        let dict = resolve_one(
            r#"g="https://agent.bot.goog""#,
            "sig1",
            &[r#""signature-agent";key="g""#],
        )
        .unwrap();
        assert_eq!(
            dict.keys_url,
            "https://agent.bot.goog/.well-known/http-message-signatures-directory"
        );
        assert_eq!(dict.member.as_deref(), Some("g"));
        let jwks = resolve_one(
            r#"sig1="https://signature-agent.test/jwks.json""#,
            "sig1",
            &["signature-agent"],
        )
        .unwrap();
        assert_eq!(jwks.keys_url, "https://signature-agent.test/jwks.json");
        assert_eq!(jwks.origin, "https://signature-agent.test");
    }

    #[test]
    fn unresolvable_values_name_the_problem() {
        assert_eq!(
            resolve_one("a=1, b=2", "sig1", &[]).unwrap_err(),
            "malformed: Signature-Agent: 2 members and none is named `sig1` or covered with `key`"
        );
        assert_eq!(
            resolve_one(r#""ftp://x""#, "sig1", &[]).unwrap_err(),
            "malformed: Signature-Agent: `ftp://x`: scheme must be https"
        );
        assert_eq!(
            resolve_one(r#"sig1="https://x.test";type=cimd"#, "sig1", &[]).unwrap_err(),
            "malformed: Signature-Agent: member `sig1`: unsupported `type` (directory and jwks_uri are)"
        );
    }
}
