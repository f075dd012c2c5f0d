//! `tollgate accounts|ledger|invoice` end to end: the real binary on a temp SQLite ledger (and
//! once on PostgreSQL). Charges are made through the `tollgate-ledger` crate, as `serve` makes
//! them.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;
use serde_json::Value;
use tollgate_ledger::{Credential, Ledger, LedgerOptions, Money, UsageEvent};

fn tollgate(ledger: &str, args: &[&str]) -> Output {
    Command::cargo_bin("tollgate")
        .unwrap()
        .args(args)
        .env("TOLLGATE_LEDGER", ledger)
        .output()
        .unwrap()
}

fn ok(ledger: &str, args: &[&str]) -> String {
    let out = tollgate(ledger, args);
    assert!(
        out.status.success(),
        "tollgate {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn sqlite(dir: &Path) -> String {
    format!("sqlite:{}", dir.join("ledger.db").display())
}

/// What `serve` does for a charged fetch: authenticate the key, charge the event.
fn fetch(ledger: &str, key: &str, path: &str, price: &str, n: i64) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let l = Ledger::open(ledger, LedgerOptions::default())
            .await
            .unwrap();
        let auth = l
            .authenticate(Credential::ApiKey(key))
            .await
            .unwrap()
            .unwrap();
        l.charge(UsageEvent {
            time: 1_793_577_600_000 + n * 60_000, // 2026-11-02T00:00:00Z + n min
            account: auth.account,
            identity: auth.identity,
            agent: Some("GPTBot".into()),
            method: "GET".into(),
            url: format!("https://example.org{path}"),
            status: 200,
            bytes: 5120,
            price: price.parse::<Money>().unwrap(),
            rule: Some("charge-ai".into()),
            request_id: format!("req-{n}"),
        })
        .await
        .unwrap();
    });
}

/// Runs one SQL statement on the SQLite ledger (to tamper with it).
fn exec_sqlite(ledger: &str, sql: &str) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let pool = sqlx::SqlitePool::connect(ledger).await.unwrap();
        sqlx::query(sql).execute(&pool).await.unwrap();
        pool.close().await;
    });
}

#[test]
fn publisher_flow_add_credit_key_fetch_invoice_verify() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite(dir.path());
    let added = ok(
        &db,
        &[
            "accounts",
            "add",
            "acme",
            "--prepaid",
            "--quota",
            "1000/day",
        ],
    );
    assert!(
        added.contains("added account acme\nstatus: active\nbilling: prepaid\nbalance: USD 0\n")
    );
    assert_eq!(
        ok(&db, &["accounts", "credit", "acme", "USD 5"]),
        "credited USD 5 to acme; balance USD 5\n"
    );
    let key = ok(&db, &["accounts", "key", "add", "acme"]);
    let key = key.trim();
    assert!(key.starts_with("tg_") && key.len() == 67, "{key}");

    fetch(&db, key, "/articles/1", "USD 0.002", 1);
    fetch(&db, key, "/articles/2", "USD 0.003", 2);

    let csv = ok(
        &db,
        &[
            "invoice",
            "--account",
            "acme",
            "--from",
            "2026-11-01",
            "--to",
            "2026-12-01",
            "--format",
            "csv",
        ],
    );
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(lines.len(), 3, "{csv}");
    assert_eq!(
        lines[0],
        "id,time,kind,identity,agent,method,url,status,bytes,price,price_micros,rule,request_id,hash"
    );
    assert!(
        lines[1].starts_with(&format!(
            "1,2026-11-02T00:01:00.000Z,charge,key:{},GPTBot,GET,https://example.org/articles/1,200,5120,USD 0.002,2000,charge-ai,req-1,",
            &key[..11]
        )),
        "{}",
        lines[1]
    );

    let json: Value = serde_json::from_str(&ok(
        &db,
        &[
            "invoice",
            "--account",
            "acme",
            "--from",
            "2026-11-01",
            "--to",
            "2026-12-01",
            "--format",
            "json",
        ],
    ))
    .unwrap();
    assert_eq!(json["total"], "USD 0.005");
    assert_eq!(json["total_micros"], 5_000);
    assert_eq!(json["charged_requests"], 2);
    assert_eq!(json["entries"][1]["url"], "https://example.org/articles/2");
    // A period that excludes the fetches.
    let dec: Value = serde_json::from_str(&ok(
        &db,
        &[
            "invoice",
            "--account",
            "acme",
            "--from",
            "2026-12-01",
            "--format",
            "json",
        ],
    ))
    .unwrap();
    assert_eq!(dec["charged_requests"], 0);

    let show: Value =
        serde_json::from_str(&ok(&db, &["accounts", "show", "acme", "--format", "json"])).unwrap();
    assert_eq!(show["account"]["balance"], "USD 4.995");
    assert_eq!(show["account"]["quota_used"], 2);
    assert_eq!(
        show["identities"][0]["label"],
        format!("key:{}", &key[..11])
    );

    let verify = ok(&db, &["ledger", "verify"]);
    assert!(
        verify.starts_with("ledger verified: 2 entries, head "),
        "{verify}"
    );
}

#[test]
fn tampering_one_row_makes_ledger_verify_name_it() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite(dir.path());
    ok(&db, &["accounts", "add", "acme"]);
    ok(&db, &["accounts", "credit", "acme", "USD 1"]);
    let key = ok(&db, &["accounts", "key", "add", "acme"]);
    for n in 1..=3 {
        fetch(&db, key.trim(), &format!("/a/{n}"), "USD 0.01", n);
    }
    exec_sqlite(&db, "UPDATE entries SET price_micros = 1 WHERE id = 2");
    let out = tollgate(&db, &["ledger", "verify"]);
    assert_eq!(out.status.code(), Some(1));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        text.starts_with("ledger BROKEN at entry 2: stored hash "),
        "{text}"
    );
    assert!(text.contains("(1 entries before it verified)"), "{text}");
}

#[test]
fn bad_input_errors_name_the_argument_or_account() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite(dir.path());
    let out = tollgate(&db, &["accounts", "add", "acme", "--price", "USD x"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("invalid value 'USD x' for '--price <MONEY>'"),
        "{}",
        stderr(&out)
    );
    let out = tollgate(
        &db,
        &[
            "accounts",
            "add",
            "acme",
            "--currency",
            "EUR",
            "--price",
            "USD 1",
        ],
    );
    assert!(
        stderr(&out).contains("--price is in USD but the account's currency is EUR (--currency)"),
        "{}",
        stderr(&out)
    );
    // Before the first account there is no ledger: read-only commands say so and create none.
    for args in [
        &["ledger", "verify"][..],
        &["invoice", "--account", "acme"][..],
        &["accounts", "credit", "nobody", "USD 1"][..],
    ] {
        let out = tollgate(&db, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(stderr(&out).contains("no ledger at "), "{}", stderr(&out));
    }
    ok(&db, &["accounts", "add", "acme"]);
    let out = tollgate(
        &db,
        &[
            "invoice",
            "--account",
            "acme",
            "--from",
            "2026-12-01",
            "--to",
            "2026-11-01",
        ],
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("--from must be before --to"),
        "{}",
        stderr(&out)
    );
    let out = tollgate(&db, &["accounts", "credit", "nobody", "USD 1"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("unknown account `nobody`"),
        "{}",
        stderr(&out)
    );
    let out = tollgate(&db, &["accounts", "add", "acme"]);
    assert!(
        stderr(&out).contains("account `acme` exists already"),
        "{}",
        stderr(&out)
    );
    let out = tollgate(&db, &["accounts", "credit", "acme", "EUR 1"]);
    assert!(
        stderr(&out).contains("cannot combine USD and EUR"),
        "{}",
        stderr(&out)
    );
    let out = tollgate(&db, &["invoice", "--account", "acme", "--from", "November"]);
    assert!(
        stderr(&out).contains("--from `November`: expected a date like 2026-11-01"),
        "{}",
        stderr(&out)
    );
    let out = tollgate("mysql://x", &["accounts", "list"]);
    assert!(
        stderr(&out).contains("expected sqlite:PATH or postgres://"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn suspend_resume_set_and_revoke_show_in_the_account() {
    let dir = tempfile::tempdir().unwrap();
    let db = sqlite(dir.path());
    ok(
        &db,
        &[
            "accounts",
            "add",
            "bigco",
            "--postpaid",
            "--credit-limit",
            "USD 100",
        ],
    );
    assert_eq!(
        ok(&db, &["accounts", "suspend", "bigco"]),
        "suspended bigco\n"
    );
    assert!(ok(&db, &["accounts", "show", "bigco"]).contains("status: suspended\n"));
    assert_eq!(ok(&db, &["accounts", "resume", "bigco"]), "resumed bigco\n");
    let set = ok(
        &db,
        &[
            "accounts",
            "set",
            "bigco",
            "--price",
            "USD 0.004",
            "--quota",
            "50",
        ],
    );
    assert!(
        set.contains("price: USD 0.004\nquota: 50/day (0 used)\n"),
        "{set}"
    );
    let key = ok(&db, &["accounts", "key", "add", "bigco"]);
    let key_id = &key.trim()[..11];
    assert_eq!(
        ok(&db, &["accounts", "key", "revoke", "bigco", key_id]),
        format!("revoked {key_id} of bigco\n")
    );
    let show = ok(&db, &["accounts", "show", "bigco"]);
    assert!(
        show.contains(&format!("identity: key:{key_id}  (revoked 20")),
        "{show}"
    );
    assert!(
        show.contains("billing: postpaid (credit limit USD 100)\n"),
        "{show}"
    );
    let list: Value =
        serde_json::from_str(&ok(&db, &["accounts", "list", "--format", "json"])).unwrap();
    assert_eq!(list[0]["name"], "bigco");
    assert_eq!(list[0]["billing"]["mode"], "postpaid");
    assert_eq!(list[0]["billing"]["credit_limit"], "USD 100");
}

#[test]
fn postgres_ledger_through_the_ledger_option() {
    let base = std::env::var("TOLLGATE_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let schema = format!("tg_cli_{}", std::process::id());
    let created = rt.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&base).await.ok()?;
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut c)
            .await
            .ok()
    });
    if created.is_none() {
        let msg = format!("\n\n!!!!!!!! SKIPPED: PostgreSQL at {base} is not reachable !!!!!!!!\n");
        if std::env::var("TOLLGATE_REQUIRE_EXTERNAL").as_deref() == Ok("1") {
            panic!("{msg}");
        }
        eprintln!("{msg}");
        return;
    }
    let url = format!("{base}?options=-c%20search_path%3D{schema}");
    let result = std::panic::catch_unwind(|| {
        let out = Command::cargo_bin("tollgate")
            .unwrap()
            .args(["accounts", "add", "acme", "--ledger", &url])
            .env_remove("TOLLGATE_LEDGER")
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", stderr(&out));
        let key = ok(&url, &["accounts", "key", "add", "acme"]);
        ok(&url, &["accounts", "credit", "acme", "USD 1"]);
        fetch(&url, key.trim(), "/pg", "USD 0.25", 1);
        let json: Value = serde_json::from_str(&ok(
            &url,
            &["invoice", "--account", "acme", "--format", "json"],
        ))
        .unwrap();
        assert_eq!(json["total"], "USD 0.25");
        assert!(ok(&url, &["ledger", "verify"]).starts_with("ledger verified: 1 entries"));
    });
    rt.block_on(async {
        use sqlx::Connection;
        let mut c = sqlx::PgConnection::connect(&base).await.unwrap();
        sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&mut c)
            .await
            .unwrap();
    });
    if let Err(e) = result {
        std::panic::resume_unwind(e);
    }
}
