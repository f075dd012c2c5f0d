//! `tollgate scan`: replay access logs through the classifier and report per agent, operator
//! and class.
//!
//! Pipeline: the main thread reads each input (plain, gzip or stdin) in line-aligned chunks and
//! hands them to one worker per core through a bounded channel; each worker parses, classifies
//! and counts into its own [`tally::Tally`]; the tallies are merged into a [`report::ScanReport`].

pub mod report;
pub mod robots;
pub mod tally;
