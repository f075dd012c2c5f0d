//! Whole-line tests for every format. Lines are written by hand in the shape of real logs
//! (nginx and Apache combined, Caddy, Traefik, nginx `escape=json`); addresses use the
//! documentation ranges.

use std::borrow::Cow;

use crate::{detect_format, LogFormat, LogRecord, NginxFormat, ParseError};

fn combined(line: &str) -> LogRecord<'_> {
    LogFormat::Combined.parse_line(line.as_bytes()).unwrap()
}

fn err(f: &LogFormat, line: &str) -> ParseError {
    f.parse_line(line.as_bytes()).unwrap_err()
}

const T_2024_02_01: i64 = 1_706_727_608; // 01/Feb/2024:00:00:08 +0500

#[test]
fn combined_plain_line() {
    let line = r#"2001:db8:4000:a::73 - - [01/Feb/2024:00:00:08 +0500] "GET /laws/49/show?lang=en HTTP/1.1" 200 172422 "https://www.google.com/" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36""#;
    let r = combined(line);
    assert_eq!(
        r,
        LogRecord {
            client: "2001:db8:4000:a::73",
            time: Some(T_2024_02_01),
            method: "GET".into(),
            target: "/laws/49/show?lang=en".into(),
            protocol: "HTTP/1.1".into(),
            status: 200,
            bytes: 172_422,
            referer: "https://www.google.com/".into(),
            user_agent: "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36".into(),
            host: None,
        }
    );
    // Everything borrows from the line.
    assert!(matches!(r.target, Cow::Borrowed(_)));
    assert!(matches!(r.user_agent, Cow::Borrowed(_)));
}

#[test]
fn combined_apache_reference_example() {
    // The example from the Apache httpd mod_log_config / log file documentation.
    let line = r#"127.0.0.1 - frank [10/Oct/2000:13:55:36 -0700] "GET /apache_pb.gif HTTP/1.0" 200 2326 "http://www.example.com/start.html" "Mozilla/4.08 [en] (Win98; I ;Nav)""#;
    let r = combined(line);
    assert_eq!(r.client, "127.0.0.1");
    assert_eq!(r.time, Some(971_211_336));
    assert_eq!(
        (&*r.method, &*r.target, &*r.protocol),
        ("GET", "/apache_pb.gif", "HTTP/1.0")
    );
    assert_eq!((r.status, r.bytes), (200, 2326));
    assert_eq!(r.referer, "http://www.example.com/start.html");
    assert_eq!(r.user_agent, "Mozilla/4.08 [en] (Win98; I ;Nav)");
    // Common on the same text: stops after the size.
    let c = LogFormat::Common.parse_line(line.as_bytes()).unwrap();
    assert_eq!(
        (c.status, c.bytes, &*c.referer, &*c.user_agent),
        (200, 2326, "", "")
    );
}

#[test]
fn dashes_map_to_empty_and_zero() {
    let r = combined(
        r#"198.51.100.12 - - [29/Oct/2024:00:16:21 -0700] "GET / HTTP/1.0" 304 - "-" "-""#,
    );
    assert_eq!((r.status, r.bytes), (304, 0));
    assert_eq!((&*r.referer, &*r.user_agent), ("", ""));
    let r = combined(r#"- - - [29/Oct/2024:00:16:21 -0700] "-" 408 0 "-" "-""#);
    assert_eq!(r.client, "-");
    assert_eq!((&*r.method, &*r.target, &*r.protocol), ("", "-", ""));
}

#[test]
fn nginx_x22_escapes_are_kept_raw() {
    let line = r#"203.0.113.9 - - [31/Jul/2025:17:41:40 -0400] "GET /<IMG%20SRC=\x22javascript:alert(1);\x22>.asp HTTP/1.1" 404 9 "-" "Mozilla/5.0 OcIdWebView ({\x22os\x22:\x22Android\x22})""#;
    let r = combined(line);
    assert_eq!(r.method, "GET");
    assert_eq!(r.target, r"/<IMG%20SRC=\x22javascript:alert(1);\x22>.asp");
    assert_eq!(r.protocol, "HTTP/1.1");
    assert_eq!(
        r.user_agent,
        r"Mozilla/5.0 OcIdWebView ({\x22os\x22:\x22Android\x22})"
    );
    assert_eq!(
        crate::unescape(&r.user_agent),
        r#"Mozilla/5.0 OcIdWebView ({"os":"Android"})"#
    );
}

#[test]
fn apache_backslash_quote_does_not_end_the_field() {
    let line = r#"203.0.113.9 - - [31/Jul/2025:17:41:44 -0400] "GET /awstatstotals.php?sort=\"].phpinfo().exit().%24a[\" HTTP/1.1" 404 496 "-" "Mozilla/4.0 (compatible; \"quoted\")""#;
    let r = combined(line);
    assert_eq!(
        r.target,
        r#"/awstatstotals.php?sort=\"].phpinfo().exit().%24a[\""#
    );
    assert_eq!(r.status, 404);
    assert_eq!(r.user_agent, r#"Mozilla/4.0 (compatible; \"quoted\")"#);
    // An escaped backslash right before the closing quote.
    let r = combined(
        r#"192.0.2.1 - - [01/Feb/2024:00:00:08 +0500] "GET /a\\ HTTP/1.1" 200 1 "-" "ua\\""#,
    );
    assert_eq!(r.target, r"/a\\");
    assert_eq!(r.user_agent, r"ua\\");
}

#[test]
fn unescaped_quotes_and_trailing_backslash_fall_back() {
    // A server that does not escape: the request contains a bare `"`.
    let r = combined(
        r#"192.0.2.1 - - [01/Feb/2024:00:00:08 +0500] "GET /a"b HTTP/1.1" 200 1 "-" "curl/8""#,
    );
    assert_eq!(r.target, r#"/a"b"#);
    assert_eq!(r.user_agent, "curl/8");
    // A literal trailing backslash that is not an escape.
    let r = combined(r#"192.0.2.1 - - [01/Feb/2024:00:00:08 +0500] "GET /a\" 200 1 "-" "curl/8\""#);
    assert_eq!((&*r.method, &*r.target, &*r.protocol), ("GET", r"/a\", ""));
    assert_eq!(r.user_agent, r"curl/8\");
}

#[test]
fn garbage_request_lines_still_make_records() {
    let tls = r#"2001:db8:4000:690::ca - - [30/Jul/2025:16:45:22 -0400] "\x16\x03\x01\x02\x00\x01\x00\x01\xFC\x03\x03 \x22\xCC{W" 400 486 "-" "-""#;
    let r = combined(tls);
    assert_eq!(r.method, "");
    assert_eq!(
        r.target,
        r"\x16\x03\x01\x02\x00\x01\x00\x01\xFC\x03\x03 \x22\xCC{W"
    );
    assert_eq!((r.status, r.bytes), (400, 486));

    let r = combined(r#"192.0.2.1 - - [01/Feb/2024:00:00:08 +0500] "GET /" 200 5 "-" "-""#);
    assert_eq!((&*r.method, &*r.target, &*r.protocol), ("GET", "/", ""));

    let r = combined(
        r#"192.0.2.1 - - [01/Feb/2024:00:00:08 +0500] "GET /a b/c HTTP/1.1" 404 5 "-" "-""#,
    );
    assert_eq!(
        (&*r.method, &*r.target, &*r.protocol),
        ("GET", "/a b/c", "HTTP/1.1")
    );

    let r = combined(r#"192.0.2.1 - - [01/Feb/2024:00:00:08 +0500] "" 400 0 "-" "-""#);
    assert_eq!((&*r.method, &*r.target, &*r.protocol), ("", "", ""));

    let r = combined(
        r#"192.0.2.1 - - [01/Feb/2024:00:00:08 +0500] "MGLNDD_192.0.2.9_443" 400 0 "-" "-""#,
    );
    assert_eq!((&*r.method, &*r.target), ("", "MGLNDD_192.0.2.9_443"));
}

#[test]
fn extra_fields_and_odd_tokens() {
    // Fields after the user agent (request time, upstream, a quoted X-Forwarded-For) are ignored.
    let r = combined(
        r#"192.0.2.1 - - [01/Feb/2024:00:00:08 +0500] "GET / HTTP/2.0" 200 5 "-" "ua" "198.51.100.7" 0.003 rt=0.010"#,
    );
    assert_eq!((&*r.user_agent, r.status), ("ua", 200));
    // ident and authuser are arbitrary tokens; authuser may contain spaces.
    let r = combined(
        r#"192.0.2.1 ident-x john doe [01/Feb/2024:00:00:08 +0500] "GET / HTTP/1.1" 200 5 "-" "ua""#,
    );
    assert_eq!(r.client, "192.0.2.1");
    // A CRLF line ending is tolerated.
    let r = combined(
        "192.0.2.1 - - [01/Feb/2024:00:00:08 +0500] \"GET / HTTP/1.1\" 200 5 \"-\" \"ua\"\r",
    );
    assert_eq!(r.user_agent, "ua");
}

#[test]
fn non_utf8_bytes_are_lossy() {
    let line = b"192.0.2.1 - - [01/Feb/2024:00:00:08 +0500] \"GET /caf\xe9 HTTP/1.1\" 200 5 \"-\" \"Mozilla\xff\"";
    let r = LogFormat::Combined.parse_line(line).unwrap();
    assert_eq!(r.target, "/caf\u{fffd}");
    assert!(matches!(r.target, Cow::Owned(_)));
    assert_eq!(r.user_agent, "Mozilla\u{fffd}");
    assert!(matches!(r.method, Cow::Borrowed("GET")));
    // but a client address must be text
    let e = LogFormat::Combined
        .parse_line(
            b"192.0.2.\xff - - [01/Feb/2024:00:00:08 +0500] \"GET / HTTP/1.1\" 200 5 \"-\" \"-\"",
        )
        .unwrap_err();
    assert_eq!(e.offset, 0);
}

#[test]
fn broken_lines_report_offsets() {
    let c = LogFormat::Combined;
    let full = r#"192.0.2.1 - - [01/Feb/2024:00:00:08 +0500] "GET / HTTP/1.1" 200 5 "-" "ua""#;
    //          0         1         2         3         4         5         6         7
    //          0123456789012345678901234567890123456789012345678901234567890123456789012345
    assert!(c.parse_line(full.as_bytes()).is_ok());
    // truncated inside the user agent
    assert_eq!(
        err(&c, &full[..full.len() - 1]),
        ParseError::new(full.len() - 1, "unterminated user agent")
    );
    // truncated after the size: no referer
    assert_eq!(err(&c, &full[..65]).offset, 65);
    assert_eq!(
        err(&c, &full[..65]).reason,
        "truncated line: expected referer"
    );
    // Common accepts that
    assert!(LogFormat::Common.parse_line(&full.as_bytes()[..65]).is_ok());
    // truncated inside the request
    assert_eq!(err(&c, &full[..50]).offset, 50);
    // missing bracket
    assert_eq!(
        err(
            &c,
            "192.0.2.1 - - 01/Feb/2024:00:00:08 +0500 \"GET /\" 200 5"
        )
        .reason,
        "missing '[' before time"
    );
    assert_eq!(
        err(
            &c,
            "192.0.2.1 - - [01/Feb/2024:00:00:08 +0500 \"GET /\" 200 5"
        )
        .reason,
        "missing ']' after time"
    );
    // non-numeric status
    let e = err(
        &c,
        r#"192.0.2.1 - - [01/Feb/2024:00:00:08 +0500] "GET / HTTP/1.1" abc 5 "-" "ua""#,
    );
    assert_eq!(e.offset, 59);
    let e = err(
        &c,
        r#"192.0.2.1 - - [01/Feb/2024:00:00:08 +0500] "GET / HTTP/1.1" 2x0 5 "-" "ua""#,
    );
    assert_eq!(e, ParseError::new(60, "status is not a number"));
    // non-numeric size
    let e = err(
        &c,
        r#"192.0.2.1 - - [01/Feb/2024:00:00:08 +0500] "GET / HTTP/1.1" 200 x "-" "ua""#,
    );
    assert_eq!(e, ParseError::new(64, "bytes is not a number or '-'"));
    // bad time: month name at offset 18
    let e = err(
        &c,
        r#"192.0.2.1 - - [01/Fbr/2024:00:00:08 +0500] "GET / HTTP/1.1" 200 5 "-" "ua""#,
    );
    assert_eq!(e, ParseError::new(18, "unknown month name"));
    // missing ident/authuser
    assert_eq!(
        err(
            &c,
            r#"192.0.2.1 [01/Feb/2024:00:00:08 +0500] "GET /" 200 5 "-" "-""#
        )
        .offset,
        10
    );
    // empty and whitespace
    assert_eq!(err(&c, "").offset, 0);
    assert_eq!(err(&c, " x").offset, 0);
    assert!(err(&c, "garbage").to_string().contains("at byte 7"));
}

#[test]
fn detection() {
    let comb: &[u8] =
        br#"192.0.2.1 - - [01/Feb/2024:00:00:08 +0500] "GET / HTTP/1.1" 200 5 "-" "ua""#;
    let comm: &[u8] = br#"192.0.2.1 - - [01/Feb/2024:00:00:08 +0500] "GET / HTTP/1.1" 200 5"#;
    let json: &[u8] = br#"{"ts":1706727608.5,"status":200}"#;
    assert!(matches!(
        detect_format(&[b"", comb, comb]),
        Some(LogFormat::Combined)
    ));
    assert!(matches!(
        detect_format(&[comm, comm]),
        Some(LogFormat::Common)
    ));
    assert!(matches!(
        detect_format(&[b"  ", json]),
        Some(LogFormat::JsonLines)
    ));
    assert!(matches!(
        detect_format(&[comb, b"junk", comb]),
        Some(LogFormat::Combined)
    ));
    assert!(detect_format(&[b"junk", b"more junk"]).is_none());
    assert!(detect_format(&[]).is_none());
}

#[test]
fn caddy_json() {
    let line = r#"{"level":"info","ts":1706727608.9215,"logger":"http.log.access.log0","msg":"handled request","request":{"remote_ip":"192.0.2.10","remote_port":"51234","client_ip":"203.0.113.5","proto":"HTTP/2.0","method":"GET","host":"example.com","uri":"/feed.xml?x=1","headers":{"Accept":["*/*"],"User-Agent":["Mozilla/5.0 (compatible; GPTBot/1.2; +https://openai.com/gptbot)"],"Referer":["https://example.com/"]},"tls":{"resumed":false,"proto":"h2"}},"bytes_read":0,"user_id":"","duration":0.0012,"size":5120,"status":200,"resp_headers":{"Server":["Caddy"]}}"#;
    let r = LogFormat::JsonLines.parse_line(line.as_bytes()).unwrap();
    assert_eq!(
        r,
        LogRecord {
            client: "203.0.113.5",
            time: Some(T_2024_02_01),
            method: "GET".into(),
            target: "/feed.xml?x=1".into(),
            protocol: "HTTP/2.0".into(),
            status: 200,
            bytes: 5120,
            referer: "https://example.com/".into(),
            user_agent: "Mozilla/5.0 (compatible; GPTBot/1.2; +https://openai.com/gptbot)".into(),
            host: Some("example.com".into()),
        }
    );
    assert!(matches!(r.user_agent, Cow::Borrowed(_)));
    // Older Caddy: remote_addr with a port, no client_ip.
    let line = r#"{"ts":1706727608,"request":{"remote_addr":"[2001:db8::1]:443","method":"HEAD","uri":"/","headers":{}},"status":"301","size":0}"#;
    let r = LogFormat::JsonLines.parse_line(line.as_bytes()).unwrap();
    assert_eq!(
        (r.client, &*r.method, r.status, r.user_agent.as_ref()),
        ("2001:db8::1", "HEAD", 301, "")
    );
}

#[test]
fn traefik_json() {
    let line = r#"{"ClientAddr":"198.51.100.4:61234","ClientHost":"198.51.100.4","ClientPort":"61234","ClientUsername":"-","DownstreamContentSize":1234,"DownstreamStatus":404,"Duration":1200000,"OriginContentSize":1234,"OriginDuration":1100000,"OriginStatus":404,"RequestAddr":"example.org","RequestContentSize":0,"RequestCount":42,"RequestHost":"example.org","RequestMethod":"GET","RequestPath":"/wp-login.php?a=b","RequestPort":"-","RequestProtocol":"HTTP/1.1","RequestScheme":"https","RetryAttempts":0,"RouterName":"web@docker","StartLocal":"2024-02-01T00:00:08.123+05:00","StartUTC":"2024-01-31T19:00:08.123456789Z","entryPointName":"websecure","level":"info","msg":"","request_Referer":"-","request_User-Agent":"ClaudeBot/1.0; +claudebot@anthropic.com","time":"2024-02-01T00:00:08+05:00"}"#;
    let r = LogFormat::JsonLines.parse_line(line.as_bytes()).unwrap();
    assert_eq!(r.client, "198.51.100.4");
    assert_eq!(r.time, Some(T_2024_02_01));
    assert_eq!(
        (&*r.method, &*r.target, &*r.protocol),
        ("GET", "/wp-login.php?a=b", "HTTP/1.1")
    );
    assert_eq!((r.status, r.bytes), (404, 1234));
    assert_eq!(
        (&*r.referer, &*r.user_agent),
        ("", "ClaudeBot/1.0; +claudebot@anthropic.com")
    );
    assert_eq!(r.host.as_deref(), Some("example.org"));
}

#[test]
fn nginx_escape_json() {
    // log_format j escape=json '{"remote_addr":"$remote_addr","time_iso8601":"$time_iso8601",'
    //   '"request":"$request","status":"$status","body_bytes_sent":"$body_bytes_sent",'
    //   '"http_referer":"$http_referer","http_user_agent":"$http_user_agent","host":"$host"}';
    let line = r#"{"remote_addr":"192.0.2.44","time_iso8601":"2024-02-01T00:00:08+05:00","request":"GET /search?q=\"x\" HTTP/1.1","status":"200","body_bytes_sent":"512","http_referer":"","http_user_agent":"Mozilla/5.0 (compatible; PerplexityBot/1.0)","host":"example.net","http_host":"www.example.net"}"#;
    let r = LogFormat::JsonLines.parse_line(line.as_bytes()).unwrap();
    assert_eq!(r.client, "192.0.2.44");
    assert_eq!(r.time, Some(T_2024_02_01));
    assert_eq!(
        (&*r.method, &*r.target, &*r.protocol),
        ("GET", r#"/search?q="x""#, "HTTP/1.1")
    );
    assert_eq!((r.status, r.bytes), (200, 512));
    assert_eq!(r.referer, "");
    assert_eq!(r.host.as_deref(), Some("example.net"));

    // method + uri + args, time_local, msec, numbers unquoted, X-Forwarded-For only.
    let line = r#"{"http_x_forwarded_for":"203.0.113.7, 10.0.0.1","time_local":"01/Feb/2024:00:00:08 +0500","request_method":"POST","uri":"/api","args":"a=1","status":201,"bytes_sent":"900","body_bytes_sent":700}"#;
    let r = LogFormat::JsonLines.parse_line(line.as_bytes()).unwrap();
    assert_eq!(
        (r.client, &*r.method, &*r.target, r.status, r.bytes),
        ("203.0.113.7", "POST", "/api?a=1", 201, 700)
    );
    assert_eq!(r.time, Some(T_2024_02_01));
    let r = LogFormat::JsonLines
        .parse_line(br#"{"msec":"1706727608.123","request":"-"}"#)
        .unwrap();
    assert_eq!(
        (r.time, &*r.method, &*r.target, r.client),
        (Some(T_2024_02_01), "", "-", "-")
    );

    // Raw bytes >= 0x80 pass through nginx's JSON escaping: still a record.
    let r = LogFormat::JsonLines
        .parse_line(
            b"{\"remote_addr\":\"192.0.2.44\",\"http_user_agent\":\"bad\xff\",\"status\":200}",
        )
        .unwrap();
    assert_eq!(
        (r.client, &*r.user_agent, r.status),
        ("192.0.2.44", "bad\u{fffd}", 200)
    );
}

#[test]
fn detection_takes_the_format_most_sample_lines_parse_in() {
    let good =
        br#"203.0.113.9 - - [10/Oct/2024:13:55:36 +0000] "GET / HTTP/1.1" 200 5 "-" "curl/8.5.0""#;
    let mut sample: Vec<&[u8]> = vec![b"garbage 1", b"garbage 2", br#"{"a":1}"#];
    sample.extend(std::iter::repeat_n(&good[..], 5));
    assert_eq!(detect_format(&sample).map(|f| f.name()), Some("combined"));
    let only_garbage: Vec<&[u8]> = vec![b"garbage", b"more"];
    assert!(detect_format(&only_garbage).is_none());
}

#[test]
fn json_errors() {
    let j = LogFormat::JsonLines;
    assert_eq!(err(&j, r#"{"status":200"#).reason, "truncated JSON");
    assert_eq!(err(&j, r#"{"status":200,}"#).offset, 14);
    assert_eq!(err(&j, "[1,2]").reason, "expected a JSON object");
    assert_eq!(
        err(&j, r#"{"status":"OK"}"#).reason,
        "status is not a number"
    );
    assert_eq!(
        err(&j, r#"{"time_iso8601":"yesterday"}"#).reason,
        "invalid time"
    );
    assert_eq!(err(&j, r#"{"a":1} {"#).reason, "invalid JSON");
    assert_eq!(
        err(&j, r#"{"remote_addr":"1.2.3.\u0034","status":200}"#).reason,
        "client address contains JSON escapes"
    );
    // Objects that are not access-log records (other loggers in the same file) are malformed.
    for line in [
        "{}",
        r#"{"level":"info","logger":"tls","msg":"certificate obtained"}"#,
    ] {
        assert_eq!(
            err(&j, line).reason,
            "JSON object has no request fields (method, uri/request, status)"
        );
    }
    // a generic "time" key holding a duration is not a timestamp
    let r = j.parse_line(br#"{"time":"0.002","status":200}"#).unwrap();
    assert_eq!(r.time, None);
}

#[test]
fn nginx_format_combined_matches_builtin() {
    let f = LogFormat::Nginx(NginxFormat::compile("combined").unwrap());
    let lines = [
        r#"2001:db8:4000:a::73 - - [01/Feb/2024:00:00:08 +0500] "GET /laws/49/show HTTP/1.1" 200 172422 "https://www.google.com/" "Mozilla/5.0 (X11)""#,
        r#"203.0.113.9 - - [31/Jul/2025:17:41:40 -0400] "GET /<IMG%20SRC=\x22javascript:alert(1);\x22>.asp HTTP/1.1" 404 9 "-" "a \x22b\x22""#,
        r#"192.0.2.1 - - [01/Feb/2024:00:00:08 +0500] "\x16\x03\x01" 400 166 "-" "-""#,
        r#"192.0.2.1 - - [01/Feb/2024:00:00:08 +0500] "-" 408 0 "-" "-""#,
    ];
    for l in lines {
        assert_eq!(f.parse_line(l.as_bytes()).unwrap(), combined(l), "{l}");
    }
    let common = LogFormat::Nginx(NginxFormat::compile("common").unwrap());
    let line = r#"192.0.2.1 - - [01/Feb/2024:00:00:08 +0500] "GET / HTTP/1.1" 200 172422"#;
    let r = common.parse_line(line.as_bytes()).unwrap();
    assert_eq!(r, LogFormat::Common.parse_line(line.as_bytes()).unwrap());
    assert_eq!(
        (r.status, r.bytes, r.user_agent.as_ref()),
        (200, 172_422, "")
    );
    // A trailing variable runs to the end of the line, so extra text makes `$body_bytes_sent`
    // non-numeric (LogFormat::Common is the lenient choice for such logs).
    assert_eq!(
        common.parse_line(lines[0].as_bytes()).unwrap_err().offset,
        86
    );
}

#[test]
fn nginx_custom_format() {
    let spec = r#"log_format main '$host $remote_addr - $remote_user [$time_iso8601] "$request_method ${request_uri} $server_protocol" '
                    '$status $body_bytes_sent "$http_referer" "$http_user_agent" rt=$request_time "$http_x_forwarded_for"';"#;
    let f = LogFormat::Nginx(NginxFormat::compile(spec).unwrap());
    let line = r#"example.com 192.0.2.8 - alice [2024-02-01T00:00:08+05:00] "GET /a?b=c HTTP/2.0" 200 42 "-" "Mozilla/5.0 (compatible; Bytespider)" rt=0.004 "198.51.100.1""#;
    let r = f.parse_line(line.as_bytes()).unwrap();
    assert_eq!(
        r,
        LogRecord {
            client: "192.0.2.8",
            time: Some(T_2024_02_01),
            method: "GET".into(),
            target: "/a?b=c".into(),
            protocol: "HTTP/2.0".into(),
            status: 200,
            bytes: 42,
            referer: "".into(),
            user_agent: "Mozilla/5.0 (compatible; Bytespider)".into(),
            host: Some("example.com".into()),
        }
    );
    // Literal mismatch reports where.
    let e = f
        .parse_line(b"example.com 192.0.2.8 - alice 2024")
        .unwrap_err();
    assert_eq!(e.offset, 24); // `$remote_user` starts there and its ` [` is missing
    let e = f
        .parse_line(b"example.com 192.0.2.8 + alice [")
        .unwrap_err();
    assert_eq!(e.offset, 12); // `$remote_addr` starts there and its ` - ` is missing
    let g = NginxFormat::compile("[$status]").unwrap();
    let e = g.parse_line(b"200]").unwrap_err();
    assert_eq!(
        e,
        ParseError::new(0, "line does not match the log_format text")
    );
    // Non-numeric status.
    let bad = line.replace("200 42", "OK 42");
    assert_eq!(
        f.parse_line(bad.as_bytes()).unwrap_err(),
        ParseError::new(80, "status is not a number")
    );

    // uri + args, msec, X-Forwarded-For as the only client, trailing variable.
    let f = NginxFormat::compile("$http_x_forwarded_for|$msec|$uri|$args|$status|$http_user_agent")
        .unwrap();
    let r = f
        .parse_line(b"203.0.113.7, 10.0.0.2|1706727608.001|/x|q=1|204|curl/8.5 (x)")
        .unwrap();
    assert_eq!(
        (r.client, r.time, &*r.target, r.status),
        ("203.0.113.7", Some(T_2024_02_01), "/x?q=1", 204)
    );
    assert_eq!(r.user_agent, "curl/8.5 (x)");
    let r = f.parse_line(b"-|1706727608.001|/x|-|204|-").unwrap();
    assert_eq!((r.client, &*r.target, &*r.user_agent), ("-", "/x", ""));
}

#[test]
fn nginx_format_errors() {
    let e = |s: &str| NginxFormat::compile(s).unwrap_err();
    assert_eq!(e("$remote_addr $").offset, 14);
    assert_eq!(e("$remote_addr ${status").offset, 13);
    assert_eq!(e("$remote_addr ${}").offset, 15);
    assert_eq!(e("$remote_addr$status").offset, 12);
    assert_eq!(e("").reason, "empty log format");
    assert_eq!(e("log_format x '$a' '$b';").offset, 19);
    assert!(e("$ x").to_string().contains("at byte 1"));
    // Config-style quoting with escapes unquotes; a raw spec starting with '"' stays raw.
    let f = NginxFormat::compile(r#"'\'$status\''"#).unwrap();
    assert_eq!(f.parse_line(b"'200'").unwrap().status, 200);
    let f = NginxFormat::compile(r#""$request" $status"#).unwrap();
    let r = f.parse_line(br#""GET / HTTP/1.1" 301"#).unwrap();
    assert_eq!((&*r.target, r.status), ("/", 301));
}
