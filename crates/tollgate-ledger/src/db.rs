//! The two stores. Every query is written once, with `$N` placeholders (both SQLite and
//! PostgreSQL accept them), and run on either pool through [`on_db!`], which expands the body
//! once per backend so each copy type-checks against its own driver.

use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::SqliteSynchronous;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions};
use sqlx::Row;
use tollgate_policy::{Balance, Money};

use crate::hash::{entry_hash, GENESIS_HASH};
use crate::model::*;

/// A pool of either backend.
#[derive(Clone)]
pub(crate) enum Db {
    Sqlite(SqlitePool),
    Pg(PgPool),
}

/// Runs `$body` with `$pool` bound to the SQLite or the PostgreSQL pool.
macro_rules! on_db {
    ($db:expr, |$pool:ident| $body:expr) => {
        match $db {
            Db::Sqlite($pool) => $body,
            Db::Pg($pool) => $body,
        }
    };
    // Also names the backend's `sqlx::Database` type `$dbt` inside the body.
    ($db:expr, |$pool:ident, $dbt:ident| $body:expr) => {
        match $db {
            Db::Sqlite($pool) => {
                type $dbt = sqlx::Sqlite;
                $body
            }
            Db::Pg($pool) => {
                type $dbt = sqlx::Postgres;
                $body
            }
        }
    };
}

/// Reads an account row (columns of [`ACCOUNT_COLS`]) into an [`Account`].
macro_rules! account_from_row {
    ($row:expr) => {{
        let row = &$row;
        let currency: String = row.try_get("currency")?;
        let billing: String = row.try_get("billing")?;
        let limit: i64 = row.try_get("credit_limit_micros")?;
        let price: Option<i64> = row.try_get("price_micros")?;
        let quota: Option<i64> = row.try_get("quota_per_day")?;
        let status: String = row.try_get("status")?;
        let stored_money = |micros: i64| {
            Money::new(&currency, u64::try_from(micros).unwrap_or(0))
                .map_err(|e| sqlx::Error::Decode(Box::new(e)))
        };
        Account {
            name: row.try_get("name")?,
            status: AccountStatus::parse(&status),
            billing: if billing == "prepaid" {
                Billing::Prepaid
            } else {
                Billing::Postpaid {
                    credit_limit: stored_money(limit)?,
                }
            },
            balance: Balance {
                currency: stored_money(0)?.currency,
                micros: row.try_get("balance_micros")?,
            },
            price: price.map(stored_money).transpose()?,
            quota_per_day: quota.map(|q| u64::try_from(q).unwrap_or(0)),
            quota_used: u64::try_from(row.try_get::<i64, _>("quota_used")?).unwrap_or(0),
            created_ms: row.try_get("created_ms")?,
        }
    }};
}

pub(crate) const ACCOUNT_COLS: &str = "name, status, billing, currency, balance_micros, \
     credit_limit_micros, price_micros, quota_per_day, quota_used, created_ms";

const ENTRY_COLS: &str = "id, time_ms, kind, account, identity, agent, method, url, status, \
     bytes, currency, price_micros, rule, request_id, prev_hash, hash";

/// A row of `entries` as stored (before any validation).
pub(crate) struct RawEntry {
    id: i64,
    time_ms: i64,
    kind: String,
    account: String,
    identity: String,
    agent: Option<String>,
    method: String,
    url: String,
    status: i32,
    bytes: i64,
    currency: String,
    price_micros: i64,
    rule: Option<String>,
    request_id: String,
    prev_hash: String,
    hash: String,
}

macro_rules! raw_entry {
    ($row:expr) => {{
        let r = &$row;
        RawEntry {
            id: r.try_get("id")?,
            time_ms: r.try_get("time_ms")?,
            kind: r.try_get("kind")?,
            account: r.try_get("account")?,
            identity: r.try_get("identity")?,
            agent: r.try_get("agent")?,
            method: r.try_get("method")?,
            url: r.try_get("url")?,
            status: r.try_get("status")?,
            bytes: r.try_get("bytes")?,
            currency: r.try_get("currency")?,
            price_micros: r.try_get("price_micros")?,
            rule: r.try_get("rule")?,
            request_id: r.try_get("request_id")?,
            prev_hash: r.try_get("prev_hash")?,
            hash: r.try_get("hash")?,
        }
    }};
}

impl RawEntry {
    /// The typed entry, or why the stored fields are not valid.
    fn typed(self) -> Result<LedgerEntry, (i64, String)> {
        let id = self.id;
        let bad = |what: String| (id, what);
        let kind =
            EntryKind::parse(&self.kind).ok_or_else(|| bad(format!("kind `{}`", self.kind)))?;
        let micros = u64::try_from(self.price_micros)
            .map_err(|_| bad(format!("negative price_micros {}", self.price_micros)))?;
        let price =
            Money::new(&self.currency, micros).map_err(|e| bad(format!("currency: {e}")))?;
        Ok(LedgerEntry {
            id,
            kind,
            event: UsageEvent {
                time: self.time_ms,
                account: self.account,
                identity: self.identity,
                agent: self.agent,
                method: self.method,
                url: self.url,
                status: u16::try_from(self.status)
                    .map_err(|_| bad(format!("status {}", self.status)))?,
                bytes: u64::try_from(self.bytes)
                    .map_err(|_| bad(format!("negative bytes {}", self.bytes)))?,
                price,
                rule: self.rule,
                request_id: self.request_id,
            },
            prev_hash: self.prev_hash,
            hash: self.hash,
        })
    }
}

/// One event to append within a batch.
pub(crate) struct Pending<'a> {
    pub ev: &'a UsageEvent,
    pub kind: EntryKind,
    /// Replay: a charge that can no longer be paid becomes an `unpaid` entry.
    pub unpaid_fallback: bool,
    /// Replay: skip if an entry with the same request id, time and account exists.
    pub dedup: bool,
}

/// Outcome of one pending event: a receipt, a refusal, or skipped as a duplicate.
pub(crate) enum Outcome {
    Appended(Receipt, EntryKind),
    Refused(ChargeError),
    Duplicate,
}

/// The first text field of `ev` holding a NUL character, if any.
fn nul_field(ev: &UsageEvent) -> Option<&'static str> {
    let fields = [
        ("account", Some(&ev.account)),
        ("identity", Some(&ev.identity)),
        ("agent", ev.agent.as_ref()),
        ("method", Some(&ev.method)),
        ("url", Some(&ev.url)),
        ("rule", ev.rule.as_ref()),
        ("request_id", Some(&ev.request_id)),
    ];
    fields
        .into_iter()
        .find(|(_, v)| v.is_some_and(|v| v.contains('\0')))
        .map(|(name, _)| name)
}

/// Why a batch was not (known to be) committed.
pub(crate) enum BatchError {
    /// Failed before COMMIT: nothing was committed.
    Before(sqlx::Error),
    /// COMMIT failed: it may or may not have taken effect; the outcomes it would have had.
    AtCommit(sqlx::Error, Vec<Outcome>),
}

impl From<sqlx::Error> for BatchError {
    fn from(e: sqlx::Error) -> Self {
        BatchError::Before(e)
    }
}

impl From<BatchError> for LedgerError {
    fn from(e: BatchError) -> Self {
        match e {
            BatchError::Before(e) => e.into(),
            BatchError::AtCommit(e, _) => LedgerError::Database(format!("commit: {e}")),
        }
    }
}

/// An account as read (and locked) within a batch, kept current by the batch's own debits.
struct AcctState {
    id: i64,
    status: String,
    billing: String,
    currency: String,
    /// Balance as read (locked) at the start of the batch.
    read_balance: i64,
    /// Balance after the batch's debits so far.
    balance: i64,
    credit_limit: i64,
    quota: Option<i64>,
    quota_day: i64,
    quota_used: i64,
    /// Debited in this batch: written back before COMMIT.
    dirty: bool,
}

impl AcctState {
    /// The micro-units to debit for `price` on UTC day `day`, or why the account cannot pay.
    fn refusal(&self, price: &Money, day: i64) -> Result<i64, ChargeError> {
        if self.status != "active" {
            return Err(ChargeError::Suspended);
        }
        if self.currency != price.currency() {
            return Err(ChargeError::CurrencyMismatch);
        }
        let used = if self.quota_day == day {
            self.quota_used
        } else {
            0
        };
        if self.quota.is_some_and(|q| used >= q) {
            return Err(ChargeError::QuotaExceeded);
        }
        let amount = i64::try_from(price.micros)
            .map_err(|_| ChargeError::Invalid(format!("price {price} beyond i64 micro-units")))?;
        let floor = if self.billing == "prepaid" {
            0
        } else {
            -self.credit_limit
        };
        match self.balance.checked_sub(amount) {
            Some(b) if b >= floor => Ok(amount),
            _ => Err(ChargeError::InsufficientFunds),
        }
    }

    /// Debits `amount` on UTC day `day` (`refusal` checked it cannot overflow or pass the floor).
    fn debit(&mut self, amount: i64, day: i64) {
        self.dirty = true;
        self.balance -= amount;
        if self.quota_day == day {
            self.quota_used += 1;
        } else {
            self.quota_day = day;
            self.quota_used = 1;
        }
    }
}

/// An entry waiting for the batch's `INSERT`.
struct NewRow<'a> {
    id: i64,
    kind: EntryKind,
    ev: &'a UsageEvent,
    price_micros: i64,
    bytes: i64,
    prev_hash: String,
    hash: String,
}

impl Db {
    pub(crate) async fn connect(url: &str, opts: &LedgerOptions) -> Result<Db, LedgerError> {
        if url.starts_with("sqlite:") {
            let co = SqliteConnectOptions::from_str(url)
                .map_err(|e| LedgerError::Database(format!("{url}: {e}")))?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .busy_timeout(Duration::from_secs(5))
                .foreign_keys(true);
            let pool = SqlitePoolOptions::new()
                .max_connections(opts.max_connections.max(1))
                .acquire_timeout(opts.acquire_timeout)
                .connect_with(co)
                .await
                .map_err(|e| LedgerError::Database(format!("{url}: {e}")))?;
            Ok(Db::Sqlite(pool))
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(opts.max_connections.max(1))
                .acquire_timeout(opts.acquire_timeout)
                .connect(url)
                .await
                .map_err(|e| LedgerError::Database(format!("{}: {e}", redact(url))))?;
            Ok(Db::Pg(pool))
        } else {
            Err(LedgerError::BadUrl(redact(url)))
        }
    }

    pub(crate) async fn migrate(&self) -> Result<(), LedgerError> {
        match self {
            Db::Sqlite(p) => sqlx::migrate!("./migrations/sqlite").run(p).await?,
            Db::Pg(p) => sqlx::migrate!("./migrations/postgres").run(p).await?,
        }
        Ok(())
    }

    /// Appends `batch` in one transaction: locks the chain head (a row lock on PostgreSQL, the
    /// write lock on SQLite, taken by the first statement), reads and locks each account once,
    /// checks and debits each charge in memory, writes each debited account back once, inserts
    /// the entries (multi-row `INSERT`s), moves the head, commits. `BatchError::Before`: nothing
    /// was committed; `AtCommit`: unknown, with the outcomes the batch would have had.
    pub(crate) async fn append_batch(
        &self,
        batch: &[Pending<'_>],
    ) -> Result<Vec<Outcome>, BatchError> {
        // The account rows stay locked until COMMIT, so the debits computed from them can be
        // written back as they are. SQLite's write lock, taken by the first statement, already
        // excludes every other writer.
        let account_sql = format!(
            "SELECT id, status, billing, currency, balance_micros, credit_limit_micros, \
             quota_per_day, quota_day, quota_used FROM accounts WHERE name = $1{}",
            if matches!(self, Db::Pg(_)) {
                " FOR UPDATE"
            } else {
                ""
            }
        );
        on_db!(self, |pool, DB| {
            let mut tx = pool.begin().await?;
            let head = sqlx::query(
                "UPDATE chain_head SET last_id = last_id WHERE id = 1 RETURNING last_id, last_hash",
            )
            .fetch_one(&mut *tx)
            .await?;
            let mut last_id: i64 = head.try_get("last_id")?;
            let mut last_hash: String = head.try_get("last_hash")?;
            let mut out = Vec::with_capacity(batch.len());
            let mut accounts: HashMap<String, Option<AcctState>> = HashMap::new();
            let mut rows: Vec<NewRow<'_>> = Vec::with_capacity(batch.len());
            for p in batch {
                let ev = p.ev;
                let (Ok(price_micros), Ok(bytes)) =
                    (i64::try_from(ev.price.micros), i64::try_from(ev.bytes))
                else {
                    out.push(Outcome::Refused(ChargeError::Invalid(format!(
                        "price {} or bytes {} beyond i64",
                        ev.price, ev.bytes
                    ))));
                    continue;
                };
                if let Some(field) = nul_field(ev) {
                    // PostgreSQL text cannot hold NUL; refusing here keeps one bad event from
                    // failing (and, in fail-open mode, endlessly re-spooling) its whole batch.
                    out.push(Outcome::Refused(ChargeError::Invalid(format!(
                        "{field} contains a NUL character"
                    ))));
                    continue;
                }
                if p.dedup {
                    let same = |e: &UsageEvent| {
                        e.request_id == ev.request_id
                            && e.time == ev.time
                            && e.account == ev.account
                    };
                    let dup = sqlx::query(
                        "SELECT 1 AS one FROM entries WHERE request_id = $1 AND time_ms = $2 AND account = $3",
                    )
                    .bind(&ev.request_id)
                    .bind(ev.time)
                    .bind(&ev.account)
                    .fetch_optional(&mut *tx)
                    .await?;
                    if dup.is_some() || rows.iter().any(|r| same(r.ev)) {
                        out.push(Outcome::Duplicate);
                        continue;
                    }
                }
                if !accounts.contains_key(&ev.account) {
                    let row = sqlx::query(&account_sql)
                        .bind(&ev.account)
                        .fetch_optional(&mut *tx)
                        .await?;
                    let state = match row {
                        Some(r) => Some(AcctState {
                            id: r.try_get("id")?,
                            status: r.try_get("status")?,
                            billing: r.try_get("billing")?,
                            currency: r.try_get("currency")?,
                            read_balance: r.try_get("balance_micros")?,
                            balance: r.try_get("balance_micros")?,
                            credit_limit: r.try_get("credit_limit_micros")?,
                            quota: r.try_get("quota_per_day")?,
                            quota_day: r.try_get("quota_day")?,
                            quota_used: r.try_get("quota_used")?,
                            dirty: false,
                        }),
                        None => None,
                    };
                    accounts.insert(ev.account.clone(), state);
                }
                let Some(Some(state)) = accounts.get_mut(&ev.account) else {
                    out.push(Outcome::Refused(ChargeError::UnknownAccount));
                    continue;
                };
                let mut kind = p.kind;
                if kind == EntryKind::Charge {
                    let day = ev.time.div_euclid(86_400_000);
                    match state.refusal(&ev.price, day) {
                        Ok(amount) => state.debit(amount, day),
                        Err(ChargeError::Invalid(e)) => {
                            out.push(Outcome::Refused(ChargeError::Invalid(e)));
                            continue;
                        }
                        Err(e) if !p.unpaid_fallback => {
                            out.push(Outcome::Refused(e));
                            continue;
                        }
                        Err(_) => kind = EntryKind::Unpaid,
                    }
                }
                let id = last_id + 1;
                let hash = entry_hash(id, kind, ev, &last_hash);
                rows.push(NewRow {
                    id,
                    kind,
                    ev,
                    price_micros,
                    bytes,
                    prev_hash: std::mem::replace(&mut last_hash, hash.clone()),
                    hash: hash.clone(),
                });
                last_id = id;
                out.push(Outcome::Appended(
                    Receipt {
                        entry_id: id,
                        hash,
                        spooled: false,
                    },
                    kind,
                ));
            }
            for state in accounts.values().flatten().filter(|a| a.dirty) {
                // `balance_micros = read` holds under the row lock; checked all the same.
                let n = sqlx::query(
                    "UPDATE accounts SET balance_micros = $1, quota_day = $2, quota_used = $3 \
                     WHERE id = $4 AND balance_micros = $5",
                )
                .bind(state.balance)
                .bind(state.quota_day)
                .bind(state.quota_used)
                .bind(state.id)
                .bind(state.read_balance)
                .execute(&mut *tx)
                .await?
                .rows_affected();
                if n != 1 {
                    return Err(BatchError::Before(sqlx::Error::Protocol(format!(
                        "account {} changed during the batch",
                        state.id
                    ))));
                }
            }
            // 16 parameters a row: 1 000 rows stay under SQLite's 32 766 and PostgreSQL's 65 535.
            for chunk in rows.chunks(1_000) {
                let mut q = sqlx::QueryBuilder::<DB>::new(
                    "INSERT INTO entries (id, time_ms, kind, account, identity, agent, method, url, \
                     status, bytes, currency, price_micros, rule, request_id, prev_hash, hash) ",
                );
                q.push_values(chunk, |mut b, r| {
                    b.push_bind(r.id)
                        .push_bind(r.ev.time)
                        .push_bind(r.kind.as_str())
                        .push_bind(r.ev.account.as_str())
                        .push_bind(r.ev.identity.as_str())
                        .push_bind(r.ev.agent.as_deref())
                        .push_bind(r.ev.method.as_str())
                        .push_bind(r.ev.url.as_str())
                        .push_bind(i32::from(r.ev.status))
                        .push_bind(r.bytes)
                        .push_bind(r.ev.price.currency())
                        .push_bind(r.price_micros)
                        .push_bind(r.ev.rule.as_deref())
                        .push_bind(r.ev.request_id.as_str())
                        .push_bind(r.prev_hash.as_str())
                        .push_bind(r.hash.as_str());
                });
                q.build().execute(&mut *tx).await?;
            }
            sqlx::query("UPDATE chain_head SET last_id = $1, last_hash = $2 WHERE id = 1")
                .bind(last_id)
                .bind(&last_hash)
                .execute(&mut *tx)
                .await?;
            // A failed COMMIT is ambiguous (the server may have committed before the
            // connection broke): hand back what was planned so the writer can check.
            if let Err(e) = tx.commit().await {
                return Err(BatchError::AtCommit(e, out));
            }
            Ok(out)
        })
    }

    /// The stored hash of entry `id`, if it exists.
    pub(crate) async fn stored_hash(&self, id: i64) -> Result<Option<String>, sqlx::Error> {
        on_db!(self, |pool| {
            let row = sqlx::query("SELECT hash FROM entries WHERE id = $1")
                .bind(id)
                .fetch_optional(pool)
                .await?;
            match row {
                Some(r) => Ok(Some(r.try_get("hash")?)),
                None => Ok(None),
            }
        })
    }

    /// The answer for an identity lookup key (`key:<sha256>`, `jwk:<thumbprint>`,
    /// `license:<sha256>`): the account, and the identity's expiry if any.
    pub(crate) async fn identity(
        &self,
        lookup: &str,
    ) -> Result<Option<(AccountAuth, Option<i64>)>, LedgerError> {
        on_db!(self, |pool| {
            let row = sqlx::query(
                "SELECT a.name, a.status, a.currency, a.price_micros, i.label, i.expires_ms \
                 FROM identities i JOIN accounts a ON a.id = i.account_id \
                 WHERE i.lookup = $1 AND i.revoked_ms IS NULL",
            )
            .bind(lookup)
            .fetch_optional(pool)
            .await?;
            let Some(row) = row else { return Ok(None) };
            let currency: String = row.try_get("currency")?;
            let price: Option<i64> = row.try_get("price_micros")?;
            let status: String = row.try_get("status")?;
            let price_override = match price {
                Some(p) => Some(Money::new(&currency, u64::try_from(p).unwrap_or(0))?),
                None => None,
            };
            Ok(Some((
                AccountAuth {
                    account: row.try_get("name")?,
                    identity: row.try_get("label")?,
                    status: AccountStatus::parse(&status),
                    price_override,
                },
                row.try_get("expires_ms")?,
            )))
        })
    }

    /// Inserts an identity for account `name`. `Ok(false)` if `lookup` or `label` is taken.
    pub(crate) async fn insert_identity(
        &self,
        name: &str,
        kind: &str,
        lookup: &str,
        label: &str,
        expires_ms: Option<i64>,
    ) -> Result<bool, LedgerError> {
        let now = crate::now_ms();
        let res = on_db!(self, |pool| {
            sqlx::query(
                "INSERT INTO identities (account_id, kind, lookup, label, created_ms, expires_ms) \
                 SELECT id, $2, $3, $4, $5, $6 FROM accounts WHERE name = $1",
            )
            .bind(name)
            .bind(kind)
            .bind(lookup)
            .bind(label)
            .bind(now)
            .bind(expires_ms)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        });
        match res {
            Ok(1) => Ok(true),
            Ok(_) => Err(LedgerError::UnknownAccount(name.into())),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => Ok(false),
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) async fn usage(
        &self,
        account: &str,
        from: i64,
        to: i64,
    ) -> Result<Vec<LedgerEntry>, LedgerError> {
        if self.account(account).await?.is_none() {
            return Err(LedgerError::UnknownAccount(account.into()));
        }
        let raw: Vec<RawEntry> = on_db!(self, |pool| {
            let rows = sqlx::query(&format!(
                "SELECT {ENTRY_COLS} FROM entries WHERE account = $1 AND time_ms >= $2 \
                 AND time_ms < $3 ORDER BY id"
            ))
            .bind(account)
            .bind(from)
            .bind(to)
            .fetch_all(pool)
            .await?;
            rows.iter()
                .map(|r| Ok(raw_entry!(r)))
                .collect::<Result<Vec<_>, sqlx::Error>>()?
        });
        raw.into_iter()
            .map(|r| {
                r.typed()
                    .map_err(|(id, why)| LedgerError::Database(format!("entry {id}: {why}")))
            })
            .collect()
    }

    pub(crate) async fn verify_chain(&self) -> Result<ChainReport, LedgerError> {
        const PAGE: i64 = 5_000;
        let mut expected_id = 1;
        let mut prev = GENESIS_HASH.to_string();
        let mut checked = 0u64;
        let broken = |id: i64, reason: String, checked: u64, head: &str| ChainReport {
            entries: checked,
            head: head.to_string(),
            first_broken: Some(BrokenEntry { id, reason }),
        };
        loop {
            // A row whose columns no longer decode (a value of the wrong type written into
            // it) is a broken entry like any other change, not a database error.
            let page: Vec<Result<RawEntry, (i64, String)>> = on_db!(self, |pool| {
                let rows = sqlx::query(&format!(
                    "SELECT {ENTRY_COLS} FROM entries WHERE id >= $1 ORDER BY id LIMIT $2"
                ))
                .bind(expected_id)
                .bind(PAGE)
                .fetch_all(pool)
                .await?;
                let mut out = Vec::with_capacity(rows.len());
                for (i, r) in rows.iter().enumerate() {
                    let decoded = (|| -> Result<RawEntry, sqlx::Error> { Ok(raw_entry!(r)) })();
                    match decoded {
                        Ok(e) => out.push(Ok(e)),
                        Err(e) => {
                            let id = r.try_get::<i64, _>("id").unwrap_or(expected_id + i as i64);
                            out.push(Err((id, format!("the row cannot be read: {e}"))));
                            break;
                        }
                    }
                }
                out
            });
            let n = page.len();
            for raw in page {
                let raw = match raw {
                    Ok(r) => r,
                    Err((id, why)) => return Ok(broken(id, why, checked, &prev)),
                };
                if raw.id != expected_id {
                    let reason = format!("entry {expected_id} is missing (next is {})", raw.id);
                    return Ok(broken(expected_id, reason, checked, &prev));
                }
                if raw.prev_hash != prev {
                    let reason = format!(
                        "prev_hash {} is not the hash of entry {} ({prev})",
                        raw.prev_hash,
                        expected_id - 1
                    );
                    return Ok(broken(raw.id, reason, checked, &prev));
                }
                let stored = raw.hash.clone();
                let entry = match raw.typed() {
                    Ok(e) => e,
                    Err((id, why)) => return Ok(broken(id, why, checked, &prev)),
                };
                let recomputed = entry_hash(entry.id, entry.kind, &entry.event, &prev);
                if recomputed != stored {
                    let reason = format!(
                        "stored hash {stored} does not match the entry's fields (recomputed {recomputed})"
                    );
                    return Ok(broken(entry.id, reason, checked, &prev));
                }
                prev = stored;
                checked += 1;
                expected_id += 1;
            }
            if (n as i64) < PAGE {
                break;
            }
        }
        let (head_id, head_hash): (i64, String) = on_db!(self, |pool| {
            let row = sqlx::query("SELECT last_id, last_hash FROM chain_head WHERE id = 1")
                .fetch_one(pool)
                .await?;
            (row.try_get("last_id")?, row.try_get("last_hash")?)
        });
        let last = expected_id - 1;
        if head_id != last || head_hash != prev {
            let reason = format!(
                "chain head names entry {head_id} ({head_hash}) but the chain ends at entry {last} ({prev})"
            );
            // Entries past the head were added without it; a head past the chain means the
            // tail was removed (or, equal ids, the last entry was replaced).
            let id = if head_id < last {
                head_id + 1
            } else if head_id > last {
                last + 1
            } else {
                last
            };
            return Ok(broken(id, reason, checked, &prev));
        }
        Ok(ChainReport {
            entries: checked,
            head: prev,
            first_broken: None,
        })
    }

    pub(crate) async fn list_accounts(&self) -> Result<Vec<Account>, LedgerError> {
        on_db!(self, |pool| {
            let rows = sqlx::query(&format!(
                "SELECT {ACCOUNT_COLS} FROM accounts ORDER BY name"
            ))
            .fetch_all(pool)
            .await?;
            let mut v = Vec::with_capacity(rows.len());
            for r in rows {
                v.push(account_from_row!(r));
            }
            Ok(v)
        })
    }

    pub(crate) async fn account(&self, name: &str) -> Result<Option<Account>, LedgerError> {
        on_db!(self, |pool| {
            let row = sqlx::query(&format!(
                "SELECT {ACCOUNT_COLS} FROM accounts WHERE name = $1"
            ))
            .bind(name)
            .fetch_optional(pool)
            .await?;
            Ok(match row {
                Some(r) => Some(account_from_row!(r)),
                None => None,
            })
        })
    }

    pub(crate) async fn identities(&self, name: &str) -> Result<Vec<Identity>, LedgerError> {
        if self.account(name).await?.is_none() {
            return Err(LedgerError::UnknownAccount(name.into()));
        }
        on_db!(self, |pool| {
            let rows = sqlx::query(
                "SELECT i.label, i.created_ms, i.expires_ms, i.revoked_ms FROM identities i \
                 JOIN accounts a ON a.id = i.account_id WHERE a.name = $1 ORDER BY i.id",
            )
            .bind(name)
            .fetch_all(pool)
            .await?;
            let mut v = Vec::with_capacity(rows.len());
            for r in rows {
                v.push(Identity {
                    label: r.try_get("label")?,
                    created_ms: r.try_get("created_ms")?,
                    expires_ms: r.try_get("expires_ms")?,
                    revoked_ms: r.try_get("revoked_ms")?,
                });
            }
            Ok(v)
        })
    }

    pub(crate) async fn set_status(
        &self,
        name: &str,
        status: AccountStatus,
    ) -> Result<(), LedgerError> {
        self.update_account(name, "status = $2", Some(status.as_str().to_string()), None)
            .await
    }

    /// `UPDATE accounts SET <set> WHERE name = $1` with `$2` bound to `text` or `int`;
    /// `UnknownAccount` if no row.
    pub(crate) async fn update_account(
        &self,
        name: &str,
        set: &str,
        text: Option<String>,
        int: Option<i64>,
    ) -> Result<(), LedgerError> {
        let sql = format!("UPDATE accounts SET {set} WHERE name = $1");
        let n = on_db!(self, |pool| {
            let q = sqlx::query(&sql).bind(name);
            let q = match text {
                Some(t) => q.bind(t),
                None => q.bind(int),
            };
            q.execute(pool).await?.rows_affected()
        });
        if n == 0 {
            return Err(LedgerError::UnknownAccount(name.into()));
        }
        Ok(())
    }

    /// Adds `micros` (≥ 0, checked not to overflow in SQL) to the balance; the new balance.
    pub(crate) async fn add_balance(&self, name: &str, micros: i64) -> Result<i64, LedgerError> {
        let row: Option<i64> = on_db!(self, |pool| {
            let r = sqlx::query(
                "UPDATE accounts SET balance_micros = balance_micros + $2 \
                 WHERE name = $1 AND balance_micros <= $3 RETURNING balance_micros",
            )
            .bind(name)
            .bind(micros)
            .bind(i64::MAX - micros)
            .fetch_optional(pool)
            .await?;
            match r {
                Some(r) => Some(r.try_get("balance_micros")?),
                None => None,
            }
        });
        match row {
            Some(b) => Ok(b),
            None if self.account(name).await?.is_none() => {
                Err(LedgerError::UnknownAccount(name.into()))
            }
            None => Err(LedgerError::Money(tollgate_policy::MoneyError::Overflow)),
        }
    }

    /// Inserts an account row; `AccountExists` on a duplicate name.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn insert_account(
        &self,
        name: &str,
        billing: &str,
        currency: &str,
        credit_limit: i64,
        price: Option<i64>,
        quota: Option<i64>,
    ) -> Result<(), LedgerError> {
        let now = crate::now_ms();
        let res = on_db!(self, |pool| {
            sqlx::query(
                "INSERT INTO accounts (name, status, billing, currency, balance_micros, \
                 credit_limit_micros, price_micros, quota_per_day, created_ms) \
                 VALUES ($1, 'active', $2, $3, 0, $4, $5, $6, $7)",
            )
            .bind(name)
            .bind(billing)
            .bind(currency)
            .bind(credit_limit)
            .bind(price)
            .bind(quota)
            .bind(now)
            .execute(pool)
            .await
            .map(|r| r.rows_affected())
        });
        match res {
            Ok(_) => Ok(()),
            Err(sqlx::Error::Database(e)) if e.is_unique_violation() => {
                Err(LedgerError::AccountExists(name.into()))
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Marks the identity `label` of account `name` revoked; false if none was live.
    pub(crate) async fn revoke(&self, name: &str, label: &str) -> Result<bool, LedgerError> {
        let now = crate::now_ms();
        let n = on_db!(self, |pool| {
            sqlx::query(
                "UPDATE identities SET revoked_ms = $3 WHERE label = $2 AND revoked_ms IS NULL \
                 AND account_id = (SELECT id FROM accounts WHERE name = $1)",
            )
            .bind(name)
            .bind(label)
            .bind(now)
            .execute(pool)
            .await?
            .rows_affected()
        });
        Ok(n == 1)
    }
}

/// `url` without its password, for messages.
pub fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}
