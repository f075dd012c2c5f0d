//! `tollgate serve --forward-auth` behind a real nginx using docs/deploy/nginx-forward-auth.conf
//! (ports and upstreams adapted), with a second nginx server block as the site.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod support;

use support::*;

const CONFIG: &str = r#"
[server]
listen = "127.0.0.1:{port}"
origin = "dir:."
terms_url = "https://example.org/terms"

[[rule]]
name = "deny-spoofed"
when = { verification = "spoofed" }
action = "deny"

[[rule]]
name = "charge-ai-training"
when = { class = "ai-training" }
action = "charge"
price = "USD 0.002"

[[rule]]
name = "limit-unknown-bots"
when = { class = "unknown-bot" }
action = "limit"
limit = { per_second = 0.001, burst = 2, key = "prefix" }
"#;

/// The shipped example with its ports pointed at this test's processes.
fn nginx_conf(origin_port: u16, tollgate_port: u16, root: &str) -> String {
    let shipped = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../docs/deploy/nginx-forward-auth.conf"),
    )
    .unwrap();
    let conf: String = shipped
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n")
        .replace(
            "server 127.0.0.1:3000;",
            &format!("server 127.0.0.1:{origin_port};"),
        )
        .replace(
            "server 127.0.0.1:8081;",
            &format!("server 127.0.0.1:{tollgate_port};"),
        )
        .replace("listen 80;", "listen 127.0.0.1:{port};");
    format!("{conf}\nserver {{ listen 127.0.0.1:{origin_port}; root {root}; }}\n")
}

struct Setup {
    front: Nginx,
    _tg: Tollgate,
    _root: tempfile::TempDir,
}

fn setup() -> Option<Setup> {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("index.html"), "<p>site page</p>\n").unwrap();
    // tollgate first, so the nginx config can name its port.
    let tg = tollgate(CONFIG, "dir:.", &["--forward-auth"]);
    let origin_port = free_port();
    let conf = nginx_conf(origin_port, tg.port, &root.path().display().to_string());
    let front = nginx(&conf, root.path())?;
    wait_port(origin_port, "nginx origin server");
    Some(Setup {
        front,
        _tg: tg,
        _root: root,
    })
}

fn url(s: &Setup, path: &str) -> String {
    format!("http://127.0.0.1:{}{path}", s.front.port)
}

#[test]
fn a_browser_passes_the_check_and_gets_the_site() {
    let Some(s) = setup() else { return };
    let r = get(&url(&s, "/"), &[("user-agent", FIREFOX)]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "<p>site page</p>\n");
}

#[test]
fn a_verified_ai_trainer_sees_tollgates_402_through_nginx() {
    let Some(s) = setup() else { return };
    let r = get(
        &url(&s, "/"),
        &[("user-agent", GPTBOT), ("x-forwarded-for", OPENAI_IP)],
    );
    assert_eq!(r.status, 402, "{r:?}");
    assert_eq!(r.header("crawler-price"), Some("USD 0.002"));
    assert!(r.body.contains("rule: charge-ai-training"), "{}", r.body);
}

#[test]
fn a_spoofed_crawler_sees_tollgates_403_and_json_when_asked() {
    let Some(s) = setup() else { return };
    let r = get(
        &url(&s, "/"),
        &[
            ("user-agent", GPTBOT),
            ("x-forwarded-for", "203.0.113.9"),
            ("accept", "application/json"),
        ],
    );
    assert_eq!(r.status, 403);
    let v: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    assert_eq!(v["rule"], "deny-spoofed");
}

#[test]
fn a_rate_limit_is_429_with_retry_after_and_counted_once_per_request() {
    let Some(s) = setup() else { return };
    let ua = "Mozilla/5.0 (compatible; ExampleResearchBot/0.3; +https://research.example/bot)";
    // burst = 2: two pass, the third is limited. Were the refusal decided twice (check + answer),
    // the second request would already fail.
    for _ in 0..2 {
        assert_eq!(get(&url(&s, "/"), &[("user-agent", ua)]).status, 200);
    }
    let r = get(&url(&s, "/"), &[("user-agent", ua)]);
    assert_eq!(r.status, 429, "{r:?}");
    assert!(r.header("retry-after").is_some(), "{r:?}");
}

/// The status code tollgate `--forward-auth` on `port` answers a check of `method` `uri`
/// (raw bytes, as a proxy may pass them through).
fn check(port: u16, method: &[u8], uri: &[u8]) -> String {
    let mut req = b"GET /auth HTTP/1.1\r\nHost: site.example\r\nUser-Agent: ".to_vec();
    req.extend_from_slice(FIREFOX.as_bytes());
    req.extend_from_slice(b"\r\nX-Forwarded-Method: ");
    req.extend_from_slice(method);
    req.extend_from_slice(b"\r\nX-Forwarded-Uri: ");
    req.extend_from_slice(uri);
    req.extend_from_slice(b"\r\nConnection: close\r\n\r\n");
    raw(port, req)
        .split(' ')
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

#[test]
fn forwarded_uris_meet_the_rule_of_the_path_the_origin_will_serve() {
    let config = r#"
[server]
listen = "127.0.0.1:{port}"
origin = "dir:."

[server.admin]
listen = "127.0.0.1:{admin}"
token = "t"

[[rule]]
name = "deny-private"
when = { path = "/private/**" }
action = "deny"

[[rule]]
name = "deny-deletes"
when = { method = "DELETE" }
action = "deny"
"#;
    let tg = tollgate(config, "", &["--forward-auth"]);
    // Absolute form keeps only its path; raw bytes outside ASCII (nginx's $request_uri passes
    // them through) are percent-encoded, not dropped.
    for uri in [
        &b"/private/a"[..],
        b"http://h/private/a",
        b"HTTPS://h:8443/private/a?x=1",
        b"/private/caf\xc3\xa9",
        b"/private/\xff",
        b"/private/a b",
        b"/%70rivate/a",
    ] {
        let shown = String::from_utf8_lossy(uri);
        assert_eq!(check(tg.port, b"GET", uri), "403", "{shown}");
    }
    for uri in [
        &b"/public"[..],
        b"http://h",
        b"http://h?private/",
        b"/caf\xc3\xa9",
    ] {
        let shown = String::from_utf8_lossy(uri);
        assert_eq!(check(tg.port, b"GET", uri), "200", "{shown}");
    }
    // A method that is no token is unknown (`-`): no `method` rule matches it, and it is shown
    // as `-`, not as sent.
    assert_eq!(check(tg.port, b"DELETE", b"/x"), "403");
    assert_eq!(check(tg.port, b"DEL ETE", b"/y"), "200");
    assert_eq!(check(tg.port, "X".repeat(5000).as_bytes(), b"/z"), "200");
    let r = get(
        &format!("http://127.0.0.1:{}/api/decisions", tg.admin),
        &[("authorization", "Bearer t")],
    );
    let decisions: serde_json::Value = serde_json::from_str(&r.body).unwrap();
    let seen: Vec<(String, String)> = decisions
        .as_array()
        .unwrap()
        .iter()
        .map(|d| {
            (
                d["method"].as_str().unwrap().to_string(),
                d["path"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let last: Vec<(&str, &str)> = seen[seen.len() - 3..]
        .iter()
        .map(|(m, p)| (m.as_str(), p.as_str()))
        .collect();
    assert_eq!(last, [("DELETE", "/x"), ("-", "/y"), ("-", "/z")]);
}
