use serde::Serialize;
use utoipa::ToSchema;

use crate::extract::Pagination;

/// A page of a list: `{ items, page, per_page, total }`.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub page: i64,
    pub per_page: i64,
    pub total: i64,
}

impl<T> Page<T> {
    pub fn new(items: Vec<T>, page: Pagination, total: i64) -> Self {
        Self {
            items,
            page: page.page(),
            per_page: page.per_page(),
            total,
        }
    }
}
