//! robots.txt generation from the policy (RFC 9309, draft-ietf-aipref-attach-05 §5, Content
//! Signals, RSL 1.0 `License:`).
//!
//! # What a group says
//!
//! For every catalogue agent with product tokens, the policy's rules are walked in order, the way
//! [`Policy::decide`] walks them (first match wins), keeping the rules that apply to the agent
//! (`class`, `agent`, `operator`: all named conditions must hold) and that robots.txt can express
//! (not shadow, not [`Rule::needs_more_than_robots`]: verification, method and header conditions
//! are enforced by the gateway only, so a rule such as `deny-spoofed` is never announced):
//!
//! - `deny`, `challenge`, `tarpit` mean "do not crawl": `Disallow:` for the rule's paths
//!   (`Disallow: /` when it names none);
//! - `allow`, `limit`, `charge` mean "may crawl": no `Disallow:`; an `Allow:` only where it carves
//!   a path out of a later, broader disallow. A group reached by a `charge` rule also carries a
//!   group `License:` line and a comment with the price (a paying crawler may fetch);
//! - a rule without paths ends the walk (later rules cannot match that agent); otherwise the
//!   policy's default action closes it.
//!
//! The `User-agent: *` group is the same walk over the rules that name no class, agent or operator
//! (the rules that apply to everyone). Agents whose lines equal the `*` group's are left to it;
//! the others are grouped by identical lines into one group with several `User-agent:` lines
//! (RFC 9309 §2.1), sorted case-insensitively. If several agents share one token and disagree,
//! the token gets the strictest combination (union of disallows, only the allows all agree on).
//!
//! # Globs to robots.txt patterns
//!
//! Policy paths are globs (`*` within a segment, `**` across, `?`, `[…]`, `{a,b}`); robots.txt
//! patterns are prefixes with `*` (any run of octets) and a final `$` (RFC 9309 §2.2.3). The
//! conversion is chosen so that robots.txt is never *looser* than the gateway for a disallow:
//!
//! | glob | `Disallow:` pattern |
//! |---|---|
//! | `/private/**` | `/private/` (trailing `*`/`**` dropped: prefix semantics) |
//! | `/private` | `/private` (a prefix: also covers `/private-x`, stricter than the gateway) |
//! | `/a/*/b`, `/a/**/b`, `/a?c`, `/a[0-9]` | `/a/*/b`, `/a/*/b`, `/a*c`, `/a*` (wider) |
//! | `/{a,b}/x` | two patterns `/a/x`, `/b/x` |
//! | `#`, `$`, space, controls, non-ASCII | percent-encoded (`%23`, `%24`, `%20`, UTF-8 octets) |
//!
//! A pattern covered by a shorter one in the same group is dropped (`/private/` under `/private`).
//! An `Allow:` carve-out of a glob without a trailing wildcard ends in `$` (exact). Policy globs
//! compare ASCII case-insensitively, robots.txt paths case-sensitively: a crawler fetching
//! `/PRIVATE` is not told off by robots.txt, but the gateway still denies it.
//!
//! # Protected paths (DESIGN.md invariant 3)
//!
//! `/robots.txt`, `/sitemap.xml`, `/.well-known/` and the licence document (the policy's
//! `license_path` and `[signals.license] path`) are never disallowed: disallow patterns inside
//! `/.well-known/` are dropped, and a group whose disallows would match a protected path gets
//! `Allow: /robots.txt$`, `Allow: /sitemap.xml$`, `Allow: /.well-known/`, `Allow: /license.xml$`
//! as needed (longest match wins, RFC 9309 §2.2.2).
//!
//! # Merging the origin's robots.txt (`origin_robots`)
//!
//! - Its `Sitemap:` records are kept (after the configured ones, duplicates dropped).
//! - Its `User-agent: *` groups: their `Disallow:` paths are added to *every* generated group
//!   (the origin asked everybody to stay out; tollgate only adds restrictions); their other
//!   lines (`Allow:`, `Crawl-delay:`, …) are dropped.
//! - Its groups for other tokens: a token tollgate generates a group for is taken out of them
//!   (tollgate's group replaces the origin's). A catalogue token named there always gets a
//!   tollgate group. The remaining tokens (unknown to the catalogue) keep the origin's group, with
//!   the `*` group's disallows added and origin `Allow:` lines that would undo them dropped;
//!   other records of the group (`Crawl-delay:`, …) are kept as written.
//! - Everything else (records before the first group, `License:`, `Content-Usage:`) is
//!   replaced by tollgate's own.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;

use tollgate_agents::{Agent, Catalogue};
use tollgate_policy::rules::Rule;
use tollgate_policy::{Action, Policy};

use crate::config::SignalsConfig;

/// True for actions that mean "do not crawl" in robots.txt.
fn forbids_crawl(action: &Action) -> bool {
    matches!(action, Action::Deny | Action::Challenge | Action::Tarpit)
}

/// True if robots.txt can announce the rule.
fn expressible(rule: &Rule) -> bool {
    !rule.shadow && !rule.needs_more_than_robots()
}

fn applies_to_agent(rule: &Rule, agent: &Agent) -> bool {
    (rule.classes.is_empty() || rule.classes.contains(&agent.class))
        && (rule.agents.is_empty()
            || rule
                .agents
                .iter()
                .any(|n| n.eq_ignore_ascii_case(&agent.name)))
        && (rule.operators.is_empty()
            || rule
                .operators
                .iter()
                .any(|o| o.eq_ignore_ascii_case(&agent.operator)))
}

fn applies_to_everyone(rule: &Rule) -> bool {
    rule.classes.is_empty() && rule.agents.is_empty() && rule.operators.is_empty()
}

/// The policy's default action (`[policy] default`).
fn default_action(policy: &Policy, _catalogue: &Catalogue) -> Option<Action> {
    Some(policy.default_action().clone())
}

/// One converted glob: a robots.txt pattern in prefix form and whether the glob must match to
/// the end of the path (no trailing wildcard).
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pattern {
    prefix: String,
    exact: bool,
}

/// Expands `{a,b}` alternatives (nested allowed). `None` if there would be more than 64.
fn expand_braces(glob: &str) -> Option<Vec<String>> {
    let b = glob.as_bytes();
    let mut depth = 0usize;
    let mut open = None;
    let mut commas = Vec::new();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'{' => {
                if depth == 0 {
                    open = Some(i);
                    commas.clear();
                }
                depth += 1;
            }
            b',' if depth == 1 => commas.push(i),
            b'}' if depth > 0 => {
                depth -= 1;
                if depth == 0 {
                    let start = open?;
                    let (head, tail) = (&glob[..start], &glob[i + 1..]);
                    let mut bounds = vec![start];
                    bounds.extend(&commas);
                    bounds.push(i);
                    let mut out = Vec::new();
                    for w in bounds.windows(2) {
                        let alt = &glob[w[0] + 1..w[1]];
                        for rest in expand_braces(&format!("{alt}{tail}"))? {
                            out.push(format!("{head}{rest}"));
                        }
                        if out.len() > 64 {
                            return None;
                        }
                    }
                    return Some(out);
                }
            }
            _ => {}
        }
        i += 1;
    }
    Some(vec![glob.to_string()])
}

/// Converts one glob (no braces left, or braces to widen) to a robots.txt pattern (module docs).
fn convert_glob(glob: &str) -> Pattern {
    let mut out = String::new();
    let mut chars = glob.chars().peekable();
    let star = |out: &mut String| {
        if !out.ends_with('*') {
            out.push('*');
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '*' | '?' => star(&mut out),
            '[' => {
                // A class: skip to its closing `]` (a `]` right after `[` or `[!` is literal).
                let mut first = true;
                for d in chars.by_ref() {
                    if d == ']' && !first {
                        break;
                    }
                    first = first && (d == '!' || d == '^');
                    if d != '!' && d != '^' {
                        first = false;
                    }
                }
                star(&mut out);
            }
            '{' => {
                let mut depth = 1;
                for d in chars.by_ref() {
                    match d {
                        '{' => depth += 1,
                        '}' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                star(&mut out);
            }
            '\\' => {
                if let Some(d) = chars.next() {
                    push_literal(&mut out, d);
                }
            }
            c => push_literal(&mut out, c),
        }
    }
    let exact = !out.ends_with('*');
    while out.ends_with('*') {
        out.pop();
    }
    if out.is_empty() {
        out.push('/');
    }
    Pattern { prefix: out, exact }
}

fn push_literal(out: &mut String, c: char) {
    match c {
        '*' | '$' | '#' => {
            let _ = write!(out, "%{:02X}", c as u32);
        }
        c if c.is_ascii_graphic() => out.push(c),
        c => {
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                let _ = write!(out, "%{b:02X}");
            }
        }
    }
}

/// The robots.txt patterns for a policy glob.
fn glob_patterns(glob: &str) -> Vec<Pattern> {
    match expand_braces(glob) {
        Some(globs) => globs.iter().map(|g| convert_glob(g)).collect(),
        None => vec![convert_glob(glob)],
    }
}

/// RFC 9309 §2.2.3 matching of `pattern` (with `*` and a final `$`) against `text` (a path).
/// With `text_is_prefix`, also true when some continuation of `text` could match.
fn pattern_matches(pattern: &str, text: &str, text_is_prefix: bool) -> bool {
    let (pat, anchored) = match pattern.strip_suffix('$') {
        Some(p) => (p.as_bytes(), true),
        None => (pattern.as_bytes(), false),
    };
    let close = |states: &mut Vec<bool>| {
        for i in 0..pat.len() {
            if states[i] && pat[i] == b'*' {
                states[i + 1] = true;
            }
        }
    };
    let mut states = vec![false; pat.len() + 1];
    states[0] = true;
    close(&mut states);
    for &c in text.as_bytes() {
        if !anchored && states[pat.len()] {
            return true;
        }
        let mut next = vec![false; pat.len() + 1];
        for i in 0..pat.len() {
            if states[i] {
                if pat[i] == b'*' {
                    next[i] = true;
                } else if pat[i] == c {
                    next[i + 1] = true;
                }
            }
        }
        close(&mut next);
        states = next;
        if !states.contains(&true) {
            return false;
        }
    }
    states[pat.len()] || (text_is_prefix && states.contains(&true))
}

/// The literal start of a pattern (up to the first `*` or `$`).
fn literal_prefix(p: &str) -> &str {
    &p[..p.find(['*', '$']).unwrap_or(p.len())]
}

/// True when every path `inner` matches is also matched by `outer` (prefix forms).
fn covers(outer: &Pattern, inner: &Pattern) -> bool {
    if outer.exact {
        return inner.exact && outer.prefix == inner.prefix;
    }
    pattern_matches(&outer.prefix, literal_prefix(&inner.prefix), false)
}

/// What one group says before protected paths and redundancy are handled: disallow and allow
/// patterns (allows already in final form, with `$` when exact), plus the charge notes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Plan {
    disallow: BTreeSet<String>,
    allow: BTreeSet<String>,
    /// `rule: price` of the charge rules that reach the group.
    charges: BTreeSet<String>,
    /// Names of the rules that shaped the group, in policy order.
    rules: Vec<String>,
}

/// Walks the rules that `applies` selects, first match wins (module docs).
fn walk(policy: &Policy, applies: impl Fn(&Rule) -> bool, default_crawl: bool) -> Plan {
    let mut entries: Vec<(Pattern, bool)> = Vec::new();
    let mut plan = Plan::default();
    let mut closed = false;
    for rule in policy
        .rules()
        .iter()
        .filter(|r| expressible(r) && applies(r))
    {
        let crawl = !forbids_crawl(&rule.action);
        plan.rules.push(rule.name.clone());
        if let Action::Charge(price) = &rule.action {
            plan.charges.insert(format!("{}: {price}", rule.name));
        }
        if rule.path_globs.is_empty() {
            entries.push((
                Pattern {
                    prefix: "/".into(),
                    exact: false,
                },
                crawl,
            ));
            closed = true;
            break;
        }
        for p in rule.path_globs.iter().flat_map(|g| glob_patterns(g)) {
            // First match wins: an earlier rule with the other verdict that covers this pattern
            // has already decided these paths.
            if !entries.iter().any(|(q, c)| *c != crawl && covers(q, &p)) {
                entries.push((p, crawl));
            }
        }
    }
    if !closed {
        entries.push((
            Pattern {
                prefix: "/".into(),
                exact: false,
            },
            default_crawl,
        ));
    }
    for (p, crawl) in entries {
        if crawl {
            plan.allow.insert(if p.exact {
                format!("{}$", p.prefix)
            } else {
                p.prefix
            });
        } else {
            plan.disallow.insert(p.prefix);
        }
    }
    plan
}

/// The strictest combination of two plans for one token.
fn merge_strictest(a: &Plan, b: &Plan) -> Plan {
    let mut rules = a.rules.clone();
    for r in &b.rules {
        if !rules.contains(r) {
            rules.push(r.clone());
        }
    }
    Plan {
        disallow: a.disallow.union(&b.disallow).cloned().collect(),
        allow: a.allow.intersection(&b.allow).cloned().collect(),
        charges: a.charges.union(&b.charges).cloned().collect(),
        rules,
    }
}

/// The final lines of a group: `Allow:`/`Disallow:` in a stable order.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
struct Lines(Vec<(bool, String)>);

/// Applies the protected paths and drops redundant patterns.
fn finalize(plan: &Plan, protected: &[(String, String, bool)]) -> Lines {
    let well_known = "/.well-known/";
    let mut disallow: Vec<&String> = plan
        .disallow
        .iter()
        .filter(|d| !literal_prefix(d).starts_with(well_known))
        .collect();
    // Drop disallows covered by another (shorter) disallow.
    let all = disallow.clone();
    disallow.retain(|d| {
        !all.iter().any(|o| {
            o != d
                && covers(
                    &Pattern {
                        prefix: o.to_string(),
                        exact: false,
                    },
                    &Pattern {
                        prefix: d.to_string(),
                        exact: false,
                    },
                )
        })
    });
    let all_blocked = disallow.iter().any(|d| d.as_str() == "/");
    if all_blocked {
        disallow.retain(|d| d.as_str() == "/");
    }
    // Keep only allows that carve something out of a disallow.
    let mut allow: BTreeSet<String> = plan
        .allow
        .iter()
        .filter(|a| {
            a.as_str() == "/"
                || disallow
                    .iter()
                    .any(|d| pattern_matches(d, literal_prefix(a), true))
        })
        .cloned()
        .collect();
    if all_blocked {
        allow.remove("/");
    }
    for (pattern, text, is_prefix) in protected {
        if disallow
            .iter()
            .any(|d| pattern_matches(d, text, *is_prefix))
        {
            allow.insert(pattern.clone());
        }
    }
    let mut lines = Vec::new();
    if allow.remove("/") {
        lines.push((true, "/".to_string()));
    }
    if all_blocked {
        lines.push((false, "/".to_string()));
    } else {
        lines.extend(disallow.iter().map(|d| (false, d.to_string())));
    }
    lines.extend(allow.into_iter().map(|a| (true, a)));
    Lines(lines)
}

/// One origin group: its tokens and its records `(lower-case key, value)`.
type OriginGroup = (Vec<String>, Vec<(String, String)>);

/// Generated groups keyed by (lines, charge notes): (tokens, rule names).
type GroupMap = BTreeMap<(Lines, BTreeSet<String>), (Vec<String>, Vec<String>)>;

/// An origin robots.txt, parsed just enough to merge it.
#[derive(Debug, Default)]
struct Origin {
    /// (tokens, records `(lower-case key, value)`), in file order.
    groups: Vec<OriginGroup>,
    sitemaps: Vec<String>,
}

/// Parses an origin robots.txt (RFC 9309 §2.2 record syntax; lenient: lines that are not
/// `key: value` are skipped, records before the first group other than `Sitemap:` are ignored).
fn parse_origin(text: &str) -> Origin {
    let mut o = Origin::default();
    let mut in_rules = false;
    for raw in text.lines() {
        let line = raw.split('#').next().unwrap_or("").trim();
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        let key = key.trim().to_ascii_lowercase();
        let value = value.trim().to_string();
        match key.as_str() {
            "sitemap" => o.sitemaps.push(value),
            "user-agent" => {
                if in_rules || o.groups.is_empty() {
                    o.groups.push((Vec::new(), Vec::new()));
                    in_rules = false;
                }
                if let Some(g) = o.groups.last_mut() {
                    g.0.push(value);
                }
            }
            _ => {
                if let Some(g) = o.groups.last_mut() {
                    g.1.push((key, value));
                    in_rules = true;
                }
            }
        }
    }
    o
}

/// A token can be written on a `User-agent:` line.
fn writable_token(t: &str) -> bool {
    !t.is_empty()
        && !t.contains('#')
        && t.chars().all(|c| c == ' ' || c.is_ascii_graphic())
        && t.trim() == t
}

fn record_name(key: &str) -> String {
    match key {
        "allow" => "Allow".into(),
        "disallow" => "Disallow".into(),
        "crawl-delay" => "Crawl-delay".into(),
        other => {
            let mut s = String::new();
            for (i, part) in other.split('-').enumerate() {
                if i > 0 {
                    s.push('-');
                }
                let mut cs = part.chars();
                if let Some(f) = cs.next() {
                    s.push(f.to_ascii_uppercase());
                    s.push_str(cs.as_str());
                }
            }
            s
        }
    }
}

/// Generates the site's robots.txt from the policy (module docs: what each group says, the glob
/// conversion, protected paths and the merge with `cfg.origin_robots`).
///
/// Output: UTF-8 text, `\n` line ends, deterministic for the same inputs. Structure: a header
/// comment (generator, rules expressed, rules enforced by the gateway only), the global
/// `License: <site_url><license.path>` record (RSL 1.0 §robots.txt), the groups of specific
/// tokens (sorted by first token), the origin's kept groups, the `User-agent: *` group (with
/// `Allow: /` unless everything is disallowed, `Content-Usage:` per attach-05 §5 and
/// `Content-Signal:`), then `Sitemap:` records. Every group carries `Content-Usage:
/// <cfg.content_usage>`.
pub fn generate_robots(policy: &Policy, catalogue: &Catalogue, cfg: &SignalsConfig) -> String {
    let default_crawl = default_action(policy, catalogue).is_none_or(|a| !forbids_crawl(&a));
    let origin = cfg
        .origin_robots
        .as_deref()
        .map(parse_origin)
        .unwrap_or_default();

    let mut license_paths = vec![cfg.license.path.clone()];
    if let Some(p) = policy.license_path() {
        if !license_paths.iter().any(|l| l == p) {
            license_paths.push(p.to_string());
        }
    }
    let mut protected: Vec<(String, String, bool)> = vec![
        ("/robots.txt$".into(), "/robots.txt".into(), false),
        ("/sitemap.xml$".into(), "/sitemap.xml".into(), false),
        ("/.well-known/".into(), "/.well-known/".into(), true),
    ];
    for l in &license_paths {
        protected.push((format!("{l}$"), l.clone(), false));
    }

    // Disallows the origin asked of everybody.
    let origin_everyone: Vec<String> = origin
        .groups
        .iter()
        .filter(|(tokens, _)| tokens.iter().any(|t| t == "*"))
        .flat_map(|(_, records)| records)
        .filter(|(k, v)| k == "disallow" && v.starts_with('/'))
        .map(|(_, v)| v.clone())
        .collect();
    let with_origin = |mut p: Plan| {
        p.disallow.extend(origin_everyone.iter().cloned());
        p
    };

    let star = with_origin(walk(policy, applies_to_everyone, default_crawl));
    let star_lines = finalize(&star, &protected);

    let origin_tokens: BTreeSet<String> = origin
        .groups
        .iter()
        .flat_map(|(t, _)| t)
        .map(|t| t.to_ascii_lowercase())
        .collect();

    // Per token (lower-case key): display spelling and plan.
    let mut by_token: BTreeMap<String, (String, Plan)> = BTreeMap::new();
    for agent in catalogue.agents() {
        let tokens: Vec<&String> = agent
            .product_tokens
            .iter()
            .filter(|t| writable_token(t))
            .collect();
        if tokens.is_empty() {
            continue;
        }
        let plan = with_origin(walk(policy, |r| applies_to_agent(r, agent), default_crawl));
        for t in tokens {
            by_token
                .entry(t.to_ascii_lowercase())
                .and_modify(|(_, p)| *p = merge_strictest(p, &plan))
                .or_insert_with(|| (t.clone(), plan.clone()));
        }
    }

    // Group tokens by identical lines and charges.
    let mut groups: GroupMap = BTreeMap::new();
    for (key, (token, plan)) in &by_token {
        let lines = finalize(plan, &protected);
        if lines == star_lines && plan.charges.is_empty() && !origin_tokens.contains(key) {
            continue;
        }
        let (tokens, rules) = groups
            .entry((lines, plan.charges.clone()))
            .or_insert_with(|| (Vec::new(), Vec::new()));
        tokens.push(token.clone());
        for r in &plan.rules {
            if !rules.contains(r) {
                rules.push(r.clone());
            }
        }
    }
    let mut groups: Vec<_> = groups
        .into_iter()
        .map(|((lines, charges), (mut tokens, rules))| {
            tokens.sort_by(|a, b| {
                a.to_ascii_lowercase()
                    .cmp(&b.to_ascii_lowercase())
                    .then(a.cmp(b))
            });
            (tokens, lines, charges, rules)
        })
        .collect();
    groups.sort_by(|a, b| {
        a.0[0]
            .to_ascii_lowercase()
            .cmp(&b.0[0].to_ascii_lowercase())
    });
    let generated: BTreeSet<String> = groups
        .iter()
        .flat_map(|g| &g.0)
        .map(|t| t.to_ascii_lowercase())
        .collect();

    let mut out = String::new();
    header(&mut out, policy);
    let _ = writeln!(out, "License: {}", cfg.license_url());

    for (tokens, lines, charges, rules) in &groups {
        out.push('\n');
        let _ = writeln!(out, "# policy rules: {}", rules.join(", "));
        for c in charges {
            let _ = writeln!(
                out,
                "# {c} per request (HTTP 402); licence terms: {}",
                cfg.license_url()
            );
        }
        for t in tokens {
            let _ = writeln!(out, "User-agent: {t}");
        }
        write_lines(&mut out, lines);
        let _ = writeln!(out, "Content-Usage: {}", cfg.content_usage);
        if !charges.is_empty() {
            let _ = writeln!(out, "License: {}", cfg.license_url());
        }
    }

    // The origin's groups for tokens tollgate does not generate.
    for (tokens, records) in &origin.groups {
        let kept: Vec<&String> = tokens
            .iter()
            .filter(|t| *t != "*" && !generated.contains(&t.to_ascii_lowercase()))
            .collect();
        if kept.is_empty() {
            continue;
        }
        let mut plan = star.clone();
        for (k, v) in records {
            match k.as_str() {
                "disallow" if v.starts_with('/') => {
                    plan.disallow.insert(v.clone());
                }
                "allow"
                    if v.starts_with('/')
                        && !star
                            .disallow
                            .iter()
                            .any(|d| pattern_matches(d, literal_prefix(v), true)) =>
                {
                    plan.allow.insert(v.clone());
                }
                _ => {}
            }
        }
        out.push_str("\n# from the origin's robots.txt, with the policy's rules for everyone\n");
        for t in kept {
            let _ = writeln!(out, "User-agent: {t}");
        }
        write_lines(&mut out, &finalize(&plan, &protected));
        for (k, v) in records {
            if !matches!(
                k.as_str(),
                "allow" | "disallow" | "license" | "content-usage" | "content-signal"
            ) {
                let _ = writeln!(out, "{}: {v}", record_name(k));
            }
        }
        let _ = writeln!(out, "Content-Usage: {}", cfg.content_usage);
    }

    out.push('\n');
    if !star.rules.is_empty() {
        let _ = writeln!(out, "# policy rules: {}", star.rules.join(", "));
    }
    out.push_str("User-agent: *\n");
    write_lines(&mut out, &star_lines);
    let _ = writeln!(out, "Content-Usage: {}", cfg.content_usage);
    let _ = writeln!(out, "Content-Signal: {}", cfg.content_signal);

    let mut sitemaps: Vec<&String> = Vec::new();
    for s in cfg.sitemaps.iter().chain(&origin.sitemaps) {
        if !sitemaps.contains(&s) {
            sitemaps.push(s);
        }
    }
    if !sitemaps.is_empty() {
        out.push('\n');
        for s in sitemaps {
            let _ = writeln!(out, "Sitemap: {s}");
        }
    }
    out
}

/// Robots patterns of the paths that rules for everyone deny (used by the RSL document): each
/// enforced, robots-expressible rule without class/agent/operator conditions whose action
/// forbids crawling and that names paths; patterns covered by another are dropped.
pub(crate) fn everyone_denied_patterns(policy: &Policy) -> Vec<String> {
    let mut pats: Vec<String> = Vec::new();
    for rule in policy
        .rules()
        .iter()
        .filter(|r| expressible(r) && applies_to_everyone(r) && forbids_crawl(&r.action))
    {
        for p in rule.path_globs.iter().flat_map(|g| glob_patterns(g)) {
            if !pats.contains(&p.prefix) {
                pats.push(p.prefix);
            }
        }
    }
    let all = pats.clone();
    pats.retain(|d| {
        !all.iter().any(|o| {
            o != d
                && covers(
                    &Pattern {
                        prefix: o.clone(),
                        exact: false,
                    },
                    &Pattern {
                        prefix: d.clone(),
                        exact: false,
                    },
                )
        })
    });
    pats
}

fn write_lines(out: &mut String, lines: &Lines) {
    for (allow, p) in &lines.0 {
        let _ = writeln!(out, "{}: {p}", if *allow { "Allow" } else { "Disallow" });
    }
}

fn header(out: &mut String, policy: &Policy) {
    let names = |f: &dyn Fn(&Rule) -> bool| {
        policy
            .rules()
            .iter()
            .filter(|r| f(r))
            .map(|r| r.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    out.push_str("# robots.txt generated by tollgate from the site policy; edit the policy, not this file.\n");
    let expressed = names(&|r| expressible(r));
    if !expressed.is_empty() {
        let _ = writeln!(out, "# Rules expressed here: {expressed}.");
    }
    let gateway = names(&|r| !r.shadow && r.needs_more_than_robots());
    if !gateway.is_empty() {
        let _ = writeln!(
            out,
            "# Enforced by the gateway only (not expressible in robots.txt): {gateway}."
        );
    }
    let shadow = names(&|r| r.shadow);
    if !shadow.is_empty() {
        let _ = writeln!(out, "# Shadow rules (recorded, not enforced): {shadow}.");
    }
    out.push_str(
        "# /robots.txt, /sitemap.xml, /.well-known/ and the licence document are never blocked.\n",
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn glob_conversion_table() {
        let cases: &[(&str, &[(&str, bool)])] = &[
            ("/private/**", &[("/private/", false)]),
            ("/private", &[("/private", true)]),
            ("/a/*/b", &[("/a/*/b", true)]),
            ("/a/**/b", &[("/a/*/b", true)]),
            ("/a?c", &[("/a*c", true)]),
            ("/a[0-9]", &[("/a", false)]),
            ("/a[]x]/y", &[("/a*/y", true)]),
            ("/{a,b}/x", &[("/a/x", true), ("/b/x", true)]),
            ("/{a,{b,c}}", &[("/a", true), ("/b", true), ("/c", true)]),
            ("/*.pdf", &[("/*.pdf", true)]),
            ("/**", &[("/", false)]),
            ("/a b#c$", &[("/a%20b%23c%24", true)]),
            ("/ツ", &[("/%E3%83%84", true)]),
            ("/lit\\*", &[("/lit%2A", true)]),
        ];
        for (glob, want) in cases {
            let got: Vec<(String, bool)> = glob_patterns(glob)
                .into_iter()
                .map(|p| (p.prefix, p.exact))
                .collect();
            let want: Vec<(String, bool)> = want.iter().map(|(p, e)| (p.to_string(), *e)).collect();
            assert_eq!(got, want, "glob {glob}");
        }
    }

    #[test]
    fn pattern_matching() {
        assert!(pattern_matches("/", "/x", false));
        assert!(pattern_matches("/private", "/private/x", false));
        assert!(!pattern_matches("/private", "/priv", false));
        assert!(pattern_matches("/private", "/priv", true));
        assert!(pattern_matches("/*.pdf$", "/a/b.pdf", false));
        assert!(!pattern_matches("/*.pdf$", "/a/b.pdf?x", false));
        assert!(pattern_matches("/*.pem", "/.well-known/", true));
        assert!(!pattern_matches("/private", "/.well-known/", true));
        assert!(pattern_matches("/robots.txt$", "/robots.txt", false));
        assert!(!pattern_matches("/robots.txt$", "/robots.txt.bak", false));
    }

    #[test]
    fn origin_parsing() {
        let o = parse_origin(
            "Sitemap: https://e.org/a.xml\n# c\nUser-agent: A\nuser-agent: B # x\nDisallow: /x\nCrawl-delay: 5\n\nUser-agent: *\nDisallow: /admin/\nnonsense\n",
        );
        assert_eq!(o.sitemaps, vec!["https://e.org/a.xml"]);
        assert_eq!(o.groups.len(), 2);
        assert_eq!(o.groups[0].0, vec!["A", "B"]);
        assert_eq!(
            o.groups[0].1,
            vec![
                ("disallow".to_string(), "/x".to_string()),
                ("crawl-delay".to_string(), "5".to_string())
            ]
        );
        assert_eq!(o.groups[1].0, vec!["*"]);
    }

    #[test]
    fn record_names() {
        assert_eq!(record_name("crawl-delay"), "Crawl-delay");
        assert_eq!(record_name("request-rate"), "Request-Rate");
        assert_eq!(record_name("host"), "Host");
    }
}
