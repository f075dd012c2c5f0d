//! "Would this robots.txt have disallowed that request?" for scan reports, via the
//! `texting_robots` RFC 9309 matcher.
//!
//! The group an agent obeys is chosen by its first product token (RFC 9309 §2.2.1); agents
//! without a product token and unknown bots obey the `*` group. `/robots.txt` itself is always
//! allowed (RFC 9309 §2.2.2). Like crawlers, only the first [`MAX_ROBOTS_BYTES`] are read
//! (§2.5 requires at least 500 KiB). Each matcher is built once, on first use, and shared by
//! every worker thread.

use std::sync::{Arc, OnceLock};

use texting_robots::Robot;
use tollgate_agents::{AgentId, Catalogue};

/// Bytes of a robots.txt that are parsed (RFC 9309 §2.5: a parsing limit of at least 500 KiB).
pub const MAX_ROBOTS_BYTES: usize = 512_000;

struct Shared {
    text: Vec<u8>,
    tokens: Vec<Option<String>>,
    per_agent: Vec<OnceLock<Option<Robot>>>,
    star: OnceLock<Option<Robot>>,
}

/// A parsed robots.txt plus per-agent matchers. Cheap to clone; clones share the matchers.
#[derive(Clone)]
pub struct RobotsCheck {
    shared: Arc<Shared>,
}

/// The robots.txt could not be parsed at all.
#[derive(Debug, thiserror::Error)]
#[error("{file}: not a robots.txt: {message}")]
pub struct RobotsError {
    /// The file.
    pub file: String,
    /// Parser message.
    pub message: String,
}

impl RobotsCheck {
    /// Validates `text` (cut to [`MAX_ROBOTS_BYTES`] at a line end; `truncated` says whether it
    /// was); matchers per agent are built on first use.
    pub fn new(
        file: &str,
        mut text: Vec<u8>,
        catalogue: &Catalogue,
    ) -> Result<(RobotsCheck, bool), RobotsError> {
        let truncated = text.len() > MAX_ROBOTS_BYTES;
        if truncated {
            let cut = text[..MAX_ROBOTS_BYTES]
                .iter()
                .rposition(|&b| b == b'\n')
                .map_or(MAX_ROBOTS_BYTES, |i| i + 1);
            text.truncate(cut);
        }
        let star = Robot::new("*", &text).map_err(|e| RobotsError {
            file: file.to_string(),
            message: e.to_string(),
        })?;
        let tokens: Vec<Option<String>> = catalogue
            .agents()
            .iter()
            .map(|a| a.product_tokens.first().cloned())
            .collect();
        let shared = Shared {
            per_agent: (0..tokens.len()).map(|_| OnceLock::new()).collect(),
            star: OnceLock::from(Some(star)),
            text,
            tokens,
        };
        Ok((
            RobotsCheck {
                shared: Arc::new(shared),
            },
            truncated,
        ))
    }

    /// True if the robots.txt disallows `target` (path and query, as logged) for `agent`
    /// (`None` = an unknown bot, which obeys `*`).
    pub fn disallows(&self, agent: Option<AgentId>, target: &str) -> bool {
        if !target.starts_with('/') || target == "/robots.txt" {
            return false;
        }
        let s = &*self.shared;
        let robot = match agent.and_then(|id| s.tokens[id.0 as usize].as_ref().map(|t| (id, t))) {
            Some((id, token)) => {
                s.per_agent[id.0 as usize].get_or_init(|| Robot::new(token, &s.text).ok())
            }
            None => s.star.get_or_init(|| Robot::new("*", &s.text).ok()),
        };
        robot.as_ref().is_some_and(|r| !r.allowed(target))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check() -> (RobotsCheck, Catalogue) {
        let cat = Catalogue::parse(
            "t.toml",
            "[[agent]]\nname = \"GPTBot\"\noperator = \"OpenAI\"\nclass = \"ai-training\"\ntokens = [\"GPTBot\"]\n[[agent]]\nname = \"curl\"\noperator = \"curl\"\nclass = \"tool\"\nua = [\"curl\"]\n",
        )
        .unwrap();
        let txt = b"User-agent: GPTBot\nDisallow: /\n\nUser-agent: *\nDisallow: /private\nAllow: /private/ok\n".to_vec();
        (RobotsCheck::new("robots.txt", txt, &cat).unwrap().0, cat)
    }

    #[test]
    fn agent_group_is_chosen_by_product_token() {
        let (r, c) = check();
        let gpt = c.by_name("GPTBot");
        assert!(r.disallows(gpt, "/"));
        assert!(r.disallows(gpt, "/anything?x=1"));
        assert!(!r.disallows(gpt, "/robots.txt"));
    }

    #[test]
    fn agents_without_tokens_and_unknown_bots_obey_the_star_group() {
        let (r, c) = check();
        let curl = c.by_name("curl");
        assert!(r.disallows(curl, "/private/x"));
        assert!(!r.disallows(curl, "/private/ok/1"));
        assert!(!r.disallows(curl, "/public"));
        assert!(r.disallows(None, "/private"));
        assert!(!r.disallows(None, "/"));
    }

    #[test]
    fn garbage_targets_are_never_disallowed() {
        let (r, c) = check();
        assert!(!r.disallows(c.by_name("GPTBot"), "\\x16\\x03\\x01"));
    }

    #[test]
    fn only_the_first_512000_bytes_are_read() {
        let cat = Catalogue::parse("t.toml", "").unwrap();
        let mut txt = b"User-agent: *\n".to_vec();
        while txt.len() < MAX_ROBOTS_BYTES {
            txt.extend_from_slice(b"Disallow: /early\n");
        }
        txt.extend_from_slice(b"Disallow: /late\n");
        let (r, truncated) = RobotsCheck::new("r.txt", txt, &cat).unwrap();
        assert!(truncated);
        assert!(r.disallows(None, "/early"));
        assert!(!r.disallows(None, "/late"));
    }
}
