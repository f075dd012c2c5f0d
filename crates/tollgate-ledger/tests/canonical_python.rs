//! docs/ledger.md promises that a crawler can recompute an entry's hash with Python's
//! `json.dumps(fields, separators=(",", ":"), ensure_ascii=False)`. Check it with a real
//! python3 on fields full of characters that need escaping.

#![allow(clippy::unwrap_used)] // a failed unwrap is a failed test

use std::io::Write;
use std::process::{Command, Stdio};

use tollgate_ledger::{canonical_bytes, entry_hash, EntryKind, Money, UsageEvent, GENESIS_HASH};

const PY: &str = r#"
import hashlib, json, sys
fields = json.loads(sys.stdin.read())
print(hashlib.sha256(json.dumps(fields, separators=(",", ":"), ensure_ascii=False).encode()).hexdigest())
"#;

#[test]
fn python_json_dumps_recomputes_the_entry_hash() {
    let python = std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .any(|d| std::path::Path::new(d).join("python3").is_file());
    if !python {
        let msg =
            "\n\n!!!!!!!! SKIPPED: python3 is not installed; this test checks the documented \
                   Python recomputation of entry hashes. !!!!!!!!\n";
        if std::env::var("TOLLGATE_REQUIRE_EXTERNAL").as_deref() == Ok("1") {
            panic!("{msg}");
        }
        eprintln!("{msg}");
        return;
    }
    let ev = UsageEvent {
        time: 1_793_577_660_000,
        account: "acme-ai".into(),
        identity: "key:tg_ab12cd34".into(),
        agent: Some("Bot \"quoted\" \\ back\tslash".into()),
        method: "GET".into(),
        url: "https://example.org/é/日本/😀?a=1&b=</script>\u{1}\u{7f}\n".into(),
        status: 200,
        bytes: 5120,
        price: "USD 0.002".parse::<Money>().unwrap(),
        rule: None,
        request_id: "req-1".into(),
    };
    let prev = "ab".repeat(32);
    for (id, kind, prev) in [
        (1, EntryKind::Charge, GENESIS_HASH),
        (42, EntryKind::Unpaid, prev.as_str()),
    ] {
        let mut child = Command::new("python3")
            .args(["-c", PY])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(&canonical_bytes(id, kind, &ev, prev))
            .unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success());
        assert_eq!(
            String::from_utf8(out.stdout).unwrap().trim(),
            entry_hash(id, kind, &ev, prev)
        );
    }
}
