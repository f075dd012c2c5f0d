//! Several processes on one ledger, and a process killed with SIGKILL mid-load. The children
//! are this test binary itself, re-run on the ignored test `child_charge_loop`, which charges
//! from 32 concurrent tasks and prints `receipt <id> <hash>` once each `charge` has returned —
//! the moment a gateway would release the response carrying `crawler-charged`.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use support::{event, usd, TestDb};
use tollgate_ledger::{ChargeError, EntryKind, Ledger, LedgerOptions, Money, NewAccount};

const URL: &str = "TOLLGATE_LEDGER_CHILD_URL";
const COUNT: &str = "TOLLGATE_LEDGER_CHILD_COUNT";
const OFFSET: &str = "TOLLGATE_LEDGER_CHILD_OFFSET";

backend_tests!(
    sigkill_mid_load_loses_no_receipted_entry,
    two_processes_charge_one_account_exactly
);

/// The child: charges `COUNT` events (numbered from `OFFSET`) to account `acme` on `URL`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "run by the tests of this file as a child process"]
async fn child_charge_loop() {
    let url = std::env::var(URL).expect("child only");
    let count: u64 = std::env::var(COUNT).unwrap().parse().unwrap();
    let offset: u64 = std::env::var(OFFSET).unwrap().parse().unwrap();
    let l = Ledger::open(&url, LedgerOptions::default()).await.unwrap();
    let next = Arc::new(AtomicU64::new(0));
    let (ok, refused) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let (l, next, ok, refused) = (l.clone(), next.clone(), ok.clone(), refused.clone());
            tokio::spawn(async move {
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= count {
                        break;
                    }
                    match l.charge(event("acme", offset + n, usd("0.002"))).await {
                        Ok(r) => {
                            println!("receipt {} {}", r.entry_id, r.hash);
                            ok.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(ChargeError::InsufficientFunds) => {
                            refused.fetch_add(1, Ordering::Relaxed);
                        }
                        Err(e) => panic!("charge: {e}"),
                    }
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    println!(
        "done ok={} refused={}",
        ok.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed)
    );
}

fn spawn_child(url: &str, count: u64, offset: u64) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args([
            "--ignored",
            "--exact",
            "child_charge_loop",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(URL, url)
        .env(COUNT, count.to_string())
        .env(OFFSET, offset.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap()
}

async fn setup(db: &TestDb, balance: Money) -> Ledger {
    let l = support::open(db).await;
    l.add_account(NewAccount {
        name: "acme".into(),
        currency: "USD".into(),
        billing: tollgate_ledger::Billing::Prepaid,
        price: None,
        quota_per_day: None,
    })
    .await
    .unwrap();
    l.credit("acme", balance).await.unwrap();
    l
}

async fn sigkill_mid_load_loses_no_receipted_entry(db: TestDb) {
    let l = setup(&db, usd("1000")).await;
    let mut child = spawn_child(&db.url, 1_000_000, 0);
    let mut receipts = Vec::new();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    while receipts.len() < 500 {
        let line = lines.next().expect("child ended early").unwrap();
        if let Some(r) = line.strip_prefix("receipt ") {
            let (id, hash) = r.split_once(' ').unwrap();
            receipts.push((id.parse::<i64>().unwrap(), hash.to_string()));
        }
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    // Lines already written before the kill are receipts too.
    for line in lines.map_while(Result::ok) {
        if let Some(r) = line.strip_prefix("receipt ") {
            let (id, hash) = r.split_once(' ').unwrap();
            receipts.push((id.parse::<i64>().unwrap(), hash.to_string()));
        }
    }

    let report = l.verify_chain().await.unwrap();
    assert_eq!(report.first_broken, None);
    let entries = l.usage("acme", None, None).await.unwrap();
    assert_eq!(entries.len() as u64, report.entries);
    for (id, hash) in &receipts {
        let e = &entries[(*id - 1) as usize];
        assert_eq!(
            (&e.id, &e.hash),
            (id, hash),
            "receipted entry {id} missing or different"
        );
    }
    // Entries without a receipt are those committed while their caller was being killed:
    // at most one per concurrent caller (32).
    let extra = entries.len() - receipts.len();
    assert!(extra <= 32, "{extra} entries without a receipt");
    let charged: i64 = entries.iter().map(|e| e.event.price.micros as i64).sum();
    let balance = l.account("acme").await.unwrap().unwrap().balance.micros;
    assert_eq!(balance, 1_000_000_000 - charged);
    // The chain continues after the crash.
    let next = l
        .charge(event("acme", 9_999_999, usd("0.002")))
        .await
        .unwrap();
    assert_eq!(next.entry_id, entries.len() as i64 + 1);
    assert_eq!(l.verify_chain().await.unwrap().first_broken, None);
}

async fn two_processes_charge_one_account_exactly(db: TestDb) {
    // Balance for exactly 7 000 of 10 000 charges of USD 0.002, from two processes.
    let l = setup(&db, usd("14")).await;
    let children = [
        spawn_child(&db.url, 5_000, 0),
        spawn_child(&db.url, 5_000, 5_000),
    ];
    // Drain both outputs at once so neither child stalls on a full pipe.
    let readers: Vec<_> = children
        .into_iter()
        .map(|mut child| {
            std::thread::spawn(move || {
                let out = BufReader::new(child.stdout.take().unwrap());
                let lines: Vec<String> = out.lines().map_while(Result::ok).collect();
                assert!(child.wait().unwrap().success());
                lines
                    .iter()
                    .find_map(|l| l.strip_prefix("done ").map(str::to_string))
                    .expect("child did not finish")
            })
        })
        .collect();
    let mut total_ok = 0;
    let mut total_refused = 0;
    for r in readers {
        let done = r.join().unwrap();
        let (ok, refused) = done.split_once(' ').unwrap();
        total_ok += ok.strip_prefix("ok=").unwrap().parse::<u64>().unwrap();
        total_refused += refused
            .strip_prefix("refused=")
            .unwrap()
            .parse::<u64>()
            .unwrap();
    }
    assert_eq!((total_ok, total_refused), (7_000, 3_000));
    let acct = l.account("acme").await.unwrap().unwrap();
    assert_eq!(acct.balance.micros, 0);
    let report = l.verify_chain().await.unwrap();
    assert_eq!((report.entries, report.first_broken), (7_000, None));
    let entries = l.usage("acme", None, None).await.unwrap();
    assert!(entries.iter().all(|e| e.kind == EntryKind::Charge));
    let total = entries
        .iter()
        .try_fold(usd("0"), |t, e| t.plus(e.event.price))
        .unwrap();
    assert_eq!(total, usd("14"));
}
