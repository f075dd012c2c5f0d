//! Verification outcomes and the pure `RequestFacts → Client` classification (DESIGN.md).
//!
//! A claim is `spoofed` only when the claimed operator publishes a way to check it and the
//! check fails; with nothing to check against it is `unverified`. Checks that need I/O (FCrDNS,
//! key directories) are done by the gateway before classification and handed in; an offline scan
//! reports them as not checked.

use std::fmt;
use std::net::IpAddr;

use crate::catalogue::{AgentId, Catalogue};
use crate::class::Class;
use crate::matcher::{UaMatch, UaMatcher};
use crate::ranges::{RangeTable, SourceSet};

/// How a claim was proven.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VerifiedBy {
    /// The address is inside a range the operator publishes for this agent.
    IpRange,
    /// Forward-confirmed reverse DNS ended in one of the agent's host suffixes.
    Fcrdns,
    /// A valid Web Bot Auth signature (RFC 9421) by a key of the agent's directory.
    Signature,
    /// An API key of a known account.
    ApiKey,
}

/// Why a client is `unverified`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UnverifiedReason {
    /// It claims no catalogue agent (browser, unknown bot).
    NoClaim,
    /// The operator publishes no way to check the claim.
    NothingToCheck,
    /// The operator documents only checks that need I/O (FCrDNS, signatures) and none was done
    /// (offline scans).
    NotChecked,
    /// Outside the only lists there are, but those lists are not authoritative (AS-wide).
    NotAuthoritative,
    /// The client address is missing or not an IP address.
    NoAddress,
    /// A Web Bot Auth signature was present but could not be checked: its key directory could
    /// not be fetched, or the signing agent is not on the allow-list. Not proof of spoofing.
    SignatureUnchecked,
}

/// Why a claim is `spoofed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SpoofReason {
    /// The address is outside every range the operator publishes for the agent.
    OutsideRanges,
    /// Forward-confirmed reverse DNS did not lead to one of the agent's documented host names.
    FcrdnsMismatch,
    /// A Web Bot Auth signature is present but invalid (RFC 9421, draft-ietf-webbotauth-httpsig-
    /// protocol-01). Carries the reason code: `expired`, `bad-signature`, `unknown-key`,
    /// `replayed`, `missing-component`, `missing-parameter`, `bad-tag`, `future-created`,
    /// `window-too-long`, `unsupported-alg`, `malformed`.
    InvalidSignature(&'static str),
}

impl SpoofReason {
    /// The reason as a label: `outside-ranges`, `fcrdns-mismatch`, or the signature's reason code.
    pub fn code(self) -> &'static str {
        match self {
            SpoofReason::OutsideRanges => "outside-ranges",
            SpoofReason::FcrdnsMismatch => "fcrdns-mismatch",
            SpoofReason::InvalidSignature(code) => code,
        }
    }
}

/// The verification outcome of a client's claim (DESIGN.md: `verified(by)`, `unverified`,
/// `spoofed`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Verification {
    /// The claim is proven.
    Verified(VerifiedBy),
    /// Nothing proved or disproved it.
    Unverified(UnverifiedReason),
    /// A checkable claim failed its check.
    Spoofed(SpoofReason),
}

impl Verification {
    /// `verified`, `unverified` or `spoofed`.
    pub fn outcome(self) -> &'static str {
        match self {
            Verification::Verified(_) => "verified",
            Verification::Unverified(_) => "unverified",
            Verification::Spoofed(_) => "spoofed",
        }
    }
}

/// The text the decision line and `/api/decisions` show: `verified(ip-range)`, `unverified`,
/// `spoofed(outside-ranges)` — the outcome with how it was proven or why it failed
/// ([`SpoofReason::code`]).
impl fmt::Display for Verification {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verification::Verified(VerifiedBy::IpRange) => f.write_str("verified(ip-range)"),
            Verification::Verified(VerifiedBy::Fcrdns) => f.write_str("verified(fcrdns)"),
            Verification::Verified(VerifiedBy::Signature) => f.write_str("verified(signature)"),
            Verification::Verified(VerifiedBy::ApiKey) => f.write_str("verified(api-key)"),
            Verification::Unverified(_) => f.write_str("unverified"),
            Verification::Spoofed(reason) => {
                f.write_str("spoofed(")?;
                f.write_str(reason.code())?;
                f.write_str(")")
            }
        }
    }
}

/// What tollgate knows about one request before deciding (DESIGN.md `RequestFacts`). Borrowed,
/// so building one from a log line or a live request allocates nothing.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestFacts<'a> {
    /// Client address (after trusted-proxy handling); `None` if absent or unparsable.
    pub client_ip: Option<IpAddr>,
    /// Request method.
    pub method: &'a str,
    /// Host (authority) if known.
    pub host: Option<&'a str>,
    /// Request target path (no query).
    pub path: &'a str,
    /// Query string without `?`, if any.
    pub query: Option<&'a str>,
    /// User-Agent header value, raw bytes.
    pub user_agent: &'a [u8],
    /// Request time, unix seconds UTC.
    pub time: Option<i64>,
}

/// Who the client is (DESIGN.md `Client`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Client {
    /// What the User-Agent matched.
    pub ua: UaMatch,
    /// The catalogue agent claimed, if any.
    pub agent: Option<AgentId>,
    /// The client's class.
    pub class: Class,
    /// Outcome of checking the claim.
    pub verification: Verification,
}

/// A catalogue agent names an IP-range source that is not loaded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: agent `{agent}` names unknown ip_ranges source `{source_name}`")]
pub struct UnknownSource {
    /// The catalogue file the agent is in.
    pub file: String,
    /// The agent.
    pub agent: String,
    /// Its catalogue line.
    pub line: usize,
    /// The missing source name.
    pub source_name: String,
}

/// Catalogue + matcher + ranges: the pure classification of a request. No I/O, no clock.
pub struct Classifier {
    catalogue: Catalogue,
    matcher: UaMatcher,
    ranges: RangeTable,
    /// Per agent: (every source, authoritative sources).
    agent_sources: Vec<(SourceSet, SourceSet)>,
}

impl Classifier {
    /// Joins a catalogue with range data. Errors if an agent names a source the table lacks.
    pub fn new(
        catalogue: Catalogue,
        matcher: UaMatcher,
        ranges: RangeTable,
    ) -> Result<Classifier, UnknownSource> {
        let mut agent_sources = Vec::with_capacity(catalogue.agents().len());
        for a in catalogue.agents() {
            let (mut all, mut auth) = (SourceSet::EMPTY, SourceSet::EMPTY);
            for name in &a.verify.ip_ranges {
                let i = ranges.source_index(name).ok_or_else(|| UnknownSource {
                    file: a.file.clone(),
                    agent: a.name.clone(),
                    line: a.line,
                    source_name: name.clone(),
                })?;
                all.insert(i);
                if ranges.sources()[i].authoritative {
                    auth.insert(i);
                }
            }
            agent_sources.push((all, auth));
        }
        Ok(Classifier {
            catalogue,
            matcher,
            ranges,
            agent_sources,
        })
    }

    /// The catalogue.
    pub fn catalogue(&self) -> &Catalogue {
        &self.catalogue
    }

    /// The range table.
    pub fn ranges(&self) -> &RangeTable {
        &self.ranges
    }

    /// The User-Agent matcher.
    pub fn matcher(&self) -> &UaMatcher {
        &self.matcher
    }

    /// Classifies a request.
    pub fn classify(&self, facts: &RequestFacts<'_>) -> Client {
        let ua = self.matcher.match_ua(facts.user_agent);
        self.client_for(ua, facts.client_ip)
    }

    /// Completes a User-Agent match (e.g. a cached one) into a [`Client`] for this address.
    pub fn client_for(&self, ua: UaMatch, ip: Option<IpAddr>) -> Client {
        let (agent, verification) = match ua {
            UaMatch::Agent(id) => (Some(id), self.verify_ip(id, ip)),
            _ => (None, Verification::Unverified(UnverifiedReason::NoClaim)),
        };
        Client {
            ua,
            agent,
            class: ua.class(&self.catalogue),
            verification,
        }
    }

    /// Checks a claim to be `agent` from address `ip` against published ranges only.
    pub fn verify_ip(&self, agent: AgentId, ip: Option<IpAddr>) -> Verification {
        let (all, auth) = self.agent_sources[agent.0 as usize];
        if all.is_empty() {
            let v = &self.catalogue.agent(agent).verify;
            return Verification::Unverified(if v.is_checkable() {
                UnverifiedReason::NotChecked
            } else {
                UnverifiedReason::NothingToCheck
            });
        }
        let Some(ip) = ip else {
            return Verification::Unverified(UnverifiedReason::NoAddress);
        };
        if self.ranges.lookup(ip).intersects(all) {
            Verification::Verified(VerifiedBy::IpRange)
        } else if !auth.is_empty() {
            Verification::Spoofed(SpoofReason::OutsideRanges)
        } else {
            Verification::Unverified(UnverifiedReason::NotAuthoritative)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ranges::{RangeFormat, RangeSourceSpec};

    fn classifier() -> Classifier {
        let cat = Catalogue::parse(
            "t.toml",
            r#"
[[agent]]
name = "GPTBot"
operator = "OpenAI"
class = "ai-training"
tokens = ["GPTBot"]
ip_ranges = ["gpt"]

[[agent]]
name = "meta-externalagent"
operator = "Meta"
class = "ai-training"
tokens = ["meta-externalagent"]
ip_ranges = ["meta"]

[[agent]]
name = "Applebot"
operator = "Apple"
class = "search"
tokens = ["Applebot"]
fcrdns = [".applebot.apple.com"]

[[agent]]
name = "Foo"
operator = "Foo"
class = "ai-training"
tokens = ["FooBot"]
"#,
        )
        .unwrap();
        let specs = vec![
            RangeSourceSpec {
                name: "gpt".into(),
                file: "gpt.json".into(),
                url: "u".into(),
                format: RangeFormat::Vendor,
                service: None,
            },
            RangeSourceSpec {
                name: "meta".into(),
                file: "m.json".into(),
                url: "u".into(),
                format: RangeFormat::Ipverse,
                service: Some("Meta".into()),
            },
        ];
        let ranges = RangeTable::load(specs, |f| {
            Ok(if f == "gpt.json" {
                r#"{"prefixes":[{"ipv4Prefix":"20.0.0.0/24"}]}"#.into()
            } else {
                r#"{"services":{"Meta":{"ipv4":["31.13.0.0/16"],"ip_list_authoritative":false}}}"#
                    .into()
            })
        })
        .unwrap();
        let m = UaMatcher::new(&cat).unwrap();
        Classifier::new(cat, m, ranges).unwrap()
    }

    fn facts(ua: &'static str, ip: &str) -> Client {
        let c = classifier();
        c.classify(&RequestFacts {
            client_ip: ip.parse().ok(),
            user_agent: ua.as_bytes(),
            ..RequestFacts::default()
        })
    }

    #[test]
    fn gptbot_inside_its_ranges_is_verified_by_ip_range() {
        let c = facts("Mozilla/5.0 (compatible; GPTBot/1.2)", "20.0.0.7");
        assert_eq!(c.class, Class::AiTraining);
        assert_eq!(c.verification, Verification::Verified(VerifiedBy::IpRange));
        assert_eq!(c.verification.to_string(), "verified(ip-range)");
    }

    #[test]
    fn gptbot_outside_its_ranges_is_spoofed() {
        let c = facts("Mozilla/5.0 (compatible; GPTBot/1.2)", "203.0.113.9");
        assert_eq!(
            c.verification,
            Verification::Spoofed(SpoofReason::OutsideRanges)
        );
    }

    #[test]
    fn outside_a_non_authoritative_list_is_unverified_not_spoofed() {
        let c = facts("meta-externalagent/1.1", "203.0.113.9");
        assert_eq!(
            c.verification,
            Verification::Unverified(UnverifiedReason::NotAuthoritative)
        );
        let c = facts("meta-externalagent/1.1", "31.13.5.5");
        assert_eq!(c.verification, Verification::Verified(VerifiedBy::IpRange));
    }

    #[test]
    fn fcrdns_only_agents_are_not_checked_offline() {
        let c = facts("Mozilla/5.0 (Applebot/0.1)", "203.0.113.9");
        assert_eq!(
            c.verification,
            Verification::Unverified(UnverifiedReason::NotChecked)
        );
    }

    #[test]
    fn agents_without_sources_are_unverified() {
        let c = facts("FooBot/1", "203.0.113.9");
        assert_eq!(
            c.verification,
            Verification::Unverified(UnverifiedReason::NothingToCheck)
        );
    }

    #[test]
    fn spoof_reasons_have_codes_and_stay_copy() {
        let v = Verification::Spoofed(SpoofReason::InvalidSignature("expired"));
        let copy = v;
        assert_eq!(copy, v);
        assert_eq!(v.to_string(), "spoofed(expired)");
        assert_eq!(
            Verification::Spoofed(SpoofReason::OutsideRanges).to_string(),
            "spoofed(outside-ranges)"
        );
        assert_eq!(SpoofReason::InvalidSignature("replayed").code(), "replayed");
        assert_eq!(SpoofReason::OutsideRanges.code(), "outside-ranges");
    }

    #[test]
    fn missing_address_is_unverified() {
        let c = facts("GPTBot/1.2", "-");
        assert_eq!(
            c.verification,
            Verification::Unverified(UnverifiedReason::NoAddress)
        );
    }

    #[test]
    fn browsers_make_no_claim() {
        let c = facts(
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
            "20.0.0.7",
        );
        assert_eq!(c.class, Class::Browser);
        assert_eq!(c.agent, None);
        assert_eq!(
            c.verification,
            Verification::Unverified(UnverifiedReason::NoClaim)
        );
    }

    #[test]
    fn unknown_source_names_the_agent_line() {
        let cat = Catalogue::parse(
            "t.toml",
            "[[agent]]\nname = \"X\"\noperator = \"o\"\nclass = \"tool\"\ntokens = [\"X\"]\nip_ranges = [\"nope\"]\n",
        )
        .unwrap();
        let m = UaMatcher::new(&cat).unwrap();
        let e = Classifier::new(
            cat,
            m,
            RangeTable::load(vec![], |_| Err(String::new())).unwrap(),
        )
        .err()
        .unwrap();
        assert_eq!(
            e.to_string(),
            "t.toml:2: agent `X` names unknown ip_ranges source `nope`"
        );
    }
}
