//! `tollgate ledger verify` and `tollgate invoice`: checking the hash chain, billing an account.

use std::process::ExitCode;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use serde::Serialize;
use tollgate_ledger::{EntryKind, LedgerEntry, Money};

use crate::cmd::accounts::{rfc3339, runtime, LedgerArg};
use crate::output::print;

/// Ledger subcommands.
#[derive(Subcommand)]
pub enum LedgerCommand {
    /// Check the whole hash chain; exit 1 and name the first broken entry if it does not hold.
    Verify {
        #[command(flatten)]
        ledger: LedgerArg,
    },
}

/// Invoice output format.
#[derive(Clone, Copy, ValueEnum)]
pub enum InvoiceFormat {
    /// One row per entry, a header line; the total goes to stderr.
    Csv,
    /// One object: account, period, totals, entries.
    Json,
}

/// `tollgate invoice`.
#[derive(Args)]
pub struct InvoiceArgs {
    /// Account name.
    #[arg(long)]
    account: String,
    /// Start of the period (inclusive): `2026-11-01` (UTC midnight) or RFC 3339.
    #[arg(long, value_name = "DATE")]
    from: Option<String>,
    /// End of the period (exclusive): `2026-12-01` (UTC midnight) or RFC 3339.
    #[arg(long, value_name = "DATE")]
    to: Option<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "csv")]
    format: InvoiceFormat,
    #[command(flatten)]
    ledger: LedgerArg,
}

/// Runs a ledger subcommand.
pub fn run(cmd: LedgerCommand) -> anyhow::Result<ExitCode> {
    let LedgerCommand::Verify { ledger } = cmd;
    runtime()?.block_on(async {
        let report = ledger.open().await?.verify_chain().await?;
        match report.first_broken {
            None => {
                print(&format!(
                    "ledger verified: {} entries, head {}\n",
                    report.entries, report.head
                ))?;
                Ok(ExitCode::SUCCESS)
            }
            Some(b) => {
                print(&format!(
                    "ledger BROKEN at entry {}: {}\n({} entries before it verified)\n",
                    b.id, b.reason, report.entries
                ))?;
                Ok(ExitCode::from(1))
            }
        }
    })
}

/// Unix milliseconds of `2026-11-01` (UTC midnight) or an RFC 3339 time; the error names `arg`.
fn parse_time(arg: &str, s: &str) -> anyhow::Result<i64> {
    tollgate_ledger::period_bound(s).ok_or_else(|| {
        anyhow::anyhow!("{arg} `{s}`: expected a date like 2026-11-01 or an RFC 3339 time")
    })
}

#[derive(Serialize)]
struct Invoice<'a> {
    account: &'a str,
    from: Option<String>,
    to: Option<String>,
    currency: String,
    /// Entries of kind `charge`, and their sum.
    charged_requests: u64,
    total: String,
    total_micros: u64,
    /// Entries of kind `unpaid` (served in fail-open mode, not debited), and their sum.
    unpaid_requests: u64,
    unpaid_total: String,
    unpaid_total_micros: u64,
    /// Entries of kind `record` (free licensed requests).
    free_requests: u64,
    entries: &'a [LedgerEntry],
}

/// Runs `tollgate invoice`.
pub fn invoice(a: InvoiceArgs) -> anyhow::Result<ExitCode> {
    let from = a
        .from
        .as_deref()
        .map(|s| parse_time("--from", s))
        .transpose()?;
    let to = a.to.as_deref().map(|s| parse_time("--to", s)).transpose()?;
    if let (Some(f), Some(t)) = (from, to) {
        if f >= t {
            anyhow::bail!("--from must be before --to (the period is [from, to))");
        }
    }
    runtime()?.block_on(async {
        let l = a.ledger.open().await?;
        let account = l
            .account(&a.account)
            .await?
            .with_context(|| format!("unknown account `{}`", a.account))?;
        let entries = l.usage(&a.account, from, to).await?;
        let zero = Money {
            currency: account.balance.currency,
            micros: 0,
        };
        let (mut total, mut unpaid) = (zero, zero);
        let (mut charged, mut unpaid_n, mut free) = (0u64, 0u64, 0u64);
        for e in &entries {
            match e.kind {
                EntryKind::Charge => {
                    total = total.plus(e.event.price).with_context(|| format!("entry {}", e.id))?;
                    charged += 1;
                }
                EntryKind::Unpaid => {
                    unpaid = unpaid.plus(e.event.price).with_context(|| format!("entry {}", e.id))?;
                    unpaid_n += 1;
                }
                EntryKind::Record => free += 1,
            }
        }
        match a.format {
            InvoiceFormat::Json => {
                let inv = Invoice {
                    account: &a.account,
                    from: from.map(rfc3339),
                    to: to.map(rfc3339),
                    currency: zero.currency().to_string(),
                    charged_requests: charged,
                    total: total.to_string(),
                    total_micros: total.micros,
                    unpaid_requests: unpaid_n,
                    unpaid_total: unpaid.to_string(),
                    unpaid_total_micros: unpaid.micros,
                    free_requests: free,
                    entries: &entries,
                };
                print(&format!("{}\n", serde_json::to_string_pretty(&inv)?))?;
            }
            InvoiceFormat::Csv => {
                let mut w = csv::Writer::from_writer(Vec::new());
                w.write_record([
                    "id", "time", "kind", "identity", "agent", "method", "url", "status", "bytes",
                    "price", "price_micros", "rule", "request_id", "hash",
                ])?;
                for e in &entries {
                    let ev = &e.event;
                    w.write_record([
                        e.id.to_string(),
                        rfc3339(ev.time),
                        e.kind.as_str().to_string(),
                        ev.identity.clone(),
                        ev.agent.clone().unwrap_or_default(),
                        ev.method.clone(),
                        ev.url.clone(),
                        ev.status.to_string(),
                        ev.bytes.to_string(),
                        ev.price.to_string(),
                        ev.price.micros.to_string(),
                        ev.rule.clone().unwrap_or_default(),
                        ev.request_id.clone(),
                        e.hash.clone(),
                    ])?;
                }
                let bytes = w.into_inner().context("writing CSV")?;
                print(&String::from_utf8_lossy(&bytes))?;
                eprintln!(
                    "{}: {charged} charged requests, total {total}; {unpaid_n} unpaid ({unpaid}); {free} free",
                    a.account
                );
            }
        }
        Ok(ExitCode::SUCCESS)
    })
}
