//! tollgate-agents
