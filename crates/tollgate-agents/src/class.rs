//! Client classes (DESIGN.md vocabulary).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// What kind of client an agent is. The names are the DESIGN.md vocabulary and appear verbatim in
/// the catalogue, in policy files and in every report (`ai-training`, `browser`, …).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Class {
    /// Crawls to collect model-training data (GPTBot, ClaudeBot, CCBot, Bytespider).
    AiTraining,
    /// Crawls to build an AI search / answer index (OAI-SearchBot, PerplexityBot).
    AiSearch,
    /// Fetches a page because a person asked an AI assistant to (ChatGPT-User, Claude-User).
    AiUser,
    /// An autonomous AI agent or coding agent acting on a task (ChatGPT Agent, Devin).
    AiAgent,
    /// A web search engine crawler (Googlebot, bingbot, Baiduspider).
    Search,
    /// A link-preview fetcher (facebookexternalhit, Slackbot-LinkExpanding, Discordbot).
    Preview,
    /// A feed reader or aggregator (Miniflux, Feedly, NewsBlur).
    Feed,
    /// A web archiver (ia_archiver, archive.org_bot).
    Archive,
    /// An uptime or performance monitor (UptimeRobot, Pingdom).
    Monitor,
    /// An SEO or marketing crawler (AhrefsBot, SemrushBot).
    Seo,
    /// A command-line tool, package manager or HTTP library (curl, git, python-requests).
    Tool,
    /// A human-operated client: browsers, in-app webviews, desktop and mobile apps.
    Browser,
    /// A bot the catalogue does not know (self-declared by a generic marker such as `bot`, `crawler`).
    UnknownBot,
}

impl Class {
    /// Every class, in report order.
    pub const ALL: [Class; 13] = [
        Class::AiTraining,
        Class::AiSearch,
        Class::AiUser,
        Class::AiAgent,
        Class::Search,
        Class::Preview,
        Class::Feed,
        Class::Archive,
        Class::Monitor,
        Class::Seo,
        Class::Tool,
        Class::Browser,
        Class::UnknownBot,
    ];

    /// The vocabulary name, e.g. `"ai-training"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Class::AiTraining => "ai-training",
            Class::AiSearch => "ai-search",
            Class::AiUser => "ai-user",
            Class::AiAgent => "ai-agent",
            Class::Search => "search",
            Class::Preview => "preview",
            Class::Feed => "feed",
            Class::Archive => "archive",
            Class::Monitor => "monitor",
            Class::Seo => "seo",
            Class::Tool => "tool",
            Class::Browser => "browser",
            Class::UnknownBot => "unknown-bot",
        }
    }

    /// True for the four AI classes (`ai-training`, `ai-search`, `ai-user`, `ai-agent`): the
    /// traffic a scan prices with `--price`.
    pub fn is_ai(self) -> bool {
        matches!(
            self,
            Class::AiTraining | Class::AiSearch | Class::AiUser | Class::AiAgent
        )
    }

    /// True for every class but `browser`.
    pub fn is_bot(self) -> bool {
        self != Class::Browser
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Error for an unknown class name; carries the name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown class `{0}` (expected one of: ai-training, ai-search, ai-user, ai-agent, search, preview, feed, archive, monitor, seo, tool, browser, unknown-bot)")]
pub struct UnknownClass(pub String);

impl FromStr for Class {
    type Err = UnknownClass;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Class::ALL
            .into_iter()
            .find(|c| c.as_str() == s)
            .ok_or_else(|| UnknownClass(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn class_names_round_trip_through_from_str() {
        for c in Class::ALL {
            assert_eq!(c.as_str().parse::<Class>(), Ok(c));
        }
        assert_eq!(
            "AI-training".parse::<Class>(),
            Err(UnknownClass("AI-training".into()))
        );
    }

    #[test]
    fn only_the_four_ai_classes_are_ai() {
        let ai: Vec<_> = Class::ALL.into_iter().filter(|c| c.is_ai()).collect();
        assert_eq!(
            ai,
            [
                Class::AiTraining,
                Class::AiSearch,
                Class::AiUser,
                Class::AiAgent
            ]
        );
    }
}
