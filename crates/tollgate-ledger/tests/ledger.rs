//! The ledger's behaviour, once per backend (`<test>::sqlite`, `<test>::postgres`).

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

mod support;

use std::time::Duration;

use support::{event, open, opts, usd, TestDb};
use tollgate_ledger::{
    entry_hash, AccountStatus, Billing, ChargeError, Credential, EntryKind, Ledger, LedgerError,
    LedgerOptions, Money, MoneyError, NewAccount, Unavailable,
};

backend_tests!(
    chain_verifies_after_charges_and_receipts_match_entries,
    tampering_one_row_makes_verify_name_it,
    concurrent_charges_on_one_prepaid_account_stop_exactly_at_zero,
    two_ledgers_on_one_database_never_overdraw,
    suspended_account_is_refused_until_resumed,
    postpaid_credit_limit_is_honoured,
    daily_quota_is_enforced_per_utc_day,
    unknown_account_and_currency_mismatch_are_refused,
    record_appends_without_debit,
    fail_open_spools_and_replay_keeps_the_chain_valid,
    fail_closed_reports_unavailable,
    revoked_key_stops_authenticating_after_the_cache_ttl,
    thumbprint_identifies_its_account,
    license_token_is_issued_authenticates_and_expires,
    money_overflow_is_an_error_never_a_wrap,
    usage_filters_by_account_and_time,
    account_admin_errors_name_the_account,
    nul_in_a_field_is_refused_without_failing_the_batch,
    background_replay_drains_the_spool_once_the_database_is_back,
    credits_during_charges_are_never_lost,
);

fn prepaid(name: &str) -> NewAccount {
    NewAccount {
        name: name.into(),
        currency: "USD".into(),
        billing: Billing::Prepaid,
        price: None,
        quota_per_day: None,
    }
}

/// Runs one SQL statement on the test database directly (to tamper or break it).
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

async fn charges(
    l: &Ledger,
    account: &str,
    range: std::ops::Range<u64>,
    price: Money,
) -> Vec<Result<tollgate_ledger::Receipt, ChargeError>> {
    let tasks: Vec<_> = range
        .map(|n| {
            let l = l.clone();
            let ev = event(account, n, price);
            tokio::spawn(async move { l.charge(ev).await })
        })
        .collect();
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

async fn chain_verifies_after_charges_and_receipts_match_entries(db: TestDb) {
    let l = open(&db).await;
    l.add_account(prepaid("acme")).await.unwrap();
    l.credit("acme", usd("1")).await.unwrap();
    let results = charges(&l, "acme", 0..50, usd("0.002")).await;
    let receipts: Vec<_> = results.into_iter().map(Result::unwrap).collect();
    let report = l.verify_chain().await.unwrap();
    assert_eq!(report.entries, 50);
    assert_eq!(report.first_broken, None);
    let acct = l.account("acme").await.unwrap().unwrap();
    assert_eq!(acct.balance.micros, 900_000);
    assert_eq!(acct.balance.to_string(), "USD 0.9");
    let entries = l.usage("acme", None, None).await.unwrap();
    assert_eq!(entries.len(), 50);
    let mut ids: Vec<i64> = receipts.iter().map(|r| r.entry_id).collect();
    ids.sort_unstable();
    assert_eq!(ids, (1..=50).collect::<Vec<_>>());
    for r in &receipts {
        assert!(!r.spooled);
        let e = &entries[(r.entry_id - 1) as usize];
        assert_eq!(e.id, r.entry_id);
        assert_eq!(e.hash, r.hash);
        assert_eq!(e.kind, EntryKind::Charge);
        assert_eq!(e.hash, entry_hash(e.id, e.kind, &e.event, &e.prev_hash));
    }
    assert_eq!(report.head, entries[49].hash);
    let first = &entries[0];
    assert_eq!(first.prev_hash, tollgate_ledger::GENESIS_HASH);
    assert_eq!(first.event.price, usd("0.002"));
    assert_eq!(first.event.account, "acme");
}

async fn tampering_one_row_makes_verify_name_it(db: TestDb) {
    let l = open(&db).await;
    l.add_account(prepaid("acme")).await.unwrap();
    l.credit("acme", usd("1")).await.unwrap();
    for n in 0..10 {
        l.charge(event("acme", n, usd("0.01"))).await.unwrap();
    }
    assert_eq!(l.verify_chain().await.unwrap().first_broken, None);

    exec(&db, "UPDATE entries SET price_micros = 1 WHERE id = 4").await;
    let b = l.verify_chain().await.unwrap().first_broken.unwrap();
    assert_eq!(b.id, 4);
    assert!(
        b.reason.contains("does not match the entry's fields"),
        "{}",
        b.reason
    );
    exec(&db, "UPDATE entries SET price_micros = 10000 WHERE id = 4").await;
    assert_eq!(l.verify_chain().await.unwrap().first_broken, None);

    exec(
        &db,
        "UPDATE entries SET url = 'https://example.org/other' WHERE id = 6",
    )
    .await;
    let r = l.verify_chain().await.unwrap();
    assert_eq!(r.entries, 5);
    assert_eq!(r.first_broken.unwrap().id, 6);
    exec(
        &db,
        "UPDATE entries SET url = 'https://example.org/articles/5' WHERE id = 6",
    )
    .await;

    // A forged hash breaks its own row (recomputation) before it breaks the next link.
    exec(
        &db,
        &format!(
            "UPDATE entries SET hash = '{}' WHERE id = 7",
            "ab".repeat(32)
        ),
    )
    .await;
    let b = l.verify_chain().await.unwrap().first_broken.unwrap();
    assert_eq!(b.id, 7);
    assert!(
        b.reason
            .contains(&format!("stored hash {}", "ab".repeat(32))),
        "{}",
        b.reason
    );

    exec(&db, "DELETE FROM entries WHERE id = 7").await;
    let b = l.verify_chain().await.unwrap().first_broken.unwrap();
    assert_eq!(b.id, 7);
    assert_eq!(b.reason, "entry 7 is missing (next is 8)");

    // Removing the tail leaves the chain consistent in itself, but not with its head.
    exec(&db, "DELETE FROM entries WHERE id >= 7").await;
    let r = l.verify_chain().await.unwrap();
    assert_eq!(r.entries, 6);
    let b = r.first_broken.unwrap();
    assert_eq!(b.id, 7);
    assert!(
        b.reason.starts_with("chain head names entry 10 (")
            && b.reason.contains("but the chain ends at entry 6 ("),
        "{}",
        b.reason
    );
}

async fn concurrent_charges_on_one_prepaid_account_stop_exactly_at_zero(db: TestDb) {
    let l = open(&db).await;
    l.add_account(prepaid("acme")).await.unwrap();
    // Balance for exactly 37 of 100 requests at USD 0.001.
    l.credit("acme", Money::new("USD", 37_000).unwrap())
        .await
        .unwrap();
    let results = charges(&l, "acme", 0..100, usd("0.001")).await;
    let ok = results.iter().filter(|r| r.is_ok()).count();
    let refused = results
        .iter()
        .filter(|r| **r == Err(ChargeError::InsufficientFunds))
        .count();
    assert_eq!((ok, refused), (37, 63));
    assert_eq!(l.account("acme").await.unwrap().unwrap().balance.micros, 0);
    assert_eq!(l.verify_chain().await.unwrap().entries, 37);
}

async fn two_ledgers_on_one_database_never_overdraw(db: TestDb) {
    // Two `Ledger`s on one database model two gateway replicas (two processes).
    let a = open(&db).await;
    let b = open(&db).await;
    a.add_account(prepaid("acme")).await.unwrap();
    b.credit("acme", Money::new("USD", 150 * 2_000).unwrap())
        .await
        .unwrap();
    let (ra, rb) = tokio::join!(
        charges(&a, "acme", 0..200, usd("0.002")),
        charges(&b, "acme", 200..400, usd("0.002"))
    );
    let ok = ra.iter().chain(&rb).filter(|r| r.is_ok()).count();
    let refused = ra
        .iter()
        .chain(&rb)
        .filter(|r| **r == Err(ChargeError::InsufficientFunds))
        .count();
    assert_eq!((ok, refused), (150, 250));
    assert_eq!(a.account("acme").await.unwrap().unwrap().balance.micros, 0);
    let report = b.verify_chain().await.unwrap();
    assert_eq!((report.entries, report.first_broken), (150, None));
    let total: u64 = a
        .usage("acme", None, None)
        .await
        .unwrap()
        .iter()
        .map(|e| e.event.price.micros)
        .sum();
    assert_eq!(total, 300_000);
}

async fn suspended_account_is_refused_until_resumed(db: TestDb) {
    let l = open(&db).await;
    l.add_account(prepaid("acme")).await.unwrap();
    l.credit("acme", usd("1")).await.unwrap();
    l.set_status("acme", AccountStatus::Suspended)
        .await
        .unwrap();
    assert_eq!(
        l.charge(event("acme", 1, usd("0.01"))).await,
        Err(ChargeError::Suspended)
    );
    assert_eq!(
        l.account("acme").await.unwrap().unwrap().status,
        AccountStatus::Suspended
    );
    l.set_status("acme", AccountStatus::Active).await.unwrap();
    assert_eq!(
        l.charge(event("acme", 2, usd("0.01")))
            .await
            .unwrap()
            .entry_id,
        1
    );
    assert_eq!(
        l.account("acme").await.unwrap().unwrap().balance.micros,
        990_000
    );
}

async fn postpaid_credit_limit_is_honoured(db: TestDb) {
    let l = open(&db).await;
    l.add_account(NewAccount {
        billing: Billing::Postpaid {
            credit_limit: usd("0.005"),
        },
        ..prepaid("bigco")
    })
    .await
    .unwrap();
    l.charge(event("bigco", 1, usd("0.002"))).await.unwrap();
    l.charge(event("bigco", 2, usd("0.002"))).await.unwrap();
    assert_eq!(
        l.charge(event("bigco", 3, usd("0.002"))).await,
        Err(ChargeError::InsufficientFunds)
    );
    l.charge(event("bigco", 4, usd("0.001"))).await.unwrap();
    let acct = l.account("bigco").await.unwrap().unwrap();
    assert_eq!(acct.balance.micros, -5_000);
    assert_eq!(acct.balance.to_string(), "USD -0.005");
    assert_eq!(
        acct.billing,
        Billing::Postpaid {
            credit_limit: usd("0.005")
        }
    );
}

async fn daily_quota_is_enforced_per_utc_day(db: TestDb) {
    let l = open(&db).await;
    l.add_account(NewAccount {
        quota_per_day: Some(3),
        ..prepaid("acme")
    })
    .await
    .unwrap();
    l.credit("acme", usd("1")).await.unwrap();
    for n in 0..3 {
        l.charge(event("acme", n, usd("0.001"))).await.unwrap();
    }
    assert_eq!(
        l.charge(event("acme", 3, usd("0.001"))).await,
        Err(ChargeError::QuotaExceeded)
    );
    // Next UTC day (event times are 2026-11-10T00:00:00Z + n s).
    l.charge(event("acme", 86_400, usd("0.001"))).await.unwrap();
    let acct = l.account("acme").await.unwrap().unwrap();
    assert_eq!((acct.quota_used, acct.balance.micros), (1, 996_000));
}

async fn unknown_account_and_currency_mismatch_are_refused(db: TestDb) {
    let l = open(&db).await;
    l.add_account(prepaid("acme")).await.unwrap();
    l.credit("acme", usd("1")).await.unwrap();
    assert_eq!(
        l.charge(event("nobody", 1, usd("0.01"))).await,
        Err(ChargeError::UnknownAccount)
    );
    assert_eq!(
        l.charge(event("acme", 1, "EUR 0.01".parse().unwrap()))
            .await,
        Err(ChargeError::CurrencyMismatch)
    );
    assert_eq!(l.verify_chain().await.unwrap().entries, 0);
}

async fn record_appends_without_debit(db: TestDb) {
    let l = open(&db).await;
    l.add_account(prepaid("acme")).await.unwrap();
    let r = l.record(event("acme", 1, usd("0"))).await.unwrap();
    assert_eq!(r.entry_id, 1);
    let e = &l.usage("acme", None, None).await.unwrap()[0];
    assert_eq!(e.kind, EntryKind::Record);
    assert_eq!(l.account("acme").await.unwrap().unwrap().balance.micros, 0);
    assert_eq!(
        l.record(event("nobody", 2, usd("0"))).await,
        Err(ChargeError::UnknownAccount)
    );
}

async fn fail_open_spools_and_replay_keeps_the_chain_valid(db: TestDb) {
    let spool = tempfile::tempdir().unwrap();
    let spool_path = spool.path().join("ledger.spool");
    let l = Ledger::open(
        &db.url,
        LedgerOptions {
            on_unavailable: Unavailable::FailOpen {
                spool: spool_path.clone(),
            },
            ..opts()
        },
    )
    .await
    .unwrap();
    l.add_account(prepaid("acme")).await.unwrap();
    l.credit("acme", usd("0.004")).await.unwrap();
    l.charge(event("acme", 0, usd("0.001"))).await.unwrap();

    // Outage: the entries table is gone, so every append fails.
    exec(&db, "ALTER TABLE entries RENAME TO entries_away").await;
    let mut spooled = Vec::new();
    for n in 1..=4 {
        let r = l.charge(event("acme", n, usd("0.001"))).await.unwrap();
        assert!(r.spooled);
        assert_eq!(r.entry_id, 0);
        assert_eq!(r.hash.len(), 64);
        spooled.push(r);
    }
    let lines = std::fs::read_to_string(&spool_path).unwrap();
    assert_eq!(lines.lines().count(), 4);
    let first: serde_json::Value = serde_json::from_str(lines.lines().next().unwrap()).unwrap();
    assert_eq!(first["kind"], "charge");
    assert_eq!(first["event"]["price"], "USD 0.001");
    assert_eq!(first["event"]["request_id"], "req-1");
    assert!(
        l.replay_spool().await.is_err(),
        "replay during the outage must fail"
    );
    assert_eq!(
        l.account("acme").await.unwrap().unwrap().balance.micros,
        3_000
    );

    exec(&db, "ALTER TABLE entries_away RENAME TO entries").await;
    assert_eq!(l.replay_spool().await.unwrap(), 4);
    assert!(!spool_path.exists());
    assert_eq!(l.replay_spool().await.unwrap(), 0);
    let report = l.verify_chain().await.unwrap();
    assert_eq!((report.entries, report.first_broken), (5, None));
    let entries = l.usage("acme", None, None).await.unwrap();
    let kinds: Vec<_> = entries.iter().map(|e| e.kind).collect();
    // USD 0.004 pays four of the five; the fifth was served in fail-open mode: unpaid.
    assert_eq!(
        kinds,
        [
            EntryKind::Charge,
            EntryKind::Charge,
            EntryKind::Charge,
            EntryKind::Charge,
            EntryKind::Unpaid
        ]
    );
    assert_eq!(entries[4].event.request_id, "req-4");
    assert_eq!(l.account("acme").await.unwrap().unwrap().balance.micros, 0);
    // New charges continue the same chain.
    l.credit("acme", usd("1")).await.unwrap();
    assert_eq!(
        l.charge(event("acme", 9, usd("0.001")))
            .await
            .unwrap()
            .entry_id,
        6
    );
    assert_eq!(l.verify_chain().await.unwrap().first_broken, None);
}

async fn fail_closed_reports_unavailable(db: TestDb) {
    let l = open(&db).await;
    l.add_account(prepaid("acme")).await.unwrap();
    l.credit("acme", usd("1")).await.unwrap();
    exec(&db, "ALTER TABLE entries RENAME TO entries_away").await;
    assert!(matches!(
        l.charge(event("acme", 1, usd("0.001"))).await,
        Err(ChargeError::Unavailable(_))
    ));
    exec(&db, "ALTER TABLE entries_away RENAME TO entries").await;
    // The failed batch rolled back: nothing debited, nothing appended.
    assert_eq!(
        l.account("acme").await.unwrap().unwrap().balance.micros,
        1_000_000
    );
    assert_eq!(
        l.charge(event("acme", 2, usd("0.001")))
            .await
            .unwrap()
            .entry_id,
        1
    );
}

async fn revoked_key_stops_authenticating_after_the_cache_ttl(db: TestDb) {
    let a = open(&db).await;
    let b = open(&db).await; // another replica, with its own cache
    a.add_account(prepaid("acme")).await.unwrap();
    let key = a.add_key("acme").await.unwrap();
    assert!(key.secret.starts_with("tg_") && key.secret.len() == 67);
    assert_eq!(&key.secret[..11], key.key_id);
    let auth = b
        .authenticate(Credential::ApiKey(&key.secret))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(auth.account, "acme");
    assert_eq!(auth.identity, format!("key:{}", key.key_id));
    assert_eq!(auth.status, AccountStatus::Active);
    assert_eq!(auth.price_override, None);

    a.revoke_key("acme", &key.key_id).await.unwrap();
    assert_eq!(
        a.authenticate(Credential::ApiKey(&key.secret))
            .await
            .unwrap(),
        None
    );
    // b still has it cached, for at most identity_cache_ttl (100 ms in tests).
    assert!(b
        .authenticate(Credential::ApiKey(&key.secret))
        .await
        .unwrap()
        .is_some());
    tokio::time::sleep(Duration::from_millis(250)).await;
    assert_eq!(
        b.authenticate(Credential::ApiKey(&key.secret))
            .await
            .unwrap(),
        None
    );

    let ids = a.identities("acme").await.unwrap();
    assert_eq!(ids.len(), 1);
    assert!(ids[0].revoked_ms.is_some());
    assert!(matches!(
        a.revoke_key("acme", &key.key_id).await,
        Err(LedgerError::UnknownIdentity { .. })
    ));
    let wrong = format!("tg_{}", "0".repeat(64));
    assert_eq!(
        a.authenticate(Credential::ApiKey(&wrong)).await.unwrap(),
        None
    );
    assert_eq!(
        a.authenticate(Credential::ApiKey("tg_short"))
            .await
            .unwrap(),
        None
    );
}

async fn thumbprint_identifies_its_account(db: TestDb) {
    let l = open(&db).await;
    l.add_account(NewAccount {
        price: Some(usd("0.003")),
        ..prepaid("acme")
    })
    .await
    .unwrap();
    let t = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
    assert_eq!(
        l.add_thumbprint("acme", t).await.unwrap(),
        format!("jwk:{t}")
    );
    assert!(matches!(
        l.add_thumbprint("acme", t).await,
        Err(LedgerError::IdentityExists(_))
    ));
    let auth = l
        .authenticate(Credential::Thumbprint(t))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(auth.identity, format!("jwk:{t}"));
    assert_eq!(auth.price_override, Some(usd("0.003")));
    assert_eq!(
        l.authenticate(Credential::Thumbprint("AAAAAAAAAAAAAAAAAAAAAAAA"))
            .await
            .unwrap(),
        None
    );
}

async fn license_token_is_issued_authenticates_and_expires(db: TestDb) {
    let l = open(&db).await;
    l.add_account(prepaid("acme")).await.unwrap();
    l.add_account(prepaid("other")).await.unwrap();
    let key = l.add_key("acme").await.unwrap();
    let ttl = Duration::from_millis(600);
    assert_eq!(
        l.issue_license_token("other", &key.secret, ttl)
            .await
            .unwrap(),
        None
    );
    let bad = format!("tg_{}", "1".repeat(64));
    assert_eq!(
        l.issue_license_token("acme", &bad, ttl).await.unwrap(),
        None
    );
    let tok = l
        .issue_license_token("acme", &key.secret, ttl)
        .await
        .unwrap()
        .unwrap();
    assert!(tok.access_token.starts_with("tgl_") && tok.access_token.len() == 68);
    assert_eq!(tok.expires_in, 0);
    assert_eq!(tok.identity, format!("license:{}", &tok.access_token[..12]));
    let auth = l
        .authenticate(Credential::LicenseToken(&tok.access_token))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (auth.account.as_str(), auth.identity.as_str()),
        ("acme", tok.identity.as_str())
    );
    // A token is not an API key.
    assert_eq!(
        l.authenticate(Credential::ApiKey(&tok.access_token))
            .await
            .unwrap(),
        None
    );
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert_eq!(
        l.authenticate(Credential::LicenseToken(&tok.access_token))
            .await
            .unwrap(),
        None
    );
    l.set_status("acme", AccountStatus::Suspended)
        .await
        .unwrap();
    assert_eq!(
        l.issue_license_token("acme", &key.secret, Duration::from_secs(60))
            .await
            .unwrap(),
        None
    );
}

async fn money_overflow_is_an_error_never_a_wrap(db: TestDb) {
    let l = open(&db).await;
    l.add_account(prepaid("acme")).await.unwrap();
    let max = Money::new("USD", i64::MAX as u64).unwrap();
    l.credit("acme", max).await.unwrap();
    assert!(matches!(
        l.credit("acme", Money::new("USD", 1).unwrap()).await,
        Err(LedgerError::Money(MoneyError::Overflow))
    ));
    assert!(matches!(
        l.credit("acme", Money::new("USD", u64::MAX).unwrap()).await,
        Err(LedgerError::Money(MoneyError::Overflow))
    ));
    assert_eq!(
        l.account("acme").await.unwrap().unwrap().balance.micros,
        i64::MAX
    );
    assert!(matches!(
        l.charge(event("acme", 1, Money::new("USD", u64::MAX).unwrap()))
            .await,
        Err(ChargeError::Invalid(_))
    ));
    assert!(matches!(
        l.credit("acme", "EUR 1".parse().unwrap()).await,
        Err(LedgerError::Money(MoneyError::CurrencyMismatch(_, _)))
    ));
    assert_eq!(l.verify_chain().await.unwrap().entries, 0);
}

async fn usage_filters_by_account_and_time(db: TestDb) {
    let l = open(&db).await;
    l.add_account(prepaid("acme")).await.unwrap();
    l.add_account(prepaid("beta")).await.unwrap();
    l.credit("acme", usd("1")).await.unwrap();
    l.credit("beta", usd("1")).await.unwrap();
    for n in 0..6 {
        let who = if n % 2 == 0 { "acme" } else { "beta" };
        l.charge(event(who, n, usd("0.01"))).await.unwrap();
    }
    let t0 = event("acme", 0, usd("0")).time;
    let acme = l
        .usage("acme", Some(t0 + 1000), Some(t0 + 4000))
        .await
        .unwrap();
    let urls: Vec<_> = acme.iter().map(|e| e.event.url.as_str()).collect();
    assert_eq!(urls, ["https://example.org/articles/2"]);
    assert_eq!(l.usage("beta", None, None).await.unwrap().len(), 3);
    assert!(matches!(
        l.usage("nobody", None, None).await,
        Err(LedgerError::UnknownAccount(n)) if n == "nobody"
    ));
    let json = serde_json::to_value(&acme[0]).unwrap();
    assert_eq!(json["price"], "USD 0.01");
    assert_eq!(json["price_micros"], 10_000);
    assert_eq!(json["kind"], "charge");
    assert_eq!(json["id"], 3);
}

async fn account_admin_errors_name_the_account(db: TestDb) {
    let l = open(&db).await;
    l.add_account(prepaid("acme")).await.unwrap();
    assert!(matches!(
        l.add_account(prepaid("acme")).await,
        Err(LedgerError::AccountExists(n)) if n == "acme"
    ));
    assert!(matches!(
        l.add_account(prepaid("bad name")).await,
        Err(LedgerError::BadName(_))
    ));
    assert!(matches!(
        l.credit("nobody", usd("1")).await,
        Err(LedgerError::UnknownAccount(n)) if n == "nobody"
    ));
    assert!(matches!(
        l.set_status("nobody", AccountStatus::Suspended).await,
        Err(LedgerError::UnknownAccount(_))
    ));
    assert!(matches!(
        l.add_key("nobody").await,
        Err(LedgerError::UnknownAccount(_))
    ));
    assert!(matches!(
        l.add_account(NewAccount {
            price: Some("EUR 1".parse().unwrap()),
            ..prepaid("euro")
        })
        .await,
        Err(LedgerError::Money(MoneyError::CurrencyMismatch(_, _)))
    ));
    l.set_price("acme", Some(usd("0.005"))).await.unwrap();
    l.set_quota("acme", Some(10)).await.unwrap();
    let a = l.account("acme").await.unwrap().unwrap();
    assert_eq!((a.price, a.quota_per_day), (Some(usd("0.005")), Some(10)));
    let names: Vec<_> = l
        .list_accounts()
        .await
        .unwrap()
        .into_iter()
        .map(|a| a.name)
        .collect();
    assert_eq!(names, ["acme"]);
}

async fn nul_in_a_field_is_refused_without_failing_the_batch(db: TestDb) {
    let l = open(&db).await;
    l.add_account(prepaid("acme")).await.unwrap();
    l.credit("acme", usd("1")).await.unwrap();
    let mut bad = event("acme", 1, usd("0.001"));
    bad.url.push('\0');
    let (good, bad) = tokio::join!(l.charge(event("acme", 2, usd("0.001"))), l.charge(bad));
    assert_eq!(good.unwrap().entry_id, 1);
    assert_eq!(
        bad,
        Err(ChargeError::Invalid("url contains a NUL character".into()))
    );
    assert_eq!(
        l.account("acme").await.unwrap().unwrap().balance.micros,
        999_000
    );
}

async fn background_replay_drains_the_spool_once_the_database_is_back(db: TestDb) {
    let spool = tempfile::tempdir().unwrap();
    let spool_path = spool.path().join("ledger.spool");
    let l = Ledger::open(
        &db.url,
        LedgerOptions {
            on_unavailable: Unavailable::FailOpen {
                spool: spool_path.clone(),
            },
            ..opts()
        },
    )
    .await
    .unwrap();
    l.add_account(prepaid("acme")).await.unwrap();
    l.credit("acme", usd("1")).await.unwrap();
    exec(&db, "ALTER TABLE entries RENAME TO entries_away").await;
    let replayer = l.spawn_spool_replay(Duration::from_millis(50));
    for n in 0..3 {
        assert!(
            l.charge(event("acme", n, usd("0.1")))
                .await
                .unwrap()
                .spooled
        );
    }
    // While the database is away the replayer fails and keeps the spool.
    tokio::time::sleep(Duration::from_millis(150)).await;
    assert_eq!(
        l.account("acme").await.unwrap().unwrap().balance.micros,
        1_000_000
    );
    exec(&db, "ALTER TABLE entries_away RENAME TO entries").await;
    let mut entries = 0;
    for _ in 0..100 {
        entries = l.verify_chain().await.unwrap().entries;
        if entries == 3 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    replayer.abort();
    assert_eq!(entries, 3);
    assert_eq!(
        l.account("acme").await.unwrap().unwrap().balance.micros,
        700_000
    );
    assert!(!spool_path.exists());
}

async fn credits_during_charges_are_never_lost(db: TestDb) {
    // One replica charges while another credits the same account: every credit and every
    // successful charge must show in the final balance, exactly.
    let a = open(&db).await;
    let b = open(&db).await;
    a.add_account(prepaid("acme")).await.unwrap();
    let crediting = tokio::spawn(async move {
        for _ in 0..100 {
            b.credit("acme", usd("0.001")).await.unwrap();
        }
    });
    let results = charges(&a, "acme", 0..300, usd("0.001")).await;
    crediting.await.unwrap();
    let ok = results.iter().filter(|r| r.is_ok()).count() as i64;
    assert!(results
        .iter()
        .all(|r| r.is_ok() || *r == Err(ChargeError::InsufficientFunds)));
    let balance = a.account("acme").await.unwrap().unwrap().balance.micros;
    assert_eq!(balance, 100 * 1_000 - ok * 1_000);
    assert!(balance >= 0);
    assert_eq!(a.verify_chain().await.unwrap().entries, ok as u64);
}
