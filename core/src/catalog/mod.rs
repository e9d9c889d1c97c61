//! The catalogue: stores, the category tree (products and variants follow).

pub mod categories;
pub mod slug;
pub mod stores;

use uuid::Uuid;

use crate::users::Role;

/// Who is acting: the authenticated user, as the API extracted it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Actor {
    pub id: Uuid,
    pub role: Role,
}

impl Actor {
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }
}
