//! Charges per second through group commit, on SQLite (temp file, WAL, synchronous=FULL) and
//! PostgreSQL (`TOLLGATE_TEST_PG`, default `postgres://postgres@127.0.0.1:5432/test`, in a
//! schema of its own, dropped afterwards; skipped if unreachable), with 1 and 64 callers.
//! Criterion's "thrpt" is charges/s. Short runs: `cargo bench -p tollgate-ledger`.

#![allow(clippy::unwrap_used, missing_docs)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sqlx::Connection;
use tollgate_ledger::{Billing, Ledger, LedgerOptions, Money, NewAccount, UsageEvent};

fn event(n: u64) -> UsageEvent {
    UsageEvent {
        time: 1_794_268_800_000 + n as i64,
        account: "bench".into(),
        identity: "key:tg_00000000".into(),
        agent: Some("GPTBot".into()),
        method: "GET".into(),
        url: format!("https://example.org/articles/{n}"),
        status: 200,
        bytes: 5120,
        price: Money::new("USD", 2_000).unwrap(),
        rule: Some("charge-ai".into()),
        request_id: format!("bench-{n}"),
    }
}

async fn ledger(url: &str) -> Ledger {
    let l = Ledger::open(url, LedgerOptions::default()).await.unwrap();
    l.add_account(NewAccount {
        name: "bench".into(),
        currency: "USD".into(),
        billing: Billing::Prepaid,
        price: None,
        quota_per_day: None,
    })
    .await
    .unwrap();
    l.credit("bench", Money::new("USD", i64::MAX as u64).unwrap())
        .await
        .unwrap();
    l
}

/// Runs `total` charges from `callers` concurrent tasks; returns the elapsed time.
async fn run(l: &Ledger, seq: &Arc<AtomicU64>, total: u64, callers: u64) -> Duration {
    let start = Instant::now();
    let tasks: Vec<_> = (0..callers)
        .map(|c| {
            let (l, seq) = (l.clone(), seq.clone());
            let n = total / callers + u64::from(c < total % callers);
            tokio::spawn(async move {
                for _ in 0..n {
                    l.charge(event(seq.fetch_add(1, Ordering::Relaxed)))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    start.elapsed()
}

fn bench_backend(c: &mut Criterion, name: &str, url: &str, rt: &tokio::runtime::Runtime) {
    let l = rt.block_on(ledger(url));
    let seq = Arc::new(AtomicU64::new(0));
    let mut g = c.benchmark_group(format!("charge/{name}"));
    g.throughput(Throughput::Elements(1))
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    for callers in [1u64, 64] {
        g.bench_function(format!("{callers}-callers"), |b| {
            b.iter_custom(|iters| rt.block_on(run(&l, &seq, iters, callers.min(iters.max(1)))))
        });
    }
    g.finish();
    let report = rt.block_on(l.verify_chain()).unwrap();
    assert_eq!(report.first_broken, None);
}

fn charge(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let sqlite = format!("sqlite:{}", dir.path().join("bench.db").display());
    bench_backend(c, "sqlite", &sqlite, &rt);

    let base = std::env::var("TOLLGATE_TEST_PG")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/test".into());
    let schema = format!("tg_bench_{}", std::process::id());
    let created = rt.block_on(async {
        let mut conn = sqlx::PgConnection::connect(&base).await.ok()?;
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut conn)
            .await
            .ok()
    });
    if created.is_none() {
        eprintln!(
            "!!!!!!!! SKIPPED charge/postgres: PostgreSQL at {base} is not reachable !!!!!!!!"
        );
        return;
    }
    let url = format!("{base}?options=-c%20search_path%3D{schema}");
    bench_backend(c, "postgres", &url, &rt);
    rt.block_on(async {
        let mut conn = sqlx::PgConnection::connect(&base).await.unwrap();
        sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&mut conn)
            .await
            .unwrap();
    });
}

criterion_group!(benches, charge);
criterion_main!(benches);
