//! Re-import of ai.robots.txt's `robots.json` into `data/agents.toml`.
//!
//! ai.robots.txt (MIT, see data/SOURCES.md) lists AI crawlers as
//! `{"<key>": {"operator", "respect", "function", "frequency", "description"}}`. The import keeps
//! every field tollgate owns (name, class, patterns, verification, comments, order) and only:
//! - refreshes the `ai_robots_txt` provenance table of agents that list the key;
//! - attaches a key that is a case or version variant of a known one (`Brightbot 1.0`,
//!   `meta-externalagent`) to that agent;
//! - appends a new agent for any other new key, with a class guessed from `function` and a
//!   `# review:` comment, so a human checks it before release;
//! - reports keys that vanished upstream (they are kept).

use std::collections::HashMap;

use serde_json::Value;
use toml_edit::{value, Array, ArrayOfTables, DocumentMut, InlineTable, Item, Table};

use crate::class::Class;

/// What an import changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ImportSummary {
    /// Keys that became new agents (need review).
    pub added: Vec<String>,
    /// Keys attached to an existing agent as a variant.
    pub attached: Vec<String>,
    /// Agents whose upstream fields changed.
    pub updated: Vec<String>,
    /// Keys in the catalogue that robots.json no longer has.
    pub removed_upstream: Vec<String>,
}

/// Errors of [`import_robots_json`].
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// robots.json is not JSON or not an object of objects.
    #[error("robots.json: {0}")]
    Json(String),
    /// The catalogue is not valid TOML.
    #[error("agents.toml: {0}")]
    Toml(#[from] toml_edit::TomlError),
    /// The catalogue's `agent` key is not an array of tables.
    #[error("agents.toml: `agent` must be an array of tables ([[agent]])")]
    Shape,
}

const UPSTREAM_FIELDS: [&str; 5] = [
    "operator",
    "function",
    "respect",
    "frequency",
    "description",
];

/// Guesses a class from ai.robots.txt's free-text `function`.
pub fn guess_class(function: &str) -> Class {
    let f = function.to_ascii_lowercase();
    if f.contains("search") {
        Class::AiSearch
    } else if f.contains("assistant") || f.contains("user") || f.contains("prompt") {
        Class::AiUser
    } else if f.contains("agent") {
        Class::AiAgent
    } else {
        Class::AiTraining
    }
}

/// `[Name](https://…)` → (`Name`, Some(url)); `Unclear at this time.` → (`unknown`, None).
pub fn clean_operator(op: &str) -> (String, Option<String>) {
    let op = op.trim();
    if let Some(rest) = op.strip_prefix('[') {
        if let Some((name, tail)) = rest.split_once("](") {
            let url = tail.split(')').next().unwrap_or("").to_string();
            return (name.to_string(), (!url.is_empty()).then_some(url));
        }
    }
    if op.is_empty() || op.to_ascii_lowercase().starts_with("unclear") || op == "Unknown" {
        return ("unknown".to_string(), None);
    }
    (op.to_string(), None)
}

/// The base product token of a key: `Brightbot 1.0` → `Brightbot`, `iaskspider/2.0` →
/// `iaskspider`; keys that are already tokens are returned unchanged.
pub fn base_token(key: &str) -> &str {
    let k = key.split('/').next().unwrap_or(key);
    match k.rsplit_once(' ') {
        Some((head, tail)) if tail.chars().all(|c| c.is_ascii_digit() || c == '.') => head,
        _ => k,
    }
}

fn str_array(item: Option<&Item>) -> Vec<String> {
    item.and_then(|i| i.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn upstream_table(agent: &Table) -> Option<&InlineTable> {
    agent.get("ai_robots_txt").and_then(|i| i.as_inline_table())
}

/// Merges `robots_json` into the catalogue text `agents_toml`; returns the new text and what changed.
pub fn import_robots_json(
    agents_toml: &str,
    robots_json: &str,
) -> Result<(String, ImportSummary), ImportError> {
    let upstream: serde_json::Map<String, Value> =
        serde_json::from_str(robots_json).map_err(|e| ImportError::Json(e.to_string()))?;
    let mut doc: DocumentMut = agents_toml.parse()?;
    if doc.get("agent").is_none() {
        doc.insert("agent", Item::ArrayOfTables(ArrayOfTables::new()));
    }
    let agents = doc
        .get_mut("agent")
        .and_then(|i| i.as_array_of_tables_mut())
        .ok_or(ImportError::Shape)?;

    // key -> agent index, and lowercase token/base -> agent index for variants.
    let mut by_key: HashMap<String, usize> = HashMap::new();
    let mut by_token: HashMap<String, usize> = HashMap::new();
    for (i, t) in agents.iter().enumerate() {
        if let Some(up) = upstream_table(t) {
            for k in str_array(up.get("keys").map(|v| Item::Value(v.clone())).as_ref()) {
                by_key.insert(k, i);
            }
        }
        for tok in str_array(t.get("tokens")) {
            by_token.insert(tok.to_ascii_lowercase(), i);
        }
        if let Some(n) = t.get("name").and_then(|n| n.as_str()) {
            by_token.insert(n.to_ascii_lowercase(), i);
        }
    }
    let mut summary = ImportSummary::default();
    for (key, fields) in &upstream {
        let field = |f: &str| -> String {
            fields
                .get(f)
                .and_then(|v| v.as_str())
                .unwrap_or("")
                .to_string()
        };
        if let Some(&i) = by_key.get(key) {
            let Some(t) = agents.get_mut(i) else { continue };
            let Some(up) = t
                .get_mut("ai_robots_txt")
                .and_then(|i| i.as_inline_table_mut())
            else {
                continue;
            };
            let first = up
                .get("keys")
                .and_then(|k| k.as_array())
                .and_then(|a| a.get(0))
                .and_then(|v| v.as_str())
                == Some(key.as_str());
            if first {
                let mut changed = false;
                for f in UPSTREAM_FIELDS {
                    let new = field(f);
                    if up.get(f).and_then(|v| v.as_str()) != Some(new.as_str()) {
                        up.insert(f, new.into());
                        changed = true;
                    }
                }
                if changed {
                    summary.updated.push(key.clone());
                }
            }
            continue;
        }
        let base = base_token(key).to_ascii_lowercase();
        if let Some(&i) = by_token.get(&base) {
            if let Some(t) = agents.get_mut(i) {
                let up = t
                    .entry("ai_robots_txt")
                    .or_insert_with(|| value(InlineTable::new()));
                if let Some(up) = up.as_inline_table_mut() {
                    let keys = up.entry("keys").or_insert_with(|| Array::new().into());
                    if let Some(arr) = keys.as_array_mut() {
                        arr.push(key.as_str());
                    }
                    if up.len() == 1 {
                        for f in UPSTREAM_FIELDS {
                            up.insert(f, field(f).into());
                        }
                    }
                }
                by_key.insert(key.clone(), i);
                summary.attached.push(key.clone());
            }
            continue;
        }
        // A new agent.
        let (operator, url) = clean_operator(&field("operator"));
        let class = guess_class(&field("function"));
        let token = base_token(key).to_string();
        let mut t = Table::new();
        t.insert("name", value(token.clone()));
        t.insert("operator", value(operator));
        t.insert("class", value(class.as_str()));
        let mut toks = Array::new();
        toks.push(token.as_str());
        t.insert("tokens", value(toks.clone()));
        t.insert("ua", value(toks));
        if let Some(url) = url {
            t.insert("url", value(url));
        }
        let mut up = InlineTable::new();
        let mut keys = Array::new();
        keys.push(key.as_str());
        up.insert("keys", keys.into());
        for f in UPSTREAM_FIELDS {
            up.insert(f, field(f).into());
        }
        t.insert("ai_robots_txt", value(up));
        t.decor_mut().set_prefix(
            "\n# review: new in ai.robots.txt; class guessed from its `function`, check class, operator and patterns\n",
        );
        agents.push(t);
        let i = agents.len() - 1;
        by_key.insert(key.clone(), i);
        by_token.insert(token.to_ascii_lowercase(), i);
        summary.added.push(key.clone());
    }
    let mut all_keys: Vec<&String> = by_key.keys().collect();
    all_keys.sort();
    summary.removed_upstream = all_keys
        .into_iter()
        .filter(|k| !upstream.contains_key(*k))
        .cloned()
        .collect();
    Ok((doc.to_string(), summary))
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEADER: &str = "# catalogue\n";

    #[test]
    fn base_token_strips_versions() {
        assert_eq!(base_token("Brightbot 1.0"), "Brightbot");
        assert_eq!(base_token("iaskspider/2.0"), "iaskspider");
        assert_eq!(base_token("Kangaroo Bot"), "Kangaroo Bot");
        assert_eq!(base_token("GPTBot"), "GPTBot");
    }

    #[test]
    fn operator_markdown_is_cleaned() {
        assert_eq!(
            clean_operator("[OpenAI](https://openai.com)"),
            ("OpenAI".to_string(), Some("https://openai.com".to_string()))
        );
        assert_eq!(
            clean_operator("Unclear at this time."),
            ("unknown".to_string(), None)
        );
        assert_eq!(clean_operator("ByteDance"), ("ByteDance".to_string(), None));
    }

    #[test]
    fn new_keys_become_agents_and_variants_attach() {
        let json = r#"{"GPTBot":{"operator":"[OpenAI](https://openai.com)","respect":"Yes","function":"Scrapes data to train OpenAI's products.","frequency":"No information.","description":"d"},
                       "gptbot/1.1":{"operator":"OpenAI","respect":"Yes","function":"x","frequency":"y","description":"z"}}"#;
        let (out, s) = import_robots_json(HEADER, json).unwrap();
        assert_eq!(s.added, ["GPTBot"]);
        assert_eq!(s.attached, ["gptbot/1.1"]);
        let c = crate::Catalogue::parse("out", &out).unwrap();
        let a = &c.agents()[0];
        assert_eq!(a.name, "GPTBot");
        assert_eq!(a.operator, "OpenAI");
        assert_eq!(a.class, Class::AiTraining);
        assert_eq!(a.upstream.as_ref().unwrap().keys, ["GPTBot", "gptbot/1.1"]);
        // Importing again changes nothing.
        let (again, s2) = import_robots_json(&out, json).unwrap();
        assert_eq!(again, out);
        assert_eq!(s2, ImportSummary::default());
    }

    #[test]
    fn reimport_keeps_our_fields_and_refreshes_upstream_ones() {
        let ours = "[[agent]]\nname = \"GPTBot\"\noperator = \"OpenAI\"\nclass = \"ai-training\" # ours\ntokens = [\"GPTBot\"]\nip_ranges = [\"openai-gptbot\"]\nai_robots_txt = { keys = [\"GPTBot\"], operator = \"OpenAI\", function = \"old\", respect = \"Yes\", frequency = \"f\", description = \"d\" }\n";
        let json = r#"{"GPTBot":{"operator":"OpenAI","respect":"Yes","function":"new","frequency":"f","description":"d"},
                       "NewBot":{"operator":"Unclear at this time.","respect":"","function":"AI Search Crawlers","frequency":"","description":""}}"#;
        let (out, s) = import_robots_json(ours, json).unwrap();
        assert_eq!(s.updated, ["GPTBot"]);
        assert_eq!(s.added, ["NewBot"]);
        assert!(out.contains("class = \"ai-training\" # ours"), "{out}");
        assert!(out.contains("ip_ranges = [\"openai-gptbot\"]"), "{out}");
        assert!(out.contains("function = \"new\""), "{out}");
        assert!(out.contains("# review: new in ai.robots.txt"), "{out}");
        let c = crate::Catalogue::parse("out", &out).unwrap();
        assert_eq!(c.agents()[1].class, Class::AiSearch);
        assert_eq!(c.agents()[1].operator, "unknown");
    }

    /// The shipped catalogue is exactly what an import of the shipped robots.json leaves behind:
    /// re-running the import is a no-op, so every hand edit is in fields the import preserves.
    #[test]
    fn importing_the_shipped_robots_json_changes_nothing() {
        let toml = include_str!("../../../data/agents.toml");
        let json = include_str!("../../../data/ai-robots-txt.robots.json");
        let (out, summary) = import_robots_json(toml, json).unwrap();
        assert_eq!(summary, ImportSummary::default());
        assert!(out == toml, "import rewrote data/agents.toml");
        let upstream: serde_json::Map<String, Value> = serde_json::from_str(json).unwrap();
        assert_eq!(upstream.len(), 166);
        let c = crate::Catalogue::parse("data/agents.toml", toml).unwrap();
        let covered: usize = c
            .agents()
            .iter()
            .filter_map(|a| a.upstream.as_ref())
            .map(|u| u.keys.len())
            .sum();
        assert_eq!(
            covered, 166,
            "every robots.json key belongs to exactly one agent"
        );
    }

    #[test]
    fn keys_gone_upstream_are_reported_and_kept() {
        let ours = "[[agent]]\nname = \"OldBot\"\noperator = \"o\"\nclass = \"ai-training\"\ntokens = [\"OldBot\"]\nai_robots_txt = { keys = [\"OldBot\"] }\n";
        let (out, s) = import_robots_json(ours, "{}").unwrap();
        assert_eq!(s.removed_upstream, ["OldBot"]);
        assert_eq!(out, ours);
    }
}
