//! The policy: an ordered list of rules, and the pure decision for one request.
//!
//! TOML (the `[policy]` table and `[[rule]]` array of `tollgate.toml`; every key documented in
//! `examples/tollgate.toml`):
//!
//! ```toml
//! [policy]
//! default = "allow"                 # action when no rule matches
//! license_path = "/license.xml"     # never blocked or charged (with /robots.txt, /sitemap.xml, /.well-known/*)
//!
//! [[rule]]
//! name = "deny-spoofed"
//! when = { verification = "spoofed" }
//! action = "deny"
//!
//! [[rule]]
//! name = "charge-ai-training"
//! when = { class = "ai-training", path = ["/articles/**"] }
//! action = "charge"
//! price = "USD 0.002"
//! ```
//!
//! A rule matches when every condition it names holds (a list means any of its values); the
//! first matching rule decides. A rule with `shadow = true` is recorded when it matches but does
//! not decide: evaluation goes on to the next rule (DESIGN.md: shadow rules record what they would
//! have done). Paths are normalised first ([`crate::path::normalize`]) and globs compare ASCII
//! case-insensitively: `*` stays within one segment, `**` crosses segments.

use std::fmt;
use tollgate_agents::catalogue::line_of;

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use serde::Deserialize;
use tollgate_agents::verify::{Client, RequestFacts, Verification, VerifiedBy};
use tollgate_agents::{Catalogue, Class};
use toml::Spanned;

use crate::money::Money;

/// What to do with a request (DESIGN.md vocabulary).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Serve it.
    Allow,
    /// Refuse it (403).
    Deny,
    /// Quote a price (402 unless paid; the payment protocol is the gateway's).
    Charge(Money),
    /// Ask a browser to prove it is one.
    Challenge,
    /// Rate-limit with a token bucket.
    Limit(LimitSpec),
    /// Answer slowly, within the tarpit's global budget.
    Tarpit,
}

impl Action {
    /// The action's vocabulary name (`allow`, `deny`, `charge`, …).
    pub fn name(&self) -> &'static str {
        match self {
            Action::Allow => "allow",
            Action::Deny => "deny",
            Action::Charge(_) => "charge",
            Action::Challenge => "challenge",
            Action::Limit(_) => "limit",
            Action::Tarpit => "tarpit",
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Charge(p) => {
                f.write_str("charge(")?;
                fmt::Display::fmt(p, f)?;
                f.write_str(")")
            }
            other => f.write_str(other.name()),
        }
    }
}

/// What a `limit` bucket is keyed on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LimitKey {
    /// The client's address prefix: /24 for IPv4, /56 for IPv6.
    Prefix,
    /// The catalogue agent (all its clients share one bucket).
    Agent,
    /// The operator (all its agents share one bucket).
    Operator,
}

/// Token-bucket parameters of a `limit` rule.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitSpec {
    /// Tokens added per second (requests per second sustained). Must be > 0.
    pub per_second: f64,
    /// Bucket size (requests allowed in a burst). Must be ≥ 1.
    pub burst: u32,
    /// What shares a bucket.
    #[serde(default = "default_key")]
    pub key: LimitKey,
}

impl Eq for LimitSpec {}

fn default_key() -> LimitKey {
    LimitKey::Prefix
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
enum ActionName {
    Allow,
    Deny,
    Charge,
    Challenge,
    Limit,
    Tarpit,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
enum OneOrMany<T> {
    One(T),
    Many(Vec<T>),
}

impl<T> OneOrMany<T> {
    fn into_vec(self) -> Vec<T> {
        match self {
            OneOrMany::One(t) => vec![t],
            OneOrMany::Many(v) => v,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct WhenDoc {
    class: Option<OneOrMany<Class>>,
    agent: Option<OneOrMany<String>>,
    operator: Option<OneOrMany<String>>,
    verification: Option<OneOrMany<String>>,
    path: Option<OneOrMany<String>>,
    method: Option<OneOrMany<String>>,
    /// `{ "x-api-key" = "*" }` (present) or `{ "accept" = "text/html" }` (contains value).
    header: Option<std::collections::BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleDoc {
    name: Spanned<String>,
    #[serde(default)]
    when: WhenDoc,
    action: ActionName,
    #[serde(default)]
    shadow: bool,
    price: Option<String>,
    limit: Option<LimitSpec>,
}

/// The `[policy]` table.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyDoc {
    #[serde(default = "allow_name")]
    default: ActionName,
    #[serde(default)]
    license_path: Option<String>,
}

fn allow_name() -> ActionName {
    ActionName::Allow
}

impl Default for PolicyDoc {
    fn default() -> Self {
        PolicyDoc {
            default: ActionName::Allow,
            license_path: None,
        }
    }
}

/// The part of `tollgate.toml` the policy reads; other tables are ignored here.
#[derive(Debug, Deserialize)]
struct FileDoc {
    #[serde(default)]
    policy: Option<PolicyDoc>,
    #[serde(default, rename = "rule")]
    rules: Vec<RuleDoc>,
}

/// Which verification outcomes a rule accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VerificationMatch {
    Verified(Option<VerifiedBy>),
    Unverified,
    Spoofed,
}

impl VerificationMatch {
    fn parse(s: &str) -> Option<VerificationMatch> {
        Some(match s {
            "verified" => VerificationMatch::Verified(None),
            "verified(ip-range)" => VerificationMatch::Verified(Some(VerifiedBy::IpRange)),
            "verified(fcrdns)" => VerificationMatch::Verified(Some(VerifiedBy::Fcrdns)),
            "verified(signature)" => VerificationMatch::Verified(Some(VerifiedBy::Signature)),
            "verified(api-key)" => VerificationMatch::Verified(Some(VerifiedBy::ApiKey)),
            "unverified" => VerificationMatch::Unverified,
            "spoofed" => VerificationMatch::Spoofed,
            _ => return None,
        })
    }

    fn matches(self, v: Verification) -> bool {
        match (self, v) {
            (VerificationMatch::Verified(None), Verification::Verified(_)) => true,
            (VerificationMatch::Verified(Some(a)), Verification::Verified(b)) => a == b,
            (VerificationMatch::Unverified, Verification::Unverified(_)) => true,
            (VerificationMatch::Spoofed, Verification::Spoofed(_)) => true,
            _ => false,
        }
    }
}

/// One compiled rule.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Its name, as reported in decisions, logs and metrics.
    pub name: String,
    /// Its action.
    pub action: Action,
    /// Record-only.
    pub shadow: bool,
    /// 1-based line of `name =` in the policy file.
    pub line: usize,
    /// `when.class` (empty = any).
    pub classes: Vec<Class>,
    /// `when.agent` names (empty = any).
    pub agents: Vec<String>,
    /// `when.operator` names (empty = any).
    pub operators: Vec<String>,
    verification: Vec<VerificationMatch>,
    /// `when.path` globs as written (empty = any path).
    pub path_globs: Vec<String>,
    paths: Option<GlobSet>,
    /// `when.method` (empty = any).
    pub methods: Vec<String>,
    /// `when.header`: (lower-case name, lower-case value to contain; `None` = present).
    pub headers: Vec<(String, Option<String>)>,
}

impl Rule {
    /// True if the rule has conditions robots.txt cannot express (verification, method,
    /// header): such rules are enforced by the gateway but not announced in robots.txt.
    pub fn needs_more_than_robots(&self) -> bool {
        !self.verification.is_empty() || !self.methods.is_empty() || !self.headers.is_empty()
    }
}

/// A request's header lookup, so the policy needs no HTTP types. Names are ASCII
/// case-insensitive.
pub trait Headers {
    /// The value of the first header called `name`, if any.
    fn get(&self, name: &str) -> Option<&str>;

    /// True if a header called `name` — any of them, when it is repeated — has a value for which
    /// `f` is true. The default looks at the first only; lookups that can hold repeated headers
    /// override it, so a rule cannot be dodged by sending a harmless copy first.
    fn any(&self, name: &str, f: &mut dyn FnMut(&str) -> bool) -> bool {
        self.get(name).is_some_and(f)
    }
}

/// No headers (log replays carry none but the User-Agent).
pub struct NoHeaders;

impl Headers for NoHeaders {
    fn get(&self, _: &str) -> Option<&str> {
        None
    }
}

impl Rule {
    fn matches(
        &self,
        catalogue: &Catalogue,
        facts: &RequestFacts<'_>,
        path: &str,
        client: &Client,
        headers: &dyn Headers,
    ) -> bool {
        if !self.classes.is_empty() && !self.classes.contains(&client.class) {
            return false;
        }
        let agent = client.agent.map(|id| catalogue.agent(id));
        if !self.agents.is_empty()
            && !agent.is_some_and(|a| self.agents.iter().any(|n| n.eq_ignore_ascii_case(&a.name)))
        {
            return false;
        }
        if !self.operators.is_empty()
            && !agent.is_some_and(|a| {
                self.operators
                    .iter()
                    .any(|n| n.eq_ignore_ascii_case(&a.operator))
            })
        {
            return false;
        }
        if !self.verification.is_empty()
            && !self
                .verification
                .iter()
                .any(|v| v.matches(client.verification))
        {
            return false;
        }
        if let Some(globs) = &self.paths {
            if !globs.is_match(path) {
                return false;
            }
        }
        if !self.methods.is_empty()
            && !self
                .methods
                .iter()
                .any(|m| m.eq_ignore_ascii_case(facts.method))
        {
            return false;
        }
        self.headers.iter().all(|(name, want)| match want {
            None => headers.any(name, &mut |_| true),
            Some(w) => headers.any(name, &mut |v| v.to_ascii_lowercase().contains(w.as_str())),
        })
    }
}

/// Paths that are never blocked or charged (DESIGN.md invariant 3).
pub fn is_protected_path(path: &str, license_path: Option<&str>) -> bool {
    path == "/robots.txt"
        || path == "/sitemap.xml"
        || path.starts_with("/.well-known/")
        || license_path.is_some_and(|l| l == path)
}

/// The outcome for one request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    /// What to do.
    pub action: Action,
    /// The deciding rule's index in [`Policy::rules`]; `None` for the default action or a
    /// protected path.
    pub rule: Option<usize>,
    /// Why no rule decided: `Some("protected-path")` or `Some("default")`.
    pub reason: Option<&'static str>,
    /// Shadow rules that matched before the decision (indexes), in order.
    pub shadowed: Vec<usize>,
}

/// A compiled policy.
#[derive(Debug, Clone)]
pub struct Policy {
    rules: Vec<Rule>,
    default: Action,
    license_path: Option<String>,
}

/// A policy-file error, naming file and line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct PolicyError {
    /// File.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

/// Slowest `limit` rate: one request a million seconds.
pub const LIMIT_MIN_PER_SECOND: f64 = 1e-6;

fn build_action(
    name: ActionName,
    price: Option<&str>,
    limit: Option<LimitSpec>,
) -> Result<Action, String> {
    match name {
        ActionName::Allow => Ok(Action::Allow),
        ActionName::Deny => Ok(Action::Deny),
        ActionName::Challenge => Ok(Action::Challenge),
        ActionName::Tarpit => Ok(Action::Tarpit),
        ActionName::Charge => {
            let p = price.ok_or("action \"charge\" needs `price = \"USD 0.002\"`")?;
            let m: Money = p.parse().map_err(|e| format!("price: {e}"))?;
            if m.micros == 0 {
                // A 402 asking for nothing only adds a round trip; free access is `allow`.
                return Err(format!(
                    "price: `{p}`: a charge must be above zero (to let the request in free, use action \"allow\")"
                ));
            }
            Ok(Action::Charge(m))
        }
        ActionName::Limit => {
            let l = limit.ok_or(
                "action \"limit\" needs `limit = { per_second = 1.0, burst = 10, key = \"prefix\" }`",
            )?;
            if !(l.per_second.is_finite() && l.per_second > 0.0) {
                return Err("limit.per_second must be a positive number".into());
            }
            if l.per_second < LIMIT_MIN_PER_SECOND {
                return Err(format!(
                    "limit.per_second must be at least {LIMIT_MIN_PER_SECOND} (one request in about 11.6 days); to refuse, use action \"deny\""
                ));
            }
            if l.burst == 0 {
                return Err("limit.burst must be at least 1".into());
            }
            Ok(Action::Limit(l))
        }
    }
}

impl Policy {
    /// Parses the `[policy]` table and `[[rule]]` array of a `tollgate.toml` text. Other tables
    /// are left to their owners. `catalogue` checks that named agents and operators exist.
    ///
    /// Errors (with the line): TOML syntax, unknown keys, unknown class / action /
    /// verification, a `charge` without a valid price above zero, a `limit` without valid parameters, a bad
    /// glob, an agent or operator the catalogue does not have, duplicate rule names.
    pub fn parse(file: &str, src: &str, catalogue: &Catalogue) -> Result<Policy, PolicyError> {
        let err = |offset: usize, message: String| PolicyError {
            file: file.to_string(),
            line: line_of(src, offset),
            message,
        };
        let doc: FileDoc = toml::from_str(src).map_err(|e| {
            err(
                e.span().map(|s| s.start).unwrap_or(0),
                e.message().to_string(),
            )
        })?;
        let pdoc = doc.policy.unwrap_or_default();
        let default = build_action(pdoc.default, None, None)
            .map_err(|m| err(0, format!("[policy] default: {m}")))?;
        let mut rules: Vec<Rule> = Vec::new();
        for r in doc.rules {
            let name_at = r.name.span().start;
            let name = r.name.into_inner();
            let line_err = |m: String| err(name_at, format!("rule `{name}`: {m}"));
            if rules.iter().any(|x| x.name == name) {
                return Err(err(name_at, format!("duplicate rule name `{name}`")));
            }
            let action = build_action(r.action, r.price.as_deref(), r.limit).map_err(&line_err)?;
            let w = r.when;
            let agents = w.agent.map(OneOrMany::into_vec).unwrap_or_default();
            for a in &agents {
                if !catalogue
                    .agents()
                    .iter()
                    .any(|x| x.name.eq_ignore_ascii_case(a))
                {
                    return Err(line_err(format!(
                        "unknown agent `{a}` (see `tollgate catalogue list`)"
                    )));
                }
            }
            let operators = w.operator.map(OneOrMany::into_vec).unwrap_or_default();
            for o in &operators {
                if !catalogue
                    .agents()
                    .iter()
                    .any(|x| x.operator.eq_ignore_ascii_case(o))
                {
                    return Err(line_err(format!("unknown operator `{o}`")));
                }
            }
            let mut verification = Vec::new();
            for v in w.verification.map(OneOrMany::into_vec).unwrap_or_default() {
                verification.push(VerificationMatch::parse(&v).ok_or_else(|| {
                    line_err(format!("unknown verification `{v}` (verified, verified(ip-range), verified(fcrdns), verified(signature), verified(api-key), unverified, spoofed)"))
                })?);
            }
            let path_globs = w.path.map(OneOrMany::into_vec).unwrap_or_default();
            let paths = match (!path_globs.is_empty()).then(|| path_globs.clone()) {
                None => None,
                Some(globs) => {
                    let mut b = GlobSetBuilder::new();
                    for g in globs {
                        if !g.starts_with('/') {
                            return Err(line_err(format!("path `{g}` must start with `/`")));
                        }
                        let glob: Glob = GlobBuilder::new(&g)
                            .case_insensitive(true)
                            .literal_separator(true)
                            .build()
                            .map_err(|e| line_err(format!("path `{g}`: {e}")))?;
                        b.add(glob);
                    }
                    Some(b.build().map_err(|e| line_err(e.to_string()))?)
                }
            };
            let headers = w
                .header
                .unwrap_or_default()
                .into_iter()
                .map(|(k, v)| {
                    (
                        k.to_ascii_lowercase(),
                        (v != "*").then(|| v.to_ascii_lowercase()),
                    )
                })
                .collect();
            rules.push(Rule {
                name,
                action,
                shadow: r.shadow,
                line: line_of(src, name_at),
                classes: w.class.map(OneOrMany::into_vec).unwrap_or_default(),
                agents,
                operators,
                verification,
                path_globs,
                paths,
                methods: w.method.map(OneOrMany::into_vec).unwrap_or_default(),
                headers,
            });
        }
        Ok(Policy {
            rules,
            default,
            license_path: pdoc.license_path,
        })
    }

    /// The rules, in order.
    pub fn rules(&self) -> &[Rule] {
        &self.rules
    }

    /// The action taken when no rule matches (`[policy] default`).
    pub fn default_action(&self) -> &Action {
        &self.default
    }

    /// The licence document path, if configured.
    pub fn license_path(&self) -> Option<&str> {
        self.license_path.as_deref()
    }

    /// Decides one request. Pure: same inputs, same decision.
    ///
    /// `facts.path` may be raw; it is normalised here. Protected paths (invariant 3) are always
    /// allowed before any rule is consulted.
    pub fn decide(
        &self,
        catalogue: &Catalogue,
        facts: &RequestFacts<'_>,
        client: &Client,
        headers: &dyn Headers,
    ) -> Decision {
        let path = crate::path::normalize(facts.path);
        if is_protected_path(&path, self.license_path.as_deref()) {
            return Decision {
                action: Action::Allow,
                rule: None,
                reason: Some("protected-path"),
                shadowed: Vec::new(),
            };
        }
        let mut shadowed = Vec::new();
        for (i, r) in self.rules.iter().enumerate() {
            if r.matches(catalogue, facts, &path, client, headers) {
                if r.shadow {
                    shadowed.push(i);
                    continue;
                }
                return Decision {
                    action: r.action.clone(),
                    rule: Some(i),
                    reason: None,
                    shadowed,
                };
            }
        }
        Decision {
            action: self.default.clone(),
            rule: None,
            reason: Some("default"),
            shadowed,
        }
    }

    /// The name of the rule that decided, or the reason (`default`, `protected-path`).
    pub fn rule_name<'a>(&'a self, d: &'a Decision) -> &'a str {
        match d.rule {
            Some(i) => &self.rules[i].name,
            None => d.reason.unwrap_or("default"),
        }
    }
}
