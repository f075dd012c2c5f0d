//! The metrics say when the ledger database is unavailable and what was spooled. One test (the
//! recorder is process-global), both backends in turn.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use std::collections::HashMap;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use support::{event, opts, usd, TestDb};
use tollgate_ledger::{Billing, ChargeError, Ledger, LedgerOptions, NewAccount, Unavailable};

/// Counters and gauges since the last call (the debugging recorder resets on snapshot), by
/// name with labels appended (`tollgate_ledger_entries_total{kind=charge}`).
fn take(s: &Snapshotter) -> HashMap<String, f64> {
    s.snapshot()
        .into_vec()
        .into_iter()
        .map(|(k, _, _, v)| {
            let key = k.key();
            let labels: Vec<String> = key
                .labels()
                .map(|l| format!("{}={}", l.key(), l.value()))
                .collect();
            let name = if labels.is_empty() {
                key.name().to_string()
            } else {
                format!("{}{{{}}}", key.name(), labels.join(","))
            };
            match v {
                DebugValue::Counter(c) => (name, c as f64),
                DebugValue::Gauge(g) => (name, g.into_inner()),
                DebugValue::Histogram(h) => (name, h.len() as f64),
            }
        })
        .collect()
}

async fn exec(db: &TestDb, sql: &str) {
    if db.backend == "sqlite" {
        let pool = sqlx::SqlitePool::connect(&db.url).await.unwrap();
        sqlx::query(sql).execute(&pool).await.unwrap();
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(&db.url).await.unwrap();
        sqlx::query(sql).execute(&pool).await.unwrap();
        pool.close().await;
    }
}

async fn check(db: TestDb, s: &Snapshotter) {
    let spool_dir = tempfile::tempdir().unwrap();
    let spool = spool_dir.path().join("spool");
    let open = |on_unavailable| {
        Ledger::open(
            &db.url,
            LedgerOptions {
                on_unavailable,
                ..opts()
            },
        )
    };
    let closed = open(Unavailable::FailClosed).await.unwrap();
    let open_l = open(Unavailable::FailOpen {
        spool: spool.clone(),
    })
    .await
    .unwrap();
    closed
        .add_account(NewAccount {
            name: "acme".into(),
            currency: "USD".into(),
            billing: Billing::Prepaid,
            price: None,
            quota_per_day: None,
        })
        .await
        .unwrap();
    closed.credit("acme", usd("1")).await.unwrap();
    closed.charge(event("acme", 0, usd("0.001"))).await.unwrap();
    let m = take(s);
    assert_eq!(
        m["tollgate_ledger_entries_total{kind=charge}"], 1.0,
        "{m:?}"
    );
    assert_eq!(m["tollgate_ledger_available"], 1.0);
    assert_eq!(m["tollgate_ledger_commit_batch_size"], 1.0);

    // Group commit: 64 concurrent charges share far fewer transactions.
    let tasks: Vec<_> = (100..164)
        .map(|n| {
            let l = closed.clone();
            tokio::spawn(async move { l.charge(event("acme", n, usd("0.001"))).await })
        })
        .collect();
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let m = take(s);
    assert_eq!(
        m["tollgate_ledger_entries_total{kind=charge}"], 64.0,
        "{m:?}"
    );
    let batches = m["tollgate_ledger_commit_batch_size"];
    assert!(
        (1.0..=16.0).contains(&batches),
        "{batches} batches for 64 charges"
    );

    exec(&db, "ALTER TABLE entries RENAME TO entries_away").await;
    assert!(matches!(
        closed.charge(event("acme", 1, usd("0.001"))).await,
        Err(ChargeError::Unavailable(_))
    ));
    let m = take(s);
    assert_eq!(m["tollgate_ledger_unavailable_total"], 1.0, "{m:?}");
    assert_eq!(m["tollgate_ledger_available"], 0.0);
    assert_eq!(
        m.get("tollgate_ledger_spooled_total")
            .copied()
            .unwrap_or(0.0),
        0.0
    );

    for n in 2..4 {
        assert!(
            open_l
                .charge(event("acme", n, usd("0.001")))
                .await
                .unwrap()
                .spooled
        );
    }
    let m = take(s);
    assert_eq!(m["tollgate_ledger_unavailable_total"], 2.0, "{m:?}");
    assert_eq!(m["tollgate_ledger_spooled_total"], 2.0);

    exec(&db, "ALTER TABLE entries_away RENAME TO entries").await;
    assert_eq!(open_l.replay_spool().await.unwrap(), 2);
    let m = take(s);
    assert_eq!(m["tollgate_ledger_replayed_total"], 2.0, "{m:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unavailability_spooling_and_replay_are_counted() {
    let recorder = DebuggingRecorder::new();
    let s = recorder.snapshotter();
    recorder.install().unwrap();
    check(support::sqlite_db(), &s).await;
    if let Some(db) = support::postgres_db().await {
        check(db, &s).await;
    }
}
