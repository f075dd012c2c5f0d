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
