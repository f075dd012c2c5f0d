//! `tollgate catalogue …`

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::Subcommand;
use tollgate_agents::import::import_robots_json;
use tollgate_agents::{Catalogue, UaMatch, UaMatcher};

/// Catalogue subcommands.
#[derive(Subcommand)]
pub enum CatalogueCommand {
    /// Classify User-Agent strings (arguments, or one per line on stdin).
    Classify {
        /// User-Agent strings; none = read lines from stdin.
        ua: Vec<String>,
    },
    /// List the catalogue's agents as `name<TAB>class<TAB>operator`.
    List,
    /// Validate a catalogue file; prints errors with file:line.
    Check {
        /// Catalogue file.
        #[arg(default_value = "data/agents.toml")]
        file: PathBuf,
    },
    /// Merge a newer ai.robots.txt robots.json into the catalogue, keeping tollgate's own fields.
    ImportAiRobots {
        /// robots.json from ai-robots-txt/ai.robots.txt.
        robots_json: PathBuf,
        /// Catalogue file to update in place.
        #[arg(long, default_value = "data/agents.toml")]
        catalogue: PathBuf,
    },
}

/// Runs a catalogue subcommand.
pub fn run(cmd: CatalogueCommand) -> anyhow::Result<ExitCode> {
    match cmd {
        CatalogueCommand::Classify { ua } => {
            let catalogue = Catalogue::embedded()?;
            let matcher = UaMatcher::new(&catalogue)?;
            let classify_one = |line: &str| -> String {
                let m = matcher.match_ua(line.as_bytes());
                let (name, operator) = match m {
                    UaMatch::Agent(id) => {
                        let a = catalogue.agent(id);
                        (a.name.clone(), a.operator.clone())
                    }
                    UaMatch::UnknownBot(marker) => (format!("(unknown bot: {marker})"), "-".into()),
                    UaMatch::Empty => ("(no user-agent)".into(), "-".into()),
                    UaMatch::Browser => ("(browser)".into(), "-".into()),
                };
                format!(
                    "{}\t{}\t{}\t{}\n",
                    m.class(&catalogue),
                    name,
                    operator,
                    line
                )
            };
            if ua.is_empty() {
                // One User-Agent per line; bytes that are not UTF-8 are replaced, never fatal.
                use std::io::BufRead;
                for line in std::io::stdin().lock().split(b'\n') {
                    let line = line?;
                    let text = String::from_utf8_lossy(&line);
                    if !crate::output::print(&classify_one(text.trim_end_matches('\r')))? {
                        break;
                    }
                }
            } else {
                let out: String = ua.iter().map(|u| classify_one(u)).collect();
                crate::output::print(&out)?;
            }
            Ok(ExitCode::SUCCESS)
        }
        CatalogueCommand::List => {
            let catalogue = Catalogue::embedded()?;
            let mut out = String::from("name\tclass\toperator\n");
            for a in catalogue.agents() {
                out.push_str(&format!("{}\t{}\t{}\n", a.name, a.class, a.operator));
            }
            crate::output::print(&out)?;
            Ok(ExitCode::SUCCESS)
        }
        CatalogueCommand::Check { file } => {
            let src = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            match Catalogue::parse(&file.display().to_string(), &src) {
                Ok(c) => {
                    crate::output::print(&format!(
                        "{}: ok, {} agents\n",
                        file.display(),
                        c.agents().len()
                    ))?;
                    Ok(ExitCode::SUCCESS)
                }
                Err(e) => {
                    eprintln!("{e}");
                    Ok(ExitCode::from(1))
                }
            }
        }
        CatalogueCommand::ImportAiRobots {
            robots_json,
            catalogue,
        } => {
            let json = std::fs::read_to_string(&robots_json)
                .with_context(|| format!("reading {}", robots_json.display()))?;
            let toml = std::fs::read_to_string(&catalogue)
                .with_context(|| format!("reading {}", catalogue.display()))?;
            let (out, summary) = import_robots_json(&toml, &json)?;
            // Refuse to write a catalogue that would not load.
            Catalogue::parse(&catalogue.display().to_string(), &out)
                .context("the merged catalogue does not validate; nothing written")?;
            let tmp = catalogue.with_extension("toml.tmp");
            std::fs::write(&tmp, out).with_context(|| format!("writing {}", tmp.display()))?;
            std::fs::rename(&tmp, &catalogue)
                .with_context(|| format!("replacing {}", catalogue.display()))?;
            let mut out = format!(
                "{}: {} added (marked `# review:`), {} attached as variants, {} updated, {} gone upstream (kept)\n",
                catalogue.display(),
                summary.added.len(),
                summary.attached.len(),
                summary.updated.len(),
                summary.removed_upstream.len()
            );
            for k in &summary.added {
                out.push_str(&format!("  added: {k}\n"));
            }
            for k in &summary.removed_upstream {
                out.push_str(&format!("  gone upstream: {k}\n"));
            }
            crate::output::print(&out)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}
