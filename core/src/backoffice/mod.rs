//! What the shop's staff look at: the dashboard's figures, the order
//! desk's export, and the console's sign-in sessions. Admins see the whole
//! shop; a vendor sees the lines of their own stores and nothing else.

pub mod catalogue;
pub mod dashboard;
pub mod export;

use uuid::Uuid;

/// Whose data a back-office view may show.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Scope {
    Shop,
    /// A vendor's stores (possibly none).
    Stores(Vec<Uuid>),
}

impl Scope {
    /// The scope of `actor`; customers have none.
    pub async fn of(pool: &sqlx::PgPool, actor: crate::catalog::Actor) -> crate::Result<Self> {
        use crate::users::Role;
        match actor.role {
            Role::Admin => Ok(Scope::Shop),
            Role::Vendor => {
                let mut conn = pool.acquire().await?;
                Ok(Scope::Stores(
                    crate::commerce::orders::vendor_stores(&mut conn, actor.id).await?,
                ))
            }
            Role::Customer => Err(crate::Error::Forbidden("admins and vendors only")),
        }
    }

    pub fn stores(&self) -> Option<&[Uuid]> {
        match self {
            Scope::Shop => None,
            Scope::Stores(s) => Some(s),
        }
    }
}
