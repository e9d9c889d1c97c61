//! The category tree (parent, slug, position). Admins shape it; everybody
//! reads it.

use std::collections::HashMap;

use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use super::{slug, Actor};
use crate::{error::is_unique_violation, Error, FieldError, Result};

#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct Category {
    pub id: Uuid,
    pub parent_id: Option<Uuid>,
    pub name: String,
    pub slug: String,
    pub position: i32,
}

#[derive(Debug, Clone, Serialize)]
pub struct Node {
    #[serde(flatten)]
    pub category: Category,
    /// Products for sale in this category and all below it.
    pub product_count: i64,
    pub children: Vec<Node>,
}

impl Node {
    /// Adds each node's own count to those of its descendants.
    fn count(&mut self, own: &HashMap<Uuid, i64>) -> i64 {
        let below: i64 = self.children.iter_mut().map(|c| c.count(own)).sum();
        self.product_count = own.get(&self.category.id).copied().unwrap_or(0) + below;
        self.product_count
    }
}

fn admin_only(actor: Actor) -> Result<()> {
    if actor.is_admin() {
        Ok(())
    } else {
        Err(Error::Forbidden("only admins manage categories"))
    }
}

/// Every category as a forest, siblings ordered by position then name.
pub async fn tree(pool: &PgPool) -> Result<Vec<Node>> {
    let all: Vec<Category> = sqlx::query_as(
        "SELECT id, parent_id, name, slug, position FROM categories ORDER BY position, name",
    )
    .fetch_all(pool)
    .await?;
    let own: HashMap<Uuid, i64> = sqlx::query_as(
        "SELECT p.category_id, count(*) FROM products p JOIN stores s ON s.id = p.store_id
          WHERE p.deleted_at IS NULL AND p.active AND s.active AND s.deleted_at IS NULL
          GROUP BY p.category_id",
    )
    .fetch_all(pool)
    .await?
    .into_iter()
    .collect();
    let mut forest = build(all);
    for root in &mut forest {
        root.count(&own);
    }
    Ok(forest)
}

/// Pure: groups categories under their parents, keeping the given order.
pub fn build(all: Vec<Category>) -> Vec<Node> {
    let mut children: HashMap<Option<Uuid>, Vec<Category>> = HashMap::new();
    for c in all {
        children.entry(c.parent_id).or_default().push(c);
    }
    fn assemble(
        parent: Option<Uuid>,
        children: &mut HashMap<Option<Uuid>, Vec<Category>>,
    ) -> Vec<Node> {
        children
            .remove(&parent)
            .unwrap_or_default()
            .into_iter()
            .map(|c| {
                let id = c.id;
                Node {
                    category: c,
                    product_count: 0,
                    children: assemble(Some(id), children),
                }
            })
            .collect()
    }
    assemble(None, &mut children)
}

fn conflict(e: sqlx::Error) -> Error {
    if is_unique_violation(&e, "categories_slug_key") {
        Error::Conflict("a category with this slug exists".into())
    } else {
        e.into()
    }
}

async fn exists(pool: &PgPool, id: Uuid) -> Result<bool> {
    Ok(
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM categories WHERE id = $1)")
            .bind(id)
            .fetch_one(pool)
            .await?,
    )
}

pub struct NewCategory {
    pub name: String,
    pub slug: Option<String>,
    pub parent_id: Option<Uuid>,
    pub position: Option<i32>,
}

pub async fn create(pool: &PgPool, actor: Actor, new: NewCategory) -> Result<Category> {
    admin_only(actor)?;
    let mut errors = Vec::new();
    let (name, slug) = slug::name_and_slug(&new.name, new.slug.as_deref(), &mut errors);
    if let Some(parent) = new.parent_id {
        if !exists(pool, parent).await? {
            errors.push(FieldError::new("parent_id", "no such category"));
        }
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    sqlx::query_as(
        "INSERT INTO categories (id, parent_id, name, slug, position) VALUES ($1, $2, $3, $4, $5)
         RETURNING id, parent_id, name, slug, position",
    )
    .bind(Uuid::now_v7())
    .bind(new.parent_id)
    .bind(&name)
    .bind(&slug)
    .bind(new.position.unwrap_or(0))
    .fetch_one(pool)
    .await
    .map_err(conflict)
}

#[derive(Debug, Default)]
pub struct CategoryPatch {
    pub name: Option<String>,
    pub slug: Option<String>,
    /// `Some(None)` moves the category to the top level.
    pub parent_id: Option<Option<Uuid>>,
    pub position: Option<i32>,
}

pub async fn update(
    pool: &PgPool,
    actor: Actor,
    id: Uuid,
    patch: CategoryPatch,
) -> Result<Category> {
    admin_only(actor)?;
    if !exists(pool, id).await? {
        return Err(Error::NotFound);
    }
    let mut errors = Vec::new();
    let (name, slug) =
        slug::changed_name_and_slug(patch.name.as_deref(), patch.slug.as_deref(), &mut errors);
    if let Some(Some(parent)) = patch.parent_id {
        // The new parent may be neither the category nor one of its descendants.
        let cycle: bool = sqlx::query_scalar(
            "WITH RECURSIVE below AS (
                 SELECT id FROM categories WHERE id = $1
                 UNION ALL
                 SELECT c.id FROM categories c JOIN below b ON c.parent_id = b.id)
             SELECT EXISTS (SELECT 1 FROM below WHERE id = $2)",
        )
        .bind(id)
        .bind(parent)
        .fetch_one(pool)
        .await?;
        if cycle {
            errors.push(FieldError::new(
                "parent_id",
                "would put the category inside itself",
            ));
        } else if !exists(pool, parent).await? {
            errors.push(FieldError::new("parent_id", "no such category"));
        }
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    sqlx::query_as(
        "UPDATE categories SET name = COALESCE($2, name), slug = COALESCE($3, slug),
                parent_id = CASE WHEN $4 THEN $5 ELSE parent_id END,
                position = COALESCE($6, position), updated_at = now()
         WHERE id = $1 RETURNING id, parent_id, name, slug, position",
    )
    .bind(id)
    .bind(name)
    .bind(slug)
    .bind(patch.parent_id.is_some())
    .bind(patch.parent_id.flatten())
    .bind(patch.position)
    .fetch_one(pool)
    .await
    .map_err(conflict)
}

pub async fn delete(pool: &PgPool, actor: Actor, id: Uuid) -> Result<()> {
    admin_only(actor)?;
    let result = sqlx::query("DELETE FROM categories WHERE id = $1")
        .bind(id)
        .execute(pool)
        .await;
    match result {
        Ok(r) if r.rows_affected() == 0 => Err(Error::NotFound),
        Ok(_) => Ok(()),
        // A subcategory or a product still points here.
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("23503") => {
            Err(Error::Conflict(
                "the category is still in use (it has subcategories or products); move them first"
                    .into(),
            ))
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cat(id: u128, parent: Option<u128>, name: &str) -> Category {
        Category {
            id: Uuid::from_u128(id),
            parent_id: parent.map(Uuid::from_u128),
            name: name.into(),
            slug: name.to_lowercase(),
            position: 0,
        }
    }

    #[test]
    fn categories_are_grouped_under_their_parents_in_order() {
        let forest = build(vec![
            cat(1, None, "Clothes"),
            cat(2, Some(1), "Shirts"),
            cat(3, Some(2), "Tees"),
            cat(4, None, "Home"),
        ]);
        assert_eq!(forest.len(), 2);
        assert_eq!(forest[0].category.name, "Clothes");
        assert_eq!(forest[0].children[0].children[0].category.name, "Tees");
        assert!(forest[1].children.is_empty());
    }

    #[test]
    fn product_counts_include_every_descendant() {
        let mut forest = build(vec![
            cat(1, None, "Clothes"),
            cat(2, Some(1), "Shirts"),
            cat(3, Some(2), "Tees"),
            cat(4, Some(1), "Jeans"),
        ]);
        let own = HashMap::from([
            (Uuid::from_u128(1), 1),
            (Uuid::from_u128(3), 5),
            (Uuid::from_u128(4), 2),
        ]);
        assert_eq!(forest[0].count(&own), 8);
        assert_eq!(forest[0].children[0].product_count, 5);
        assert_eq!(forest[0].children[1].product_count, 2);
    }
}
