//! Verification of Web Bot Auth signatures (RFC 9421 §3.2 with the profile of
//! draft-ietf-webbotauth-httpsig-protocol-01 §3), in two steps so that the key lookup between
//! them can be asynchronous:
//!
//! 1. [`parse`] (pure): picks the signature, checks its signature parameters and covered
//!    components against the profile and the clock, resolves `Signature-Agent` and builds the
//!    signature base.
//! 2. [`Verifier::verify`]: finds the key by `keyid` among the keys of the signer's key
//!    directory, checks the Ed25519 signature (or finds it in the cache of verified signatures)
//!    and records the nonce.

use std::sync::Arc;
use std::time::Duration;

use sfv::{BareItem, FieldType as _, ListEntry, Parser};
use sha2::{Digest, Sha256};

use crate::agent::SignatureAgent;
use crate::components::Component;
use crate::jwk::PublicKey;
use crate::message::RequestView;
use crate::{Reason, Rejection, WEB_BOT_AUTH_TAG};

/// Limits of the profile checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// Longest accepted `expires − created`, seconds (the draft recommends ≤ 24 h). Default 86 400.
    pub max_window_secs: i64,
    /// Clock difference tolerated on `created` (not in the future by more) and `expires` (not past
    /// by more), seconds. Default 30.
    pub clock_skew_secs: i64,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            max_window_secs: 86_400,
            clock_skew_secs: 30,
        }
    }
}

/// A signature that passed the profile checks, ready for the key lookup (the output of
/// [`parse`]).
#[derive(Debug, Clone)]
pub struct Parsed {
    /// The signature's label in `Signature-Input` / `Signature` (e.g. `sig1`).
    pub label: String,
    /// The covered components, in order.
    pub covered: Vec<Component>,
    /// `created`, unix seconds.
    pub created: i64,
    /// `expires`, unix seconds.
    pub expires: i64,
    /// `keyid`: the key's JWK thumbprint (or its `kid` in the directory).
    pub keyid: String,
    /// `nonce`, if any.
    pub nonce: Option<String>,
    /// The signature bytes (64 for Ed25519).
    pub signature: Vec<u8>,
    /// The signature base (RFC 9421 §2.5), byte for byte.
    pub base: Vec<u8>,
    /// The resolved `Signature-Agent`, when the request has one.
    pub agent: Option<SignatureAgent>,
}

/// A verified signature: who signed, what it covers, how long it is valid. Later request phases
/// use it (the thumbprint identifies the paying account; `covered` tells whether
/// `crawler-max-price` / `crawler-exact-price` were signed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedIdentity {
    /// RFC 7638 SHA-256 thumbprint (base64url) of the key that signed.
    pub thumbprint: String,
    /// Where the key came from (the resolved `Signature-Agent` keys URL), if any.
    pub signature_agent: Option<String>,
    /// Covered component identifiers as serialized in the signature base, e.g. `"@authority"`
    /// appears as `@authority`, `"signature-agent";key="sig1"` as `signature-agent;key="sig1"`.
    pub covered: Vec<String>,
    /// The `nonce` parameter, if any.
    pub nonce: Option<String>,
    /// `created`, unix seconds.
    pub created: i64,
    /// `expires`, unix seconds.
    pub expires: i64,
}

impl SignedIdentity {
    /// True when the component named `name` (e.g. `crawler-max-price`, `@authority`) is covered,
    /// with or without parameters.
    pub fn covers(&self, name: &str) -> bool {
        self.covered
            .iter()
            .any(|c| c == name || c.strip_prefix(name).is_some_and(|r| r.starts_with(';')))
    }
}

/// All lines of the field `display` (e.g. `Signature-Input`) combined and parsed as an RFC 9651
/// dictionary; `None` when absent.
fn dictionary(
    headers: &http::HeaderMap,
    display: &str,
) -> Result<Option<sfv::Dictionary>, Rejection> {
    let name = display;
    let mut lines = Vec::new();
    for v in headers.get_all(display.to_ascii_lowercase().as_str()) {
        lines.push(
            v.to_str()
                .map_err(|_| Rejection::new(Reason::Malformed, format!("{name} is not ASCII")))?,
        );
    }
    if lines.is_empty() {
        return Ok(None);
    }
    Parser::new(&lines.join(", "))
        .parse::<sfv::Dictionary>()
        .map(Some)
        .map_err(|e| {
            Rejection::new(
                Reason::Malformed,
                format!("{name} is not a structured dictionary: {e}"),
            )
        })
}

fn param_int(p: &sfv::Parameters, name: &str, label: &str) -> Result<i64, Rejection> {
    match p.get(name) {
        None => Err(Rejection::new(
            Reason::MissingParameter,
            format!("Signature-Input `{label}` has no `{name}` parameter"),
        )),
        Some(v) => v.as_integer().map(i64::from).ok_or_else(|| {
            Rejection::new(
                Reason::Malformed,
                format!("Signature-Input `{label}`: `{name}` is not an integer"),
            )
        }),
    }
}

fn param_str<'a>(
    p: &'a sfv::Parameters,
    name: &str,
    label: &str,
) -> Result<Option<&'a str>, Rejection> {
    match p.get(name) {
        None => Ok(None),
        Some(v) => v.as_string().map(|s| Some(s.as_str())).ok_or_else(|| {
            Rejection::new(
                Reason::Malformed,
                format!("Signature-Input `{label}`: `{name}` is not a string"),
            )
        }),
    }
}

/// Picks the Web Bot Auth signature of a request and checks everything that needs no key:
/// `Ok(None)` for a request without `Signature-Input` and `Signature`.
///
/// The first `Signature-Input` member with `tag="web-bot-auth"` is used (RFC 9421 lets a
/// message carry several signatures; others are ignored). `now` is unix seconds.
///
/// # Errors
/// A [`Rejection`] whose [`Reason`] is the spoof reason: `malformed` (unparsable fields, naming
/// the header, member and parameter), `bad-tag` (signatures, but none tagged `web-bot-auth`),
/// `missing-parameter` (`created`, `expires` or `keyid`), `unsupported-alg`, `future-created`,
/// `expired`, `window-too-long`, `missing-component` (neither `@authority` nor `@target-uri`;
/// `Signature-Agent` present but not covered; a covered field absent).
pub fn parse(
    req: &RequestView<'_>,
    now: i64,
    policy: &Policy,
) -> Result<Option<Parsed>, Rejection> {
    let input = dictionary(req.headers, "Signature-Input")?;
    let sigs = dictionary(req.headers, "Signature")?;
    let (input, sigs) = match (input, sigs) {
        (None, None) => return Ok(None),
        (Some(i), Some(s)) => (i, s),
        (Some(_), None) => {
            return Err(Rejection::new(
                Reason::Malformed,
                "Signature-Input without Signature",
            ))
        }
        (None, Some(_)) => {
            return Err(Rejection::new(
                Reason::Malformed,
                "Signature without Signature-Input",
            ))
        }
    };
    let mut tags = Vec::new();
    let mut chosen = None;
    for (label, entry) in &input {
        let ListEntry::InnerList(list) = entry else {
            return Err(Rejection::new(
                Reason::Malformed,
                format!("Signature-Input `{}` is not an inner list", label.as_str()),
            ));
        };
        let tag = param_str(&list.params, "tag", label.as_str())?;
        if tag == Some(WEB_BOT_AUTH_TAG) {
            chosen = Some((label.as_str().to_string(), list));
            break;
        }
        tags.push(tag.unwrap_or("(none)").to_string());
    }
    let Some((label, list)) = chosen else {
        return Err(Rejection::new(
            Reason::BadTag,
            format!(
                "no Signature-Input member has tag=\"{WEB_BOT_AUTH_TAG}\" (tags: {})",
                tags.join(", ")
            ),
        ));
    };
    let l = label.as_str();
    let signature = match sigs.get(l) {
        Some(ListEntry::Item(i)) => match &i.bare_item {
            BareItem::ByteSequence(b) => b.clone(),
            _ => {
                return Err(Rejection::new(
                    Reason::Malformed,
                    format!("Signature `{l}` is not a byte sequence"),
                ))
            }
        },
        _ => {
            return Err(Rejection::new(
                Reason::Malformed,
                format!("Signature has no member `{l}`"),
            ))
        }
    };
    let p = &list.params;
    let created = param_int(p, "created", l)?;
    let expires = param_int(p, "expires", l)?;
    let keyid = param_str(p, "keyid", l)?
        .ok_or_else(|| {
            Rejection::new(
                Reason::MissingParameter,
                format!("Signature-Input `{l}` has no `keyid` parameter"),
            )
        })?
        .to_string();
    let nonce = param_str(p, "nonce", l)?.map(str::to_string);
    if let Some(alg) = param_str(p, "alg", l)? {
        if alg != "ed25519" {
            return Err(Rejection::new(
                Reason::UnsupportedAlgorithm,
                format!("Signature-Input `{l}`: alg `{alg}` (only ed25519 is accepted)"),
            ));
        }
    }
    if created > now + policy.clock_skew_secs {
        return Err(Rejection::new(
            Reason::FutureCreated,
            format!("Signature-Input `{l}`: created {created} is after now {now}"),
        ));
    }
    if expires < created {
        return Err(Rejection::new(
            Reason::Malformed,
            format!("Signature-Input `{l}`: expires {expires} is before created {created}"),
        ));
    }
    if expires <= now - policy.clock_skew_secs {
        return Err(Rejection::new(
            Reason::Expired,
            format!("Signature-Input `{l}`: expired at {expires}, now {now}"),
        ));
    }
    if expires - created > policy.max_window_secs {
        return Err(Rejection::new(
            Reason::WindowTooLong,
            format!(
                "Signature-Input `{l}`: valid for {} s, more than {} s",
                expires - created,
                policy.max_window_secs
            ),
        ));
    }
    let mut covered = Vec::with_capacity(list.items.len());
    let place = format!("Signature-Input `{l}` component");
    for item in &list.items {
        let c = Component::from_item(item.clone(), &place)?;
        if covered.iter().any(|o: &Component| o.item == c.item) {
            return Err(Rejection::new(
                Reason::Malformed,
                format!("Signature-Input `{l}` covers `{}` twice", c.serialized()),
            ));
        }
        covered.push(c);
    }
    if !covered
        .iter()
        .any(|c| c.name() == "@authority" || c.name() == "@target-uri")
    {
        return Err(Rejection::new(
            Reason::MissingComponent,
            format!("Signature-Input `{l}` covers neither @authority nor @target-uri"),
        ));
    }
    let agent = crate::agent::resolve(req.headers, l, &covered)?;
    if agent.is_some() && !covered.iter().any(|c| c.name() == "signature-agent") {
        return Err(Rejection::new(
            Reason::MissingComponent,
            format!("Signature-Agent is present but `{l}` does not cover it"),
        ));
    }
    let base = signature_base(req, &covered, list)?;
    Ok(Some(Parsed {
        label,
        covered,
        created,
        expires,
        keyid,
        nonce,
        signature,
        base,
        agent,
    }))
}

/// The signature base (RFC 9421 §2.5): one `"<component>": <value>` line per covered component,
/// then `"@signature-params": <inner list>`, LF-separated, no trailing LF. `params` is the
/// `Signature-Input` member (its items and parameters, re-serialized).
///
/// # Errors
/// [`Reason::MissingComponent`] / [`Reason::Malformed`] from the component values; values with
/// a line feed are malformed.
pub fn signature_base(
    req: &RequestView<'_>,
    covered: &[Component],
    params: &sfv::InnerList,
) -> Result<Vec<u8>, Rejection> {
    let mut base = Vec::with_capacity(256);
    for c in covered {
        let v = c.value(req)?;
        if v.contains(['\n', '\r']) {
            return Err(Rejection::new(
                Reason::Malformed,
                format!("value of `{}` contains a line break", c.serialized()),
            ));
        }
        base.extend_from_slice(c.serialized().as_bytes());
        base.extend_from_slice(b": ");
        base.extend_from_slice(v.as_bytes());
        base.push(b'\n');
    }
    let line = vec![ListEntry::InnerList(params.clone())]
        .serialize()
        .ok_or_else(|| {
            Rejection::new(Reason::Malformed, "signature parameters do not serialize")
        })?;
    base.extend_from_slice(b"\"@signature-params\": ");
    base.extend_from_slice(line.as_bytes());
    Ok(base)
}

/// Bounds of the caches of a [`Verifier`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CacheLimits {
    /// Verified signatures remembered (entries, each ~100 B) until their `expires`.
    pub verified: u64,
    /// Nonces remembered (entries) until their signature's `expires` + clock skew.
    pub nonces: u64,
}

impl Default for CacheLimits {
    fn default() -> Self {
        CacheLimits {
            verified: 100_000,
            nonces: 1_000_000,
        }
    }
}

/// Per-entry expiry: until the signature's `expires` (plus skew), given as a duration at insert.
struct UntilExpires;

impl moka::Expiry<[u8; 32], Duration> for UntilExpires {
    fn expire_after_create(
        &self,
        _key: &[u8; 32],
        value: &Duration,
        _created_at: std::time::Instant,
    ) -> Option<Duration> {
        Some(*value)
    }
}

/// The stateful part of verification: the cache of verified signatures and the nonce cache
/// (replay protection, RFC 9421 §7.2.2). `Send + Sync`; clones share the caches.
#[derive(Clone)]
pub struct Verifier {
    policy: Policy,
    /// SHA-256(key ‖ signature ‖ base) → time to live. Only a signature that verified over
    /// exactly this base with exactly this key is found here, so skipping Ed25519 is safe.
    verified: moka::sync::Cache<[u8; 32], Duration>,
    /// SHA-256(thumbprint ‖ 0 ‖ nonce) → time to live.
    nonces: moka::sync::Cache<[u8; 32], Duration>,
    stats: Arc<std::sync::atomic::AtomicU64>,
}

impl std::fmt::Debug for Verifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("policy", &self.policy)
            .field("verified_entries", &self.verified.entry_count())
            .field("nonce_entries", &self.nonces.entry_count())
            .finish()
    }
}

impl Verifier {
    /// A verifier with the profile limits `policy` and cache bounds `limits`.
    pub fn new(policy: Policy, limits: CacheLimits) -> Verifier {
        let cache = |n| {
            moka::sync::Cache::builder()
                .max_capacity(n)
                .expire_after(UntilExpires)
                .build()
        };
        Verifier {
            policy,
            verified: cache(limits.verified),
            nonces: cache(limits.nonces),
            stats: Arc::default(),
        }
    }

    /// A verifier with `policy` that shares this one's caches (verified signatures and nonces),
    /// e.g. across a configuration reload, so a nonce seen before a reload stays used.
    pub fn with_policy(&self, policy: Policy) -> Verifier {
        Verifier {
            policy,
            ..self.clone()
        }
    }

    /// The profile limits.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// [`parse`] with this verifier's policy.
    ///
    /// # Errors
    /// As [`parse`].
    pub fn parse(&self, req: &RequestView<'_>, now: i64) -> Result<Option<Parsed>, Rejection> {
        parse(req, now, &self.policy)
    }

    /// Ed25519 verifications actually computed (cache hits excluded) since start.
    pub fn crypto_verifications(&self) -> u64 {
        self.stats.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Entries in the (verified-signature, nonce) caches.
    pub fn cache_entries(&self) -> (u64, u64) {
        (self.verified.entry_count(), self.nonces.entry_count())
    }

    /// Checks `parsed` against `keys` (the keys of the signer's key directory): the key whose
    /// `kid` or thumbprint equals `keyid`, the Ed25519 signature over the signature base, then
    /// the nonce (a nonce seen before from the same key within its validity window is a replay).
    /// `now` is unix seconds.
    ///
    /// # Errors
    /// [`Reason::UnknownKey`], [`Reason::BadSignature`] or [`Reason::Replayed`].
    pub fn verify(
        &self,
        parsed: &Parsed,
        keys: &[PublicKey],
        now: i64,
    ) -> Result<SignedIdentity, Rejection> {
        let key = keys
            .iter()
            .find(|k| k.thumbprint == parsed.keyid)
            .or_else(|| {
                keys.iter()
                    .find(|k| k.kid.as_deref() == Some(&parsed.keyid))
            })
            .ok_or_else(|| {
                Rejection::new(
                    Reason::UnknownKey,
                    format!(
                        "keyid `{}` is not in the key directory{}",
                        parsed.keyid,
                        parsed
                            .agent
                            .as_ref()
                            .map(|a| format!(" {}", a.keys_url))
                            .unwrap_or_default()
                    ),
                )
            })?;
        let ttl = Duration::from_secs(
            (parsed.expires + self.policy.clock_skew_secs - now)
                .clamp(1, self.policy.max_window_secs.max(1)) as u64,
        );
        let mut h = Sha256::new();
        h.update(key.key.as_bytes());
        h.update(&parsed.signature);
        h.update(&parsed.base);
        let fingerprint: [u8; 32] = h.finalize().into();
        if !self.verified.contains_key(&fingerprint) {
            let sig = ed25519_dalek::Signature::from_slice(&parsed.signature).map_err(|_| {
                Rejection::new(
                    Reason::BadSignature,
                    format!(
                        "Signature `{}` is {} bytes, not an Ed25519 signature",
                        parsed.label,
                        parsed.signature.len()
                    ),
                )
            })?;
            self.stats
                .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            key.key.verify_strict(&parsed.base, &sig).map_err(|_| {
                Rejection::new(
                    Reason::BadSignature,
                    format!(
                        "Signature `{}` does not verify with key `{}`",
                        parsed.label, key.thumbprint
                    ),
                )
            })?;
            self.verified.insert(fingerprint, ttl);
        }
        if let Some(nonce) = &parsed.nonce {
            let mut h = Sha256::new();
            h.update(key.thumbprint.as_bytes());
            h.update([0]);
            h.update(nonce.as_bytes());
            let k: [u8; 32] = h.finalize().into();
            let entry = self.nonces.entry(k).or_insert(ttl);
            if !entry.is_fresh() {
                return Err(Rejection::new(
                    Reason::Replayed,
                    format!(
                        "nonce `{nonce}` of key `{}` was already used",
                        key.thumbprint
                    ),
                ));
            }
        }
        Ok(SignedIdentity {
            thumbprint: key.thumbprint.clone(),
            signature_agent: parsed.agent.as_ref().map(|a| a.keys_url.clone()),
            covered: parsed
                .covered
                .iter()
                .map(|c| {
                    let s = c.serialized();
                    // `"@authority"` → `@authority`; parameters kept as serialized.
                    match s.strip_prefix('"').and_then(|r| r.split_once('"')) {
                        Some((name, params)) => format!("{name}{params}"),
                        None => s,
                    }
                })
                .collect(),
            nonce: parsed.nonce.clone(),
            created: parsed.created,
            expires: parsed.expires,
        })
    }
}
