//! tollgate-logs
