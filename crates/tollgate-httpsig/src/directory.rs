//! Signed key-directory responses (draft-ietf-webbotauth-httpsig-protocol-01 §4.2 and
//! Appendix E.2.3): the directory may carry one signature per key, tagged
//! `http-message-signatures-directory`, covering `"@authority";req` (the authority the directory
//! was requested from) and `content-digest` (RFC 9530, checked against the body) — a proof that
//! whoever serves the directory holds each private key.

use base64::Engine as _;
use sfv::{BareItem, FieldType as _, ListEntry, Parser};
use sha2::{Digest, Sha256, Sha512};

use crate::jwk::PublicKey;
use crate::verify::Policy;
use crate::{Reason, Rejection};

/// The `tag` of key-directory response signatures.
pub const DIRECTORY_TAG: &str = "http-message-signatures-directory";

/// What a directory response proves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DirectoryProof {
    /// The response carries no directory signature.
    Unsigned,
    /// Thumbprints of the keys whose possession was proven (each by a valid signature).
    Signed(Vec<String>),
}

fn combined(headers: &http::HeaderMap, name: &str) -> Result<Option<String>, Rejection> {
    let mut out: Vec<&str> = Vec::new();
    for v in headers.get_all(name) {
        out.push(v.to_str().map_err(|_| {
            Rejection::new(
                Reason::Malformed,
                format!("directory response: {name} is not ASCII"),
            )
        })?);
    }
    Ok((!out.is_empty()).then(|| out.join(", ")))
}

fn dict(headers: &http::HeaderMap, name: &str) -> Result<Option<sfv::Dictionary>, Rejection> {
    combined(headers, name)?
        .map(|s| {
            Parser::new(&s).parse::<sfv::Dictionary>().map_err(|e| {
                Rejection::new(
                    Reason::Malformed,
                    format!("directory response: {name} is not a structured dictionary: {e}"),
                )
            })
        })
        .transpose()
}

/// Checks `Content-Digest` (RFC 9530 `sha-256` / `sha-512`) against `body`: every known
/// algorithm present must match, and at least one must be present.
///
/// # Errors
/// [`Reason::MissingComponent`] without a usable digest, [`Reason::BadSignature`] on mismatch.
pub fn check_content_digest(headers: &http::HeaderMap, body: &[u8]) -> Result<(), Rejection> {
    let d = dict(headers, "content-digest")?.unwrap_or_default();
    let mut checked = 0;
    for (alg, entry) in &d {
        let ListEntry::Item(item) = entry else {
            continue;
        };
        let Some(want) = item.bare_item.as_byte_sequence() else {
            continue;
        };
        let got: Vec<u8> = match alg.as_str() {
            "sha-256" => Sha256::digest(body).to_vec(),
            "sha-512" => Sha512::digest(body).to_vec(),
            _ => continue,
        };
        if got != want {
            return Err(Rejection::new(
                Reason::BadSignature,
                format!(
                    "directory response: Content-Digest {} does not match the body",
                    alg.as_str()
                ),
            ));
        }
        checked += 1;
    }
    if checked == 0 {
        return Err(Rejection::new(
            Reason::MissingComponent,
            "directory response: no sha-256 or sha-512 Content-Digest",
        ));
    }
    Ok(())
}

/// Verifies the directory signatures of a key-directory response fetched from `authority`
/// (`host[:port]` as requested) with body `body`, against the directory's own `keys`. `now` is
/// unix seconds; only `clock_skew_secs` of `policy` applies (directory signatures are long-lived).
///
/// # Errors
/// A [`Rejection`] when any directory-tagged signature is invalid: `malformed`,
/// `missing-parameter`, `future-created`, `expired`, `missing-component` (`"@authority";req` or
/// `content-digest` not covered), `unknown-key` (keyid not in this directory), `bad-signature`
/// (including a Content-Digest that does not match the body).
pub fn verify_directory_response(
    authority: &str,
    headers: &http::HeaderMap,
    body: &[u8],
    keys: &[PublicKey],
    now: i64,
    policy: &Policy,
) -> Result<DirectoryProof, Rejection> {
    let (Some(input), Some(sigs)) = (
        dict(headers, "signature-input")?,
        dict(headers, "signature")?,
    ) else {
        return Ok(DirectoryProof::Unsigned);
    };
    let mut proven = Vec::new();
    for (label, entry) in &input {
        let l = label.as_str();
        let ListEntry::InnerList(list) = entry else {
            continue;
        };
        let p = &list.params;
        if p.get("tag")
            .and_then(BareItem::as_string)
            .map(|s| s.as_str())
            != Some(DIRECTORY_TAG)
        {
            continue;
        }
        if proven.is_empty() {
            check_content_digest(headers, body)?;
        }
        let int = |n: &str| {
            p.get(n)
                .and_then(BareItem::as_integer)
                .map(i64::from)
                .ok_or_else(|| {
                    Rejection::new(
                        Reason::MissingParameter,
                        format!("directory Signature-Input `{l}`: no integer `{n}`"),
                    )
                })
        };
        let (created, expires) = (int("created")?, int("expires")?);
        if created > now + policy.clock_skew_secs {
            return Err(Rejection::new(
                Reason::FutureCreated,
                format!("directory Signature-Input `{l}`: created {created} is after now {now}"),
            ));
        }
        if expires <= now - policy.clock_skew_secs {
            return Err(Rejection::new(
                Reason::Expired,
                format!("directory Signature-Input `{l}`: expired at {expires}"),
            ));
        }
        let keyid = p
            .get("keyid")
            .and_then(BareItem::as_string)
            .map(|s| s.as_str().to_string())
            .ok_or_else(|| {
                Rejection::new(
                    Reason::MissingParameter,
                    format!("directory Signature-Input `{l}`: no `keyid`"),
                )
            })?;
        let key = keys.iter().find(|k| k.thumbprint == keyid).ok_or_else(|| {
            Rejection::new(
                Reason::UnknownKey,
                format!("directory Signature-Input `{l}`: keyid `{keyid}` is not in the directory"),
            )
        })?;
        let mut base = String::new();
        let (mut has_authority, mut has_digest) = (false, false);
        for item in &list.items {
            let name = item.bare_item.as_string().map(|s| s.as_str()).unwrap_or("");
            let req = item.params.get("req").and_then(BareItem::as_boolean) == Some(true);
            let value = if name == "@authority" && req && item.params.len() == 1 {
                has_authority = true;
                authority.to_ascii_lowercase()
            } else if !name.starts_with('@') && !name.is_empty() && item.params.is_empty() {
                has_digest |= name == "content-digest";
                combined(headers, name)?.ok_or_else(|| {
                    Rejection::new(
                        Reason::MissingComponent,
                        format!(
                            "directory Signature-Input `{l}`: covered field `{name}` is absent"
                        ),
                    )
                })?
            } else {
                return Err(Rejection::new(
                    Reason::Malformed,
                    format!(
                        "directory Signature-Input `{l}`: unsupported component `{}`",
                        item.serialize()
                    ),
                ));
            };
            base.push_str(&item.serialize());
            base.push_str(": ");
            base.push_str(value.trim());
            base.push('\n');
        }
        if !(has_authority && has_digest) {
            return Err(Rejection::new(
                Reason::MissingComponent,
                format!("directory Signature-Input `{l}` must cover \"@authority\";req and content-digest"),
            ));
        }
        let params = vec![ListEntry::InnerList(list.clone())]
            .serialize()
            .unwrap_or_default();
        base.push_str("\"@signature-params\": ");
        base.push_str(&params);
        let sig = match sigs.get(l) {
            Some(ListEntry::Item(i)) => i.bare_item.as_byte_sequence().map(<[u8]>::to_vec),
            _ => None,
        }
        .and_then(|b| ed25519_dalek::Signature::from_slice(&b).ok())
        .ok_or_else(|| {
            Rejection::new(
                Reason::Malformed,
                format!("directory response: Signature has no Ed25519 member `{l}`"),
            )
        })?;
        key.key.verify_strict(base.as_bytes(), &sig).map_err(|_| {
            Rejection::new(
                Reason::BadSignature,
                format!("directory Signature `{l}` does not verify with key `{keyid}`"),
            )
        })?;
        proven.push(keyid);
    }
    if proven.is_empty() {
        return Ok(DirectoryProof::Unsigned);
    }
    Ok(DirectoryProof::Signed(proven))
}

/// `Content-Digest: sha-256=:<base64>:` for `body` (RFC 9530), for serving a signed directory.
pub fn content_digest(body: &[u8]) -> String {
    format!(
        "sha-256=:{}:",
        base64::engine::general_purpose::STANDARD.encode(Sha256::digest(body))
    )
}
