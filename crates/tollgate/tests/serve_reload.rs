//! Reloading `tollgate serve`'s config: SIGHUP and `--watch` swap a good config in atomically; a
//! broken one is rejected with file:line and the old policy stays.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod support;

use std::time::{Duration, Instant};

use support::*;

fn config(action: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:{{port}}"
origin = "{{origin}}"

[[rule]]
name = "browsers"
when = {{ class = "browser" }}
action = "{action}"
"#
    )
}

fn status(tg: &Tollgate) -> u16 {
    get(&tg.url("/"), &[("user-agent", FIREFOX)]).status
}

fn wait_for(tg: &Tollgate, want: u16) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = status(tg);
        if s == want || Instant::now() > deadline {
            return s;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn hup(tg: &Tollgate) {
    let ok = std::process::Command::new("kill")
        .args(["-HUP", &tg.proc.0.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

#[test]
fn sighup_swaps_a_good_config_and_keeps_the_old_one_on_a_bad_one() {
    let site = tempfile::tempdir().unwrap();
    std::fs::write(site.path().join("index.html"), "hi\n").unwrap();
    let origin = format!("dir:{}", site.path().display());
    let tg = tollgate(&config("allow"), &origin, &[]);
    assert_eq!(status(&tg), 200);
    let path = tg.dir.path().join("tollgate.toml");
    let write = |action: &str| {
        let text = config(action)
            .replace("{port}", &tg.port.to_string())
            .replace("{origin}", &origin);
        std::fs::write(&path, text).unwrap();
    };
    write("deny");
    hup(&tg);
    assert_eq!(wait_for(&tg, 403), 403);
    // A broken config: rejected, the deny policy stays, and the log names file and line.
    write("explode");
    hup(&tg);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !tg.stderr().contains("config rejected") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = tg.stderr();
    assert!(log.contains("config rejected; the old one stays"), "{log}");
    assert!(
        log.contains("tollgate.toml:9: unknown variant `explode`"),
        "{log}"
    );
    assert_eq!(status(&tg), 403);
}

#[test]
fn watch_reloads_when_the_file_changes() {
    let site = tempfile::tempdir().unwrap();
    std::fs::write(site.path().join("index.html"), "hi\n").unwrap();
    let origin = format!("dir:{}", site.path().display());
    let tg = tollgate(&config("allow"), &origin, &["--watch"]);
    assert_eq!(status(&tg), 200);
    let text = config("deny")
        .replace("{port}", &tg.port.to_string())
        .replace("{origin}", &origin);
    // mtime granularity: make sure the new write is seen as a change.
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(tg.dir.path().join("tollgate.toml"), text).unwrap();
    assert_eq!(wait_for(&tg, 403), 403);
}

const GPTBOT_UA: &str =
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)";
const CLAUDEBOT_UA: &str =
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; ClaudeBot/1.0; +claudebot@anthropic.com)";

fn deny_config(terms: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:{{port}}"
origin = "{{origin}}"
terms_url = "{terms}"

[[rule]]
name = "no-ai-training"
when = {{ class = "ai-training" }}
action = "deny"
"#
    )
}

/// Refusals are kept per agent, rule and answer kind and built again after a reload: a repeat is
/// byte for byte the first, another agent or kind gets its own, new terms show at once.
#[test]
fn repeated_refusals_are_identical_per_agent_and_kind_and_follow_a_reload() {
    let site = tempfile::tempdir().unwrap();
    std::fs::write(site.path().join("index.html"), "hi\n").unwrap();
    let origin = format!("dir:{}", site.path().display());
    let tg = tollgate(&deny_config("https://example.org/terms"), &origin, &[]);
    let text = |ua: &str| get(&tg.url("/"), &[("user-agent", ua)]);
    let first = text(GPTBOT_UA);
    assert_eq!(first.status, 403);
    assert_eq!(
        first.body,
        "403 Forbidden\nThe site's policy does not allow GPTBot (ai-training) to fetch this page.\n\
         rule: no-ai-training\nterms: https://example.org/terms\n"
    );
    for _ in 0..3 {
        let again = text(GPTBOT_UA);
        assert_eq!(
            (again.status, again.body.as_str()),
            (403, first.body.as_str())
        );
        assert_eq!(again.header("link"), first.header("link"));
    }
    assert_eq!(
        first.header("link"),
        Some("<https://example.org/terms>; rel=\"terms-of-service\"")
    );
    let claude = text(CLAUDEBOT_UA);
    assert_eq!(claude.status, 403);
    assert!(
        claude
            .body
            .contains("does not allow ClaudeBot (ai-training)"),
        "{}",
        claude.body
    );
    let json = get(
        &tg.url("/"),
        &[("user-agent", GPTBOT_UA), ("accept", "application/json")],
    );
    assert_eq!(json.header("content-type"), Some("application/json"));
    let v: serde_json::Value = serde_json::from_str(&json.body).unwrap();
    assert_eq!(v["rule"], "no-ai-training");
    assert_eq!(v["terms"], "https://example.org/terms");
    // Text again after JSON: still the text answer.
    assert_eq!(text(GPTBOT_UA).body, first.body);

    let path = tg.dir.path().join("tollgate.toml");
    let new = deny_config("https://example.org/new-terms")
        .replace("{port}", &tg.port.to_string())
        .replace("{origin}", &origin);
    std::fs::write(&path, new).unwrap();
    hup(&tg);
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut body = String::new();
    while Instant::now() < deadline {
        body = text(GPTBOT_UA).body;
        if body.contains("new-terms") {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        body,
        "403 Forbidden\nThe site's policy does not allow GPTBot (ai-training) to fetch this page.\n\
         rule: no-ai-training\nterms: https://example.org/new-terms\n"
    );
}

#[test]
fn a_reload_rotates_the_admin_token_and_names_the_settings_that_need_a_restart() {
    let site = tempfile::tempdir().unwrap();
    std::fs::write(site.path().join("index.html"), "hi\n").unwrap();
    let origin = format!("dir:{}", site.path().display());
    let text = |token: &str, listen: &str| {
        format!(
            "[server]\nlisten = \"{listen}\"\norigin = \"{{origin}}\"\n\n\
             [server.admin]\nlisten = \"127.0.0.1:{{admin}}\"\ntoken = \"{token}\"\n"
        )
    };
    let tg = tollgate(&text("old-token", "127.0.0.1:{port}"), &origin, &[]);
    let metrics = format!("http://127.0.0.1:{}/metrics", tg.admin);
    let status = |auth: &str| get(&metrics, &[("authorization", auth)]).status;
    assert_eq!(status("Bearer old-token"), 200);
    // The scheme is case-insensitive (RFC 9110 §11.1); the token is not.
    assert_eq!(status("bearer old-token"), 200);
    assert_eq!(status("BEARER old-token"), 200);
    assert_eq!(status("Bearer OLD-TOKEN"), 401);
    let refused = get(&metrics, &[]);
    assert_eq!(refused.status, 401);
    assert_eq!(
        refused.header("www-authenticate"),
        Some("Bearer realm=\"tollgate admin\"")
    );
    // A new token and a new public listen address: the token applies now, the address is named
    // as needing a restart.
    let new = text("new-token", "127.0.0.1:1")
        .replace("{origin}", &origin)
        .replace("{admin}", &tg.admin.to_string());
    std::fs::write(tg.dir.path().join("tollgate.toml"), new).unwrap();
    hup(&tg);
    let deadline = Instant::now() + Duration::from_secs(10);
    while status("Bearer new-token") != 200 && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(status("Bearer new-token"), 200);
    assert_eq!(status("Bearer old-token"), 401);
    let log = tg.stderr();
    assert!(
        log.contains("changed settings take effect only after a restart; the rest of the config is applied settings=[server] listen"),
        "{log}"
    );
    assert_eq!(get(&tg.url("/"), &[("user-agent", FIREFOX)]).status, 200);
}

/// `tollgate check FILE`: (exit code, stdout, stderr).
fn check(path: &std::path::Path, env_token: Option<&str>) -> (i32, String, String) {
    let mut cmd = std::process::Command::new(assert_cmd::cargo::cargo_bin("tollgate"));
    cmd.arg("check")
        .arg(path)
        .env_remove("TOLLGATE_ADMIN_TOKEN");
    if let Some(t) = env_token {
        cmd.env("TOLLGATE_ADMIN_TOKEN", t);
    }
    let out = cmd.output().unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn check_says_why_a_file_cannot_be_read_and_what_serve_would_refuse() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("missing.toml");
    let (code, _, err) = check(&missing, None);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        format!(
            "{}: No such file or directory (os error 2)\n",
            missing.display()
        )
    );
    let (code, _, err) = check(dir.path(), None);
    assert_eq!(code, 1);
    assert!(
        err.starts_with(&format!("{}: ", dir.path().display())),
        "{err}"
    );
    let big = dir.path().join("big.toml");
    std::fs::write(&big, "#".repeat(5 * 1024 * 1024)).unwrap();
    let (code, _, err) = check(&big, None);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        format!(
            "{}: larger than 4194304 bytes; is it the right file?\n",
            big.display()
        )
    );
    // An admin listener with no token: serve would refuse, so check does too — unless the
    // environment supplies one.
    let tokenless = dir.path().join("t.toml");
    std::fs::write(
        &tokenless,
        "[server]\norigin = \"dir:.\"\n\n[server.admin]\nlisten = \"127.0.0.1:9999\"\n",
    )
    .unwrap();
    let (code, _, err) = check(&tokenless, None);
    assert_eq!(code, 1);
    assert_eq!(
        err,
        format!(
            "{}: [server.admin] has no token and $TOLLGATE_ADMIN_TOKEN is not set: serve would refuse to start\n",
            tokenless.display()
        )
    );
    let (code, out, _) = check(&tokenless, Some("s3cret"));
    assert_eq!(code, 0);
    assert_eq!(
        out,
        format!("{}: ok (0 rules, origin dir:.)\n", tokenless.display())
    );
}
