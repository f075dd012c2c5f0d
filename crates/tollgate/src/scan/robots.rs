//! "Would this robots.txt have disallowed that request?" for scan reports, via the
//! `texting_robots` RFC 9309 matcher.
//!
//! The group an agent obeys is chosen by its first product token (RFC 9309 §2.2.1); agents
//! without a product token and unknown bots obey the `*` group. `/robots.txt` itself is always
//! allowed (RFC 9309 §2.2.2).

use std::sync::Arc;

use texting_robots::Robot;
use tollgate_agents::{AgentId, Catalogue};

/// A parsed robots.txt plus per-agent matchers, built lazily (one per worker thread).
pub struct RobotsCheck {
    text: Arc<Vec<u8>>,
    tokens: Arc<Vec<Option<String>>>,
    per_agent: Vec<Option<Option<Robot>>>,
    star: Option<Option<Robot>>,
}

impl Clone for RobotsCheck {
    fn clone(&self) -> Self {
        RobotsCheck {
            text: Arc::clone(&self.text),
            tokens: Arc::clone(&self.tokens),
            per_agent: (0..self.tokens.len()).map(|_| None).collect(),
            star: None,
        }
    }
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
    /// Parses `text` once to validate it; matchers per agent are built on first use.
    pub fn new(
        file: &str,
        text: Vec<u8>,
        catalogue: &Catalogue,
    ) -> Result<RobotsCheck, RobotsError> {
        Robot::new("*", &text).map_err(|e| RobotsError {
            file: file.to_string(),
            message: e.to_string(),
        })?;
        let tokens = catalogue
            .agents()
            .iter()
            .map(|a| a.product_tokens.first().cloned())
            .collect::<Vec<_>>();
        Ok(RobotsCheck {
            per_agent: (0..tokens.len()).map(|_| None).collect(),
            text: Arc::new(text),
            tokens: Arc::new(tokens),
            star: None,
        })
    }

    fn build(&self, token: &str) -> Option<Robot> {
        Robot::new(token, &self.text).ok()
    }

    /// True if the robots.txt disallows `target` (path and query, as logged) for `agent`
    /// (`None` = an unknown bot, which obeys `*`).
    pub fn disallows(&mut self, agent: Option<AgentId>, target: &str) -> bool {
        if !target.starts_with('/') || target == "/robots.txt" {
            return false;
        }
        let robot = match agent.and_then(|id| self.tokens[id.0 as usize].clone().map(|t| (id, t))) {
            Some((id, token)) => {
                let slot = &self.per_agent[id.0 as usize];
                if slot.is_none() {
                    let r = self.build(&token);
                    self.per_agent[id.0 as usize] = Some(r);
                }
                self.per_agent[id.0 as usize]
                    .as_ref()
                    .and_then(|r| r.as_ref())
            }
            None => {
                if self.star.is_none() {
                    self.star = Some(self.build("*"));
                }
                self.star.as_ref().and_then(|r| r.as_ref())
            }
        };
        robot.is_some_and(|r| !r.allowed(target))
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
        (RobotsCheck::new("robots.txt", txt, &cat).unwrap(), cat)
    }

    #[test]
    fn agent_group_is_chosen_by_product_token() {
        let (mut r, c) = check();
        let gpt = c.by_name("GPTBot");
        assert!(r.disallows(gpt, "/"));
        assert!(r.disallows(gpt, "/anything?x=1"));
        assert!(!r.disallows(gpt, "/robots.txt"));
    }

    #[test]
    fn agents_without_tokens_and_unknown_bots_obey_the_star_group() {
        let (mut r, c) = check();
        let curl = c.by_name("curl");
        assert!(r.disallows(curl, "/private/x"));
        assert!(!r.disallows(curl, "/private/ok/1"));
        assert!(!r.disallows(curl, "/public"));
        assert!(r.disallows(None, "/private"));
        assert!(!r.disallows(None, "/"));
    }

    #[test]
    fn garbage_targets_are_never_disallowed() {
        let (mut r, c) = check();
        assert!(!r.disallows(c.by_name("GPTBot"), "\\x16\\x03\\x01"));
    }
}
