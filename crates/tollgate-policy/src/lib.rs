//! Policy model, decisions and prices. **Pure**: no I/O, no async, no clock reads — time comes in
//! the request facts — so `scan` can replay a log through exactly the decisions `serve` makes.
//!
//! - [`Policy`]: ordered `[[rule]]`s (class, agent, operator, verification, path glob, method,
//!   header) → [`Decision`] (`allow`, `deny`, `charge`, `challenge`, `limit`, `tarpit`; `shadow`).
//! - [`path::normalize`]: request paths normalised so spelling tricks meet the same rule.
//! - [`Money`]: integer micro-units of a currency (DESIGN.md invariant 6).

pub mod money;
pub mod path;
pub mod rules;

pub use money::{Balance, Money, MoneyError};
pub use rules::{Action, Decision, Headers, LimitKey, LimitSpec, NoHeaders, Policy, PolicyError};
