//! Classification of real User-Agent corpora (copied from ../shared/data/agents; provenance and
//! licences in data/SOURCES.md). Each test prints every miss so a failure says what to fix.
// Test code: a fixture that fails to load should fail the test loudly.
#![allow(clippy::unwrap_used)]

use std::collections::{BTreeMap, HashSet};

use serde::Deserialize;
use tollgate_agents::{Catalogue, Class, UaMatch, UaMatcher};

const CORPORA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/corpora/");

fn read(name: &str) -> String {
    std::fs::read_to_string(format!("{CORPORA}{name}")).unwrap()
}

fn setup() -> (Catalogue, UaMatcher) {
    let c = Catalogue::embedded().unwrap();
    let m = UaMatcher::new(&c).unwrap();
    (c, m)
}

fn describe(c: &Catalogue, m: UaMatch) -> String {
    match m {
        UaMatch::Agent(id) => format!("{} ({})", c.agent(id).name, c.agent(id).class),
        other => format!("{other:?}"),
    }
}

/// isbot's browsers.yml: group name -> UAs.
fn isbot(name: &str) -> BTreeMap<String, Vec<String>> {
    serde_yaml::from_str(&read(name)).unwrap()
}

#[derive(Deserialize)]
struct MatomoCase {
    user_agent: String,
    #[serde(default)]
    bot: Option<MatomoBot>,
    #[serde(default)]
    client: Option<MatomoClient>,
}
#[derive(Deserialize)]
struct MatomoBot {
    name: String,
    #[serde(default)]
    category: Option<String>,
}
#[derive(Deserialize)]
struct MatomoClient {
    name: String,
    /// `browser`, `mobile app`, `library`, `feed reader`, …
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

/// matomo's fixtures of browser *devices* also hold a few clients that matomo itself types as
/// `library` (`Wget/1.11.4 Red Hat modified`): those are tools, not browsers.
fn is_matomo_library(case: &MatomoCase) -> bool {
    case.client
        .as_ref()
        .is_some_and(|c| c.kind.as_deref() == Some("library"))
}

/// matomo's fixtures of browser *devices* also hold a few feed-reader apps that matomo itself
/// types as `feed reader` (`Reeder/1020.09.00 CFNetwork/596.3.3 Darwin/12.3.0`): the catalogue
/// classes feed readers `feed`, desktop ones included, so those must be their `feed` agent.
fn is_matomo_feed_reader(case: &MatomoCase) -> bool {
    case.client
        .as_ref()
        .is_some_and(|c| c.kind.as_deref() == Some("feed reader"))
}

fn matomo(name: &str) -> Vec<MatomoCase> {
    serde_yaml::from_str(&read(name)).unwrap()
}

fn is_isbot_exempt_group(group: &str) -> bool {
    group.starts_with("ZZZ Insignificat bots") || group.starts_with("ZZZ Miscellaneous")
}

/// The browser corpora (matomo desktop + smartphone, isbot browsers outside the exempt groups).
fn browser_uas() -> HashSet<String> {
    let mut all: HashSet<String> = isbot("isbot-browsers.yml")
        .into_iter()
        .filter(|(group, _)| !is_isbot_exempt_group(group))
        .flat_map(|(_, uas)| uas)
        .collect();
    for file in [
        "matomo-device-detector-desktop.yml",
        "matomo-device-detector-smartphone.yml",
    ] {
        all.extend(matomo(file).into_iter().map(|c| c.user_agent));
    }
    all
}

/// The bot corpora (isbot crawlers, matomo bots, crawler-user-agents instances).
fn bot_uas() -> HashSet<String> {
    let mut all: HashSet<String> = isbot("isbot-crawlers.yml")
        .into_values()
        .flatten()
        .collect();
    all.extend(
        matomo("matomo-device-detector-bots.yml")
            .into_iter()
            .map(|c| c.user_agent),
    );
    all.extend(crawler_user_agents());
    all
}

/// User-Agents that one published list calls a browser and another a bot (`HLB/1.247` is a
/// Site24x7 monitor to matomo and a misidentified browser to isbot; VS Code's `Code/1.x` Electron
/// header is a browser to isbot and an agent to crawler-user-agents). No classifier can satisfy
/// both lists, so neither assertion applies to them; their number is pinned so a corpus update
/// that adds one is noticed.
fn contested() -> HashSet<String> {
    let bots = bot_uas();
    let contested: HashSet<String> = browser_uas()
        .into_iter()
        .filter(|ua| bots.contains(ua))
        .collect();
    assert_eq!(contested.len(), 14, "{contested:#?}");
    contested
}

/// One published list's verdict that tollgate does not share, with the reason. `browser: true`:
/// a bot corpus lists a human-operated client (browser, in-app webview, desktop or mobile app);
/// `browser: false`: a browser corpus lists something no browser sends. Every UA containing
/// `ua_contains` must come out as the exemption says (checked by
/// `exemptions_are_all_used_and_hold`), and the corpus's own verdict is not asserted for it.
struct Exemption {
    ua_contains: &'static str,
    browser: bool,
    reason: &'static str,
}

const EXEMPTIONS: &[Exemption] = &[
    Exemption { ua_contains: "DuckDuckGo/", browser: true, reason: "the DuckDuckGo browser app (iOS CFNetwork, Android com.duckduckgo.mobile.android)" },
    Exemption { ua_contains: "ddg_android/", browser: true, reason: "the DuckDuckGo browser app for Android" },
    Exemption { ua_contains: "DDG-Android-", browser: true, reason: "the DuckDuckGo browser app for Android" },
    Exemption { ua_contains: "Anonymous, Mozilla/5.0", browser: true, reason: "a real mobile/desktop browser (Opera, Aloha, Vivaldi) behind an anonymising relay that prefixes `Anonymous, `" },
    Exemption { ua_contains: "wechatdevtools", browser: true, reason: "WeChat DevTools: the mini-program IDE's simulator, driven by a developer by hand" },
    Exemption { ua_contains: ") Cursor/", browser: true, reason: "the Cursor code editor's Electron window, operated by its user" },
    Exemption { ua_contains: "FirePHP/", browser: true, reason: "FirePHP, a Firebug extension that adds itself to a developer's browser UA" },
    Exemption { ua_contains: "SogouMobileBrowser/", browser: true, reason: "Sogou's mobile browser app" },
    Exemption { ua_contains: "PG_SLEEP(", browser: false, reason: "an SQL-injection probe, not a browser (isbot's `Glitches` group lists what isbot chooses not to flag)" },
    Exemption { ua_contains: "Lucidworks-Anda/", browser: false, reason: "Lucidworks Fusion's web crawler (Anda connector), not a browser" },
    Exemption { ua_contains: "(vert.x/", browser: false, reason: "a Java program on the vert.x HTTP client (`MyLib/1.11 (vert.x/4.11.2; GraalVM/21; Java; custom-client)`), not a browser" },
];

fn exemption(ua: &str) -> Option<&'static Exemption> {
    EXEMPTIONS.iter().find(|e| ua.contains(e.ua_contains))
}

#[test]
fn exemptions_are_all_used_and_hold() {
    let (c, m) = setup();
    assert!(EXEMPTIONS.len() < 25, "keep the exemption list short");
    let mut used = vec![0usize; EXEMPTIONS.len()];
    let mut wrong = Vec::new();
    for ua in browser_uas().into_iter().chain(bot_uas()) {
        let Some(i) = EXEMPTIONS.iter().position(|e| ua.contains(e.ua_contains)) else {
            continue;
        };
        used[i] += 1;
        let got = m.match_ua(ua.as_bytes());
        if (got == UaMatch::Browser) != EXEMPTIONS[i].browser {
            wrong.push(format!(
                "{ua} => {} ({})",
                describe(&c, got),
                EXEMPTIONS[i].reason
            ));
        }
    }
    let stale: Vec<_> = EXEMPTIONS
        .iter()
        .zip(&used)
        .filter(|(_, n)| **n == 0)
        .map(|(e, _)| e.ua_contains)
        .collect();
    assert!(
        stale.is_empty(),
        "exemptions that match no corpus UA: {stale:?}"
    );
    assert_all(
        wrong,
        used.iter().sum(),
        "exempted UAs were not classed as their exemption says",
    );
}

fn crawler_user_agents() -> Vec<String> {
    #[derive(Deserialize)]
    struct Entry {
        #[serde(default)]
        instances: Vec<String>,
    }
    let entries: Vec<Entry> = serde_json::from_str(&read("crawler-user-agents.json")).unwrap();
    entries.into_iter().flat_map(|e| e.instances).collect()
}

fn assert_all(misses: Vec<String>, total: usize, what: &str) {
    assert!(
        misses.is_empty(),
        "{} of {total} {what}:\n{}",
        misses.len(),
        misses.join("\n")
    );
}

#[test]
fn matomo_desktop_and_smartphone_fixtures_are_all_browsers() {
    let (c, m) = setup();
    let contested = contested();
    let mut misses = Vec::new();
    let mut total = 0;
    let mut libraries = 0;
    let mut feed_readers = 0;
    for file in [
        "matomo-device-detector-desktop.yml",
        "matomo-device-detector-smartphone.yml",
    ] {
        for case in matomo(file) {
            total += 1;
            if is_matomo_library(&case) {
                libraries += 1;
                assert_ne!(
                    m.match_ua(case.user_agent.as_bytes()),
                    UaMatch::Browser,
                    "{}",
                    case.user_agent
                );
                continue;
            }
            if is_matomo_feed_reader(&case) {
                feed_readers += 1;
                let class = m.match_ua(case.user_agent.as_bytes()).class(&c);
                assert_eq!(class, Class::Feed, "{}", case.user_agent);
                continue;
            }
            if contested.contains(&case.user_agent) || exemption(&case.user_agent).is_some() {
                continue;
            }
            let got = m.match_ua(case.user_agent.as_bytes());
            if got != UaMatch::Browser {
                misses.push(format!(
                    "{file}: {} => {}",
                    case.user_agent,
                    describe(&c, got)
                ));
            }
        }
    }
    assert_eq!(total, 569 + 501);
    assert_eq!(libraries, 1);
    assert_eq!(feed_readers, 3);
    assert_all(misses, total, "matomo browser UAs were not classed browser");
}

#[test]
fn isbot_browsers_are_all_browsers_outside_the_exempt_groups() {
    let (c, m) = setup();
    let contested = contested();
    let mut misses = Vec::new();
    let mut total = 0;
    for (group, uas) in isbot("isbot-browsers.yml") {
        if is_isbot_exempt_group(&group) {
            continue;
        }
        for ua in uas {
            total += 1;
            if contested.contains(&ua) || exemption(&ua).is_some() {
                continue;
            }
            let got = m.match_ua(ua.as_bytes());
            if got != UaMatch::Browser {
                misses.push(format!("[{group}] {ua} => {}", describe(&c, got)));
            }
        }
    }
    assert!(total > 500, "{total}");
    assert_all(misses, total, "isbot browser UAs were not classed browser");
}

#[test]
fn isbot_exempt_browser_groups_are_never_ai_training() {
    let (c, m) = setup();
    let mut seen = 0;
    for (group, uas) in isbot("isbot-browsers.yml") {
        if !is_isbot_exempt_group(&group) {
            continue;
        }
        for ua in uas {
            seen += 1;
            let class = m.match_ua(ua.as_bytes()).class(&c);
            assert_ne!(class, Class::AiTraining, "[{group}] {ua}");
        }
    }
    assert!(seen > 0);
}

fn assert_no_browsers(corpus: &str, uas: impl IntoIterator<Item = String>) {
    let (_c, m) = setup();
    let contested = contested();
    let mut misses = Vec::new();
    let mut total = 0;
    for ua in uas {
        total += 1;
        if contested.contains(&ua) || exemption(&ua).is_some() {
            continue;
        }
        if m.match_ua(ua.as_bytes()) == UaMatch::Browser {
            misses.push(ua);
        }
    }
    assert_all(
        misses,
        total,
        &format!("{corpus} bot UAs were classed browser"),
    );
}

#[test]
fn isbot_crawlers_are_all_bots() {
    let all: Vec<String> = isbot("isbot-crawlers.yml")
        .into_values()
        .flatten()
        .collect();
    assert_no_browsers("isbot-crawlers.yml", all);
}

#[test]
fn matomo_bots_are_all_bots() {
    let all: Vec<String> = matomo("matomo-device-detector-bots.yml")
        .into_iter()
        .map(|c| c.user_agent)
        .collect();
    assert_eq!(all.len(), 1342);
    assert_no_browsers("matomo-device-detector-bots.yml", all);
}

#[test]
fn crawler_user_agents_instances_are_all_bots() {
    let all = crawler_user_agents();
    assert_eq!(all.len(), 2116);
    assert_no_browsers("crawler-user-agents.json", all);
}

/// Where the catalogue has an agent of the same name as matomo's bot name (ASCII
/// case-insensitive, on the name or a product token), that agent is the one matched — or a
/// more specific agent of the same operator: matomo names whole crawler families after their
/// flagship ("Googlebot" for AdsBot-Google, Feedfetcher and Google-InspectionTool; "BingBot" for
/// msnbot and BingPreview), which the catalogue keeps apart because the operator documents them
/// apart (other IP lists, other robots.txt tokens, other purposes).
#[test]
fn matomo_bots_get_the_catalogue_agent_of_the_same_name() {
    let (c, m) = setup();
    let mut misses = Vec::new();
    let mut checked = 0;
    for case in matomo("matomo-device-detector-bots.yml") {
        let Some(bot) = &case.bot else { continue };
        let Some(expected) = c.agents().iter().position(|a| {
            a.name.eq_ignore_ascii_case(&bot.name)
                || a.product_tokens
                    .iter()
                    .any(|t| t.eq_ignore_ascii_case(&bot.name))
        }) else {
            continue;
        };
        checked += 1;
        let got = m.match_ua(case.user_agent.as_bytes());
        let same_family = match got {
            UaMatch::Agent(id) => c.agent(id).operator == c.agents()[expected].operator,
            _ => false,
        };
        if got != UaMatch::Agent(tollgate_agents::AgentId(expected as u16)) && !same_family {
            misses.push(format!(
                "{} (matomo: {}, {:?}) => {} (expected {})",
                case.user_agent,
                bot.name,
                bot.category,
                describe(&c, got),
                c.agents()[expected].name
            ));
        }
    }
    assert!(
        checked > 100,
        "only {checked} matomo bots have a same-named agent"
    );
    assert_all(misses, checked, "matomo bots matched another agent");
}

#[test]
fn matomo_feed_readers_are_never_ai_or_unknown_bots() {
    let (c, m) = setup();
    for case in matomo("matomo-device-detector-feed_reader.yml") {
        let class = m.match_ua(case.user_agent.as_bytes()).class(&c);
        let name = case.client.map(|c| c.name).unwrap_or_default();
        assert!(
            matches!(class, Class::Feed | Class::Browser),
            "{} ({name}) => {class}",
            case.user_agent
        );
    }
}
