//! The agent catalogue: `data/agents.toml` (AI agents) and `data/agents-web.toml` (everything
//! else: search engines, link previews, feed readers, archivers, monitors, SEO crawlers, tools),
//! parsed and validated as one catalogue.
//!
//! One `[[agent]]` table per agent. The file format is documented at the top of
//! `data/agents.toml`; every field is described on [`Agent`] and [`UaPattern`].

use std::collections::HashMap;
use std::fmt;

use serde::Deserialize;
use toml::Spanned;

use crate::class::Class;

/// The catalogue shipped with tollgate (`data/agents.toml`), embedded at build time.
pub const EMBEDDED_CATALOGUE: &str = include_str!("../../../data/agents.toml");

/// The non-AI part of the shipped catalogue (`data/agents-web.toml`), embedded at build time.
pub const EMBEDDED_WEB_CATALOGUE: &str = include_str!("../../../data/agents-web.toml");

/// Index of an agent in [`Catalogue::agents`]. Stable for the life of one loaded catalogue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AgentId(pub u16);

/// How a pattern's letters are compared with the User-Agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CaseRule {
    /// ASCII case-insensitive (`gptbot` matches `GPTBot`). The default.
    #[default]
    Insensitive,
    /// Byte-exact (for short or generic names such as `LCC`, `Code`).
    Sensitive,
}

/// What must surround a pattern where it occurs in the User-Agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Boundary {
    /// Neither the byte before nor the byte after the match is an ASCII letter or digit (so
    /// `LCC` does not match inside `SLCC1`, nor `GPTBot` inside `MyGPTBotX`). The default.
    #[default]
    Word,
    /// Only the byte before must not be a letter or digit; anything may follow
    /// (`Googlebot` style names that grow suffixes).
    Start,
    /// Plain substring.
    None,
}

/// Where in the User-Agent a pattern may occur.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Position {
    /// Anywhere. The default.
    #[default]
    Anywhere,
    /// Only as the first product of the User-Agent (byte offset 0): for generic words that are
    /// only trustworthy as a client's own name (`Code/1.0`, `Spider/2.0`).
    First,
}

/// One way an agent shows up in a User-Agent header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UaPattern {
    /// The literal text looked for (no regex). Non-empty.
    pub text: String,
    /// Letter-case rule.
    pub case: CaseRule,
    /// Surrounding-byte rule.
    pub boundary: Boundary,
    /// Position rule.
    pub position: Position,
}

/// Where a claim to be this agent can be checked.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifySources {
    /// Names of published IP-range sources (`data/ipranges/sources.toml`), e.g. `openai-gptbot`.
    pub ip_ranges: Vec<String>,
    /// Host-name suffixes for forward-confirmed reverse DNS, e.g. `.googlebot.com`.
    pub fcrdns: Vec<String>,
    /// Origin of the agent's Web Bot Auth key directory, if it signs its requests.
    pub web_bot_auth: Option<String>,
}

impl VerifySources {
    /// True when the operator publishes any way to check a claim (so a failed check is `spoofed`).
    pub fn is_checkable(&self) -> bool {
        !self.ip_ranges.is_empty() || !self.fcrdns.is_empty() || self.web_bot_auth.is_some()
    }
}

/// The fields imported from ai.robots.txt's `robots.json` (MIT, see data/SOURCES.md), kept
/// verbatim so a re-import can tell what changed upstream.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upstream {
    /// The robots.json keys this agent covers (several keys can be one agent, e.g. case variants).
    pub keys: Vec<String>,
    /// `operator` of the first key.
    #[serde(default)]
    pub operator: String,
    /// `function` of the first key.
    #[serde(default)]
    pub function: String,
    /// `respect` of the first key (does it honour robots.txt).
    #[serde(default)]
    pub respect: String,
    /// `frequency` of the first key.
    #[serde(default)]
    pub frequency: String,
    /// `description` of the first key.
    #[serde(default)]
    pub description: String,
}

/// One catalogue entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    /// Display name, unique in the catalogue (`GPTBot`).
    pub name: String,
    /// The company or project behind it (`OpenAI`).
    pub operator: String,
    /// Its class.
    pub class: Class,
    /// robots.txt product tokens (RFC 9309 §2.2.1) it obeys, e.g. `["GPTBot"]`.
    pub product_tokens: Vec<String>,
    /// True for tokens that exist only in robots.txt (`Google-Extended`): never matched in a
    /// User-Agent.
    pub robots_only: bool,
    /// How it is recognised in a User-Agent; empty iff `robots_only`.
    pub patterns: Vec<UaPattern>,
    /// Tie-breaker when several agents match one User-Agent: higher wins before length does.
    pub priority: i8,
    /// Documentation URL.
    pub url: Option<String>,
    /// Verification sources.
    pub verify: VerifySources,
    /// Provenance when imported from ai.robots.txt.
    pub upstream: Option<Upstream>,
    /// The catalogue file it comes from (as named to [`Catalogue::parse_many`]), for messages.
    pub file: String,
    /// 1-based line of the `name =` key in the catalogue file, for messages.
    pub line: usize,
}

/// A loaded, validated catalogue.
#[derive(Debug, Clone)]
pub struct Catalogue {
    agents: Vec<Agent>,
    by_name: HashMap<String, AgentId>,
}

/// An error in a catalogue file, naming the file and line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct CatalogueError {
    /// File name as given to [`Catalogue::parse`].
    pub file: String,
    /// 1-based line.
    pub line: usize,
    /// What is wrong.
    pub message: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct FileDoc {
    #[serde(default, rename = "agent")]
    agents: Vec<Spanned<AgentDoc>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AgentDoc {
    name: Spanned<String>,
    operator: String,
    class: Class,
    #[serde(default)]
    tokens: Vec<String>,
    #[serde(default)]
    robots_only: bool,
    #[serde(default)]
    ua: Option<Vec<PatternDoc>>,
    #[serde(default)]
    case: CaseRule,
    #[serde(default)]
    boundary: Boundary,
    #[serde(default)]
    position: Position,
    #[serde(default)]
    priority: i8,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    ip_ranges: Vec<String>,
    #[serde(default)]
    fcrdns: Vec<String>,
    #[serde(default)]
    web_bot_auth: Option<String>,
    #[serde(default)]
    ai_robots_txt: Option<Upstream>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum PatternDoc {
    Text(String),
    Full {
        text: String,
        case: Option<CaseRule>,
        boundary: Option<Boundary>,
        position: Option<Position>,
    },
}

/// 1-based line number of byte `offset` in `src` (offsets past the end count as the end), for
/// file:line error messages of every TOML file tollgate reads.
pub fn line_of(src: &str, offset: usize) -> usize {
    src.as_bytes()[..offset.min(src.len())]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

impl Catalogue {
    /// The embedded catalogue. It is validated by the test suite, so this cannot fail at run time
    /// unless the binary was built from a broken tree; the error is still returned, not unwrapped.
    pub fn embedded() -> Result<Catalogue, CatalogueError> {
        Catalogue::parse_many(&[
            ("data/agents.toml", EMBEDDED_CATALOGUE),
            ("data/agents-web.toml", EMBEDDED_WEB_CATALOGUE),
        ])
    }

    /// Parses and validates one catalogue file. `file` is only used in messages.
    ///
    /// Errors: TOML syntax, unknown fields, unknown class, duplicate agent names, an agent
    /// without patterns that is not `robots_only` (or one with patterns that is), empty or
    /// duplicate patterns — each with the line it is on.
    pub fn parse(file: &str, src: &str) -> Result<Catalogue, CatalogueError> {
        Catalogue::parse_many(&[(file, src)])
    }

    /// Parses several catalogue files, `(file name, TOML source)`, as one catalogue: agents in
    /// the order given, names and patterns unique across all files, errors naming the file and
    /// line they are on.
    pub fn parse_many(files: &[(&str, &str)]) -> Result<Catalogue, CatalogueError> {
        let mut agents = Vec::new();
        let mut by_name = HashMap::new();
        let mut seen_patterns: HashMap<(String, bool), String> = HashMap::new();
        for &(file, src) in files {
            parse_file(file, src, &mut agents, &mut by_name, &mut seen_patterns)?;
        }
        Ok(Catalogue { agents, by_name })
    }

    /// All agents, in file order; [`AgentId`] indexes this slice.
    pub fn agents(&self) -> &[Agent] {
        &self.agents
    }

    /// The agent with this id. Panics only on an id from another catalogue (a programming error).
    pub fn agent(&self, id: AgentId) -> &Agent {
        &self.agents[id.0 as usize]
    }

    /// Looks an agent up by its exact name.
    pub fn by_name(&self, name: &str) -> Option<AgentId> {
        self.by_name.get(name).copied()
    }

    /// Agents whose robots.txt product tokens include `token` (ASCII case-insensitive, as RFC 9309
    /// §2.2.1 compares product tokens).
    pub fn by_product_token<'a>(&'a self, token: &'a str) -> impl Iterator<Item = AgentId> + 'a {
        self.agents.iter().enumerate().filter_map(move |(i, a)| {
            a.product_tokens
                .iter()
                .any(|t| t.eq_ignore_ascii_case(token))
                .then_some(AgentId(i as u16))
        })
    }
}

/// Parses one catalogue file, appending to the agents and indexes of the files before it.
fn parse_file(
    file: &str,
    src: &str,
    agents: &mut Vec<Agent>,
    by_name: &mut HashMap<String, AgentId>,
    seen_patterns: &mut HashMap<(String, bool), String>,
) -> Result<(), CatalogueError> {
    let err = |offset: usize, message: String| CatalogueError {
        file: file.to_string(),
        line: line_of(src, offset),
        message,
    };
    let doc: FileDoc = toml::from_str(src).map_err(|e| {
        let offset = e.span().map(|s| s.start).unwrap_or(0);
        err(offset, e.message().to_string())
    })?;
    agents.reserve(doc.agents.len());
    for spanned in doc.agents {
        let at = spanned.span().start;
        let a = spanned.into_inner();
        let name_at = a.name.span().start;
        let name = a.name.into_inner();
        if name.trim().is_empty() {
            return Err(err(name_at, "agent name is empty".into()));
        }
        if agents.len() >= u16::MAX as usize {
            return Err(err(at, "too many agents (at most 65535)".into()));
        }
        let id = AgentId(agents.len() as u16);
        if by_name.insert(name.clone(), id).is_some() {
            return Err(err(name_at, format!("duplicate agent name `{name}`")));
        }
        let pattern_docs = match (a.ua, a.robots_only) {
            (Some(p), _) => p,
            (None, true) => Vec::new(),
            (None, false) => a.tokens.iter().cloned().map(PatternDoc::Text).collect(),
        };
        let patterns: Vec<UaPattern> = pattern_docs
            .into_iter()
            .map(|p| match p {
                PatternDoc::Text(text) => UaPattern {
                    text,
                    case: a.case,
                    boundary: a.boundary,
                    position: a.position,
                },
                PatternDoc::Full {
                    text,
                    case,
                    boundary,
                    position,
                } => UaPattern {
                    text,
                    case: case.unwrap_or(a.case),
                    boundary: boundary.unwrap_or(a.boundary),
                    position: position.unwrap_or(a.position),
                },
            })
            .collect();
        if a.robots_only && !patterns.is_empty() {
            return Err(err(
                name_at,
                format!("agent `{name}` is robots_only but has User-Agent patterns"),
            ));
        }
        if !a.robots_only && patterns.is_empty() {
            return Err(err(
                name_at,
                format!(
                    "agent `{name}` has no User-Agent pattern (add `ua` or set robots_only = true)"
                ),
            ));
        }
        for p in &patterns {
            if p.text.trim().is_empty() {
                return Err(err(name_at, format!("agent `{name}` has an empty pattern")));
            }
            let key = (
                if p.case == CaseRule::Insensitive {
                    p.text.to_ascii_lowercase()
                } else {
                    p.text.clone()
                },
                p.position == Position::First,
            );
            if let Some(other) = seen_patterns.insert(key, name.clone()) {
                return Err(err(
                    name_at,
                    format!(
                        "pattern `{}` of agent `{name}` is already a pattern of `{other}`",
                        p.text
                    ),
                ));
            }
        }
        agents.push(Agent {
            name,
            operator: a.operator,
            class: a.class,
            product_tokens: a.tokens,
            robots_only: a.robots_only,
            patterns,
            priority: a.priority,
            url: a.url,
            verify: VerifySources {
                ip_ranges: a.ip_ranges,
                fcrdns: a.fcrdns,
                web_bot_auth: a.web_bot_auth,
            },
            upstream: a.ai_robots_txt,
            file: file.to_string(),
            line: line_of(src, name_at),
        });
    }
    Ok(())
}

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn embedded_catalogue_loads() {
        let c = Catalogue::embedded().unwrap();
        assert!(c.agents().len() > 300, "{}", c.agents().len());
    }

    #[test]
    fn duplicate_name_is_reported_with_its_line() {
        let src = "[[agent]]\nname = \"A\"\noperator = \"o\"\nclass = \"tool\"\ntokens = [\"A\"]\n\n[[agent]]\nname = \"A\"\noperator = \"o\"\nclass = \"tool\"\ntokens = [\"B\"]\n";
        let e = Catalogue::parse("x.toml", src).unwrap_err();
        assert_eq!(e.to_string(), "x.toml:8: duplicate agent name `A`");
    }

    #[test]
    fn unknown_class_is_reported_with_its_line() {
        let src = "[[agent]]\nname = \"A\"\noperator = \"o\"\nclass = \"robot\"\n";
        let e = Catalogue::parse("x.toml", src).unwrap_err();
        assert_eq!(e.line, 4, "{e}");
        assert!(e.message.contains("unknown variant `robot`"), "{e}");
    }

    #[test]
    fn robots_only_agent_may_not_have_patterns() {
        let src = "[[agent]]\nname = \"Google-Extended\"\noperator = \"Google\"\nclass = \"ai-training\"\ntokens = [\"Google-Extended\"]\nrobots_only = true\nua = [\"Google-Extended\"]\n";
        let e = Catalogue::parse("x.toml", src).unwrap_err();
        assert_eq!(
            e.to_string(),
            "x.toml:2: agent `Google-Extended` is robots_only but has User-Agent patterns"
        );
    }

    #[test]
    fn same_pattern_in_two_agents_is_rejected() {
        let src = "[[agent]]\nname = \"A\"\noperator = \"o\"\nclass = \"tool\"\nua = [\"foo\"]\n[[agent]]\nname = \"B\"\noperator = \"o\"\nclass = \"tool\"\nua = [\"FOO\"]\n";
        let e = Catalogue::parse("x.toml", src).unwrap_err();
        assert_eq!(
            e.to_string(),
            "x.toml:7: pattern `FOO` of agent `B` is already a pattern of `A`"
        );
    }

    #[test]
    fn parse_many_checks_names_and_patterns_across_files_and_names_the_file() {
        let a = "[[agent]]\nname = \"A\"\noperator = \"o\"\nclass = \"tool\"\nua = [\"foo\"]\n";
        let b = "# other file\n[[agent]]\nname = \"B\"\noperator = \"o\"\nclass = \"tool\"\nua = [\"bar\"]\n";
        let c = Catalogue::parse_many(&[("a.toml", a), ("b.toml", b)]).unwrap();
        assert_eq!(c.agents().len(), 2);
        let b_agent = c.agent(c.by_name("B").unwrap());
        assert_eq!((b_agent.file.as_str(), b_agent.line), ("b.toml", 3));
        let dup_name =
            "[[agent]]\nname = \"A\"\noperator = \"o\"\nclass = \"tool\"\nua = [\"baz\"]\n";
        let e = Catalogue::parse_many(&[("a.toml", a), ("b.toml", dup_name)]).unwrap_err();
        assert_eq!(e.to_string(), "b.toml:2: duplicate agent name `A`");
        let dup_pattern =
            "[[agent]]\nname = \"C\"\noperator = \"o\"\nclass = \"tool\"\nua = [\"FOO\"]\n";
        let e = Catalogue::parse_many(&[("a.toml", a), ("b.toml", dup_pattern)]).unwrap_err();
        assert_eq!(
            e.to_string(),
            "b.toml:2: pattern `FOO` of agent `C` is already a pattern of `A`"
        );
        let broken = "[[agent]]\nname = \"D\"\noperator = \"o\"\nclass = \"robot\"\n";
        let e = Catalogue::parse_many(&[("a.toml", a), ("b.toml", broken)]).unwrap_err();
        assert_eq!((e.file.as_str(), e.line), ("b.toml", 4), "{e}");
    }

    #[test]
    fn pattern_defaults_come_from_the_agent_and_can_be_overridden() {
        let src = "[[agent]]\nname = \"Code\"\noperator = \"o\"\nclass = \"ai-agent\"\ncase = \"sensitive\"\nua = [\"Code\", { text = \"code-agent\", position = \"first\" }]\n";
        let c = Catalogue::parse("x.toml", src).unwrap();
        let a = &c.agents()[0];
        assert_eq!(a.patterns[0].case, CaseRule::Sensitive);
        assert_eq!(a.patterns[0].position, Position::Anywhere);
        assert_eq!(a.patterns[1].case, CaseRule::Sensitive);
        assert_eq!(a.patterns[1].position, Position::First);
    }
}
