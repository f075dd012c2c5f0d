//! IETF aipref preferences (`Content-Usage`) and Cloudflare Content Signals (`Content-Signal`).
//!
//! - Vocabulary: draft-ietf-aipref-vocab-08 §4 — categories `train-ai`, `ai-use`, `search`.
//! - Serialisation and processing: vocab-08 §6 (standards.md §2.4) — an RFC 9651 Dictionary whose
//!   known keys carry the Tokens `y` (allow) or `n` (disallow).
//! - Attachment: draft-ietf-aipref-attach-05 §4 (HTTP header) and §5 (robots.txt rule).
//! - Content Signals (contentsignals.org, CC0): `search`, `ai-input`, `ai-train` = `yes`|`no`.

use sfv::{BareItem, Dictionary, FieldType, ListEntry, Parser};

/// The outcome for one aipref category after processing (vocab-08 §6: allowed, disallowed or
/// unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Preference {
    /// Token `y`.
    Allow,
    /// Token `n`.
    Disallow,
    /// No statement, or a value that is not the Token `y` or `n`.
    #[default]
    Unknown,
}

/// A processed `Content-Usage` statement: one [`Preference`] per vocab-08 category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ContentUsage {
    /// `train-ai`: training generative AI models (vocab-08 §4.1).
    pub train_ai: Preference,
    /// `ai-use`: input to a generative model the user did not directly supply (vocab-08 §4.2).
    pub ai_use: Preference,
    /// `search`: search applications that link back (vocab-08 §4.3).
    pub search: Preference,
}

/// The aipref category labels of vocab-08, in the order tollgate writes them.
pub const AIPREF_LABELS: [&str; 3] = ["train-ai", "ai-use", "search"];

/// The Content Signals labels, in the order tollgate writes them.
pub const CONTENT_SIGNAL_LABELS: [&str; 3] = ["search", "ai-input", "ai-train"];

/// Processes a `Content-Usage` value (header field value or the preference part of a robots.txt
/// `Content-Usage` rule) per vocab-08 §6 / standards.md §2.4.
///
/// The value is parsed as an RFC 9651 Dictionary (§4.2.2); for each known label the member's
/// value decides, its parameters ignored: Token `y` → [`Preference::Allow`], Token `n` →
/// [`Preference::Disallow`], anything else (absent, Boolean from a bare key, String, other Token,
/// inner list) → [`Preference::Unknown`]. Unknown keys (including retired labels such as
/// `train-genai`) are ignored. A duplicate key keeps its last value (RFC 9651 §4.2.2). A parse
/// failure (e.g. upper-case key, trailing comma) makes every category unknown. Never fails.
pub fn parse_content_usage(value: &str) -> ContentUsage {
    let Ok(dict) = Parser::new(value).parse::<Dictionary>() else {
        return ContentUsage::default();
    };
    let pref = |label: &str| match dict.get(label) {
        Some(ListEntry::Item(item)) => match item.bare_item.as_token().map(|t| t.as_str()) {
            Some("y") => Preference::Allow,
            Some("n") => Preference::Disallow,
            _ => Preference::Unknown,
        },
        _ => Preference::Unknown,
    };
    ContentUsage {
        train_ai: pref("train-ai"),
        ai_use: pref("ai-use"),
        search: pref("search"),
    }
}

/// Checks a configured preference string and returns its canonical RFC 9651 serialisation.
///
/// Stricter than [`parse_content_usage`] (which must accept anything): every member must be one
/// of the vocab-08 labels `train-ai`, `ai-use`, `search`, each at most once, with the Token `y`
/// or `n` and no parameters. `labels`/`yes`/`no` select the vocabulary, so the same check serves
/// Content Signals (`search`, `ai-input`, `ai-train` with `yes`/`no`).
fn validate_dictionary(
    value: &str,
    what: &str,
    labels: &[&str],
    yes: &str,
    no: &str,
) -> Result<String, String> {
    let dict: Dictionary = Parser::new(value).parse().map_err(|e| {
        format!(
            "{what} `{value}` is not an RFC 9651 dictionary like `{}={no}`: {e}",
            labels[0]
        )
    })?;
    for (key, entry) in &dict {
        let key = key.as_str();
        if !labels.contains(&key) {
            return Err(format!(
                "{what}: unknown label `{key}` (known: {})",
                labels.join(", ")
            ));
        }
        let ok = match entry {
            ListEntry::Item(item) => {
                item.params.is_empty()
                    && matches!(&item.bare_item, BareItem::Token(t) if t.as_str() == yes || t.as_str() == no)
            }
            ListEntry::InnerList(_) => false,
        };
        if !ok {
            return Err(format!(
                "{what}: `{key}` must be `{key}={yes}` or `{key}={no}` (a bare token, no parameters)"
            ));
        }
    }
    // Duplicates never reach here (the parser keeps the last), so also look at the raw text:
    // `train-ai=n, train-ai=y` must not pass silently.
    let members = value.split(',').filter(|m| !m.trim().is_empty()).count();
    if members != dict.len() {
        return Err(format!("{what}: a label is given twice in `{value}`"));
    }
    dict.serialize()
        .ok_or_else(|| format!("{what}: `{value}` states no preference"))
}

/// Validates a configured `content_usage` (vocab-08 labels, `y`/`n`) and returns it in canonical
/// form (`train-ai=n, ai-use=n, search=y`). Errors name the offending label.
pub fn validate_content_usage(value: &str) -> Result<String, String> {
    validate_dictionary(value, "content_usage", &AIPREF_LABELS, "y", "n")
}

/// Validates a configured Content Signals value (`search`, `ai-input`, `ai-train` with
/// `yes`/`no`) and returns it in canonical form.
pub fn validate_content_signal(value: &str) -> Result<String, String> {
    validate_dictionary(value, "content_signal", &CONTENT_SIGNAL_LABELS, "yes", "no")
}

#[cfg(test)]
mod tests {
    use super::Preference::{Allow, Disallow, Unknown};
    use super::*;

    fn cu(train_ai: Preference, ai_use: Preference, search: Preference) -> ContentUsage {
        ContentUsage {
            train_ai,
            ai_use,
            search,
        }
    }

    /// Every row of the edge-case table in standards.md §2.4 (vocab-08 §6 examples included).
    #[test]
    fn edge_cases_of_the_processing_table() {
        let table: &[(&str, ContentUsage)] = &[
            ("train-ai=n, search=y", cu(Disallow, Unknown, Allow)),
            ("train-ai", cu(Unknown, Unknown, Unknown)),
            ("train-ai=\"n\"", cu(Unknown, Unknown, Unknown)),
            ("train-ai=no", cu(Unknown, Unknown, Unknown)),
            (
                "train-ai=y, train-ai, search=n, search=\"n\"",
                cu(Unknown, Unknown, Unknown),
            ),
            ("train-ai;allow=n, train-ai=y", cu(Allow, Unknown, Unknown)),
            (
                "train-ai;has;parameters=\"?\"",
                cu(Unknown, Unknown, Unknown),
            ),
            ("TRAIN-AI=n", cu(Unknown, Unknown, Unknown)),
            ("train-ai=n,", cu(Unknown, Unknown, Unknown)),
            ("bots=n, train-genai=n", cu(Unknown, Unknown, Unknown)),
        ];
        for (input, want) in table {
            assert_eq!(parse_content_usage(input), *want, "input {input:?}");
        }
    }

    #[test]
    fn full_statement_parameters_and_unknown_keys() {
        assert_eq!(
            parse_content_usage("train-ai=n, ai-use=n, search=y"),
            cu(Disallow, Disallow, Allow)
        );
        assert_eq!(
            parse_content_usage("train-ai=n;why=\"x\", future-label=y, ai-use=y"),
            cu(Disallow, Allow, Unknown)
        );
        assert_eq!(parse_content_usage(""), ContentUsage::default());
        assert_eq!(parse_content_usage("search=(y n)"), ContentUsage::default());
        assert_eq!(parse_content_usage("search=y n"), ContentUsage::default());
    }

    #[test]
    fn validation_canonicalises_and_rejects() {
        assert_eq!(
            validate_content_usage("train-ai=n,ai-use=n,   search=y").as_deref(),
            Ok("train-ai=n, ai-use=n, search=y")
        );
        assert_eq!(
            validate_content_usage("search=y").as_deref(),
            Ok("search=y")
        );
        let bad = [
            ("train-genai=n", "unknown label `train-genai`"),
            (
                "train-ai=no",
                "`train-ai` must be `train-ai=y` or `train-ai=n`",
            ),
            ("train-ai", "must be `train-ai=y`"),
            ("train-ai=n;x=1", "no parameters"),
            ("train-ai=n, train-ai=y", "given twice"),
            ("TRAIN-AI=n", "not an RFC 9651 dictionary"),
            ("", "states no preference"),
        ];
        for (input, want) in bad {
            let e = validate_content_usage(input).unwrap_err();
            assert!(e.contains(want), "{input:?}: {e}");
        }
        assert_eq!(
            validate_content_signal("search=yes,ai-input=no, ai-train=no").as_deref(),
            Ok("search=yes, ai-input=no, ai-train=no")
        );
        assert!(validate_content_signal("search=y")
            .unwrap_err()
            .contains("`search=yes` or `search=no`"));
        assert!(validate_content_signal("train-ai=no")
            .unwrap_err()
            .contains("unknown label `train-ai`"));
    }
}
