//! The admin listener (axum): `/healthz` (open), `/metrics` (Prometheus text),
//! `/api/decisions` (recent decisions, JSON) and `/api/usage` (an account's ledger entries), all
//! but the first behind `Authorization: Bearer <token>`.

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
    /// The bearer token from `$TOLLGATE_ADMIN_TOKEN`, used while the current config's
    /// `[server.admin] token` is empty (serve refuses to start with neither).
    pub token: Arc<str>,
}

/// True if `headers` carry `Authorization: Bearer <token>` (scheme case-insensitive, RFC 9110
/// §11.1) with the token of the current config (so a reload rotates it), or the environment's.
fn authorized(state: &AdminState, headers: &HeaderMap) -> bool {
    let live = state.gateway.live();
    let token = match &live.config.server.admin {
        Some(a) if !a.token.is_empty() => a.token.as_str(),
        _ => &state.token,
    };
    let Some(sent) = headers
        .get(axum::http::header::AUTHORIZATION)
        .map(|v| v.as_bytes())
    else {
        return false;
    };
    let Some((scheme, credentials)) = sent.split_at_checked(7) else {
        return false;
    };
    !token.is_empty()
        && scheme.eq_ignore_ascii_case(b"bearer ")
        && constant_time_eq(credentials, token.as_bytes())
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// 401 with the challenge (RFC 6750 §3).
fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(
            axum::http::header::WWW_AUTHENTICATE,
            "Bearer realm=\"tollgate admin\"",
        )],
        "admin token required\n",
    )
        .into_response()
}

async fn healthz() -> &'static str {
    "ok\n"
}

async fn metrics(State(s): State<AdminState>, headers: HeaderMap) -> Response {
    if !authorized(&s, &headers) {
        return unauthorized();
    }
    metrics::gauge!("tollgate_limiter_buckets").set(s.gateway.limiter_buckets() as f64);
    metrics::gauge!("tollgate_recent_decisions").set(s.gateway.recent_decisions().len() as f64);
    metrics::gauge!("tollgate_answer_cache_entries").set(s.gateway.kept_answers() as f64);
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
        return unauthorized();
    }
    Json(s.gateway.recent_decisions()).into_response()
}

/// Query of `/api/usage`.
#[derive(Debug, serde::Deserialize)]
pub struct UsageQuery {
    /// Account name (required).
    pub account: Option<String>,
    /// Inclusive start: `2026-11-01` (UTC midnight) or an RFC 3339 time.
    pub from: Option<String>,
    /// Exclusive end, same forms.
    pub to: Option<String>,
}

fn bad_request(msg: String) -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(serde_json::json!({ "error": msg })),
    )
        .into_response()
}

/// `GET /api/usage?account=A[&from=2026-11-01][&to=2026-12-01]`: the account's ledger entries
/// in the range (chain order), their count and the charged total, as JSON. 400 for a bad query,
/// 404 for an unknown account or no ledger, 503 when the ledger is unreachable.
async fn usage(
    State(s): State<AdminState>,
    headers: HeaderMap,
    axum::extract::Query(q): axum::extract::Query<UsageQuery>,
) -> Response {
    if !authorized(&s, &headers) {
        return unauthorized();
    }
    let Some(ledger) = s.gateway.ledger() else {
        return (
            StatusCode::NOT_FOUND,
            "no ledger configured ([payments] ledger)\n",
        )
            .into_response();
    };
    let Some(account) = q.account else {
        return bad_request("query parameter `account` is required".into());
    };
    let mut range = [None, None];
    for (slot, (name, v)) in range.iter_mut().zip([("from", &q.from), ("to", &q.to)]) {
        if let Some(v) = v {
            match tollgate_ledger::period_bound(v) {
                Some(t) => *slot = Some(t),
                None => {
                    return bad_request(format!(
                        "`{name}` = `{v}`: expected a date like 2026-11-01 or an RFC 3339 time"
                    ))
                }
            }
        }
    }
    match ledger.usage(&account, range[0], range[1]).await {
        Ok(entries) => {
            let mut total: Option<tollgate_ledger::Money> = None;
            let mut charged = 0u64;
            for e in entries
                .iter()
                .filter(|e| e.kind == tollgate_ledger::EntryKind::Charge)
            {
                charged += 1;
                total = match total {
                    None => Some(e.event.price),
                    Some(t) => t.plus(e.event.price).ok(),
                };
            }
            Json(serde_json::json!({
                "account": account,
                "charged_requests": charged,
                "total": total.map(|t| t.to_string()),
                "entries": entries,
            }))
            .into_response()
        }
        Err(tollgate_ledger::LedgerError::UnknownAccount(_)) => {
            (StatusCode::NOT_FOUND, format!("no account `{account}`\n")).into_response()
        }
        Err(e) => (
            StatusCode::SERVICE_UNAVAILABLE,
            format!("ledger unavailable: {e}\n"),
        )
            .into_response(),
    }
}

/// The admin router.
pub fn router(state: AdminState) -> Router {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/metrics", get(metrics))
        .route("/api/decisions", get(decisions))
        .route("/api/usage", get(usage))
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
