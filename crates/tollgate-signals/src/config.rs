//! The `[signals]` table of `tollgate.toml`.
//!
//! ```toml
//! [signals]
//! site_url = "https://example.org"                  # scheme and authority, no path
//! content_usage = "train-ai=n, ai-use=n, search=y"  # aipref vocab-08, whole site (the default)
//! content_signal = "search=yes, ai-input=no, ai-train=no"  # Cloudflare Content Signals (the default)
//! tdm_reservation = true                            # TDMRep `tdm-reservation: 1` (the default)
//! tdm_policy = "https://example.org/tdm-policy.json"  # optional TDMRep policy URL
//! sitemaps = ["https://example.org/sitemap.xml"]
//! origin_robots = "User-agent: *\nDisallow: /admin/\n"  # optional: the origin's robots.txt text
//!
//! [signals.license]                                 # RSL 1.0 licence document
//! path = "/license.xml"                             # the default
//! terms_url = "https://example.org/terms"           # human-readable terms (<terms>)
//! contact = "mailto:licensing@example.org"          # <legal type="contact">
//! payment = "crawl"                                 # RSL payment type; default "crawl" with a price, else "free"
//! price = "USD 0.002"                               # <amount currency="USD">0.002</amount>
//! permits = ["search", "ai-input"]                  # RSL usage tokens (default: none listed)
//! prohibits = ["ai-train"]                          # RSL usage tokens (default: ["ai-train"])
//! ```
//!
//! Every value is checked while the file is read, so a bad value is reported with the file and
//! line (DESIGN.md invariant 7), the way `tollgate_policy::Policy::parse` does.

use std::fmt;
use tollgate_agents::catalogue::line_of;

use serde::{Deserialize, Deserializer};
use tollgate_policy::Money;

use crate::aipref::{validate_content_signal, validate_content_usage};

/// Default `content_usage`: no training, no AI use, search allowed.
pub const DEFAULT_CONTENT_USAGE: &str = "train-ai=n, ai-use=n, search=y";
/// Default `content_signal`.
pub const DEFAULT_CONTENT_SIGNAL: &str = "search=yes, ai-input=no, ai-train=no";
/// Default licence document path.
pub const DEFAULT_LICENSE_PATH: &str = "/license.xml";

/// The `[signals]` table: everything tollgate publishes to crawlers besides the policy itself.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SignalsConfig {
    /// Scheme and authority of the site, without a trailing slash (`https://example.org`). Used
    /// to make the absolute URLs RSL requires (`License:` line, `Link` header).
    #[serde(deserialize_with = "de_site_url")]
    pub site_url: String,
    /// Site-wide aipref statement in canonical RFC 9651 form (validated: labels `train-ai`,
    /// `ai-use`, `search`; tokens `y`/`n`).
    #[serde(
        default = "default_content_usage",
        deserialize_with = "de_content_usage"
    )]
    pub content_usage: String,
    /// Cloudflare Content Signals value in canonical form (labels `search`, `ai-input`,
    /// `ai-train`; `yes`/`no`).
    #[serde(
        default = "default_content_signal",
        deserialize_with = "de_content_signal"
    )]
    pub content_signal: String,
    /// TDMRep: reserve text-and-data-mining rights (`tdm-reservation: 1`) or not (`0`).
    #[serde(default = "yes")]
    pub tdm_reservation: bool,
    /// TDMRep policy URL (absolute http(s)).
    #[serde(default, deserialize_with = "de_opt_url")]
    pub tdm_policy: Option<String>,
    /// Sitemap URLs (absolute http(s)) for robots.txt `Sitemap:` records.
    #[serde(default, deserialize_with = "de_urls")]
    pub sitemaps: Vec<String>,
    /// The origin's own robots.txt text, merged into the generated one
    /// ([`crate::generate_robots`]). The gateway reads the file or URL; this is its text.
    #[serde(default)]
    pub origin_robots: Option<String>,
    /// The RSL licence (`[signals.license]`).
    #[serde(default)]
    pub license: LicenseConfig,
}

/// RSL 1.0 payment types (RSL-SPEC-1.0 §3.4 vocabularies; standards.md §3.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PaymentType {
    /// One-time purchase.
    Purchase,
    /// Recurring subscription.
    Subscription,
    /// Per training use.
    Training,
    /// Per crawl (what tollgate's `charge` action does).
    Crawl,
    /// Each time the content contributes to an AI output.
    Use,
    /// Good-faith support.
    Contribution,
    /// Credit and link.
    Attribution,
    /// No payment.
    Free,
}

impl PaymentType {
    /// The RSL token (`crawl`, `free`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            PaymentType::Purchase => "purchase",
            PaymentType::Subscription => "subscription",
            PaymentType::Training => "training",
            PaymentType::Crawl => "crawl",
            PaymentType::Use => "use",
            PaymentType::Contribution => "contribution",
            PaymentType::Attribution => "attribution",
            PaymentType::Free => "free",
        }
    }
}

/// RSL 1.0 usage tokens (standards.md §3.3). Note RSL's `ai-input` is aipref's `ai-use`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RslUsage {
    /// Any automated processing, search included.
    All,
    /// All AI uses, future ones included.
    AiAll,
    /// Training and fine-tuning.
    AiTrain,
    /// Input to models: RAG, grounding, generative answers.
    AiInput,
    /// Inclusion in an AI system's index or retrieval store.
    AiIndex,
    /// Classic search: index, links, short excerpts.
    Search,
}

impl RslUsage {
    /// The RSL token (`ai-train`, …).
    pub fn as_str(self) -> &'static str {
        match self {
            RslUsage::All => "all",
            RslUsage::AiAll => "ai-all",
            RslUsage::AiTrain => "ai-train",
            RslUsage::AiInput => "ai-input",
            RslUsage::AiIndex => "ai-index",
            RslUsage::Search => "search",
        }
    }
}

/// The `[signals.license]` table: one RSL `<license>` for the whole site.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "LicenseDoc")]
pub struct LicenseConfig {
    /// Server path of the licence document (`/license.xml`); never blocked or charged.
    pub path: String,
    /// Human-readable terms (RSL `<terms>`).
    pub terms_url: Option<String>,
    /// Licensing contact, e.g. `mailto:…` (RSL `<legal type="contact">`).
    pub contact: Option<String>,
    /// Payment type.
    pub payment: PaymentType,
    /// Price per unit of `payment` (integer micro-units, DESIGN.md invariant 6).
    pub price: Option<Money>,
    /// Usages the licence permits (empty: no `<permits>` element).
    pub permits: Vec<RslUsage>,
    /// Usages the licence prohibits.
    pub prohibits: Vec<RslUsage>,
}

impl Default for LicenseConfig {
    fn default() -> Self {
        LicenseConfig {
            path: DEFAULT_LICENSE_PATH.to_string(),
            terms_url: None,
            contact: None,
            payment: PaymentType::Free,
            price: None,
            permits: Vec::new(),
            prohibits: vec![RslUsage::AiTrain],
        }
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LicenseDoc {
    #[serde(default = "default_license_path")]
    path: String,
    #[serde(default, deserialize_with = "de_opt_url")]
    terms_url: Option<String>,
    #[serde(default)]
    contact: Option<String>,
    #[serde(default)]
    payment: Option<PaymentType>,
    #[serde(default, deserialize_with = "de_price")]
    price: Option<Money>,
    #[serde(default)]
    permits: Vec<RslUsage>,
    #[serde(default = "default_prohibits")]
    prohibits: Vec<RslUsage>,
}

impl TryFrom<LicenseDoc> for LicenseConfig {
    type Error = String;

    fn try_from(d: LicenseDoc) -> Result<Self, String> {
        if !d.path.starts_with('/') || d.path.contains(|c: char| c.is_whitespace() || c == '#') {
            return Err(format!(
                "license.path `{}` must be a server path starting with `/` (no spaces or `#`)",
                d.path
            ));
        }
        if let Some(c) = &d.contact {
            if c.trim().is_empty() || c.chars().any(char::is_control) {
                return Err("license.contact must be one line of text".into());
            }
        }
        let payment = d.payment.unwrap_or(if d.price.is_some() {
            PaymentType::Crawl
        } else {
            PaymentType::Free
        });
        if payment == PaymentType::Free && d.price.is_some() {
            return Err("license: payment \"free\" cannot have a price".into());
        }
        if let Some(u) = d.permits.iter().find(|u| d.prohibits.contains(u)) {
            return Err(format!(
                "license: `{}` is both permitted and prohibited",
                u.as_str()
            ));
        }
        let dedup = |mut v: Vec<RslUsage>| {
            v.sort();
            v.dedup();
            v
        };
        Ok(LicenseConfig {
            path: d.path,
            terms_url: d.terms_url,
            contact: d.contact,
            payment,
            price: d.price,
            permits: dedup(d.permits),
            prohibits: dedup(d.prohibits),
        })
    }
}

/// A `[signals]` error, naming file and line (DESIGN.md invariant 7).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct SignalsError {
    /// File.
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

impl fmt::Display for SignalsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}: [signals] {}", self.file, self.line, self.message)
    }
}

#[derive(Deserialize)]
struct FileDoc {
    #[serde(default)]
    signals: Option<SignalsConfig>,
}

impl SignalsConfig {
    /// Parses the `[signals]` table of a `tollgate.toml` text; other tables are left to their
    /// owners. `Ok(None)` when there is no `[signals]` table.
    ///
    /// Errors (with the line of the offending value): TOML syntax, unknown keys, a missing or
    /// malformed `site_url`, a `content_usage` outside vocab-08 (`train-ai`/`ai-use`/`search` =
    /// `y`/`n`), a `content_signal` outside Content Signals (`search`/`ai-input`/`ai-train` =
    /// `yes`/`no`), a non-http(s) URL, a bad price, an unknown RSL payment type or usage token, a
    /// free licence with a price, a usage both permitted and prohibited.
    pub fn parse(file: &str, src: &str) -> Result<Option<SignalsConfig>, SignalsError> {
        let doc: FileDoc = toml::from_str(src).map_err(|e| SignalsError {
            file: file.to_string(),
            line: line_of(src, e.span().map(|s| s.start).unwrap_or(0)),
            message: e.message().to_string(),
        })?;
        Ok(doc.signals)
    }

    /// The defaults for a site: `site_url` must be `http(s)://authority` (a trailing `/` is
    /// dropped).
    pub fn for_site(site_url: &str) -> Result<SignalsConfig, String> {
        Ok(SignalsConfig {
            site_url: check_site_url(site_url)?,
            content_usage: default_content_usage(),
            content_signal: default_content_signal(),
            tdm_reservation: true,
            tdm_policy: None,
            sitemaps: Vec::new(),
            origin_robots: None,
            license: LicenseConfig::default(),
        })
    }

    /// Absolute URL of the licence document (`site_url` + `license.path`).
    pub fn license_url(&self) -> String {
        format!("{}{}", self.site_url, self.license.path)
    }
}

fn yes() -> bool {
    true
}

fn default_content_usage() -> String {
    DEFAULT_CONTENT_USAGE.to_string()
}

fn default_content_signal() -> String {
    DEFAULT_CONTENT_SIGNAL.to_string()
}

fn default_license_path() -> String {
    DEFAULT_LICENSE_PATH.to_string()
}

fn default_prohibits() -> Vec<RslUsage> {
    vec![RslUsage::AiTrain]
}

fn check_url(what: &str, s: &str) -> Result<String, String> {
    let rest = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .ok_or_else(|| format!("{what} `{s}` must be an absolute http(s) URL"))?;
    if rest.is_empty()
        || rest.starts_with('/')
        || s.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "{what} `{s}` must be an absolute http(s) URL with a host and no spaces"
        ));
    }
    Ok(s.to_string())
}

fn check_site_url(s: &str) -> Result<String, String> {
    let s = check_url("site_url", s)?;
    let trimmed = s.trim_end_matches('/');
    let authority = trimmed.split_once("://").map_or("", |(_, a)| a);
    if authority.contains(['/', '?', '#']) {
        return Err(format!(
            "site_url `{s}` must be scheme and host only, like `https://example.org`"
        ));
    }
    Ok(trimmed.to_string())
}

fn de_with<'de, D, T>(d: D, f: impl FnOnce(String) -> Result<T, String>) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    let s = String::deserialize(d)?;
    f(s).map_err(serde::de::Error::custom)
}

fn de_site_url<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    de_with(d, |s| check_site_url(&s))
}

fn de_content_usage<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    de_with(d, |s| validate_content_usage(&s))
}

fn de_content_signal<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    de_with(d, |s| validate_content_signal(&s))
}

fn de_opt_url<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    de_with(d, |s| check_url("URL", &s).map(Some))
}

fn de_urls<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    let v = Vec::<String>::deserialize(d)?;
    v.into_iter()
        .map(|s| check_url("sitemap", &s))
        .collect::<Result<_, _>>()
        .map_err(serde::de::Error::custom)
}

fn de_price<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Money>, D::Error> {
    de_with(d, |s| {
        s.parse::<Money>()
            .map(Some)
            .map_err(|e| format!("price: {e}"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &str) -> Result<Option<SignalsConfig>, SignalsError> {
        SignalsConfig::parse("tollgate.toml", src)
    }

    #[test]
    fn defaults_and_full_table() {
        let cfg = parse("[signals]\nsite_url = \"https://example.org/\"\n")
            .unwrap()
            .unwrap();
        assert_eq!(cfg, SignalsConfig::for_site("https://example.org").unwrap());
        assert_eq!(cfg.content_usage, "train-ai=n, ai-use=n, search=y");
        assert_eq!(cfg.content_signal, "search=yes, ai-input=no, ai-train=no");
        assert!(cfg.tdm_reservation);
        assert_eq!(cfg.license_url(), "https://example.org/license.xml");
        assert_eq!(cfg.license.payment, PaymentType::Free);
        assert_eq!(cfg.license.prohibits, vec![RslUsage::AiTrain]);

        let src = r#"
[policy]
default = "allow"

[signals]
site_url = "https://news.example"
content_usage = "train-ai=n,search=y"
content_signal = "search=yes, ai-train=no"
tdm_reservation = false
tdm_policy = "https://news.example/tdm.json"
sitemaps = ["https://news.example/sitemap.xml"]
origin_robots = "User-agent: *\nDisallow: /admin/\n"

[signals.license]
path = "/rsl.xml"
terms_url = "https://news.example/terms"
contact = "mailto:licensing@news.example"
price = "USD 0.002"
permits = ["search", "ai-input", "search"]
prohibits = ["ai-train"]
"#;
        let cfg = parse(src).unwrap().unwrap();
        assert_eq!(cfg.content_usage, "train-ai=n, search=y");
        assert_eq!(cfg.content_signal, "search=yes, ai-train=no");
        assert!(!cfg.tdm_reservation);
        assert_eq!(cfg.license.payment, PaymentType::Crawl);
        assert_eq!(cfg.license.price, Some("USD 0.002".parse().unwrap()));
        assert_eq!(
            cfg.license.permits,
            vec![RslUsage::AiInput, RslUsage::Search]
        );
        assert_eq!(cfg.license_url(), "https://news.example/rsl.xml");
        assert_eq!(parse("[policy]\ndefault = \"deny\"\n").unwrap(), None);
    }

    #[test]
    fn errors_name_the_line() {
        let cases = [
            (
                "[signals]\nsite_url = \"https://e.org\"\ncontent_usage = \"train-genai=n\"\n",
                3,
                "unknown label `train-genai`",
            ),
            (
                "[signals]\nsite_url = \"https://e.org\"\n\ncontent_signal = \"search=y\"\n",
                4,
                "`search=yes` or `search=no`",
            ),
            ("[signals]\nsite_url = \"e.org\"\n", 2, "absolute http(s) URL"),
            (
                "[signals]\nsite_url = \"https://e.org/blog\"\n",
                2,
                "scheme and host only",
            ),
            ("[signals]\ncontent_usage = \"search=y\"\n", 1, "site_url"),
            (
                "[signals]\nsite_url = \"https://e.org\"\nrobots = 1\n",
                3,
                "unknown field `robots`",
            ),
            (
                "[signals]\nsite_url = \"https://e.org\"\n[signals.license]\nprice = \"USD 0.0000001\"\n",
                4,
                "price",
            ),
            (
                "[signals]\nsite_url = \"https://e.org\"\n[signals.license]\npayment = \"inference\"\n",
                4,
                "unknown variant `inference`",
            ),
            (
                "[signals]\nsite_url = \"https://e.org\"\n[signals.license]\npermits = [\"ai-use\"]\n",
                4,
                "unknown variant `ai-use`",
            ),
            (
                "[signals]\nsite_url = \"https://e.org\"\n[signals.license]\npayment = \"free\"\nprice = \"USD 1\"\n",
                3,
                "cannot have a price",
            ),
            (
                "[signals]\nsite_url = \"https://e.org\"\n[signals.license]\npermits = [\"search\"]\nprohibits = [\"search\"]\n",
                3,
                "both permitted and prohibited",
            ),
            (
                "[signals]\nsite_url = \"https://e.org\"\nsitemaps = [\"/sitemap.xml\"]\n",
                3,
                "absolute http(s) URL",
            ),
        ];
        for (src, line, want) in cases {
            let e = parse(src).unwrap_err();
            assert!(e.message.contains(want), "{src:?}: {e}");
            assert_eq!(e.line, line, "{src:?}: {e}");
            assert!(e
                .to_string()
                .starts_with(&format!("tollgate.toml:{line}: [signals] ")));
        }
    }
}
