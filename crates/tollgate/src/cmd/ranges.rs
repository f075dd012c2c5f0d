//! `tollgate ranges list|update`: the published crawler IP ranges used for verification.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Subcommand;
use tollgate_agents::ranges::{parse_range_file, RangeSourceSpec};

/// Ranges subcommands.
#[derive(Subcommand)]
pub enum RangesCommand {
    /// List the loaded range sources: name, prefixes, list date, authoritative, where from.
    List {
        /// Data directory (default: $TOLLGATE_DATA_DIR, else ~/.local/share/tollgate).
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
    },
    /// Fetch fresh copies of every source's URL into the data directory. A file is replaced only
    /// when the download completes within the limits and parses; otherwise the old one stays.
    Update {
        /// Data directory to write `ipranges/*.json` into.
        #[arg(long, value_name = "DIR")]
        data_dir: Option<PathBuf>,
        /// Only these sources (by name); default all.
        #[arg(long = "only", value_name = "NAME")]
        only: Vec<String>,
        /// Whole-request timeout per URL, seconds.
        #[arg(long, default_value_t = 20)]
        timeout_secs: u64,
        /// Largest accepted response body, bytes.
        #[arg(long, default_value_t = 16 << 20)]
        max_bytes: u64,
    },
}

/// Runs a ranges subcommand.
pub fn run(cmd: RangesCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        RangesCommand::List { data_dir } => {
            list(crate::data::data_dir(data_dir.as_deref()).as_deref())
        }
        RangesCommand::Update {
            data_dir,
            only,
            timeout_secs,
            max_bytes,
        } => {
            let dir = crate::data::data_dir(data_dir.as_deref())
                .context("no data directory: pass --data-dir or set TOLLGATE_DATA_DIR")?;
            update(&dir, &only, Duration::from_secs(timeout_secs), max_bytes)
        }
    }
}

fn list(dir: Option<&Path>) -> anyhow::Result<ExitCode> {
    let table = crate::data::load_ranges(dir)?;
    let mut out = String::from("source\tipv4\tipv6\tlist date (as published)\tkind\tread from\n");
    for s in table.sources() {
        let from = match dir.map(|d| d.join("ipranges").join(&s.spec.file)) {
            Some(p) if p.exists() => p.display().to_string(),
            _ => "embedded".to_string(),
        };
        out.push_str(&format!(
            "{}\t{} v4\t{} v6\t{}\t{}\t{}\n",
            s.spec.name,
            s.v4,
            s.v6,
            s.created.as_deref().unwrap_or("-"),
            if s.authoritative {
                "authoritative"
            } else {
                "non-authoritative"
            },
            from
        ));
    }
    crate::output::print(&out)?;
    Ok(ExitCode::SUCCESS)
}

fn fetch(agent: &ureq::Agent, url: &str, max_bytes: u64) -> anyhow::Result<String> {
    let mut resp = agent
        .get(url)
        .call()
        .with_context(|| format!("GET {url}"))?;
    let mut body = Vec::new();
    resp.body_mut()
        .as_reader()
        .take(max_bytes + 1)
        .read_to_end(&mut body)
        .with_context(|| format!("reading {url}"))?;
    if body.len() as u64 > max_bytes {
        anyhow::bail!("{url}: larger than --max-bytes {max_bytes}");
    }
    String::from_utf8(body).with_context(|| format!("{url}: not UTF-8"))
}

/// One file's outcome of an update.
pub struct FileUpdate {
    /// File name under `<data dir>/ipranges/`.
    pub file: String,
    /// `Ok(per-source prefix counts)` or the error; on error the old file (or the embedded
    /// copy) stays in use.
    pub result: Result<String, String>,
    /// Whether a previous download existed.
    pub had_old: bool,
}

/// Downloads each distinct (file, url) once, validates it against every source that reads the
/// file, then atomically replaces `<dir>/ipranges/<file>`. Used by `ranges update` and by
/// `serve`'s timer.
pub fn update_files(
    dir: &Path,
    only: &[String],
    timeout: Duration,
    max_bytes: u64,
) -> anyhow::Result<Vec<FileUpdate>> {
    let specs = crate::data::range_sources(Some(dir))?;
    for name in only {
        if !specs.iter().any(|s| &s.name == name) {
            anyhow::bail!("--only {name}: no such source (see `tollgate ranges list`)");
        }
    }
    let mut by_file: BTreeMap<(String, String), Vec<RangeSourceSpec>> = BTreeMap::new();
    for s in specs {
        if only.is_empty() || only.contains(&s.name) {
            by_file
                .entry((s.file.clone(), s.url.clone()))
                .or_default()
                .push(s);
        }
    }
    let target = dir.join("ipranges");
    std::fs::create_dir_all(&target).with_context(|| format!("creating {}", target.display()))?;
    let config = ureq::Agent::config_builder()
        .timeout_global(Some(timeout))
        .user_agent(concat!(
            "tollgate/",
            env!("CARGO_PKG_VERSION"),
            " (ranges update)"
        ))
        .build();
    let agent = ureq::Agent::new_with_config(config);
    let mut out = Vec::new();
    for ((file, url), users) in by_file {
        let had_old = target.join(&file).exists();
        let result = fetch(&agent, &url, max_bytes).and_then(|text| {
            let mut counts = Vec::new();
            for spec in &users {
                let list = parse_range_file(spec, &url, &text)?;
                if list.v4.is_empty() && list.v6.is_empty() {
                    anyhow::bail!(
                        "{url}: source `{}` has no prefixes; refusing an empty list",
                        spec.name
                    );
                }
                counts.push(format!("{} {}+{}", spec.name, list.v4.len(), list.v6.len()));
            }
            let tmp = target.join(format!(".{file}.tmp"));
            std::fs::write(&tmp, &text).with_context(|| format!("writing {}", tmp.display()))?;
            std::fs::rename(&tmp, target.join(&file))
                .with_context(|| format!("replacing {file}"))?;
            Ok(counts.join(", "))
        });
        out.push(FileUpdate {
            file,
            result: result.map_err(|e| format!("{e:#}")),
            had_old,
        });
    }
    Ok(out)
}

fn update(
    dir: &Path,
    only: &[String],
    timeout: Duration,
    max_bytes: u64,
) -> anyhow::Result<ExitCode> {
    let results = update_files(dir, only, timeout, max_bytes)?;
    let total = results.len();
    let mut updated = 0;
    for u in &results {
        match &u.result {
            Ok(counts) => {
                updated += 1;
                println!("updated {}: {counts}", u.file);
            }
            Err(e) => {
                let kept = if u.had_old {
                    "kept the previous download"
                } else {
                    "still using the embedded copy"
                };
                eprintln!("not updated {} ({kept}): {e}", u.file);
            }
        }
    }
    eprintln!(
        "{updated} of {total} files updated in {}",
        dir.join("ipranges").display()
    );
    Ok(if updated == total {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
