//! Ed25519 keys as JSON Web Keys (RFC 8037 `OKP`), their RFC 7638 SHA-256 thumbprints, and key
//! directories (JWK Sets, RFC 7517 §5, served as
//! `application/http-message-signatures-directory+json`, draft-ietf-webbotauth-httpsig-protocol-01).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Media type of a key directory (draft-ietf-webbotauth-httpsig-protocol-01 §4).
pub const DIRECTORY_MEDIA_TYPE: &str = "application/http-message-signatures-directory+json";
/// Well-known path of a key directory at an agent's origin.
pub const DIRECTORY_PATH: &str = "/.well-known/http-message-signatures-directory";
/// Keys read from one directory at most (the rest are ignored).
pub const MAX_DIRECTORY_KEYS: usize = 64;

/// An Ed25519 public key with its RFC 7638 thumbprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey {
    /// The 32-byte public key.
    pub key: ed25519_dalek::VerifyingKey,
    /// base64url (no padding) SHA-256 thumbprint of `{"crv":"Ed25519","kty":"OKP","x":…}`
    /// (RFC 7638 §3, RFC 8037 App. A.3); Web Bot Auth's `keyid`.
    pub thumbprint: String,
    /// The JWK's `kid`, if it had one.
    pub kid: Option<String>,
}

impl PublicKey {
    /// The key for 32 raw bytes.
    pub fn from_verifying_key(key: ed25519_dalek::VerifyingKey) -> PublicKey {
        PublicKey {
            thumbprint: thumbprint(&URL_SAFE_NO_PAD.encode(key.as_bytes())),
            key,
            kid: None,
        }
    }

    /// The public JWK: `{"kty":"OKP","crv":"Ed25519","kid":<thumbprint>,"x":…}`.
    pub fn to_jwk(&self) -> Jwk {
        Jwk {
            kty: "OKP".into(),
            crv: Some("Ed25519".into()),
            x: Some(URL_SAFE_NO_PAD.encode(self.key.as_bytes())),
            d: None,
            kid: Some(self.thumbprint.clone()),
            alg: None,
            use_: None,
        }
    }
}

/// The RFC 7638 thumbprint of an Ed25519 key given as its base64url `x`.
pub fn thumbprint(x_b64url: &str) -> String {
    let canonical = format!(r#"{{"crv":"Ed25519","kty":"OKP","x":"{x_b64url}"}}"#);
    URL_SAFE_NO_PAD.encode(Sha256::digest(canonical.as_bytes()))
}

/// A JSON Web Key (RFC 7517) as far as Ed25519 needs it; unknown members are ignored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Jwk {
    /// Key type; `OKP` for Ed25519.
    pub kty: String,
    /// Curve; `Ed25519`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crv: Option<String>,
    /// Key id (at the well-known directory, the thumbprint).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kid: Option<String>,
    /// Public key, base64url.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub x: Option<String>,
    /// Private key, base64url (only in a private JWK; never published).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub d: Option<String>,
    /// Algorithm, if stated (`ed25519` or `EdDSA`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alg: Option<String>,
    /// Intended use, if stated.
    #[serde(default, rename = "use", skip_serializing_if = "Option::is_none")]
    pub use_: Option<String>,
}

/// Why a JWK or a directory was not usable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyError {
    /// The JSON did not parse.
    #[error("not JSON of a JWK / JWK Set: {0}")]
    Json(String),
    /// Not an Ed25519 key.
    #[error("key is not an Ed25519 OKP key (kty `{kty}`, crv `{crv}`)")]
    NotEd25519 {
        /// `kty`.
        kty: String,
        /// `crv` or `-`.
        crv: String,
    },
    /// A member is missing or not 32 bytes of base64url.
    #[error("member `{0}` is missing or not 32 bytes of base64url")]
    BadMember(&'static str),
}

impl Jwk {
    /// The public key of an Ed25519 JWK.
    ///
    /// # Errors
    /// [`KeyError::NotEd25519`] or [`KeyError::BadMember`] (`x`).
    pub fn public_key(&self) -> Result<PublicKey, KeyError> {
        if self.kty != "OKP" || self.crv.as_deref() != Some("Ed25519") {
            return Err(KeyError::NotEd25519 {
                kty: self.kty.clone(),
                crv: self.crv.clone().unwrap_or_else(|| "-".into()),
            });
        }
        let x = self.x.as_deref().ok_or(KeyError::BadMember("x"))?;
        let bytes: [u8; 32] = URL_SAFE_NO_PAD
            .decode(x)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(KeyError::BadMember("x"))?;
        let key = ed25519_dalek::VerifyingKey::from_bytes(&bytes)
            .map_err(|_| KeyError::BadMember("x"))?;
        Ok(PublicKey {
            key,
            thumbprint: thumbprint(x),
            kid: self.kid.clone(),
        })
    }

    /// The 32-byte private key `d` of a private Ed25519 JWK.
    ///
    /// # Errors
    /// [`KeyError::NotEd25519`] or [`KeyError::BadMember`] (`d`).
    pub fn private_key(&self) -> Result<ed25519_dalek::SigningKey, KeyError> {
        if self.kty != "OKP" || self.crv.as_deref() != Some("Ed25519") {
            return Err(KeyError::NotEd25519 {
                kty: self.kty.clone(),
                crv: self.crv.clone().unwrap_or_else(|| "-".into()),
            });
        }
        let d: [u8; 32] = self
            .d
            .as_deref()
            .and_then(|d| URL_SAFE_NO_PAD.decode(d).ok())
            .and_then(|b| b.try_into().ok())
            .ok_or(KeyError::BadMember("d"))?;
        let sk = ed25519_dalek::SigningKey::from_bytes(&d);
        if let Some(x) = &self.x {
            if URL_SAFE_NO_PAD.encode(sk.verifying_key().as_bytes()) != *x {
                return Err(KeyError::BadMember("x"));
            }
        }
        Ok(sk)
    }
}

/// A JWK Set (RFC 7517 §5): `{"keys":[…]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JwkSet {
    /// The keys.
    pub keys: Vec<serde_json::Value>,
}

/// The usable Ed25519 keys of a key directory body, with the number of entries skipped (other
/// key types, bad members, beyond [`MAX_DIRECTORY_KEYS`]).
///
/// # Errors
/// [`KeyError::Json`] when the body is not a JWK Set.
pub fn parse_directory(body: &[u8]) -> Result<(Vec<PublicKey>, usize), KeyError> {
    let set: JwkSet = serde_json::from_slice(body).map_err(|e| KeyError::Json(e.to_string()))?;
    let mut keys = Vec::new();
    let mut skipped = 0;
    for v in set.keys {
        let k = serde_json::from_value::<Jwk>(v)
            .ok()
            .and_then(|j| j.public_key().ok());
        match k {
            Some(k) if keys.len() < MAX_DIRECTORY_KEYS => keys.push(k),
            _ => skipped += 1,
        }
    }
    Ok((keys, skipped))
}

/// The directory JSON to publish for `keys` (a JWK Set of public JWKs, `kid` = thumbprint).
pub fn directory_json(keys: &[PublicKey]) -> String {
    let set = serde_json::json!({ "keys": keys.iter().map(PublicKey::to_jwk).collect::<Vec<_>>() });
    serde_json::to_string_pretty(&set).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc9421_test_key_thumbprint() {
        // RFC 9421 B.1.4 test-key-ed25519; thumbprint as in the Web Bot Auth draft's vectors.
        assert_eq!(
            thumbprint("JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs"),
            "poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U"
        );
    }

    #[test]
    fn non_ed25519_keys_are_skipped() {
        let (keys, skipped) = parse_directory(
            br#"{"keys":[{"kty":"RSA","n":"x","e":"AQAB"},{"kty":"OKP","crv":"Ed25519","x":"JrQLj5P_89iXES9-vFgrIy29clF9CC_oPPsw3c5D0bs"},{"kty":"OKP","crv":"Ed25519","x":"short"}]}"#,
        )
        .unwrap();
        assert_eq!(keys.len(), 1);
        assert_eq!(skipped, 2);
        assert_eq!(
            keys[0].thumbprint,
            "poqkLGiymh_W0uP6PZFw-dvez3QJT5SolqXBCW38r0U"
        );
        assert!(matches!(parse_directory(b"[]"), Err(KeyError::Json(_))));
    }
}
