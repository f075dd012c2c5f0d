//! Property tests: no input bytes make a parser panic, and chunking preserves the input.

#![allow(clippy::unwrap_used)] // test code (helpers and proptest! bodies are not #[test] fns)

use proptest::prelude::*;
use tollgate_logs::{detect_format, ChunkReader, LogFormat, NginxFormat};

const VALID: &[u8] = br#"2001:db8::1 - - [01/Feb/2024:00:00:08 +0500] "GET /a\x22b HTTP/1.1" 200 123 "-" "Mozilla/5.0 \"x\"""#;
const JSON: &[u8] = br#"{"ts":1706727608.5,"request":{"client_ip":"192.0.2.1","method":"GET","uri":"/","headers":{"User-Agent":["x"]}},"status":200,"size":5,"time_local":"01/Feb/2024:00:00:08 +0500"}"#;

fn formats() -> Vec<LogFormat> {
    let mut v = vec![LogFormat::Combined, LogFormat::Common, LogFormat::JsonLines];
    for spec in [
        "combined",
        "common",
        r#"$host $remote_addr [$time_iso8601] "$request_method $request_uri $server_protocol" $status $bytes_sent "$http_x_forwarded_for" $msec $uri?$args ${http_user_agent}"#,
        "$status",
        "[$time_local]",
    ] {
        v.push(LogFormat::Nginx(NginxFormat::compile(spec).unwrap()));
    }
    v
}

/// A line built from fragments that matter to the grammars.
fn fragments() -> impl Strategy<Value = Vec<u8>> {
    let frag = prop_oneof![
        Just(&b" "[..]),
        Just(&b"\""[..]),
        Just(&b"\\"[..]),
        Just(&b"["[..]),
        Just(&b"]"[..]),
        Just(&b"-"[..]),
        Just(&b"200"[..]),
        Just(&b"01/Feb/2024:00:00:08 +0500"[..]),
        Just(&b"2024-02-01T00:00:08+05:00"[..]),
        Just(&b"GET / HTTP/1.1"[..]),
        Just(&b"\xff\xfe"[..]),
        Just(&b"{\"status\":"[..]),
        Just(&b"}"[..]),
        Just(&b"1.2.3.4"[..]),
        Just(&b"\\x22"[..]),
    ];
    proptest::collection::vec(frag, 0..24).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: 1000,
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_bytes_never_panic(line in proptest::collection::vec(any::<u8>(), 0..300)) {
        for f in formats() {
            let _ = f.parse_line(&line);
        }
        let _ = detect_format(&[&line]);
    }

    #[test]
    fn fragment_soup_never_panics(line in fragments()) {
        for f in formats() {
            let _ = f.parse_line(&line);
        }
    }

    #[test]
    fn mutated_valid_lines_never_panic(
        which in 0usize..2,
        cut in 0usize..400,
        pos in 0usize..400,
        byte in any::<u8>(),
    ) {
        let base = if which == 0 { VALID } else { JSON };
        let mut line = base.to_vec();
        let p = pos % line.len();
        line[p] = byte;
        line.truncate(cut.min(line.len()));
        for f in formats() {
            if let Err(e) = f.parse_line(&line) {
                prop_assert!(e.offset <= line.len(), "{e} beyond {}", line.len());
            }
        }
    }

    #[test]
    fn random_specs_never_panic(spec in "[$a-z_{}'\" \\[\\]\\\\;=]{0,40}", line in fragments()) {
        if let Ok(f) = NginxFormat::compile(&spec) {
            let _ = f.parse_line(&line);
        }
    }

    #[test]
    fn chunks_reassemble_and_number_lines(
        data in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'\r'), Just(b'a')], 0..400),
        size in 1usize..64,
    ) {
        let chunks: Vec<_> = ChunkReader::new("p", &data[..])
            .with_chunk_size(size)
            .collect::<std::io::Result<_>>()
            .unwrap();
        let joined: Vec<u8> = chunks.iter().flat_map(|c| c.data.iter().copied()).collect();
        prop_assert_eq!(&joined, &data);
        let got: Vec<(u64, Vec<u8>)> = chunks
            .iter()
            .flat_map(|c| c.lines().map(|(n, l)| (n, l.to_vec())).collect::<Vec<_>>())
            .collect();
        let want: Vec<(u64, Vec<u8>)> = data
            .split(|&b| b == b'\n')
            .enumerate()
            .map(|(i, l)| (i as u64 + 1, l.strip_suffix(b"\r").unwrap_or(l).to_vec()))
            .filter(|(_, l)| !l.is_empty())
            .collect();
        prop_assert_eq!(got, want);
    }
}
