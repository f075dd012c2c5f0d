//! `tollgate serve` and `tollgate check`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tollgate_gateway::admin::{self, AdminState};
use tollgate_gateway::{Config, Gateway};

/// The example config embedded in the binary (`examples/tollgate.toml`).
pub const EXAMPLE_CONFIG: &str = include_str!("../../../../examples/tollgate.toml");

/// Arguments of `tollgate serve`.
#[derive(clap::Args)]
pub struct ServeArgs {
    /// Config file; default: the embedded examples/tollgate.toml (serves examples/site/ on
    /// 127.0.0.1:8080).
    #[arg(long, short)]
    pub config: Option<PathBuf>,
    /// Answer forward-auth subrequests (nginx auth_request, Traefik ForwardAuth, Caddy
    /// forward_auth): 200 = pass, anything else is the response to show.
    #[arg(long)]
    pub forward_auth: bool,
    /// Override `[server] listen`.
    #[arg(long)]
    pub listen: Option<std::net::SocketAddr>,
    /// Reload the config when the file changes (checked every 2 s), as well as on SIGHUP.
    #[arg(long)]
    pub watch: bool,
    /// Data directory with fetched IP ranges (see `tollgate ranges update`).
    #[arg(long, value_name = "DIR")]
    pub data_dir: Option<PathBuf>,
    /// Ledger for pay per crawl: `sqlite:PATH` or `postgres://…` (overrides `[payments] ledger`;
    /// also `$TOLLGATE_LEDGER`).
    #[arg(long, value_name = "URL", env = "TOLLGATE_LEDGER")]
    pub ledger: Option<String>,
}

/// Arguments of `tollgate check`.
#[derive(clap::Args)]
pub struct CheckArgs {
    /// Config file to validate.
    pub config: PathBuf,
}

fn load(path: Option<&Path>, classifier: &tollgate_agents::Classifier) -> anyhow::Result<Config> {
    let (name, text) = match path {
        Some(p) => (
            p.display().to_string(),
            tollgate_gateway::config::read_config(p).map_err(anyhow::Error::msg)?,
        ),
        None => (
            "examples/tollgate.toml (embedded)".to_string(),
            EXAMPLE_CONFIG.to_string(),
        ),
    };
    Ok(Config::parse(&name, &text, classifier.catalogue())?)
}

/// `tollgate check FILE`: prints `FILE: ok` or the error with file:line; exit 0 or 1.
pub fn check(a: CheckArgs) -> anyhow::Result<ExitCode> {
    let classifier = crate::data::classifier(None, None)?;
    match load(Some(&a.config), &classifier) {
        Ok(c) if admin_without_token(&c) => {
            eprintln!(
                "{}: [server.admin] has no token and $TOLLGATE_ADMIN_TOKEN is not set: serve would refuse to start",
                a.config.display()
            );
            Ok(ExitCode::from(1))
        }
        Ok(c) => {
            println!(
                "{}: ok ({} rules, origin {})",
                a.config.display(),
                c.policy.rules().len(),
                c.server.origin
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(e) => {
            eprintln!("{e:#}");
            Ok(ExitCode::from(1))
        }
    }
}

/// True if `[server.admin]` is there with an empty token and the environment supplies none.
fn admin_without_token(c: &Config) -> bool {
    c.server.admin.as_ref().is_some_and(|a| a.token.is_empty())
        && std::env::var("TOLLGATE_ADMIN_TOKEN").map_or(true, |t| t.is_empty())
}

/// Log lines buffered in memory and written to stderr in blocks (like nginx's
/// `access_log … buffer=64k flush=…`): the request path copies its line into the buffer and never
/// makes a syscall or wakes another thread for it. A background thread writes the buffer out
/// every [`LOG_FLUSH_EVERY`]; warnings and errors are written at once; a full buffer is written
/// by whoever fills it. On a terminal every line is written at once.
#[derive(Clone)]
struct BufferedStderr {
    buf: std::sync::Arc<std::sync::Mutex<std::io::BufWriter<std::io::Stderr>>>,
    terminal: bool,
}

/// How often buffered log lines reach stderr.
const LOG_FLUSH_EVERY: Duration = Duration::from_millis(100);
/// Log buffer size, bytes.
const LOG_BUFFER: usize = 64 * 1024;

impl BufferedStderr {
    fn new() -> BufferedStderr {
        BufferedStderr {
            buf: std::sync::Arc::new(std::sync::Mutex::new(std::io::BufWriter::with_capacity(
                LOG_BUFFER,
                std::io::stderr(),
            ))),
            terminal: std::io::IsTerminal::is_terminal(&std::io::stderr()),
        }
    }

    fn flush(&self) {
        let mut b = match self.buf.lock() {
            Ok(b) => b,
            Err(p) => p.into_inner(),
        };
        let _ = std::io::Write::flush(&mut *b);
    }
}

/// One event's writer: the locked buffer, flushed on drop when the event must not wait.
struct LogLine<'a> {
    buf: std::sync::MutexGuard<'a, std::io::BufWriter<std::io::Stderr>>,
    flush: bool,
}

impl std::io::Write for LogLine<'_> {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        self.buf.write(data)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for LogLine<'_> {
    fn drop(&mut self) {
        if self.flush {
            let _ = std::io::Write::flush(&mut *self.buf);
        }
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for BufferedStderr {
    type Writer = LogLine<'a>;

    fn make_writer(&'a self) -> LogLine<'a> {
        LogLine {
            buf: match self.buf.lock() {
                Ok(b) => b,
                Err(p) => p.into_inner(),
            },
            flush: self.terminal,
        }
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> LogLine<'a> {
        let mut w = self.make_writer();
        w.flush |= *meta.level() <= tracing::Level::WARN;
        w
    }
}

/// Flushes the log buffer when dropped (keep it alive for the life of the process).
pub struct LogGuard(BufferedStderr);

impl Drop for LogGuard {
    fn drop(&mut self) {
        self.0.flush();
    }
}

/// One line per decision on stderr, buffered (see [`BufferedStderr`]) and formatted by
/// [`DecisionFormat`](super::logline::DecisionFormat). Plain text unless `json`; colours only on
/// a terminal.
fn init_logging(json: bool) -> LogGuard {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_env("TOLLGATE_LOG").unwrap_or_else(|_| EnvFilter::new("info"));
    let writer = BufferedStderr::new();
    let ansi = writer.terminal;
    if !writer.terminal {
        let w = writer.clone();
        let _ = std::thread::Builder::new()
            .name("tollgate-log".into())
            .spawn(move || loop {
                std::thread::sleep(LOG_FLUSH_EVERY);
                w.flush();
            });
    }
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi)
        .with_writer(writer.clone());
    use super::logline::DecisionFormat;
    use tracing_subscriber::fmt::format;
    let _ = if json {
        builder
            .json()
            .event_format(DecisionFormat::new(format().json(), true))
            .try_init()
    } else {
        builder
            .event_format(DecisionFormat::new(format(), false))
            .try_init()
    };
    LogGuard(writer)
}

/// Runs the gateway until Ctrl-C / SIGTERM.
pub fn serve(a: ServeArgs) -> anyhow::Result<ExitCode> {
    let dir = crate::data::data_dir(a.data_dir.as_deref());
    let classifier = Arc::new(crate::data::classifier(None, dir.as_deref())?);
    let mut config = load(a.config.as_deref(), &classifier)?;
    if let Some(l) = a.listen {
        config.server.listen = l;
    }
    if a.forward_auth && config.server.trusted_proxies.is_empty() {
        // The proxy asking is the peer; by default trust it only on loopback.
        config.server.trusted_proxies = vec!["127.0.0.0/8".parse()?, "::1/128".parse()?];
    }
    let _log_guard = init_logging(config.server.log_json);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    rt.block_on(run(a, config, classifier))
}

async fn run(
    a: ServeArgs,
    config: Config,
    classifier: Arc<tollgate_agents::Classifier>,
) -> anyhow::Result<ExitCode> {
    let metrics = metrics_exporter_prometheus::PrometheusBuilder::new()
        .install_recorder()
        .context("installing the metrics recorder")?;
    // Histograms keep samples until upkeep drains them: without this, memory grows with every
    // request until /metrics is scraped (invariant 5: every table bounded).
    let upkeep = metrics.clone();
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_secs(5));
        loop {
            tick.tick().await;
            upkeep.run_upkeep();
        }
    });
    let listen = config.server.listen;
    let admin_cfg = config.server.admin.clone();
    let origin = config.server.origin.to_string();
    if let tollgate_gateway::Origin::Dir(d) = &config.server.origin {
        if !d.is_dir() {
            anyhow::bail!(
                "origin dir:{} does not exist (run from the repository root, or set [server] origin)",
                d.display()
            );
        }
    }
    let ledger_url = a.ledger.clone().or_else(|| config.payments.ledger.clone());
    let ledger = match &ledger_url {
        Some(url) => Some(open_ledger(url, &config.payments).await?),
        None => None,
    };
    let mut gateway = Gateway::new(
        config,
        Arc::clone(&classifier),
        a.forward_auth,
        a.config.clone(),
    );
    if let Some(l) = ledger {
        // Fail-open: charges spooled while the ledger was down go into the chain when it is back.
        l.spawn_spool_replay(Duration::from_secs(10));
        gateway = gateway.with_ledger(l);
    }
    let gateway = Arc::new(gateway);
    let listener = tollgate_gateway::server::bind(listen)
        .await
        .map_err(anyhow::Error::msg)?;
    if let Some(admin) = admin_cfg {
        let token = if admin.token.is_empty() {
            std::env::var("TOLLGATE_ADMIN_TOKEN").unwrap_or_default()
        } else {
            admin.token.clone()
        };
        if token.is_empty() {
            anyhow::bail!("[server.admin] needs a token (or $TOLLGATE_ADMIN_TOKEN)");
        }
        let state = AdminState {
            gateway: Arc::clone(&gateway),
            metrics,
            token: token.into(),
        };
        let l = tollgate_gateway::server::bind(admin.listen)
            .await
            .map_err(anyhow::Error::msg)?;
        tracing::info!(target: "tollgate::server", admin = %admin.listen, "admin listener up");
        tokio::spawn(async move {
            if let Err(e) = axum::serve(l, admin::router(state)).await {
                tracing::error!(target: "tollgate::server", error = %e, "admin listener failed");
            }
        });
    }
    spawn_reloaders(&gateway, a.config.clone(), a.watch);
    let hours = gateway.live().config.server.ranges_update_hours;
    if let (true, Some(dir)) = (hours > 0, crate::data::data_dir(a.data_dir.as_deref())) {
        spawn_ranges_timer(
            Arc::clone(&gateway),
            dir,
            Duration::from_secs(hours.saturating_mul(3600)),
        );
    }
    tracing::info!(
        target: "tollgate::server",
        listen = %listen,
        origin = %origin,
        mode = if a.forward_auth { "forward-auth" } else { "proxy" },
        "tollgate serving"
    );
    eprintln!(
        "tollgate: serving http://{listen}/ ({} → {origin}); Ctrl-C stops",
        if a.forward_auth {
            "forward-auth"
        } else {
            "proxy"
        }
    );
    tollgate_gateway::server::serve(gateway, listener, shutdown_signal()).await;
    Ok(ExitCode::SUCCESS)
}

/// Opens the ledger named by `url` with the `[payments]` failure mode.
async fn open_ledger(
    url: &str,
    p: &tollgate_gateway::config::PaymentsConfig,
) -> anyhow::Result<tollgate_ledger::Ledger> {
    use tollgate_gateway::config::OnLedgerUnavailable;
    let opts = tollgate_ledger::LedgerOptions {
        on_unavailable: match p.on_ledger_unavailable {
            OnLedgerUnavailable::FailClosed => tollgate_ledger::Unavailable::FailClosed,
            OnLedgerUnavailable::FailOpen => tollgate_ledger::Unavailable::FailOpen {
                spool: p.spool.clone(),
            },
        },
        ..Default::default()
    };
    let ledger = tollgate_ledger::Ledger::open(url, opts)
        .await
        .with_context(|| format!("opening the ledger {}", tollgate_ledger::redact(url)))?;
    tracing::info!(target: "tollgate::server", ledger = %tollgate_ledger::redact(url), "ledger open");
    Ok(ledger)
}

async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = match signal(SignalKind::terminate()) {
            Ok(s) => s,
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                return;
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

/// Every `every`, fetch the published ranges into `dir` (as `tollgate ranges update` does) and
/// swap in a classifier built from them; failures are logged and change nothing.
fn spawn_ranges_timer(gateway: Arc<Gateway>, dir: PathBuf, every: Duration) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
        loop {
            tick.tick().await;
            let d = dir.clone();
            let job = tokio::task::spawn_blocking(move || {
                let results =
                    crate::cmd::ranges::update_files(&d, &[], Duration::from_secs(20), 16 << 20)?;
                let classifier = crate::data::classifier(None, Some(&d))?;
                anyhow::Ok((results, classifier))
            })
            .await;
            match job {
                Ok(Ok((results, classifier))) => {
                    let ok = results.iter().filter(|r| r.result.is_ok()).count();
                    for r in results.iter() {
                        if let Err(e) = &r.result {
                            tracing::warn!(target: "tollgate::ranges", file = %r.file, error = %e, "range file not updated");
                        }
                    }
                    gateway.set_classifier(Arc::new(classifier));
                    metrics::counter!("tollgate_ranges_updates_total").increment(1);
                    tracing::info!(target: "tollgate::ranges", updated = ok, files = results.len(), "published ranges refreshed");
                }
                Ok(Err(e)) => {
                    tracing::error!(target: "tollgate::ranges", error = %e, "ranges update failed; the current ranges stay")
                }
                Err(e) => {
                    tracing::error!(target: "tollgate::ranges", error = %e, "ranges update task failed")
                }
            }
        }
    });
}

fn do_reload(g: &Gateway, why: &str) {
    match g.reload() {
        Ok(()) => tracing::info!(target: "tollgate::server", why, "config reloaded"),
        Err(e) => {
            tracing::error!(target: "tollgate::server", why, error = %e, "config rejected; the old one stays")
        }
    }
}

fn spawn_reloaders(gateway: &Arc<Gateway>, path: Option<PathBuf>, watch: bool) {
    #[cfg(unix)]
    {
        let g = Arc::clone(gateway);
        tokio::spawn(async move {
            use tokio::signal::unix::{signal, SignalKind};
            let Ok(mut hup) = signal(SignalKind::hangup()) else {
                return;
            };
            while hup.recv().await.is_some() {
                do_reload(&g, "SIGHUP");
            }
        });
    }
    if let (true, Some(p)) = (watch, path) {
        let g = Arc::clone(gateway);
        tokio::spawn(async move {
            let mtime = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
            let mut last = mtime(&p);
            let mut tick = tokio::time::interval(Duration::from_secs(2));
            loop {
                tick.tick().await;
                let now = mtime(&p);
                if now != last {
                    last = now;
                    do_reload(&g, "file changed");
                }
            }
        });
    }
}

/// Arguments of `tollgate robots`.
#[derive(clap::Args)]
pub struct RobotsArgs {
    /// Config file; default: the embedded examples/tollgate.toml.
    #[arg(long, short)]
    pub config: Option<PathBuf>,
}

/// `tollgate robots`: prints the robots.txt that `serve` generates from the policy and
/// `[signals]`.
pub fn robots(a: RobotsArgs) -> anyhow::Result<ExitCode> {
    let classifier = crate::data::classifier(None, None)?;
    let config = load(a.config.as_deref(), &classifier)?;
    let Some(signals) = config.signals else {
        anyhow::bail!("the config has no [signals] table, so serve passes /robots.txt to the origin unchanged; add [signals] site_url = \"https://…\" to generate one");
    };
    crate::output::print(&signals.robots_txt)?;
    Ok(ExitCode::SUCCESS)
}
