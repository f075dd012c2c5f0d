//! One test suite, two backends: `backend_tests!` expands each test body into
//! `<name>::sqlite` (a temp file) and `<name>::postgres` (its own schema in
//! `postgres://postgres@127.0.0.1:5432/test`, dropped afterwards). PostgreSQL unreachable →
//! the test is skipped loudly, unless `TOLLGATE_REQUIRE_EXTERNAL=1`, where that is a failure.
//! `TOLLGATE_TEST_PG` overrides the server URL.

#![allow(dead_code, clippy::unwrap_used)]

use std::time::Duration;

use sqlx::Connection;
use tollgate_ledger::{Ledger, LedgerOptions, Money, UsageEvent};

/// A fresh, empty ledger database (and what it takes to remove it).
pub struct TestDb {
    /// Pass to `Ledger::open`.
    pub url: String,
    /// `sqlite` or `postgres`.
    pub backend: &'static str,
    dir: Option<tempfile::TempDir>,
    pg: Option<(String, String)>,
}

fn pg_base() -> String {
    std::env::var("TOLLGATE_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into())
}

pub fn sqlite_db() -> TestDb {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite:{}", dir.path().join("ledger.db").display());
    TestDb {
        url,
        backend: "sqlite",
        dir: Some(dir),
        pg: None,
    }
}

/// A new schema on the test server; `None` (after a loud message) if the server is unreachable.
pub async fn postgres_db() -> Option<TestDb> {
    let base = pg_base();
    let conn =
        tokio::time::timeout(Duration::from_secs(5), sqlx::PgConnection::connect(&base)).await;
    let mut conn = match conn {
        Ok(Ok(c)) => c,
        other => {
            let why = match other {
                Ok(Err(e)) => e.to_string(),
                _ => "timed out".into(),
            };
            let msg = format!(
                "\n\n!!!!!!!! SKIPPED: PostgreSQL at {base} is not reachable ({why}); this test \
                 needs a real PostgreSQL. CI sets TOLLGATE_REQUIRE_EXTERNAL=1 and fails here. !!!!!!!!\n"
            );
            if std::env::var("TOLLGATE_REQUIRE_EXTERNAL").as_deref() == Ok("1") {
                panic!("{msg}");
            }
            eprintln!("{msg}");
            return None;
        }
    };
    let mut b = [0u8; 8];
    getrandom::fill(&mut b).unwrap();
    let schema = format!("tg_test_{}", hex::encode(b));
    sqlx::query(&format!("CREATE SCHEMA {schema}"))
        .execute(&mut conn)
        .await
        .unwrap();
    let sep = if base.contains('?') { '&' } else { '?' };
    Some(TestDb {
        url: format!("{base}{sep}options=-c%20search_path%3D{schema}"),
        backend: "postgres",
        dir: None,
        pg: Some((base, schema)),
    })
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((base, schema)) = self.pg.take() else {
            return;
        };
        // Drop runs inside the test's runtime: clean up from a thread with its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                if let Ok(mut c) = sqlx::PgConnection::connect(&base).await {
                    let _ = sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                        .execute(&mut c)
                        .await;
                }
            });
        })
        .join();
    }
}

/// Options for tests: short identity cache, no group-commit wait.
pub fn opts() -> LedgerOptions {
    LedgerOptions {
        identity_cache_ttl: Duration::from_millis(100),
        group_commit_wait: Duration::from_millis(1),
        ..LedgerOptions::default()
    }
}

pub async fn open(db: &TestDb) -> Ledger {
    Ledger::open(&db.url, opts()).await.unwrap()
}

pub fn usd(s: &str) -> Money {
    format!("USD {s}").parse().unwrap()
}

/// A charged GET of `/articles/<n>` by `account` at 2026-11-10T00:00:00Z + n seconds.
pub fn event(account: &str, n: u64, price: Money) -> UsageEvent {
    UsageEvent {
        time: 1_794_268_800_000 + n as i64 * 1000,
        account: account.into(),
        identity: "key:tg_00000000".into(),
        agent: Some("GPTBot".into()),
        method: "GET".into(),
        url: format!("https://example.org/articles/{n}"),
        status: 200,
        bytes: 1000 + n,
        price,
        rule: Some("charge-ai".into()),
        request_id: format!("req-{n}"),
    }
}

/// Expands `async fn body(db: TestDb)` into `name::sqlite` and `name::postgres` tests.
#[macro_export]
macro_rules! backend_tests {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn sqlite() {
                super::$name(super::support::sqlite_db()).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn postgres() {
                if let Some(db) = super::support::postgres_db().await {
                    super::$name(db).await;
                }
            }
        }
    )*};
}
