use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// What travels through Redis: only the outbox row's id (plus its kind, for
/// logs). The payload stays in PostgreSQL, the source of truth.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobEnvelope {
    pub id: Uuid,
    pub kind: String,
}
