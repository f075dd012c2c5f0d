//! Published vectors: RFC 9421 B.2.6 (Ed25519) byte for byte, Cloudflare's Web Bot Auth vectors,
//! the draft's worked example (standards.md §4.5), RFC 7638 thumbprints; and one test per
//! single-field tamper with the reason it must fail with.

#![allow(clippy::unwrap_used)]

use base64::Engine as _;
use http::HeaderMap;
use sfv::{FieldType as _, ListEntry, Parser};
use tollgate_httpsig::components::Component;
use tollgate_httpsig::jwk::{parse_directory, thumbprint, Jwk};
use tollgate_httpsig::verify::{parse, signature_base};
use tollgate_httpsig::{
    CacheLimits, Policy, PublicKey, Reason, RequestView, SignOptions, Signer, Verifier,
};

const DATA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/");
const TEST_KEY_THUMBPRINT: &str = "poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U";

fn read(name: &str) -> String {
    std::fs::read_to_string(format!("{DATA}{name}")).unwrap()
}

fn test_key() -> (Signer, PublicKey) {
    let s = Signer::from_jwk_json(&read("cloudflare-ed25519.json")).unwrap();
    let p = s.public_key().clone();
    (s, p)
}

/// A raw HTTP/1.1 request (as in RFC 9421 B.2) → method, target, headers.
fn raw_request(text: &str) -> (String, String, HeaderMap) {
    let mut lines = text.lines();
    let start = lines.next().unwrap();
    let mut parts = start.split(' ');
    let method = parts.next().unwrap().to_string();
    let target = parts.next().unwrap().to_string();
    let mut h = HeaderMap::new();
    for l in lines.take_while(|l| !l.is_empty()) {
        let (n, v) = l.split_once(':').unwrap();
        h.append(
            http::HeaderName::from_bytes(n.trim().to_ascii_lowercase().as_bytes()).unwrap(),
            v.trim().parse().unwrap(),
        );
    }
    (method, target, h)
}

#[test]
fn rfc9421_b26_signature_base_and_signature_byte_for_byte() {
    let (method, target, h) = raw_request(&read("b26_request_signed.txt"));
    let host = h.get("host").unwrap().to_str().unwrap().to_string();
    let url = format!("https://{host}{target}");
    let req = RequestView::from_url(&method, &url, &h).unwrap();
    let input: sfv::Dictionary = Parser::new(h.get("signature-input").unwrap().to_str().unwrap())
        .parse()
        .unwrap();
    let Some(ListEntry::InnerList(list)) = input.get("sig-b26") else {
        panic!("no sig-b26")
    };
    let covered: Vec<Component> = list
        .items
        .iter()
        .map(|i| Component::parse(&i.serialize()).unwrap())
        .collect();
    let base = signature_base(&req, &covered, list).unwrap();
    assert_eq!(
        String::from_utf8(base.clone()).unwrap(),
        read("b26_request_sigbase.txt")
    );
    // Ed25519 is deterministic: the RFC's test key gives the RFC's signature exactly.
    let (signer, public) = test_key();
    let expected =
        "wqcAqbmYJ2ji2glfAMaRy4gruYYnx2nEFN2HN6jrnDnQCK1u02Gb04v9EDgwUPiu4A0w6vuQv5lIp5WPpBKRCw==";
    let sig = signer.sign_base(&base);
    assert_eq!(
        base64::engine::general_purpose::STANDARD.encode(sig),
        expected
    );
    let dalek_sig = ed25519_from_b64(expected);
    public.key.verify_strict(&base, &dalek_sig).unwrap();
    // The same key as the RFC's PEM files (B.1.4): PKCS#8 / SPKI DER with fixed Ed25519 prefixes.
    let der = |pem: &str| {
        let b64: String = pem.lines().filter(|l| !l.starts_with("-----")).collect();
        base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap()
    };
    let private = der(&read("test-key-ed25519.key"));
    assert_eq!(
        private[..16],
        [
            0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22,
            0x04, 0x20
        ]
    );
    let d: [u8; 32] = private[16..].try_into().unwrap();
    assert_eq!(Signer::from_bytes(&d).sign_base(&base), sig);
    let spki = der(&read("test-key-ed25519.pub"));
    assert_eq!(&spki[12..], public.key.as_bytes());
    assert_eq!(public.thumbprint, TEST_KEY_THUMBPRINT);
}

fn ed25519_from_b64(s: &str) -> ed25519_dalek::Signature {
    let b = base64::engine::general_purpose::STANDARD.decode(s).unwrap();
    ed25519_dalek::Signature::from_slice(&b).unwrap()
}

#[derive(serde::Deserialize)]
struct CfVector {
    key: serde_json::Value,
    target_url: String,
    created_ms: i64,
    label: String,
    signature: String,
    signature_input: String,
    #[serde(default)]
    signature_agent: Option<String>,
}

fn cf_vectors(file: &str) -> Vec<CfVector> {
    let all: Vec<CfVector> = serde_json::from_str(&read(file)).unwrap();
    all.into_iter().filter(|v| v.key["kty"] == "OKP").collect()
}

fn cf_headers(v: &CfVector) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("signature-input", v.signature_input.parse().unwrap());
    h.insert("signature", v.signature.parse().unwrap());
    if let Some(a) = &v.signature_agent {
        h.insert("signature-agent", a.parse().unwrap());
    }
    h
}

#[test]
fn cloudflare_web_bot_auth_vectors_verify() {
    let mut seen = Vec::new();
    for file in [
        "web_bot_auth_architecture_v1.json",
        "web_bot_auth_architecture_v2.json",
    ] {
        for v in cf_vectors(file) {
            let jwk: Jwk = serde_json::from_value(v.key.clone()).unwrap();
            let key = jwk.public_key().unwrap();
            let h = cf_headers(&v);
            let req = RequestView::from_url("GET", &v.target_url, &h).unwrap();
            let now = v.created_ms / 1000 + 10;
            // v2 vectors are valid for ~100 years: allow that window for this check only.
            let policy = Policy {
                max_window_secs: i64::MAX / 4,
                clock_skew_secs: 0,
            };
            let parsed = parse(&req, now, &policy).unwrap().unwrap();
            assert_eq!(parsed.label, v.label);
            let id = Verifier::new(policy, CacheLimits::default())
                .verify(&parsed, &[key], now)
                .unwrap_or_else(|e| panic!("{file} {}: {e}", v.label));
            assert_eq!(id.thumbprint, TEST_KEY_THUMBPRINT);
            seen.push((
                file,
                v.label.clone(),
                id.signature_agent.clone(),
                id.covered.clone(),
            ));
        }
    }
    let dir = Some(
        "https://signature-agent.test/.well-known/http-message-signatures-directory".to_string(),
    );
    assert_eq!(
        seen,
        vec![
            (
                "web_bot_auth_architecture_v1.json",
                "sig1".to_string(),
                None,
                vec!["@authority".to_string()]
            ),
            (
                "web_bot_auth_architecture_v1.json",
                "sig2".to_string(),
                dir.clone(),
                vec!["@authority".to_string(), "signature-agent".to_string()]
            ),
            (
                "web_bot_auth_architecture_v2.json",
                "sig1".to_string(),
                None,
                vec!["@authority".to_string()]
            ),
            (
                "web_bot_auth_architecture_v2.json",
                "sig2".to_string(),
                dir,
                vec![
                    "@authority".to_string(),
                    "signature-agent;key=\"agent2\"".to_string()
                ]
            ),
        ]
    );
}

#[test]
fn cloudflare_v2_vectors_exceed_the_default_24h_window() {
    let v = &cf_vectors("web_bot_auth_architecture_v2.json")[0];
    let h = cf_headers(v);
    let req = RequestView::from_url("GET", &v.target_url, &h).unwrap();
    let e = parse(&req, v.created_ms / 1000, &Policy::default()).unwrap_err();
    assert_eq!(e.reason, Reason::WindowTooLong);
    assert_eq!(
        e.to_string(),
        "window-too-long: Signature-Input `sig1`: valid for 3153600000 s, more than 86400 s"
    );
}

#[test]
fn jwk_thumbprint_vectors() {
    #[derive(serde::Deserialize)]
    struct V {
        name: String,
        jwk: String,
        thumbprint: String,
    }
    let vs: Vec<V> = serde_json::from_str(&read("jwk-thumbprint-vectors.json")).unwrap();
    let ed = vs.iter().find(|v| v.name == "ed25519").unwrap();
    let jwk: Jwk = serde_json::from_str(&ed.jwk).unwrap();
    assert_eq!(jwk.public_key().unwrap().thumbprint, ed.thumbprint);
    assert_eq!(ed.thumbprint, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
    assert_eq!(
        thumbprint("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"),
        ed.thumbprint
    );
}

/// standards.md §4.5: a pay-per-crawl request signed with the RFC test key.
fn worked_example_headers() -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert("host", "news.example".parse().unwrap());
    h.insert("crawler-max-price", "USD 0.05".parse().unwrap());
    h
}

const WORKED_INPUT: &str = r#"sig1=("@authority" "@method" "@path" "crawler-max-price" "signature-agent";key="sig1");created=1767225600;expires=1767225660;keyid="poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U";alg="ed25519";tag="web-bot-auth""#;
const WORKED_SIGNATURE: &str =
    "sig1=:zaNJWhqqUPylqAcz4oK/saG/3NjiVp4MKpvyGwqTfrPzuoKMteo3ez6zLKH85E6aGS6H8f9PMexWaDLZEs1nDQ==:";
const WORKED_BASE: &str = "\"@authority\": news.example
\"@method\": GET
\"@path\": /articles/42
\"crawler-max-price\": USD 0.05
\"signature-agent\";key=\"sig1\": \"https://crawler.example\"
\"@signature-params\": (\"@authority\" \"@method\" \"@path\" \"crawler-max-price\" \"signature-agent\";key=\"sig1\");created=1767225600;expires=1767225660;keyid=\"poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U\";alg=\"ed25519\";tag=\"web-bot-auth\"";

#[test]
fn signer_reproduces_the_worked_example_exactly() {
    let (signer, _) = test_key();
    let h = worked_example_headers();
    let req = RequestView::from_url("GET", "https://news.example/articles/42", &h).unwrap();
    let opts = SignOptions::new(1_767_225_600, "https://crawler.example")
        .cover_header("crawler-max-price");
    let out = signer.sign(&req, &opts).unwrap();
    assert_eq!(out.base, WORKED_BASE);
    assert_eq!(out.signature_input, WORKED_INPUT);
    assert_eq!(out.signature, WORKED_SIGNATURE);
    assert_eq!(
        out.signature_agent.as_deref(),
        Some(r#"sig1="https://crawler.example""#)
    );
}

/// The worked example's request, signed, with one header replaced.
fn signed_example(replace: Option<(&str, &str)>) -> HeaderMap {
    let mut h = worked_example_headers();
    h.insert(
        "signature-agent",
        r#"sig1="https://crawler.example""#.parse().unwrap(),
    );
    h.insert("signature-input", WORKED_INPUT.parse().unwrap());
    h.insert("signature", WORKED_SIGNATURE.parse().unwrap());
    if let Some((name, value)) = replace {
        h.insert(
            http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
    }
    h
}

const NOW: i64 = 1_767_225_610;

fn check(h: &HeaderMap, authority: &str) -> Result<String, (Reason, String)> {
    let (_, key) = test_key();
    let url = format!("https://{authority}/articles/42");
    let req = RequestView::from_url("GET", &url, h).unwrap();
    let v = Verifier::new(Policy::default(), CacheLimits::default());
    let parsed = v
        .parse(&req, NOW)
        .map_err(|e| (e.reason, e.to_string()))?
        .unwrap();
    v.verify(&parsed, &[key], NOW)
        .map(|id| id.thumbprint)
        .map_err(|e| (e.reason, e.to_string()))
}

#[test]
fn worked_example_verifies() {
    assert_eq!(
        check(&signed_example(None), "news.example").unwrap(),
        TEST_KEY_THUMBPRINT
    );
}

fn tampered_input(from: &str, to: &str) -> HeaderMap {
    assert!(WORKED_INPUT.contains(from), "{from}");
    signed_example(Some(("signature-input", &WORKED_INPUT.replace(from, to))))
}

#[test]
fn tampered_authority_is_a_bad_signature() {
    let e = check(&signed_example(None), "evil.example").unwrap_err();
    assert_eq!(e.0, Reason::BadSignature);
    assert_eq!(
        e.1,
        "bad-signature: Signature `sig1` does not verify with key `poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U`"
    );
}

#[test]
fn tampered_created_is_a_bad_signature() {
    let h = tampered_input("created=1767225600", "created=1767225601");
    assert_eq!(
        check(&h, "news.example").unwrap_err().0,
        Reason::BadSignature
    );
}

#[test]
fn tampered_expires_is_a_bad_signature() {
    let h = tampered_input("expires=1767225660", "expires=1767225661");
    assert_eq!(
        check(&h, "news.example").unwrap_err().0,
        Reason::BadSignature
    );
}

#[test]
fn tampered_keyid_is_an_unknown_key() {
    let h = tampered_input(
        TEST_KEY_THUMBPRINT,
        "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k",
    );
    let e = check(&h, "news.example").unwrap_err();
    assert_eq!(e.0, Reason::UnknownKey);
    assert_eq!(
        e.1,
        "unknown-key: keyid `kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k` is not in the key directory https://crawler.example/.well-known/http-message-signatures-directory"
    );
}

#[test]
fn tampered_tag_is_a_bad_tag() {
    let h = tampered_input(r#"tag="web-bot-auth""#, r#"tag="web-bot-auth2""#);
    let e = check(&h, "news.example").unwrap_err();
    assert_eq!(e.0, Reason::BadTag);
    assert_eq!(
        e.1,
        "bad-tag: no Signature-Input member has tag=\"web-bot-auth\" (tags: web-bot-auth2)"
    );
}

#[test]
fn tampered_signature_byte_is_a_bad_signature() {
    let mut sig = WORKED_SIGNATURE.to_string();
    sig.replace_range(6..7, "Z"); // first base64 char: 'z' → 'Z'
    let h = signed_example(Some(("signature", &sig)));
    assert_eq!(
        check(&h, "news.example").unwrap_err().0,
        Reason::BadSignature
    );
}

#[test]
fn tampered_covered_header_is_a_bad_signature() {
    let h = signed_example(Some(("crawler-max-price", "USD 5.00")));
    assert_eq!(
        check(&h, "news.example").unwrap_err().0,
        Reason::BadSignature
    );
    let h = signed_example(Some(("signature-agent", r#"sig1="https://evil.example""#)));
    assert_eq!(
        check(&h, "news.example").unwrap_err().0,
        Reason::BadSignature
    );
}

#[test]
fn profile_failures_have_their_reasons() {
    let cases: [(&str, &str, Reason); 7] = [
        ("created=1767225600;", "", Reason::MissingParameter),
        ("expires=1767225660;", "", Reason::MissingParameter),
        (
            r#"alg="ed25519""#,
            r#"alg="rsa-pss-sha512""#,
            Reason::UnsupportedAlgorithm,
        ),
        (r#""@authority" "#, "", Reason::MissingComponent),
        (
            r#" "signature-agent";key="sig1""#,
            "",
            Reason::MissingComponent,
        ),
        (
            "created=1767225600",
            "created=1767225700",
            Reason::FutureCreated,
        ),
        (
            "expires=1767225660",
            "expires=1767312001",
            Reason::WindowTooLong,
        ),
    ];
    for (from, to, reason) in cases {
        let h = tampered_input(from, to);
        assert_eq!(
            check(&h, "news.example").unwrap_err().0,
            reason,
            "{from} → {to}"
        );
    }
    let e = check(&signed_example(None), "news.example");
    assert!(e.is_ok());
}

#[test]
fn expired_signatures_are_expired() {
    let (_, key) = test_key();
    let h = signed_example(None);
    let req = RequestView::from_url("GET", "https://news.example/articles/42", &h).unwrap();
    let p = Policy::default();
    // expires 1767225660; 30 s of skew tolerated.
    assert!(parse(&req, 1_767_225_689, &p).is_ok());
    let e = parse(&req, 1_767_225_690, &p).unwrap_err();
    assert_eq!(
        e.to_string(),
        "expired: Signature-Input `sig1`: expired at 1767225660, now 1767225690"
    );
    let _ = key;
}

#[test]
fn a_covered_header_missing_from_the_request_is_a_missing_component() {
    let mut h = signed_example(None);
    h.remove("crawler-max-price");
    let e = check(&h, "news.example").unwrap_err();
    assert_eq!(e.0, Reason::MissingComponent);
    assert_eq!(
        e.1,
        "missing-component: covered field `crawler-max-price` is not in the request"
    );
}

#[test]
fn malformed_fields_name_the_header() {
    let h = signed_example(Some(("signature", "sig1=:not base64")));
    let e = check(&h, "news.example").unwrap_err();
    assert_eq!(e.0, Reason::Malformed);
    assert!(
        e.1.starts_with("malformed: Signature is not a structured dictionary"),
        "{}",
        e.1
    );
    let h = signed_example(Some(("signature", "sig2=:AAAA:")));
    assert_eq!(
        check(&h, "news.example").unwrap_err().1,
        "malformed: Signature has no member `sig1`"
    );
}

#[test]
fn replayed_nonces_are_refused_and_cached_verifications_skip_crypto() {
    let (signer, key) = test_key();
    let h0 = worked_example_headers();
    let req = RequestView::from_url("GET", "https://news.example/articles/42", &h0).unwrap();
    let mut opts = SignOptions::new(NOW - 5, "https://crawler.example");
    opts.nonce = Some("n-1".into());
    let out = signer.sign(&req, &opts).unwrap();
    let mut h = h0.clone();
    h.insert("signature-input", out.signature_input.parse().unwrap());
    h.insert("signature", out.signature.parse().unwrap());
    h.insert(
        "signature-agent",
        out.signature_agent.unwrap().parse().unwrap(),
    );
    let req = RequestView::from_url("GET", "https://news.example/articles/42", &h).unwrap();
    let v = Verifier::new(Policy::default(), CacheLimits::default());
    let parsed = v.parse(&req, NOW).unwrap().unwrap();
    let id = v.verify(&parsed, std::slice::from_ref(&key), NOW).unwrap();
    assert_eq!(id.nonce.as_deref(), Some("n-1"));
    assert_eq!(v.crypto_verifications(), 1);
    let e = v
        .verify(&parsed, std::slice::from_ref(&key), NOW)
        .unwrap_err();
    assert_eq!(e.reason, Reason::Replayed);
    assert_eq!(
        e.to_string(),
        "replayed: nonce `n-1` of key `poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U` was already used"
    );
    // Without a nonce the same signature may be presented again; Ed25519 runs once.
    let parsed = v
        .parse(
            &RequestView {
                headers: &signed_example(None),
                ..req
            },
            NOW,
        )
        .unwrap()
        .unwrap();
    v.verify(&parsed, std::slice::from_ref(&key), NOW).unwrap();
    v.verify(&parsed, &[key], NOW).unwrap();
    assert_eq!(v.crypto_verifications(), 2);
}

#[test]
fn directories_give_the_verifying_key() {
    let (_, key) = test_key();
    let json = tollgate_httpsig::jwk::directory_json(std::slice::from_ref(&key));
    let (keys, skipped) = parse_directory(json.as_bytes()).unwrap();
    assert_eq!((keys.len(), skipped), (1, 0));
    assert_eq!(keys[0].thumbprint, TEST_KEY_THUMBPRINT);
    assert_eq!(keys[0].kid.as_deref(), Some(TEST_KEY_THUMBPRINT));
    assert_eq!(keys[0].key, key.key);
}

#[test]
fn unsigned_requests_are_not_signature_claims() {
    let h = worked_example_headers();
    let req = RequestView::from_url("GET", "https://news.example/", &h).unwrap();
    assert!(parse(&req, NOW, &Policy::default()).unwrap().is_none());
}

/// draft-ietf-webbotauth-httpsig-protocol, Appendix E.2.3: a signed key-directory response
/// (RFC 9421 B.1.4 key, label `binding`).
mod directory_vector {
    use super::*;
    use tollgate_httpsig::directory::{content_digest, verify_directory_response, DirectoryProof};

    const BODY: &str = r#"{"keys":[{"kty":"OKP","crv":"Ed25519","kid":"poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U","x":"JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs","use":"sig"}]}"#;
    const DIGEST: &str = "sha-256=:CADMT2aBdV/rqQr/NIru64ERQkCobVvllA4V0fLFDu0=:";
    const INPUT: &str = r#"binding=("@authority";req "content-digest");created=1735689600;expires=4889289600;keyid="poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U";tag="http-message-signatures-directory""#;
    const SIG: &str = "binding=:l6P8R67tm3kujAxbHWio7ll01qrEZ0dKD/WWlGhNYEmTnFZM8Wt0VQ9zqGfvo7T/UMkBxsigzChM1Gpz7gOVBg==:";

    fn headers(digest: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert("content-digest", digest.parse().unwrap());
        h.insert("signature-input", INPUT.parse().unwrap());
        h.insert("signature", SIG.parse().unwrap());
        h
    }

    fn check(
        authority: &str,
        h: &HeaderMap,
        body: &str,
    ) -> Result<DirectoryProof, (Reason, String)> {
        let (keys, _) = parse_directory(body.as_bytes()).unwrap_or_default();
        let keys = if keys.is_empty() {
            vec![test_key().1]
        } else {
            keys
        };
        verify_directory_response(
            authority,
            h,
            body.as_bytes(),
            &keys,
            NOW,
            &Policy::default(),
        )
        .map_err(|e| (e.reason, e.to_string()))
    }

    #[test]
    fn the_drafts_signed_directory_verifies() {
        assert_eq!(content_digest(BODY.as_bytes()), DIGEST);
        assert_eq!(
            check("signature-agent.test", &headers(DIGEST), BODY).unwrap(),
            DirectoryProof::Signed(vec![TEST_KEY_THUMBPRINT.to_string()])
        );
    }

    #[test]
    fn served_from_another_authority_it_fails() {
        assert_eq!(
            check("evil.test", &headers(DIGEST), BODY).unwrap_err().0,
            Reason::BadSignature
        );
    }

    #[test]
    fn a_changed_body_fails_its_content_digest() {
        let e = check("signature-agent.test", &headers(DIGEST), r#"{"keys":[]}"#).unwrap_err();
        assert_eq!(e.0, Reason::BadSignature);
        assert_eq!(
            e.1,
            "bad-signature: directory response: Content-Digest sha-256 does not match the body"
        );
    }

    #[test]
    fn unsigned_directories_are_reported_as_such() {
        let mut h = HeaderMap::new();
        h.insert(
            "content-type",
            "application/http-message-signatures-directory+json"
                .parse()
                .unwrap(),
        );
        assert_eq!(
            check("signature-agent.test", &h, BODY).unwrap(),
            DirectoryProof::Unsigned
        );
    }
}

/// Cloudflare's `Signature-Agent` vectors: the directory and jwks_uri forms resolve; the OAuth
/// client-metadata form (`type=cimd`) is not supported and says so.
#[test]
fn cloudflare_signature_agent_vectors() {
    #[derive(serde::Deserialize)]
    struct V {
        name: String,
        header: String,
    }
    let vs: Vec<V> = serde_json::from_str(&read("web_bot_auth_signature_agent_v1.json")).unwrap();
    let got: Vec<(String, Result<String, String>)> = vs
        .iter()
        .map(|v| {
            let mut h = HeaderMap::new();
            h.insert("signature-agent", v.header.parse().unwrap());
            let r = tollgate_httpsig::agent::resolve(&h, "sig1", &[])
                .map(|a| a.unwrap().keys_url)
                .map_err(|e| e.to_string());
            (v.name.clone(), r)
        })
        .collect();
    assert_eq!(
        got,
        vec![
            (
                "directory-default".to_string(),
                Ok("https://signature-agent.test/.well-known/http-message-signatures-directory".to_string())
            ),
            (
                "jwks-uri".to_string(),
                Ok("https://signature-agent.test/jwks.json".to_string())
            ),
            (
                "cimd".to_string(),
                Err("malformed: Signature-Agent: member `sig1`: unsupported `type` (directory and jwks_uri are)".to_string())
            ),
        ]
    );
}
