//! FCrDNS against a real DNS server: an in-process authoritative `hickory-server` on
//! 127.0.0.1:<ephemeral port> (UDP and TCP) serving small in-memory zones. No mocks: the checker
//! sends real DNS messages over loopback and the server counts the queries it answers.
#![allow(clippy::unwrap_used)]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use hickory_proto::rr::rdata::{A, AAAA, PTR, SOA};
use hickory_proto::rr::{LowerName, Name, RData, Record};
use hickory_server::authority::{AuthorityObject, Catalog, ZoneType};
use hickory_server::server::{Request, RequestHandler, ResponseHandler, ResponseInfo};
use hickory_server::store::in_memory::InMemoryAuthority;
use hickory_server::ServerFuture;
use tollgate_gateway::fcrdns::{Fcrdns, FcrdnsConfig, FcrdnsOutcome};

/// Delegates to the catalogue and records every query name it is asked.
struct Counting {
    inner: Catalog,
    count: Arc<AtomicUsize>,
    names: Arc<Mutex<Vec<String>>>,
}

#[async_trait::async_trait]
impl RequestHandler for Counting {
    async fn handle_request<R: ResponseHandler>(
        &self,
        request: &Request,
        response_handle: R,
    ) -> ResponseInfo {
        self.count.fetch_add(1, Ordering::SeqCst);
        if let Ok(info) = request.request_info() {
            self.names.lock().unwrap().push(format!(
                "{} {}",
                info.query.name(),
                info.query.query_type()
            ));
        }
        self.inner.handle_request(request, response_handle).await
    }
}

struct Dns {
    addr: SocketAddr,
    count: Arc<AtomicUsize>,
    names: Arc<Mutex<Vec<String>>>,
}

impl Dns {
    fn queries(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }
}

fn name(s: &str) -> Name {
    Name::from_str(s).unwrap()
}

fn zone(origin: &str, records: Vec<Record>) -> (LowerName, Vec<Arc<dyn AuthorityObject>>) {
    let origin_name = name(origin);
    let mut auth = InMemoryAuthority::empty(origin_name.clone(), ZoneType::Primary, false);
    let soa = SOA::new(
        name("ns.test."),
        name("hostmaster.test."),
        1,
        3600,
        600,
        86400,
        60,
    );
    auth.upsert_mut(
        Record::from_rdata(origin_name.clone(), 3600, RData::SOA(soa)),
        1,
    );
    for r in records {
        assert!(auth.upsert_mut(r, 1), "record not inserted");
    }
    let objects: Vec<Arc<dyn AuthorityObject>> = vec![Arc::new(auth)];
    (LowerName::new(&origin_name), objects)
}

fn ptr(ip: IpAddr, target: &str) -> Record {
    Record::from_rdata(Name::from(ip), 60, RData::PTR(PTR(name(target))))
}

fn a(host: &str, ip: &str) -> Record {
    Record::from_rdata(name(host), 60, RData::A(A(Ipv4Addr::from_str(ip).unwrap())))
}

fn aaaa(host: &str, ip: &str) -> Record {
    Record::from_rdata(
        name(host),
        60,
        RData::AAAA(AAAA(Ipv6Addr::from_str(ip).unwrap())),
    )
}

const GOOD4: &str = "66.249.66.1";
const FAKE4: &str = "192.0.2.10";
const TRAP4: &str = "192.0.2.11";
const NOPTR4: &str = "192.0.2.12";
const UNSERVED4: &str = "192.0.2.13";
const GOOD6: &str = "2001:db8::1";

/// Starts the authoritative server on 127.0.0.1, same ephemeral port for UDP and TCP.
async fn start_dns() -> Dns {
    let ip = |s: &str| IpAddr::from_str(s).unwrap();
    let mut catalog = Catalog::new();
    let (n, z) = zone(
        "in-addr.arpa.",
        vec![
            ptr(ip(GOOD4), "crawl-66-249-66-1.googlebot.com."),
            ptr(ip(FAKE4), "crawl-fake.googlebot.com."),
            ptr(ip(TRAP4), "evilgooglebot.com."),
            // The matching name lives in a zone the server does not serve: REFUSED.
            ptr(ip(UNSERVED4), "crawl-1.unserved.test."),
        ],
    );
    catalog.upsert(n, z);
    let (n, z) = zone("ip6.arpa.", vec![ptr(ip(GOOD6), "crawl-v6.googlebot.com.")]);
    catalog.upsert(n, z);
    let (n, z) = zone(
        "com.",
        vec![
            a("crawl-66-249-66-1.googlebot.com.", GOOD4),
            // Forward mismatch: the name exists but points elsewhere.
            a("crawl-fake.googlebot.com.", "203.0.113.99"),
            a("evilgooglebot.com.", TRAP4),
            aaaa("crawl-v6.googlebot.com.", GOOD6),
        ],
    );
    catalog.upsert(n, z);

    let count = Arc::new(AtomicUsize::new(0));
    let names = Arc::new(Mutex::new(Vec::new()));
    let handler = Counting {
        inner: catalog,
        count: count.clone(),
        names: names.clone(),
    };
    // Find a port free for both UDP and TCP.
    let (udp, tcp) = loop {
        let udp = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        let port = udp.local_addr().unwrap().port();
        if let Ok(tcp) = tokio::net::TcpListener::bind(("127.0.0.1", port)).await {
            break (udp, tcp);
        }
    };
    let addr = udp.local_addr().unwrap();
    let mut server = ServerFuture::new(handler);
    server.register_socket(udp);
    server.register_listener(tcp, Duration::from_secs(5));
    tokio::spawn(async move {
        let _ = server.block_until_done().await;
    });
    Dns { addr, count, names }
}

fn google() -> Vec<String> {
    vec![".googlebot.com".to_string(), ".google.com".to_string()]
}

fn cfg() -> FcrdnsConfig {
    FcrdnsConfig {
        timeout_ms: 2000,
        ..FcrdnsConfig::default()
    }
}

fn ip(s: &str) -> IpAddr {
    IpAddr::from_str(s).unwrap()
}

fn verified(host: &str) -> FcrdnsOutcome {
    FcrdnsOutcome::Verified {
        host: host.to_string(),
    }
}

fn mismatch(host: Option<&str>) -> FcrdnsOutcome {
    FcrdnsOutcome::Mismatch {
        host: host.map(str::to_string),
    }
}

#[tokio::test]
async fn outcomes_against_a_real_server() {
    let dns = start_dns().await;
    let f = Fcrdns::with_nameserver(&cfg(), dns.addr);
    let g = google();

    assert_eq!(
        f.check(ip(GOOD4), &g).await,
        verified("crawl-66-249-66-1.googlebot.com")
    );
    assert_eq!(
        f.check(ip(FAKE4), &g).await,
        mismatch(Some("crawl-fake.googlebot.com"))
    );
    // Suffix trap: never forward-resolved, and the name is reported.
    let before = dns.queries();
    assert_eq!(
        f.check(ip(TRAP4), &g).await,
        mismatch(Some("evilgooglebot.com"))
    );
    assert_eq!(dns.queries() - before, 1, "only the PTR query");
    assert_eq!(f.check(ip(NOPTR4), &g).await, mismatch(None));
    assert_eq!(
        f.check(ip(GOOD6), &g).await,
        verified("crawl-v6.googlebot.com")
    );
    // Right name, wrong operator's suffixes.
    assert_eq!(
        f.check(ip(GOOD4), &[".search.msn.com".to_string()]).await,
        mismatch(Some("crawl-66-249-66-1.googlebot.com"))
    );
    // No usable suffix: no lookup at all.
    let before = dns.queries();
    assert_eq!(f.check(ip(GOOD4), &[]).await, mismatch(None));
    assert_eq!(dns.queries(), before);
    // A server answering REFUSED for the forward lookup: unavailable, not spoofed, not cached.
    let unserved = vec![".unserved.test".to_string()];
    let len = f.cache_len();
    assert_eq!(
        f.check(ip(UNSERVED4), &unserved).await,
        FcrdnsOutcome::Unavailable
    );
    assert_eq!(f.cache_len(), len);
    let names = dns.names.lock().unwrap().clone();
    assert!(
        names.contains(&"crawl-1.unserved.test. A".to_string()),
        "{names:?}"
    );
}

#[tokio::test]
async fn second_check_is_served_from_the_cache() {
    let dns = start_dns().await;
    let f = Fcrdns::with_nameserver(&cfg(), dns.addr);
    let g = google();
    assert_eq!(f.cache_len(), 0);

    let first = f.check(ip(GOOD4), &g).await;
    assert!(first.is_verified());
    assert_eq!(dns.queries(), 2, "PTR + A: {:?}", dns.names.lock().unwrap());
    assert_eq!(f.cache_len(), 1);
    assert_eq!(f.check(ip(GOOD4), &g).await, first);
    // Same suffix set written differently, and the IPv4-mapped IPv6 form: same key.
    let g2 = vec!["google.com.".to_string(), ".GOOGLEBOT.com".to_string()];
    assert_eq!(f.check(ip(GOOD4), &g2).await, first);
    assert_eq!(f.check(ip("::ffff:66.249.66.1"), &g).await, first);
    assert_eq!(dns.queries(), 2, "no second query");
    assert_eq!(f.cache_len(), 1);

    // Negative results are cached too.
    assert_eq!(f.check(ip(NOPTR4), &g).await, mismatch(None));
    let q = dns.queries();
    assert_eq!(f.check(ip(NOPTR4), &g).await, mismatch(None));
    assert_eq!(dns.queries(), q);
    assert_eq!(f.cache_len(), 2);
}

#[tokio::test]
async fn negative_results_use_their_own_ttl() {
    let dns = start_dns().await;
    // Negative results expire at once, positive ones stay.
    let c = FcrdnsConfig {
        negative_ttl_secs: 0,
        ..cfg()
    };
    let f = Fcrdns::with_nameserver(&c, dns.addr);
    let g = google();
    assert_eq!(
        f.check(ip(FAKE4), &g).await,
        mismatch(Some("crawl-fake.googlebot.com"))
    );
    let q = dns.queries();
    assert_eq!(
        f.check(ip(FAKE4), &g).await,
        mismatch(Some("crawl-fake.googlebot.com"))
    );
    assert_eq!(
        dns.queries(),
        2 * q,
        "expired negative result is looked up again"
    );

    assert!(f.check(ip(GOOD4), &g).await.is_verified());
    let q = dns.queries();
    assert!(f.check(ip(GOOD4), &g).await.is_verified());
    assert_eq!(dns.queries(), q);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_checks_share_one_lookup() {
    let dns = start_dns().await;
    let f = Arc::new(Fcrdns::with_nameserver(&cfg(), dns.addr));
    let mut tasks = Vec::new();
    for _ in 0..16 {
        let f = f.clone();
        tasks.push(tokio::spawn(
            async move { f.check(ip(GOOD4), &google()).await },
        ));
    }
    for t in tasks {
        assert_eq!(
            t.await.unwrap(),
            verified("crawl-66-249-66-1.googlebot.com")
        );
    }
    assert_eq!(dns.queries(), 2, "{:?}", dns.names.lock().unwrap());
    assert_eq!(f.cache_len(), 1);
}

#[tokio::test]
async fn nothing_listening_is_unavailable_and_not_cached() {
    // A port that was free a moment ago: nothing answers on UDP or TCP.
    let addr = {
        let s = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        s.local_addr().unwrap()
    };
    let c = FcrdnsConfig {
        timeout_ms: 300,
        ..FcrdnsConfig::default()
    };
    let f = Fcrdns::with_nameserver(&c, addr);
    let started = std::time::Instant::now();
    assert_eq!(
        f.check(ip(GOOD4), &google()).await,
        FcrdnsOutcome::Unavailable
    );
    assert_eq!(
        f.check(ip(GOOD4), &google()).await,
        FcrdnsOutcome::Unavailable
    );
    // Bounded by the timeout (generous margin for slow machines).
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(f.cache_len(), 0);
}

#[test]
fn metrics_are_emitted() {
    let recorder = metrics_exporter_prometheus::PrometheusBuilder::new().build_recorder();
    let handle = recorder.handle();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    metrics::with_local_recorder(&recorder, || {
        rt.block_on(async {
            let dns = start_dns().await;
            let f = Fcrdns::with_nameserver(&cfg(), dns.addr);
            let g = google();
            assert!(f.check(ip(GOOD4), &g).await.is_verified());
            assert!(f.check(ip(GOOD4), &g).await.is_verified());
            assert_eq!(f.check(ip(NOPTR4), &g).await, mismatch(None));
        });
    });
    let text = handle.render();
    assert!(
        text.contains(r#"tollgate_fcrdns_total{outcome="verified"} 2"#),
        "{text}"
    );
    assert!(
        text.contains(r#"tollgate_fcrdns_total{outcome="mismatch"} 1"#),
        "{text}"
    );
    assert!(text.contains("tollgate_fcrdns_cache_entries 2"), "{text}");
}
