//! The ledger's vocabulary: credentials, accounts, usage events, entries, receipts and errors.

use std::path::PathBuf;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tollgate_policy::{Balance, Money, MoneyError};

/// What to do with charged requests while the ledger database is unreachable.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unavailable {
    /// `charge`/`record` fail with [`ChargeError::Unavailable`]; the gateway answers 503.
    FailClosed,
    /// `charge`/`record` append the event to `spool` (one JSON line, fsynced) and return a
    /// receipt with `spooled: true`; [`crate::Ledger::replay_spool`] moves them into the chain.
    FailOpen {
        /// The spool file (created if missing).
        spool: PathBuf,
    },
}

/// How a [`crate::Ledger`] behaves. `Default` gives fail-closed, batches of up to 256 events,
/// 2 ms group-commit wait, 5 s identity cache (1 h last-known answers for outages), 2 s pool
/// acquire timeout, 8 connections.
#[derive(Debug, Clone)]
pub struct LedgerOptions {
    /// Fail-closed or fail-open (with a spool file) when the database is unreachable.
    pub on_unavailable: Unavailable,
    /// Most events committed in one transaction.
    pub group_commit_max: usize,
    /// How long the writer waits for more events after the first of a batch, when there is
    /// concurrency (the previous batch had several events, or more are queued); a lone
    /// sequential caller is never made to wait. Zero: take only what is already queued.
    pub group_commit_wait: Duration,
    /// How long [`crate::Ledger::authenticate`] answers (positive and negative) are cached.
    pub identity_cache_ttl: Duration,
    /// Most credentials cached, per cache (fresh and last-known; gauge
    /// `tollgate_ledger_identity_cache_entries` counts both).
    pub identity_cache_max: u64,
    /// How long a credential's last positive answer is kept for use while the database is
    /// unreachable.
    pub identity_stale_ttl: Duration,
    /// How long to wait for a database connection before declaring the ledger unavailable.
    pub acquire_timeout: Duration,
    /// Most connections in the pool.
    pub max_connections: u32,
}

impl Default for LedgerOptions {
    fn default() -> Self {
        LedgerOptions {
            on_unavailable: Unavailable::FailClosed,
            group_commit_max: 256,
            group_commit_wait: Duration::from_millis(2),
            identity_cache_ttl: Duration::from_secs(5),
            identity_cache_max: 100_000,
            identity_stale_ttl: Duration::from_secs(3600),
            acquire_timeout: Duration::from_secs(2),
            max_connections: 8,
        }
    }
}

/// A credential presented by a client, as it arrived.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential<'a> {
    /// `Authorization: Bearer tg_…`: an API key (stored only as its SHA-256).
    ApiKey(&'a str),
    /// RFC 7638 JWK thumbprint of a verified Web Bot Auth key (base64url, as computed).
    Thumbprint(&'a str),
    /// `Authorization: License tgl_…`: an RSL licence token issued by `/token`.
    LicenseToken(&'a str),
}

/// `active` or `suspended` (the "pause their access" lever).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AccountStatus {
    /// Charges are accepted.
    Active,
    /// Charges fail with [`ChargeError::Suspended`].
    Suspended,
}

impl AccountStatus {
    /// `active` / `suspended`, as stored.
    pub fn as_str(self) -> &'static str {
        match self {
            AccountStatus::Active => "active",
            AccountStatus::Suspended => "suspended",
        }
    }

    pub(crate) fn parse(s: &str) -> AccountStatus {
        if s == "active" {
            AccountStatus::Active
        } else {
            AccountStatus::Suspended
        }
    }
}

/// Who a credential belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountAuth {
    /// Account name.
    pub account: String,
    /// Public name of the identity that matched: `key:tg_ab12cd34` (the key id, never the
    /// secret), `jwk:<thumbprint>` or `license:tgl_ab12cd34`.
    pub identity: String,
    /// Status when looked up (cached up to `identity_cache_ttl`; `charge` re-checks).
    pub status: AccountStatus,
    /// The account's own price per charged request, if set (overrides the rule's price).
    pub price_override: Option<Money>,
}

/// How an account pays.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase", tag = "mode")]
pub enum Billing {
    /// Pays in advance: the balance never goes below zero.
    Prepaid,
    /// Billed afterwards: the balance may go down to `-credit_limit`.
    Postpaid {
        /// How far below zero the balance may go.
        #[serde(serialize_with = "crate::model::money_text")]
        credit_limit: Money,
    },
}

/// A new account for [`crate::Ledger::add_account`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewAccount {
    /// 1–64 characters of `A–Z a–z 0–9 . _ -`.
    pub name: String,
    /// ISO 4217 code of the account's balance (prices charged must use it).
    pub currency: String,
    /// Prepaid or postpaid with a credit limit (in `currency`).
    pub billing: Billing,
    /// Per-account price per charged request (in `currency`), overriding the rule's.
    pub price: Option<Money>,
    /// Most charged requests per UTC day (by event time), if limited.
    pub quota_per_day: Option<u64>,
}

/// An account as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    /// Account name.
    pub name: String,
    /// Active or suspended.
    pub status: AccountStatus,
    /// Prepaid or postpaid.
    pub billing: Billing,
    /// Current balance (negative for a postpaid account that owes).
    #[serde(serialize_with = "crate::model::balance_text")]
    pub balance: Balance,
    /// Per-account price, if set.
    #[serde(serialize_with = "crate::model::opt_money_text")]
    pub price: Option<Money>,
    /// Daily quota of charged requests, if set.
    pub quota_per_day: Option<u64>,
    /// Charged requests on the UTC day of the last charge.
    pub quota_used: u64,
    /// Creation time, unix milliseconds.
    pub created_ms: i64,
}

/// One identity of an account (never the secret).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// `key:tg_ab12cd34`, `jwk:<thumbprint>` or `license:tgl_ab12cd34`.
    pub label: String,
    /// Creation time, unix milliseconds.
    pub created_ms: i64,
    /// Expiry (licence tokens), unix milliseconds.
    pub expires_ms: Option<i64>,
    /// Revocation time, unix milliseconds.
    pub revoked_ms: Option<i64>,
}

/// A freshly issued API key: `secret` is shown once and stored only as its SHA-256.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKey {
    /// Public key id, `tg_` + the first 8 hex digits (also the identity `key:<key_id>`).
    pub key_id: String,
    /// The whole key, `tg_` + 64 hex digits (32 random bytes).
    pub secret: String,
}

/// An RSL licence token from [`crate::Ledger::issue_license_token`] (OLP `/token` answer).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IssuedToken {
    /// The opaque token, `tgl_` + 64 hex digits; sent back as `Authorization: License …`.
    pub access_token: String,
    /// Seconds until it expires (OLP `expires_in`).
    pub expires_in: u64,
    /// Expiry, unix milliseconds.
    pub expires_ms: i64,
    /// Identity label it authenticates as: `license:tgl_ab12cd34`.
    pub identity: String,
}

/// One metered request, as handed to [`crate::Ledger::charge`] / [`crate::Ledger::record`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UsageEvent {
    /// When the request arrived, unix milliseconds (UTC).
    pub time: i64,
    /// Account name.
    pub account: String,
    /// Identity label from [`AccountAuth::identity`].
    pub identity: String,
    /// Catalogue agent name, if classified.
    pub agent: Option<String>,
    /// HTTP method.
    pub method: String,
    /// Request URL (as the gateway logs it).
    pub url: String,
    /// Response status sent.
    pub status: u16,
    /// Response body bytes.
    pub bytes: u64,
    /// Price charged (for `record`: the price the free request would have had, usually zero).
    /// Serialized as text: `"USD 0.002"`.
    #[serde(with = "money_serde")]
    pub price: Money,
    /// Policy rule that decided, if any.
    pub rule: Option<String>,
    /// Gateway request id.
    pub request_id: String,
}

/// Proof of an entry, for the `tollgate-receipt` header: the crawler keeps it and can later
/// check it against the chain ([`crate::entry_hash`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// Entry id (position in the chain, from 1). 0 when `spooled`.
    pub entry_id: i64,
    /// Lowercase hex SHA-256 of the entry. For a spooled event: the SHA-256 of its spool line
    /// (the entry's own hash exists only once replayed).
    pub hash: String,
    /// True when the database was unavailable and the event went to the fail-open spool.
    pub spooled: bool,
}

/// What kind of entry a row is (part of the hash).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A charged request: the price was debited.
    Charge,
    /// A free licensed request: nothing debited.
    Record,
    /// A spooled charge whose debit failed at replay (insufficient funds, suspended…): it was
    /// served in fail-open mode, so it is recorded, but nothing was debited.
    Unpaid,
}

impl EntryKind {
    /// `charge` / `record` / `unpaid`, as stored and hashed.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryKind::Charge => "charge",
            EntryKind::Record => "record",
            EntryKind::Unpaid => "unpaid",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<EntryKind> {
        match s {
            "charge" => Some(EntryKind::Charge),
            "record" => Some(EntryKind::Record),
            "unpaid" => Some(EntryKind::Unpaid),
            _ => None,
        }
    }
}

/// One row of the chain. Serializes (JSON) flat: `id`, `kind`, the event's fields with the
/// price as `"USD 0.002"` plus `price_micros`, `prev_hash`, `hash`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LedgerEntry {
    /// Position in the chain, from 1, without gaps.
    pub id: i64,
    /// Charge, record or unpaid.
    pub kind: EntryKind,
    /// The event.
    pub event: UsageEvent,
    /// Hash of entry `id − 1` (64 zeros for entry 1).
    pub prev_hash: String,
    /// This entry's hash ([`crate::entry_hash`]).
    pub hash: String,
}

/// The first entry where the chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BrokenEntry {
    /// Entry id (for a gap: the missing id).
    pub id: i64,
    /// What is wrong, e.g. `stored hash 3f… does not match the fields (recomputed 9a…)`.
    pub reason: String,
}

/// Result of [`crate::Ledger::verify_chain`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ChainReport {
    /// Entries checked (all of them when the chain holds; up to the broken one otherwise).
    pub entries: u64,
    /// Hash of the last good entry (64 zeros for an empty chain).
    pub head: String,
    /// The first broken entry, if any.
    pub first_broken: Option<BrokenEntry>,
}

/// Why `charge`/`record` did not produce a durable entry.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ChargeError {
    /// Prepaid: the balance would go below zero; postpaid: below `-credit_limit`.
    #[error("insufficient funds")]
    InsufficientFunds,
    /// The account is suspended.
    #[error("account suspended")]
    Suspended,
    /// No such account.
    #[error("unknown account")]
    UnknownAccount,
    /// The daily quota is used up.
    #[error("daily quota exceeded")]
    QuotaExceeded,
    /// The price's currency is not the account's.
    #[error("price currency differs from the account's")]
    CurrencyMismatch,
    /// The event cannot be stored (amount beyond `i64` micro-units, bytes beyond `i64`…).
    #[error("invalid event: {0}")]
    Invalid(String),
    /// The database is unreachable (fail-closed), or the spool failed too (fail-open).
    #[error("ledger unavailable: {0}")]
    Unavailable(String),
}

/// Errors of the ledger's other operations.
#[derive(Debug, thiserror::Error)]
pub enum LedgerError {
    /// The URL is neither `sqlite:…` nor `postgres://…`.
    #[error("ledger URL `{0}`: expected sqlite:PATH or postgres://…")]
    BadUrl(String),
    /// Database error (connect, query, migration), with what was being done.
    #[error("ledger database: {0}")]
    Database(String),
    /// No account of that name.
    #[error("unknown account `{0}`")]
    UnknownAccount(String),
    /// An account of that name exists already.
    #[error("account `{0}` exists already")]
    AccountExists(String),
    /// Account name not 1–64 characters of `A–Z a–z 0–9 . _ -`.
    #[error("account name `{0}`: use 1-64 characters of A-Z a-z 0-9 . _ -")]
    BadName(String),
    /// No such identity on that account.
    #[error("account `{account}` has no identity `{identity}`")]
    UnknownIdentity {
        /// Account name.
        account: String,
        /// The identity asked for.
        identity: String,
    },
    /// The identity (thumbprint) belongs to an account already.
    #[error("identity `{0}` is registered already")]
    IdentityExists(String),
    /// Not an RFC 7638 JWK SHA-256 thumbprint (43 base64url characters).
    #[error("`{0}` is not an RFC 7638 JWK thumbprint (43 base64url characters, as `tollgate keygen` prints and `keyid` carries)")]
    BadThumbprint(String),
    /// A money operation failed (overflow, currency mismatch).
    #[error(transparent)]
    Money(#[from] MoneyError),
    /// The fail-open spool could not be read or written.
    #[error("spool {path}: {reason}")]
    Spool {
        /// Spool file.
        path: PathBuf,
        /// What failed.
        reason: String,
    },
}

impl From<sqlx::Error> for LedgerError {
    fn from(e: sqlx::Error) -> Self {
        LedgerError::Database(e.to_string())
    }
}

impl From<sqlx::migrate::MigrateError> for LedgerError {
    fn from(e: sqlx::migrate::MigrateError) -> Self {
        LedgerError::Database(format!("migration: {e}"))
    }
}

/// `Money` as its text form (`"USD 0.002"`) in serde.
mod money_serde {
    use serde::{Deserialize, Deserializer, Serializer};
    use tollgate_policy::Money;

    pub fn serialize<S: Serializer>(m: &Money, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(m)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Money, D::Error> {
        let text = String::deserialize(d)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

pub(crate) fn money_text<S: serde::Serializer>(m: &Money, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(m)
}

pub(crate) fn opt_money_text<S: serde::Serializer>(
    m: &Option<Money>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match m {
        Some(m) => s.collect_str(m),
        None => s.serialize_none(),
    }
}

pub(crate) fn balance_text<S: serde::Serializer>(b: &Balance, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(b)
}

impl Serialize for LedgerEntry {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let e = &self.event;
        let mut m = s.serialize_map(Some(16))?;
        m.serialize_entry("id", &self.id)?;
        m.serialize_entry("kind", &self.kind)?;
        m.serialize_entry("time", &e.time)?;
        m.serialize_entry("account", &e.account)?;
        m.serialize_entry("identity", &e.identity)?;
        m.serialize_entry("agent", &e.agent)?;
        m.serialize_entry("method", &e.method)?;
        m.serialize_entry("url", &e.url)?;
        m.serialize_entry("status", &e.status)?;
        m.serialize_entry("bytes", &e.bytes)?;
        m.serialize_entry("price", &e.price.to_string())?;
        m.serialize_entry("price_micros", &e.price.micros)?;
        m.serialize_entry("rule", &e.rule)?;
        m.serialize_entry("request_id", &e.request_id)?;
        m.serialize_entry("prev_hash", &self.prev_hash)?;
        m.serialize_entry("hash", &self.hash)?;
        m.end()
    }
}
