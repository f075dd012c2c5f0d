//! Token buckets for `limit` rules, keyed per client address prefix (/24 IPv4, /56 IPv6), per
//! agent or per operator. Bounded (moka cache, LRU-ish eviction, idle expiry) and measured.

use std::hash::{Hash, Hasher};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tollgate_policy::{LimitKey, LimitSpec};

/// Most buckets kept at once.
pub const MAX_BUCKETS: u64 = 200_000;

/// A bucket's identity: the rule and the key value.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct BucketKey {
    rule: u16,
    value: KeyValue,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum KeyValue {
    V4(u32),
    V6(u64),
    Agent(u16),
    Operator(u64),
    None,
}

impl BucketKey {
    /// The bucket for rule `rule` and this client.
    pub fn new(
        rule: usize,
        key: LimitKey,
        ip: IpAddr,
        agent: Option<u16>,
        operator: Option<&str>,
    ) -> BucketKey {
        let value = match key {
            LimitKey::Prefix => match crate::forwarding::canonical(ip) {
                IpAddr::V4(a) => KeyValue::V4(u32::from(a) & 0xffff_ff00),
                IpAddr::V6(a) => KeyValue::V6((u128::from(a) >> 72) as u64),
            },
            LimitKey::Agent => agent.map(KeyValue::Agent).unwrap_or(KeyValue::None),
            LimitKey::Operator => operator
                .map(|o| {
                    let mut h = std::collections::hash_map::DefaultHasher::new();
                    o.hash(&mut h);
                    KeyValue::Operator(h.finish())
                })
                .unwrap_or(KeyValue::None),
        };
        BucketKey {
            rule: rule.min(u16::MAX as usize) as u16,
            value,
        }
    }
}

#[derive(Debug)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

/// All buckets.
pub struct Limiter {
    buckets: moka::sync::Cache<BucketKey, Arc<Mutex<Bucket>>>,
}

impl Default for Limiter {
    fn default() -> Self {
        Limiter::new(MAX_BUCKETS)
    }
}

impl Limiter {
    /// A limiter holding at most `capacity` buckets; idle buckets expire after 10 minutes (a
    /// full bucket and a missing one behave the same).
    pub fn new(capacity: u64) -> Limiter {
        Limiter {
            buckets: moka::sync::Cache::builder()
                .max_capacity(capacity)
                .time_to_idle(Duration::from_secs(600))
                .build(),
        }
    }

    /// Takes one token. `Ok(())` = allowed; `Err(wait)` = refused, retry after `wait`.
    pub fn take(&self, key: BucketKey, spec: &LimitSpec, now: Instant) -> Result<(), Duration> {
        let burst = f64::from(spec.burst);
        let bucket = self.buckets.get_with(key, || {
            Arc::new(Mutex::new(Bucket {
                tokens: burst,
                at: now,
            }))
        });
        let mut b = match bucket.lock() {
            Ok(b) => b,
            Err(poisoned) => poisoned.into_inner(),
        };
        let elapsed = now.saturating_duration_since(b.at).as_secs_f64();
        b.tokens = (b.tokens + elapsed * spec.per_second).min(burst);
        b.at = now;
        if b.tokens >= 1.0 {
            b.tokens -= 1.0;
            Ok(())
        } else {
            // The policy admits rates down to one a million seconds; saturate all the same.
            Err(
                Duration::try_from_secs_f64((1.0 - b.tokens) / spec.per_second)
                    .unwrap_or(Duration::from_secs(u64::from(u32::MAX))),
            )
        }
    }

    /// Buckets currently held (for the metrics).
    pub fn len(&self) -> u64 {
        self.buckets.entry_count()
    }

    /// True when no bucket is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The bucket of 203.0.113.5's prefix for rule 0.
    fn k() -> BucketKey {
        BucketKey::new(
            0,
            LimitKey::Prefix,
            "203.0.113.5".parse().unwrap(),
            None,
            None,
        )
    }

    fn spec() -> LimitSpec {
        LimitSpec {
            per_second: 2.0,
            burst: 3,
            key: LimitKey::Prefix,
        }
    }

    #[test]
    fn a_wait_too_long_for_a_duration_saturates_instead_of_panicking() {
        let l = Limiter::default();
        let slow = LimitSpec {
            per_second: 1e-300,
            burst: 1,
            key: LimitKey::Prefix,
        };
        let t0 = Instant::now();
        assert_eq!(l.take(k(), &slow, t0), Ok(()));
        assert_eq!(
            l.take(k(), &slow, t0),
            Err(Duration::from_secs(u64::from(u32::MAX)))
        );
    }

    #[test]
    fn a_bucket_allows_its_burst_then_refuses_with_the_wait() {
        let l = Limiter::default();
        let t0 = Instant::now();
        for _ in 0..3 {
            assert_eq!(l.take(k(), &spec(), t0), Ok(()));
        }
        let wait = l.take(k(), &spec(), t0).unwrap_err();
        assert_eq!(wait, Duration::from_millis(500));
        // Half a second later one token is back.
        assert_eq!(
            l.take(k(), &spec(), t0 + Duration::from_millis(500)),
            Ok(())
        );
        assert!(l
            .take(k(), &spec(), t0 + Duration::from_millis(500))
            .is_err());
    }

    #[test]
    fn one_slash_24_shares_a_bucket_and_another_does_not() {
        let l = Limiter::default();
        let t0 = Instant::now();
        let k = |ip: &str| BucketKey::new(0, LimitKey::Prefix, ip.parse().unwrap(), None, None);
        for i in 0..3 {
            assert_eq!(l.take(k(&format!("203.0.113.{i}")), &spec(), t0), Ok(()));
        }
        assert!(l.take(k("203.0.113.200"), &spec(), t0).is_err());
        assert_eq!(l.take(k("203.0.114.1"), &spec(), t0), Ok(()));
        // IPv6: one /56.
        assert_eq!(
            BucketKey::new(
                0,
                LimitKey::Prefix,
                "2001:db8:0:ff::1".parse().unwrap(),
                None,
                None
            ),
            BucketKey::new(
                0,
                LimitKey::Prefix,
                "2001:db8:0:1::9".parse().unwrap(),
                None,
                None
            )
        );
        assert_ne!(
            BucketKey::new(
                0,
                LimitKey::Prefix,
                "2001:db8:0:100::1".parse().unwrap(),
                None,
                None
            ),
            BucketKey::new(
                0,
                LimitKey::Prefix,
                "2001:db8:0:1::9".parse().unwrap(),
                None,
                None
            )
        );
    }
}
