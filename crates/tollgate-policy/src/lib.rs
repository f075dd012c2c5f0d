//! Policy model, decisions and prices (pure: no I/O, no clock).
//!
//! So far: [`Money`], integer micro-units of a currency (DESIGN.md invariant 6: no floats for
//! money).

pub mod money;

pub use money::{Money, MoneyError};
