//! Decisions of a realistic policy for real User-Agents and addresses (embedded catalogue and
//! published ranges).

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::collections::HashMap;

use tollgate_agents::verify::RequestFacts;
use tollgate_agents::{Catalogue, Classifier, RangeTable, UaMatcher};
use tollgate_policy::{Action, Headers, NoHeaders, Policy};

const POLICY: &str = r#"
[policy]
default = "allow"
license_path = "/license.xml"

[[rule]]
name = "deny-spoofed"
when = { verification = "spoofed" }
action = "deny"

[[rule]]
name = "private"
when = { path = ["/private", "/private/**"] }
action = "deny"

[[rule]]
name = "watch-openai"
when = { operator = "OpenAI" }
action = "deny"
shadow = true

[[rule]]
name = "charge-ai-training"
when = { class = "ai-training" }
action = "charge"
price = "USD 0.002"

[[rule]]
name = "limit-unknown-bots"
when = { class = "unknown-bot" }
action = "limit"
limit = { per_second = 0.5, burst = 5, key = "prefix" }

[[rule]]
name = "api-keys"
when = { path = "/api/**", header = { "x-api-key" = "*" } }
action = "allow"

[[rule]]
name = "api-needs-key"
when = { path = "/api/**", method = ["POST", "PUT"] }
action = "deny"
"#;

const GPTBOT: &str = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)";
const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0";

struct H(HashMap<String, String>);
impl Headers for H {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(&name.to_ascii_lowercase()).map(String::as_str)
    }
}

fn setup() -> &'static (Classifier, Policy) {
    static SETUP: std::sync::OnceLock<(Classifier, Policy)> = std::sync::OnceLock::new();
    SETUP.get_or_init(|| {
        let cat = Catalogue::embedded().unwrap();
        let policy = Policy::parse("tollgate.toml", POLICY, &cat).unwrap();
        let m = UaMatcher::new(&cat).unwrap();
        let c = Classifier::new(cat, m, RangeTable::embedded().unwrap()).unwrap();
        (c, policy)
    })
}

fn decide(
    method: &str,
    path: &str,
    ua: &str,
    ip: &str,
    headers: &dyn Headers,
) -> (String, String, Vec<String>) {
    let (c, p) = setup();
    let facts = RequestFacts {
        client_ip: ip.parse().ok(),
        method,
        path,
        user_agent: ua.as_bytes(),
        ..RequestFacts::default()
    };
    let client = c.classify(&facts);
    let d = p.decide(c.catalogue(), &facts, &client, headers);
    let shadowed = d
        .shadowed
        .iter()
        .map(|&i| p.rules()[i].name.clone())
        .collect();
    (d.action.to_string(), p.rule_name(&d).to_string(), shadowed)
}

#[test]
fn gptbot_from_openai_ranges_is_charged_and_the_shadow_rule_is_recorded() {
    let (action, rule, shadowed) =
        decide("GET", "/articles/1", GPTBOT, "132.196.86.17", &NoHeaders);
    assert_eq!(action, "charge(USD 0.002)");
    assert_eq!(rule, "charge-ai-training");
    assert_eq!(shadowed, ["watch-openai"]);
}

#[test]
fn gptbot_from_outside_openai_ranges_is_denied_as_spoofed() {
    let (action, rule, _) = decide("GET", "/articles/1", GPTBOT, "203.0.113.5", &NoHeaders);
    assert_eq!((action.as_str(), rule.as_str()), ("deny", "deny-spoofed"));
}

#[test]
fn protected_paths_are_never_blocked_or_charged() {
    for path in [
        "/robots.txt",
        "/sitemap.xml",
        "/.well-known/tdmrep.json",
        "/license.xml",
        "//robots.txt",
        "/./robots.txt?x=1",
    ] {
        let (action, rule, _) = decide("GET", path, GPTBOT, "203.0.113.5", &NoHeaders);
        assert_eq!(
            (action.as_str(), rule.as_str()),
            ("allow", "protected-path"),
            "{path}"
        );
    }
}

#[test]
fn path_tricks_meet_the_same_rule_as_the_plain_path() {
    for path in [
        "/private",
        "/Private",
        "/%70rivate",
        "//private",
        "/private/.",
        "/./private",
        "/private/x/../y",
        "/PRIVATE/a",
    ] {
        let (action, rule, _) = decide("GET", path, FIREFOX, "198.51.100.1", &NoHeaders);
        assert_eq!(
            (action.as_str(), rule.as_str()),
            ("deny", "private"),
            "{path}"
        );
    }
    let (action, _, _) = decide("GET", "/privateer", FIREFOX, "198.51.100.1", &NoHeaders);
    assert_eq!(action, "allow");
}

#[test]
fn browsers_fall_through_to_the_default() {
    let (action, rule, shadowed) =
        decide("GET", "/articles/1", FIREFOX, "198.51.100.1", &NoHeaders);
    assert_eq!((action.as_str(), rule.as_str()), ("allow", "default"));
    assert!(shadowed.is_empty());
}

#[test]
fn unknown_bots_are_limited_with_the_configured_bucket() {
    let (c, p) = setup();
    let facts = RequestFacts {
        client_ip: "203.0.113.9".parse().ok(),
        method: "GET",
        path: "/",
        user_agent:
            b"Mozilla/5.0 (compatible; ExampleResearchBot/0.3; +https://research.example/bot)",
        ..RequestFacts::default()
    };
    let client = c.classify(&facts);
    let d = p.decide(c.catalogue(), &facts, &client, &NoHeaders);
    match d.action {
        Action::Limit(l) => {
            assert_eq!(l.per_second, 0.5);
            assert_eq!(l.burst, 5);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn header_and_method_conditions() {
    let key = H([("x-api-key".to_string(), "k1".to_string())].into());
    assert_eq!(
        decide("POST", "/api/v1/items", FIREFOX, "198.51.100.1", &key).1,
        "api-keys"
    );
    assert_eq!(
        decide("POST", "/api/v1/items", FIREFOX, "198.51.100.1", &NoHeaders).1,
        "api-needs-key"
    );
    assert_eq!(
        decide("GET", "/api/v1/items", FIREFOX, "198.51.100.1", &NoHeaders).1,
        "default"
    );
}

fn parse_err(src: &str) -> String {
    let cat = Catalogue::embedded().unwrap();
    Policy::parse("t.toml", src, &cat).unwrap_err().to_string()
}

#[test]
fn policy_errors_name_the_line_and_the_problem() {
    assert_eq!(
        parse_err("[[rule]]\nname = \"c\"\naction = \"charge\"\n"),
        "t.toml:2: rule `c`: action \"charge\" needs `price = \"USD 0.002\"`"
    );
    assert_eq!(
        parse_err("[[rule]]\nname = \"c\"\naction = \"charge\"\nprice = \"0.002\"\n"),
        "t.toml:2: rule `c`: price: `0.002`: expected a price like `USD 0.002` (currency code, space, amount)"
    );
    assert_eq!(
        parse_err("[[rule]]\nname = \"c\"\naction = \"charge\"\nprice = \"USD 0.000\"\n"),
        "t.toml:2: rule `c`: price: `USD 0.000`: a charge must be above zero (to let the request in free, use action \"allow\")"
    );
    assert_eq!(
        parse_err("[[rule]]\nname = \"a\"\nwhen = { agent = \"NoSuchBot\" }\naction = \"deny\"\n"),
        "t.toml:2: rule `a`: unknown agent `NoSuchBot` (see `tollgate catalogue list`)"
    );
    assert_eq!(
        parse_err(
            "[[rule]]\nname = \"l\"\naction = \"limit\"\nlimit = { per_second = 0.0, burst = 1 }\n"
        ),
        "t.toml:2: rule `l`: limit.per_second must be a positive number"
    );
    assert_eq!(
        parse_err(
            "[[rule]]\nname = \"l\"\naction = \"limit\"\nlimit = { per_second = 1e-30, burst = 1 }\n"
        ),
        "t.toml:2: rule `l`: limit.per_second must be at least 0.000001 (one request in about 11.6 days); to refuse, use action \"deny\""
    );
    assert_eq!(
        parse_err("[[rule]]\nname = \"p\"\nwhen = { path = \"private\" }\naction = \"deny\"\n"),
        "t.toml:2: rule `p`: path `private` must start with `/`"
    );
    assert_eq!(
        parse_err("[[rule]]\nname = \"d\"\naction = \"deny\"\n[[rule]]\nname = \"d\"\naction = \"deny\"\n"),
        "t.toml:5: duplicate rule name `d`"
    );
    let e = parse_err("[[rule]]\nname = \"x\"\naction = \"explode\"\n");
    assert!(e.starts_with("t.toml:3: unknown variant `explode`"), "{e}");
    let e =
        parse_err("[[rule]]\nname = \"x\"\nwhen = { clas = \"ai-training\" }\naction = \"deny\"\n");
    assert!(e.starts_with("t.toml:3: unknown field `clas`"), "{e}");
}
