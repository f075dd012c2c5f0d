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
    /// The rest of the word after the marker is one of these endings (`""` = the word ends):
    /// `OnlyScans`, `CookieHubScan`, `scanning` but not `Scandinavia`.
    Tail(&'static [&'static str]),
    /// An e-mail address: `@` between a local part and a dotted host name (`bots@awario.com`),
    /// not an app's `android@111.0` version tag or an `en_US@calendar=…` locale.
    Email,
    /// An obfuscated e-mail address: `[at]`, `(at)`, ` at ` between a local part and a dotted
    /// host name (`centuryb.o.t9[at]gmail.com`, `stijn; at; ucsb.edu`).
    ObfuscatedEmail,
    /// A host name: the marker is a top-level domain (`.com`) after a label and not followed by
    /// another label (`twingly.com`, `bit.ly/…`, `NISLabUGA.github.io`), so not a reverse-DNS app
    /// id such as `com.duckduckgo.mobile.android`; judged like [`MarkerRule::Url`].
    Domain,
    /// A URL. Bots give one as a contact address; a browser or app may give its bare homepage
    /// inside the comment that names its platform (`XBMC/9.04 (Windows; …; http://www.xbmc.org)`),
    /// so such a homepage is not by itself a marker (`+http` still is; a page of a site, a URL
    /// outside a comment and a URL in a comment without a platform word are).
    Url,
    /// A product version that is a Unix timestamp in milliseconds (`Time/1710630666672`): a
    /// script's cache-buster, never a browser's version.
    Timestamp,
}

use MarkerRule::{Domain, Email, ObfuscatedEmail, Plain, Tail, Timestamp, Url, WordEnd};

/// Word endings after a marker that is a name's suffix (`YottaaMonitor`, `RSiteAuditor`).
const NAME_END: &[&str] = &["", "s"];

/// Generic bot markers. A marker with `Boundary::None` matches inside words (`Bytespider` →
/// `spider`); the `except_words` keep phones and browsers that happen to contain one out.
#[rustfmt::skip]
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
    // Scanners: `OnlyScans`, `CookieHubScan`, `researchscan`, `…/scanning`. CamScanner is a
    // document-scanning app with an in-app browser.
    Marker { text: "scan", boundary: Boundary::None, rule: Tail(&["", "s", "ner", "ners", "ning"]), except_words: &["camscanner"] },
    // Names ending in what the program does (`YottaaMonitor`, `RSiteAuditor`, `FormFinder`,
    // `CopyvioDetector`, `KenyaDomainScorer`, `DomainExtractor`, `XaxisSemanticsClassifier`,
    // `TrendsmapResolver`, `GoogleImageProxy`, `CMSLookup`).
    Marker { text: "monitor", boundary: Boundary::None, rule: Tail(NAME_END), except_words: &[] },
    Marker { text: "auditor", boundary: Boundary::None, rule: Tail(NAME_END), except_words: &[] },
    Marker { text: "finder", boundary: Boundary::None, rule: Tail(NAME_END), except_words: &[] },
    Marker { text: "detector", boundary: Boundary::None, rule: Tail(NAME_END), except_words: &[] },
    Marker { text: "scorer", boundary: Boundary::None, rule: Tail(NAME_END), except_words: &[] },
    Marker { text: "extractor", boundary: Boundary::None, rule: Tail(NAME_END), except_words: &[] },
    Marker { text: "classifier", boundary: Boundary::None, rule: Tail(NAME_END), except_words: &[] },
    Marker { text: "resolver", boundary: Boundary::None, rule: Tail(NAME_END), except_words: &[] },
    Marker { text: "proxy", boundary: Boundary::None, rule: Tail(NAME_END), except_words: &[] },
    Marker { text: "lookup", boundary: Boundary::None, rule: Tail(NAME_END), except_words: &[] },
    Marker { text: "headless", boundary: Boundary::Start, rule: Plain, except_words: &[] },
    Marker { text: "+http", boundary: Boundary::None, rule: Plain, except_words: &[] },
    Marker { text: "http://", boundary: Boundary::None, rule: Url, except_words: &[] },
    Marker { text: "https://", boundary: Boundary::None, rule: Url, except_words: &[] },
    Marker { text: "www.", boundary: Boundary::Start, rule: Url, except_words: &[] },
    Marker { text: "@", boundary: Boundary::None, rule: Email, except_words: &[] },
    Marker { text: "[at]", boundary: Boundary::None, rule: ObfuscatedEmail, except_words: &[] },
    Marker { text: "(at)", boundary: Boundary::None, rule: ObfuscatedEmail, except_words: &[] },
    Marker { text: " at ", boundary: Boundary::None, rule: ObfuscatedEmail, except_words: &[] },
    Marker { text: "; at;", boundary: Boundary::None, rule: ObfuscatedEmail, except_words: &[] },
    Marker { text: ".com", boundary: Boundary::None, rule: Domain, except_words: &[] },
    Marker { text: ".net", boundary: Boundary::None, rule: Domain, except_words: &[] },
    Marker { text: ".org", boundary: Boundary::None, rule: Domain, except_words: &[] },
    Marker { text: ".edu", boundary: Boundary::None, rule: Domain, except_words: &[] },
    Marker { text: ".io", boundary: Boundary::None, rule: Domain, except_words: &[] },
    Marker { text: ".ai", boundary: Boundary::None, rule: Domain, except_words: &[] },
    Marker { text: ".me", boundary: Boundary::None, rule: Domain, except_words: &[] },
    Marker { text: ".ly", boundary: Boundary::None, rule: Domain, except_words: &[] },
    Marker { text: ".gy", boundary: Boundary::None, rule: Domain, except_words: &[] },
    Marker { text: ".fr", boundary: Boundary::None, rule: Domain, except_words: &[] },
    Marker { text: ".de", boundary: Boundary::None, rule: Domain, except_words: &[] },
    Marker { text: ".ru", boundary: Boundary::None, rule: Domain, except_words: &[] },
    Marker { text: ".observer", boundary: Boundary::None, rule: Domain, except_words: &[] },
    Marker { text: "time/", boundary: Boundary::Start, rule: Timestamp, except_words: &[] },
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
    // A field separator: a script that joined a device name and a User-Agent (`iphone|Mozilla/5.0 …`).
    Marker { text: "|", boundary: Boundary::None, rule: Plain, except_words: &[] },
    // SQL injection in the header (`…'+(select load_file('…'))+'`, `…=(SELECT … PG_SLEEP(15))--`).
    Marker { text: "(select ", boundary: Boundary::None, rule: Plain, except_words: &[] },
];

impl MarkerRule {
    fn holds(self, ua: &[u8], start: usize, end: usize) -> bool {
        match self {
            Plain | Url => true,
            WordEnd => match ua.get(end) {
                Some(b) if b.is_ascii_alphabetic() => {
                    b.eq_ignore_ascii_case(&b's')
                        && !ua.get(end + 1).is_some_and(|c| c.is_ascii_alphanumeric())
                }
                _ => true,
            },
            Tail(endings) => {
                let rest = ua[end..]
                    .iter()
                    .take_while(|b| b.is_ascii_alphanumeric())
                    .count();
                let rest = &ua[end..end + rest];
                endings
                    .iter()
                    .any(|e| rest.eq_ignore_ascii_case(e.as_bytes()))
            }
            Email => looks_like_email(ua, start, end),
            ObfuscatedEmail => looks_like_obfuscated_email(ua, start, end),
            Domain => {
                let after = ua.get(end).copied();
                start > 0
                    && ua[start - 1].is_ascii_alphanumeric()
                    && !after.is_some_and(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
                    // `WEB.DE/1.5` is a product token with a version, not a host.
                    && !(after == Some(b'/') && ua.get(end + 1).is_some_and(u8::is_ascii_digit))
            }
            Timestamp => ua[end..].iter().take_while(|b| b.is_ascii_digit()).count() >= 12,
        }
    }
}

/// `local[at]host.tld`: a word character before the marker (spaces and `;` skipped) and a dotted
/// host name after it.
fn looks_like_obfuscated_email(ua: &[u8], at: usize, after: usize) -> bool {
    let before = ua[..at].iter().rev().find(|b| !matches!(b, b' ' | b';'));
    if !before.is_some_and(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let skip = ua[after..]
        .iter()
        .take_while(|b| matches!(b, b' ' | b';'))
        .count();
    let host_start = after + skip;
    if !ua
        .get(host_start)
        .is_some_and(|b| b.is_ascii_alphanumeric())
    {
        return false;
    }
    let host_len = ua[host_start..]
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'-' || **b == b'.')
        .count();
    let host = &ua[host_start..host_start + host_len];
    host.windows(2)
        .any(|w| w[0] == b'.' && w[1].is_ascii_alphabetic())
}

/// `local@host.tld`: a word character before the `@`, then a host label and, further on, a dot
/// followed by a letter (`root@8f6g….burpcollaborator.net`, but not `android@111.0`).
fn looks_like_email(ua: &[u8], at: usize, after: usize) -> bool {
    let local_ok = at > 0 && (ua[at - 1].is_ascii_alphanumeric() || b"._-+".contains(&ua[at - 1]));
    if !local_ok || !ua.get(after).is_some_and(|b| b.is_ascii_alphanumeric()) {
        return false;
    }
    let host_len = ua[after..]
        .iter()
        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'-' || **b == b'.')
        .count();
    let host = &ua[after..after + host_len];
    host.windows(2)
        .any(|w| w[0] == b'.' && w[1].is_ascii_alphabetic())
}

/// True when the match at `start` follows `like ` (`like Gecko`, `like FeedFetcher-Google`,
/// `like Googlebot`): a client naming what it imitates is not that client.
fn after_like(ua: &[u8], start: usize) -> bool {
    start >= 5 && ua[start - 5..start].eq_ignore_ascii_case(b"like ")
}

/// The [`UaMatch::UnknownBot`] reason of a header that names no platform (see [`PLATFORMS`]).
pub const NO_PLATFORM: &str = "no platform";

/// The [`UaMatch::UnknownBot`] reason of a header without a single digit (`Linux Gnu (cow)`,
/// `ipad`): browsers and apps always carry a version number.
pub const NO_VERSION: &str = "no version";

/// The [`UaMatch::UnknownBot`] reason of a `(compatible; …)` comment that names no platform
/// (`Mozilla/5.0 (compatible; Dormouse/1.0)`, `(KHTML, like Gecko; compatible; pageburst)`):
/// browsers that claim compatibility say on what (`compatible; MSIE 9.0; Windows NT 6.1`).
pub const COMPATIBLE_WITHOUT_PLATFORM: &str = "compatible without platform";

/// Words that name the platform a human-operated client runs on: an operating system or device
/// (`Windows NT 10.0`, `Linux; Android 14`, `CFNetwork/… Darwin/…`, `MIDP-2.0`) or a browser
/// engine (`Gecko/20100101`, `AppleWebKit/537.36`, `Trident/7.0`, `MSIE 8.0`, `Presto/2.12`).
/// Browsers, webviews and apps always name one; a header that names none (`Abcd`, `Hello World`,
/// `Go 1.1 package http`, `Mozilla/5.0 Keydrop`) is a program's, so without a marker it is an
/// unknown bot rather than a browser. `Mozilla/` alone is not a platform: every program can
/// prefix it. A word ending in `/` is a product token and counts only with a version number
/// after it (`Gecko/20100101`, not the `Gecko/geckotrail` of a template), except `FBAN/FBIOS`.
const PLATFORMS: &[&str] = &[
    "opera/",
    "windows",
    "win32",
    "win64",
    "macintosh",
    "mac os",
    "mac_powerpc",
    "osx",
    "darwin",
    "cfnetwork",
    "iphone",
    "ipad",
    "ipod",
    "ios",
    "linux",
    "android",
    "x11",
    "cros",
    "freebsd",
    "openbsd",
    "netbsd",
    "sunos",
    "amigaos",
    "midp",
    "cldc",
    "symbian",
    "series40",
    "series60",
    "blackberry",
    "playstation",
    "nintendo",
    "tizen",
    "kaios",
    "webos",
    "lynx/",
    "dalvik/",
    "applewebkit/",
    "amiga",
    "morphos",
    "macos",
    "mac ",
    "win7",
    "win8",
    "win10",
    "win11",
    "up.browser",
    "roku",
    "fban/",
    "mozacfetch",
    "microsoft office",
    "googleapp/",
    "htc",
    "gecko/",
    "trident/",
    "msie",
    "presto/",
    "khtml/",
    "beos",
    "haiku",
    "syllable",
    "inferno",
    "cygwin",
    "win95",
    "win98",
    "winnt",
    "s60",
    "msoffice",
    "ms-office",
];

/// The `(…)` comment around `at` (from its `(` to its `)` or the end), if `at` is inside one.
fn comment_around(ua: &[u8], at: usize) -> Option<(usize, usize)> {
    let open = ua[..at].iter().rposition(|b| matches!(b, b'(' | b')'))?;
    (ua[open] == b'(').then(|| {
        let close = ua[at..]
            .iter()
            .position(|b| *b == b')')
            .map_or(ua.len(), |c| at + c);
        (open, close)
    })
}

/// True when the URL or host name at `at` is a bare homepage: a host, at most a `/` after it,
/// then the end of the header or of a comment item (`http://www.xbmc.org)`, `http://bsalsa.com/;`),
/// not a page of a site (`https://top.mail.ru/passremind`).
fn is_homepage(ua: &[u8], at: usize) -> bool {
    let mut i = at;
    if let Some(p) = ua[at..].windows(3).position(|w| w == b"://") {
        if p < 6 {
            i = at + p + 3;
        }
    }
    while i < ua.len() && (ua[i].is_ascii_alphanumeric() || matches!(ua[i], b'.' | b'-' | b':')) {
        i += 1;
    }
    if ua.get(i) == Some(&b'/') {
        i += 1;
    }
    ua.get(i)
        .is_none_or(|b| matches!(b, b')' | b';' | b' ' | b','))
}

/// Start offsets of the platform words seen so far; counts overflow as "everywhere".
struct PlatformHits {
    starts: [u32; 16],
    len: usize,
    overflow: bool,
}

impl PlatformHits {
    fn push(&mut self, start: usize) {
        if self.len < self.starts.len() {
            self.starts[self.len] = start as u32;
            self.len += 1;
        } else {
            self.overflow = true;
        }
    }

    fn any(&self) -> bool {
        self.len > 0
    }

    fn within(&self, (from, to): (usize, usize)) -> bool {
        self.overflow
            || self.starts[..self.len]
                .iter()
                .any(|s| (from..to).contains(&(*s as usize)))
    }
}

#[derive(Clone, Copy)]
enum Owner {
    Agent {
        id: AgentId,
        priority: i8,
    },
    Marker(u16),
    Platform,
    /// `compatible`: see [`COMPATIBLE_WITHOUT_PLATFORM`].
    Compatible,
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
/// The alphanumeric word around `start..end`, at most [`MAX_WORD`] bytes each side: except
/// words are short, and the cap keeps a header of one long repeated word linear, not quadratic.
fn word_around(ua: &[u8], start: usize, end: usize) -> &[u8] {
    let mut s = start;
    while s > 0 && start - s < MAX_WORD && is_word_byte(ua[s - 1]) {
        s -= 1;
    }
    let mut e = end;
    while e < ua.len() && e - end < MAX_WORD && is_word_byte(ua[e]) {
        e += 1;
    }
    &ua[s..e]
}

/// Longest run walked on each side of a match by [`word_around`].
const MAX_WORD: usize = 64;

/// Bytes of a User-Agent that are classified; the rest is ignored. Real headers are a few
/// hundred bytes; this bounds the work an attacker can ask for per request.
pub const MAX_UA_BYTES: usize = 4096;

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
        texts.push(b"compatible");
        patterns.push(PatternInfo {
            owner: Owner::Compatible,
            exact: None,
            boundary: Boundary::Word,
            position: Position::Anywhere,
        });
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
        let ua = &trimmed[..trimmed.len().min(MAX_UA_BYTES)];
        // (priority, length, -start) of the best agent match so far.
        let mut best: Option<(i8, usize, usize, AgentId)> = None;
        let mut marker: Option<&'static str> = None;
        let mut platforms = PlatformHits {
            starts: [0; 16],
            len: 0,
            overflow: false,
        };
        // A URL marker and a `compatible` word wait for the platform words of their comment.
        let mut url: Option<(usize, &'static str)> = None;
        let mut compatible: Option<usize> = None;
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
                Owner::Platform => {
                    let versioned = ua[end - 1] != b'/'
                        || ua.get(end).is_some_and(u8::is_ascii_digit)
                        || ua[start..end].eq_ignore_ascii_case(b"fban/");
                    if versioned {
                        platforms.push(start);
                    }
                }
                Owner::Compatible => {
                    compatible.get_or_insert(start);
                }
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
                            if matches!(mk.rule, Url | Domain) {
                                url.get_or_insert((start, mk.text));
                            } else {
                                marker = Some(mk.text);
                            }
                        }
                    }
                }
            }
        }
        if let Some((_, _, _, id)) = best {
            return UaMatch::Agent(id);
        }
        if let Some(text) = marker {
            return UaMatch::UnknownBot(text);
        }
        if let Some((at, text)) = url {
            let homepage_beside_platform = comment_around(ua, at)
                .is_some_and(|comment| platforms.within(comment) && is_homepage(ua, at));
            if !homepage_beside_platform {
                return UaMatch::UnknownBot(text);
            }
        }
        if !platforms.any() {
            return UaMatch::UnknownBot(NO_PLATFORM);
        }
        if let Some(at) = compatible {
            let comment = comment_around(ua, at).unwrap_or((0, ua.len()));
            if !platforms.within(comment) {
                return UaMatch::UnknownBot(COMPATIBLE_WITHOUT_PLATFORM);
            }
        }
        if !ua.iter().any(u8::is_ascii_digit) {
            return UaMatch::UnknownBot(NO_VERSION);
        }
        UaMatch::Browser
    }
}
