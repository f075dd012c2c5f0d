//! Cost of verifying one Web Bot Auth request (standards.md §4.5's pay-per-crawl request signed
//! with the RFC 9421 Ed25519 test key): `parse` (structured fields, profile checks, signature
//! base), a full first verification (Ed25519), and a repeat of the same signature served from the
//! verified-signature cache. Run: `cargo bench -p tollgate-httpsig`.
// A benchmark binary: criterion's macros generate undocumented functions.
#![allow(clippy::unwrap_used, missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion};
use tollgate_httpsig::{CacheLimits, Policy, RequestView, SignOptions, Signer, Verifier};

const D: [u8; 32] = [
    0x9f, 0x83, 0x62, 0xf8, 0x7a, 0x48, 0x4a, 0x95, 0x4e, 0x6e, 0x74, 0x0c, 0x5b, 0x4c, 0x0e, 0x84,
    0x22, 0x91, 0x39, 0xa2, 0x0a, 0xa8, 0xab, 0x56, 0xff, 0x66, 0x58, 0x6f, 0x6a, 0x7d, 0x29, 0xc5,
];
const NOW: i64 = 1_767_225_610;
const URL: &str = "https://news.example/articles/42";

fn bench(c: &mut Criterion) {
    let signer = Signer::from_bytes(&D);
    let key = signer.public_key().clone();
    let mut h = http::HeaderMap::new();
    h.insert("crawler-max-price", "USD 0.05".parse().unwrap());
    let req = RequestView::from_url("GET", URL, &h).unwrap();
    let opts = SignOptions::new(1_767_225_600, "https://crawler.example")
        .cover_header("crawler-max-price");
    let out = signer.sign(&req, &opts).unwrap();
    h.insert("signature-input", out.signature_input.parse().unwrap());
    h.insert("signature", out.signature.parse().unwrap());
    h.insert(
        "signature-agent",
        out.signature_agent.unwrap().parse().unwrap(),
    );
    let req = RequestView::from_url("GET", URL, &h).unwrap();
    let keys = [key];

    c.bench_function("parse (fields, profile, signature base)", |b| {
        let v = Verifier::new(Policy::default(), CacheLimits::default());
        b.iter(|| black_box(v.parse(black_box(&req), NOW).unwrap()))
    });
    c.bench_function("parse + Ed25519 verify (a cache miss)", |b| {
        let v = Verifier::new(Policy::default(), CacheLimits::default());
        b.iter(|| {
            let p = v.parse(black_box(&req), NOW).unwrap().unwrap();
            let sig = ed25519_dalek::Signature::from_slice(&p.signature).unwrap();
            keys[0].key.verify_strict(&p.base, &sig).unwrap();
            black_box(p)
        })
    });
    c.bench_function("parse + verify, cached signature", |b| {
        let v = Verifier::new(Policy::default(), CacheLimits::default());
        let p = v.parse(&req, NOW).unwrap().unwrap();
        v.verify(&p, &keys, NOW).unwrap();
        b.iter(|| {
            let p = v.parse(black_box(&req), NOW).unwrap().unwrap();
            black_box(v.verify(&p, &keys, NOW).unwrap())
        })
    });
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(std::time::Duration::from_millis(500))
        .measurement_time(std::time::Duration::from_secs(2))
        .sample_size(30);
    targets = bench
}
criterion_main!(benches);
