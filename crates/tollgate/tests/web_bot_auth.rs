//! Web Bot Auth end to end (issue #4): `tollgate keygen` makes a key, a key directory is served
//! on loopback by an in-test HTTP server, `tollgate serve` sits in front of a real nginx origin,
//! and `tollgate sign --exec curl` gets through as `verified(signature)`; the same signed request
//! replayed is refused (its nonce was used), an unsigned one is not let through, a forged one is
//! `spoofed(bad-signature)`.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod support;

use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use support::*;

const CONFIG: &str = r#"
[server]
listen = "127.0.0.1:{port}"
origin = "{origin}"

[server.admin]
listen = "127.0.0.1:{admin}"
token = "t0ken"

[server.web_bot_auth]
allow_http_loopback = true
require_nonce_for_charge = true

[server.web_bot_auth.agents]
curl = "http://127.0.0.1:{dirport}"

[[rule]]
name = "deny-spoofed"
when = { verification = "spoofed" }
action = "deny"

[[rule]]
name = "allow-signed"
when = { verification = "verified(signature)" }
action = "allow"

[[rule]]
name = "deny-tools"
when = { class = "tool" }
action = "deny"
"#;

const SERVER: &str = r#"
server {
  listen 127.0.0.1:{port};
  root {root};
  location / { try_files $uri =404; }
}
"#;

/// Serves `directory` at the well-known path on a loopback port, counting fetches.
fn directory_server(directory: String) -> (u16, Arc<AtomicUsize>) {
    directory_server_with(directory, |_| Vec::new())
}

/// Same, with extra response headers computed from the server's own port.
fn directory_server_with(
    directory: String,
    extra: impl Fn(u16) -> Vec<(String, String)>,
) -> (u16, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counter = Arc::clone(&hits);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let mut headers = http::HeaderMap::new();
    headers.insert(
        "content-type",
        "application/http-message-signatures-directory+json"
            .parse()
            .unwrap(),
    );
    for (n, v) in extra(port) {
        headers.insert(
            http::HeaderName::from_bytes(n.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = axum::Router::new().route(
                "/.well-known/http-message-signatures-directory",
                axum::routing::get(move || {
                    counter.fetch_add(1, Ordering::SeqCst);
                    let body = directory.clone();
                    let headers = headers.clone();
                    async move { (headers, body) }
                }),
            );
            let l = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(l, app).await.unwrap();
        });
    });
    (port, hits)
}

fn tollgate_cmd() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin("tollgate"))
}

/// `tollgate sign` without `--exec`: the header lines it prints.
/// A crawler key made by `tollgate keygen` (which must succeed) as `name` in a new temp dir:
/// the dir (keep it alive), the key file, and the key directory JSON keygen prints.
fn keygen(name: &str) -> (tempfile::TempDir, std::path::PathBuf, String) {
    let keys = tempfile::tempdir().unwrap();
    let key = keys.path().join(name);
    let out = tollgate_cmd()
        .args(["keygen", "--key"])
        .arg(&key)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    (keys, key, String::from_utf8(out.stdout).unwrap())
}

fn signed_headers(key: &std::path::Path, agent: &str, url: &str) -> Vec<(String, String)> {
    let out = tollgate_cmd()
        .args(["sign", "--key"])
        .arg(key)
        .args(["--agent", agent, "GET", url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| {
            let (n, v) = l.split_once(": ").unwrap();
            (n.to_string(), v.to_string())
        })
        .collect()
}

fn last_decision(admin: u16) -> serde_json::Value {
    let d = get(
        &format!("http://127.0.0.1:{admin}/api/decisions"),
        &[("authorization", "Bearer t0ken")],
    );
    let v: serde_json::Value = serde_json::from_str(&d.body).unwrap();
    v.as_array().unwrap().last().unwrap().clone()
}

#[test]
fn signed_curl_gets_through_and_a_replay_is_refused() {
    let Some(curl) = external("curl", &["/usr/bin/curl"]) else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("articles")).unwrap();
    std::fs::write(root.path().join("articles/42"), "article 42\n").unwrap();
    let Some(nginx) = nginx(SERVER, root.path()) else {
        return;
    };
    // The crawler operator: a key, and the directory to publish.
    let (_keys, key, directory) = keygen("crawler.jwk");
    let jwk: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&key).unwrap()).unwrap();
    let thumbprint = jwk["kid"].as_str().unwrap().to_string();
    assert!(directory.contains(&thumbprint));
    assert!(
        !directory.contains("\"d\""),
        "the private key is never published"
    );
    let (dirport, hits) = directory_server(directory);
    let agent = format!("http://127.0.0.1:{dirport}");
    let tg = tollgate(
        &CONFIG.replace("{dirport}", &dirport.to_string()),
        &format!("http://127.0.0.1:{}", nginx.port),
        &[],
    );
    let url = tg.url("/articles/42");

    // Unsigned curl is a tool: denied.
    let plain = Command::new(&curl)
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", &url])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&plain.stdout), "403");

    // Signed with `tollgate sign --exec curl`: through, as verified(signature).
    let out = tollgate_cmd()
        .args(["sign", "--key"])
        .arg(&key)
        .args(["--agent", &agent, "GET", &url, "--exec"])
        .arg(&curl)
        .args(["-s", "-w", " %{http_code}"])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "article 42\n 200",
        "{}\n{}",
        String::from_utf8_lossy(&out.stderr),
        tg.stderr()
    );
    let d = last_decision(tg.admin);
    assert_eq!(d["verification"], "verified(signature)");
    assert_eq!(d["agent"], "curl");
    assert_eq!(d["rule"], "allow-signed");
    assert_eq!(d["signature"], format!("verified({thumbprint})"));

    // The same signed request twice: the nonce was used, the second is spoofed(replayed).
    let headers = signed_headers(&key, &agent, &url);
    assert_eq!(
        headers.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["Signature-Agent", "Signature-Input", "Signature"]
    );
    let mut h: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    h.push(("user-agent", "curl/8.14.1"));
    let first = get(&url, &h);
    assert_eq!(first.status, 200);
    assert_eq!(first.body, "article 42\n");
    let replay = get(&url, &h);
    assert_eq!(replay.status, 403, "{}", replay.body);
    let d = last_decision(tg.admin);
    assert_eq!(d["verification"], "spoofed(replayed)");
    assert_eq!(d["rule"], "deny-spoofed");
    assert_eq!(d["signature"], "spoofed(replayed)");

    // Signed for another path: the signature does not cover this one.
    let other = signed_headers(&key, &agent, &tg.url("/articles/41"));
    let mut h: Vec<(&str, &str)> = other
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    h.push(("user-agent", "curl/8.14.1"));
    assert_eq!(get(&url, &h).status, 403);
    assert_eq!(
        last_decision(tg.admin)["signature"],
        "spoofed(bad-signature)"
    );

    // One directory fetch served every check (moka cache).
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    let m = get(
        &format!("http://127.0.0.1:{}/metrics", tg.admin),
        &[("authorization", "Bearer t0ken")],
    );
    for line in [
        r#"tollgate_signature_verifications_total{outcome="verified",reason="ok"} 2"#,
        r#"tollgate_signature_verifications_total{outcome="spoofed",reason="replayed"} 1"#,
        r#"tollgate_signature_verifications_total{outcome="spoofed",reason="bad-signature"} 1"#,
    ] {
        assert!(m.body.contains(line), "{line}\n{}", m.body);
    }
}

#[test]
fn an_unreachable_directory_leaves_the_client_unverified_not_spoofed() {
    let Some(_curl) = external("curl", &["/usr/bin/curl"]) else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("index.html"), "hi\n").unwrap();
    let (_keys, key, _) = keygen("k.jwk");
    // Nothing listens on this port.
    let dead = free_port();
    let tg = tollgate(
        &CONFIG.replace("{dirport}", &dead.to_string()),
        &format!("dir:{}", root.path().display()),
        &[],
    );
    let url = tg.url("/index.html");
    let headers = signed_headers(&key, &format!("http://127.0.0.1:{dead}"), &url);
    let mut h: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    h.push(("user-agent", "curl/8.14.1"));
    let r = get(&url, &h);
    assert_eq!(r.status, 403, "{}", r.body);
    let d = last_decision(tg.admin);
    assert_eq!(d["verification"], "unverified");
    assert_eq!(d["rule"], "deny-tools");
    assert_eq!(d["signature"], "unverified(directory-unavailable)");
}

/// A directory response signature (draft §4.2, App. E.2.3) over `"@authority";req` and
/// `content-digest`, made with the crawler's key for a directory served on `port`.
fn directory_signature(
    key: &std::path::Path,
    body: &str,
    port: u16,
    tamper: bool,
) -> Vec<(String, String)> {
    use base64::Engine as _;
    let signer =
        tollgate_httpsig::Signer::from_jwk_json(&std::fs::read_to_string(key).unwrap()).unwrap();
    let digest = tollgate_httpsig::directory::content_digest(body.as_bytes());
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let params = format!(
        r#"("@authority";req "content-digest");created={};expires={};keyid="{}";tag="http-message-signatures-directory""#,
        now - 60,
        now + 86_400,
        signer.public_key().thumbprint
    );
    let base = format!(
        "\"@authority\";req: 127.0.0.1:{port}\n\"content-digest\": {digest}\n\"@signature-params\": {params}"
    );
    let mut sig = signer.sign_base(base.as_bytes());
    if tamper {
        sig[0] ^= 1;
    }
    vec![
        ("content-digest".into(), digest),
        ("signature-input".into(), format!("binding={params}")),
        (
            "signature".into(),
            format!(
                "binding=:{}:",
                base64::engine::general_purpose::STANDARD.encode(sig)
            ),
        ),
    ]
}

#[test]
fn signed_directories_are_checked_when_required() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("index.html"), "hi\n").unwrap();
    for (tamper, want_status, want_signature) in [
        (false, 200, "verified"),
        (true, 403, "unverified(directory-unavailable)"),
    ] {
        let (_keys, key, directory) = keygen("k.jwk");
        let k = key.clone();
        let body = directory.clone();
        let (dirport, hits) = directory_server_with(directory, move |port| {
            directory_signature(&k, &body, port, tamper)
        });
        let config = CONFIG.replace("{dirport}", &dirport.to_string()).replace(
            "require_nonce_for_charge = true",
            "require_nonce_for_charge = true\nrequire_directory_signature = true",
        );
        let tg = tollgate(&config, &format!("dir:{}", root.path().display()), &[]);
        let url = tg.url("/index.html");
        let headers = signed_headers(&key, &format!("http://127.0.0.1:{dirport}"), &url);
        let mut h: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        h.push(("user-agent", "curl/8.14.1"));
        assert_eq!(get(&url, &h).status, want_status, "tamper={tamper}");
        let d = last_decision(tg.admin);
        assert!(
            d["signature"].as_str().unwrap().starts_with(want_signature),
            "{d}"
        );
        assert_eq!(hits.load(Ordering::SeqCst), 1);
    }
}

#[test]
fn a_directory_over_the_size_cap_is_not_used() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("index.html"), "hi\n").unwrap();
    let (_keys, key, directory) = keygen("k.jwk");
    assert!(directory.len() > 100);
    let (dirport, hits) = directory_server(directory);
    let config = CONFIG.replace("{dirport}", &dirport.to_string()).replace(
        "require_nonce_for_charge = true",
        "require_nonce_for_charge = true\nmax_directory_bytes = 100",
    );
    let tg = tollgate(&config, &format!("dir:{}", root.path().display()), &[]);
    let url = tg.url("/index.html");
    let headers = signed_headers(&key, &format!("http://127.0.0.1:{dirport}"), &url);
    let mut h: Vec<(&str, &str)> = headers
        .iter()
        .map(|(n, v)| (n.as_str(), v.as_str()))
        .collect();
    h.push(("user-agent", "curl/8.14.1"));
    assert_eq!(get(&url, &h).status, 403);
    assert_eq!(
        last_decision(tg.admin)["signature"],
        "unverified(directory-unavailable)"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert!(tg.stderr().contains("limit 100 bytes"), "{}", tg.stderr());
}

/// A loopback server answering the well-known path with a redirect to `location(port)`, and
/// `/keys.json` with `directory`.
fn redirecting_server(directory: String, location: impl Fn(u16) -> String) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    let loc = location(port);
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let app = axum::Router::new()
                .route(
                    "/.well-known/http-message-signatures-directory",
                    axum::routing::get(move || {
                        let loc = loc.clone();
                        async move { (http::StatusCode::FOUND, [("location", loc)], "") }
                    }),
                )
                .route(
                    "/keys.json",
                    axum::routing::get(move || {
                        let body = directory.clone();
                        async move { ([("content-type", "application/json")], body) }
                    }),
                );
            let l = tokio::net::TcpListener::from_std(listener).unwrap();
            axum::serve(l, app).await.unwrap();
        });
    });
    port
}

#[test]
fn directory_redirects_are_followed_only_within_the_agents_origin() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("index.html"), "hi\n").unwrap();
    let (_keys, key, directory) = keygen("k.jwk");
    let same = redirecting_server(directory.clone(), |_| "/keys.json".to_string());
    // 127.0.0.2 is loopback too, but another origin.
    let off = redirecting_server(directory, |p| format!("http://127.0.0.2:{p}/keys.json"));
    for (port, status, signature) in [
        (same, 200, "verified("),
        (off, 403, "unverified(directory-unavailable)"),
    ] {
        let tg = tollgate(
            &CONFIG.replace("{dirport}", &port.to_string()),
            &format!("dir:{}", root.path().display()),
            &[],
        );
        let url = tg.url("/index.html");
        let headers = signed_headers(&key, &format!("http://127.0.0.1:{port}"), &url);
        let mut h: Vec<(&str, &str)> = headers
            .iter()
            .map(|(n, v)| (n.as_str(), v.as_str()))
            .collect();
        h.push(("user-agent", "curl/8.14.1"));
        assert_eq!(get(&url, &h).status, status, "port {port}");
        let d = last_decision(tg.admin);
        assert!(
            d["signature"].as_str().unwrap().starts_with(signature),
            "{d}"
        );
        if status == 403 {
            assert!(
                tg.stderr().contains("redirect off the agent's origin"),
                "{}",
                tg.stderr()
            );
        }
    }
}

/// Pay per crawl with a signature (issue #5 with #4): the crawler's key thumbprint is registered
/// to an account; a signed request that covers `crawler-max-price` is served and charged; one
/// whose signature does not cover the price header is refused with `InvalidSignature`; one
/// without a nonce is not accepted as a payer while nonces are required for charges.
#[test]
fn a_signature_covering_the_price_pays_from_the_keys_account() {
    let Some(curl) = external("curl", &["/usr/bin/curl"]) else {
        return;
    };
    let root = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(root.path().join("articles")).unwrap();
    std::fs::write(root.path().join("articles/42"), "article 42\n").unwrap();
    let Some(nginx) = nginx(SERVER, root.path()) else {
        return;
    };
    let (keys, key, directory) = keygen("crawler.jwk");
    let jwk: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&key).unwrap()).unwrap();
    let thumbprint = jwk["kid"].as_str().unwrap().to_string();
    let (dirport, _hits) = directory_server(directory);
    let agent = format!("http://127.0.0.1:{dirport}");

    // The publisher: an account that pays for this key.
    let ledger = format!("sqlite:{}", keys.path().join("ledger.db").display());
    for args in [
        vec!["accounts", "add", "crawlco"],
        vec!["accounts", "credit", "crawlco", "USD 1"],
        vec![
            "accounts",
            "key",
            "add",
            "crawlco",
            "--thumbprint",
            &thumbprint,
        ],
    ] {
        let out = tollgate_cmd()
            .args(&args)
            .env("TOLLGATE_LEDGER", &ledger)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let config = CONFIG
        .replace("{dirport}", &dirport.to_string())
        .replace(
            "[[rule]]\nname = \"allow-signed\"",
            "[[rule]]\nname = \"charge-signed\"\nwhen = { verification = \"verified(signature)\" }\naction = \"charge\"\nprice = \"USD 0.05\"\n\n[[rule]]\nname = \"allow-signed\"",
        );
    let tg = tollgate(
        &config,
        &format!("http://127.0.0.1:{}", nginx.port),
        &["--ledger", &ledger],
    );
    let url = tg.url("/articles/42");
    let signed_curl = |extra_sign: &[&str], extra_curl: &[&str]| -> String {
        let out = tollgate_cmd()
            .args(["sign", "--key"])
            .arg(&key)
            .args(["--agent", &agent])
            .args(extra_sign)
            .args(["GET", &url, "--exec"])
            .arg(&curl)
            .args(["-s", "-D", "-"])
            .args(extra_curl)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).to_lowercase()
    };

    // Signed, nonce, price header covered: the page, charged to crawlco.
    let r = signed_curl(&["--header", "crawler-max-price: USD 0.05"], &[]);
    assert!(r.starts_with("http/1.1 200"), "{r}");
    assert!(r.contains("crawler-charged: usd 0.05"), "{r}");
    assert!(r.contains("tollgate-receipt: id=1, hash="), "{r}");
    assert!(r.contains("article 42"), "{r}");

    // A signature for the page without its query cannot pay for a query variant: the page paid
    // for must be covered.
    let plain = signed_headers_with(
        &key,
        &agent,
        &url,
        &["--header", "crawler-max-price: USD 0.05"],
    );
    let mut args: Vec<String> = vec!["-s".into(), "-D".into(), "-".into()];
    for (k, v) in &plain {
        args.push("-H".into());
        args.push(format!("{k}: {v}"));
    }
    args.push(format!("{url}?page=2"));
    let out = Command::new(&curl).args(&args).output().unwrap();
    let r = String::from_utf8_lossy(&out.stdout).to_lowercase();
    assert!(r.starts_with("http/1.1 400"), "{r}");
    assert!(r.contains("crawler-error: invalidsignature"), "{r}");

    // The price header sent but not covered by the signature.
    let r = signed_curl(&[], &["-H", "crawler-max-price: USD 0.05"]);
    assert!(r.starts_with("http/1.1 400"), "{r}");
    assert!(r.contains("crawler-error: invalidsignature"), "{r}");

    // No nonce: with require_nonce_for_charge the signature cannot pay.
    let r = signed_curl(
        &["--no-nonce", "--header", "crawler-max-price: USD 0.05"],
        &[],
    );
    assert!(r.starts_with("http/1.1 400"), "{r}");
    assert!(r.contains("crawler-error: strongauthrequired"), "{r}");

    let out = tollgate_cmd()
        .args(["invoice", "--account", "crawlco", "--format", "json"])
        .env("TOLLGATE_LEDGER", &ledger)
        .output()
        .unwrap();
    let inv: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(inv["total"], "USD 0.05", "{inv}");
    assert_eq!(
        inv["entries"][0]["identity"],
        format!("jwk:{thumbprint}"),
        "{inv}"
    );
}

/// `tollgate sign` (print mode) with extra arguments: every header line it prints.
fn signed_headers_with(
    key: &std::path::Path,
    agent: &str,
    url: &str,
    extra: &[&str],
) -> Vec<(String, String)> {
    let out = tollgate_cmd()
        .args(["sign", "--key"])
        .arg(key)
        .args(["--agent", agent])
        .args(extra)
        .args(["GET", url])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| l.split_once(": "))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A zero or day-plus validity would make a signature no site accepts: refused up front.
#[test]
fn sign_refuses_a_validity_no_site_accepts() {
    for v in ["0", "86401"] {
        let out = tollgate_cmd()
            .args([
                "sign",
                "--key",
                "/nonexistent.jwk",
                "--agent",
                "https://a.example",
            ])
            .args(["--validity", v, "GET", "https://b.example/"])
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{v}");
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("--validity"),
            "{v}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// A base64url thumbprint can begin with `-` (1 key in 64): the CLI must take it as the value.
#[test]
fn a_thumbprint_beginning_with_a_hyphen_is_registered_and_revoked() {
    let dir = tempfile::tempdir().unwrap();
    let ledger = format!("sqlite:{}", dir.path().join("ledger.db").display());
    let t = "-7s0bJq2d3wVfE4uQe9yXb3b8gk1c2mZrKx0pLw_aQo";
    for args in [
        vec!["accounts", "add", "dash"],
        vec!["accounts", "key", "add", "dash", "--thumbprint", t],
    ] {
        let out = tollgate_cmd()
            .args(&args)
            .env("TOLLGATE_LEDGER", &ledger)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let show = tollgate_cmd()
        .args(["accounts", "show", "dash"])
        .env("TOLLGATE_LEDGER", &ledger)
        .output()
        .unwrap();
    assert!(
        String::from_utf8_lossy(&show.stdout).contains(&format!("jwk:{t}")),
        "{}",
        String::from_utf8_lossy(&show.stdout)
    );
    let out = tollgate_cmd()
        .args(["accounts", "key", "revoke", "dash", t])
        .env("TOLLGATE_LEDGER", &ledger)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
