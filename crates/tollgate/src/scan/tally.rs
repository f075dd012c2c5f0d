//! Per-worker aggregation of classified log records into report rows.
//!
//! A scan runs one [`Tally`] per worker thread and merges them at the end, so nothing is shared
//! on the hot path. Memory is bounded by the report's own tables: one row per agent seen, at most
//! [`MAX_UNKNOWN_ROWS`] unknown-bot rows (the rest are pooled), a bounded User-Agent cache, and
//! a set of path hashes per row for the distinct-path count.

use std::collections::{HashMap, HashSet};
use std::hash::BuildHasher;
use std::net::IpAddr;

use foldhash::fast::FixedState;
use tollgate_agents::verify::{UnverifiedReason, Verification};
use tollgate_agents::{AgentId, Classifier, UaMatch};
use tollgate_logs::LogRecord;
use tollgate_policy::path::normalize;
use tollgate_policy::rules::is_protected_path;

use super::robots::RobotsCheck;

/// Unknown-bot names counted separately per worker; further names are pooled. The report keeps
/// the [`REPORTED_UNKNOWN_ROWS`] busiest and pools the rest, so which bots get a row depends on
/// their request counts, not on which worker saw them first.
pub const MAX_UNKNOWN_ROWS: usize = 50_000;
/// Unknown-bot rows in the report (the busiest); the rest go to `(other unknown bots)`.
pub const REPORTED_UNKNOWN_ROWS: usize = 2_000;
/// User-Agents longer than this are classified every time instead of being cached, so the
/// cache's memory stays bounded by bytes (100k entries × 512 B per worker at most).
const UA_CACHE_MAX_LEN: usize = 512;
/// User-Agent cache entries per worker before the cache is cleared.
const UA_CACHE_MAX: usize = 100_000;
/// Malformed-line samples kept (the first ones by file and line).
pub const MALFORMED_SAMPLES: usize = 5;

/// Counters of one report row.
#[derive(Debug, Clone, Default)]
pub struct RowStats {
    /// Requests.
    pub requests: u64,
    /// Response body bytes.
    pub bytes: u64,
    /// Hashes of the distinct request paths (query stripped).
    pub paths: HashSet<u64, FixedState>,
    /// Requests per status code.
    pub status: Vec<(u16, u64)>,
    /// Earliest request time, unix seconds.
    pub first_seen: Option<i64>,
    /// Latest request time, unix seconds.
    pub last_seen: Option<i64>,
    /// Requests whose claim was verified.
    pub verified: u64,
    /// Requests whose claim was spoofed.
    pub spoofed: u64,
    /// Requests whose claim could not be checked.
    pub unverified: u64,
    /// Of `unverified`: claims to agents whose operator documents only checks that need I/O
    /// (FCrDNS, Web Bot Auth), which an offline scan does not do.
    pub not_checked: u64,
    /// Requests to paths the given robots.txt disallows for this row's agent.
    pub robots_disallowed: u64,
    /// What a pay-per-crawl gate would have charged: requests answered 2xx, not spoofed, not
    /// to a path that is never charged (`/robots.txt`, `/sitemap.xml`, `/.well-known/*`).
    pub billable: u64,
}

impl RowStats {
    fn add_status(&mut self, status: u16, n: u64) {
        match self.status.iter_mut().find(|(s, _)| *s == status) {
            Some((_, c)) => *c += n,
            None => self.status.push((status, n)),
        }
    }

    fn add_time(&mut self, t: Option<i64>) {
        if let Some(t) = t {
            self.first_seen = Some(self.first_seen.map_or(t, |f| f.min(t)));
            self.last_seen = Some(self.last_seen.map_or(t, |l| l.max(t)));
        }
    }

    /// Adds `other` into `self`.
    pub fn merge(&mut self, other: &RowStats) {
        self.requests += other.requests;
        self.bytes = self.bytes.saturating_add(other.bytes);
        self.paths.extend(other.paths.iter().copied());
        for &(s, n) in &other.status {
            self.add_status(s, n);
        }
        self.add_time(other.first_seen);
        self.add_time(other.last_seen);
        self.verified += other.verified;
        self.spoofed += other.spoofed;
        self.unverified += other.unverified;
        self.not_checked += other.not_checked;
        self.robots_disallowed += other.robots_disallowed;
        self.billable += other.billable;
    }
}

/// Which row a request lands in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Agent(AgentId),
    Browser,
    NoUserAgent,
    Unknown(u32),
    OtherUnknown,
}

/// A malformed line: where and why.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Malformed {
    /// Index of the input file in the command line.
    pub file_index: usize,
    /// 1-based line number.
    pub line: u64,
    /// Byte offset in the line.
    pub offset: usize,
    /// What the parser expected.
    pub reason: &'static str,
}

/// One worker's partial report.
pub struct Tally {
    /// Lines seen (non-empty).
    pub lines: u64,
    /// Lines parsed.
    pub parsed: u64,
    /// Lines that did not match the format.
    pub malformed: u64,
    /// The first malformed lines (by file, line).
    pub samples: Vec<Malformed>,
    /// Rows per catalogue agent, indexed by `AgentId`.
    pub agents: Vec<Option<RowStats>>,
    /// The browser row.
    pub browser: RowStats,
    /// Requests with no User-Agent.
    pub no_user_agent: RowStats,
    /// Unknown-bot rows by name.
    pub unknown: Vec<(Box<str>, RowStats)>,
    /// Unknown bots beyond [`MAX_UNKNOWN_ROWS`].
    pub other_unknown: RowStats,
    unknown_index: HashMap<Box<str>, u32>,
    ua_cache: HashMap<Box<[u8]>, Slot, FixedState>,
    hasher: FixedState,
}

/// The bot name an unknown-bot User-Agent gives itself: the word around the first bot marker
/// (`FooBot/1.0` → `FooBot`), else its first `name/version` product that is not `Mozilla`
/// (`zgrab/0.x` → `zgrab`). `None` when it gives no usable name (exploit payloads such as
/// `() { ignored; }; …` or `${jndi:ldap://…}`, bare `Mozilla/5.0`): those are pooled.
pub fn unknown_bot_name(ua: &str, marker: &str) -> Option<String> {
    let is_name = |c: char| c.is_alphanumeric() || matches!(c, '-' | '_' | '.');
    let usable = |w: &str| {
        (2..=40).contains(&w.len())
            && w.starts_with(char::is_alphabetic)
            && w.chars().all(is_name)
            && !w.eq_ignore_ascii_case("mozilla")
            && !w.eq_ignore_ascii_case("compatible")
    };
    let lower = ua.to_ascii_lowercase();
    if marker.len() >= 3 && marker.chars().all(|c| c.is_ascii_alphabetic()) {
        if let Some(at) = lower.find(marker) {
            let start = ua[..at]
                .char_indices()
                .rev()
                .find(|&(_, c)| !is_name(c))
                .map_or(0, |(i, c)| i + c.len_utf8());
            let end = ua[at..]
                .find(|c: char| !is_name(c))
                .map_or(ua.len(), |i| at + i);
            let word = ua[start..end].trim_matches(|c| c == '.' || c == '-');
            if usable(word) {
                return Some(word.to_string());
            }
        }
    }
    // `name/1.2` products, in order.
    for part in ua.split([' ', ';', '(', ')', ',']) {
        if let Some((name, version)) = part.split_once('/') {
            if version.starts_with(|c: char| c.is_ascii_digit()) && usable(name) {
                return Some(name.to_string());
            }
        }
    }
    None
}

fn path_of(target: &str) -> &str {
    match target.find(['?', '#']) {
        Some(i) => &target[..i],
        None => target,
    }
}

impl Tally {
    /// An empty tally for a catalogue of `agents` agents.
    pub fn new(agents: usize) -> Tally {
        Tally {
            lines: 0,
            parsed: 0,
            malformed: 0,
            samples: Vec::new(),
            agents: vec![None; agents],
            browser: RowStats::default(),
            no_user_agent: RowStats::default(),
            unknown: Vec::new(),
            other_unknown: RowStats::default(),
            unknown_index: HashMap::new(),
            ua_cache: HashMap::with_hasher(FixedState::default()),
            hasher: FixedState::default(),
        }
    }

    /// Records a line that failed to parse.
    pub fn add_malformed(&mut self, m: Malformed) {
        self.lines += 1;
        self.malformed += 1;
        if self.samples.len() < MALFORMED_SAMPLES {
            self.samples.push(m);
        } else if let Some(max) = self.samples.iter_mut().max() {
            if m < *max {
                *max = m;
            }
        }
    }

    fn slot_for(&mut self, classifier: &Classifier, ua: &str) -> Slot {
        if let Some(&s) = self.ua_cache.get(ua.as_bytes()) {
            return s;
        }
        let slot = match classifier.matcher().match_ua(ua.as_bytes()) {
            UaMatch::Agent(id) => Slot::Agent(id),
            UaMatch::Browser => Slot::Browser,
            UaMatch::Empty => Slot::NoUserAgent,
            UaMatch::UnknownBot(marker) => match unknown_bot_name(ua, marker) {
                None => Slot::OtherUnknown,
                Some(name) => match self.unknown_index.get(name.as_str()) {
                    Some(&i) => Slot::Unknown(i),
                    None if self.unknown.len() < MAX_UNKNOWN_ROWS => {
                        let i = self.unknown.len() as u32;
                        self.unknown_index.insert(name.clone().into(), i);
                        self.unknown.push((name.into(), RowStats::default()));
                        Slot::Unknown(i)
                    }
                    None => Slot::OtherUnknown,
                },
            },
        };
        if ua.len() <= UA_CACHE_MAX_LEN {
            if self.ua_cache.len() >= UA_CACHE_MAX {
                self.ua_cache.clear();
            }
            self.ua_cache.insert(ua.as_bytes().into(), slot);
        }
        slot
    }

    /// Classifies and counts one parsed record.
    pub fn add(
        &mut self,
        classifier: &Classifier,
        robots: Option<&RobotsCheck>,
        rec: &LogRecord<'_>,
    ) {
        self.lines += 1;
        self.parsed += 1;
        let slot = self.slot_for(classifier, &rec.user_agent);
        let verification = match slot {
            Slot::Agent(id) => {
                let ip: Option<IpAddr> = rec.client.parse().ok();
                Some(classifier.verify_ip(id, ip))
            }
            _ => None,
        };
        let path = path_of(&rec.target);
        let ai_class = match slot {
            Slot::Agent(id) => classifier.catalogue().agent(id).class.is_ai(),
            _ => false,
        };
        let disallowed = match (robots, slot) {
            (Some(r), Slot::Agent(id)) => r.disallows(Some(id), &rec.target),
            (Some(r), Slot::Unknown(_) | Slot::OtherUnknown | Slot::NoUserAgent) => {
                r.disallows(None, &rec.target)
            }
            _ => false,
        };
        let path_hash = self.hasher.hash_one(path);
        let row = match slot {
            Slot::Agent(id) => self.agents[id.0 as usize].get_or_insert_with(RowStats::default),
            Slot::Browser => &mut self.browser,
            Slot::NoUserAgent => &mut self.no_user_agent,
            Slot::Unknown(i) => &mut self.unknown[i as usize].1,
            Slot::OtherUnknown => &mut self.other_unknown,
        };
        row.requests += 1;
        row.bytes = row.bytes.saturating_add(rec.bytes);
        row.paths.insert(path_hash);
        row.add_status(rec.status, 1);
        row.add_time(rec.time);
        // Only AI-class rows are priced; the path check is skipped for everyone else.
        if ai_class
            && (200..300).contains(&rec.status)
            && !matches!(verification, Some(Verification::Spoofed(_)))
            && !is_protected_path(&normalize(path), None)
        {
            row.billable += 1;
        }
        if disallowed {
            row.robots_disallowed += 1;
        }
        match verification {
            Some(Verification::Verified(_)) => row.verified += 1,
            Some(Verification::Spoofed(_)) => row.spoofed += 1,
            Some(Verification::Unverified(UnverifiedReason::NotChecked)) => {
                row.unverified += 1;
                row.not_checked += 1;
            }
            _ => row.unverified += 1,
        }
    }

    /// Keeps the [`REPORTED_UNKNOWN_ROWS`] busiest unknown bots (ties by name) and pools the
    /// rest into `(other unknown bots)`. Call once, after merging.
    pub fn finish(&mut self) {
        if self.unknown.len() <= REPORTED_UNKNOWN_ROWS {
            return;
        }
        self.unknown
            .sort_by(|a, b| b.1.requests.cmp(&a.1.requests).then_with(|| a.0.cmp(&b.0)));
        for (_, stats) in self.unknown.drain(REPORTED_UNKNOWN_ROWS..) {
            self.other_unknown.merge(&stats);
        }
        self.unknown_index.clear();
    }

    /// Adds another worker's tally into this one.
    pub fn merge(&mut self, other: Tally) {
        self.lines += other.lines;
        self.parsed += other.parsed;
        self.malformed += other.malformed;
        self.samples.extend(other.samples);
        self.samples.sort();
        self.samples.truncate(MALFORMED_SAMPLES);
        for (mine, theirs) in self.agents.iter_mut().zip(other.agents) {
            if let Some(t) = theirs {
                mine.get_or_insert_with(RowStats::default).merge(&t);
            }
        }
        self.browser.merge(&other.browser);
        self.no_user_agent.merge(&other.no_user_agent);
        self.other_unknown.merge(&other.other_unknown);
        for (name, stats) in other.unknown {
            match self.unknown_index.get(&name) {
                Some(&i) => self.unknown[i as usize].1.merge(&stats),
                None if self.unknown.len() < MAX_UNKNOWN_ROWS => {
                    self.unknown_index
                        .insert(name.clone(), self.unknown.len() as u32);
                    self.unknown.push((name, stats));
                }
                None => self.other_unknown.merge(&stats),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_bot_names_are_the_word_around_the_marker() {
        let name = |ua: &str, m: &str| unknown_bot_name(ua, m);
        assert_eq!(
            name("Mozilla/5.0 (compatible; FooBot/1.0; +http://foo)", "bot").as_deref(),
            Some("FooBot")
        );
        assert_eq!(name("my-crawler/2", "crawl").as_deref(), Some("my-crawler"));
        assert_eq!(name("zgrab/0.x", "zgrab").as_deref(), Some("zgrab"));
        assert_eq!(
            name(
                "Mozilla/5.0 (compatible; Foo/1.0; +http://foo.example/)",
                "+http"
            )
            .as_deref(),
            Some("Foo")
        );
    }

    #[test]
    fn non_ascii_before_a_bot_name_does_not_panic() {
        // Regression: a multi-byte character before the name sliced inside a character.
        assert_eq!(
            unknown_bot_name("Mozilla/5.0 (compatible; \u{dc}berBot/1.0)", "bot").as_deref(),
            Some("\u{dc}berBot")
        );
        assert_eq!(
            unknown_bot_name("\u{fffd}FooBot", "bot").as_deref(),
            Some("FooBot")
        );
    }

    #[test]
    fn exploit_payloads_and_bare_mozilla_give_no_name() {
        assert_eq!(
            unknown_bot_name(
                "() { ignored; }; echo Content-Type: text/plain ; echo ; echo ; /usr/bin/id",
                "no platform"
            ),
            None
        );
        assert_eq!(
            unknown_bot_name("${jndi:ldap://x.nessus.org/a}", "no platform"),
            None
        );
        assert_eq!(unknown_bot_name("Mozilla/5.0", "no platform"), None);
    }

    #[test]
    fn path_ignores_query_and_fragment() {
        assert_eq!(path_of("/a/b?x=1"), "/a/b");
        assert_eq!(path_of("/a#f"), "/a");
        assert_eq!(path_of("/a"), "/a");
    }

    #[test]
    fn malformed_samples_keep_the_first_lines_in_file_order() {
        let mut t = Tally::new(0);
        for line in [9, 3, 7, 1, 8, 2, 6] {
            t.add_malformed(Malformed {
                file_index: 0,
                line,
                offset: 0,
                reason: "x",
            });
        }
        let lines: Vec<u64> = t.samples.iter().map(|m| m.line).collect();
        let mut sorted = lines.clone();
        sorted.sort();
        assert_eq!(sorted, [1, 2, 3, 6, 7]);
        assert_eq!(t.malformed, 7);
    }
}
