//! Parse throughput for one line of each format.
//!
//! `cargo bench -p tollgate-logs --bench parse`

#![allow(missing_docs)] // criterion_group! generates undocumented functions

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::hint::black_box;
use tollgate_logs::{LogFormat, NginxFormat};

const COMBINED: &[u8] = br#"2001:db8:4000:a::73 - - [01/Feb/2024:00:00:11 +0500] "GET /laws/49/show HTTP/1.1" 200 172422 "https://www.google.com/" "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36""#;

const JSON: &[u8] = br#"{"level":"info","ts":1706727608.9215,"logger":"http.log.access.log0","msg":"handled request","request":{"remote_ip":"192.0.2.10","remote_port":"51234","client_ip":"203.0.113.5","proto":"HTTP/2.0","method":"GET","host":"example.com","uri":"/feed.xml","headers":{"Accept":["*/*"],"User-Agent":["Mozilla/5.0 (compatible; GPTBot/1.2; +https://openai.com/gptbot)"]}},"duration":0.0012,"size":5120,"status":200}"#;

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("parse_line");
    g.throughput(Throughput::Elements(1));
    g.bench_function("combined", |b| {
        b.iter(|| {
            LogFormat::Combined
                .parse_line(black_box(COMBINED))
                .map(|r| r.status)
        })
    });
    let nginx = LogFormat::Nginx(NginxFormat::compile("combined").expect("builtin format"));
    g.bench_function("nginx_combined", |b| {
        b.iter(|| nginx.parse_line(black_box(COMBINED)).map(|r| r.status))
    });
    g.bench_function("json_caddy", |b| {
        b.iter(|| {
            LogFormat::JsonLines
                .parse_line(black_box(JSON))
                .map(|r| r.status)
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
