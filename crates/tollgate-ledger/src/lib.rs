//! tollgate's ledger: accounts, identities and the hash-chained usage ledger, on SQLite (WAL,
//! embedded, the default) or PostgreSQL (shared by several gateway replicas).
//!
//! - **Accounts** have a name, a currency, a billing mode (prepaid balance, or postpaid with a
//!   credit limit), an optional price and daily quota, and a status (active / suspended).
//! - **Identities** map credentials to accounts: API keys (`tg_…`, stored as SHA-256),
//!   Web Bot Auth key thumbprints (RFC 7638), RSL licence tokens (`tgl_…`, stored as SHA-256,
//!   with an expiry) issued by OLP client credentials (RSL 1.0 §OLP `/token`).
//! - **Entries** record usage events; each stores the hash of the previous one
//!   ([`entry_hash`] gives the canonical form), so `verify_chain` finds the first row that was
//!   changed, removed or inserted.
//!
//! [`Ledger::charge`] debits and appends atomically and returns only once the entry is
//! durable. Concurrent calls are batched (group commit: one transaction and one fsync per batch,
//! each event with its own result). Several processes may share one PostgreSQL database: the
//! chain head is a one-row table locked (row lock) by every appending transaction.
//!
//! Metrics (`metrics` crate): counters `tollgate_ledger_entries_total{kind}`,
//! `tollgate_ledger_unavailable_total` (events that met an unavailable database),
//! `tollgate_ledger_spooled_total`, `tollgate_ledger_replayed_total`; gauges
//! `tollgate_ledger_available` (1/0, after each batch), `tollgate_ledger_identity_cache_entries`,
//! counter `tollgate_ledger_identity_stale_total` (answers served from the last known good while
//! the database is unreachable);
//! histogram `tollgate_ledger_commit_batch_size`.

mod admin;
mod db;
mod hash;
mod model;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{mpsc, oneshot};

pub use admin::KEY_PREFIX as API_KEY_PREFIX;
pub use db::redact;

/// A bound of a usage period ([`Ledger::usage`], invoices): unix milliseconds of a date
/// `2026-11-01` (UTC midnight) or of an RFC 3339 time (`2026-11-01T12:00:00Z`). `None` for
/// anything else.
pub fn period_bound(s: &str) -> Option<i64> {
    if let Ok(d) = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return d
            .and_hms_opt(0, 0, 0)
            .map(|t| t.and_utc().timestamp_millis());
    }
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_millis())
}
pub use hash::{canonical_bytes, entry_hash, GENESIS_HASH};
pub use model::{
    Account, AccountAuth, AccountStatus, Billing, BrokenEntry, ChainReport, ChargeError,
    Credential, EntryKind, Identity, IssuedToken, LedgerEntry, LedgerError, LedgerOptions,
    NewAccount, NewKey, Receipt, Unavailable, UsageEvent,
};
pub use tollgate_policy::{Balance, Money, MoneyError};

use db::Db;
use writer::Job;

/// The ledger of one gateway process. Cheap to clone (an `Arc` inside); the group-commit
/// writer task lives until the last clone is dropped. Needs a tokio runtime.
#[derive(Clone)]
pub struct Ledger {
    inner: Arc<Inner>,
}

struct Inner {
    db: Db,
    opts: LedgerOptions,
    jobs: mpsc::Sender<Job>,
    /// Lookup key → answer (with expiry for licence tokens); `None` = unknown credential.
    cache: moka::sync::Cache<String, Option<(AccountAuth, Option<i64>)>>,
    /// Lookup key → last positive answer, kept `identity_stale_ttl`; used only while the
    /// database cannot be reached.
    known: moka::sync::Cache<String, (AccountAuth, Option<i64>)>,
}

impl Ledger {
    /// Opens (creating if missing) the ledger at `url` and runs the migrations.
    ///
    /// `url`: `sqlite:PATH` (file created if missing; WAL, `synchronous=FULL`, 5 s busy
    /// timeout) or `postgres://user@host:port/db` (`?options=-c%20search_path%3Ds` selects a
    /// schema). Errors: [`LedgerError::BadUrl`], [`LedgerError::Database`] (connect or
    /// migration, with the cause).
    pub async fn open(url: &str, opts: LedgerOptions) -> Result<Ledger, LedgerError> {
        let db = Db::connect(url, &opts).await?;
        db.migrate().await?;
        let (jobs, rx) = mpsc::channel(opts.group_commit_max.max(1) * 16);
        tokio::spawn(writer::run(db.clone(), opts.clone(), rx));
        let cache = moka::sync::Cache::builder()
            .max_capacity(opts.identity_cache_max)
            .time_to_live(opts.identity_cache_ttl.max(Duration::from_millis(1)))
            .build();
        let known = moka::sync::Cache::builder()
            .max_capacity(opts.identity_cache_max)
            .time_to_live(opts.identity_stale_ttl.max(Duration::from_millis(1)))
            .build();
        Ok(Ledger {
            inner: Arc::new(Inner {
                db,
                opts,
                jobs,
                cache,
                known,
            }),
        })
    }

    /// The options this ledger was opened with.
    pub fn options(&self) -> &LedgerOptions {
        &self.inner.opts
    }

    /// Which account `cred` belongs to: `Ok(None)` for an unknown, revoked or expired
    /// credential. Answers (positive and negative) are cached for `identity_cache_ttl`, so a
    /// revocation takes effect within that time in every process. While the database cannot be
    /// reached, a credential seen within `identity_stale_ttl` keeps its last answer (counter
    /// `tollgate_ledger_identity_stale_total`), so fail-open mode still knows who pays; others
    /// get the database error. Malformed keys/tokens are rejected without a database query.
    pub async fn authenticate(
        &self,
        cred: Credential<'_>,
    ) -> Result<Option<AccountAuth>, LedgerError> {
        let Some(lookup) = admin::lookup_key(cred) else {
            return Ok(None);
        };
        let now = now_ms();
        let cached = self.inner.cache.get(&lookup);
        let answer = match cached {
            Some(a) => a,
            None => match self.inner.db.identity(&lookup).await {
                Ok(a) => {
                    match &a {
                        Some(known) => self.inner.known.insert(lookup.clone(), known.clone()),
                        // Revoked or removed since: never fall back to it.
                        None => self.inner.known.invalidate(&lookup),
                    }
                    self.inner.cache.insert(lookup, a.clone());
                    metrics::gauge!("tollgate_ledger_identity_cache_entries").set(
                        (self.inner.cache.entry_count() + self.inner.known.entry_count()) as f64,
                    );
                    a
                }
                Err(e) => match self.inner.known.get(&lookup) {
                    Some(known) => {
                        metrics::counter!("tollgate_ledger_identity_stale_total").increment(1);
                        Some(known)
                    }
                    None => return Err(e),
                },
            },
        };
        Ok(match answer {
            Some((_, Some(expires))) if expires <= now => None,
            Some((auth, _)) => Some(auth),
            None => None,
        })
    }

    /// Charges `ev.price` to `ev.account` and appends the entry, atomically and durably:
    /// checks the account is active, the price's currency is the account's, the daily quota
    /// (by `ev.time`'s UTC day) and the funds (prepaid: balance never below zero; postpaid:
    /// never below `-credit_limit`), debits, appends the hash-chained entry and commits,
    /// batched with concurrent calls (one transaction per batch). Returns the receipt once the
    /// commit is durable.
    ///
    /// Errors: the business refusals of [`ChargeError`]; `Unavailable` when the database
    /// cannot be reached in fail-closed mode (in fail-open mode the event is spooled and a
    /// receipt with `spooled: true` returned instead).
    pub async fn charge(&self, ev: UsageEvent) -> Result<Receipt, ChargeError> {
        self.submit(ev, EntryKind::Charge).await
    }

    /// Records a free licensed request (nothing debited; the account must exist) in the same
    /// chain, with the same durability and fail modes as [`Ledger::charge`].
    pub async fn record(&self, ev: UsageEvent) -> Result<Receipt, ChargeError> {
        self.submit(ev, EntryKind::Record).await
    }

    async fn submit(&self, ev: UsageEvent, kind: EntryKind) -> Result<Receipt, ChargeError> {
        let (reply, rx) = oneshot::channel();
        self.inner
            .jobs
            .send(Job::Append {
                ev: Box::new(ev),
                kind,
                reply,
            })
            .await
            .map_err(|_| ChargeError::Unavailable("ledger writer stopped".into()))?;
        rx.await
            .map_err(|_| ChargeError::Unavailable("ledger writer stopped".into()))?
    }

    /// RSL OLP client credentials (`POST /token`, `grant_type=client_credentials`): if
    /// `client_secret` is a live API key of the active account named `client_id`, issues an
    /// opaque licence token valid for `ttl` (stored as SHA-256 with its expiry) and returns it;
    /// `Ok(None)` otherwise (OLP `invalid_client`).
    pub async fn issue_license_token(
        &self,
        client_id: &str,
        client_secret: &str,
        ttl: Duration,
    ) -> Result<Option<IssuedToken>, LedgerError> {
        admin::issue_license_token(&self.inner.db, client_id, client_secret, ttl).await
    }

    /// Entries of `account` with `from <= time < to` (unix milliseconds; `None` = unbounded),
    /// in chain order. Error `UnknownAccount` if no such account.
    pub async fn usage(
        &self,
        account: &str,
        from: Option<i64>,
        to: Option<i64>,
    ) -> Result<Vec<LedgerEntry>, LedgerError> {
        self.inner
            .db
            .usage(account, from.unwrap_or(i64::MIN), to.unwrap_or(i64::MAX))
            .await
    }

    /// Walks the whole chain (in pages, constant memory): ids must run 1, 2, 3… without gaps,
    /// each `prev_hash` must be the previous entry's hash, each stored hash must match its
    /// fields, and the chain head must name the last entry. Reports the first entry that fails.
    pub async fn verify_chain(&self) -> Result<ChainReport, LedgerError> {
        self.inner.db.verify_chain().await
    }

    /// Moves the events of the fail-open spool into the chain (each charge debited as usual;
    /// one that can no longer be paid is recorded as `unpaid`; events already in the chain —
    /// same request id, time and account — are skipped) and removes the spool. Returns how
    /// many entries were appended. Call at start and periodically; a no-op in fail-closed mode.
    pub async fn replay_spool(&self) -> Result<u64, LedgerError> {
        let (reply, rx) = oneshot::channel();
        let stopped = || LedgerError::Database("ledger writer stopped".into());
        self.inner
            .jobs
            .send(Job::Replay { reply })
            .await
            .map_err(|_| stopped())?;
        rx.await.map_err(|_| stopped())?
    }

    /// Runs [`Ledger::replay_spool`] now and then every `every` in a background task (logging
    /// failures; the spool stays for the next round). Abort the handle to stop it. Nothing to do
    /// in fail-closed mode, where it returns at once.
    pub fn spawn_spool_replay(&self, every: Duration) -> tokio::task::JoinHandle<()> {
        let l = self.clone();
        tokio::spawn(async move {
            if l.inner.opts.on_unavailable == Unavailable::FailClosed {
                return;
            }
            let mut tick = tokio::time::interval(every.max(Duration::from_millis(10)));
            loop {
                tick.tick().await;
                match l.replay_spool().await {
                    Ok(0) => {}
                    Ok(n) => tracing::info!(entries = n, "replayed the ledger spool"),
                    Err(e) => tracing::warn!(error = %e, "ledger spool replay failed; will retry"),
                }
            }
        })
    }

    /// Creates an account. Errors: `BadName`, `AccountExists`, `Money` (bad currency, a price
    /// or credit limit in another currency, or beyond `i64` micro-units).
    pub async fn add_account(&self, new: NewAccount) -> Result<Account, LedgerError> {
        admin::add_account(&self.inner.db, new).await
    }

    /// All accounts, by name.
    pub async fn list_accounts(&self) -> Result<Vec<Account>, LedgerError> {
        self.inner.db.list_accounts().await
    }

    /// The account named `name`, if any.
    pub async fn account(&self, name: &str) -> Result<Option<Account>, LedgerError> {
        self.inner.db.account(name).await
    }

    /// The identities of account `name` (revoked ones included, marked). `UnknownAccount`.
    pub async fn identities(&self, name: &str) -> Result<Vec<Identity>, LedgerError> {
        self.inner.db.identities(name).await
    }

    /// Adds `amount` to the balance; returns the new balance. Errors: `UnknownAccount`,
    /// `Money(CurrencyMismatch | Overflow)`.
    pub async fn credit(&self, name: &str, amount: Money) -> Result<Balance, LedgerError> {
        admin::credit(&self.inner.db, name, amount).await
    }

    /// Sets active / suspended (takes effect on the next charge in every process).
    pub async fn set_status(&self, name: &str, status: AccountStatus) -> Result<(), LedgerError> {
        self.inner.db.set_status(name, status).await?;
        self.inner.cache.invalidate_all();
        self.inner.known.invalidate_all();
        Ok(())
    }

    /// Sets or clears the per-account price (in the account's currency).
    pub async fn set_price(&self, name: &str, price: Option<Money>) -> Result<(), LedgerError> {
        admin::set_price(&self.inner.db, name, price).await?;
        self.inner.cache.invalidate_all();
        self.inner.known.invalidate_all();
        Ok(())
    }

    /// Sets or clears the daily quota of charged requests.
    pub async fn set_quota(&self, name: &str, per_day: Option<u64>) -> Result<(), LedgerError> {
        admin::set_quota(&self.inner.db, name, per_day).await
    }

    /// Issues a new API key for account `name`: the plaintext is in the result only (shown
    /// once); the database keeps its SHA-256.
    pub async fn add_key(&self, name: &str) -> Result<NewKey, LedgerError> {
        admin::add_key(&self.inner.db, name).await
    }

    /// Registers a Web Bot Auth key thumbprint (RFC 7638, base64url) for `name`; returns the
    /// identity label `jwk:<thumbprint>`. `IdentityExists` if registered already.
    pub async fn add_thumbprint(
        &self,
        name: &str,
        thumbprint: &str,
    ) -> Result<String, LedgerError> {
        let label = admin::add_thumbprint(&self.inner.db, name, thumbprint).await?;
        self.inner.cache.invalidate_all();
        self.inner.known.invalidate_all();
        Ok(label)
    }

    /// Revokes an identity of `name`: `id` is a key id (`tg_ab12cd34`), a thumbprint, a
    /// licence token id (`tgl_ab12cd34`) or a full label (`key:tg_ab12cd34`). Other processes
    /// notice within `identity_cache_ttl`. `UnknownIdentity` if none matches (or revoked).
    pub async fn revoke_key(&self, name: &str, id: &str) -> Result<(), LedgerError> {
        admin::revoke(&self.inner.db, name, id).await?;
        self.inner.cache.invalidate_all();
        self.inner.known.invalidate_all();
        Ok(())
    }
}

/// Now, unix milliseconds.
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// Compile-time check: the gateway shares one `Ledger` across tasks and awaits its futures in
/// `Send` handlers (axum, tokio::spawn).
#[allow(dead_code)]
fn ledger_and_its_futures_are_send(l: &Ledger, ev: UsageEvent) {
    fn send<T: Send + Sync>(_: &T) {}
    fn send_future<F: std::future::Future + Send>(_: F) {}
    send(l);
    send_future(l.charge(ev.clone()));
    send_future(l.record(ev));
    send_future(l.authenticate(Credential::ApiKey("")));
    send_future(l.usage("", None, None));
    send_future(l.verify_chain());
    send_future(l.replay_spool());
    send_future(l.issue_license_token("", "", Duration::ZERO));
}

#[cfg(test)]
mod period_tests {
    use super::period_bound;

    #[test]
    fn period_bounds_are_utc_dates_or_rfc3339_times_in_ms() {
        assert_eq!(period_bound("2026-11-01"), Some(1_793_491_200_000));
        assert_eq!(
            period_bound("2026-11-01T01:00:00+01:00"),
            Some(1_793_491_200_000)
        );
        assert_eq!(
            period_bound("2026-11-01T00:00:00.5Z"),
            Some(1_793_491_200_500)
        );
        assert_eq!(period_bound("yesterday"), None);
        assert_eq!(period_bound("2026-13-01"), None);
    }
}
