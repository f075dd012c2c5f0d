//! The admin listener (axum): `/healthz` (open), `/metrics` (Prometheus text) and
//! `/api/decisions` (recent decisions, JSON), the last two behind `Authorization: Bearer <token>`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use metrics_exporter_prometheus::PrometheusHandle;

use crate::gateway::Gateway;

/// Admin state.
#[derive(Clone)]
pub struct AdminState {
    /// The gateway.
    pub gateway: Arc<Gateway>,
    /// Renders the metrics.
    pub metrics: PrometheusHandle,
    /// Required bearer token (never empty: serve refuses to start an admin listener without one).
    pub token: Arc<str>,
}

fn authorized(state: &AdminState, headers: &HeaderMap) -> bool {
    let want = format!("Bearer {}", state.token);
    headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| constant_time_eq(v.as_bytes(), want.as_bytes()))
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn metrics(State(s): State<AdminState>, headers: HeaderMap) -> Response {
    if !authorized(&s, &headers) {
        return (StatusCode::UNAUTHORIZED, "admin token required\n").into_response();
    }
    metrics::gauge!("tollgate_limiter_buckets").set(s.gateway.limiter_buckets() as f64);
    metrics::gauge!("tollgate_recent_decisions").set(s.gateway.recent_decisions().len() as f64);
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        s.metrics.render(),
    )
        .into_response()
}

async fn decisions(State(s): State<AdminState>, headers: HeaderMap) -> Response {
    if !authorized(&s, &headers) {
        return (StatusCode::UNAUTHORIZED, "admin token required\n").into_response();
    }
    Json(s.gateway.recent_decisions()).into_response()
}

/// The admin router.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/decisions", get(decisions))
        .with_state(state)
}

#[cfg(test)]
mod tests {
    use super::constant_time_eq;

    #[test]
    fn token_comparison_needs_equal_bytes() {
        assert!(constant_time_eq(b"Bearer a", b"Bearer a"));
        assert!(!constant_time_eq(b"Bearer a", b"Bearer b"));
        assert!(!constant_time_eq(b"Bearer a", b"Bearer ab"));
    }
}
