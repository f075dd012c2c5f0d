//! Account administration and credentials: validation, key and token generation.

use std::time::Duration;

use tollgate_policy::{Balance, Money, MoneyError};

use crate::db::Db;
use crate::hash::secret_hash;
use crate::model::*;

/// API key prefix; a key is `tg_` + 64 lowercase hex digits.
pub const KEY_PREFIX: &str = "tg_";
/// Licence token prefix; a token is `tgl_` + 64 lowercase hex digits.
pub(crate) const TOKEN_PREFIX: &str = "tgl_";

/// The identities-table lookup key for a credential; `None` if it is malformed (so it cannot
/// be ours and needs no query).
pub(crate) fn lookup_key(cred: Credential<'_>) -> Option<String> {
    let secret_ok = |s: &str, prefix: &str| {
        s.strip_prefix(prefix)
            .is_some_and(|h| h.len() == 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
    };
    match cred {
        Credential::ApiKey(k) if secret_ok(k, KEY_PREFIX) => {
            Some(format!("key:{}", secret_hash(k)))
        }
        Credential::LicenseToken(t) if secret_ok(t, TOKEN_PREFIX) => {
            Some(format!("license:{}", secret_hash(t)))
        }
        Credential::Thumbprint(t) if valid_thumbprint(t) => Some(format!("jwk:{t}")),
        _ => None,
    }
}

/// RFC 7638 thumbprints are base64url (SHA-256: 43 characters); accept 16–128 of them.
fn valid_thumbprint(t: &str) -> bool {
    (16..=128).contains(&t.len())
        && t.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// 32 random bytes as 64 lowercase hex digits.
fn random_hex() -> Result<String, LedgerError> {
    let mut b = [0u8; 32];
    getrandom::fill(&mut b)
        .map_err(|e| LedgerError::Database(format!("no randomness for a new secret: {e}")))?;
    Ok(hex::encode(b))
}

fn micros_i64(m: Money) -> Result<i64, LedgerError> {
    i64::try_from(m.micros).map_err(|_| LedgerError::Money(MoneyError::Overflow))
}

fn same_currency(currency: &str, m: &Money) -> Result<(), LedgerError> {
    if m.currency() != currency {
        return Err(LedgerError::Money(MoneyError::CurrencyMismatch(
            currency.into(),
            m.currency().into(),
        )));
    }
    Ok(())
}

pub(crate) async fn add_account(db: &Db, new: NewAccount) -> Result<Account, LedgerError> {
    if !valid_name(&new.name) {
        return Err(LedgerError::BadName(new.name));
    }
    let currency = Money::new(&new.currency, 0)?.currency().to_string();
    let (billing, limit) = match new.billing {
        Billing::Prepaid => ("prepaid", 0),
        Billing::Postpaid { credit_limit } => {
            same_currency(&currency, &credit_limit)?;
            ("postpaid", micros_i64(credit_limit)?)
        }
    };
    let price = match new.price {
        Some(p) => {
            same_currency(&currency, &p)?;
            Some(micros_i64(p)?)
        }
        None => None,
    };
    let quota = match new.quota_per_day {
        Some(q) => Some(i64::try_from(q).map_err(|_| LedgerError::Money(MoneyError::Overflow))?),
        None => None,
    };
    db.insert_account(&new.name, billing, &currency, limit, price, quota)
        .await?;
    db.account(&new.name)
        .await?
        .ok_or_else(|| LedgerError::UnknownAccount(new.name.clone()))
}

async fn account_or_err(db: &Db, name: &str) -> Result<Account, LedgerError> {
    db.account(name)
        .await?
        .ok_or_else(|| LedgerError::UnknownAccount(name.into()))
}

pub(crate) async fn credit(db: &Db, name: &str, amount: Money) -> Result<Balance, LedgerError> {
    let acct = account_or_err(db, name).await?;
    same_currency(acct.balance.currency(), &amount)?;
    let micros = micros_i64(amount)?;
    let balance = db.add_balance(name, micros).await?;
    Ok(Balance {
        currency: acct.balance.currency,
        micros: balance,
    })
}

pub(crate) async fn set_price(
    db: &Db,
    name: &str,
    price: Option<Money>,
) -> Result<(), LedgerError> {
    let acct = account_or_err(db, name).await?;
    let micros = match price {
        Some(p) => {
            same_currency(acct.balance.currency(), &p)?;
            Some(micros_i64(p)?)
        }
        None => None,
    };
    db.update_account(name, "price_micros = $2", None, micros)
        .await
}

pub(crate) async fn set_quota(
    db: &Db,
    name: &str,
    per_day: Option<u64>,
) -> Result<(), LedgerError> {
    let q = match per_day {
        Some(q) => Some(i64::try_from(q).map_err(|_| LedgerError::Money(MoneyError::Overflow))?),
        None => None,
    };
    db.update_account(name, "quota_per_day = $2", None, q).await
}

pub(crate) async fn add_key(db: &Db, name: &str) -> Result<NewKey, LedgerError> {
    // A clash of the 8-digit key id is possible (1 in 4·10⁹ per pair): draw again.
    for _ in 0..8 {
        let secret = format!("{KEY_PREFIX}{}", random_hex()?);
        let key_id = secret[..KEY_PREFIX.len() + 8].to_string();
        let lookup = format!("key:{}", secret_hash(&secret));
        if db
            .insert_identity(name, "key", &lookup, &format!("key:{key_id}"), None)
            .await?
        {
            return Ok(NewKey { key_id, secret });
        }
    }
    Err(LedgerError::Database(
        "could not draw a unique key id".into(),
    ))
}

pub(crate) async fn add_thumbprint(
    db: &Db,
    name: &str,
    thumbprint: &str,
) -> Result<String, LedgerError> {
    let label = format!("jwk:{thumbprint}");
    if !valid_thumbprint(thumbprint) {
        return Err(LedgerError::BadThumbprint(thumbprint.into()));
    }
    if db
        .insert_identity(name, "jwk", &label, &label, None)
        .await?
    {
        Ok(label)
    } else {
        Err(LedgerError::IdentityExists(label))
    }
}

/// The stored label for what a user typed to name an identity.
fn label_for(id: &str) -> String {
    if id.contains(':') {
        id.to_string()
    } else if id.starts_with(TOKEN_PREFIX) {
        format!("license:{id}")
    } else if id.starts_with(KEY_PREFIX) {
        format!("key:{id}")
    } else {
        format!("jwk:{id}")
    }
}

pub(crate) async fn revoke(db: &Db, name: &str, id: &str) -> Result<(), LedgerError> {
    account_or_err(db, name).await?;
    if db.revoke(name, &label_for(id)).await? {
        Ok(())
    } else {
        Err(LedgerError::UnknownIdentity {
            account: name.into(),
            identity: id.into(),
        })
    }
}

pub(crate) async fn issue_license_token(
    db: &Db,
    client_id: &str,
    client_secret: &str,
    ttl: Duration,
) -> Result<Option<IssuedToken>, LedgerError> {
    let Some(lookup) = lookup_key(Credential::ApiKey(client_secret)) else {
        return Ok(None);
    };
    match db.identity(&lookup).await? {
        Some((auth, _)) if auth.account == client_id && auth.status == AccountStatus::Active => {}
        _ => return Ok(None),
    }
    let ttl_ms = i64::try_from(ttl.as_millis()).unwrap_or(i64::MAX);
    let expires_ms = crate::now_ms().saturating_add(ttl_ms);
    for _ in 0..8 {
        let token = format!("{TOKEN_PREFIX}{}", random_hex()?);
        let label = format!("license:{}", &token[..TOKEN_PREFIX.len() + 8]);
        let lookup = format!("license:{}", secret_hash(&token));
        if db
            .insert_identity(client_id, "license", &lookup, &label, Some(expires_ms))
            .await?
        {
            return Ok(Some(IssuedToken {
                access_token: token,
                expires_in: ttl.as_secs(),
                expires_ms,
                identity: label,
            }));
        }
    }
    Err(LedgerError::Database(
        "could not draw a unique token id".into(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn malformed_credentials_need_no_lookup() {
        assert_eq!(lookup_key(Credential::ApiKey("tg_short")), None);
        assert_eq!(
            lookup_key(Credential::ApiKey(&format!("xx_{}", "a".repeat(64)))),
            None
        );
        assert_eq!(
            lookup_key(Credential::LicenseToken(&format!("tg_{}", "a".repeat(64)))),
            None
        );
        assert_eq!(
            lookup_key(Credential::Thumbprint("has space in it!!")),
            None
        );
        let k = format!("tg_{}", "a".repeat(64));
        assert_eq!(
            lookup_key(Credential::ApiKey(&k)),
            Some(format!("key:{}", secret_hash(&k)))
        );
        assert_eq!(
            lookup_key(Credential::Thumbprint(
                "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
            )),
            Some("jwk:NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs".into())
        );
    }

    #[test]
    fn identity_names_map_to_labels() {
        assert_eq!(label_for("tg_0011aabb"), "key:tg_0011aabb");
        assert_eq!(label_for("tgl_0011aabb"), "license:tgl_0011aabb");
        assert_eq!(label_for("key:tg_0011aabb"), "key:tg_0011aabb");
        assert_eq!(label_for("NzbLsXh8uDCcd"), "jwk:NzbLsXh8uDCcd");
    }

    #[test]
    fn account_names_are_restricted() {
        assert!(valid_name("acme-ai.bot_1"));
        assert!(!valid_name(""));
        assert!(!valid_name("a b"));
        assert!(!valid_name(&"a".repeat(65)));
    }
}
