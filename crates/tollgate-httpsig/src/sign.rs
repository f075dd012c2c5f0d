//! The signing side, for crawler operators: sign a request the way Web Bot Auth verifiers
//! expect (draft-ietf-webbotauth-httpsig-protocol-01 §3, RFC 9421 §3.1).
//!
//! ```
//! use tollgate_httpsig::sign::{SignOptions, Signer};
//! use tollgate_httpsig::RequestView;
//!
//! let signer = Signer::generate().unwrap();
//! let mut headers = http::HeaderMap::new();
//! headers.insert("crawler-max-price", "USD 0.05".parse().unwrap());
//! let opts = SignOptions::new(1_767_225_600, "https://crawler.example")
//!     .cover_header("crawler-max-price");
//! let req = RequestView::from_url("GET", "https://news.example/articles/42", &headers).unwrap();
//! let out = signer.sign(&req, &opts).unwrap();
//! assert!(out.signature_input.starts_with(r#"sig1=("@authority" "@method" "@path" "crawler-max-price" "signature-agent";key="sig1");created=1767225600;expires=1767225660;"#));
//! assert_eq!(out.signature_agent.as_deref(), Some(r#"sig1="https://crawler.example""#));
//! ```

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use ed25519_dalek::Signer as _;
use sfv::{BareItem, FieldType as _, InnerList, Item, Key, ListEntry};

use crate::components::Component;
use crate::jwk::{Jwk, KeyError, PublicKey};
use crate::message::RequestView;
use crate::{Rejection, WEB_BOT_AUTH_TAG};

/// An Ed25519 signing key and its public half.
pub struct Signer {
    key: ed25519_dalek::SigningKey,
    public: PublicKey,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Signer")
            .field("thumbprint", &self.public.thumbprint)
            .finish_non_exhaustive()
    }
}

impl Signer {
    /// A new random key (from the operating system's random source).
    ///
    /// # Errors
    /// When the operating system gives no randomness.
    pub fn generate() -> Result<Signer, getrandom::Error> {
        let mut d = [0u8; 32];
        getrandom::fill(&mut d)?;
        Ok(Signer::from_bytes(&d))
    }

    /// The key with the 32-byte private key `d`.
    pub fn from_bytes(d: &[u8; 32]) -> Signer {
        let key = ed25519_dalek::SigningKey::from_bytes(d);
        let public = PublicKey::from_verifying_key(key.verifying_key());
        Signer { key, public }
    }

    /// The key of a private Ed25519 JWK (`{"kty":"OKP","crv":"Ed25519","d":…,"x":…}`).
    ///
    /// # Errors
    /// [`KeyError`] when the JSON is not such a key.
    pub fn from_jwk_json(json: &str) -> Result<Signer, KeyError> {
        let jwk: Jwk = serde_json::from_str(json).map_err(|e| KeyError::Json(e.to_string()))?;
        let key = jwk.private_key()?;
        Ok(Signer::from_bytes(&key.to_bytes()))
    }

    /// The private JWK (keep it secret), `kid` = thumbprint.
    pub fn private_jwk(&self) -> Jwk {
        let mut j = self.public.to_jwk();
        j.d = Some(URL_SAFE_NO_PAD.encode(self.key.to_bytes()));
        j
    }

    /// The Ed25519 signature of `base` (a signature base, RFC 9421 §3.1 step 6).
    pub fn sign_base(&self, base: &[u8]) -> [u8; 64] {
        self.key.sign(base).to_bytes()
    }

    /// The public key and its thumbprint (the `keyid` it signs with).
    pub fn public_key(&self) -> &PublicKey {
        &self.public
    }

    /// Signs `req` as `opts` say. When `opts.signature_agent` is set, the returned
    /// `Signature-Agent` value must be sent with the request (it is covered as
    /// `"signature-agent";key="<label>"`).
    ///
    /// # Errors
    /// A [`Rejection`] when a covered header is missing from `req` or a value cannot be
    /// serialized (non-ASCII nonce, label or URL).
    pub fn sign(
        &self,
        req: &RequestView<'_>,
        opts: &SignOptions,
    ) -> Result<SignedHeaders, Rejection> {
        let bad = |m: String| Rejection::new(crate::Reason::Malformed, m);
        let label = Key::from_string(opts.label.clone())
            .map_err(|(e, s)| bad(format!("label `{s}`: {e}")))?;
        let sfv_str = |name: &str, v: &str| {
            sfv::String::from_string(v.to_string())
                .map(BareItem::String)
                .map_err(|(e, _)| bad(format!("{name} `{v}`: {e}")))
        };
        let mut headers = req.headers.clone();
        let mut ids: Vec<String> = opts.components.clone();
        let agent_value = match &opts.signature_agent {
            Some(url) => {
                let member = ListEntry::Item(Item::new(sfv_str("Signature-Agent", url)?));
                let dict: sfv::Dictionary = [(label.clone(), member)].into_iter().collect();
                let v = dict
                    .serialize()
                    .ok_or_else(|| bad("Signature-Agent does not serialize".into()))?;
                headers.insert(
                    "signature-agent",
                    v.parse()
                        .map_err(|_| bad(format!("Signature-Agent `{v}` is not a header value")))?,
                );
                ids.push(format!("\"signature-agent\";key=\"{}\"", label.as_str()));
                Some(v)
            }
            None => None,
        };
        let covered = ids
            .iter()
            .map(|s| Component::parse(s))
            .collect::<Result<Vec<_>, _>>()?;
        let mut params = sfv::Parameters::new();
        let key = |s: &str| Key::from_string(s.to_string()).map_err(|(e, _)| bad(e.to_string()));
        params.insert(key("created")?, BareItem::Integer(int(opts.created, &bad)?));
        params.insert(
            key("expires")?,
            BareItem::Integer(int(opts.created.saturating_add(opts.validity_secs), &bad)?),
        );
        if let Some(n) = &opts.nonce {
            params.insert(key("nonce")?, sfv_str("nonce", n)?);
        }
        params.insert(key("keyid")?, sfv_str("keyid", &self.public.thumbprint)?);
        params.insert(key("alg")?, sfv_str("alg", "ed25519")?);
        params.insert(key("tag")?, sfv_str("tag", &opts.tag)?);
        let list = InnerList {
            items: covered.iter().map(|c| c.item.clone()).collect(),
            params,
        };
        let view = RequestView {
            headers: &headers,
            ..*req
        };
        let base = crate::verify::signature_base(&view, &covered, &list)?;
        let sig = self.key.sign(&base).to_bytes().to_vec();
        let input: sfv::Dictionary = [(label.clone(), ListEntry::InnerList(list))]
            .into_iter()
            .collect();
        let signature: sfv::Dictionary = [(
            label,
            ListEntry::Item(Item::new(BareItem::ByteSequence(sig))),
        )]
        .into_iter()
        .collect();
        Ok(SignedHeaders {
            signature_input: input
                .serialize()
                .ok_or_else(|| bad("Signature-Input does not serialize".into()))?,
            signature: signature
                .serialize()
                .ok_or_else(|| bad("Signature does not serialize".into()))?,
            signature_agent: agent_value,
            base: String::from_utf8_lossy(&base).into_owned(),
        })
    }
}

fn int(v: i64, bad: &impl Fn(String) -> Rejection) -> Result<sfv::Integer, Rejection> {
    sfv::Integer::try_from(v).map_err(|e| bad(format!("time {v}: {e}")))
}

/// What to sign and how.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignOptions {
    /// The label (`sig1`).
    pub label: String,
    /// Covered components other than `Signature-Agent`, as identifiers (`@authority`, `"@path"`,
    /// `crawler-max-price`). Default: `@authority`, `@method`, `@path` (and `@query` when the
    /// request has a query, see [`SignOptions::for_request`]).
    pub components: Vec<String>,
    /// `created`, unix seconds.
    pub created: i64,
    /// `expires − created`, seconds. Default 60.
    pub validity_secs: i64,
    /// `nonce`; a random one by default (verifiers that require nonces refuse requests
    /// without).
    pub nonce: Option<String>,
    /// `tag`; `web-bot-auth`.
    pub tag: String,
    /// The agent's origin (key directory at its well-known path) or JWKS URL, sent as
    /// `Signature-Agent: <label>="<url>"` and covered.
    pub signature_agent: Option<String>,
}

impl SignOptions {
    /// Defaults: label `sig1`, `@authority @method @path`, 60 s validity, no nonce,
    /// `tag="web-bot-auth"`, `Signature-Agent` = `agent_url` (empty = none).
    pub fn new(created: i64, agent_url: &str) -> SignOptions {
        SignOptions {
            label: "sig1".into(),
            components: vec!["@authority".into(), "@method".into(), "@path".into()],
            created,
            validity_secs: 60,
            nonce: None,
            tag: WEB_BOT_AUTH_TAG.into(),
            signature_agent: (!agent_url.is_empty()).then(|| agent_url.to_string()),
        }
    }

    /// [`SignOptions::new`] plus `@query` when `req` has a query.
    pub fn for_request(req: &RequestView<'_>, created: i64, agent_url: &str) -> SignOptions {
        let mut o = SignOptions::new(created, agent_url);
        if req.query.is_some() {
            o.components.push("@query".into());
        }
        o
    }

    /// Also covers the header field `name` (lower-cased).
    pub fn cover_header(mut self, name: &str) -> SignOptions {
        self.components.push(name.to_ascii_lowercase());
        self
    }

    /// Sets a random 32-byte nonce (base64url).
    ///
    /// # Errors
    /// When the operating system gives no randomness.
    pub fn with_random_nonce(mut self) -> Result<SignOptions, getrandom::Error> {
        let mut n = [0u8; 32];
        getrandom::fill(&mut n)?;
        self.nonce = Some(URL_SAFE_NO_PAD.encode(n));
        Ok(self)
    }
}

/// The header values a signed request carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedHeaders {
    /// `Signature-Input` value.
    pub signature_input: String,
    /// `Signature` value.
    pub signature: String,
    /// `Signature-Agent` value, when an agent URL was given.
    pub signature_agent: Option<String>,
    /// The signature base that was signed (for debugging).
    pub base: String,
}
