//! User-Agent → agent matching.
//!
//! All catalogue patterns and the generic bot markers are compiled into one Aho-Corasick
//! automaton (ASCII case-insensitive), so one pass over the header finds every candidate. Each
//! candidate is then checked against its own rules (case, word boundary, position) and the best
//! surviving catalogue match wins: highest `priority`, then longest pattern, then leftmost. A
//! catalogue match right after `like ` is ignored (`… like FeedFetcher-Google` is not Feedfetcher).
//! Without a catalogue match, a surviving generic marker (`bot`, `crawler`, `+http…`) makes the
//! client an `unknown-bot`; otherwise it is a `browser` (any human-operated client) if it names
//! the platform it runs on (`Windows`, `Android`, `CFNetwork`, … — browsers and apps always do),
//! and an `unknown-bot` if it names none (`Abcd`, `Go 1.1 package http`).

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};

use crate::catalogue::{AgentId, Boundary, CaseRule, Catalogue, Position};
use crate::class::Class;

/// What a User-Agent says about the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UaMatch {
    /// A catalogue agent.
    Agent(AgentId),
    /// No catalogue agent, but the header declares a bot (generic marker, the marker text).
    UnknownBot(&'static str),
    /// The header is empty or `-`.
    Empty,
    /// A human-operated client (browser, webview, app).
    Browser,
}

impl UaMatch {
    /// The class of this match; an agent's class comes from the catalogue.
    pub fn class(self, catalogue: &Catalogue) -> Class {
        match self {
            UaMatch::Agent(id) => catalogue.agent(id).class,
            UaMatch::UnknownBot(_) | UaMatch::Empty => Class::UnknownBot,
            UaMatch::Browser => Class::Browser,
        }
    }
}

/// A generic marker: text that only bots put in a User-Agent.
struct Marker {
    text: &'static str,
    boundary: Boundary,
    /// Extra condition on the text around the match.
    rule: MarkerRule,
    /// Words in which the marker occurs without meaning "bot" (device names, browser names).
    /// Compared ASCII case-insensitively with the whole alphanumeric word around the match.
    except_words: &'static [&'static str],
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum MarkerRule {
    /// Nothing beyond the boundary.
    Plain,
    /// The marker ends a word (`Googlebot`, `MJ12bot/`, `bots`), so it is a name's suffix and not
    /// a syllable (`Caboto`, `bottom`, `fuboTV`): no letter may follow, except a plural `s` that
    /// itself ends the word.
    WordEnd,
    /// An e-mail address: `@` between a local part and a dotted host name (`bots@awario.com`),
    /// not an app's `android@111.0` version tag or an `en_US@calendar=…` locale.
    Email,
}

use MarkerRule::{Email, Plain, WordEnd};

/// Generic bot markers. A marker with `Boundary::None` matches inside words (`Bytespider` →
/// `spider`); the `except_words` keep phones and browsers that happen to contain one out.
const MARKERS: &[Marker] = &[
    Marker { text: "bot", boundary: Boundary::None, rule: WordEnd, except_words: &["cubot", "abot", "mbot", "irbot", "ybot"] },
    Marker { text: "crawl", boundary: Boundary::None, rule: Plain, except_words: &[] },
    Marker { text: "spider", boundary: Boundary::None, rule: Plain, except_words: &[] },
    Marker { text: "scrape", boundary: Boundary::None, rule: Plain, except_words: &[] },
    Marker { text: "scraping", boundary: Boundary::None, rule: Plain, except_words: &[] },
    Marker { text: "slurp", boundary: Boundary::None, rule: Plain, except_words: &[] },
    Marker { text: "fetcher", boundary: Boundary::None, rule: Plain, except_words: &[] },
    Marker { text: "archiver", boundary: Boundary::None, rule: Plain, except_words: &[] },
    Marker { text: "indexer", boundary: Boundary::None, rule: Plain, except_words: &[] },
    Marker { text: "preview", boundary: Boundary::Start, rule: Plain, except_words: &[] },
    Marker { text: "monitor", boundary: Boundary::Start, rule: Plain, except_words: &[] },
    Marker { text: "checker", boundary: Boundary::None, rule: Plain, except_words: &[] },
    // CamScanner is a document-scanning app with an in-app browser.
    Marker { text: "scanner", boundary: Boundary::None, rule: Plain, except_words: &["camscanner"] },
    Marker { text: "headless", boundary: Boundary::Start, rule: Plain, except_words: &[] },
    Marker { text: "+http", boundary: Boundary::None, rule: Plain, except_words: &[] },
    Marker { text: "http://", boundary: Boundary::None, rule: Plain, except_words: &[] },
    Marker { text: "https://", boundary: Boundary::None, rule: Plain, except_words: &[] },
    Marker { text: "www.", boundary: Boundary::Start, rule: Plain, except_words: &[] },
    Marker { text: "@", boundary: Boundary::None, rule: Email, except_words: &[] },
    Marker { text: "python", boundary: Boundary::Start, rule: Plain, except_words: &[] },
    Marker { text: "java/", boundary: Boundary::Start, rule: Plain, except_words: &[] },
    Marker { text: "httpclient", boundary: Boundary::None, rule: Plain, except_words: &[] },
    Marker { text: "http-client", boundary: Boundary::None, rule: Plain, except_words: &[] },
    Marker { text: "http_client", boundary: Boundary::None, rule: Plain, except_words: &[] },
    Marker { text: "http client", boundary: Boundary::None, rule: Plain, except_words: &[] },
    Marker { text: "urllib", boundary: Boundary::None, rule: Plain, except_words: &[] },
    Marker { text: "wget", boundary: Boundary::Word, rule: Plain, except_words: &[] },
    Marker { text: "curl", boundary: Boundary::Word, rule: Plain, except_words: &[] },
    Marker { text: "zgrab", boundary: Boundary::Start, rule: Plain, except_words: &[] },
    Marker { text: "masscan", boundary: Boundary::Start, rule: Plain, except_words: &[] },
    Marker { text: "nmap", boundary: Boundary::Word, rule: Plain, except_words: &[] },
    Marker { text: "probe", boundary: Boundary::Start, rule: Plain, except_words: &[] },
    Marker { text: "validator", boundary: Boundary::Start, rule: Plain, except_words: &[] },
    Marker { text: "synthetic", boundary: Boundary::Start, rule: Plain, except_words: &[] },
    Marker { text: "uptime", boundary: Boundary::Start, rule: Plain, except_words: &[] },
    Marker { text: "feed", boundary: Boundary::Start, rule: Plain, except_words: &[] },
    Marker { text: "rss", boundary: Boundary::Start, rule: Plain, except_words: &[] },
    Marker { text: "agent", boundary: Boundary::Start, rule: Plain, except_words: &["agentweb"] },
    Marker { text: "analyzer", boundary: Boundary::Start, rule: Plain, except_words: &[] },
    Marker { text: "lighthouse", boundary: Boundary::Word, rule: Plain, except_words: &[] },
    Marker { text: "phantomjs", boundary: Boundary::Word, rule: Plain, except_words: &[] },
    Marker { text: "selenium", boundary: Boundary::Word, rule: Plain, except_words: &[] },
    Marker { text: "puppeteer", boundary: Boundary::Word, rule: Plain, except_words: &[] },
    Marker { text: "playwright", boundary: Boundary::Word, rule: Plain, except_words: &[] },
];

impl MarkerRule {
    fn holds(self, ua: &[u8], start: usize, end: usize) -> bool {
        match self {
            Plain => true,
            WordEnd => match ua.get(end) {
                Some(b) if b.is_ascii_alphabetic() => {
                    b.eq_ignore_ascii_case(&b's')
                        && !ua.get(end + 1).is_some_and(|c| c.is_ascii_alphanumeric())
                }
                _ => true,
            },
            Email => looks_like_email(ua, start, end),
        }
    }
}

/// `local@host.tld`: a word character before the `@`, then a host label starting with a letter
/// and, further on, a dot followed by a letter.
fn looks_like_email(ua: &[u8], at: usize, after: usize) -> bool {
    let local_ok = at > 0 && (ua[at - 1].is_ascii_alphanumeric() || b"._-+".contains(&ua[at - 1]));
    if !local_ok || !ua.get(after).is_some_and(|b| b.is_ascii_alphabetic()) {
        return false;
    }
    let host_len = ua[after..]
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'-' || **b == b'.')
        .count();
    let host = &ua[after..after + host_len];
    host.windows(2).any(|w| w[0] == b'.' && w[1].is_ascii_alphabetic())
}

/// True when the match at `start` follows `like ` (`like Gecko`, `like FeedFetcher-Google`,
/// `like Googlebot`): a client naming what it imitates is not that client.
fn after_like(ua: &[u8], start: usize) -> bool {
    start >= 5 && ua[start - 5..start].eq_ignore_ascii_case(b"like ")
}

/// The [`UaMatch::UnknownBot`] reason of a header that names no platform (see [`PLATFORMS`]).
pub const NO_PLATFORM: &str = "no platform";

/// Words that name the platform a human-operated client runs on. Browsers, webviews and apps
/// say where they run (`Windows NT 10.0`, `Linux; Android 14`, `CFNetwork/… Darwin/…`,
/// `MIDP-2.0`); a header that names no platform (`Abcd`, `Hello World`, `Go 1.1 package http`)
/// is a program's, so without a marker it is an unknown bot rather than a browser.
const PLATFORMS: &[&str] = &[
    "mozilla/", "opera/", "windows", "win32", "win64", "macintosh", "mac os", "mac_powerpc",
    "osx", "darwin", "cfnetwork", "iphone", "ipad", "ipod", "ios", "linux", "android", "x11",
    "cros", "freebsd", "openbsd", "netbsd", "sunos", "amigaos", "midp", "cldc", "symbian",
    "series40", "series60", "blackberry", "playstation", "nintendo", "tizen", "kaios", "webos",
    "lynx/", "dalvik/", "applewebkit/", "amiga", "morphos", "macos", "mac ", "win7", "win8",
    "win10", "win11", "up.browser", "roku", "fban/", "mozacfetch", "microsoft office",
    "googleapp/", "htc",
];

#[derive(Clone, Copy)]
enum Owner {
    Agent { id: AgentId, priority: i8 },
    Marker(u16),
    Platform,
}

#[derive(Clone)]
struct PatternInfo {
    owner: Owner,
    /// Present only for case-sensitive patterns: the exact bytes to compare.
    exact: Option<Box<[u8]>>,
    boundary: Boundary,
    position: Position,
}

/// A compiled matcher for one catalogue. Cheap to share (`Send + Sync`); matching allocates
/// nothing.
pub struct UaMatcher {
    automaton: AhoCorasick,
    patterns: Vec<PatternInfo>,
}

/// An error building the automaton (only possible for absurdly large catalogues).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the User-Agent automaton: {0}")]
pub struct BuildError(#[from] aho_corasick::BuildError);

#[inline]
fn is_word_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric()
}

fn boundary_ok(ua: &[u8], start: usize, end: usize, boundary: Boundary) -> bool {
    let before = start == 0 || !is_word_byte(ua[start - 1]);
    let after = end == ua.len() || !is_word_byte(ua[end]);
    match boundary {
        Boundary::Word => before && after,
        Boundary::Start => before,
        Boundary::None => true,
    }
}

/// The alphanumeric word (plus `_`/`-`-free run) around `start..end`.
fn word_around(ua: &[u8], start: usize, end: usize) -> &[u8] {
    let mut s = start;
    while s > 0 && is_word_byte(ua[s - 1]) {
        s -= 1;
    }
    let mut e = end;
    while e < ua.len() && is_word_byte(ua[e]) {
        e += 1;
    }
    &ua[s..e]
}

impl UaMatcher {
    /// Compiles every User-Agent pattern of `catalogue` plus the generic markers.
    pub fn new(catalogue: &Catalogue) -> Result<UaMatcher, BuildError> {
        let mut texts: Vec<&[u8]> = Vec::new();
        let mut patterns = Vec::new();
        for (i, agent) in catalogue.agents().iter().enumerate() {
            for p in &agent.patterns {
                texts.push(p.text.as_bytes());
                patterns.push(PatternInfo {
                    owner: Owner::Agent {
                        id: AgentId(i as u16),
                        priority: agent.priority,
                    },
                    exact: (p.case == CaseRule::Sensitive).then(|| p.text.as_bytes().into()),
                    boundary: p.boundary,
                    position: p.position,
                });
            }
        }
        for (i, m) in MARKERS.iter().enumerate() {
            texts.push(m.text.as_bytes());
            patterns.push(PatternInfo {
                owner: Owner::Marker(i as u16),
                exact: None,
                boundary: m.boundary,
                position: Position::Anywhere,
            });
        }
        for p in PLATFORMS {
            texts.push(p.as_bytes());
            patterns.push(PatternInfo {
                owner: Owner::Platform,
                exact: None,
                boundary: Boundary::Start,
                position: Position::Anywhere,
            });
        }
        let automaton = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .match_kind(MatchKind::Standard)
            .build(&texts)?;
        Ok(UaMatcher {
            automaton,
            patterns,
        })
    }

    /// Classifies one User-Agent header value (raw bytes; need not be UTF-8).
    pub fn match_ua(&self, ua: &[u8]) -> UaMatch {
        let trimmed = ua.trim_ascii();
        if trimmed.is_empty() || trimmed == b"-" {
            return UaMatch::Empty;
        }
        let ua = trimmed;
        // (priority, length, -start) of the best agent match so far.
        let mut best: Option<(i8, usize, usize, AgentId)> = None;
        let mut marker: Option<&'static str> = None;
        let mut platform = false;
        for m in self.automaton.find_overlapping_iter(ua) {
            let info = &self.patterns[m.pattern().as_usize()];
            let (start, end) = (m.start(), m.end());
            if info.position == Position::First && start != 0 {
                continue;
            }
            if let Some(exact) = &info.exact {
                if ua[start..end] != exact[..] {
                    continue;
                }
            }
            if !boundary_ok(ua, start, end, info.boundary) {
                continue;
            }
            match info.owner {
                Owner::Platform => platform = true,
                Owner::Agent { .. } if after_like(ua, start) => {}
                Owner::Agent { id, priority } => {
                    let len = end - start;
                    let better = match best {
                        None => true,
                        Some((bp, bl, bs, _)) => {
                            (priority, len, usize::MAX - start) > (bp, bl, usize::MAX - bs)
                        }
                    };
                    if better {
                        best = Some((priority, len, start, id));
                    }
                }
                Owner::Marker(i) => {
                    if marker.is_none() {
                        let mk = &MARKERS[i as usize];
                        let word = word_around(ua, start, end);
                        if mk.rule.holds(ua, start, end)
                            && !mk
                                .except_words
                                .iter()
                                .any(|w| word.eq_ignore_ascii_case(w.as_bytes()))
                        {
                            marker = Some(mk.text);
                        }
                    }
                }
            }
        }
        match (best, marker) {
            (Some((_, _, _, id)), _) => UaMatch::Agent(id),
            (None, Some(text)) => UaMatch::UnknownBot(text),
            (None, None) if platform => UaMatch::Browser,
            (None, None) => UaMatch::UnknownBot(NO_PLATFORM),
        }
    }
}
