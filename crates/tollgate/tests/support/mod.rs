//! Test support: real peers (nginx, curl) started on loopback ports, and the tollgate binary.
//! External programs are detected; when absent the test is skipped with a loud message, unless
//! `TOLLGATE_REQUIRE_EXTERNAL=1` (CI), where a skip is a failure.

#![allow(dead_code, clippy::unwrap_used)]

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A free loopback port for a test server. It lies below the kernel's ephemeral port range, so
/// no outgoing connection and no `bind(0)` elsewhere can take it between this check and the
/// server's own bind (a port from `bind(0)` could: CI once saw tollgate fail to start that way);
/// it is unique within this test process and was free when checked.
pub fn free_port() -> u16 {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const LOW: u32 = 10_000;
    let span = ephemeral_port_low().saturating_sub(LOW).max(1_000);
    let start = std::process::id().wrapping_mul(7_919) % span;
    for _ in 0..span {
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let port = (LOW + (start + n) % span) as u16;
        if TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free loopback port in {LOW}..{}", LOW + span);
}

/// The first port of the kernel's ephemeral range (`ip_local_port_range`; Linux's default
/// 32768 where it cannot be read).
pub fn ephemeral_port_low() -> u32 {
    std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse::<u32>().ok())
        .unwrap_or(32_768)
}

/// Finds an external program; `None` means skip (or panic under TOLLGATE_REQUIRE_EXTERNAL=1).
pub fn external(name: &str, candidates: &[&str]) -> Option<PathBuf> {
    for c in candidates {
        let p = PathBuf::from(c);
        if p.is_file() {
            return Some(p);
        }
    }
    if let Ok(path) = std::env::var("PATH") {
        for dir in path.split(':') {
            let p = Path::new(dir).join(name);
            if p.is_file() {
                return Some(p);
            }
        }
    }
    let msg = format!(
        "\n\n!!!!!!!! SKIPPED: `{name}` is not installed; this test needs a real {name}. \
         Install it (Debian: apt-get install {name}) — CI sets TOLLGATE_REQUIRE_EXTERNAL=1 and fails here. !!!!!!!!\n"
    );
    if std::env::var("TOLLGATE_REQUIRE_EXTERNAL").as_deref() == Ok("1") {
        panic!("{msg}");
    }
    eprintln!("{msg}");
    None
}

/// Waits until something accepts on `port`.
pub fn wait_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        if accepts(port) {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    panic!("{what} did not start listening on port {port}");
}

/// Starts a server and waits until `ready` (or 60 s). While it exits because its address is in
/// use it is started again, with fresh ports, up to three times in all; any other failure panics
/// with its log. `start` spawns it and names its port (for messages).
fn start_server<T>(
    what: &str,
    mut start: impl FnMut() -> (T, u16),
    child: impl Fn(&mut T) -> &mut Child,
    ready: impl Fn(&T) -> bool,
    log: impl Fn(&T) -> String,
) -> T {
    for attempt in 1..=3 {
        let (mut server, port) = start();
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = child(&mut server).try_wait() {
                let log = log(&server);
                if attempt < 3 && log.contains("in use") {
                    eprintln!("{what} on port {port}: address in use, trying another port");
                    break;
                }
                panic!(
                    "{what} exited ({status}) before it was ready on port {port}; its log:\n{log}"
                );
            }
            if ready(&server) {
                return server;
            }
            assert!(
                Instant::now() < deadline,
                "{what} was not ready on port {port} within 60 s; its log:\n{}",
                log(&server)
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    unreachable!("the last attempt returns or panics")
}

/// Whether something accepts on loopback `port`.
fn accepts(port: u16) -> bool {
    TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// A file `dir/stderr.log` for a server's standard error.
fn stderr_file(dir: &Path) -> Stdio {
    Stdio::from(std::fs::File::create(dir.join("stderr.log")).unwrap())
}

/// A child process killed on drop.
pub struct Proc(pub Child, pub String);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A real nginx serving `root` on a loopback port, with its own prefix directory.
pub struct Nginx {
    pub port: u16,
    pub dir: tempfile::TempDir,
    _proc: Proc,
}

/// Starts nginx with `server_block` (its `{port}` and `{root}` replaced) inside `http {}`.
/// `None` when nginx is not installed (and not required).
pub fn nginx(server_block: &str, root: &Path) -> Option<Nginx> {
    let bin = external("nginx", &["/usr/sbin/nginx"])?;
    let start = || {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let server = server_block
            .replace("{port}", &port.to_string())
            .replace("{root}", &root.display().to_string())
            .replace("{dir}", &dir.path().display().to_string());
        let conf = format!(
            "daemon off;\nmaster_process off;\nworker_processes 1;\npid {d}/nginx.pid;\nerror_log {d}/error.log info;\n\
             events {{ worker_connections 1024; }}\n\
             http {{\n  include /etc/nginx/mime.types;\n  types {{ application/atom+xml xml; }}\n  default_type application/octet-stream;\n\
             client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; fastcgi_temp_path {d}/fcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi;\n\
             log_format fwd '$remote_addr \"$http_x_forwarded_for\" \"$http_forwarded\" \"$request\" $status \"$http_user_agent\"';\n\
             access_log {d}/access.log fwd;\n{server}\n}}\n",
            d = dir.path().display()
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).unwrap();
        let child = Command::new(&bin)
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(dir.path().join("nginx.conf"))
            .stdout(Stdio::null())
            .stderr(stderr_file(dir.path()))
            .spawn()
            .unwrap();
        let nginx = Nginx {
            port,
            dir,
            _proc: Proc(child, "nginx".into()),
        };
        (nginx, port)
    };
    Some(start_server(
        "nginx",
        start,
        |n| &mut n._proc.0,
        |n| accepts(n.port),
        |n| {
            let read = |f: &str| std::fs::read_to_string(n.dir.path().join(f)).unwrap_or_default();
            format!("{}{}", read("stderr.log"), read("error.log"))
        },
    ))
}

impl Nginx {
    /// nginx's access log so far.
    pub fn access_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("access.log")).unwrap_or_default()
    }
}

/// A running `tollgate serve` with a config written from `config` (its `{port}`, `{origin}`
/// and `{admin}` replaced).
pub struct Tollgate {
    pub port: u16,
    pub admin: u16,
    pub dir: tempfile::TempDir,
    pub proc: Proc,
}

pub fn tollgate(config: &str, origin: &str, extra_args: &[&str]) -> Tollgate {
    let start = || {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let admin = free_port();
        let text = config
            .replace("{port}", &port.to_string())
            .replace("{admin}", &admin.to_string())
            .replace("{origin}", origin);
        let path = dir.path().join("tollgate.toml");
        std::fs::write(&path, text).unwrap();
        let bin = assert_cmd::cargo::cargo_bin("tollgate");
        let child = Command::new(bin)
            .arg("serve")
            .arg("--config")
            .arg(&path)
            .args(extra_args)
            .env("TOLLGATE_DATA_DIR", dir.path().join("no-data"))
            .stdout(Stdio::null())
            .stderr(stderr_file(dir.path()))
            .spawn()
            .unwrap();
        let tg = Tollgate {
            port,
            admin,
            dir,
            proc: Proc(child, "tollgate".into()),
        };
        (tg, port)
    };
    // Printed once both listeners (public and admin) are bound.
    start_server(
        "tollgate",
        start,
        |t| &mut t.proc.0,
        |t| t.stderr().contains("tollgate: serving"),
        Tollgate::stderr,
    )
}

impl Tollgate {
    pub fn url(&self, path: &str) -> String {
        format!("http://127.0.0.1:{}{path}", self.port)
    }
    pub fn stderr(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("stderr.log")).unwrap_or_default()
    }
}

/// A response as the tests look at it.
#[derive(Debug)]
pub struct Resp {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Resp {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// GET with headers through ureq (a real HTTP client); never follows redirects.
pub fn get(url: &str, headers: &[(&str, &str)]) -> Resp {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .max_redirects(0)
        .timeout_global(Some(Duration::from_secs(20)))
        .build()
        .into();
    let mut req = agent.get(url);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let mut resp = req.call().unwrap();
    let status = resp.status().as_u16();
    let headers = resp
        .headers()
        .iter()
        .map(|(k, v)| (k.as_str().to_string(), v.to_str().unwrap_or("").to_string()))
        .collect();
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    Resp {
        status,
        headers,
        body,
    }
}

/// Sends raw bytes and returns the raw response (for request forms clients won't produce);
/// bytes that are not UTF-8 show as U+FFFD.
pub fn raw(port: u16, request: impl AsRef<[u8]>) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_ref()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

pub const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:132.0) Gecko/20100101 Firefox/132.0";
pub const GPTBOT: &str =
    "Mozilla/5.0 AppleWebKit/537.36 (KHTML, like Gecko; compatible; GPTBot/1.2; +https://openai.com/gptbot)";
pub const MINIFLUX: &str = "Miniflux/2.2.3 (https://miniflux.app)";
/// Inside OpenAI's published GPTBot ranges (data/ipranges/openai-gptbot.json).
pub const OPENAI_IP: &str = "132.196.86.17";

/// A real Caddy running `caddyfile` (its `{port}`, `{root}` replaced), with the admin API off.
pub struct Caddy {
    pub port: u16,
    pub dir: tempfile::TempDir,
    _proc: Proc,
}

pub fn caddy(caddyfile: &str, root: &Path) -> Option<Caddy> {
    let bin = external("caddy", &["/usr/bin/caddy"])?;
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let text = caddyfile
        .replace("{port}", &port.to_string())
        .replace("{root}", &root.display().to_string());
    let file = dir.path().join("Caddyfile");
    std::fs::write(&file, text).unwrap();
    let child = Command::new(bin)
        .arg("run")
        .arg("--config")
        .arg(&file)
        .arg("--adapter")
        .arg("caddyfile")
        .env("HOME", dir.path())
        .env("XDG_DATA_HOME", dir.path())
        .env("XDG_CONFIG_HOME", dir.path())
        .stdout(Stdio::null())
        .stderr(Stdio::from(
            std::fs::File::create(dir.path().join("caddy.log")).unwrap(),
        ))
        .spawn()
        .unwrap();
    let proc = Proc(child, "caddy".into());
    wait_port(port, "caddy");
    Some(Caddy {
        port,
        dir,
        _proc: proc,
    })
}
