//! `tollgate`: stop, charge for, meter, trace and prove AI use of your content.

mod cmd;
mod data;
mod output;
mod scan;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Stop, charge for, meter, trace and prove AI crawler use of your content.
#[derive(Parser)]
#[command(name = "tollgate", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Put tollgate in front of a site: classify, decide and act on every request.
    Serve(cmd::serve::ServeArgs),
    /// Validate a config file; prints each error with file:line.
    Check(cmd::serve::CheckArgs),
    /// Print the robots.txt generated from the policy and [signals].
    Robots(cmd::serve::RobotsArgs),
    /// Report who crawled you, from access logs: per agent, operator and class.
    Scan(cmd::scan::ScanArgs),
    /// Published crawler IP ranges: show the loaded sources, or fetch fresh copies.
    #[command(subcommand)]
    Ranges(cmd::ranges::RangesCommand),
    /// The agent catalogue: classify a User-Agent, list agents, import ai.robots.txt.
    #[command(subcommand)]
    Catalogue(cmd::catalogue::CatalogueCommand),
    /// Paying accounts: add, list, show, credit, suspend, resume, API keys and thumbprints.
    #[command(subcommand)]
    Accounts(cmd::accounts::AccountsCommand),
    /// The hash-chained usage ledger: verify the chain.
    #[command(subcommand)]
    Ledger(cmd::ledger::LedgerCommand),
    /// An account's charged requests over a period, as CSV or JSON.
    Invoice(cmd::ledger::InvoiceArgs),
    /// Crawler operators: make an Ed25519 Web Bot Auth key and the key directory to publish.
    Keygen(cmd::sign::KeygenArgs),
    /// Crawler operators: sign a request (RFC 9421, Web Bot Auth); print the headers or run curl.
    Sign(cmd::sign::SignArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(a) => cmd::serve::serve(a),
        Command::Check(a) => cmd::serve::check(a),
        Command::Robots(a) => cmd::serve::robots(a),
        Command::Scan(a) => cmd::scan::run(a),
        Command::Ranges(c) => cmd::ranges::run(c),
        Command::Catalogue(c) => cmd::catalogue::run(c),
        Command::Accounts(c) => cmd::accounts::run(c),
        Command::Ledger(c) => cmd::ledger::run(c),
        Command::Invoice(a) => cmd::ledger::invoice(a),
        Command::Keygen(a) => cmd::sign::keygen(a),
        Command::Sign(a) => cmd::sign::sign(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("tollgate: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
