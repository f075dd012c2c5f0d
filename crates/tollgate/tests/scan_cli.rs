//! `tollgate scan` end to end on the bundled example log (examples/access.log, composed by hand
//! for this purpose; see data/SOURCES.md).

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::io::Write;
use std::path::PathBuf;

use assert_cmd::Command;
use serde_json::Value;

fn repo(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(p)
}

fn scan_json(args: &[&str]) -> Value {
    let out = Command::cargo_bin("tollgate")
        .unwrap()
        .arg("scan")
        .args(["--format", "json"])
        .args(args)
        .env("TOLLGATE_DATA_DIR", "/nonexistent-tollgate-test-dir")
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout={} stderr={}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn row<'a>(report: &'a Value, agent: &str) -> &'a Value {
    report["agents"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["agent"] == agent)
        .unwrap_or_else(|| panic!("no row {agent}"))
}

#[test]
fn example_log_counts_lines_and_reports_the_malformed_one_with_file_and_line() {
    let log = repo("examples/access.log");
    let r = scan_json(&[log.to_str().unwrap()]);
    assert_eq!(r["lines"], 30);
    assert_eq!(r["parsed"], 29);
    assert_eq!(r["malformed"], 1);
    assert_eq!(r["malformed_samples"][0]["line"], 29);
    assert_eq!(r["files"][0]["format"], "combined");
}

#[test]
fn gptbot_inside_openai_ranges_is_verified_and_outside_is_spoofed() {
    let log = repo("examples/access.log");
    let r = scan_json(&[log.to_str().unwrap()]);
    let g = row(&r, "GPTBot");
    assert_eq!(g["operator"], "OpenAI");
    assert_eq!(g["class"], "ai-training");
    assert_eq!(g["requests"], 5);
    assert_eq!(g["bytes"], 310 + 10240 + 4096 + 10240 + 153);
    assert_eq!(g["distinct_paths"], 4);
    assert_eq!(g["verified"], 3);
    assert_eq!(g["spoofed"], 2);
    assert_eq!(g["unverified"], 0);
    assert_eq!(g["first_seen"], "2026-11-01T09:00:00Z");
    assert_eq!(g["last_seen"], "2026-11-01T09:10:01Z");
    assert_eq!(g["status"]["200"], 4);
    assert_eq!(g["status"]["404"], 1);
    // No --robots: nothing counted as disallowed.
    assert_eq!(g["robots_disallowed"], 0);
}

#[test]
fn robots_and_price_are_applied_per_agent() {
    let log = repo("examples/access.log");
    let robots = repo("examples/robots.txt");
    let r = scan_json(&[
        "--robots",
        robots.to_str().unwrap(),
        "--price",
        "USD 0.002",
        log.to_str().unwrap(),
    ]);
    // GPTBot is disallowed everywhere but /robots.txt itself.
    assert_eq!(row(&r, "GPTBot")["robots_disallowed"], 4);
    assert_eq!(row(&r, "Bytespider")["robots_disallowed"], 3);
    assert_eq!(row(&r, "CCBot")["robots_disallowed"], 1);
    // The `*` group binds unknown bots; browsers are never counted.
    assert_eq!(row(&r, "ExampleResearchBot")["robots_disallowed"], 1);
    assert_eq!(row(&r, "(browsers)")["robots_disallowed"], 0);
    assert_eq!(row(&r, "ClaudeBot")["robots_disallowed"], 0);
    // Billable = AI class, 2xx, not spoofed, not /robots.txt: GPTBot 2 (of 5: robots.txt, a 404
    // and a spoofed fetch are free), Bytespider 3, ClaudeBot 1 (its 304 is free), CCBot 1,
    // ChatGPT-User 1.
    assert_eq!(r["pricing"]["billable_requests"], 8);
    assert_eq!(r["pricing"]["total"], "USD 0.016");
    assert_eq!(r["classes"]["ai-training"]["would_pay"], "USD 0.014");
    assert_eq!(r["classes"]["ai-training"]["requests"], 11);
    assert_eq!(row(&r, "GPTBot")["would_pay"], "USD 0.004");
    assert!(row(&r, "Googlebot").get("would_pay").is_none());
}

#[test]
fn named_traps_come_out_right_in_a_scan() {
    let log = repo("examples/access.log");
    let r = scan_json(&[log.to_str().unwrap()]);
    assert_eq!(row(&r, "git")["class"], "tool");
    assert_eq!(row(&r, "facebookexternalhit")["class"], "preview");
    assert_eq!(row(&r, "CCBot")["verified"], 1);
    // The SLCC1 Internet Explorer line is a browser.
    assert_eq!(row(&r, "(browsers)")["requests"], 5);
    assert_eq!(row(&r, "(no user-agent)")["requests"], 2);
    let u = row(&r, "ExampleResearchBot");
    assert_eq!(u["class"], "unknown-bot");
    assert_eq!(u["catalogued"], false);
}

#[test]
fn reverse_dns_only_agents_are_reported_as_not_checked_offline() {
    let log = repo("examples/access.log");
    let r = scan_json(&[log.to_str().unwrap()]);
    let b = row(&r, "Baiduspider");
    assert_eq!(b["class"], "search");
    assert_eq!(b["unverified"], 1);
    assert_eq!(b["not_checked"], 1);
    assert_eq!(row(&r, "Bytespider")["not_checked"], 0);
}

#[test]
fn classes_and_operators_roll_up_the_agent_rows() {
    let log = repo("examples/access.log");
    let r = scan_json(&[log.to_str().unwrap()]);
    assert_eq!(
        r["classes"]["ai-training"]["agents"],
        serde_json::json!(["GPTBot", "Bytespider", "ClaudeBot", "CCBot"])
    );
    assert_eq!(r["operators"]["OpenAI"]["requests"], 6);
    assert_eq!(r["operators"]["OpenAI"]["verified"], 4);
    assert_eq!(r["operators"]["OpenAI"]["spoofed"], 2);
    let total: u64 = r["classes"]
        .as_object()
        .unwrap()
        .values()
        .map(|c| c["requests"].as_u64().unwrap())
        .sum();
    assert_eq!(total, 29);
}

#[test]
fn gzip_and_stdin_inputs_give_the_same_report_as_plain() {
    let log = repo("examples/access.log");
    let plain = scan_json(&[log.to_str().unwrap()]);
    let dir = tempfile::tempdir().unwrap();
    let gz = dir.path().join("access.log.gz");
    let data = std::fs::read(&log).unwrap();
    let mut enc = flate2::write::GzEncoder::new(
        std::fs::File::create(&gz).unwrap(),
        flate2::Compression::default(),
    );
    enc.write_all(&data).unwrap();
    enc.finish().unwrap();
    let zipped = scan_json(&[gz.to_str().unwrap()]);
    assert_eq!(plain["agents"], zipped["agents"]);
    let out = Command::cargo_bin("tollgate")
        .unwrap()
        .args(["scan", "--format", "json", "-"])
        .write_stdin(data)
        .output()
        .unwrap();
    let stdin: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(plain["agents"], stdin["agents"]);
}

#[test]
fn unreadable_input_is_reported_and_the_rest_still_counted() {
    let log = repo("examples/access.log");
    let out = Command::cargo_bin("tollgate")
        .unwrap()
        .args([
            "scan",
            "--format",
            "json",
            "/nonexistent/access.log",
            log.to_str().unwrap(),
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("/nonexistent/access.log"), "{stderr}");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["parsed"], 29);
}

#[test]
fn bad_price_is_rejected_with_the_reason() {
    let out = Command::cargo_bin("tollgate")
        .unwrap()
        .args(["scan", "--price", "0.002", "x.log"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("expected a price like `USD 0.002`"),
        "{stderr}"
    );
}

#[test]
fn csv_has_one_line_per_row_plus_header() {
    let log = repo("examples/access.log");
    let out = Command::cargo_bin("tollgate")
        .unwrap()
        .args(["scan", "--format", "csv", log.to_str().unwrap()])
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let mut rdr = csv::Reader::from_reader(text.as_bytes());
    let rows: Vec<csv::StringRecord> = rdr.records().map(|r| r.unwrap()).collect();
    assert_eq!(rows.len(), 15);
    let gpt = rows.iter().find(|r| &r[0] == "GPTBot").unwrap();
    assert_eq!(&gpt[2], "ai-training");
    assert_eq!(&gpt[4], "5");
    assert_eq!(&gpt[14], "200:4 404:1");
}

#[test]
fn a_non_ascii_letter_before_a_bot_name_is_counted_not_a_crash() {
    // Regression: the unknown-bot name was sliced inside a UTF-8 character; the worker died and
    // its counts vanished.
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("u.log");
    std::fs::write(
        &log,
        "1.2.3.4 - - [10/Oct/2024:13:55:36 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"Mozilla/5.0 (compatible; \u{dc}berBot/1.0)\"\n",
    )
    .unwrap();
    let r = scan_json(&[log.to_str().unwrap()]);
    assert_eq!(r["parsed"], 1);
    assert_eq!(row(&r, "\u{dc}berBot")["requests"], 1);
}

#[test]
fn when_no_input_can_be_read_no_empty_report_is_printed() {
    let out = Command::cargo_bin("tollgate")
        .unwrap()
        .args(["scan", "/nonexistent/a.log", "/nonexistent/b.log"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("/nonexistent/a.log") && stderr.contains("/nonexistent/b.log"),
        "{stderr}"
    );
}

#[test]
fn thread_counts_beyond_256_are_a_usage_error() {
    let out = Command::cargo_bin("tollgate")
        .unwrap()
        .args(["scan", "--threads", "20000", "x.log"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn malformed_lines_are_reported_on_stderr_with_json_output() {
    let log = repo("examples/access.log");
    let out = Command::cargo_bin("tollgate")
        .unwrap()
        .args(["scan", "--format", "json", log.to_str().unwrap()])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("access.log:29: byte 35: missing '[' before time"),
        "{stderr}"
    );
}
