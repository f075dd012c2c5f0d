//! `tollgate serve --forward-auth` behind a real Caddy, using docs/deploy/Caddyfile's
//! `forward_auth` block (ports adapted): a 2xx lets the request through, tollgate's own refusal
//! is shown as it is.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod support;

use support::*;

const CONFIG: &str = r#"
[server]
listen = "127.0.0.1:{port}"
origin = "dir:."

[[rule]]
name = "deny-spoofed"
when = { verification = "spoofed" }
action = "deny"

[[rule]]
name = "charge-ai-training"
when = { class = "ai-training" }
action = "charge"
price = "USD 0.002"
"#;

#[test]
fn caddy_forward_auth_passes_browsers_and_shows_tollgates_refusals() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("index.html"), "<p>caddy site</p>\n").unwrap();
    let tg = tollgate(CONFIG, "dir:.", &["--forward-auth"]);
    let origin = free_port();
    // The forward_auth block is the one of docs/deploy/Caddyfile. Caddy 2.6 sends the client
    // address it saw (loopback here), so GPTBot is judged by that: spoofed.
    let caddyfile = format!(
        "{{\n\tadmin off\n\tauto_https off\n}}\n\
         http://127.0.0.1:{{port}} {{\n\tforward_auth 127.0.0.1:{tg} {{\n\t\turi /.tollgate/auth\n\t}}\n\treverse_proxy 127.0.0.1:{origin}\n}}\n\
         http://127.0.0.1:{origin} {{\n\troot * {{root}}\n\tfile_server\n}}\n",
        tg = tg.port
    );
    let Some(c) = caddy(&caddyfile, root.path()) else {
        return;
    };
    wait_port(origin, "caddy origin site");
    let url = format!("http://127.0.0.1:{}/", c.port);
    let ok = get(&url, &[("user-agent", FIREFOX)]);
    assert_eq!(ok.status, 200, "{ok:?}");
    assert_eq!(ok.body, "<p>caddy site</p>\n");
    // Bytespider publishes no ranges: unverified, ai-training, charged.
    let bytespider = "Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 (compatible; Bytespider; spider-feedback@bytedance.com)";
    let paid = get(&url, &[("user-agent", bytespider)]);
    assert_eq!(paid.status, 402, "{paid:?}");
    assert_eq!(paid.header("crawler-price"), Some("USD 0.002"));
    assert!(
        paid.body.contains("rule: charge-ai-training"),
        "{}",
        paid.body
    );
    let spoofed = get(&url, &[("user-agent", GPTBOT)]);
    assert_eq!(spoofed.status, 403, "{spoofed:?}");
    assert!(
        spoofed.body.contains("rule: deny-spoofed"),
        "{}",
        spoofed.body
    );
}
