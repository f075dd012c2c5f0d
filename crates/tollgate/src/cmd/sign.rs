//! `tollgate keygen` and `tollgate sign`: the crawler operator's side of Web Bot Auth
//! (draft-ietf-webbotauth-httpsig-protocol-01, RFC 9421 Ed25519), on `tollgate_httpsig::sign`.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{bail, Context};
use clap::Args;
use tollgate_httpsig::{RequestView, SignOptions, Signer};

/// `tollgate keygen`.
#[derive(Args)]
pub struct KeygenArgs {
    /// Where to write the private key (a JWK, file mode 0600). Never overwritten.
    #[arg(long)]
    pub key: PathBuf,
    /// Where to write the key directory JSON to publish at
    /// `https://<your agent origin>/.well-known/http-message-signatures-directory`
    /// (default: standard output).
    #[arg(long)]
    pub directory: Option<PathBuf>,
}

/// `tollgate sign`.
#[derive(Args)]
pub struct SignArgs {
    /// Private key (a JWK written by `tollgate keygen`).
    #[arg(long)]
    pub key: PathBuf,
    /// Your agent's origin (key directory at its well-known path) or JWKS URL, sent as
    /// `Signature-Agent` and covered by the signature.
    #[arg(long)]
    pub agent: String,
    /// A request header `Name: value` to send and cover (repeatable), e.g.
    /// `--header 'crawler-max-price: USD 0.05'`.
    #[arg(long = "header", short = 'H', value_name = "NAME: VALUE")]
    pub headers: Vec<String>,
    /// Seconds the signature is valid (`expires − created`), 1 to 86 400 (sites refuse longer
    /// windows by default). Default 60.
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(i64).range(1..=86_400))]
    pub validity: i64,
    /// Sign without a nonce (sites that require nonces for charged requests refuse these).
    #[arg(long)]
    pub no_nonce: bool,
    /// Print the signature base too (to standard error).
    #[arg(long)]
    pub verbose: bool,
    /// Method, e.g. GET.
    pub method: String,
    /// Absolute URL of the request.
    pub url: String,
    /// Run this command (curl-style) with `-H 'Name: value'` for every header and the URL
    /// appended, instead of printing the headers; e.g. `--exec curl -s`. Must come last.
    #[arg(long, num_args = 1.., allow_hyphen_values = true, value_name = "CMD")]
    pub exec: Vec<String>,
}

/// Runs `keygen`.
pub fn keygen(a: KeygenArgs) -> anyhow::Result<ExitCode> {
    let signer = Signer::generate().context("no randomness from the operating system")?;
    let private = serde_json::to_string_pretty(&signer.private_jwk())?;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt as _;
        opts.mode(0o600);
    }
    let mut f = opts.open(&a.key).with_context(|| {
        format!(
            "{}: cannot create (it is never overwritten)",
            a.key.display()
        )
    })?;
    writeln!(f, "{private}").with_context(|| a.key.display().to_string())?;
    let dir = tollgate_httpsig::jwk::directory_json(std::slice::from_ref(signer.public_key()));
    match &a.directory {
        Some(p) => {
            std::fs::write(p, format!("{dir}\n")).with_context(|| p.display().to_string())?
        }
        None => println!("{dir}"),
    }
    eprintln!(
        "tollgate: wrote {} (keep it secret); keyid (JWK thumbprint) {}",
        a.key.display(),
        signer.public_key().thumbprint
    );
    Ok(ExitCode::SUCCESS)
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Runs `sign`.
pub fn sign(a: SignArgs) -> anyhow::Result<ExitCode> {
    let text = std::fs::read_to_string(&a.key).with_context(|| a.key.display().to_string())?;
    let signer = Signer::from_jwk_json(&text).with_context(|| a.key.display().to_string())?;
    let mut headers = http::HeaderMap::new();
    let mut opts = SignOptions::new(unix_now(), &a.agent);
    let mut sent = Vec::new();
    for h in &a.headers {
        let Some((name, value)) = h.split_once(':') else {
            bail!("--header `{h}`: expected `Name: value`");
        };
        let (name, value) = (name.trim().to_ascii_lowercase(), value.trim());
        let hn = http::HeaderName::from_bytes(name.as_bytes())
            .with_context(|| format!("--header `{h}`: bad name"))?;
        let hv = http::HeaderValue::from_str(value)
            .with_context(|| format!("--header `{h}`: bad value"))?;
        if !headers.contains_key(&hn) {
            opts = opts.cover_header(&name);
        }
        headers.append(hn, hv);
        sent.push(format!("{name}: {value}"));
    }
    let method = a.method.to_ascii_uppercase();
    let req = RequestView::from_url(&method, &a.url, &headers).map_err(anyhow::Error::msg)?;
    if req.query.is_some() {
        opts.components
            .insert(3.min(opts.components.len()), "@query".into());
    }
    opts.validity_secs = a.validity;
    if !a.no_nonce {
        opts = opts
            .with_random_nonce()
            .context("no randomness for the nonce")?;
    }
    let out = signer
        .sign(&req, &opts)
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    if a.verbose {
        eprintln!("signature base:\n{}\n", out.base);
    }
    if let Some(agent) = &out.signature_agent {
        sent.push(format!("Signature-Agent: {agent}"));
    }
    sent.push(format!("Signature-Input: {}", out.signature_input));
    sent.push(format!("Signature: {}", out.signature));
    if a.exec.is_empty() {
        // Every header to send, the covered --header ones first: all of them go on the request.
        for line in &sent {
            println!("{line}");
        }
        return Ok(ExitCode::SUCCESS);
    }
    let (program, args) = a.exec.split_first().context("--exec needs a command")?;
    let mut cmd = std::process::Command::new(program);
    cmd.args(args);
    match method.as_str() {
        "GET" => {}
        "HEAD" => {
            cmd.arg("-I");
        }
        m => {
            cmd.args(["-X", m]);
        }
    }
    for line in &sent {
        cmd.args(["-H", line]);
    }
    cmd.arg(&a.url);
    let status = cmd
        .status()
        .with_context(|| format!("--exec: cannot run `{program}`"))?;
    Ok(match status.code() {
        Some(0) => ExitCode::SUCCESS,
        Some(c) => ExitCode::from(u8::try_from(c).unwrap_or(1)),
        None => ExitCode::from(1),
    })
}
