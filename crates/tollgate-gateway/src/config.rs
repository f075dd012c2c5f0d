//! `tollgate.toml`: the `[server]` table (this crate), `[policy]` + `[[rule]]` (tollgate-policy)
//! and `[signals]` (tollgate-signals). Errors name file and line.

use std::net::SocketAddr;
use std::path::PathBuf;
use tollgate_agents::catalogue::line_of;

use ipnet::IpNet;
use serde::Deserialize;
use tollgate_agents::Catalogue;
use tollgate_policy::Policy;
use tollgate_signals::SignalsConfig;

fn render_signals(cfg: SignalsConfig, policy: &Policy, catalogue: &Catalogue) -> Signals {
    let mut headers = Vec::new();
    let mut push = |name: &'static str, value: String| {
        if let Ok(v) = http::HeaderValue::from_str(&value) {
            headers.push((http::HeaderName::from_static(name), v));
        }
    };
    push(
        "content-usage",
        tollgate_signals::content_usage_header(&cfg),
    );
    for (name, value) in tollgate_signals::tdm_headers(&cfg) {
        push(name, value);
    }
    push("link", tollgate_signals::license_link_header(&cfg));
    Signals {
        robots_txt: tollgate_signals::generate_robots(policy, catalogue, &cfg),
        tdmrep_json: tollgate_signals::tdmrep_json(&cfg),
        rsl_xml: tollgate_signals::rsl_document(&cfg, policy),
        license_path: cfg.license.path.clone(),
        headers,
        config: cfg,
    }
}

/// Where allowed requests go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// An HTTP origin, e.g. `http://127.0.0.1:8081` (scheme, host and port only).
    Http(http::Uri),
    /// An HTTP origin on a Unix socket: `unix:/run/app.sock`.
    Unix(PathBuf),
    /// Static files served by tollgate itself: `dir:examples/site`.
    Dir(PathBuf),
}

impl Origin {
    /// Parses `http://host:port`, `unix:/path` or `dir:path`.
    pub fn parse(s: &str) -> Result<Origin, String> {
        if let Some(p) = s.strip_prefix("dir:") {
            return Ok(Origin::Dir(PathBuf::from(p)));
        }
        if let Some(p) = s.strip_prefix("unix:") {
            return Ok(Origin::Unix(PathBuf::from(p)));
        }
        let uri: http::Uri = s.parse().map_err(|e| format!("origin `{s}`: {e}"))?;
        match (uri.scheme_str(), uri.authority(), uri.path()) {
            (Some("http"), Some(_), "/" | "") if uri.query().is_none() => Ok(Origin::Http(uri)),
            (Some("https"), _, _) => Err(format!(
                "origin `{s}`: https origins are not supported yet; put tollgate next to the origin on plain HTTP or a Unix socket"
            )),
            _ => Err(format!(
                "origin `{s}`: expected http://host:port (no path), unix:/path/to.sock or dir:path"
            )),
        }
    }
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Origin::Http(u) => write!(f, "{u}"),
            Origin::Unix(p) => write!(f, "unix:{}", p.display()),
            Origin::Dir(p) => write!(f, "dir:{}", p.display()),
        }
    }
}

/// The admin listener.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct AdminConfig {
    /// Address of the admin listener (keep it private).
    pub listen: SocketAddr,
    /// Bearer token required for everything but `/healthz`. Empty = read `$TOLLGATE_ADMIN_TOKEN`.
    #[serde(default)]
    pub token: String,
}

/// Largest config file read, bytes (a policy is a few KiB; this bounds what a reload reads).
pub const CONFIG_MAX_BYTES: u64 = 4 * 1024 * 1024;

/// Reads a config file: its text, or `path: reason` (missing, a directory, not UTF-8, or
/// larger than [`CONFIG_MAX_BYTES`]).
pub fn read_config(path: &std::path::Path) -> Result<String, String> {
    use std::io::Read as _;
    let shown = path.display();
    let file = std::fs::File::open(path).map_err(|e| format!("{shown}: {e}"))?;
    let mut text = String::new();
    file.take(CONFIG_MAX_BYTES + 1)
        .read_to_string(&mut text)
        .map_err(|e| format!("{shown}: {e}"))?;
    if text.len() as u64 > CONFIG_MAX_BYTES {
        return Err(format!(
            "{shown}: larger than {CONFIG_MAX_BYTES} bytes; is it the right file?"
        ));
    }
    Ok(text)
}

/// Most tarpitted connections `[server.tarpit] max_concurrent` may hold.
pub const TARPIT_MAX_CONCURRENT: usize = 100_000;
/// Most bytes per second `[server.tarpit] bytes_per_second` may send each client.
pub const TARPIT_MAX_BYTES_PER_SECOND: u32 = 65_536;
/// Longest `[server] ranges_update_hours` (a year).
pub const RANGES_UPDATE_MAX_HOURS: u64 = 8_760;

/// The tarpit's global budget.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TarpitConfig {
    /// Kill switch: `false` answers tarpit decisions with an immediate 429 instead.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Connections held at once; beyond it, tarpit decisions get an immediate 429. At most
    /// [`TARPIT_MAX_CONCURRENT`].
    #[serde(default = "default_tarpit_concurrency")]
    pub max_concurrent: usize,
    /// Bytes sent per second to each tarpitted client. At most [`TARPIT_MAX_BYTES_PER_SECOND`].
    #[serde(default = "default_tarpit_bps")]
    pub bytes_per_second: u32,
    /// How long one tarpitted response lasts, seconds.
    #[serde(default = "default_tarpit_secs")]
    pub duration_secs: u64,
}

fn yes() -> bool {
    true
}
fn default_tarpit_concurrency() -> usize {
    64
}
fn default_tarpit_bps() -> u32 {
    8
}
fn default_tarpit_secs() -> u64 {
    30
}

impl Default for TarpitConfig {
    fn default() -> Self {
        TarpitConfig {
            enabled: true,
            max_concurrent: default_tarpit_concurrency(),
            bytes_per_second: default_tarpit_bps(),
            duration_secs: default_tarpit_secs(),
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ServerDoc {
    #[serde(default = "default_listen")]
    listen: SocketAddr,
    origin: String,
    #[serde(default)]
    trusted_proxies: Vec<String>,
    #[serde(default = "default_connect_ms")]
    connect_timeout_ms: u64,
    #[serde(default = "default_upstream_secs")]
    upstream_timeout_secs: u64,
    #[serde(default = "default_client_idle_secs")]
    client_idle_timeout_secs: u64,
    #[serde(default)]
    terms_url: Option<String>,
    #[serde(default)]
    admin: Option<AdminConfig>,
    #[serde(default)]
    tarpit: TarpitConfig,
    #[serde(default)]
    log_json: bool,
    #[serde(default)]
    fcrdns: Option<crate::fcrdns::FcrdnsConfig>,
    #[serde(default = "default_ranges_hours")]
    ranges_update_hours: u64,
    #[serde(default)]
    web_bot_auth: crate::websig::WebBotAuthConfig,
}

fn default_ranges_hours() -> u64 {
    24
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}
fn default_connect_ms() -> u64 {
    2_000
}
fn default_upstream_secs() -> u64 {
    30
}
fn default_client_idle_secs() -> u64 {
    60
}

/// What charged routes do when the ledger cannot be written (issue #5, DESIGN.md).
#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "kebab-case")]
pub enum OnLedgerUnavailable {
    /// Answer charged routes with 503 (`crawler-error: InternalError`, `Retry-After`).
    #[default]
    FailClosed,
    /// Serve and append the charge to the spool file; it is replayed into the ledger later.
    FailOpen,
}

/// The `[payments]` table: pay per crawl and licensed access.
#[derive(Debug, Clone, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PaymentsConfig {
    /// Ledger URL: `sqlite:PATH` or `postgres://…`. Without one, `charge` rules only quote
    /// (402 + `crawler-price`) and no offer can be accepted. `serve --ledger` overrides it.
    #[serde(default)]
    pub ledger: Option<String>,
    /// `fail-closed` (default) or `fail-open`.
    #[serde(default)]
    pub on_ledger_unavailable: OnLedgerUnavailable,
    /// Spool file for `fail-open` (JSON lines, fsynced), replayed when the ledger is back.
    #[serde(default = "default_spool")]
    pub spool: PathBuf,
    /// Also record free requests by identified accounts (licensed free use) in the ledger.
    #[serde(default)]
    pub record_free: bool,
    /// Where the RSL licence-token endpoint (OAuth 2.0 client credentials) listens.
    #[serde(default = "default_token_path")]
    pub token_path: String,
    /// Lifetime of issued licence tokens, seconds.
    #[serde(default = "default_token_ttl")]
    pub token_ttl_secs: u64,
    /// Largest charged response body, bytes. Charged bodies are read whole before the charge
    /// is committed (so a page cut short is never billed); larger ones get 502.
    #[serde(default = "default_max_charged_body")]
    pub max_charged_body_bytes: usize,
}

fn default_spool() -> PathBuf {
    PathBuf::from("tollgate-spool.jsonl")
}
fn default_token_path() -> String {
    "/.tollgate/token".into()
}
fn default_token_ttl() -> u64 {
    3_600
}
fn default_max_charged_body() -> usize {
    16 << 20
}

impl Default for PaymentsConfig {
    fn default() -> Self {
        PaymentsConfig {
            ledger: None,
            on_ledger_unavailable: OnLedgerUnavailable::default(),
            spool: default_spool(),
            record_free: false,
            token_path: default_token_path(),
            token_ttl_secs: default_token_ttl(),
            max_charged_body_bytes: default_max_charged_body(),
        }
    }
}

#[derive(Debug, Deserialize)]
struct FileDoc {
    server: Option<ServerDoc>,
    #[serde(default)]
    payments: Option<PaymentsConfig>,
}

/// The `[server]` table, validated.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Public listener.
    pub listen: SocketAddr,
    /// Where allowed requests go.
    pub origin: Origin,
    /// Peers whose `X-Forwarded-For` is believed (a load balancer in front of tollgate).
    pub trusted_proxies: Vec<IpNet>,
    /// TCP connect timeout to the origin, milliseconds.
    pub connect_timeout_ms: u64,
    /// Time to wait for the origin's response head, seconds.
    pub upstream_timeout_secs: u64,
    /// A connection on which the client starts no request for this long is closed (after a
    /// request in flight is answered), seconds; checked once per period, so it goes after one
    /// to two periods. 0 = no limit. Bounds silent clients, request heads sent too slowly to
    /// finish (slowloris) and idle keep-alive connections, HTTP/1.1 and HTTP/2 alike, like
    /// nginx's `client_header_timeout` and `keepalive_timeout` (60 s and 75 s by default).
    pub client_idle_timeout_secs: u64,
    /// Linked from every refusal.
    pub terms_url: Option<String>,
    /// Admin listener, if any.
    pub admin: Option<AdminConfig>,
    /// Tarpit budget.
    pub tarpit: TarpitConfig,
    /// One JSON object per log line instead of text.
    pub log_json: bool,
    /// Forward-confirmed reverse DNS for agents that document host names (`[server.fcrdns]`;
    /// on by default).
    pub fcrdns: crate::fcrdns::FcrdnsConfig,
    /// Fetch fresh published IP ranges every this many hours (0 = never); the classifier is
    /// swapped atomically after a successful fetch.
    pub ranges_update_hours: u64,
    /// Web Bot Auth signature verification (`[server.web_bot_auth]`; on by default).
    pub web_bot_auth: crate::websig::WebBotAuthConfig,
}

/// The signals generated from the policy and `[signals]`, rendered once per config load.
#[derive(Debug, Clone)]
pub struct Signals {
    /// The `[signals]` table.
    pub config: SignalsConfig,
    /// `/robots.txt` (RFC 9309 + Content-Usage + Content-Signal + License).
    pub robots_txt: String,
    /// `/.well-known/tdmrep.json` (TDMRep).
    pub tdmrep_json: String,
    /// The RSL 1.0 licence document, served at `license_path`.
    pub rsl_xml: String,
    /// Where the licence document is served.
    pub license_path: String,
    /// Headers added to every proxied response: `Content-Usage`, `tdm-reservation`,
    /// `tdm-policy`, `Link: <licence>; rel="license"`.
    pub headers: Vec<(http::HeaderName, http::HeaderValue)>,
}

/// Everything `serve` needs from the config file.
#[derive(Debug, Clone)]
pub struct Config {
    /// The `[server]` table.
    pub server: ServerConfig,
    /// `[policy]` and `[[rule]]`.
    pub policy: Policy,
    /// `[signals]`, rendered; `None` when the file has no `[signals]` table (then `/robots.txt`
    /// and friends come from the origin unchanged).
    pub signals: Option<Signals>,
    /// `[payments]` (defaults when absent).
    pub payments: PaymentsConfig,
}

/// A config error: file, line, message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct ConfigError {
    /// File.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl From<tollgate_policy::PolicyError> for ConfigError {
    fn from(e: tollgate_policy::PolicyError) -> Self {
        ConfigError {
            file: e.file,
            line: e.line,
            message: e.message,
        }
    }
}

impl From<tollgate_signals::SignalsError> for ConfigError {
    fn from(e: tollgate_signals::SignalsError) -> Self {
        ConfigError {
            file: e.file,
            line: e.line,
            message: e.message,
        }
    }
}

const TOP_LEVEL: [&str; 5] = ["server", "policy", "rule", "signals", "payments"];

impl Config {
    /// Parses and validates a whole `tollgate.toml`.
    pub fn parse(file: &str, src: &str, catalogue: &Catalogue) -> Result<Config, ConfigError> {
        let err = |offset: usize, message: String| ConfigError {
            file: file.to_string(),
            line: line_of(src, offset),
            message,
        };
        // Unknown top-level tables are typos, not extensions.
        let raw: toml::Table = toml::from_str(src).map_err(|e| {
            err(
                e.span().map(|s| s.start).unwrap_or(0),
                e.message().to_string(),
            )
        })?;
        for key in raw.keys() {
            if !TOP_LEVEL.contains(&key.as_str()) {
                let at = src.find(key.as_str()).unwrap_or(0);
                return Err(err(
                    at,
                    format!(
                        "unknown table `{key}` (expected one of: {})",
                        TOP_LEVEL.join(", ")
                    ),
                ));
            }
        }
        let doc: FileDoc = toml::from_str(src).map_err(|e| {
            err(
                e.span().map(|s| s.start).unwrap_or(0),
                e.message().to_string(),
            )
        })?;
        let server_at = src.find("[server]").unwrap_or(0);
        let s = doc
            .server
            .ok_or_else(|| err(0, "missing [server] table (needs at least `origin`)".into()))?;
        let origin = Origin::parse(&s.origin).map_err(|m| err(server_at, m))?;
        let mut trusted = Vec::new();
        for p in &s.trusted_proxies {
            let net: IpNet = p
                .parse()
                .or_else(|_| p.parse::<std::net::IpAddr>().map(IpNet::from))
                .map_err(|_| {
                    err(
                        server_at,
                        format!("trusted_proxies: `{p}` is not an address or prefix"),
                    )
                })?;
            trusted.push(net);
        }
        s.web_bot_auth.validate(catalogue).map_err(|m| {
            // Point at the pin's own line when the message names one, else at the table.
            let table = src.find("[server.web_bot_auth").unwrap_or(server_at);
            let pin = m
                .strip_prefix("web_bot_auth.agents.")
                .and_then(|r| r.split_once(": "))
                .and_then(|(name, _)| {
                    let agents = src.find("[server.web_bot_auth.agents]")?;
                    src[agents..]
                        .find(&format!("\n{name} "))
                        .or_else(|| src[agents..].find(&format!("\n\"{name}\"")))
                        .map(|i| agents + i + 1)
                });
            err(pin.unwrap_or(table), m)
        })?;
        let tarpit_at = src.find("[server.tarpit]").unwrap_or(server_at);
        if s.tarpit.max_concurrent > TARPIT_MAX_CONCURRENT {
            return Err(err(
                tarpit_at,
                format!(
                    "tarpit.max_concurrent: {} is above the most allowed, {TARPIT_MAX_CONCURRENT}",
                    s.tarpit.max_concurrent
                ),
            ));
        }
        if s.tarpit.bytes_per_second > TARPIT_MAX_BYTES_PER_SECOND {
            return Err(err(
                tarpit_at,
                format!(
                    "tarpit.bytes_per_second: {} is above the most allowed, {TARPIT_MAX_BYTES_PER_SECOND} (a tarpit is a slow drip)",
                    s.tarpit.bytes_per_second
                ),
            ));
        }
        if s.ranges_update_hours > RANGES_UPDATE_MAX_HOURS {
            let at = src.find("ranges_update_hours").unwrap_or(server_at);
            return Err(err(
                at,
                format!(
                    "ranges_update_hours: {} is above the most allowed, {RANGES_UPDATE_MAX_HOURS} (a year; 0 turns updates off)",
                    s.ranges_update_hours
                ),
            ));
        }
        let policy = Policy::parse(file, src, catalogue)?;
        let signals =
            SignalsConfig::parse(file, src)?.map(|cfg| render_signals(cfg, &policy, catalogue));
        let payments = doc.payments.unwrap_or_default();
        if !payments.token_path.starts_with('/') {
            let at = src.find("token_path").unwrap_or(0);
            return Err(err(
                at,
                format!(
                    "payments.token_path: `{}` must start with /",
                    payments.token_path
                ),
            ));
        }
        Ok(Config {
            signals,
            payments,
            server: ServerConfig {
                listen: s.listen,
                origin,
                trusted_proxies: trusted,
                connect_timeout_ms: s.connect_timeout_ms,
                upstream_timeout_secs: s.upstream_timeout_secs,
                client_idle_timeout_secs: s.client_idle_timeout_secs,
                terms_url: s.terms_url,
                admin: s.admin,
                tarpit: s.tarpit,
                log_json: s.log_json,
                fcrdns: s.fcrdns.unwrap_or_default(),
                ranges_update_hours: s.ranges_update_hours,
                web_bot_auth: s.web_bot_auth,
            },
            policy,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat() -> Catalogue {
        Catalogue::embedded().unwrap()
    }

    #[test]
    fn origins_parse() {
        assert_eq!(
            Origin::parse("dir:examples/site"),
            Ok(Origin::Dir("examples/site".into()))
        );
        assert_eq!(
            Origin::parse("unix:/run/a.sock"),
            Ok(Origin::Unix("/run/a.sock".into()))
        );
        assert!(matches!(
            Origin::parse("http://127.0.0.1:8081"),
            Ok(Origin::Http(_))
        ));
        assert!(Origin::parse("http://127.0.0.1:8081/app").is_err());
        assert!(Origin::parse("ftp://x").is_err());
    }

    #[test]
    fn budgets_that_would_exhaust_memory_or_overflow_are_refused_with_their_line() {
        let parse = |extra: &str| {
            Config::parse(
                "t.toml",
                &format!("[server]\norigin = \"dir:.\"\n{extra}"),
                &cat(),
            )
            .map(|_| ())
            .map_err(|e| e.to_string())
        };
        assert_eq!(
            parse("\n[server.tarpit]\nmax_concurrent = 9000000000000000000\n"),
            Err("t.toml:4: tarpit.max_concurrent: 9000000000000000000 is above the most allowed, 100000".into())
        );
        assert_eq!(
            parse("\n[server.tarpit]\nbytes_per_second = 4000000000\n"),
            Err("t.toml:4: tarpit.bytes_per_second: 4000000000 is above the most allowed, 65536 (a tarpit is a slow drip)".into())
        );
        assert_eq!(
            parse("ranges_update_hours = 9223372036854775807\n"),
            Err("t.toml:3: ranges_update_hours: 9223372036854775807 is above the most allowed, 8760 (a year; 0 turns updates off)".into())
        );
        assert_eq!(
            parse("ranges_update_hours = 8760\n\n[server.tarpit]\nmax_concurrent = 100000\nbytes_per_second = 65536\n"),
            Ok(())
        );
    }

    #[test]
    fn config_errors_name_the_line() {
        let e = Config::parse("t.toml", "[server]\norigin = \"ftp://x\"\n", &cat()).unwrap_err();
        assert_eq!(e.line, 1);
        assert!(e.message.contains("expected http://host:port"), "{e}");
        let e = Config::parse(
            "t.toml",
            "[server]\norigin = \"dir:.\"\nlisten = \"nope\"\n",
            &cat(),
        )
        .unwrap_err();
        assert_eq!(e.line, 3, "{e}");
        let e = Config::parse(
            "t.toml",
            "[server]\norigin = \"dir:.\"\n\n[sever]\nx = 1\n",
            &cat(),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.toml:4: unknown table `sever` (expected one of: server, policy, rule, signals, payments)"
        );
        let e = Config::parse(
            "t.toml",
            "[server]\norigin = \"dir:.\"\ntrusted_proxies = [\"10.0.0.0/33\"]\n",
            &cat(),
        )
        .unwrap_err();
        assert!(
            e.message
                .contains("`10.0.0.0/33` is not an address or prefix"),
            "{e}"
        );
    }

    #[test]
    fn web_bot_auth_pin_errors_name_the_pins_line() {
        let src = "[server]\norigin = \"dir:.\"\n\n[server.web_bot_auth]\nenabled = true\n\n[server.web_bot_auth.agents]\nPartnerBot = \"https://x.test\"\nBadBot = \"ftp://x.test\"\n";
        let e = Config::parse("t.toml", src, &cat()).unwrap_err();
        assert!(
            e.to_string()
                .starts_with("t.toml:9: web_bot_auth.agents.BadBot: "),
            "{e}"
        );
        let src = "[server]\norigin = \"dir:.\"\n\n[server.web_bot_auth]\nmax_window_secs = 600\n[server.web_bot_auth.agents]\n\"ChatGPT Agent\" = \"https://chatgpt.com\"\n";
        let c = Config::parse("t.toml", src, &cat()).unwrap();
        assert_eq!(c.server.web_bot_auth.max_window_secs, 600);
        assert!(c.server.web_bot_auth.enabled);
        assert!(!c.server.web_bot_auth.allow_http_loopback);
    }

    #[test]
    fn policy_errors_come_through_with_their_line() {
        let e = Config::parse(
            "t.toml",
            "[server]\norigin = \"dir:.\"\n\n[[rule]]\nname = \"x\"\naction = \"charge\"\n",
            &cat(),
        )
        .unwrap_err();
        assert_eq!(e.line, 5, "{e}");
    }

    #[test]
    fn the_example_config_is_valid() {
        let src = include_str!("../../../examples/tollgate.toml");
        let c = Config::parse("examples/tollgate.toml", src, &cat()).unwrap();
        assert_eq!(c.server.origin, Origin::Dir("examples/site".into()));
        assert!(!c.policy.rules().is_empty());
    }
}
