//! Classification speed of one User-Agent header over a mix of real headers (browsers, search
//! engines, AI crawlers, tools, unknown bots), as seen in the access logs of data/SOURCES.md.
//! Run: `cargo bench -p tollgate-agents --bench classify`; time per element is ns per User-Agent.
// A benchmark binary: a broken embedded catalogue should abort it, and criterion's macros
// generate undocumented functions.
#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use tollgate_agents::{Catalogue, UaMatcher};

const UAS: &[&str] = &[
    "Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_2_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.2 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.0.0 Safari/537.36 Edg/121.0.0.0",
    "Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/23.0 Chrome/115.0.0.0 Mobile Safari/537.36",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:121.0) Gecko/20100101 Firefox/121.0",
    "Mozilla/5.0 (Linux; Android 6.0.1; Nexus 5X Build/MMB29P) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/121.0.6167.85 Mobile Safari/537.36 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm) Chrome/116.0.1938.76 Safari/537.36",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)",
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko); compatible; ChatGPT-User/1.0; +https://openai.com/bot",
    "ClaudeBot",
    "Mozilla/5.0 (Linux; Android 5.0) AppleWebKit/537.36 (KHTML, like Gecko) Mobile Safari/537.36 (compatible; Bytespider; spider-feedback@bytedance.com)",
    "Mozilla/5.0 (compatible; AhrefsBot/7.0; +http://ahrefs.com/robot/)",
    "Mozilla/5.0 (compatible; YandexBot/3.0; +http://yandex.com/bots)",
    "curl/8.4.0",
    "python-requests/2.23.0",
    "Go-http-client/1.1",
    "Uptime-Kuma/1.23.3",
    "TATDIG-CRAWLER/0.0.1 (http://www.nigez.com/; tatdig@itservicefl.com)",
];

fn classify(c: &mut Criterion) {
    let catalogue = Catalogue::embedded().unwrap();
    let matcher = UaMatcher::new(&catalogue).unwrap();
    let mut group = c.benchmark_group("classify");
    group.throughput(Throughput::Elements(UAS.len() as u64));
    group.bench_function("mixed_20_real_uas", |b| {
        b.iter(|| {
            for ua in UAS {
                black_box(matcher.match_ua(black_box(ua.as_bytes())));
            }
        })
    });
    // Hostile header: 100 KB of one repeated word full of `bot` matches (was quadratic: 1.9 s).
    let hostile = "bota".repeat(25_000);
    group.throughput(Throughput::Elements(1));
    group.bench_function("hostile_100kb_repeated_bot", |b| {
        b.iter(|| black_box(matcher.match_ua(black_box(hostile.as_bytes()))))
    });
    group.finish();
}

criterion_group!(benches, classify);
criterion_main!(benches);
