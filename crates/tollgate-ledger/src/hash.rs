//! The hash chain's canonical form.

use sha2::{Digest, Sha256};

use crate::model::{EntryKind, UsageEvent};

/// `prev_hash` of entry 1: 64 zeros.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// The bytes that are hashed for an entry: a compact JSON array (no whitespace), in this order:
///
/// ```text
/// ["tollgate-ledger/1", id, time_ms, kind, account, identity, agent|null, method, url,
///  status, bytes, currency, price_micros, rule|null, request_id, prev_hash]
/// ```
///
/// Integers are decimal JSON numbers; `kind` is `"charge"`, `"record"` or `"unpaid"`;
/// `currency` is the three-letter code; `prev_hash` is lowercase hex (64 zeros for entry 1).
/// Strings are JSON strings escaping only `"`, `\` and control characters (`\b \f \n \r \t`,
/// others as `\u00xx`, lowercase hex); other characters are raw UTF-8. This is what Python's
/// `json.dumps(fields, separators=(",", ":"), ensure_ascii=False)` produces, so a crawler
/// holding a receipt can recompute it.
pub fn canonical_bytes(id: i64, kind: EntryKind, ev: &UsageEvent, prev_hash: &str) -> Vec<u8> {
    let fields = serde_json::json!([
        "tollgate-ledger/1",
        id,
        ev.time,
        kind.as_str(),
        ev.account,
        ev.identity,
        ev.agent,
        ev.method,
        ev.url,
        ev.status,
        ev.bytes,
        ev.price.currency(),
        ev.price.micros,
        ev.rule,
        ev.request_id,
        prev_hash,
    ]);
    // Serializing a `Value` built from strings and integers cannot fail.
    serde_json::to_vec(&fields).unwrap_or_default()
}

/// Lowercase hex SHA-256 of [`canonical_bytes`]: the entry's `hash`, and the next entry's
/// `prev_hash`.
pub fn entry_hash(id: i64, kind: EntryKind, ev: &UsageEvent, prev_hash: &str) -> String {
    hex::encode(Sha256::digest(canonical_bytes(id, kind, ev, prev_hash)))
}

/// Lowercase hex SHA-256 of a secret (API key, licence token): what is stored.
pub(crate) fn secret_hash(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use tollgate_policy::Money;

    fn ev() -> UsageEvent {
        UsageEvent {
            time: 1_795_000_000_000,
            account: "acme".into(),
            identity: "key:tg_0011aabb".into(),
            agent: Some("GPTBot".into()),
            method: "GET".into(),
            url: "https://example.org/a?\"q\"=\u{e9}\n".into(),
            status: 200,
            bytes: 1234,
            price: "USD 0.002".parse::<Money>().unwrap(),
            rule: None,
            request_id: "r1".into(),
        }
    }

    #[test]
    fn canonical_form_is_the_documented_json_array() {
        let b = canonical_bytes(7, EntryKind::Charge, &ev(), GENESIS_HASH);
        assert_eq!(
            String::from_utf8(b).unwrap(),
            format!(
                "[\"tollgate-ledger/1\",7,1795000000000,\"charge\",\"acme\",\"key:tg_0011aabb\",\
                 \"GPTBot\",\"GET\",\"https://example.org/a?\\\"q\\\"=\u{e9}\\n\",200,1234,\"USD\",2000,\
                 null,\"r1\",\"{GENESIS_HASH}\"]"
            )
        );
    }

    #[test]
    fn hash_is_sha256_of_the_canonical_bytes_and_covers_every_field() {
        let h = entry_hash(7, EntryKind::Charge, &ev(), GENESIS_HASH);
        assert_eq!(
            h,
            hex::encode(Sha256::digest(canonical_bytes(
                7,
                EntryKind::Charge,
                &ev(),
                GENESIS_HASH
            )))
        );
        assert_eq!(h.len(), 64);
        let mut other = ev();
        other.price.micros += 1;
        assert_ne!(h, entry_hash(7, EntryKind::Charge, &other, GENESIS_HASH));
        assert_ne!(h, entry_hash(8, EntryKind::Charge, &ev(), GENESIS_HASH));
        assert_ne!(h, entry_hash(7, EntryKind::Record, &ev(), GENESIS_HASH));
        assert_ne!(h, entry_hash(7, EntryKind::Charge, &ev(), &"1".repeat(64)));
    }
}
