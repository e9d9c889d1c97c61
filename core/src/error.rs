//! The domain error. Every service returns it; `api` maps each variant to one
//! HTTP status and problem type, so the policy lives in two places only: here
//! (what went wrong) and `api::error` (how it is shown).

use serde::Serialize;

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// A line of a cart or checkout that the stock cannot serve.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ShortLine {
    pub variant_id: uuid::Uuid,
    pub sku: String,
    pub requested: i32,
    pub available: i32,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    Conflict(String),
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("{0}")]
    BadRequest(&'static str),
    #[error("{0}")]
    Unauthorized(&'static str),
    #[error("{0}")]
    Forbidden(&'static str),
    #[error("not enough stock")]
    OutOfStock(Vec<ShortLine>),
    /// A provider we depend on failed; the client may retry.
    #[error("{0}")]
    Upstream(String),
    #[error("too many requests")]
    RateLimited { retry_after_secs: u64 },
    /// This process cannot take more work now: 503 with Retry-After.
    #[error("{0}")]
    Overloaded(&'static str),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            // Text PostgreSQL cannot store (a NUL character, say): the
            // client's input, not our fault.
            sqlx::Error::Database(db)
                if matches!(db.code().as_deref(), Some("22021" | "22P05")) =>
            {
                Error::BadRequest("text must not contain NUL characters")
            }
            // Every connection busy past the pool's wait: the database is
            // overloaded, not broken. 503 with Retry-After, not a 500.
            sqlx::Error::PoolTimedOut => {
                Error::Overloaded("the database is busy; try again shortly")
            }
            _ => Error::Internal(e.into()),
        }
    }
}

impl Error {
    pub fn invalid(field: &str, message: &str) -> Self {
        Error::Validation(vec![FieldError::new(field, message)])
    }
}

/// True when `e` is a unique violation of the named constraint or index.
pub fn is_unique_violation(e: &sqlx::Error, constraint: &str) -> bool {
    match e {
        sqlx::Error::Database(db) => {
            db.code().as_deref() == Some("23505") && db.constraint() == Some(constraint)
        }
        _ => false,
    }
}
