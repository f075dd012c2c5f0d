//! Reloading `tollgate serve`'s config: SIGHUP and `--watch` swap a good config in atomically; a
//! broken one is rejected with file:line and the old policy stays.

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod support;

use std::time::{Duration, Instant};

use support::*;

fn config(action: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:{{port}}"
origin = "{{origin}}"

[[rule]]
name = "browsers"
when = {{ class = "browser" }}
action = "{action}"
"#
    )
}

fn status(tg: &Tollgate) -> u16 {
    get(&tg.url("/"), &[("user-agent", FIREFOX)]).status
}

fn wait_for(tg: &Tollgate, want: u16) -> u16 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let s = status(tg);
        if s == want || Instant::now() > deadline {
            return s;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn hup(tg: &Tollgate) {
    let ok = std::process::Command::new("kill")
        .args(["-HUP", &tg.proc.0.id().to_string()])
        .status()
        .unwrap()
        .success();
    assert!(ok);
}

#[test]
fn sighup_swaps_a_good_config_and_keeps_the_old_one_on_a_bad_one() {
    let site = tempfile::tempdir().unwrap();
    std::fs::write(site.path().join("index.html"), "hi\n").unwrap();
    let origin = format!("dir:{}", site.path().display());
    let tg = tollgate(&config("allow"), &origin, &[]);
    assert_eq!(status(&tg), 200);
    let path = tg.dir.path().join("tollgate.toml");
    let write = |action: &str| {
        let text = config(action)
            .replace("{port}", &tg.port.to_string())
            .replace("{origin}", &origin);
        std::fs::write(&path, text).unwrap();
    };
    write("deny");
    hup(&tg);
    assert_eq!(wait_for(&tg, 403), 403);
    // A broken config: rejected, the deny policy stays, and the log names file and line.
    write("explode");
    hup(&tg);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !tg.stderr().contains("config rejected") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(100));
    }
    let log = tg.stderr();
    assert!(log.contains("config rejected; the old one stays"), "{log}");
    assert!(
        log.contains("tollgate.toml:9: unknown variant `explode`"),
        "{log}"
    );
    assert_eq!(status(&tg), 403);
}

#[test]
fn watch_reloads_when_the_file_changes() {
    let site = tempfile::tempdir().unwrap();
    std::fs::write(site.path().join("index.html"), "hi\n").unwrap();
    let origin = format!("dir:{}", site.path().display());
    let tg = tollgate(&config("allow"), &origin, &["--watch"]);
    assert_eq!(status(&tg), 200);
    let text = config("deny")
        .replace("{port}", &tg.port.to_string())
        .replace("{origin}", &origin);
    // mtime granularity: make sure the new write is seen as a change.
    std::thread::sleep(Duration::from_millis(1100));
    std::fs::write(tg.dir.path().join("tollgate.toml"), text).unwrap();
    assert_eq!(wait_for(&tg, 403), 403);
}
