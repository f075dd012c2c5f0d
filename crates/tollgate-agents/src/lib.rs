//! The agent catalogue, User-Agent matching and verification of claims.
//!
//! - [`Catalogue`]: `data/agents.toml` (ai.robots.txt's list plus search engines, link previews,
//!   feed readers, archivers, monitors, SEO crawlers and tools), with file:line errors.
//! - [`UaMatcher`]: User-Agent → agent in one automaton pass (well under a microsecond).
//! - [`import`]: regenerates the ai.robots.txt part from a newer `robots.json`.

pub mod catalogue;
pub mod class;
pub mod import;
pub mod matcher;
pub mod ranges;
pub mod verify;

pub use catalogue::{Agent, AgentId, Catalogue, CatalogueError};
pub use class::Class;
pub use matcher::{UaMatch, UaMatcher};
pub use ranges::RangeTable;
pub use verify::{Classifier, Client, RequestFacts, Verification, VerifiedBy};
