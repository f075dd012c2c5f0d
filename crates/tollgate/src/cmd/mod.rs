//! One module per subcommand.

pub mod accounts;
pub mod catalogue;
pub mod ledger;
pub mod logline;
pub mod ranges;
pub mod scan;
pub mod serve;
pub mod sign;
