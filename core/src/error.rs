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
    Internal(anyhow::Error),
}

/// An unexpected failure is `Internal` (a 500), unless a database error in
/// its chain says the database is away for a moment: then it is a 503.
impl From<anyhow::Error> for Error {
    fn from(e: anyhow::Error) -> Self {
        if database_unavailable_within(&e) {
            Error::Overloaded(DATABASE_UNAVAILABLE)
        } else {
            Error::Internal(e)
        }
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            // Text PostgreSQL cannot store (a NUL character, say): the
            // client's input, not our fault.
            sqlx::Error::Database(db)
                if matches!(db.code().as_deref(), Some("22021" | "22P05")) =>
            {
                Error::BadRequest(NUL_IN_TEXT)
            }
            // Every connection busy past the pool's wait: the database is
            // overloaded, not broken. 503 with Retry-After, not a 500.
            sqlx::Error::PoolTimedOut => {
                Error::Overloaded("the database is busy; try again shortly")
            }
            _ if database_unavailable(&e) => Error::Overloaded(DATABASE_UNAVAILABLE),
            _ => Error::Internal(e.into()),
        }
    }
}

/// Text PostgreSQL cannot store; refused wherever it is found first.
pub const NUL_IN_TEXT: &str = "text must not contain NUL characters";

pub const DATABASE_UNAVAILABLE: &str = "the database is unavailable; try again shortly";

/// True when `e` says the database cannot be reached right now (restarting,
/// failing over, refusing connections) rather than that the query is wrong:
/// the request may succeed when retried, so it is a 503, not a 500.
pub fn database_unavailable(e: &sqlx::Error) -> bool {
    match e {
        sqlx::Error::Io(_) | sqlx::Error::Tls(_) | sqlx::Error::PoolClosed => true,
        // SQLSTATE class 08 (connection exception) but 08P01 (a protocol
        // violation: our bug), 57P01-03 (shut down by the administrator,
        // crashed, starting up), 57P05 (idle session timeout) and 53300 (too
        // many connections).
        sqlx::Error::Database(db) => db.code().is_some_and(|code| {
            (code.starts_with("08") && code != "08P01")
                || matches!(&*code, "57P01" | "57P02" | "57P03" | "57P05" | "53300")
        }),
        _ => false,
    }
}

/// [`database_unavailable`] for an error anywhere in `e`'s chain of causes.
pub fn database_unavailable_within(e: &anyhow::Error) -> bool {
    e.chain()
        .filter_map(|c| c.downcast_ref::<sqlx::Error>())
        .any(database_unavailable)
}

impl Error {
    /// A copy, for an error shared by several waiters (a single-flight
    /// load); `None` for `Internal`, whose cause cannot be copied.
    pub fn try_clone(&self) -> Option<Error> {
        Some(match self {
            Error::NotFound => Error::NotFound,
            Error::Conflict(d) => Error::Conflict(d.clone()),
            Error::Validation(errors) => Error::Validation(errors.clone()),
            Error::BadRequest(d) => Error::BadRequest(d),
            Error::Unauthorized(d) => Error::Unauthorized(d),
            Error::Forbidden(d) => Error::Forbidden(d),
            Error::OutOfStock(lines) => Error::OutOfStock(lines.clone()),
            Error::Upstream(d) => Error::Upstream(d.clone()),
            Error::RateLimited { retry_after_secs } => Error::RateLimited {
                retry_after_secs: *retry_after_secs,
            },
            Error::Overloaded(d) => Error::Overloaded(d),
            Error::Internal(_) => return None,
        })
    }

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

#[cfg(test)]
mod tests {
    use super::*;

    fn refused() -> sqlx::Error {
        sqlx::Error::Io(std::io::Error::from(std::io::ErrorKind::ConnectionRefused))
    }

    #[test]
    fn a_database_that_cannot_be_reached_is_a_503_not_a_500() {
        assert!(matches!(Error::from(refused()), Error::Overloaded(_)));
        assert!(matches!(
            Error::from(sqlx::Error::PoolClosed),
            Error::Overloaded(_)
        ));
        assert!(matches!(
            Error::from(sqlx::Error::RowNotFound),
            Error::Internal(_)
        ));
    }

    #[test]
    fn the_cause_is_found_behind_contexts() {
        let wrapped = anyhow::Error::from(refused()).context("loading the cart");
        assert!(database_unavailable_within(&wrapped));
        assert!(matches!(Error::from(wrapped), Error::Overloaded(_)));
        let other = anyhow::Error::from(sqlx::Error::RowNotFound).context("loading the cart");
        assert!(!database_unavailable_within(&other));
    }
}
