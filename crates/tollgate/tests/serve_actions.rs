//! The `tarpit` and `limit` actions of `tollgate serve`, and a Unix-socket origin (real nginx).

#![allow(clippy::unwrap_used)] // test helpers: a failed unwrap is a failed test

mod support;

use std::time::{Duration, Instant};

use support::*;

fn config(tarpit: &str) -> String {
    format!(
        r#"
[server]
listen = "127.0.0.1:{{port}}"
origin = "{{origin}}"

[server.tarpit]
{tarpit}

[[rule]]
name = "tarpit-unknown-bots"
when = {{ class = "unknown-bot" }}
action = "tarpit"

[[rule]]
name = "limit-tools"
when = {{ class = "tool" }}
action = "limit"
limit = {{ per_second = 0.001, burst = 3, key = "agent" }}
"#
    )
}

const BOT: &str = "Mozilla/5.0 (compatible; ExampleResearchBot/0.3; +https://research.example/bot)";

fn site() -> (tempfile::TempDir, String) {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("index.html"), "hi\n").unwrap();
    let origin = format!("dir:{}", d.path().display());
    (d, origin)
}

#[test]
fn a_tarpitted_client_gets_a_slow_trickle_and_the_budget_is_global() {
    let (_d, origin) = site();
    let tg = tollgate(
        &config("enabled = true\nmax_concurrent = 1\nbytes_per_second = 4\nduration_secs = 2"),
        &origin,
        &[],
    );
    let url = tg.url("/");
    let first = std::thread::spawn(move || {
        let t = Instant::now();
        let r = get(&url, &[("user-agent", BOT)]);
        (r, t.elapsed())
    });
    std::thread::sleep(Duration::from_millis(500));
    // The one tarpit slot is taken: the next one is told to come back, at once.
    let second = get(&tg.url("/"), &[("user-agent", BOT)]);
    assert_eq!(second.status, 429);
    assert_eq!(second.header("retry-after"), Some("2"));
    let (r, took) = first.join().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "        "); // 2 s × 4 bytes of spaces
    assert!(took >= Duration::from_millis(1500), "{took:?}");
}

#[test]
fn the_tarpit_kill_switch_answers_429_at_once() {
    let (_d, origin) = site();
    let tg = tollgate(&config("enabled = false"), &origin, &[]);
    let r = get(&tg.url("/"), &[("user-agent", BOT)]);
    assert_eq!(r.status, 429);
    assert!(r.body.contains("rule: tarpit-unknown-bots"), "{}", r.body);
}

#[test]
fn a_limit_keyed_per_agent_counts_every_address_of_that_agent() {
    let (_d, origin) = site();
    let tg = tollgate(&config("enabled = true"), &origin, &[]);
    for _ in 0..3 {
        assert_eq!(
            get(&tg.url("/"), &[("user-agent", "curl/8.5.0")]).status,
            200
        );
    }
    let r = get(&tg.url("/"), &[("user-agent", "curl/8.5.0")]);
    assert_eq!(r.status, 429);
    assert!(r.header("retry-after").is_some());
    // Another tool has its own bucket.
    assert_eq!(
        get(&tg.url("/"), &[("user-agent", "Wget/1.21.4")]).status,
        200
    );
}

#[test]
fn a_unix_socket_origin_is_proxied() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("index.html"), "via unix socket\n").unwrap();
    // nginx listens on TCP (for the helper's readiness check) and on a Unix socket.
    let server = "server {\n  listen 127.0.0.1:{port};\n  listen unix:{dir}/origin.sock;\n  root {root};\n}\n";
    let Some(n) = nginx(server, root.path()) else {
        return;
    };
    let sock = n.dir.path().join("origin.sock");
    let tg = tollgate(
        &config("enabled = true"),
        &format!("unix:{}", sock.display()),
        &[],
    );
    let r = get(&tg.url("/"), &[("user-agent", FIREFOX)]);
    assert_eq!(r.status, 200);
    assert_eq!(r.body, "via unix socket\n");
}

/// Reads from `s` until the peer closes it (or `limit` passes); the bytes and the time taken.
fn read_until_closed(s: &mut std::net::TcpStream, limit: Duration) -> (Vec<u8>, Duration) {
    use std::io::Read;
    s.set_read_timeout(Some(limit)).unwrap();
    let t = Instant::now();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    (out, t.elapsed())
}

/// A connection to `tg`, with `sent` written.
fn connect(tg: &Tollgate, sent: &[u8]) -> std::net::TcpStream {
    use std::io::Write;
    let mut s = std::net::TcpStream::connect(("127.0.0.1", tg.port)).unwrap();
    s.write_all(sent).unwrap();
    s
}

/// A dir-origin config with `client_idle_timeout_secs = secs`.
fn idle_config(secs: u64) -> String {
    format!("[server]\nlisten = \"127.0.0.1:{{port}}\"\norigin = \"{{origin}}\"\nclient_idle_timeout_secs = {secs}\n")
}

/// [`config`] with a tarpit trickling 4 bytes a second for `secs` seconds to one client at a
/// time, on connections whose idle limit is 1 s.
fn tarpit_with_idle_limit(secs: u64) -> String {
    config(&format!(
        "enabled = true\nmax_concurrent = 1\nbytes_per_second = 4\nduration_secs = {secs}"
    ))
    .replace(
        "[server.tarpit]",
        "client_idle_timeout_secs = 1\n\n[server.tarpit]",
    )
}

/// A keep-alive `GET /` as `ua` sends it.
fn get_root(ua: &str) -> String {
    format!("GET / HTTP/1.1\r\nHost: example.org\r\nUser-Agent: {ua}\r\n\r\n")
}

#[test]
fn silent_slow_or_idle_clients_are_disconnected_after_the_client_idle_timeout() {
    use std::io::Write;
    let (_d, origin) = site();
    let tg = tollgate(&idle_config(1), &origin, &[]);
    // Nothing at all; half an HTTP/2 preface (still being sniffed); half a request head: each
    // closed unanswered after one to two periods (plus the 2 s shutdown grace for the last).
    for sent in [
        &b""[..],
        b"PRI * HTTP/2.0\r\n",
        b"GET / HTTP/1.1\r\nHost: example.org\r\n",
    ] {
        let (out, took) = read_until_closed(&mut connect(&tg, sent), Duration::from_secs(10));
        let what = String::from_utf8_lossy(sent);
        assert!(
            took >= Duration::from_millis(900) && took < Duration::from_secs(6),
            "{what:?}: closed after {took:?}"
        );
        assert_eq!(String::from_utf8_lossy(&out), "", "{what:?}");
    }
    // A head trickled a byte every 300 ms never finishes a request: closed all the same.
    let mut s = connect(&tg, b"");
    let t = Instant::now();
    let closed = b"GET / HTTP/1.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        .iter()
        .any(|b| {
            std::thread::sleep(Duration::from_millis(300));
            s.write_all(&[*b]).is_err()
        });
    assert!(
        closed,
        "a trickled head kept the connection {:?}",
        t.elapsed()
    );
    assert!(t.elapsed() < Duration::from_secs(6), "{:?}", t.elapsed());
    // A whole request is answered; the idle keep-alive connection is then closed the same way.
    let request = get_root(FIREFOX);
    let (out, took) = read_until_closed(
        &mut connect(&tg, request.as_bytes()),
        Duration::from_secs(10),
    );
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    assert!(out.ends_with("\r\n\r\nhi\n"), "{out}");
    assert!(
        took < Duration::from_secs(6),
        "idle connection kept {took:?}"
    );
}

#[test]
fn an_idle_h2c_connection_is_sent_goaway_and_closed() {
    let (_d, origin) = site();
    let tg = tollgate(&idle_config(1), &origin, &[]);
    // The client preface and an empty SETTINGS frame (RFC 9113 §3.4), then nothing.
    let mut sent = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    sent.extend_from_slice(&[0, 0, 0, 4, 0, 0, 0, 0, 0]);
    let (out, took) = read_until_closed(&mut connect(&tg, &sent), Duration::from_secs(10));
    assert!(
        took < Duration::from_secs(6),
        "idle h2c connection kept {took:?}"
    );
    // Frames: the server's SETTINGS, the ACK of ours, and a GOAWAY (type 7) before the close.
    let mut frames = Vec::new();
    let mut rest = &out[..];
    while rest.len() >= 9 {
        let len = (usize::from(rest[0]) << 16) | (usize::from(rest[1]) << 8) | usize::from(rest[2]);
        frames.push(rest[3]);
        rest = &rest[(9 + len).min(rest.len())..];
    }
    assert!(frames.contains(&7), "frame types {frames:?}");
}

#[test]
fn without_a_client_idle_timeout_an_idle_connection_stays_open() {
    use std::io::Write;
    let (_d, origin) = site();
    let tg = tollgate(&idle_config(0), &origin, &[]);
    let mut s = connect(&tg, b"GET / HTTP/1.1\r\nHost: example.org\r\n");
    let (out, took) = read_until_closed(&mut s, Duration::from_millis(2500));
    // Still open when the read gave up: nothing was read and the connection was not closed.
    assert!(took >= Duration::from_millis(2400), "closed after {took:?}");
    assert_eq!(String::from_utf8_lossy(&out), "");
    // The rest of the head, late, is still answered.
    s.write_all(format!("User-Agent: {FIREFOX}\r\nConnection: close\r\n\r\n").as_bytes())
        .unwrap();
    let (out, _) = read_until_closed(&mut s, Duration::from_secs(10));
    assert!(String::from_utf8_lossy(&out).starts_with("HTTP/1.1 200 OK\r\n"));
}

#[test]
fn a_response_still_streaming_is_not_cut_by_the_client_idle_timeout() {
    let (_d, origin) = site();
    // A 5 s tarpit trickle (4 bytes a second) on a connection whose idle limit is 1 s: longer
    // than two periods and the shutdown grace together.
    let config = tarpit_with_idle_limit(5);
    let tg = tollgate(&config, &origin, &[]);
    let request = get_root(BOT);
    let (out, took) = read_until_closed(
        &mut connect(&tg, request.as_bytes()),
        Duration::from_secs(15),
    );
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out}");
    // Chunked: five 4-byte chunks of spaces and the last chunk, all delivered.
    assert!(out.ends_with("4\r\n    \r\n0\r\n\r\n"), "{out:?}");
    assert_eq!(out.matches("4\r\n    \r\n").count(), 5, "{out:?}");
    assert!(took >= Duration::from_millis(4500), "{took:?}");
}

#[test]
fn after_a_response_longer_than_the_idle_limit_the_next_request_is_still_answered() {
    use std::io::{Read, Write};
    let (_d, origin) = site();
    let config = tarpit_with_idle_limit(3);
    let tg = tollgate(&config, &origin, &[]);
    let mut s = connect(&tg, get_root(BOT).as_bytes());
    s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
    // Read the 3 s trickle to its last chunk, keeping the connection.
    let mut got = Vec::new();
    let mut buf = [0u8; 256];
    while !got.ends_with(b"0\r\n\r\n") {
        let n = s.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "closed during the trickle: {:?}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    // At once, the next request on the same connection: the idle clock started again when the
    // response ended, so it is answered.
    s.write_all(
        format!("GET / HTTP/1.1\r\nHost: example.org\r\nUser-Agent: {FIREFOX}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    )
    .unwrap();
    let (out, _) = read_until_closed(&mut s, Duration::from_secs(10));
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("HTTP/1.1 200 OK\r\n"), "{out:?}");
    assert!(out.ends_with("\r\n\r\nhi\n"), "{out:?}");
}

#[test]
fn a_dir_origin_answers_404_for_a_name_too_long_to_be_a_file() {
    let (_d, origin) = site();
    let tg = tollgate(
        "[server]\nlisten = \"127.0.0.1:{port}\"\norigin = \"{origin}\"\n",
        &origin,
        &[],
    );
    for (path, want) in [
        (format!("/{}", "p".repeat(255)), 404),
        (format!("/{}", "p".repeat(256)), 404),
        (format!("/{}/x", "p".repeat(4000)), 404),
        ("/".to_string(), 200),
    ] {
        let r = get(&tg.url(&path), &[("user-agent", FIREFOX)]);
        assert_eq!(r.status, want, "{} bytes", path.len());
    }
}

#[test]
fn a_dir_origin_never_redirects_to_another_host_for_leading_slashes() {
    let (d, origin) = site();
    std::fs::create_dir(d.path().join("articles")).unwrap();
    std::fs::write(d.path().join("articles/index.html"), "list\n").unwrap();
    let tg = tollgate(
        "[server]\nlisten = \"127.0.0.1:{port}\"\norigin = \"{origin}\"\n",
        &origin,
        &[],
    );
    // ServeDir redirects a directory without its slash; `//articles` must not become the
    // network-path reference `//articles/` (the host `articles`).
    for (path, location) in [
        ("/articles", "/articles/"),
        ("//articles", "/articles/"),
        ("///articles?x=1", "/articles/?x=1"),
    ] {
        let resp = raw(
            tg.port,
            format!("GET {path} HTTP/1.1\r\nHost: example.org\r\nUser-Agent: {FIREFOX}\r\nConnection: close\r\n\r\n"),
        );
        assert!(resp.starts_with("HTTP/1.1 307"), "{path}: {resp}");
        assert!(
            resp.to_ascii_lowercase()
                .contains(&format!("\r\nlocation: {location}\r\n")),
            "{path}: {resp}"
        );
    }
    let r = get(&tg.url("//articles/"), &[("user-agent", FIREFOX)]);
    assert_eq!((r.status, r.body.as_str()), (200, "list\n"));
}

#[test]
fn an_http_1_0_origin_is_answered_to_the_client_in_http_1_1_on_a_kept_connection() {
    use std::io::{BufRead, BufReader, Read, Write};
    // A one-connection-per-request HTTP/1.0 origin, as `python3 -m http.server` is.
    let origin = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = origin.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for conn in origin.incoming() {
            let Ok(mut c) = conn else { return };
            let mut r = BufReader::new(c.try_clone().unwrap());
            let mut line = String::new();
            while r.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let _ = c.write_all(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nold\n");
        }
    });
    let tg = tollgate(
        "[server]\nlisten = \"127.0.0.1:{port}\"\norigin = \"{origin}\"\n",
        &format!("http://127.0.0.1:{port}"),
        &[],
    );
    let mut s = std::net::TcpStream::connect(("127.0.0.1", tg.port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let req = format!("GET / HTTP/1.1\r\nHost: example.org\r\nUser-Agent: {FIREFOX}\r\n\r\n");
    // Two requests on one connection: the first answer kept it open.
    for _ in 0..2 {
        s.write_all(req.as_bytes()).unwrap();
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut b = [0u8; 1];
            s.read_exact(&mut b).unwrap();
            head.push(b[0]);
        }
        let head = String::from_utf8(head).unwrap();
        assert!(head.starts_with("HTTP/1.1 200 OK\r\n"), "{head}");
        // The origin's close-delimited body, framed for HTTP/1.1 as chunks.
        assert!(
            head.contains("\r\ntransfer-encoding: chunked\r\n"),
            "{head}"
        );
        let mut body = [0u8; 14];
        s.read_exact(&mut body).unwrap();
        assert_eq!(&body, b"4\r\nold\n\r\n0\r\n\r\n");
    }
}

#[test]
fn a_header_rule_sees_every_copy_of_a_repeated_header() {
    let (_d, origin) = site();
    let tg = tollgate(
        "[server]\nlisten = \"127.0.0.1:{port}\"\norigin = \"{origin}\"\n\n\
         [[rule]]\nname = \"no-admin-role\"\nwhen = { header = { \"x-role\" = \"admin\" } }\naction = \"deny\"\n\n\
         [[rule]]\nname = \"no-debug\"\nwhen = { header = { \"x-debug\" = \"*\" } }\naction = \"deny\"\n",
        &origin,
        &[],
    );
    let send = |extra: &str| {
        let resp = raw(
            tg.port,
            format!("GET / HTTP/1.1\r\nHost: example.org\r\nUser-Agent: {FIREFOX}\r\n{extra}Connection: close\r\n\r\n"),
        );
        resp[9..12].to_string()
    };
    assert_eq!(send(""), "200");
    assert_eq!(send("X-Role: user\r\n"), "200");
    assert_eq!(send("X-Role: Admin\r\n"), "403");
    // A harmless first copy does not hide the second.
    assert_eq!(send("X-Role: user\r\nX-Role: admin\r\n"), "403");
    assert_eq!(send("X-Debug: 1\r\n"), "403");
}
