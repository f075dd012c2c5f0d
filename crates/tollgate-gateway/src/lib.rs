//! The tollgate HTTP data plane (`tollgate serve`): a reverse proxy (or a forward-auth endpoint
//! for nginx `auth_request`, Traefik ForwardAuth, Caddy `forward_auth`) that classifies every
//! request, asks the policy, and acts: proxy, 402, 403, 429, tarpit.
//!
//! - [`config`]: `tollgate.toml`'s `[server]` table (+ the policy), file:line errors.
//! - [`gateway`]: the request phases and shared state (atomic reload).
//! - [`origin`]: pooled HTTP client, Unix socket, or static files.
//! - [`forwarding`]: trusted proxies, hop-by-hop and `X-Forwarded-*`/`Forwarded` headers.
//! - [`respond`]: machine answers for machines, HTML only for browsers navigating.
//! - [`fcrdns`]: forward-confirmed reverse DNS crawler checks (bounded cache, timeouts).
//! - [`payment`]: the pay-per-crawl wire protocol (`crawler-price`, `crawler-max-price`, …).
//! - [`websig`]: Web Bot Auth signatures (RFC 9421): key directories, caches, outcome.
//! - [`limiter`]: token buckets; [`admin`]: metrics, health, recent decisions.

pub mod admin;
mod charge;
pub mod config;
pub mod fcrdns;
pub mod forwarding;
pub mod gateway;
pub mod limiter;
pub mod origin;
pub mod payment;
pub mod respond;
pub mod server;
pub mod websig;

pub use config::{Config, ConfigError, Origin};
pub use gateway::Gateway;
