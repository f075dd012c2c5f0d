//! The scan report: rows per agent, roll-ups per operator and class, and its JSON, CSV and table
//! renderings. The JSON shape is stable and documented in docs/scan.md.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, SecondsFormat};
use foldhash::fast::FixedState;
use serde::Serialize;
use tollgate_agents::{Catalogue, Class};
use tollgate_policy::Money;

use super::tally::{RowStats, Tally};

/// One input file's line counts.
#[derive(Debug, Clone, Serialize)]
pub struct FileSummary {
    /// Path as given (`-` = stdin).
    pub file: String,
    /// Detected or given format.
    pub format: String,
}

/// A malformed line sample.
#[derive(Debug, Clone, Serialize)]
pub struct MalformedSample {
    /// File.
    pub file: String,
    /// 1-based line.
    pub line: u64,
    /// Byte offset in the line.
    pub offset: usize,
    /// Why.
    pub reason: &'static str,
}

/// One row: a catalogue agent, an unknown bot, the browsers, or clients without User-Agent.
#[derive(Debug, Clone, Serialize)]
pub struct AgentRow {
    /// Agent name; `(browsers)`, `(no user-agent)`, `(other unknown bots)`, or the name an
    /// unknown bot gives itself.
    pub agent: String,
    /// Operator; `unknown` for unknown bots, `-` for browsers.
    pub operator: String,
    /// Class.
    pub class: Class,
    /// True if the agent is in the catalogue.
    pub catalogued: bool,
    #[serde(flatten)]
    stats: Stats,
}

/// Counters as reported.
#[derive(Debug, Clone, Serialize, Default)]
pub struct Stats {
    /// Requests.
    pub requests: u64,
    /// Response body bytes.
    pub bytes: u64,
    /// Distinct request paths (query stripped).
    pub distinct_paths: u64,
    /// Requests whose claimed identity was verified.
    pub verified: u64,
    /// Requests whose claimed identity failed a check the operator publishes.
    pub spoofed: u64,
    /// Requests that could not be checked (or claimed nothing).
    pub unverified: u64,
    /// Of `unverified`: the agent's operator documents only reverse-DNS (FCrDNS) or signature
    /// checks, which an offline scan does not do ("not checked").
    pub not_checked: u64,
    /// Requests to paths the `--robots` file disallows for this agent.
    pub robots_disallowed: u64,
    /// First request, RFC 3339 UTC.
    pub first_seen: Option<String>,
    /// Last request, RFC 3339 UTC.
    pub last_seen: Option<String>,
    /// Requests per status code.
    pub status: BTreeMap<String, u64>,
    /// AI classes with `--price`: 2xx requests × price.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub would_pay: Option<String>,
}

/// A roll-up (per operator or per class).
#[derive(Debug, Clone, Serialize)]
pub struct Rollup {
    /// Agents in it (by name), busiest first.
    pub agents: Vec<String>,
    #[serde(flatten)]
    stats: Stats,
}

/// Pricing summary with `--price`.
#[derive(Debug, Clone, Serialize)]
pub struct Pricing {
    /// The price per request.
    pub price: String,
    /// AI-class requests that pay per crawl would have charged: answered 2xx, not spoofed, not
    /// to `/robots.txt`, `/sitemap.xml` or `/.well-known/*`.
    pub billable_requests: u64,
    /// billable_requests × price.
    pub total: String,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct ScanReport {
    /// Inputs.
    pub files: Vec<FileSummary>,
    /// Non-empty lines read.
    pub lines: u64,
    /// Lines parsed.
    pub parsed: u64,
    /// Lines that did not match their format (counted, skipped).
    pub malformed: u64,
    /// The first malformed lines.
    pub malformed_samples: Vec<MalformedSample>,
    /// One row per agent seen, busiest first.
    pub agents: Vec<AgentRow>,
    /// Per operator.
    pub operators: BTreeMap<String, Rollup>,
    /// Per class.
    pub classes: BTreeMap<String, Rollup>,
    /// With `--price`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pricing: Option<Pricing>,
}

/// How to render the table output.
#[derive(Debug, Clone)]
pub struct TableOptions {
    /// Rows of the agent and operator tables.
    pub top: usize,
    /// Show the robots.txt column (only meaningful with `--robots`).
    pub robots: bool,
    /// Wrap cells to fit the terminal's width (when stdout is a terminal).
    pub fit_terminal: bool,
}

/// `1,234,567`.
fn thousands(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::with_capacity(s.len() + s.len() / 3);
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `24.2 GB`-style sizes for the table (JSON and CSV keep exact bytes).
fn human_bytes(b: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    let mut v = b as f64;
    let mut u = 0;
    while v >= 1000.0 && u < UNITS.len() - 1 {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{b} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// `2024-01-31 19:00 → 2024-02-10 10:27` from two RFC 3339 times; the date is not repeated
/// when both fall on one day.
fn seen_span(first: Option<&str>, last: Option<&str>) -> String {
    let short = |t: &str| t.get(..16).unwrap_or(t).replace('T', " ");
    match (first, last) {
        (Some(f), Some(l)) if f.get(..10) == l.get(..10) => {
            format!("{} → {}", short(f), l.get(11..16).unwrap_or(l))
        }
        (Some(f), Some(l)) => format!("{} → {}", short(f), short(l)),
        _ => String::new(),
    }
}

fn rfc3339(t: Option<i64>) -> Option<String> {
    t.and_then(|t| DateTime::from_timestamp(t, 0))
        .map(|d| d.to_rfc3339_opts(SecondsFormat::Secs, true))
}

fn stats_of(s: &RowStats, distinct: u64, price: Option<(Money, bool)>) -> Stats {
    Stats {
        requests: s.requests,
        bytes: s.bytes,
        distinct_paths: distinct,
        verified: s.verified,
        spoofed: s.spoofed,
        unverified: s.unverified,
        not_checked: s.not_checked,
        robots_disallowed: s.robots_disallowed,
        first_seen: rfc3339(s.first_seen),
        last_seen: rfc3339(s.last_seen),
        status: s.status.iter().map(|(k, v)| (k.to_string(), *v)).collect(),
        would_pay: price.and_then(|(p, ai)| {
            ai.then(|| {
                p.times(s.billable)
                    .map(|m| m.to_string())
                    .unwrap_or_else(|_| "overflow".into())
            })
        }),
    }
}

struct Acc {
    stats: RowStats,
    paths: HashSet<u64, FixedState>,
    agents: Vec<(u64, String)>,
    ai: bool,
}

impl ScanReport {
    /// Builds the report from the merged tally.
    pub fn build(
        tally: Tally,
        catalogue: &Catalogue,
        files: Vec<FileSummary>,
        price: Option<Money>,
    ) -> ScanReport {
        let mut raw: Vec<(String, String, Class, bool, RowStats)> = Vec::new();
        for (i, row) in tally.agents.into_iter().enumerate() {
            if let Some(s) = row {
                let a = &catalogue.agents()[i];
                raw.push((a.name.clone(), a.operator.clone(), a.class, true, s));
            }
        }
        for (name, s) in tally.unknown {
            raw.push((name.into(), "unknown".into(), Class::UnknownBot, false, s));
        }
        for (name, op, class, s) in [
            (
                "(other unknown bots)",
                "unknown",
                Class::UnknownBot,
                tally.other_unknown,
            ),
            (
                "(no user-agent)",
                "unknown",
                Class::UnknownBot,
                tally.no_user_agent,
            ),
            ("(browsers)", "-", Class::Browser, tally.browser),
        ] {
            if s.requests > 0 {
                raw.push((name.into(), op.into(), class, false, s));
            }
        }
        raw.sort_by(|a, b| b.4.requests.cmp(&a.4.requests).then_with(|| a.0.cmp(&b.0)));

        let mut operators: BTreeMap<String, Acc> = BTreeMap::new();
        let mut classes: BTreeMap<String, Acc> = BTreeMap::new();
        let mut billable = 0u64;
        let mut agents = Vec::with_capacity(raw.len());
        for (name, operator, class, catalogued, s) in raw {
            if class.is_ai() {
                billable += s.billable;
            }
            for (map, key) in [
                (&mut operators, operator.clone()),
                (&mut classes, class.to_string()),
            ] {
                let acc = map.entry(key).or_insert_with(|| Acc {
                    stats: RowStats::default(),
                    paths: HashSet::with_hasher(FixedState::default()),
                    agents: Vec::new(),
                    ai: class.is_ai(),
                });
                acc.stats.merge(&s);
                acc.paths.extend(s.paths.iter().copied());
                acc.agents.push((s.requests, name.clone()));
            }
            let distinct = s.paths.len() as u64;
            agents.push(AgentRow {
                stats: stats_of(&s, distinct, price.map(|p| (p, class.is_ai()))),
                agent: name,
                operator,
                class,
                catalogued,
            });
        }
        let rollup = |m: BTreeMap<String, Acc>, price: Option<Money>| {
            m.into_iter()
                .map(|(k, a)| {
                    let mut names = a.agents;
                    names.sort_by(|x, y| y.0.cmp(&x.0).then_with(|| x.1.cmp(&y.1)));
                    (
                        k,
                        Rollup {
                            agents: names.into_iter().map(|(_, n)| n).collect(),
                            stats: stats_of(
                                &a.stats,
                                a.paths.len() as u64,
                                price.map(|p| (p, a.ai)),
                            ),
                        },
                    )
                })
                .collect()
        };
        let files_by_index = files.clone();
        ScanReport {
            lines: tally.lines,
            parsed: tally.parsed,
            malformed: tally.malformed,
            malformed_samples: tally
                .samples
                .into_iter()
                .map(|m| MalformedSample {
                    file: files_by_index
                        .get(m.file_index)
                        .map(|f| f.file.clone())
                        .unwrap_or_default(),
                    line: m.line,
                    offset: m.offset,
                    reason: m.reason,
                })
                .collect(),
            files,
            agents,
            // Operators mix AI and non-AI agents only in name; price them per class instead.
            operators: rollup(operators, None),
            classes: rollup(classes, price),
            pricing: price.map(|p| Pricing {
                price: p.to_string(),
                billable_requests: billable,
                total: p
                    .times(billable)
                    .map(|m| m.to_string())
                    .unwrap_or_else(|_| "overflow".into()),
            }),
        }
    }

    /// Pretty JSON (the stable format).
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }

    /// CSV: one line per agent row.
    pub fn to_csv(&self) -> Result<String, csv::Error> {
        let mut w = csv::Writer::from_writer(Vec::new());
        w.write_record([
            "agent",
            "operator",
            "class",
            "catalogued",
            "requests",
            "bytes",
            "distinct_paths",
            "verified",
            "spoofed",
            "unverified",
            "not_checked",
            "robots_disallowed",
            "first_seen",
            "last_seen",
            "status",
            "would_pay",
        ])?;
        for r in &self.agents {
            let s = &r.stats;
            let status = s
                .status
                .iter()
                .map(|(k, v)| format!("{k}:{v}"))
                .collect::<Vec<_>>()
                .join(" ");
            w.write_record([
                r.agent.as_str(),
                &r.operator,
                r.class.as_str(),
                if r.catalogued { "true" } else { "false" },
                &s.requests.to_string(),
                &s.bytes.to_string(),
                &s.distinct_paths.to_string(),
                &s.verified.to_string(),
                &s.spoofed.to_string(),
                &s.unverified.to_string(),
                &s.not_checked.to_string(),
                &s.robots_disallowed.to_string(),
                s.first_seen.as_deref().unwrap_or(""),
                s.last_seen.as_deref().unwrap_or(""),
                &status,
                s.would_pay.as_deref().unwrap_or(""),
            ])?;
        }
        let bytes = w.into_inner().map_err(|e| e.into_error())?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// Human-readable tables (see [`TableOptions`]).
    pub fn to_table(&self, opts: &TableOptions) -> String {
        use comfy_table::presets::UTF8_BORDERS_ONLY;
        use comfy_table::{CellAlignment, ContentArrangement, Table};
        let new_table = |header: Vec<&str>, numeric_from: usize, numeric_to: usize| {
            let mut t = Table::new();
            t.load_style(UTF8_BORDERS_ONLY);
            if opts.fit_terminal {
                t.set_content_arrangement(ContentArrangement::Dynamic);
            }
            t.set_header(header);
            for i in numeric_from..numeric_to {
                if let Some(c) = t.column_mut(i) {
                    c.set_cell_alignment(CellAlignment::Right);
                }
            }
            t
        };
        let mut out = String::new();
        let files: Vec<String> = self
            .files
            .iter()
            .map(|f| {
                let fmt = if f.format.is_empty() {
                    "unread"
                } else {
                    f.format.as_str()
                };
                format!("{} ({fmt})", f.file)
            })
            .collect();
        out.push_str(&format!(
            "{} lines, {} parsed, {} malformed — {}\n",
            thousands(self.lines),
            thousands(self.parsed),
            thousands(self.malformed),
            files.join(", ")
        ));
        for m in &self.malformed_samples {
            out.push_str(&format!(
                "  malformed: {}:{}: byte {}: {}\n",
                m.file, m.line, m.offset, m.reason
            ));
        }
        let dash = || "–".to_string();
        let mut header = vec![
            "agent",
            "operator",
            "class",
            "requests",
            "bytes",
            "paths",
            "verified",
            "spoofed",
            "unverified",
        ];
        if opts.robots {
            header.push("robots ✗");
        }
        let numeric_to = header.len();
        header.push("seen (UTC)");
        let mut t = new_table(header, 3, numeric_to);
        for r in self.agents.iter().take(opts.top) {
            let s = &r.stats;
            let checked = r.class != Class::Browser;
            let mut row = vec![
                r.agent.clone(),
                r.operator.clone(),
                r.class.to_string(),
                thousands(s.requests),
                human_bytes(s.bytes),
                thousands(s.distinct_paths),
                if checked {
                    thousands(s.verified)
                } else {
                    dash()
                },
                if checked {
                    thousands(s.spoofed)
                } else {
                    dash()
                },
                if !checked {
                    dash()
                } else if s.not_checked > 0 {
                    format!(
                        "{} ({} not checked)",
                        thousands(s.unverified),
                        thousands(s.not_checked)
                    )
                } else {
                    thousands(s.unverified)
                },
            ];
            if opts.robots {
                row.push(if checked {
                    thousands(s.robots_disallowed)
                } else {
                    dash()
                });
            }
            row.push(seen_span(s.first_seen.as_deref(), s.last_seen.as_deref()));
            t.add_row(row);
        }
        let shown = opts.top.min(self.agents.len());
        out.push_str(&format!("\nagents ({shown} of {}", self.agents.len()));
        if shown < self.agents.len() {
            out.push_str("; --top N shows more");
        }
        out.push_str(&format!(")\n{t}\n"));

        let mut header = vec![
            "class",
            "requests",
            "bytes",
            "verified",
            "spoofed",
            "unverified",
        ];
        if self.pricing.is_some() {
            header.push("would pay");
        }
        let cols = header.len();
        let mut c = new_table(header, 1, cols);
        let mut classes: Vec<_> = self.classes.iter().collect();
        classes.sort_by_key(|c| std::cmp::Reverse(c.1.stats.requests));
        for (k, r) in classes {
            let checked = k != "browser";
            let mut row = vec![
                k.clone(),
                thousands(r.stats.requests),
                human_bytes(r.stats.bytes),
                if checked {
                    thousands(r.stats.verified)
                } else {
                    dash()
                },
                if checked {
                    thousands(r.stats.spoofed)
                } else {
                    dash()
                },
                if checked {
                    thousands(r.stats.unverified)
                } else {
                    dash()
                },
            ];
            if self.pricing.is_some() {
                row.push(r.stats.would_pay.clone().unwrap_or_else(dash));
            }
            c.add_row(row);
        }
        out.push_str(&format!("\nclasses\n{c}\n"));

        let mut o = new_table(
            vec!["operator", "requests", "verified", "spoofed", "agents"],
            1,
            4,
        );
        let mut ops: Vec<_> = self.operators.iter().filter(|(k, _)| *k != "-").collect();
        ops.sort_by(|a, b| {
            b.1.stats
                .requests
                .cmp(&a.1.stats.requests)
                .then_with(|| a.0.to_lowercase().cmp(&b.0.to_lowercase()))
        });
        for (k, r) in ops.iter().take(opts.top) {
            let mut names = r
                .agents
                .iter()
                .take(4)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ");
            if r.agents.len() > 4 {
                names.push_str(&format!(", … ({} more)", r.agents.len() - 4));
            }
            o.add_row(vec![
                k.to_string(),
                thousands(r.stats.requests),
                thousands(r.stats.verified),
                thousands(r.stats.spoofed),
                names,
            ]);
        }
        let shown = opts.top.min(ops.len());
        out.push_str(&format!("\noperators ({shown} of {})\n{o}\n", ops.len()));
        if let Some(p) = &self.pricing {
            out.push_str(&format!(
                "\nat {} per request, the {} billable AI-class requests (2xx, not spoofed, not robots.txt) would have paid {}\n",
                p.price,
                thousands(p.billable_requests),
                p.total
            ));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_are_separated() {
        assert_eq!(thousands(0), "0");
        assert_eq!(thousands(999), "999");
        assert_eq!(thousands(1_000), "1,000");
        assert_eq!(thousands(160_329), "160,329");
        assert_eq!(thousands(5_393_720), "5,393,720");
    }

    #[test]
    fn table_sizes_are_human_readable() {
        assert_eq!(human_bytes(999), "999 B");
        assert_eq!(human_bytes(25_039), "25.0 kB");
        assert_eq!(human_bytes(24_177_100_221), "24.2 GB");
    }

    #[test]
    fn seen_span_shortens_same_day_ranges() {
        assert_eq!(
            seen_span(Some("2026-11-01T09:00:00Z"), Some("2026-11-01T09:10:01Z")),
            "2026-11-01 09:00 → 09:10"
        );
        assert_eq!(
            seen_span(Some("2024-01-31T19:00:11Z"), Some("2025-08-01T16:01:53Z")),
            "2024-01-31 19:00 → 2025-08-01 16:01"
        );
        assert_eq!(seen_span(None, None), "");
    }
}
