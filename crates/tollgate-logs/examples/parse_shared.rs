//! Parses every line of the given logs (default: the shared real logs in
//! `/work/shared/data/logs/*.gz`) and prints lines / parsed / malformed per file.
//!
//! `cargo run --release -p tollgate-logs --example parse_shared [-- [-v] [--format F] FILE…]`
//! where `--dump` prints the parsed fields tab-separated, `-v` prints each malformed line with its error, and F is `combined`, `common`, `json`,
//! or an nginx `log_format` string (default: detected from the first lines).

use std::io::Write;
use std::time::Instant;

use tollgate_logs::{detect_format, open_input_with_progress, ChunkReader, LogFormat, NginxFormat};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut verbose = false;
    let mut dump = false;
    let mut format: Option<LogFormat> = None;
    let mut files = Vec::new();
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "-v" => verbose = true,
            "--dump" => dump = true,
            "--format" => {
                let f = args.next().ok_or("--format needs a value")?;
                format = Some(match f.as_str() {
                    "combined" => LogFormat::Combined,
                    "common" => LogFormat::Common,
                    "json" => LogFormat::JsonLines,
                    spec => LogFormat::Nginx(NginxFormat::compile(spec)?),
                });
            }
            _ => files.push(a),
        }
    }
    if files.is_empty() {
        let dir = "/work/shared/data/logs";
        let Ok(rd) = std::fs::read_dir(dir) else {
            eprintln!("{dir} not present; pass log files as arguments");
            return Ok(());
        };
        let mut v: Vec<String> = rd
            .filter_map(Result::ok)
            .map(|e| e.path().display().to_string())
            .filter(|p| p.ends_with(".gz"))
            .collect();
        v.sort();
        files = v;
    }
    for path in &files {
        let start = Instant::now();
        let input = open_input_with_progress(path)?;
        let total = input.total_bytes;
        let progress = input.progress.clone();
        let mut reader = ChunkReader::new(path.as_str(), input.reader);
        let mut fmt = format.clone();
        let (mut lines, mut parsed, mut malformed, mut raw_bytes) = (0u64, 0u64, 0u64, 0u64);
        for chunk in reader.by_ref() {
            let chunk = chunk?;
            raw_bytes += chunk.data.len() as u64;
            if fmt.is_none() {
                let sample: Vec<&[u8]> = chunk.lines().take(20).map(|(_, l)| l).collect();
                fmt = Some(detect_format(&sample).ok_or("cannot detect the format")?);
            }
            let Some(f) = &fmt else { unreachable!() };
            for (no, line) in chunk.lines() {
                lines += 1;
                match f.parse_line(line) {
                    Ok(r) => {
                        parsed += 1;
                        if dump {
                            let mut out = std::io::stdout().lock();
                            writeln!(
                                out,
                                "{no}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}\t{}",
                                r.client,
                                r.time.unwrap_or(0),
                                r.method,
                                r.target,
                                r.protocol,
                                r.status,
                                r.bytes,
                                r.referer,
                                r.user_agent
                            )?;
                        }
                    }
                    Err(e) => {
                        malformed += 1;
                        if verbose {
                            println!("{path}:{no}: {e}\n    {}", String::from_utf8_lossy(line));
                        }
                    }
                }
            }
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "{path}: format={} lines={lines} parsed={parsed} malformed={malformed} \
             ({:.1} MB decoded, {}/{} compressed bytes read, {:.0} ms, {:.0} lines/s)",
            fmt.as_ref().map_or("?", LogFormat::name),
            raw_bytes as f64 / 1e6,
            progress.get(),
            total.map_or_else(|| "?".to_owned(), |t| t.to_string()),
            secs * 1e3,
            lines as f64 / secs,
        );
    }
    Ok(())
}
