//! `tollgate ranges …`

use std::process::ExitCode;

use clap::Subcommand;

/// Ranges subcommands.
#[derive(Subcommand)]
pub enum RangesCommand {
    /// List the loaded range sources.
    List,
}

/// Runs a ranges subcommand.
pub fn run(_cmd: RangesCommand) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet")
}
