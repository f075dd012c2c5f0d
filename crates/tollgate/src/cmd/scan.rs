//! `tollgate scan`

use std::process::ExitCode;

/// Arguments of `tollgate scan`.
#[derive(clap::Args)]
pub struct ScanArgs {
    /// Log files (plain or gzip); `-` for stdin.
    files: Vec<String>,
}

/// Runs a scan.
pub fn run(_a: ScanArgs) -> anyhow::Result<ExitCode> {
    anyhow::bail!("not yet")
}
