//! Every signal a site publishes to crawlers, generated from the one policy, and the parsers the
//! gateway needs to read them back. **Pure**: no I/O, no clock.
//!
//! | signal | standard | here |
//! |---|---|---|
//! | robots.txt | RFC 9309, draft-ietf-aipref-attach-05 §5, Content Signals, RSL 1.0 `License:` | [`generate_robots`] |
//! | `Content-Usage` header | draft-ietf-aipref-vocab-08, attach-05 §4 | [`content_usage_header`], [`parse_content_usage`] |
//! | TDMRep | W3C CG Final Report (2024) | [`tdm_headers`], [`tdmrep_json`] |
//! | RSL licence | RSL 1.0 | [`rsl_document`], [`license_link_header`] |
//!
//! Configuration is the `[signals]` table of `tollgate.toml` ([`SignalsConfig`]).

pub mod aipref;
pub mod config;
pub mod robots;
pub mod rsl;
pub mod tdm;

pub use aipref::{parse_content_usage, ContentUsage, Preference};
pub use config::{LicenseConfig, PaymentType, RslUsage, SignalsConfig, SignalsError};
pub use robots::generate_robots;
pub use rsl::{license_link_header, rsl_document, RSL_MEDIA_TYPE};
pub use tdm::{tdm_headers, tdmrep_json, TDMREP_PATH};

/// The `Content-Usage` response header value (attach-05 §4; vocab-08 dictionary), e.g.
/// `train-ai=n, ai-use=n, search=y`: the configured statement, validated and in canonical
/// RFC 9651 form when the configuration was read ([`aipref::validate_content_usage`]).
pub fn content_usage_header(cfg: &SignalsConfig) -> String {
    cfg.content_usage.clone()
}
