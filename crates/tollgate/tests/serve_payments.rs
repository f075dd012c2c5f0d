//! Pay per crawl end to end (issue #5): `tollgate serve` in front of a real nginx, accounts made
//! with the real `tollgate accounts` CLI, charged with real HTTP clients; ledgers on SQLite and on
//! the machine's PostgreSQL.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod support;

use std::collections::HashMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use assert_cmd::Command as Cli;
use serde_json::Value;
use support::*;

const CONFIG: &str = r#"
[server]
listen = "127.0.0.1:{port}"
origin = "{origin}"
terms_url = "https://example.org/terms"

[server.admin]
listen = "127.0.0.1:{admin}"
token = "t0ken"

[policy]
default = "allow"

[[rule]]
name = "charge-ai-training"
when = { class = "ai-training" }
action = "charge"
price = "USD 0.002"

[signals]
site_url = "https://example.org"

[signals.license]
path = "/license.xml"
terms_url = "https://example.org/terms"

[payments]
"#;

/// nginx serving a page and (for 404s) nothing else.
fn origin() -> Option<(Nginx, tempfile::TempDir)> {
    let site = tempfile::tempdir().unwrap();
    std::fs::write(site.path().join("page.html"), "<p>the article</p>\n").unwrap();
    std::fs::create_dir(site.path().join("a")).unwrap();
    for i in 0..4 {
        std::fs::write(
            site.path().join(format!("a/{i}.html")),
            format!("page {i}\n"),
        )
        .unwrap();
    }
    let n = nginx(
        "server { listen 127.0.0.1:{port}; root {root}; }",
        site.path(),
    )?;
    Some((n, site))
}

fn cli(ledger: &str, args: &[&str]) -> String {
    let out = Cli::cargo_bin("tollgate")
        .unwrap()
        .args(args)
        .env("TOLLGATE_LEDGER", ledger)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tollgate {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn cli_fails(ledger: &str, args: &[&str]) -> (i32, String) {
    let out = Cli::cargo_bin("tollgate")
        .unwrap()
        .args(args)
        .env("TOLLGATE_LEDGER", ledger)
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap() + &String::from_utf8_lossy(&out.stderr),
    )
}

/// An account with `credit` and one API key; returns the key.
fn account(ledger: &str, name: &str, credit: &str) -> String {
    cli(ledger, &["accounts", "add", name]);
    cli(ledger, &["accounts", "credit", name, credit]);
    cli(ledger, &["accounts", "key", "add", name])
        .trim()
        .to_string()
}

fn post_form(url: &str, basic: Option<(&str, &str)>, body: &str) -> (u16, Value) {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let mut req = agent
        .post(url)
        .header("content-type", "application/x-www-form-urlencoded");
    if let Some((id, secret)) = basic {
        use base64::Engine as _;
        let b = base64::engine::general_purpose::STANDARD.encode(format!("{id}:{secret}"));
        req = req.header("authorization", format!("Basic {b}"));
    }
    let mut resp = req.send(body).unwrap();
    let status = resp.status().as_u16();
    let text = resp.body_mut().read_to_string().unwrap();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn bearer(key: &str) -> String {
    format!("Bearer {key}")
}

fn receipt_id(r: &Resp) -> i64 {
    let v = r.header("tollgate-receipt").unwrap();
    let id = v.strip_prefix("id=").unwrap().split(',').next().unwrap();
    id.parse().unwrap()
}

#[test]
fn a_crawler_without_an_account_gets_a_price_and_with_one_pays_gets_a_receipt_and_is_invoiced() {
    let Some((nginx, _site)) = origin() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ledger = format!("sqlite:{}", dir.path().join("ledger.db").display());
    let key = account(&ledger, "acme", "USD 0.005");
    let tg = tollgate(
        CONFIG,
        &format!("http://127.0.0.1:{}", nginx.port),
        &["--ledger", &ledger],
    );
    let page = tg.url("/page.html");

    // No account, no offer: the quote.
    let r = get(&page, &[("user-agent", GPTBOT)]);
    assert_eq!(r.status, 402, "{}", r.body);
    assert_eq!(r.header("crawler-price"), Some("USD 0.002"));
    assert_eq!(r.header("crawler-error"), Some("MissingCrawlerPrice"));
    let links: Vec<&str> = r
        .headers
        .iter()
        .filter(|(k, _)| k == "link")
        .map(|(_, v)| v.as_str())
        .collect();
    assert!(
        links.contains(
            &"<https://example.org/license.xml>; rel=\"license\"; type=\"application/rsl+xml\""
        ),
        "{links:?}"
    );
    // An offer without an identity that can pay.
    let r = get(
        &page,
        &[("user-agent", GPTBOT), ("crawler-max-price", "USD 0.01")],
    );
    assert_eq!(
        (r.status, r.header("crawler-error")),
        (400, Some("StrongAuthRequired"))
    );
    // Both price headers.
    let auth = bearer(&key);
    let r = get(
        &page,
        &[
            ("user-agent", GPTBOT),
            ("authorization", &auth),
            ("crawler-max-price", "USD 0.01"),
            ("crawler-exact-price", "USD 0.002"),
        ],
    );
    assert_eq!(
        (r.status, r.header("crawler-error")),
        (400, Some("ConflictingPriceHeaders"))
    );
    // Too low, or not exact: the quote again.
    let r = get(
        &page,
        &[
            ("user-agent", GPTBOT),
            ("authorization", &auth),
            ("crawler-max-price", "USD 0.001"),
        ],
    );
    assert_eq!(
        (
            r.status,
            r.header("crawler-error"),
            r.header("crawler-price")
        ),
        (402, Some("InvalidCrawlerMaxPrice"), Some("USD 0.002"))
    );
    let r = get(
        &page,
        &[
            ("user-agent", GPTBOT),
            ("authorization", &auth),
            ("crawler-exact-price", "USD 0.003"),
        ],
    );
    assert_eq!(
        (r.status, r.header("crawler-error")),
        (402, Some("InvalidCrawlerExactPrice"))
    );
    // A key nobody has.
    let forged = format!("Bearer tg_{}", "0".repeat(64));
    let r = get(
        &page,
        &[
            ("user-agent", GPTBOT),
            ("authorization", &forged),
            ("crawler-max-price", "USD 0.01"),
        ],
    );
    assert_eq!(
        (r.status, r.header("crawler-error")),
        (403, Some("CrawlerForbidden"))
    );

    // Pays: the page, what was charged, and a receipt.
    let r = get(
        &page,
        &[
            ("user-agent", GPTBOT),
            ("authorization", &auth),
            ("crawler-max-price", "USD 0.01"),
        ],
    );
    assert_eq!(r.status, 200, "{}", r.body);
    assert_eq!(r.body, "<p>the article</p>\n");
    assert_eq!(r.header("crawler-charged"), Some("USD 0.002"));
    let receipt = r.header("tollgate-receipt").unwrap().to_string();
    assert!(receipt.starts_with("id=1, hash="), "{receipt}");
    let hash = receipt.strip_prefix("id=1, hash=").unwrap();
    assert_eq!(hash.len(), 64);
    // The key was for tollgate: the origin never saw it (nginx logs what it got).
    assert!(
        !nginx.access_log().contains("tg_"),
        "{}",
        nginx.access_log()
    );

    // A failed origin response is never charged.
    let r = get(
        &tg.url("/missing.html"),
        &[
            ("user-agent", GPTBOT),
            ("authorization", &auth),
            ("crawler-max-price", "USD 0.01"),
        ],
    );
    assert_eq!(r.status, 404);
    assert_eq!(r.header("crawler-charged"), None);
    // robots.txt is never charged (invariant 3), even with an offer.
    let r = get(
        &tg.url("/robots.txt"),
        &[
            ("user-agent", GPTBOT),
            ("authorization", &auth),
            ("crawler-max-price", "USD 0.01"),
        ],
    );
    assert_eq!((r.status, r.header("crawler-charged")), (200, None));

    // An RSL licence token from the OLP endpoint pays too (exact price this time).
    let (status, tok) = post_form(
        &tg.url("/.tollgate/token"),
        Some(("acme", &key)),
        "grant_type=client_credentials",
    );
    assert_eq!(status, 200, "{tok}");
    assert_eq!(tok["token_type"], "License");
    assert_eq!(tok["expires_in"], 3600);
    let lic = format!("License {}", tok["access_token"].as_str().unwrap());
    let r = get(
        &tg.url("/a/1.html"),
        &[
            ("user-agent", GPTBOT),
            ("authorization", &lic),
            ("crawler-exact-price", "USD 0.002"),
        ],
    );
    assert_eq!(
        (r.status, r.header("crawler-charged")),
        (200, Some("USD 0.002"))
    );
    assert_eq!(receipt_id(&r), 2);
    let (status, err) = post_form(
        &tg.url("/.tollgate/token"),
        Some(("acme", "tg_wrong")),
        "grant_type=client_credentials",
    );
    assert_eq!(
        (status, err["error"].as_str()),
        (401, Some("invalid_client"))
    );
    let (status, err) = post_form(&tg.url("/.tollgate/token"), None, "grant_type=password");
    assert_eq!(
        (status, err["error"].as_str()),
        (400, Some("unsupported_grant_type"))
    );

    // Balance USD 0.001 left: the next charge cannot be paid.
    let r = get(
        &tg.url("/a/2.html"),
        &[
            ("user-agent", GPTBOT),
            ("authorization", &auth),
            ("crawler-max-price", "USD 0.01"),
        ],
    );
    assert_eq!(
        (r.status, r.header("crawler-error")),
        (403, Some("PaymentFailed")),
        "{}",
        r.body
    );
    assert!(!r.body.contains("the article"));
    // Suspended: refused before the origin is asked.
    cli(&ledger, &["accounts", "credit", "acme", "USD 1"]);
    cli(&ledger, &["accounts", "suspend", "acme"]);
    std::thread::sleep(Duration::from_millis(5_200)); // the identity cache (5 s) expires
    let r = get(
        &tg.url("/a/3.html"),
        &[
            ("user-agent", GPTBOT),
            ("authorization", &auth),
            ("crawler-max-price", "USD 0.01"),
        ],
    );
    assert_eq!(
        (r.status, r.header("crawler-error")),
        (403, Some("CrawlerForbidden"))
    );

    // The admin usage endpoint and the invoice list both fetches.
    let u = get(
        &format!("http://127.0.0.1:{}/api/usage?account=acme", tg.admin),
        &[("authorization", "Bearer t0ken")],
    );
    assert_eq!(u.status, 200, "{}", u.body);
    let u: Value = serde_json::from_str(&u.body).unwrap();
    assert_eq!(u["charged_requests"], 2);
    assert_eq!(u["total"], "USD 0.004");
    let inv: Value = serde_json::from_str(&cli(
        &ledger,
        &["invoice", "--account", "acme", "--format", "json"],
    ))
    .unwrap();
    assert_eq!(inv["total"], "USD 0.004", "{inv}");
    let csv = cli(
        &ledger,
        &["invoice", "--account", "acme", "--format", "csv"],
    );
    assert!(csv.contains("/page.html"), "{csv}");
    assert!(csv.contains("/a/1.html"), "{csv}");
    assert!(
        csv.contains(hash),
        "the receipt's hash is on the invoice: {csv}"
    );
    assert!(cli(&ledger, &["ledger", "verify"]).starts_with("ledger verified: 2 entries"));

    // Tampering with one row is found, and named: a value of the wrong type (entry 2) ...
    drop(tg);
    let db = dir.path().join("ledger.db");
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"UPDATE entries SET url = CAST('//x/' AS BLOB) WHERE id = 2\"); c.commit()",
        ])
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, text) = cli_fails(&ledger, &["ledger", "verify"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.starts_with("ledger BROKEN at entry 2:"), "{text}");
    // ... or a changed price (entry 1, found first).
    let out = std::process::Command::new("python3")
        .args([
            "-c",
            "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(\"UPDATE entries SET price_micros = 1 WHERE id = 1\"); c.commit()",
        ])
        .arg(&db)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (code, text) = cli_fails(&ledger, &["ledger", "verify"]);
    assert_eq!(code, 1, "{text}");
    assert!(text.starts_with("ledger BROKEN at entry 1:"), "{text}");
}

/// Loads charged fetches from `threads` clients until `stop`; returns every (receipt id, hash)
/// served with `crawler-charged`.
fn charged_load(
    ports: &[u16],
    key: &str,
    threads: usize,
    stop: Arc<AtomicBool>,
    limit: Option<u64>,
) -> (Vec<(i64, String)>, HashMap<u16, u64>) {
    let receipts = Arc::new(Mutex::new(Vec::new()));
    let statuses = Arc::new(Mutex::new(HashMap::new()));
    let sent = Arc::new(AtomicU64::new(0));
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let (receipts, statuses, stop, sent) = (
                Arc::clone(&receipts),
                Arc::clone(&statuses),
                Arc::clone(&stop),
                Arc::clone(&sent),
            );
            let port = ports[t % ports.len()];
            let auth = bearer(key);
            std::thread::spawn(move || {
                let agent: ureq::Agent = ureq::Agent::config_builder()
                    .http_status_as_error(false)
                    .timeout_global(Some(Duration::from_secs(20)))
                    .build()
                    .into();
                loop {
                    if stop.load(Ordering::Relaxed) {
                        break;
                    }
                    let n = sent.fetch_add(1, Ordering::Relaxed);
                    if limit.is_some_and(|l| n >= l) {
                        break;
                    }
                    let url = format!("http://127.0.0.1:{port}/a/{}.html", n % 4);
                    let resp = agent
                        .get(&url)
                        .header("user-agent", GPTBOT)
                        .header("authorization", &auth)
                        .header("crawler-max-price", "USD 0.002")
                        .call();
                    let Ok(mut resp) = resp else {
                        continue; // killed mid-request
                    };
                    let status = resp.status().as_u16();
                    let receipt = resp
                        .headers()
                        .get("tollgate-receipt")
                        .map(|v| v.to_str().unwrap().to_string());
                    let charged = resp.headers().get("crawler-charged").is_some();
                    if resp.body_mut().read_to_string().is_err() {
                        continue; // the body did not arrive: not served
                    }
                    *statuses.lock().unwrap().entry(status).or_insert(0) += 1;
                    if charged {
                        let r = receipt.unwrap();
                        let (id, hash) = r
                            .strip_prefix("id=")
                            .unwrap()
                            .split_once(", hash=")
                            .unwrap();
                        receipts
                            .lock()
                            .unwrap()
                            .push((id.parse().unwrap(), hash.to_string()));
                    }
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let r = receipts.lock().unwrap().clone();
    let s = statuses.lock().unwrap().clone();
    (r, s)
}

fn entries(ledger: &str, account: &str) -> Vec<Value> {
    let inv: Value = serde_json::from_str(&cli(
        ledger,
        &["invoice", "--account", account, "--format", "json"],
    ))
    .unwrap();
    inv["entries"].as_array().cloned().unwrap_or_default()
}

#[test]
fn kill_9_during_charged_load_keeps_every_receipted_charge_and_the_chain() {
    let Some((nginx, _site)) = origin() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ledger = format!("sqlite:{}", dir.path().join("ledger.db").display());
    let key = account(&ledger, "bulk", "USD 1000");
    let mut tg = tollgate(
        CONFIG,
        &format!("http://127.0.0.1:{}", nginx.port),
        &["--ledger", &ledger],
    );
    let stop = Arc::new(AtomicBool::new(false));
    let load = {
        let (stop, key, port) = (Arc::clone(&stop), key.clone(), tg.port);
        std::thread::spawn(move || charged_load(&[port], &key, 8, stop, None))
    };
    std::thread::sleep(Duration::from_millis(2_500));
    // SIGKILL: no shutdown, no flush, mid-load.
    tg.proc.0.kill().unwrap();
    tg.proc.0.wait().unwrap();
    stop.store(true, Ordering::Relaxed);
    let (receipts, statuses) = load.join().unwrap();
    assert!(
        receipts.len() > 50,
        "too little load to mean anything: {receipts:?} {statuses:?}"
    );
    let entries = entries(&ledger, "bulk");
    let by_id: HashMap<i64, String> = entries
        .iter()
        .map(|e| {
            (
                e["id"].as_i64().unwrap(),
                e["hash"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    // Every response that carried crawler-charged has its entry, with the receipt's hash.
    for (id, hash) in &receipts {
        assert_eq!(
            by_id.get(id),
            Some(hash),
            "receipt {id} has no matching entry"
        );
    }
    // No entry lacks a served response beyond those in flight (8 clients).
    assert!(
        entries.len() <= receipts.len() + 8,
        "{} entries for {} served charges",
        entries.len(),
        receipts.len()
    );
    // After a restart on the same ledger the chain verifies and charging goes on.
    let tg = tollgate(
        CONFIG,
        &format!("http://127.0.0.1:{}", nginx.port),
        &["--ledger", &ledger],
    );
    let r = get(
        &tg.url("/page.html"),
        &[
            ("user-agent", GPTBOT),
            ("authorization", &bearer(&key)),
            ("crawler-max-price", "USD 0.002"),
        ],
    );
    assert_eq!(r.status, 200);
    assert_eq!(receipt_id(&r) as usize, entries.len() + 1);
    let v = cli(&ledger, &["ledger", "verify"]);
    assert!(
        v.starts_with(&format!("ledger verified: {} entries", entries.len() + 1)),
        "{v}"
    );
}

/// A schema of its own in the machine's PostgreSQL, dropped at the end; `None` = skip.
struct PgSchema {
    base: String,
    name: String,
}

impl PgSchema {
    fn new(tag: &str) -> Option<PgSchema> {
        let base = std::env::var("TOLLGATE_TEST_PG")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
        let name = format!("tg_{tag}_{}", std::process::id());
        if psql(
            &base,
            &format!("DROP SCHEMA IF EXISTS {name} CASCADE; CREATE SCHEMA {name}"),
        )
        .is_none()
        {
            let msg =
                format!("\n\n!!!!!!!! SKIPPED: PostgreSQL at {base} is not reachable !!!!!!!!\n");
            if std::env::var("TOLLGATE_REQUIRE_EXTERNAL").as_deref() == Ok("1") {
                panic!("{msg}");
            }
            eprintln!("{msg}");
            return None;
        }
        Some(PgSchema { base, name })
    }

    /// The ledger URL, through `host:port` if given (a relay), else direct.
    fn url(&self, via: Option<u16>) -> String {
        let base = match via {
            Some(p) => self
                .base
                .replace("127.0.0.1:5432", &format!("127.0.0.1:{p}")),
            None => self.base.clone(),
        };
        format!("{base}?options=-c%20search_path%3D{}", self.name)
    }
}

impl Drop for PgSchema {
    fn drop(&mut self) {
        let _ = psql(
            &self.base,
            &format!("DROP SCHEMA IF EXISTS {} CASCADE", self.name),
        );
    }
}

/// Runs SQL through sqlx; `None` if PostgreSQL is unreachable or the SQL fails.
fn psql(url: &str, sql: &str) -> Option<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        use sqlx::Connection;
        let mut c = tokio::time::timeout(Duration::from_secs(5), sqlx::PgConnection::connect(url))
            .await
            .ok()?
            .ok()?;
        sqlx::raw_sql(sql).execute(&mut c).await.ok()?;
        Some(())
    })
}

#[test]
fn two_replicas_on_one_postgres_ledger_charge_exactly_and_never_overdraw() {
    let Some((nginx, _site)) = origin() else {
        return;
    };
    let Some(pg) = PgSchema::new("replicas") else {
        return;
    };
    let ledger = pg.url(None);
    // Money for exactly 9 000 of the 10 000 fetches at USD 0.002.
    let key = account(&ledger, "shared", "USD 18");
    let origin = format!("http://127.0.0.1:{}", nginx.port);
    let a = tollgate(CONFIG, &origin, &["--ledger", &ledger]);
    let b = tollgate(CONFIG, &origin, &["--ledger", &ledger]);
    let started = Instant::now();
    let (receipts, statuses) = charged_load(
        &[a.port, b.port],
        &key,
        16,
        Arc::new(AtomicBool::new(false)),
        Some(10_000),
    );
    eprintln!(
        "10 000 charged requests over two replicas in {:?}",
        started.elapsed()
    );
    assert_eq!(statuses.get(&200), Some(&9_000), "{statuses:?}");
    assert_eq!(statuses.get(&403), Some(&1_000), "{statuses:?}");
    assert_eq!(receipts.len(), 9_000);
    let mut ids: Vec<i64> = receipts.iter().map(|r| r.0).collect();
    ids.sort_unstable();
    ids.dedup();
    assert_eq!(
        ids,
        (1..=9_000).collect::<Vec<i64>>(),
        "one entry per charge, no gaps"
    );
    let show: Value = serde_json::from_str(&cli(
        &ledger,
        &["accounts", "show", "shared", "--format", "json"],
    ))
    .unwrap();
    assert_eq!(show["account"]["balance"], "USD 0", "{show}");
    let inv: Value = serde_json::from_str(&cli(
        &ledger,
        &["invoice", "--account", "shared", "--format", "json"],
    ))
    .unwrap();
    assert_eq!(inv["total"], "USD 18");
    assert_eq!(inv["charged_requests"], 9_000);
    assert!(cli(&ledger, &["ledger", "verify"]).starts_with("ledger verified: 9000 entries"));
}

/// A TCP relay to PostgreSQL that can be cut (every connection closed, new ones refused) and
/// restored: the ledger database "going away" for real, mid-run.
struct Relay {
    port: u16,
    up: Arc<AtomicBool>,
    conns: Arc<Mutex<Vec<TcpStream>>>,
}

impl Relay {
    fn start(target: u16) -> Relay {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        let up = Arc::new(AtomicBool::new(true));
        let conns: Arc<Mutex<Vec<TcpStream>>> = Arc::default();
        let (up2, conns2) = (Arc::clone(&up), Arc::clone(&conns));
        std::thread::spawn(move || {
            for client in l.incoming() {
                let Ok(client) = client else { continue };
                if !up2.load(Ordering::SeqCst) {
                    drop(client);
                    continue;
                }
                let Ok(server) = TcpStream::connect(("127.0.0.1", target)) else {
                    continue;
                };
                conns2.lock().unwrap().push(client.try_clone().unwrap());
                conns2.lock().unwrap().push(server.try_clone().unwrap());
                for (mut from, mut to) in [
                    (client.try_clone().unwrap(), server.try_clone().unwrap()),
                    (server, client),
                ] {
                    std::thread::spawn(move || {
                        let mut buf = [0u8; 16384];
                        while let Ok(n) = from.read(&mut buf) {
                            if n == 0 || to.write_all(&buf[..n]).is_err() {
                                break;
                            }
                        }
                        let _ = to.shutdown(std::net::Shutdown::Both);
                    });
                }
            }
        });
        Relay { port, up, conns }
    }

    fn cut(&self) {
        self.up.store(false, Ordering::SeqCst);
        for c in self.conns.lock().unwrap().drain(..) {
            let _ = c.shutdown(std::net::Shutdown::Both);
        }
    }

    fn restore(&self) {
        self.up.store(true, Ordering::SeqCst);
    }
}

fn paid_get(tg: &Tollgate, path: &str, key: &str) -> Resp {
    get(
        &tg.url(path),
        &[
            ("user-agent", GPTBOT),
            ("authorization", &bearer(key)),
            ("crawler-max-price", "USD 0.002"),
        ],
    )
}

fn metric(tg: &Tollgate, name: &str) -> f64 {
    let m = get(
        &format!("http://127.0.0.1:{}/metrics", tg.admin),
        &[("authorization", "Bearer t0ken")],
    );
    m.body
        .lines()
        .filter(|l| l.starts_with(name))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

#[test]
fn a_ledger_that_goes_down_fails_closed_with_503_or_fails_open_into_the_spool() {
    let Some((nginx, _site)) = origin() else {
        return;
    };
    let Some(pg) = PgSchema::new("outage") else {
        return;
    };
    let relay = Relay::start(5432);
    let ledger = pg.url(Some(relay.port));
    let key = account(&ledger, "acme", "USD 1");
    let origin = format!("http://127.0.0.1:{}", nginx.port);

    // fail-closed (the default): 503, nothing served, and the metric counts it.
    let closed = tollgate(CONFIG, &origin, &["--ledger", &ledger]);
    assert_eq!(paid_get(&closed, "/a/0.html", &key).status, 200);
    relay.cut();
    let r = paid_get(&closed, "/a/1.html", &key);
    assert_eq!(r.status, 503, "{}", r.body);
    assert_eq!(r.header("crawler-error"), Some("InternalError"));
    assert!(r.header("retry-after").is_some());
    assert!(!r.body.contains("page 1"));
    assert!(metric(&closed, "tollgate_ledger_unavailable_total") >= 1.0);
    // Free traffic never waits on the ledger.
    let r = get(&closed.url("/a/2.html"), &[("user-agent", FIREFOX)]);
    assert_eq!((r.status, r.body.as_str()), (200, "page 2\n"));
    drop(closed);
    relay.restore();

    // fail-open: served, charged into the spool, replayed once the database is back.
    let spool = tempfile::tempdir().unwrap();
    let spool_file = spool.path().join("spool.jsonl");
    let config = format!(
        "{CONFIG}on_ledger_unavailable = \"fail-open\"\nspool = \"{}\"\n",
        spool_file.display()
    );
    let open = tollgate(&config, &origin, &["--ledger", &ledger]);
    assert_eq!(paid_get(&open, "/a/0.html", &key).status, 200);
    relay.cut();
    let r = paid_get(&open, "/a/3.html", &key);
    assert_eq!((r.status, r.body.as_str()), (200, "page 3\n"));
    assert_eq!(r.header("crawler-charged"), Some("USD 0.002"));
    assert!(
        r.header("tollgate-receipt")
            .unwrap()
            .starts_with("spooled, hash="),
        "{:?}",
        r.header("tollgate-receipt")
    );
    assert_eq!(
        std::fs::read_to_string(&spool_file)
            .unwrap()
            .lines()
            .count(),
        1
    );
    assert!(metric(&open, "tollgate_ledger_spooled_total") >= 1.0);
    relay.restore();
    // The replay timer (every 10 s) moves it into the chain.
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut n = 0;
    while Instant::now() < deadline {
        n = entries(&ledger, "acme").len();
        if n == 3 {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert_eq!(n, 3, "the spooled charge was not replayed");
    let urls: Vec<String> = entries(&ledger, "acme")
        .iter()
        .map(|e| e["url"].as_str().unwrap().to_string())
        .collect();
    assert!(urls[2].ends_with("/a/3.html"), "{urls:?}");
    assert!(cli(&ledger, &["ledger", "verify"]).starts_with("ledger verified: 3 entries"));
}

/// Regressions from a breaker's run: an exact offer is checked against the origin's own price
/// (not the rule's), the origin's price wins over the account's, a HEAD is never charged, a
/// charged body the origin stalls on is answered 502 (not charged) within the upstream timeout,
/// and a suspended account's key no longer counts as `verified(api-key)`.
#[test]
fn origin_prices_head_requests_stalled_bodies_and_suspended_keys() {
    let site = tempfile::tempdir().unwrap();
    std::fs::create_dir(site.path().join("priced")).unwrap();
    std::fs::write(site.path().join("priced/p.html"), "priced page\n").unwrap();
    std::fs::create_dir(site.path().join("members")).unwrap();
    std::fs::write(site.path().join("members/m.html"), "members only\n").unwrap();
    let Some(nginx) = nginx(
        "server { listen 127.0.0.1:{port}; root {root};\n  location /priced/ { add_header crawler-price \"USD 0.005\"; }\n}",
        site.path(),
    ) else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let ledger = format!("sqlite:{}", dir.path().join("ledger.db").display());
    let key = account(&ledger, "acme", "USD 1");
    cli(
        &ledger,
        &["accounts", "set", "acme", "--price", "USD 0.001"],
    );
    let config = CONFIG.replace(
        "[[rule]]\nname = \"charge-ai-training\"",
        "[[rule]]\nname = \"members\"\nwhen = { verification = \"verified(api-key)\", path = \"/members/**\" }\naction = \"allow\"\n\n[[rule]]\nname = \"no-members\"\nwhen = { path = \"/members/**\" }\naction = \"deny\"\n\n[[rule]]\nname = \"charge-ai-training\"",
    );
    let tg = tollgate(
        &config,
        &format!("http://127.0.0.1:{}", nginx.port),
        &["--ledger", &ledger],
    );
    let auth = bearer(&key);
    let pay = |path: &str, offer: (&str, &str)| {
        get(
            &tg.url(path),
            &[("user-agent", GPTBOT), ("authorization", &auth), offer],
        )
    };
    // The origin prices /priced/ at USD 0.005: an exact offer of that price pays it.
    let r = pay("/priced/p.html", ("crawler-exact-price", "USD 0.005"));
    assert_eq!(
        (
            r.status,
            r.header("crawler-charged"),
            r.header("crawler-price")
        ),
        (200, Some("USD 0.005"), None),
        "{}",
        r.body
    );
    // An exact offer of the account's price is not the page's price: quoted the page's.
    let r = pay("/priced/p.html", ("crawler-exact-price", "USD 0.001"));
    assert_eq!(
        (
            r.status,
            r.header("crawler-error"),
            r.header("crawler-price")
        ),
        (402, Some("InvalidCrawlerExactPrice"), Some("USD 0.005"))
    );
    // Elsewhere the account's own price applies.
    let r = pay("/page-that-is-missing.html", ("crawler-max-price", "USD 1"));
    assert_eq!((r.status, r.header("crawler-charged")), (404, None));
    std::fs::write(site.path().join("plain.html"), "plain\n").unwrap();
    let r = pay("/plain.html", ("crawler-max-price", "USD 1"));
    assert_eq!(
        (r.status, r.header("crawler-charged")),
        (200, Some("USD 0.001"))
    );
    // HEAD: answered, never charged.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    let head = agent
        .head(tg.url("/plain.html"))
        .header("user-agent", GPTBOT)
        .header("authorization", &auth)
        .header("crawler-max-price", "USD 1")
        .call()
        .unwrap();
    assert_eq!(head.status().as_u16(), 200);
    assert!(head.headers().get("crawler-charged").is_none());
    assert_eq!(entries(&ledger, "acme").len(), 2, "HEAD made no entry");

    // Members: the active key is verified(api-key); suspended, it is not.
    let r = get(
        &tg.url("/members/m.html"),
        &[("user-agent", FIREFOX), ("authorization", &auth)],
    );
    assert_eq!((r.status, r.body.as_str()), (200, "members only\n"));
    cli(&ledger, &["accounts", "suspend", "acme"]);
    std::thread::sleep(Duration::from_millis(5_200)); // the identity cache (5 s) expires
    let r = get(
        &tg.url("/members/m.html"),
        &[("user-agent", FIREFOX), ("authorization", &auth)],
    );
    assert_eq!(r.status, 403, "{}", r.body);
    cli(&ledger, &["accounts", "resume", "acme"]);

    // An origin that stalls mid-body: 502 within upstream_timeout_secs, nothing charged.
    let stall = TcpListener::bind("127.0.0.1:0").unwrap();
    let stall_port = stall.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for c in stall.incoming() {
            let Ok(mut c) = c else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                let _ = c.read(&mut buf);
                let _ = c.write_all(
                    b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100\r\n\r\nabc",
                );
                std::thread::sleep(Duration::from_secs(30));
            });
        }
    });
    let slow = tollgate(
        &CONFIG.replacen("terms_url = ", "upstream_timeout_secs = 2\nterms_url = ", 1),
        &format!("http://127.0.0.1:{stall_port}"),
        &["--ledger", &ledger],
    );
    std::thread::sleep(Duration::from_millis(5_200)); // resumed: past the identity cache
    let started = Instant::now();
    let r = get(
        &slow.url("/x.html"),
        &[
            ("user-agent", GPTBOT),
            ("authorization", &auth),
            ("crawler-max-price", "USD 1"),
        ],
    );
    assert_eq!(
        (r.status, r.header("crawler-charged")),
        (502, None),
        "{}",
        r.body
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(entries(&ledger, "acme").len(), 2);
}
