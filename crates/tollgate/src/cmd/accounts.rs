//! `tollgate accounts …`: paying accounts and their identities in the ledger database.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use tollgate_ledger::{Account, AccountStatus, Billing, Ledger, LedgerOptions, Money, NewAccount};

use crate::output::print;

/// Default ledger when neither `--ledger` nor `TOLLGATE_LEDGER` is given.
pub const DEFAULT_LEDGER: &str = "sqlite:tollgate-ledger.db";

/// Where the ledger database is (shared by accounts, ledger and invoice).
#[derive(Args, Clone)]
pub struct LedgerArg {
    /// Ledger database: `sqlite:PATH` (created if missing) or `postgres://…`.
    #[arg(long = "ledger", value_name = "URL", env = "TOLLGATE_LEDGER", default_value = DEFAULT_LEDGER)]
    pub url: String,
}

impl LedgerArg {
    /// Opens the ledger, creating a SQLite file if there is none (only `accounts add` does:
    /// the first account makes the ledger), and runs migrations.
    pub async fn create(&self) -> anyhow::Result<Ledger> {
        Ledger::open(&self.url, LedgerOptions::default())
            .await
            .with_context(|| format!("opening ledger {}", self.url))
    }

    /// Opens an existing ledger. Error: a `sqlite:` path with no file (a mistyped path must
    /// not answer "0 entries, verified" from a new empty database).
    pub async fn open(&self) -> anyhow::Result<Ledger> {
        if let Some(path) = self.url.strip_prefix("sqlite:") {
            let path = path.strip_prefix("//").unwrap_or(path);
            let path = path.split('?').next().unwrap_or(path);
            if !std::path::Path::new(path).exists() {
                anyhow::bail!(
                    "no ledger at {path} (--ledger / TOLLGATE_LEDGER = {}); `tollgate accounts add` creates one",
                    self.url
                );
            }
        }
        self.create().await
    }
}

/// `text` or `json`.
#[derive(Clone, Copy, ValueEnum)]
pub enum ListFormat {
    /// Aligned text.
    Text,
    /// JSON.
    Json,
}

/// Parses a price or amount argument (`USD 0.002`), naming the argument when it is bad.
pub fn money_arg(s: &str) -> Result<Money, String> {
    s.parse::<Money>().map_err(|e| e.to_string())
}

/// `N` or `N/day`.
fn quota_arg(s: &str) -> Result<u64, String> {
    let n = s.strip_suffix("/day").unwrap_or(s);
    n.trim()
        .parse()
        .map_err(|_| format!("`{s}`: expected a number of charged requests per day, e.g. 1000/day"))
}

/// Accounts subcommands.
#[derive(Subcommand)]
pub enum AccountsCommand {
    /// Create an account (prepaid by default).
    Add {
        /// Account name (A–Z a–z 0–9 . _ -), also the OLP client_id.
        name: String,
        /// Prepaid: pays in advance with `accounts credit`; the balance never goes below zero.
        #[arg(long, conflicts_with = "postpaid")]
        prepaid: bool,
        /// Postpaid: billed by invoice; the balance may go down to minus the credit limit.
        #[arg(long, requires = "credit_limit")]
        postpaid: bool,
        /// Postpaid credit limit, e.g. "USD 100".
        #[arg(long, value_name = "MONEY", value_parser = money_arg, requires = "postpaid")]
        credit_limit: Option<Money>,
        /// The account's price per charged request, overriding the rule's, e.g. "USD 0.001".
        #[arg(long, value_name = "MONEY", value_parser = money_arg)]
        price: Option<Money>,
        /// Most charged requests per UTC day: `N` or `N/day`.
        #[arg(long, value_name = "N/day", value_parser = quota_arg)]
        quota: Option<u64>,
        /// Currency of the balance (default: that of --credit-limit or --price, else USD).
        #[arg(long, value_name = "CODE")]
        currency: Option<String>,
        #[command(flatten)]
        ledger: LedgerArg,
    },
    /// List accounts: name, status, billing, balance, price, quota.
    List {
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: ListFormat,
        #[command(flatten)]
        ledger: LedgerArg,
    },
    /// Show one account and its identities (key ids, thumbprints, licence tokens; no secrets).
    Show {
        /// Account name.
        name: String,
        /// Output format.
        #[arg(long, value_enum, default_value = "text")]
        format: ListFormat,
        #[command(flatten)]
        ledger: LedgerArg,
    },
    /// Add money to an account's balance, e.g. `accounts credit acme "USD 5"`.
    Credit {
        /// Account name.
        name: String,
        /// Amount, e.g. "USD 5".
        #[arg(value_name = "MONEY", value_parser = money_arg)]
        amount: Money,
        #[command(flatten)]
        ledger: LedgerArg,
    },
    /// Change an account's price or quota.
    Set {
        /// Account name.
        name: String,
        /// New price per charged request, e.g. "USD 0.001"; `none` to use the rules' prices.
        #[arg(long, value_name = "MONEY|none")]
        price: Option<String>,
        /// New daily quota (`N` or `N/day`); `none` for unlimited.
        #[arg(long, value_name = "N/day|none")]
        quota: Option<String>,
        #[command(flatten)]
        ledger: LedgerArg,
    },
    /// Pause an account: its charged requests are refused until `resume`.
    Suspend {
        /// Account name.
        name: String,
        #[command(flatten)]
        ledger: LedgerArg,
    },
    /// Re-activate a suspended account.
    Resume {
        /// Account name.
        name: String,
        #[command(flatten)]
        ledger: LedgerArg,
    },
    /// API keys and Web Bot Auth thumbprints.
    #[command(subcommand)]
    Key(KeyCommand),
}

/// `accounts key …`.
#[derive(Subcommand)]
pub enum KeyCommand {
    /// Issue a new API key (printed once; only its hash is stored), or with --thumbprint
    /// register a Web Bot Auth key (RFC 7638 JWK thumbprint) instead.
    Add {
        /// Account name.
        name: String,
        /// Register this JWK thumbprint instead of issuing an API key. (base64url: it may
        /// begin with `-`, which is taken as the value, not as an option.)
        #[arg(long, value_name = "THUMBPRINT", allow_hyphen_values = true)]
        thumbprint: Option<String>,
        #[command(flatten)]
        ledger: LedgerArg,
    },
    /// Revoke a key id (tg_ab12cd34), thumbprint or licence token id (tgl_ab12cd34).
    Revoke {
        /// Account name.
        name: String,
        /// Key id, thumbprint or token id, as `accounts show` lists it (may begin with `-`).
        #[arg(allow_hyphen_values = true)]
        key_id: String,
        #[command(flatten)]
        ledger: LedgerArg,
    },
}

/// Runs an accounts subcommand.
pub fn run(cmd: AccountsCommand) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(run_async(cmd))
}

/// A small runtime for one CLI command.
pub fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

async fn run_async(cmd: AccountsCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        AccountsCommand::Add {
            name,
            postpaid,
            credit_limit,
            price,
            quota,
            currency,
            ledger,
            prepaid: _,
        } => {
            let currency = pick_currency(currency, credit_limit, price)?;
            let billing = match (postpaid, credit_limit) {
                (true, Some(limit)) => Billing::Postpaid {
                    credit_limit: limit,
                },
                _ => Billing::Prepaid,
            };
            let l = ledger.create().await?;
            let a = l
                .add_account(NewAccount {
                    name,
                    currency,
                    billing,
                    price,
                    quota_per_day: quota,
                })
                .await?;
            print(&format!("added account {}\n{}", a.name, describe(&a)))?;
        }
        AccountsCommand::List { format, ledger } => {
            let accounts = ledger.open().await?.list_accounts().await?;
            match format {
                ListFormat::Json => {
                    print(&format!("{}\n", serde_json::to_string_pretty(&accounts)?))?
                }
                ListFormat::Text => print(&table(&accounts))?,
            };
        }
        AccountsCommand::Show {
            name,
            format,
            ledger,
        } => {
            let l = ledger.open().await?;
            let a = l
                .account(&name)
                .await?
                .with_context(|| format!("unknown account `{name}`"))?;
            let ids = l.identities(&name).await?;
            match format {
                ListFormat::Json => {
                    let v = serde_json::json!({ "account": a, "identities": ids });
                    print(&format!("{}\n", serde_json::to_string_pretty(&v)?))?
                }
                ListFormat::Text => {
                    let mut s = format!("account {}\n{}", a.name, describe(&a));
                    if ids.is_empty() {
                        s.push_str("identities: none (add one with `accounts key add`)\n");
                    }
                    for i in ids {
                        let state = match (i.revoked_ms, i.expires_ms) {
                            (Some(t), _) => format!("revoked {}", rfc3339(t)),
                            (None, Some(t)) => format!("expires {}", rfc3339(t)),
                            (None, None) => "active".into(),
                        };
                        s.push_str(&format!("identity: {}  ({state})\n", i.label));
                    }
                    print(&s)?
                }
            };
        }
        AccountsCommand::Credit {
            name,
            amount,
            ledger,
        } => {
            let balance = ledger.open().await?.credit(&name, amount).await?;
            print(&format!("credited {amount} to {name}; balance {balance}\n"))?;
        }
        AccountsCommand::Set {
            name,
            price,
            quota,
            ledger,
        } => {
            let l = ledger.open().await?;
            if let Some(p) = price {
                let p = match p.as_str() {
                    "none" => None,
                    s => Some(money_arg(s).map_err(|e| anyhow::anyhow!("--price: {e}"))?),
                };
                l.set_price(&name, p).await?;
            }
            if let Some(q) = quota {
                let q = match q.as_str() {
                    "none" => None,
                    s => Some(quota_arg(s).map_err(|e| anyhow::anyhow!("--quota: {e}"))?),
                };
                l.set_quota(&name, q).await?;
            }
            let a = l
                .account(&name)
                .await?
                .with_context(|| format!("unknown account `{name}`"))?;
            print(&format!("account {}\n{}", a.name, describe(&a)))?;
        }
        AccountsCommand::Suspend { name, ledger } => {
            ledger
                .open()
                .await?
                .set_status(&name, AccountStatus::Suspended)
                .await?;
            print(&format!("suspended {name}\n"))?;
        }
        AccountsCommand::Resume { name, ledger } => {
            ledger
                .open()
                .await?
                .set_status(&name, AccountStatus::Active)
                .await?;
            print(&format!("resumed {name}\n"))?;
        }
        AccountsCommand::Key(KeyCommand::Add {
            name,
            thumbprint,
            ledger,
        }) => {
            let l = ledger.open().await?;
            match thumbprint {
                Some(t) => {
                    let label = l.add_thumbprint(&name, &t).await?;
                    print(&format!("added identity {label} to {name}\n"))?;
                }
                None => {
                    let key = l.add_key(&name).await?;
                    print(&format!("{}\n", key.secret))?;
                    eprintln!(
                        "new API key {} for {name}: shown once, only its hash is stored. \
                         The crawler sends `Authorization: Bearer <key>`.",
                        key.key_id
                    );
                }
            }
        }
        AccountsCommand::Key(KeyCommand::Revoke {
            name,
            key_id,
            ledger,
        }) => {
            ledger.open().await?.revoke_key(&name, &key_id).await?;
            print(&format!("revoked {key_id} of {name}\n"))?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The currency of a new account: `--currency`, else that of the credit limit or price, else
/// USD; an error naming the arguments when they disagree.
fn pick_currency(
    currency: Option<String>,
    limit: Option<Money>,
    price: Option<Money>,
) -> anyhow::Result<String> {
    let mut pick = currency.clone();
    for (arg, m) in [("--credit-limit", limit), ("--price", price)] {
        let Some(m) = m else { continue };
        match &pick {
            Some(c) if c != m.currency() => anyhow::bail!(
                "{arg} is in {} but the account's currency is {c}{}",
                m.currency(),
                if currency.is_some() {
                    " (--currency)"
                } else {
                    ""
                }
            ),
            Some(_) => {}
            None => pick = Some(m.currency().to_string()),
        }
    }
    Ok(pick.unwrap_or_else(|| "USD".into()))
}

fn billing_text(b: &Billing) -> String {
    match b {
        Billing::Prepaid => "prepaid".into(),
        Billing::Postpaid { credit_limit } => format!("postpaid (credit limit {credit_limit})"),
    }
}

fn describe(a: &Account) -> String {
    format!(
        "status: {}\nbilling: {}\nbalance: {}\nprice: {}\nquota: {}\n",
        a.status.as_str(),
        billing_text(&a.billing),
        a.balance,
        a.price.map_or("rules' price".into(), |p| p.to_string()),
        a.quota_per_day.map_or("unlimited".into(), |q| format!(
            "{q}/day ({} used)",
            a.quota_used
        )),
    )
}

fn table(accounts: &[Account]) -> String {
    let mut t = comfy_table::Table::new();
    t.load_style(comfy_table::presets::NOTHING).set_header([
        "name",
        "status",
        "billing",
        "balance",
        "price",
        "quota/day",
    ]);
    for a in accounts {
        t.add_row([
            a.name.clone(),
            a.status.as_str().into(),
            billing_text(&a.billing),
            a.balance.to_string(),
            a.price.map_or("-".into(), |p| p.to_string()),
            a.quota_per_day.map_or("-".into(), |q| q.to_string()),
        ]);
    }
    format!("{t}\n")
}

/// Unix milliseconds as RFC 3339 UTC (`2026-11-10T00:00:00.000Z`).
pub fn rfc3339(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_else(|| format!("{ms} ms"))
}
