//! `tollgate ranges update` against a real HTTP server on loopback: good files replace the old
//! ones, every kind of failure (bad JSON, 404, oversize, timeout) keeps the old file, and a scan
//! then verifies against the fresh ranges.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::time::Duration;

use assert_cmd::Command;

const GOOD: &str = r#"{"creationTime": "2026-11-29T00:00:00Z", "prefixes": [{"ipv4Prefix": "198.18.0.0/24"}, {"ipv4Prefix": "198.18.1.0/24"}, {"ipv6Prefix": "2001:db8:77::/48"}]}"#;

fn respond(mut s: TcpStream) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 1024];
    while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
        match s.read(&mut chunk) {
            Ok(0) | Err(_) => return,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
        }
    }
    let head = String::from_utf8_lossy(&buf);
    let path = head.split_whitespace().nth(1).unwrap_or("/").to_string();
    let (status, body) = match path.as_str() {
        "/good.json" => ("200 OK", GOOD.to_string()),
        "/bad.json" => ("200 OK", "{\"prefixes\": [".to_string()),
        "/big.json" => (
            "200 OK",
            format!("{{\"prefixes\": [], \"pad\": \"{}\"}}", "x".repeat(5000)),
        ),
        "/slow.json" => {
            std::thread::sleep(Duration::from_secs(4));
            ("200 OK", GOOD.to_string())
        }
        _ => ("404 Not Found", "not found".to_string()),
    };
    let _ = write!(
        s,
        "HTTP/1.1 {status}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
}

fn serve() -> String {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    std::thread::spawn(move || {
        for s in l.incoming().flatten() {
            std::thread::spawn(move || respond(s));
        }
    });
    format!("http://{addr}")
}

/// The shipped sources.toml with some URLs pointed at the local server.
fn sources_with(base: &str, map: &[(&str, &str)]) -> String {
    let shipped = std::fs::read_to_string(repo("data/ipranges/sources.toml")).unwrap();
    let mut out = String::new();
    let mut current = String::new();
    for line in shipped.lines() {
        if let Some(n) = line.strip_prefix("name = ") {
            current = n.trim_matches('"').to_string();
        }
        match (
            line.starts_with("url = "),
            map.iter().find(|(n, _)| *n == current),
        ) {
            (true, Some((_, p))) => out.push_str(&format!("url = \"{base}{p}\"\n")),
            _ => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

fn repo(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .join(p)
}

fn tollgate(args: &[&str], dir: &Path) -> std::process::Output {
    Command::cargo_bin("tollgate")
        .unwrap()
        .args(args)
        .arg("--data-dir")
        .arg(dir)
        .output()
        .unwrap()
}

#[test]
fn update_replaces_good_files_and_keeps_old_ones_on_any_failure() {
    let base = serve();
    let dir = tempfile::tempdir().unwrap();
    let ranges = dir.path().join("ipranges");
    std::fs::create_dir_all(&ranges).unwrap();
    let map = [
        ("openai-gptbot", "/good.json"),
        ("openai-searchbot", "/bad.json"),
        ("openai-chatgpt-user", "/missing.json"),
        ("bing-bingbot", "/big.json"),
        ("apple-applebot", "/slow.json"),
    ];
    std::fs::write(ranges.join("sources.toml"), sources_with(&base, &map)).unwrap();
    let old = r#"{"creationTime": "old", "prefixes": [{"ipv4Prefix": "192.0.2.0/24"}]}"#;
    std::fs::write(ranges.join("openai-searchbot.json"), old).unwrap();

    let only: Vec<&str> = map.iter().flat_map(|(n, _)| ["--only", *n]).collect();
    let mut args = vec![
        "ranges",
        "update",
        "--timeout-secs",
        "1",
        "--max-bytes",
        "2000",
    ];
    args.extend(only);
    let out = tollgate(&args, dir.path());
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("updated openai-gptbot.json: openai-gptbot 2+1"),
        "{stdout}"
    );
    for file in [
        "openai-searchbot.json",
        "openai-chatgpt-user.json",
        "bing-bingbot.json",
        "apple-applebot.json",
    ] {
        assert!(
            stderr.contains(&format!("not updated {file}")),
            "{file}: {stderr}"
        );
    }
    assert!(
        stderr.contains("not updated openai-searchbot.json (kept the previous download)"),
        "{stderr}"
    );
    assert!(
        stderr.contains("not updated openai-chatgpt-user.json (still using the embedded copy)"),
        "{stderr}"
    );
    assert!(stderr.contains("1 of 5 files updated in "), "{stderr}");
    assert!(stderr.contains("larger than --max-bytes 2000"), "{stderr}");
    assert_eq!(
        std::fs::read_to_string(ranges.join("openai-gptbot.json")).unwrap(),
        GOOD
    );
    assert_eq!(
        std::fs::read_to_string(ranges.join("openai-searchbot.json")).unwrap(),
        old
    );
    assert!(!ranges.join("openai-chatgpt-user.json").exists());
    assert!(!ranges.join("bing-bingbot.json").exists());
    // No temporary files are left behind.
    let names: Vec<String> = std::fs::read_dir(&ranges)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with('.'))
        .collect();
    assert!(names.is_empty(), "{names:?}");

    // `ranges list` reads the fresh file from the data directory.
    let list = tollgate(&["ranges", "list"], dir.path());
    let text = String::from_utf8_lossy(&list.stdout);
    let line = text
        .lines()
        .find(|l| l.starts_with("openai-gptbot\t"))
        .unwrap();
    assert!(
        line.starts_with("openai-gptbot\t2 v4\t1 v6\t2026-11-29T00:00:00Z\tauthoritative\t"),
        "{line}"
    );
    assert!(line.ends_with("openai-gptbot.json"), "{line}");

    // A scan now verifies GPTBot against the fetched list: 198.18.1.9 is in no shipped list.
    let log = dir.path().join("a.log");
    let ua = "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)";
    std::fs::write(
        &log,
        format!(
            "198.18.1.9 - - [01/Nov/2026:09:00:00 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"{ua}\"\n\
             203.0.113.5 - - [01/Nov/2026:09:00:01 +0000] \"GET / HTTP/1.1\" 200 1 \"-\" \"{ua}\"\n"
        ),
    )
    .unwrap();
    let gptbot = |data_dir: &Path| {
        let scan = tollgate(
            &["scan", "--format", "json", log.to_str().unwrap()],
            data_dir,
        );
        let r: serde_json::Value = serde_json::from_slice(&scan.stdout).unwrap();
        let g = r["agents"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["agent"] == "GPTBot")
            .cloned()
            .unwrap();
        (
            g["verified"].as_u64().unwrap(),
            g["spoofed"].as_u64().unwrap(),
        )
    };
    assert_eq!(gptbot(dir.path()), (1, 1));
    let empty = tempfile::tempdir().unwrap();
    assert_eq!(
        gptbot(empty.path()),
        (0, 2),
        "with the shipped lists both are spoofed"
    );
}

#[test]
fn unknown_only_name_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let out = tollgate(&["ranges", "update", "--only", "nope"], dir.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("--only nope: no such source"));
}
