//! tollgate-policy
