//! Property tests: sign-then-verify round-trips for random requests; random bytes in the
//! signature headers never panic.

#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use tollgate_httpsig::{CacheLimits, Policy, RequestView, SignOptions, Signer, Verifier};

const NOW: i64 = 1_767_225_610;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn sign_then_verify_round_trips(
        d in any::<[u8; 32]>(),
        method in "(GET|HEAD|POST|PUT|DELETE)",
        host in "[a-z][a-z0-9-]{0,20}\\.[a-z]{2,6}(:[1-9][0-9]{1,4})?",
        path in "(/[A-Za-z0-9._~%!$&'()*+,;=:@-]{0,12}){1,4}",
        query in proptest::option::of("[A-Za-z0-9=&%+._-]{0,30}"),
        price in proptest::option::of("USD [0-9]{1,3}\\.[0-9]{1,6}"),
        nonce in proptest::option::of("[A-Za-z0-9+/=_-]{1,40}"),
        age in 0i64..60,
    ) {
        let signer = Signer::from_bytes(&d);
        let mut h = http::HeaderMap::new();
        if let Some(p) = &price {
            h.insert("crawler-max-price", p.parse().unwrap());
        }
        let url = match &query {
            Some(q) => format!("https://{host}{path}?{q}"),
            None => format!("https://{host}{path}"),
        };
        let req = RequestView::from_url(&method, &url, &h).unwrap();
        let mut opts = SignOptions::for_request(&req, NOW - age, "https://crawler.example");
        if price.is_some() {
            opts = opts.cover_header("crawler-max-price");
        }
        opts.nonce = nonce.clone();
        let out = signer.sign(&req, &opts).unwrap();
        h.insert("signature-input", out.signature_input.parse().unwrap());
        h.insert("signature", out.signature.parse().unwrap());
        h.insert("signature-agent", out.signature_agent.unwrap().parse().unwrap());
        let req = RequestView::from_url(&method, &url, &h).unwrap();
        let v = Verifier::new(Policy::default(), CacheLimits::default());
        let parsed = v.parse(&req, NOW).unwrap().unwrap();
        prop_assert_eq!(String::from_utf8(parsed.base.clone()).unwrap(), out.base);
        let id = v.verify(&parsed, &[signer.public_key().clone()], NOW).unwrap();
        prop_assert_eq!(&id.thumbprint, &signer.public_key().thumbprint);
        prop_assert_eq!(&id.nonce, &nonce);
        prop_assert_eq!(id.covers("crawler-max-price"), price.is_some());
        prop_assert_eq!(id.covers("@query"), query.is_some());
    }

    #[test]
    fn random_header_bytes_never_panic(
        input in proptest::collection::vec(any::<u8>(), 0..200),
        sig in proptest::collection::vec(any::<u8>(), 0..200),
        agent in proptest::option::of(proptest::collection::vec(any::<u8>(), 0..100)),
        prefix in "(sig1=\\(\"@authority\" \"[a-z@-]{0,10}\"\\);created=[0-9]{1,11};expires=[0-9]{1,11};keyid=\"[a-z]{0,4}\";tag=\"web-bot-auth\")?",
    ) {
        let mut h = http::HeaderMap::new();
        let mut input_bytes = prefix.into_bytes();
        input_bytes.extend_from_slice(&input);
        for (name, bytes) in [("signature-input", Some(input_bytes)), ("signature", Some(sig)), ("signature-agent", agent)] {
            if let Some(v) = bytes.and_then(|b| http::HeaderValue::from_bytes(&b).ok()) {
                h.insert(name, v);
            }
        }
        let req = RequestView::from_url("GET", "https://example.com/a?b=c", &h).unwrap();
        let v = Verifier::new(Policy::default(), CacheLimits::default());
        if let Ok(Some(p)) = v.parse(&req, NOW) {
            let _ = v.verify(&p, &[Signer::from_bytes(&[7; 32]).public_key().clone()], NOW);
        }
    }

    #[test]
    fn random_directory_responses_never_panic(
        body in proptest::collection::vec(any::<u8>(), 0..300),
        input in "[ -~]{0,120}",
        sig in "[ -~]{0,120}",
        digest in "[ -~]{0,80}",
        agent in "[ -~]{0,80}",
    ) {
        let _ = tollgate_httpsig::jwk::parse_directory(&body);
        let _ = tollgate_httpsig::agent::keys_url(&agent);
        let mut h = http::HeaderMap::new();
        for (n, v) in [("signature-input", &input), ("signature", &sig), ("content-digest", &digest)] {
            if let Ok(v) = http::HeaderValue::from_str(v) {
                h.insert(n, v);
            }
        }
        let keys = [Signer::from_bytes(&[9; 32]).public_key().clone()];
        let _ = tollgate_httpsig::directory::verify_directory_response(
            "a.test", &h, &body, &keys, NOW, &Policy::default(),
        );
        let _ = tollgate_httpsig::components::Component::parse(&input);
    }
}
