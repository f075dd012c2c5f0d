//! One module per subcommand.

pub mod catalogue;
pub mod ranges;
pub mod scan;
pub mod serve;
pub mod sign;
