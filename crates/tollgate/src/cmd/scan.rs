//! `tollgate scan [--format table|json|csv] [--robots FILE] [--price "USD 0.002"] FILES…`

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::ValueEnum;
use indicatif::{ProgressBar, ProgressStyle};
use tollgate_agents::Classifier;
use tollgate_logs::{
    detect_format, open_input_with_progress, Chunk, ChunkReader, LogFormat, NginxFormat,
};
use tollgate_policy::Money;

use crate::scan::report::{FileSummary, ScanReport, TableOptions};
use crate::scan::robots::RobotsCheck;
use crate::scan::tally::{Malformed, Tally};

/// Output format.
#[derive(Clone, Copy, Debug, ValueEnum)]
pub enum OutputFormat {
    /// Aligned tables for people.
    Table,
    /// The stable JSON document (docs/scan.md).
    Json,
    /// One CSV line per agent row.
    Csv,
}

/// Arguments of `tollgate scan`.
#[derive(clap::Args)]
pub struct ScanArgs {
    /// Access logs: plain or gzip (detected by content), `-` for stdin.
    #[arg(required = true, value_name = "FILES")]
    pub files: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub format: OutputFormat,
    /// Count requests to paths this robots.txt disallows for each agent (RFC 9309 matching).
    #[arg(long, value_name = "FILE")]
    pub robots: Option<PathBuf>,
    /// Price per request (`USD 0.002`): what the AI-class traffic answered 2xx would have paid.
    #[arg(long, value_parser = parse_money)]
    pub price: Option<Money>,
    /// Log format: `auto`, `combined`, `common`, `json`, or an nginx `log_format` string
    /// (`'$remote_addr - $remote_user [$time_local] "$request" …'`).
    #[arg(long, default_value = "auto")]
    pub log_format: String,
    /// Rows shown in the table output.
    #[arg(long, default_value_t = 40)]
    pub top: usize,
    /// Worker threads (default: one per core; 1–256).
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub threads: Option<u16>,
    /// Never show a progress bar.
    #[arg(long)]
    pub no_progress: bool,
    /// A catalogue file used instead of the embedded catalogue (data/agents.toml and
    /// data/agents-web.toml).
    #[arg(long, value_name = "FILE")]
    pub catalogue: Option<PathBuf>,
    /// Data directory with fetched IP ranges (see `tollgate ranges update`).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
}

fn parse_money(s: &str) -> Result<Money, String> {
    s.parse()
        .map_err(|e: tollgate_policy::MoneyError| e.to_string())
}

fn explicit_format(spec: &str) -> anyhow::Result<Option<LogFormat>> {
    Ok(match spec {
        "auto" => None,
        "combined" => Some(LogFormat::Combined),
        "common" => Some(LogFormat::Common),
        "json" => Some(LogFormat::JsonLines),
        s if s.contains('$') => Some(LogFormat::Nginx(
            NginxFormat::compile(s).with_context(|| "--log-format".to_string())?,
        )),
        other => anyhow::bail!(
            "--log-format `{other}`: expected auto, combined, common, json, or an nginx log_format string containing $variables"
        ),
    })
}

type Job = (usize, Arc<LogFormat>, Chunk);

fn worker(
    classifier: &Classifier,
    robots: Option<RobotsCheck>,
    rx: crossbeam_channel::Receiver<Job>,
) -> Tally {
    let mut tally = Tally::new(classifier.catalogue().agents().len());
    for (file_index, format, chunk) in rx {
        for (line, bytes) in chunk.lines() {
            match format.parse_line(bytes) {
                Ok(rec) => tally.add(classifier, robots.as_ref(), &rec),
                Err(e) => tally.add_malformed(Malformed {
                    file_index,
                    line,
                    offset: e.offset,
                    reason: e.reason,
                }),
            }
        }
    }
    tally
}

fn progress_bar(files: &[String], hide: bool) -> ProgressBar {
    let total: u64 = files
        .iter()
        .filter(|f| *f != "-")
        .filter_map(|f| std::fs::metadata(f).ok())
        .map(|m| m.len())
        .sum();
    if hide || !std::io::stderr().is_terminal() || total < 16 << 20 {
        return ProgressBar::hidden();
    }
    let pb = ProgressBar::new(total);
    if let Ok(style) = ProgressStyle::with_template(
        "{spinner} [{elapsed_precise}] {wide_bar} {bytes}/{total_bytes} ({bytes_per_sec}, {eta}) {msg}",
    ) {
        pb.set_style(style);
    }
    pb
}

/// Runs a scan; exit code 0, or 1 if an input could not be read (the report still covers
/// everything that was read).
pub fn run(a: ScanArgs) -> anyhow::Result<ExitCode> {
    let given = explicit_format(&a.log_format)?;
    let dir = crate::data::data_dir(a.data_dir.as_deref());
    let classifier = crate::data::classifier(a.catalogue.as_deref(), dir.as_deref())?;
    let robots = match &a.robots {
        Some(p) => {
            let text = std::fs::read(p).with_context(|| format!("reading {}", p.display()))?;
            let (check, truncated) =
                RobotsCheck::new(&p.display().to_string(), text, classifier.catalogue())?;
            if truncated {
                eprintln!(
                    "tollgate: warning: {}: only the first {} bytes are read, as crawlers do (RFC 9309 §2.5)",
                    p.display(),
                    crate::scan::robots::MAX_ROBOTS_BYTES
                );
            }
            Some(check)
        }
        None => None,
    };
    let threads = a
        .threads
        .map(usize::from)
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get().min(256)))
        .max(1);
    let pb = progress_bar(&a.files, a.no_progress);
    let mut summaries = Vec::new();
    let mut failed = false;
    let mut worker_panicked = false;
    let (tx, rx) = crossbeam_channel::bounded::<Job>(threads * 4);
    let tally = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                let rx = rx.clone();
                let robots = robots.clone();
                let classifier = &classifier;
                s.spawn(move || worker(classifier, robots, rx))
            })
            .collect();
        drop(rx);
        let mut done_bytes = 0u64;
        for (fi, path) in a.files.iter().enumerate() {
            let input = match open_input_with_progress(path) {
                Ok(i) => i,
                Err(e) => {
                    pb.suspend(|| eprintln!("tollgate: error: {e}"));
                    failed = true;
                    continue;
                }
            };
            let counter = input.progress.clone();
            let mut format: Option<Arc<LogFormat>> = given.clone().map(Arc::new);
            let mut reader = ChunkReader::new(path.as_str(), input.reader);
            let mut summary_format = String::new();
            for chunk in reader.by_ref() {
                let chunk = match chunk {
                    Ok(c) => c,
                    Err(e) => {
                        pb.suspend(|| eprintln!("tollgate: error: {path}: {e} (lines before this point are counted)"));
                        failed = true;
                        break;
                    }
                };
                if format.is_none() {
                    let sample: Vec<&[u8]> = chunk.lines().take(200).map(|(_, l)| l).collect();
                    match detect_format(&sample) {
                        Some(f) => format = Some(Arc::new(f)),
                        None => {
                            pb.suspend(|| eprintln!("tollgate: error: {path}: cannot detect the log format (neither JSON lines nor NCSA common/combined); pass --log-format"));
                            failed = true;
                            break;
                        }
                    }
                }
                let Some(f) = &format else { break };
                summary_format = f.name().to_string();
                if tx.send((fi, Arc::clone(f), chunk)).is_err() {
                    break;
                }
                pb.set_position(done_bytes + counter.get());
            }
            done_bytes += counter.get();
            summaries.push(FileSummary {
                file: path.clone(),
                format: summary_format,
            });
        }
        drop(tx);
        let mut total = Tally::new(classifier.catalogue().agents().len());
        for h in handles {
            match h.join() {
                Ok(t) => total.merge(t),
                Err(_) => {
                    // A bug, never bad input: say so rather than print a report missing lines.
                    worker_panicked = true;
                }
            }
        }
        total.finish();
        total
    });
    pb.finish_and_clear();
    // Malformed samples refer to the command-line index; keep that order in the summary.
    let mut files: Vec<FileSummary> = a
        .files
        .iter()
        .map(|f| FileSummary {
            file: f.clone(),
            format: String::new(),
        })
        .collect();
    for s in summaries {
        if let Some(slot) = files
            .iter_mut()
            .find(|f| f.file == s.file && f.format.is_empty())
        {
            slot.format = s.format;
        }
    }
    if worker_panicked {
        anyhow::bail!("internal error: a scan worker crashed, so the counts would be incomplete; no report printed (please report this with the input that caused it)");
    }
    let read_any = files.iter().any(|f| !f.format.is_empty());
    if !read_any && failed {
        // Nothing could be read at all: the errors above say why; an empty report would mislead.
        return Ok(ExitCode::from(1));
    }
    if tally.lines == 0 {
        eprintln!("tollgate: warning: the input holds no log lines");
    }
    if !matches!(a.format, OutputFormat::Table) {
        for m in &tally.samples {
            let file = a.files.get(m.file_index).map(String::as_str).unwrap_or("-");
            eprintln!(
                "tollgate: malformed: {file}:{}: byte {}: {}",
                m.line, m.offset, m.reason
            );
        }
        if tally.malformed > tally.samples.len() as u64 {
            eprintln!(
                "tollgate: {} malformed lines in all (the first {} above)",
                tally.malformed,
                tally.samples.len()
            );
        }
    }
    let report = ScanReport::build(tally, classifier.catalogue(), files, a.price);
    let text = match a.format {
        OutputFormat::Json => report.to_json() + "\n",
        OutputFormat::Csv => report.to_csv()?,
        OutputFormat::Table => report.to_table(&TableOptions {
            top: a.top,
            robots: a.robots.is_some(),
            fit_terminal: std::io::stdout().is_terminal(),
        }),
    };
    crate::output::print(&text)?;
    Ok(if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}
