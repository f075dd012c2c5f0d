//! A real PostgreSQL outage: the ledger talks to the server through a TCP relay that the test
//! cuts (every connection dropped, new ones refused) and then restores.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::{event, usd};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;
use tollgate_ledger::{
    Billing, ChargeError, Credential, Ledger, LedgerOptions, NewAccount, Unavailable,
};

/// A TCP relay from a loopback port to the PostgreSQL server.
struct Relay {
    port: u16,
    target: String,
    tasks: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Relay {
    async fn start(target: String) -> Relay {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let relay = Relay {
            port,
            target,
            tasks: Arc::default(),
        };
        relay.serve(listener);
        relay
    }

    fn serve(&self, listener: TcpListener) {
        let (target, tasks) = (self.target.clone(), self.tasks.clone());
        let accept = tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                let conn = tokio::spawn(async move {
                    if let Ok(mut outbound) = TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
                tasks.lock().unwrap().push(conn);
            }
        });
        self.tasks.lock().unwrap().push(accept);
    }

    /// Drops every connection and stops accepting (connects are refused).
    fn cut(&self) {
        for t in self.tasks.lock().unwrap().drain(..) {
            t.abort();
        }
    }

    async fn restore(&self) {
        let listener = TcpListener::bind(("127.0.0.1", self.port)).await.unwrap();
        self.serve(listener);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_outage_fail_open_spools_fail_closed_refuses_and_replay_recovers() {
    let Some(db) = support::postgres_db().await else {
        return;
    };
    // postgres://user@HOST:PORT/db?options=… → the same through the relay.
    let rest = db.url.split_once('@').unwrap().1;
    let (hostport, path) = rest.split_once('/').unwrap();
    let relay = Relay::start(hostport.to_string()).await;
    let user = db.url.split_once('@').unwrap().0;
    let url = format!("{user}@127.0.0.1:{}/{path}", relay.port);

    let spool_dir = tempfile::tempdir().unwrap();
    let spool = spool_dir.path().join("spool");
    let opts = |on_unavailable| LedgerOptions {
        on_unavailable,
        acquire_timeout: Duration::from_millis(500),
        ..support::opts()
    };
    let open_l = Ledger::open(
        &url,
        opts(Unavailable::FailOpen {
            spool: spool.clone(),
        }),
    )
    .await
    .unwrap();
    let closed = Ledger::open(&url, opts(Unavailable::FailClosed))
        .await
        .unwrap();
    open_l
        .add_account(NewAccount {
            name: "acme".into(),
            currency: "USD".into(),
            billing: Billing::Prepaid,
            price: None,
            quota_per_day: None,
        })
        .await
        .unwrap();
    open_l.credit("acme", usd("1")).await.unwrap();
    let key = open_l.add_key("acme").await.unwrap();
    let known = Credential::ApiKey(&key.secret);
    assert!(open_l.authenticate(known).await.unwrap().is_some());
    let stranger = format!("tg_{}", "5".repeat(64));
    assert_eq!(
        open_l
            .charge(event("acme", 0, usd("0.01")))
            .await
            .unwrap()
            .entry_id,
        1
    );
    assert_eq!(
        closed
            .charge(event("acme", 1, usd("0.01")))
            .await
            .unwrap()
            .entry_id,
        2
    );

    relay.cut();
    // Past the fresh cache's TTL, the key seen before still names its account; an unseen one
    // gets the database error.
    tokio::time::sleep(Duration::from_millis(250)).await;
    let auth = open_l.authenticate(known).await.unwrap().unwrap();
    assert_eq!(auth.account, "acme");
    assert!(open_l
        .authenticate(Credential::ApiKey(&stranger))
        .await
        .is_err());
    for n in 2..5 {
        let r = open_l.charge(event("acme", n, usd("0.01"))).await.unwrap();
        assert!(r.spooled, "charge {n} during the outage must be spooled");
    }
    assert!(matches!(
        closed.charge(event("acme", 5, usd("0.01"))).await,
        Err(ChargeError::Unavailable(_))
    ));
    assert!(open_l.replay_spool().await.is_err());
    assert_eq!(
        std::fs::read_to_string(spool.with_extension("replaying"))
            .unwrap_or_default()
            .lines()
            .count()
            + std::fs::read_to_string(&spool)
                .unwrap_or_default()
                .lines()
                .count(),
        3
    );

    relay.restore().await;
    // The pools reconnect on their own.
    let mut replayed = None;
    for _ in 0..50 {
        if let Ok(n) = open_l.replay_spool().await {
            replayed = Some(n);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(replayed, Some(3));
    assert_eq!(
        closed
            .charge(event("acme", 6, usd("0.01")))
            .await
            .unwrap()
            .entry_id,
        6
    );
    let report = closed.verify_chain().await.unwrap();
    assert_eq!((report.entries, report.first_broken), (6, None));
    assert_eq!(
        closed
            .account("acme")
            .await
            .unwrap()
            .unwrap()
            .balance
            .micros,
        1_000_000 - 6 * 10_000
    );
    relay.cut();
}
