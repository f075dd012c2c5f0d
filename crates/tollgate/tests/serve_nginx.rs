//! `tollgate serve` in front of a real nginx origin, with real User-Agents from the catalogue's
//! corpora (issue #3, "Tests with real peers").

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod support;

use std::path::Path;

use support::*;

const CONFIG: &str = r#"
[server]
listen = "127.0.0.1:{port}"
origin = "{origin}"
trusted_proxies = ["127.0.0.1/32"]
terms_url = "https://example.org/terms"

[server.admin]
listen = "127.0.0.1:{admin}"
token = "t0ken"

[policy]
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
name = "allow-browsers"
when = { class = "browser" }
action = "allow"

[[rule]]
name = "allow-feeds"
when = { class = ["feed", "preview", "search"] }
action = "allow"

[[rule]]
name = "charge-ai-training"
when = { class = "ai-training" }
action = "charge"
price = "USD 0.002"
"#;

const SERVER: &str = r#"
server {
  listen 127.0.0.1:{port};
  root {root};
  index index.html index.xml;
  location / { try_files $uri $uri/ =404; }
}
"#;

fn site(dir: &Path) {
    std::fs::create_dir_all(dir.join("feed")).unwrap();
    std::fs::create_dir_all(dir.join("private")).unwrap();
    std::fs::write(
        dir.join("index.html"),
        "<!doctype html><title>home</title><p>Hello from nginx.</p>\n",
    )
    .unwrap();
    std::fs::write(dir.join("feed/index.xml"), "<?xml version=\"1.0\"?><feed xmlns=\"http://www.w3.org/2005/Atom\"><title>t</title></feed>\n").unwrap();
    std::fs::write(dir.join("private/index.html"), "secret\n").unwrap();
    std::fs::write(
        dir.join("robots.txt"),
        "User-agent: *\nDisallow: /private/\n",
    )
    .unwrap();
}

struct Setup {
    nginx: Nginx,
    tg: Tollgate,
    _root: tempfile::TempDir,
}

fn setup() -> Option<Setup> {
    let root = tempfile::tempdir().unwrap();
    site(root.path());
    let nginx = nginx(SERVER, root.path())?;
    let tg = tollgate(CONFIG, &format!("http://127.0.0.1:{}", nginx.port), &[]);
    Some(Setup {
        nginx,
        tg,
        _root: root,
    })
}

#[test]
fn a_browser_gets_the_origins_page_unchanged() {
    let Some(s) = setup() else { return };
    let direct = get(
        &format!("http://127.0.0.1:{}/", s.nginx.port),
        &[("user-agent", FIREFOX)],
    );
    let via = get(&s.tg.url("/"), &[("user-agent", FIREFOX)]);
    assert_eq!(via.status, 200);
    assert_eq!(via.body, direct.body);
    assert_eq!(via.header("content-type"), direct.header("content-type"));
    assert_eq!(via.header("etag"), direct.header("etag"));
}

#[test]
fn gptbot_from_inside_openai_ranges_gets_the_configured_charge() {
    let Some(s) = setup() else { return };
    let r = get(
        &s.tg.url("/"),
        &[("user-agent", GPTBOT), ("x-forwarded-for", OPENAI_IP)],
    );
    assert_eq!(r.status, 402, "{r:?}");
    assert_eq!(r.header("crawler-price"), Some("USD 0.002"));
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert!(r.body.contains("rule: charge-ai-training"), "{}", r.body);
    assert!(
        r.body.contains("terms: https://example.org/terms"),
        "{}",
        r.body
    );
    // The origin never saw it.
    assert!(
        !s.nginx.access_log().contains("GPTBot"),
        "{}",
        s.nginx.access_log()
    );
}

#[test]
fn gptbot_from_outside_openai_ranges_gets_the_spoofed_action() {
    let Some(s) = setup() else { return };
    let r = get(
        &s.tg.url("/"),
        &[("user-agent", GPTBOT), ("x-forwarded-for", "203.0.113.9")],
    );
    assert_eq!(r.status, 403);
    assert!(r.body.contains("rule: deny-spoofed"), "{}", r.body);
    let j = get(
        &s.tg.url("/"),
        &[("user-agent", GPTBOT), ("accept", "application/json")],
    );
    assert_eq!(j.status, 403);
    let v: serde_json::Value = serde_json::from_str(&j.body).unwrap();
    assert_eq!(v["rule"], "deny-spoofed");
    assert_eq!(v["error"], "forbidden");
}

#[test]
fn robots_txt_is_always_200_text_plain() {
    let Some(s) = setup() else { return };
    for ua in [FIREFOX, GPTBOT, MINIFLUX, ""] {
        for xff in ["203.0.113.9", OPENAI_IP] {
            let r = get(
                &s.tg.url("/robots.txt"),
                &[("user-agent", ua), ("x-forwarded-for", xff)],
            );
            assert_eq!(r.status, 200, "{ua} {xff}");
            assert!(
                r.header("content-type").unwrap().starts_with("text/plain"),
                "{r:?}"
            );
        }
    }
}

#[test]
fn miniflux_fetching_the_feed_gets_the_feed_not_html() {
    let Some(s) = setup() else { return };
    let r = get(&s.tg.url("/feed/"), &[("user-agent", MINIFLUX)]);
    assert_eq!(r.status, 200);
    assert!(r.body.starts_with("<?xml"), "{}", r.body);
    assert_eq!(r.header("content-type"), Some("application/atom+xml"));
}

#[test]
fn path_tricks_meet_the_same_rule_as_private() {
    let Some(s) = setup() else { return };
    for path in [
        "/private",
        "/private/",
        "/Private",
        "/%70rivate",
        "//private",
        "/private/.",
        "/./private",
        "/x/../private",
        // Encoded slashes: nginx resolves them as separators, so must the policy.
        "/private%2Findex.html",
        "/x/..%2Fprivate/index.html",
        "/.well-known/..%2Fprivate/index.html",
        "/.well-known/%2e%2e%2fprivate/",
    ] {
        let req = format!("GET {path} HTTP/1.1\r\nHost: example.org\r\nUser-Agent: {FIREFOX}\r\nConnection: close\r\n\r\n");
        let resp = raw(s.tg.port, &req);
        assert!(resp.starts_with("HTTP/1.1 403"), "{path}: {resp}");
        assert!(resp.contains("rule: private"), "{path}: {resp}");
    }
    assert!(
        !s.nginx.access_log().contains("private"),
        "{}",
        s.nginx.access_log()
    );
}

#[test]
fn absolute_url_targets_never_leave_the_origin() {
    let Some(s) = setup() else { return };
    let req = format!(
        "GET http://evil.example/ HTTP/1.1\r\nHost: evil.example\r\nUser-Agent: {FIREFOX}\r\nConnection: close\r\n\r\n"
    );
    let resp = raw(s.tg.port, &req);
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    assert!(resp.contains("Hello from nginx."), "{resp}");
    assert!(
        !resp.to_ascii_lowercase().contains("\r\nlocation:"),
        "{resp}"
    );
    // A "redir"-style query is just a query to the origin: no redirect from tollgate.
    let r = get(
        &s.tg.url("/?redir=https://evil.example/&url=//evil.example"),
        &[("user-agent", FIREFOX)],
    );
    assert_eq!(r.status, 200);
    assert!(r.header("location").is_none());
}

#[test]
fn connect_is_refused_not_tunnelled_and_never_reaches_the_origin() {
    let Some(s) = setup() else { return };
    for ua in [FIREFOX, GPTBOT] {
        let req = format!(
            "CONNECT evil.example:443 HTTP/1.1\r\nHost: evil.example:443\r\nUser-Agent: {ua}\r\n\r\n"
        );
        // No `Connection: close` sent: tollgate closes the connection itself, so `raw` returns.
        let resp = raw(s.tg.port, &req);
        assert!(
            resp.starts_with("HTTP/1.1 400 Bad Request\r\n"),
            "{ua}: {resp}"
        );
        assert!(resp.contains("\r\nconnection: close\r\n"), "{ua}: {resp}");
        assert!(
            resp.ends_with(
                "\r\n\r\n400 Bad Request\ntollgate: CONNECT is not served here (this is a reverse proxy, not a tunnel).\n"
            ),
            "{ua}: {resp}"
        );
    }
    assert!(
        !s.nginx.access_log().contains("CONNECT"),
        "{}",
        s.nginx.access_log()
    );
}

#[test]
fn methods_longer_than_any_registered_one_get_501_and_are_not_logged_or_kept() {
    let Some(s) = setup() else { return };
    let long = format!("M{}", "X".repeat(100_000));
    let req = format!(
        "{long} /m HTTP/1.1\r\nHost: example.org\r\nUser-Agent: {FIREFOX}\r\nConnection: close\r\n\r\n"
    );
    let resp = raw(s.tg.port, &req);
    assert!(
        resp.starts_with("HTTP/1.1 501 Not Implemented\r\n"),
        "{}",
        &resp[..resp.len().min(200)]
    );
    // 32 bytes is still a method (an extension method, passed to the origin).
    let ok = format!(
        "{} /m HTTP/1.1\r\nHost: example.org\r\nUser-Agent: {FIREFOX}\r\nConnection: close\r\n\r\n",
        "M".repeat(32)
    );
    assert!(!raw(s.tg.port, &ok).starts_with("HTTP/1.1 501"));
    let recent = get(
        &format!("http://127.0.0.1:{}/api/decisions", s.tg.admin),
        &[("authorization", "Bearer t0ken")],
    );
    assert_eq!(recent.status, 200);
    assert!(
        recent.body.contains("\"MMMMMMMMMMMMMMMMMMMMMMMMMMMMMMMM\""),
        "{}",
        recent.body
    );
    assert!(
        !recent.body.contains("XXXX"),
        "{}",
        &recent.body[..recent.body.len().min(300)]
    );
    assert!(!s.nginx.access_log().contains("XXXX"));
}

#[test]
fn the_origin_sees_forwarding_headers_it_can_trust() {
    let Some(s) = setup() else { return };
    let r = get(
        &s.tg.url("/"),
        &[
            ("user-agent", FIREFOX),
            ("x-forwarded-for", "198.51.100.23"),
        ],
    );
    assert_eq!(r.status, 200);
    let log = s.nginx.access_log();
    let line = log.lines().last().unwrap();
    // Trusted peer (127.0.0.1): its chain is kept and the peer appended; Forwarded names the
    // client, and the host with its port as an RFC 7239 quoted-string (nginx logs `"` as \x22).
    assert!(line.contains("\"198.51.100.23, 127.0.0.1\""), "{line}");
    assert!(
        line.contains(&format!(
            "\"for=198.51.100.23;proto=http;host=\\x22127.0.0.1:{}\\x22\"",
            s.tg.port
        )),
        "{line}"
    );
}

#[test]
fn a_malformed_request_body_is_the_clients_400_not_an_origin_502() {
    let Some(s) = setup() else { return };
    let req = format!(
        "POST /echo HTTP/1.1\r\nHost: example.org\r\nUser-Agent: {FIREFOX}\r\n\
         Transfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n"
    );
    let resp = raw(s.tg.port, &req);
    assert!(resp.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{resp}");
    assert!(
        resp.ends_with("\r\n\r\n400 Bad Request\ntollgate: the request body is malformed.\n"),
        "{resp}"
    );
    let m = get(
        &format!("http://127.0.0.1:{}/metrics", s.tg.admin),
        &[("authorization", "Bearer t0ken")],
    );
    assert!(
        !m.body.contains("tollgate_upstream_errors_total"),
        "{}",
        m.body
    );
    assert!(
        !s.tg.stderr().contains("origin failed"),
        "{}",
        s.tg.stderr()
    );
}

#[test]
fn origin_down_gives_a_clear_502() {
    let port = free_port();
    let tg = tollgate(CONFIG, &format!("http://127.0.0.1:{port}"), &[]);
    let r = get(&tg.url("/"), &[("user-agent", FIREFOX)]);
    assert_eq!(r.status, 502);
    assert_eq!(
        r.body,
        "502 Bad Gateway\ntollgate: the site's server could not be reached.\n"
    );
    // A client asking for JSON gets JSON; the origin's address is in the log, not the answer.
    let j = get(
        &tg.url("/"),
        &[("user-agent", FIREFOX), ("accept", "application/json")],
    );
    assert_eq!(j.status, 502);
    let v: serde_json::Value = serde_json::from_str(&j.body).unwrap();
    assert_eq!(v["error"], "bad-gateway");
    assert_eq!(
        v["message"],
        "tollgate: the site's server could not be reached."
    );
    assert!(!j.body.contains(&port.to_string()), "{}", j.body);
    let log = tg.stderr();
    assert!(
        log.contains(&format!(
            "the origin http://127.0.0.1:{port}/ did not answer"
        )),
        "{log}"
    );
}

#[test]
fn h2c_prior_knowledge_works_like_http1() {
    let Some(s) = setup() else { return };
    let Some(curl) = external("curl", &["/usr/bin/curl"]) else {
        return;
    };
    let out = std::process::Command::new(curl)
        .args([
            "-s",
            "--http2-prior-knowledge",
            "-o",
            "/dev/null",
            "-w",
            "%{http_version} %{http_code}",
            "-A",
            FIREFOX,
        ])
        .arg(s.tg.url("/"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "2 200");
}

#[test]
fn client_sent_forwarded_for_is_ignored_from_an_untrusted_peer() {
    let Some(s) = setup() else { return };
    let Some(curl) = external("curl", &["/usr/bin/curl"]) else {
        return;
    };
    // From 127.0.0.2 (not in trusted_proxies) a GPTBot claiming an OpenAI address is still
    // judged by its real address: spoofed.
    let out = std::process::Command::new(curl)
        .args([
            "-s",
            "--interface",
            "127.0.0.2",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-A",
            GPTBOT,
            "-H",
        ])
        .arg(format!("X-Forwarded-For: {OPENAI_IP}"))
        .arg(s.tg.url("/"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout), "403");
}

#[test]
fn admin_metrics_count_decisions_and_need_the_token() {
    let Some(s) = setup() else { return };
    get(
        &s.tg.url("/"),
        &[("user-agent", GPTBOT), ("x-forwarded-for", OPENAI_IP)],
    );
    let admin = format!("http://127.0.0.1:{}", s.tg.admin);
    assert_eq!(get(&format!("{admin}/healthz"), &[]).status, 200);
    assert_eq!(get(&format!("{admin}/metrics"), &[]).status, 401);
    let m = get(
        &format!("{admin}/metrics"),
        &[("authorization", "Bearer t0ken")],
    );
    assert_eq!(m.status, 200);
    assert!(
        m.body.contains("tollgate_requests_total{class=\"ai-training\",agent=\"GPTBot\",action=\"charge\",rule=\"charge-ai-training\"} 1"),
        "{}",
        m.body
    );
    assert!(
        m.body
            .contains("tollgate_verification_total{outcome=\"verified\"} 1"),
        "{}",
        m.body
    );
    // The 402 quote is kept for the next request from GPTBot under that rule.
    assert!(
        m.body.contains("tollgate_answer_cache_entries 1"),
        "{}",
        m.body
    );
    let d = get(
        &format!("{admin}/api/decisions"),
        &[("authorization", "Bearer t0ken")],
    );
    let v: serde_json::Value = serde_json::from_str(&d.body).unwrap();
    let last = v.as_array().unwrap().last().unwrap();
    assert_eq!(last["agent"], "GPTBot");
    assert_eq!(last["verification"], "verified(ip-range)");
    assert_eq!(last["client"], OPENAI_IP);
    // The upstream latency histogram is registered at start (count 0); one proxied request
    // makes it one observation.
    assert!(
        m.body.contains("tollgate_upstream_seconds_count 0"),
        "{}",
        m.body
    );
    assert_eq!(get(&s.tg.url("/"), &[("user-agent", FIREFOX)]).status, 200);
    let m = get(
        &format!("{admin}/metrics"),
        &[("authorization", "Bearer t0ken")],
    );
    assert!(
        m.body.contains("tollgate_upstream_seconds_count 1"),
        "{}",
        m.body
    );
    assert!(
        m.body
            .contains("tollgate_verification_total{outcome=\"unverified\"} 1"),
        "{}",
        m.body
    );
}

/// The decision lines in `tg`'s stderr once `n` have been written (the log is flushed every
/// 100 ms), without their timestamps.
fn decision_lines(tg: &Tollgate, n: usize) -> Vec<String> {
    for _ in 0..100 {
        let lines: Vec<String> = tg
            .stderr()
            .lines()
            .filter(|l| l.contains("tollgate::decision"))
            .map(str::to_string)
            .collect();
        if lines.len() >= n {
            return lines;
        }
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    panic!("fewer than {n} decision lines in\n{}", tg.stderr());
}

#[test]
fn every_request_writes_one_decision_line_in_text_and_json() {
    let root = tempfile::tempdir().unwrap();
    site(root.path());
    let Some(nginx) = nginx(SERVER, root.path()) else {
        return;
    };
    let origin = format!("http://127.0.0.1:{}", nginx.port);
    let text = tollgate(CONFIG, &origin, &[]);
    let json = tollgate(
        &CONFIG.replace("[server]\n", "[server]\nlog_json = true\n"),
        &origin,
        &[],
    );
    for tg in [&text, &json] {
        assert_eq!(get(&tg.url("/"), &[("user-agent", FIREFOX)]).status, 200);
        let spoofed = get(
            &tg.url("/private/?q=%22x%22"),
            &[("user-agent", GPTBOT), ("x-forwarded-for", "203.0.113.9")],
        );
        assert_eq!(spoofed.status, 403);
    }
    let lines = decision_lines(&text, 2);
    assert_eq!(lines.len(), 2, "{lines:?}");
    // `2026-11-29T22:14:15.442114Z  INFO …`: RFC 3339 UTC with microseconds.
    for l in &lines {
        assert_eq!(
            (&l[4..5], &l[10..11], &l[19..20], &l[26..27]),
            ("-", "T", ".", "Z"),
            "{l}"
        );
    }
    assert_eq!(
        &lines[0][27..],
        "  INFO tollgate::decision: decision client=127.0.0.1 method=\"GET\" path=\"/\" \
         agent=\"-\" class=\"browser\" verification=unverified action=allow \
         rule=\"allow-browsers\" shadow=[] signature=\"-\""
    );
    assert_eq!(
        &lines[1][27..],
        "  INFO tollgate::decision: decision client=203.0.113.9 method=\"GET\" \
         path=\"/private/\" agent=\"GPTBot\" class=\"ai-training\" \
         verification=spoofed(outside-ranges) action=deny rule=\"deny-spoofed\" \
         shadow=[] signature=\"-\""
    );
    let lines = decision_lines(&json, 2);
    assert_eq!(lines.len(), 2, "{lines:?}");
    let v: Vec<serde_json::Value> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(v[1]["level"], "INFO");
    assert_eq!(v[1]["target"], "tollgate::decision");
    assert_eq!(
        v[1]["fields"],
        serde_json::json!({
            "message": "decision", "client": "203.0.113.9", "method": "GET",
            "path": "/private/", "agent": "GPTBot", "class": "ai-training",
            "verification": "spoofed(outside-ranges)", "action": "deny",
            "rule": "deny-spoofed", "shadow": "[]", "signature": "-"
        })
    );
    assert_eq!(v[0]["fields"]["class"], "browser");
    assert_eq!(v[0]["fields"]["action"], "allow");
}

const SIGNALS: &str = r#"
[signals]
site_url = "https://example.org"
sitemaps = ["https://example.org/sitemap.xml"]

[signals.license]
terms_url = "https://example.org/terms"
price = "USD 0.002"
"#;

#[test]
fn signals_are_generated_from_the_policy_and_never_blocked() {
    let root = tempfile::tempdir().unwrap();
    site(root.path());
    let Some(nginx) = nginx(SERVER, root.path()) else {
        return;
    };
    let config = format!("{CONFIG}{SIGNALS}");
    let tg = tollgate(&config, &format!("http://127.0.0.1:{}", nginx.port), &[]);
    // Even a spoofed GPTBot reads robots.txt, and it is tollgate's, not the origin's.
    let r = get(
        &tg.url("/robots.txt"),
        &[("user-agent", GPTBOT), ("x-forwarded-for", "203.0.113.9")],
    );
    assert_eq!(r.status, 200);
    assert_eq!(r.header("content-type"), Some("text/plain; charset=utf-8"));
    assert!(
        r.body.starts_with("# robots.txt generated by tollgate"),
        "{}",
        r.body
    );
    assert!(r.body.contains("\nUser-agent: GPTBot\n"), "{}", r.body);
    assert!(
        r.body.contains("License: https://example.org/license.xml"),
        "{}",
        r.body
    );
    assert!(
        r.body
            .contains("Content-Usage: train-ai=n, ai-use=n, search=y"),
        "{}",
        r.body
    );
    assert!(
        r.body.contains("Sitemap: https://example.org/sitemap.xml"),
        "{}",
        r.body
    );
    // The `private` rule applies to everyone, so the `*` group says so.
    assert!(r.body.contains("Disallow: /private"), "{}", r.body);
    let t = get(
        &tg.url("/.well-known/tdmrep.json"),
        &[("user-agent", GPTBOT)],
    );
    assert_eq!(t.status, 200);
    assert_eq!(t.header("content-type"), Some("application/json"));
    let v: serde_json::Value = serde_json::from_str(&t.body).unwrap();
    assert_eq!(v[0]["tdm-reservation"], 1);
    let l = get(
        &tg.url("/license.xml"),
        &[("user-agent", GPTBOT), ("x-forwarded-for", "203.0.113.9")],
    );
    assert_eq!(l.status, 200);
    assert_eq!(l.header("content-type"), Some("application/rsl+xml"));
    assert!(l.body.contains("<rsl"), "{}", l.body);
    // Proxied pages carry the signals as headers.
    let p = get(&tg.url("/"), &[("user-agent", FIREFOX)]);
    assert_eq!(p.status, 200);
    assert_eq!(
        p.header("content-usage"),
        Some("train-ai=n, ai-use=n, search=y")
    );
    assert_eq!(p.header("tdm-reservation"), Some("1"));
    assert_eq!(
        p.header("link"),
        Some("<https://example.org/license.xml>; rel=\"license\"; type=\"application/rsl+xml\"")
    );
    // None of these reached the origin.
    let log = nginx.access_log();
    assert!(
        !log.contains("robots.txt") && !log.contains("tdmrep") && !log.contains("license.xml"),
        "{log}"
    );
}

/// Regression (CI once saw tollgate fail to start on a port from `bind(0)`): test servers get
/// ports below the ephemeral range, which outgoing connections never take, and never the same
/// port twice in one test process.
#[test]
fn test_server_ports_lie_below_the_ephemeral_range_and_do_not_repeat() {
    let low = ephemeral_port_low();
    assert!(low > 11_000, "ephemeral range starts at {low}");
    let ports: Vec<u16> = (0..200).map(|_| free_port()).collect();
    assert!(
        ports.iter().all(|&p| (10_000..low).contains(&u32::from(p))),
        "{ports:?}"
    );
    let distinct: std::collections::HashSet<_> = ports.iter().collect();
    assert_eq!(distinct.len(), 200);
}
