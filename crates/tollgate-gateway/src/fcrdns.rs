//! Forward-confirmed reverse DNS (FCrDNS): the crawler check that needs I/O, done by the gateway
//! before the pure classification and handed in as `verified(fcrdns)` (DESIGN.md "Verification").
//!
//! The procedure is the one operators document for their crawlers:
//!
//! - Google, "Verifying Googlebot and other Google crawlers"
//!   (developers.google.com/search/docs/crawling-indexing/verifying-googlebot): reverse DNS lookup
//!   of the accessing IP address, check the domain is `googlebot.com`, `google.com` or
//!   `googleusercontent.com`, forward DNS lookup of that name, and check it is the same address.
//! - Bing, "Verify Bingbot" (bing.com/webmasters/help/how-to-verify-bingbot-3905dc26): reverse
//!   lookup must end in `.search.msn.com`, forward lookup must give back the address.
//! - Apple, "About Applebot" (support.apple.com/en-us/119829): reverse lookup in
//!   `*.applebot.apple.com`, then forward lookup.
//!
//! Steps, for a client address and an agent's host suffixes (`Agent::verify.fcrdns`, e.g.
//! `[".googlebot.com", ".google.com"]`):
//!
//! 1. PTR lookup of the address (IPv4-mapped IPv6 addresses are checked as IPv4).
//! 2. Keep the PTR host names that end in one of the suffixes **on a label boundary**
//!    (`crawl-66-249-66-1.googlebot.com` ends in `.googlebot.com`, `evilgooglebot.com` does not).
//! 3. Forward-resolve each such name (A for an IPv4 client, AAAA for IPv6) and require the original
//!    address among the answers.
//!
//! A check whose DNS answered and did not confirm is [`FcrdnsOutcome::Mismatch`] (the claim was
//! checkable and failed: `spoofed`); one that DNS could not answer (timeout, SERVFAIL, refused,
//! network error) is [`FcrdnsOutcome::Unavailable`] (`unverified`, never `spoofed`).
//!
//! Results are cached in a bounded [`moka`] cache keyed by (address, suffix set), `ttl_secs` for
//! `Verified`, `negative_ttl_secs` for `Mismatch`; `Unavailable` is never cached. Concurrent checks
//! of the same key share one lookup. Every check is bounded by `timeout_ms` (invariant 5).
//!
//! Metrics: counter `tollgate_fcrdns_total{outcome="verified|mismatch|unavailable"}` (one per
//! [`Fcrdns::check`] call, cache hits included) and gauge `tollgate_fcrdns_cache_entries` (set
//! after every insert).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use hickory_resolver::config::{NameServerConfigGroup, ResolveHosts, ResolverConfig, ResolverOpts};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::Name;
use hickory_resolver::proto::ProtoErrorKind;
use hickory_resolver::{ResolveError, TokioResolver};
use moka::future::Cache;
use serde::Deserialize;

/// How many PTR names of one address are forward-checked at most (bounds the work an address
/// with many PTR records can cause).
const MAX_PTR_NAMES: usize = 4;

/// Settings of the FCrDNS checker.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FcrdnsConfig {
    /// Upper bound for one whole check (PTR plus forward lookups), milliseconds. Default 1500.
    pub timeout_ms: u64,
    /// Maximum number of cached results (entries). Default 100 000.
    pub cache_capacity: u64,
    /// How long a `Verified` result is cached, seconds. Default 3600.
    pub ttl_secs: u64,
    /// How long a `Mismatch` result is cached, seconds. Default 300.
    pub negative_ttl_secs: u64,
}

impl Default for FcrdnsConfig {
    fn default() -> Self {
        FcrdnsConfig {
            timeout_ms: 1500,
            cache_capacity: 100_000,
            ttl_secs: 3600,
            negative_ttl_secs: 300,
        }
    }
}

/// The result of one FCrDNS check.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum FcrdnsOutcome {
    /// A PTR name of the address ends in one of the suffixes and resolves back to the address.
    Verified {
        /// The confirmed host name, lower case, without the trailing dot.
        host: String,
    },
    /// DNS answered and the claim failed: no PTR record, no PTR name with a matching suffix, or
    /// the matching name does not resolve back to the address. `host` is the PTR name that was
    /// looked at (the first matching one, else the first one), `None` when there was no PTR.
    Mismatch {
        /// The PTR name checked, lower case, without the trailing dot.
        host: Option<String>,
    },
    /// DNS could not answer in time (timeout, SERVFAIL, refused, network error). Counts as
    /// unverified, never as spoofed; never cached.
    Unavailable,
}

impl FcrdnsOutcome {
    /// `verified`, `mismatch` or `unavailable` (the metric label).
    pub fn label(&self) -> &'static str {
        match self {
            FcrdnsOutcome::Verified { .. } => "verified",
            FcrdnsOutcome::Mismatch { .. } => "mismatch",
            FcrdnsOutcome::Unavailable => "unavailable",
        }
    }

    /// True for [`FcrdnsOutcome::Verified`].
    pub fn is_verified(&self) -> bool {
        matches!(self, FcrdnsOutcome::Verified { .. })
    }
}

/// Building a checker failed.
#[derive(Debug, thiserror::Error)]
pub enum FcrdnsError {
    /// The system resolver configuration (`/etc/resolv.conf` on Unix) could not be read or parsed.
    #[error("reading the system resolver configuration (/etc/resolv.conf): {0}")]
    SystemConfig(#[source] ResolveError),
}

/// Cache key: the (canonical) client address and the normalised suffix set.
type Key = (IpAddr, Arc<str>);

/// Per-entry TTL: positive results live `ttl`, negative ones `negative_ttl`.
struct OutcomeExpiry {
    ttl: Duration,
    negative_ttl: Duration,
}

impl moka::Expiry<Key, FcrdnsOutcome> for OutcomeExpiry {
    fn expire_after_create(
        &self,
        _key: &Key,
        value: &FcrdnsOutcome,
        _created_at: Instant,
    ) -> Option<Duration> {
        Some(match value {
            FcrdnsOutcome::Verified { .. } => self.ttl,
            // `Unavailable` is never inserted; treat it as negative if it ever were.
            FcrdnsOutcome::Mismatch { .. } | FcrdnsOutcome::Unavailable => self.negative_ttl,
        })
    }
}

/// The FCrDNS checker: a DNS resolver (its own cache off) plus a bounded result cache.
/// `Send + Sync`; clones share the resolver and the cache.
#[derive(Clone)]
pub struct Fcrdns {
    resolver: TokioResolver,
    cache: Cache<Key, FcrdnsOutcome>,
    timeout: Duration,
}

impl std::fmt::Debug for Fcrdns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fcrdns")
            .field("timeout", &self.timeout)
            .field("cache_entries", &self.cache.entry_count())
            .finish_non_exhaustive()
    }
}

impl Fcrdns {
    /// A checker using the system resolver configuration (`/etc/resolv.conf` on Unix: name
    /// servers; its `timeout`/`attempts` are replaced by values derived from `cfg.timeout_ms`).
    ///
    /// # Errors
    /// [`FcrdnsError::SystemConfig`] when the system configuration cannot be read.
    pub fn new(cfg: &FcrdnsConfig) -> Result<Fcrdns, FcrdnsError> {
        let (config, _system_opts) =
            hickory_resolver::system_conf::read_system_conf().map_err(FcrdnsError::SystemConfig)?;
        Ok(Self::build(cfg, config))
    }

    /// A checker asking the one name server `ns` (UDP, and TCP on the same port), e.g. a local
    /// validating resolver, or a test server on loopback.
    pub fn with_nameserver(cfg: &FcrdnsConfig, ns: SocketAddr) -> Fcrdns {
        let group = NameServerConfigGroup::from_ips_clear(&[ns.ip()], ns.port(), true);
        Self::build(cfg, ResolverConfig::from_parts(None, vec![], group))
    }

    fn build(cfg: &FcrdnsConfig, config: ResolverConfig) -> Fcrdns {
        let timeout = Duration::from_millis(cfg.timeout_ms.max(1));
        let mut builder =
            TokioResolver::builder_with_config(config, TokioConnectionProvider::default());
        let opts: &mut ResolverOpts = builder.options_mut();
        // Two sequential lookups (PTR, then A/AAAA) share the budget; `attempts` = 1 retry.
        opts.timeout = (timeout / 2).max(Duration::from_millis(1));
        opts.attempts = 1;
        // Our cache is the moka one below (bounded, with a metric): keep the resolver's off.
        opts.cache_size = 0;
        // /etc/hosts must not be able to vouch for a crawler.
        opts.use_hosts_file = ResolveHosts::Never;
        // Names are absolute: never append search domains.
        opts.ndots = 0;
        opts.preserve_intermediates = false;
        let resolver = builder.build();
        let cache = Cache::builder()
            .max_capacity(cfg.cache_capacity)
            .expire_after(OutcomeExpiry {
                ttl: Duration::from_secs(cfg.ttl_secs),
                negative_ttl: Duration::from_secs(cfg.negative_ttl_secs),
            })
            .build();
        Fcrdns {
            resolver,
            cache,
            timeout,
        }
    }

    /// Checks that `ip` reverse-resolves to a name ending in one of `suffixes` (label boundary,
    /// ASCII case-insensitive; a leading `.` is optional: `.googlebot.com` and `googlebot.com`
    /// both match `googlebot.com` and `x.googlebot.com`, never `evilgooglebot.com`) that
    /// forward-resolves back to `ip`. Served from the cache when a result is there; otherwise
    /// bounded by `timeout_ms`. With no usable suffix the result is `Mismatch { host: None }`
    /// without any lookup.
    pub async fn check(&self, ip: IpAddr, suffixes: &[String]) -> FcrdnsOutcome {
        let outcome = self.check_uncounted(ip, suffixes).await;
        metrics::counter!("tollgate_fcrdns_total", "outcome" => outcome.label()).increment(1);
        outcome
    }

    async fn check_uncounted(&self, ip: IpAddr, suffixes: &[String]) -> FcrdnsOutcome {
        let ip = ip.to_canonical();
        let Some(suffix_set) = normalise_suffixes(suffixes) else {
            return FcrdnsOutcome::Mismatch { host: None };
        };
        let key: Key = (ip, Arc::from(suffix_set.join(" ")));
        let resolver = &self.resolver;
        let timeout = self.timeout;
        let init = async move {
            match tokio::time::timeout(timeout, lookup(resolver, ip, &suffix_set)).await {
                Ok(Ok(outcome)) => Ok(outcome),
                Ok(Err(Unavailable)) | Err(_) => Err(Unavailable),
            }
        };
        // The outer bound also covers waiting on a lookup another caller started.
        let entry =
            tokio::time::timeout(timeout, self.cache.entry(key).or_try_insert_with(init)).await;
        match entry {
            Ok(Ok(entry)) => {
                if entry.is_fresh() {
                    self.cache.run_pending_tasks().await;
                    metrics::gauge!("tollgate_fcrdns_cache_entries")
                        .set(self.cache.entry_count() as f64);
                }
                entry.into_value()
            }
            Ok(Err(_)) | Err(_) => FcrdnsOutcome::Unavailable,
        }
    }

    /// Number of cached results, as of the cache's last maintenance (which runs after every
    /// insert; expired entries may still be counted until the next one).
    pub fn cache_len(&self) -> u64 {
        self.cache.entry_count()
    }
}

/// Marker error: DNS could not answer.
#[derive(Debug, Clone, Copy)]
struct Unavailable;

/// The uncached check. `Err` only for "DNS could not answer"; `Ok(Mismatch)` when it answered no.
async fn lookup(
    resolver: &TokioResolver,
    ip: IpAddr,
    suffixes: &[String],
) -> Result<FcrdnsOutcome, Unavailable> {
    let ptr = match resolver.reverse_lookup(ip).await {
        Ok(ptr) => ptr,
        Err(e) if is_no_records(&e) => return Ok(FcrdnsOutcome::Mismatch { host: None }),
        Err(e) => {
            tracing::debug!(%ip, error = %e, "fcrdns: PTR lookup failed");
            return Err(Unavailable);
        }
    };
    let names: Vec<Name> = ptr
        .iter()
        .take(MAX_PTR_NAMES)
        .map(|p| p.0.clone())
        .collect();
    let mut first_seen: Option<String> = None;
    let mut first_matching: Option<String> = None;
    let mut unavailable = false;
    for mut name in names {
        let host = host_string(&name);
        if first_seen.is_none() {
            first_seen = Some(host.clone());
        }
        if !host_matches_suffixes(&host, suffixes) {
            continue;
        }
        if first_matching.is_none() {
            first_matching = Some(host.clone());
        }
        name.set_fqdn(true);
        match forward_contains(resolver, name, ip).await {
            Ok(true) => return Ok(FcrdnsOutcome::Verified { host }),
            Ok(false) => {}
            Err(Unavailable) => unavailable = true,
        }
    }
    if unavailable {
        // A matching name could not be resolved: we cannot say the claim failed.
        return Err(Unavailable);
    }
    Ok(FcrdnsOutcome::Mismatch {
        host: first_matching.or(first_seen),
    })
}

/// Whether `name` resolves (A for IPv4, AAAA for IPv6) to `ip`.
async fn forward_contains(
    resolver: &TokioResolver,
    name: Name,
    ip: IpAddr,
) -> Result<bool, Unavailable> {
    let result = match ip {
        IpAddr::V4(v4) => resolver
            .ipv4_lookup(name)
            .await
            .map(|l| l.iter().any(|a| a.0 == v4)),
        IpAddr::V6(v6) => resolver
            .ipv6_lookup(name)
            .await
            .map(|l| l.iter().any(|a| a.0 == v6)),
    };
    match result {
        Ok(found) => Ok(found),
        Err(e) if is_no_records(&e) => Ok(false),
        Err(e) => {
            tracing::debug!(%ip, error = %e, "fcrdns: forward lookup failed");
            Err(Unavailable)
        }
    }
}

/// True when DNS answered "no such name" (NXDOMAIN) or "no such record" (NOERROR, empty); false
/// for SERVFAIL, REFUSED, timeouts and I/O errors.
fn is_no_records(e: &ResolveError) -> bool {
    match e.proto().map(|p| p.kind()) {
        Some(ProtoErrorKind::NoRecordsFound { response_code, .. }) => {
            matches!(
                *response_code,
                ResponseCode::NXDomain | ResponseCode::NoError
            )
        }
        _ => false,
    }
}

/// Lower case ASCII (punycode) form without the trailing dot.
fn host_string(name: &Name) -> String {
    let mut s = name.to_ascii();
    if s.ends_with('.') {
        s.pop();
    }
    s.make_ascii_lowercase();
    s
}

/// Lower-cased suffixes without leading/trailing dots, sorted, deduplicated, empty ones dropped;
/// `None` when none is left.
fn normalise_suffixes(suffixes: &[String]) -> Option<Vec<String>> {
    let mut out: Vec<String> = suffixes
        .iter()
        .map(|s| s.trim().trim_matches('.').to_ascii_lowercase())
        .filter(|s| !s.is_empty())
        .collect();
    out.sort_unstable();
    out.dedup();
    (!out.is_empty()).then_some(out)
}

/// Whether `host` equals one of `suffixes` or ends with `.` + it (label boundary), ignoring ASCII
/// case and leading/trailing dots on both sides. `crawl-66-249-66-1.googlebot.com` matches
/// `.googlebot.com`; `evilgooglebot.com` does not.
pub fn host_matches_suffixes(host: &str, suffixes: &[String]) -> bool {
    let host = host.trim_end_matches('.');
    suffixes.iter().any(|s| {
        let s = s.trim().trim_matches('.');
        if s.is_empty() || host.len() < s.len() {
            return false;
        }
        let split = host.len() - s.len();
        let (head, tail) = host.split_at_checked(split).unwrap_or(("", ""));
        tail.eq_ignore_ascii_case(s) && (head.is_empty() || head.ends_with('.'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn suffix_on_label_boundary() {
        let g = s(&[".googlebot.com", ".google.com"]);
        assert!(host_matches_suffixes("crawl-66-249-66-1.googlebot.com", &g));
        assert!(host_matches_suffixes(
            "CRAWL-66-249-66-1.GoogleBot.com.",
            &g
        ));
        assert!(host_matches_suffixes(
            "rate-limited-proxy-66-249-90-77.google.com",
            &g
        ));
        assert!(host_matches_suffixes("googlebot.com", &g));
        assert!(!host_matches_suffixes("evilgooglebot.com", &g));
        assert!(!host_matches_suffixes("googlebot.com.evil.example", &g));
        assert!(!host_matches_suffixes("com", &g));
        assert!(!host_matches_suffixes("", &g));
        assert!(!host_matches_suffixes("x.googlebot.com", &s(&["", "."])));
        // Without the leading dot the boundary still holds.
        assert!(host_matches_suffixes(
            "a.search.msn.com",
            &s(&["search.msn.com"])
        ));
        assert!(!host_matches_suffixes(
            "asearch.msn.com",
            &s(&["search.msn.com"])
        ));
        // Non-ASCII does not panic on a char boundary.
        assert!(!host_matches_suffixes("é.googlebot.co", &g));
    }

    #[test]
    fn suffixes_normalised() {
        assert_eq!(
            normalise_suffixes(&s(&[".Google.com", "googlebot.com.", ".google.com", " "])),
            Some(s(&["google.com", "googlebot.com"]))
        );
        assert_eq!(normalise_suffixes(&s(&["", "."])), None);
    }

    #[test]
    fn defaults() {
        let c = FcrdnsConfig::default();
        assert_eq!(
            (
                c.timeout_ms,
                c.cache_capacity,
                c.ttl_secs,
                c.negative_ttl_secs
            ),
            (1500, 100_000, 3600, 300)
        );
        let c: FcrdnsConfig = toml::from_str("timeout_ms = 200").unwrap();
        assert_eq!(c.timeout_ms, 200);
        assert_eq!(c.ttl_secs, 3600);
        assert!(toml::from_str::<FcrdnsConfig>("ttl = 1").is_err());
    }

    #[tokio::test]
    async fn system_config_is_read() {
        // Only where the file is there (it names no server in some sandboxes; hickory then fails).
        if std::fs::read_to_string("/etc/resolv.conf")
            .is_ok_and(|s| s.lines().any(|l| l.trim_start().starts_with("nameserver")))
        {
            let f = Fcrdns::new(&FcrdnsConfig::default()).unwrap();
            assert_eq!(f.cache_len(), 0);
        }
    }

    #[test]
    fn send_sync() {
        fn is<T: Send + Sync + Clone + 'static>() {}
        is::<Fcrdns>();
    }
}
