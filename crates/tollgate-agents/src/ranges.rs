//! Published crawler IP ranges: the source list (`data/ipranges/sources.toml`), the vendor JSON
//! files, and a longest-prefix table answering "which sources contain this address?".
//!
//! Vendor format (Google, OpenAI, Bing, Apple, Anthropic, Perplexity, DuckDuckGo):
//! `{"creationTime": "…", "prefixes": [{"ipv4Prefix": "a.b.c.d/n"} | {"ipv6Prefix": "…"}]}`.
//! ipverse/bot-ip-blocks format: `{"services": {"<name>": {"ipv4": [..], "ipv6": [..],
//! "ip_list_authoritative": bool, "last_changed_at": "…"}}}`.

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::{Ipv4Net, Ipv6Net};
use prefix_trie::PrefixMap;
use serde::Deserialize;

/// The source list shipped with tollgate (`data/ipranges/sources.toml`).
pub const EMBEDDED_SOURCES: &str = include_str!("../../../data/ipranges/sources.toml");

macro_rules! embedded_files {
    ($($f:literal),* $(,)?) => {
        /// The range files shipped with tollgate (`data/ipranges/*.json`), as (file name, text).
        pub const EMBEDDED_RANGE_FILES: &[(&str, &str)] = &[
            $(($f, include_str!(concat!("../../../data/ipranges/", $f)))),*
        ];
    };
}
embedded_files!(
    "anthropic-bots.json",
    "apple-applebot.json",
    "bing-bingbot.json",
    "duckduckgo-duckduckbot.json",
    "google-common-crawlers.json",
    "google-special-crawlers.json",
    "google-user-triggered-fetchers-google.json",
    "google-user-triggered-fetchers.json",
    "ipverse-crawlers.json",
    "ipverse-monitoring.json",
    "openai-chatgpt-user.json",
    "openai-gptbot.json",
    "openai-searchbot.json",
    "perplexity-perplexity-user.json",
    "perplexity-perplexitybot.json",
);

/// The text of a shipped range file, by file name (`openai-gptbot.json`).
pub fn embedded_range_file(file: &str) -> Option<&'static str> {
    EMBEDDED_RANGE_FILES
        .iter()
        .find(|(f, _)| *f == file)
        .map(|(_, t)| *t)
}

/// How a range file is laid out.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RangeFormat {
    /// `{creationTime, prefixes}` as the vendors publish it.
    Vendor,
    /// One service of an ipverse/bot-ip-blocks aggregate.
    Ipverse,
}

/// One entry of `sources.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RangeSourceSpec {
    /// Id used by the catalogue's `ip_ranges`.
    pub name: String,
    /// File name under the ranges directory.
    pub file: String,
    /// Where `tollgate ranges update` fetches it from.
    pub url: String,
    /// File layout.
    pub format: RangeFormat,
    /// For `ipverse`: the service name inside the file.
    #[serde(default)]
    pub service: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SourcesDoc {
    source: Vec<RangeSourceSpec>,
}

/// An error in range data, naming the file and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}: {message}")]
pub struct RangeError {
    /// File (or `sources.toml`) the error is in.
    pub file: String,
    /// What is wrong, with the line or JSON path where known.
    pub message: String,
}

/// Parses `sources.toml`. Errors name the line.
pub fn parse_sources(file: &str, src: &str) -> Result<Vec<RangeSourceSpec>, RangeError> {
    let doc: SourcesDoc = toml::from_str(src).map_err(|e| {
        let line = e
            .span()
            .map(|s| {
                src.as_bytes()[..s.start]
                    .iter()
                    .filter(|&&b| b == b'\n')
                    .count()
                    + 1
            })
            .unwrap_or(1);
        RangeError {
            file: format!("{file}:{line}"),
            message: e.message().to_string(),
        }
    })?;
    let mut seen = HashMap::new();
    for (i, s) in doc.source.iter().enumerate() {
        if seen.insert(s.name.clone(), i).is_some() {
            return Err(RangeError {
                file: file.to_string(),
                message: format!("duplicate source name `{}`", s.name),
            });
        }
        if s.format == RangeFormat::Ipverse && s.service.is_none() {
            return Err(RangeError {
                file: file.to_string(),
                message: format!("source `{}` has format ipverse but no `service`", s.name),
            });
        }
    }
    Ok(doc.source)
}

/// The prefixes of one source, as parsed from its file.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RangeList {
    /// `creationTime` (vendor) or `last_changed_at` (ipverse), verbatim.
    pub created: Option<String>,
    /// False for lists that only approximate the operator (an AS-wide list): they can verify a
    /// claim but never make it `spoofed`.
    pub authoritative: bool,
    /// IPv4 prefixes.
    pub v4: Vec<Ipv4Net>,
    /// IPv6 prefixes.
    pub v6: Vec<Ipv6Net>,
}

#[derive(Deserialize)]
struct VendorDoc {
    #[serde(rename = "creationTime", default)]
    creation_time: Option<String>,
    prefixes: Vec<VendorPrefix>,
}

#[derive(Deserialize)]
struct VendorPrefix {
    #[serde(rename = "ipv4Prefix", default)]
    ipv4: Option<String>,
    #[serde(rename = "ipv6Prefix", default)]
    ipv6: Option<String>,
}

#[derive(Deserialize)]
struct IpverseDoc {
    services: HashMap<String, IpverseService>,
}

#[derive(Deserialize)]
struct IpverseService {
    #[serde(default)]
    ipv4: Vec<String>,
    #[serde(default)]
    ipv6: Vec<String>,
    #[serde(default = "yes")]
    ip_list_authoritative: bool,
    #[serde(default)]
    last_changed_at: Option<String>,
}

fn yes() -> bool {
    true
}

fn parse_net<N: std::str::FromStr>(s: &str, file: &str, at: &str) -> Result<N, RangeError> {
    // Vendors sometimes publish bare addresses; read them as host prefixes.
    let t = s.trim();
    let with_len;
    let text = if t.contains('/') {
        t
    } else {
        with_len = format!("{t}/{}", if t.contains(':') { 128 } else { 32 });
        &with_len
    };
    text.parse().map_err(|_| RangeError {
        file: file.to_string(),
        message: format!("{at}: `{s}` is not an IP prefix"),
    })
}

/// Parses one source's file text. `file` names it in errors; JSON errors carry line:column,
/// bad prefixes their JSON path (`prefixes[3].ipv4Prefix`).
pub fn parse_range_file(
    spec: &RangeSourceSpec,
    file: &str,
    text: &str,
) -> Result<RangeList, RangeError> {
    let json_err = |e: serde_json::Error| RangeError {
        file: format!("{file}:{}:{}", e.line(), e.column()),
        message: e.to_string(),
    };
    match spec.format {
        RangeFormat::Vendor => {
            let doc: VendorDoc = serde_json::from_str(text.trim_start()).map_err(json_err)?;
            let mut list = RangeList {
                created: doc.creation_time,
                authoritative: true,
                ..RangeList::default()
            };
            for (i, p) in doc.prefixes.iter().enumerate() {
                match (&p.ipv4, &p.ipv6) {
                    (Some(v4), None) => {
                        list.v4
                            .push(parse_net(v4, file, &format!("prefixes[{i}].ipv4Prefix"))?)
                    }
                    (None, Some(v6)) => {
                        list.v6
                            .push(parse_net(v6, file, &format!("prefixes[{i}].ipv6Prefix"))?)
                    }
                    _ => {
                        return Err(RangeError {
                            file: file.to_string(),
                            message: format!(
                                "prefixes[{i}]: needs exactly one of ipv4Prefix / ipv6Prefix"
                            ),
                        })
                    }
                }
            }
            Ok(list)
        }
        RangeFormat::Ipverse => {
            let doc: IpverseDoc = serde_json::from_str(text).map_err(json_err)?;
            let service = spec.service.as_deref().unwrap_or_default();
            let s = doc.services.get(service).ok_or_else(|| RangeError {
                file: file.to_string(),
                message: format!("no service `{service}` in services"),
            })?;
            let mut list = RangeList {
                created: s.last_changed_at.clone(),
                authoritative: s.ip_list_authoritative,
                ..RangeList::default()
            };
            for (i, p) in s.ipv4.iter().enumerate() {
                list.v4.push(parse_net(
                    p,
                    file,
                    &format!("services.{service}.ipv4[{i}]"),
                )?);
            }
            for (i, p) in s.ipv6.iter().enumerate() {
                list.v6.push(parse_net(
                    p,
                    file,
                    &format!("services.{service}.ipv6[{i}]"),
                )?);
            }
            Ok(list)
        }
    }
}

/// A set of source indexes (bit i = source i of the table). At most 128 sources.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub struct SourceSet(pub u128);

impl SourceSet {
    /// The empty set.
    pub const EMPTY: SourceSet = SourceSet(0);
    /// True if no source is in the set.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }
    /// True if the two sets share a source.
    pub fn intersects(self, other: SourceSet) -> bool {
        self.0 & other.0 != 0
    }
    /// Adds source `i`.
    pub fn insert(&mut self, i: usize) {
        self.0 |= 1u128 << i;
    }
    /// True if source `i` is in the set.
    pub fn contains(self, i: usize) -> bool {
        self.0 & (1u128 << i) != 0
    }
}

/// A loaded source: its spec, list metadata and prefix counts.
#[derive(Debug, Clone)]
pub struct LoadedSource {
    /// The spec from sources.toml.
    pub spec: RangeSourceSpec,
    /// `creationTime` / `last_changed_at`.
    pub created: Option<String>,
    /// See [`RangeList::authoritative`].
    pub authoritative: bool,
    /// Number of IPv4 prefixes.
    pub v4: usize,
    /// Number of IPv6 prefixes.
    pub v6: usize,
}

/// Longest-prefix table over every loaded source. Each stored prefix carries the set of sources
/// that contain it *or any covering prefix*, so one longest-prefix lookup answers for all
/// sources at once (~50 ns).
#[derive(Clone)]
pub struct RangeTable {
    sources: Vec<LoadedSource>,
    by_name: HashMap<String, usize>,
    v4: PrefixMap<Ipv4Net, SourceSet>,
    v6: PrefixMap<Ipv6Net, SourceSet>,
}

impl std::fmt::Debug for RangeTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RangeTable")
            .field("sources", &self.sources.len())
            .finish()
    }
}

fn insert_all<P>(
    map: &mut PrefixMap<P, SourceSet>,
    mut items: Vec<(P, usize)>,
    len: impl Fn(&P) -> u8,
) where
    P: prefix_trie::Prefix + Clone,
{
    // Shorter prefixes first, so each insert can inherit its covering prefixes' sources.
    items.sort_by_key(|(p, _)| len(p));
    for (p, src) in items {
        let mut set = map.get_lpm(&p).map(|(_, s)| *s).unwrap_or_default();
        set.insert(src);
        if let Some(existing) = map.get_mut(&p) {
            existing.0 |= set.0;
        } else {
            map.insert(p, set);
        }
    }
}

impl RangeTable {
    /// The shipped sources and files.
    pub fn embedded() -> Result<RangeTable, RangeError> {
        let specs = parse_sources("data/ipranges/sources.toml", EMBEDDED_SOURCES)?;
        RangeTable::load(specs, |file| {
            embedded_range_file(file)
                .map(str::to_string)
                .ok_or_else(|| format!("{file} is not embedded"))
        })
    }

    /// Loads every source, reading files through `read` (file name → text). Errors name the
    /// file; nothing partial is returned.
    pub fn load(
        specs: Vec<RangeSourceSpec>,
        mut read: impl FnMut(&str) -> Result<String, String>,
    ) -> Result<RangeTable, RangeError> {
        if specs.len() > 128 {
            return Err(RangeError {
                file: "sources.toml".into(),
                message: format!("{} sources; at most 128 are supported", specs.len()),
            });
        }
        let mut texts: HashMap<String, String> = HashMap::new();
        let mut sources = Vec::new();
        let mut v4 = Vec::new();
        let mut v6 = Vec::new();
        for (i, spec) in specs.into_iter().enumerate() {
            if !texts.contains_key(&spec.file) {
                let text = read(&spec.file).map_err(|message| RangeError {
                    file: spec.file.clone(),
                    message,
                })?;
                texts.insert(spec.file.clone(), text);
            }
            let list = parse_range_file(&spec, &spec.file, &texts[&spec.file])?;
            v4.extend(list.v4.iter().map(|p| (p.trunc(), i)));
            v6.extend(list.v6.iter().map(|p| (p.trunc(), i)));
            sources.push(LoadedSource {
                created: list.created,
                authoritative: list.authoritative,
                v4: list.v4.len(),
                v6: list.v6.len(),
                spec,
            });
        }
        let mut t4 = PrefixMap::new();
        let mut t6 = PrefixMap::new();
        insert_all(&mut t4, v4, |p: &Ipv4Net| p.prefix_len());
        insert_all(&mut t6, v6, |p: &Ipv6Net| p.prefix_len());
        let by_name = sources
            .iter()
            .enumerate()
            .map(|(i, s)| (s.spec.name.clone(), i))
            .collect();
        Ok(RangeTable {
            sources,
            by_name,
            v4: t4,
            v6: t6,
        })
    }

    /// The sources, in sources.toml order (bit i of a [`SourceSet`] is `sources()[i]`).
    pub fn sources(&self) -> &[LoadedSource] {
        &self.sources
    }

    /// Index of a source by name.
    pub fn source_index(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// Every source whose list contains `ip`. IPv4-mapped IPv6 addresses (`::ffff:a.b.c.d`) are
    /// looked up as IPv4.
    pub fn lookup(&self, ip: IpAddr) -> SourceSet {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(ip),
            v4 => v4,
        };
        match ip {
            IpAddr::V4(a) => self
                .v4
                .get_lpm(&Ipv4Net::from(a))
                .map(|(_, s)| *s)
                .unwrap_or_default(),
            IpAddr::V6(a) => self
                .v6
                .get_lpm(&Ipv6Net::from(a))
                .map(|(_, s)| *s)
                .unwrap_or_default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, format: RangeFormat, service: Option<&str>) -> RangeSourceSpec {
        RangeSourceSpec {
            name: name.into(),
            file: format!("{name}.json"),
            url: "https://example.invalid/".into(),
            format,
            service: service.map(str::to_string),
        }
    }

    #[test]
    fn every_source_file_is_embedded_and_loads() {
        let t = RangeTable::embedded().unwrap();
        assert_eq!(t.sources().len(), 42);
        let gptbot = &t.sources()[t.source_index("openai-gptbot").unwrap()];
        assert_eq!((gptbot.v4, gptbot.v6), (21, 0));
        assert_eq!(
            gptbot.created.as_deref(),
            Some("2025-10-30T11:00:00.000000")
        );
        let g = &t.sources()[t.source_index("google-common-crawlers").unwrap()];
        assert_eq!((g.v4, g.v6), (169, 146));
        let meta = &t.sources()[t.source_index("ipverse-meta-externalagent").unwrap()];
        assert!(!meta.authoritative);
    }

    #[test]
    fn lookup_finds_every_covering_source_not_only_the_longest() {
        let specs = vec![
            spec("wide", RangeFormat::Vendor, None),
            spec("narrow", RangeFormat::Vendor, None),
        ];
        let t = RangeTable::load(specs, |f| {
            Ok(match f {
                "wide.json" => {
                    r#"{"prefixes":[{"ipv4Prefix":"10.0.0.0/8"},{"ipv6Prefix":"2001:db8::/32"}]}"#
                }
                _ => r#"{"creationTime":"x","prefixes":[{"ipv4Prefix":"10.1.2.0/24"}]}"#,
            }
            .to_string())
        })
        .unwrap();
        let both = t.lookup("10.1.2.3".parse().unwrap());
        assert!(both.contains(0) && both.contains(1), "{both:?}");
        let wide = t.lookup("10.9.9.9".parse().unwrap());
        assert_eq!(wide, SourceSet(0b01));
        assert_eq!(t.lookup("11.0.0.1".parse().unwrap()), SourceSet::EMPTY);
        assert_eq!(t.lookup("2001:db8::5".parse().unwrap()), SourceSet(0b01));
        assert_eq!(t.lookup("::ffff:10.1.2.3".parse().unwrap()), both);
    }

    #[test]
    fn gptbot_address_is_in_both_openai_sources() {
        let t = RangeTable::embedded().unwrap();
        let s = t.lookup("132.196.86.10".parse().unwrap());
        assert!(s.contains(t.source_index("openai-gptbot").unwrap()));
        assert!(!s.contains(t.source_index("openai-searchbot").unwrap()));
    }

    #[test]
    fn bad_prefix_names_its_json_path() {
        let e = parse_range_file(
            &spec("x", RangeFormat::Vendor, None),
            "x.json",
            r#"{"prefixes":[{"ipv4Prefix":"1.2.3.0/24"},{"ipv4Prefix":"1.2.3.999/24"}]}"#,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "x.json: prefixes[1].ipv4Prefix: `1.2.3.999/24` is not an IP prefix"
        );
    }

    #[test]
    fn broken_json_names_line_and_column() {
        let e = parse_range_file(
            &spec("x", RangeFormat::Vendor, None),
            "x.json",
            "{\n\"prefixes\": [\n}",
        )
        .unwrap_err();
        assert!(e.file.starts_with("x.json:3:"), "{e}");
    }

    #[test]
    fn missing_ipverse_service_is_an_error() {
        let e = parse_range_file(
            &spec("x", RangeFormat::Ipverse, Some("Nope")),
            "c.json",
            r#"{"services":{"A":{"ipv4":["1.2.3.4/32"]}}}"#,
        )
        .unwrap_err();
        assert_eq!(e.to_string(), "c.json: no service `Nope` in services");
    }

    #[test]
    fn sources_toml_rejects_duplicates() {
        let src = "[[source]]\nname=\"a\"\nfile=\"a.json\"\nurl=\"u\"\nformat=\"vendor\"\n[[source]]\nname=\"a\"\nfile=\"b.json\"\nurl=\"u\"\nformat=\"vendor\"\n";
        let e = parse_sources("s.toml", src).unwrap_err();
        assert_eq!(e.to_string(), "s.toml: duplicate source name `a`");
    }
}
