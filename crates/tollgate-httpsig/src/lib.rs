//! Web Bot Auth for tollgate: verification of signed crawler requests and the signer for crawler
//! operators.
//!
//! Standards implemented:
//! - RFC 9421 HTTP Message Signatures: covered components (§2), signature base (§2.5),
//!   `Signature-Input` / `Signature` (§4), Ed25519 (`ed25519`, §3.3.6); RFC 9651 structured
//!   fields via `sfv`.
//! - draft-ietf-webbotauth-httpsig-protocol-01: the profile (`tag="web-bot-auth"`, `created`,
//!   `expires`, `keyid` = JWK thumbprint, `@authority` or `@target-uri` covered,
//!   `Signature-Agent` covered), `Signature-Agent` forms ([`agent`]), key directories ([`jwk`]) and
//!   their response signatures ([`directory`]).
//! - RFC 7638 JWK thumbprints, RFC 8037 Ed25519 JWKs.
//!
//! Verification is two steps ([`verify::parse`], then [`verify::Verifier::verify`] with the keys
//! of the signer's key directory, which the caller fetches — this crate does no network I/O).
//! Every failure is a [`Rejection`] whose [`Reason`] code is what logs and metrics show.
//!
//! Why not Cloudflare's `web-bot-auth` crate (0.7) for the core: it selects the signature with
//! one predicate and reports every profile failure as the same parse error (so `expired`,
//! `bad-tag` and `missing-component` cannot be told apart), its signer reads the clock itself and
//! always adds a nonce, and its signature base is private (needed for the verified-signature
//! cache). It is used in this crate's tests as an independent peer: signatures it makes must
//! verify here.

pub mod agent;
pub mod components;
pub mod directory;
pub mod jwk;
pub mod message;
pub mod sign;
pub mod verify;

pub use jwk::{PublicKey, DIRECTORY_MEDIA_TYPE, DIRECTORY_PATH};
pub use message::RequestView;
pub use sign::{SignOptions, SignedHeaders, Signer};
pub use verify::{CacheLimits, Parsed, Policy, SignedIdentity, Verifier};

/// The `tag` of Web Bot Auth signatures.
pub const WEB_BOT_AUTH_TAG: &str = "web-bot-auth";

/// Why a signature was rejected; [`Reason::code`] is the label in logs and metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Reason {
    /// A field or parameter does not parse, or a structural rule of RFC 9421 is broken.
    Malformed,
    /// Signatures present, none tagged `web-bot-auth`.
    BadTag,
    /// `created`, `expires` or `keyid` missing.
    MissingParameter,
    /// `alg` other than `ed25519`.
    UnsupportedAlgorithm,
    /// `created` later than now + clock skew.
    FutureCreated,
    /// `expires` earlier than now − clock skew.
    Expired,
    /// `expires − created` longer than the configured window.
    WindowTooLong,
    /// A required component is not covered, or a covered one is absent from the request.
    MissingComponent,
    /// No key of the signer's directory has this `keyid`.
    UnknownKey,
    /// The Ed25519 signature does not verify over the signature base.
    BadSignature,
    /// The nonce was used before within its window.
    Replayed,
}

impl Reason {
    /// The code: `malformed`, `bad-tag`, `missing-parameter`, `unsupported-alg`,
    /// `future-created`, `expired`, `window-too-long`, `missing-component`, `unknown-key`,
    /// `bad-signature`, `replayed`.
    pub fn code(self) -> &'static str {
        match self {
            Reason::Malformed => "malformed",
            Reason::BadTag => "bad-tag",
            Reason::MissingParameter => "missing-parameter",
            Reason::UnsupportedAlgorithm => "unsupported-alg",
            Reason::FutureCreated => "future-created",
            Reason::Expired => "expired",
            Reason::WindowTooLong => "window-too-long",
            Reason::MissingComponent => "missing-component",
            Reason::UnknownKey => "unknown-key",
            Reason::BadSignature => "bad-signature",
            Reason::Replayed => "replayed",
        }
    }
}

/// A rejected signature: the reason code and a message naming the header, member or parameter.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}: {detail}", reason.code())]
pub struct Rejection {
    /// The reason.
    pub reason: Reason,
    /// What exactly was wrong, and where.
    pub detail: String,
}

impl Rejection {
    /// A rejection for `reason` with `detail`.
    pub fn new(reason: Reason, detail: impl Into<String>) -> Rejection {
        Rejection {
            reason,
            detail: detail.into(),
        }
    }
}
