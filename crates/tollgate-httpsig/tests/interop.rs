//! Interoperability with an independent implementation: Cloudflare's `web-bot-auth` crate (0.7)
//! signs and tollgate verifies; tollgate signs and `web-bot-auth` verifies.

#![allow(clippy::unwrap_used)]

use indexmap::IndexMap;
use tollgate_httpsig::{CacheLimits, Policy, RequestView, SignOptions, Signer, Verifier};
use web_bot_auth::components::{
    CoveredComponent, DerivedComponent, HTTPField, HTTPFieldParameters, HTTPFieldParametersSet,
};
use web_bot_auth::keyring::{Algorithm, JSONWebKeySet, KeyRing};
use web_bot_auth::message_signatures::{MessageSigner, SignedMessage, UnsignedMessage};
use web_bot_auth::WebBotAuthVerifier;

const D: [u8; 32] = [
    0x9f, 0x83, 0x62, 0xf8, 0x7a, 0x48, 0x4a, 0x95, 0x4e, 0x6e, 0x74, 0x0c, 0x5b, 0x4c, 0x0e, 0x84,
    0x22, 0x91, 0x39, 0xa2, 0x0a, 0xa8, 0xab, 0x56, 0xff, 0x66, 0x58, 0x6f, 0x6a, 0x7d, 0x29, 0xc5,
];
const AGENT: &str = r#""https://signature-agent.test""#;

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

struct ToSign {
    input: String,
    signature: String,
}

impl UnsignedMessage for ToSign {
    fn fetch_components_to_cover(&self) -> IndexMap<CoveredComponent, String> {
        IndexMap::from([
            (
                CoveredComponent::Derived(DerivedComponent::Authority { req: false }),
                "example.com".to_string(),
            ),
            (
                CoveredComponent::Derived(DerivedComponent::Method { req: false }),
                "GET".to_string(),
            ),
            (
                CoveredComponent::HTTP(HTTPField {
                    name: "signature-agent".into(),
                    parameters: HTTPFieldParametersSet(vec![]),
                }),
                AGENT.to_string(),
            ),
        ])
    }

    fn register_header_contents(&mut self, signature_input: String, signature_header: String) {
        self.input = format!("sig1={signature_input}");
        self.signature = format!("sig1={signature_header}");
    }
}

#[test]
fn cloudflare_signs_tollgate_verifies() {
    let mut msg = ToSign {
        input: String::new(),
        signature: String::new(),
    };
    let ours = Signer::from_bytes(&D);
    let thumb = ours.public_key().thumbprint.clone();
    MessageSigner {
        keyid: thumb.clone(),
        nonce: "interop-nonce".into(),
        tag: "web-bot-auth".into(),
    }
    .generate_signature_headers_content(
        &mut msg,
        std::time::Duration::from_secs(60),
        Algorithm::Ed25519,
        &D.to_vec(),
    )
    .unwrap();
    let mut h = http::HeaderMap::new();
    h.insert("signature-input", msg.input.parse().unwrap());
    h.insert("signature", msg.signature.parse().unwrap());
    h.insert("signature-agent", AGENT.parse().unwrap());
    let req = RequestView::from_url("GET", "https://example.com/anything", &h).unwrap();
    let v = Verifier::new(Policy::default(), CacheLimits::default());
    let parsed = v.parse(&req, now()).unwrap().unwrap();
    let id = v
        .verify(&parsed, &[ours.public_key().clone()], now())
        .unwrap();
    assert_eq!(id.thumbprint, thumb);
    assert_eq!(id.nonce.as_deref(), Some("interop-nonce"));
    assert_eq!(
        id.signature_agent.as_deref(),
        Some("https://signature-agent.test/.well-known/http-message-signatures-directory")
    );
}

struct Signed(http::HeaderMap);

impl SignedMessage for Signed {
    fn lookup_component(&self, name: &CoveredComponent) -> Vec<String> {
        match name {
            CoveredComponent::Derived(DerivedComponent::Authority { .. }) => {
                vec!["news.example".into()]
            }
            CoveredComponent::Derived(DerivedComponent::Method { .. }) => vec!["GET".into()],
            CoveredComponent::Derived(DerivedComponent::Path { .. }) => {
                vec!["/articles/42".into()]
            }
            CoveredComponent::HTTP(HTTPField { name, parameters }) => {
                let v: Vec<String> = self
                    .0
                    .get_all(name.as_str())
                    .iter()
                    .map(|v| v.to_str().unwrap().to_string())
                    .collect();
                match parameters.0.first() {
                    // Our Signature-Agent is the one-member dictionary `sig1="…"`.
                    Some(HTTPFieldParameters::Key(k)) => v
                        .iter()
                        .filter_map(|s| s.strip_prefix(&format!("{k}=")).map(str::to_string))
                        .collect(),
                    _ => v,
                }
            }
            _ => vec![],
        }
    }
}

#[test]
fn tollgate_signs_cloudflare_verifies() {
    let signer = Signer::from_bytes(&D);
    let mut h = http::HeaderMap::new();
    h.insert("crawler-max-price", "USD 0.05".parse().unwrap());
    let req = RequestView::from_url("GET", "https://news.example/articles/42", &h).unwrap();
    let opts = SignOptions::new(now(), "https://crawler.example")
        .cover_header("crawler-max-price")
        .with_random_nonce()
        .unwrap();
    let out = signer.sign(&req, &opts).unwrap();
    h.insert("signature-input", out.signature_input.parse().unwrap());
    h.insert("signature", out.signature.parse().unwrap());
    h.insert(
        "signature-agent",
        out.signature_agent.unwrap().parse().unwrap(),
    );
    let dir = tollgate_httpsig::jwk::directory_json(std::slice::from_ref(signer.public_key()));
    let jwks: JSONWebKeySet = serde_json::from_str(&dir).unwrap();
    let mut ring = KeyRing::default();
    assert!(ring.import_jwks(jwks).iter().all(Option::is_none));
    let verifier = WebBotAuthVerifier::parse(&Signed(h)).unwrap();
    verifier.verify(&ring, None).unwrap();
}
