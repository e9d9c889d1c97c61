//! Product images: bytes in the object store (`storage`), a row per image.
//! The type is decided by the file's own signature, never by what the client
//! claims, so nothing but images is ever served back from our origin.

use bytes::Bytes;
use sqlx::PgPool;
use uuid::Uuid;

use super::{products, products::Image, Actor};
use crate::shop::Shop;
use crate::{storage::Storage, Error, Result};

pub const MAX_PER_PRODUCT: i64 = 20;

/// The image type of `bytes` by its magic number: (content type, extension).
pub fn sniff(bytes: &[u8]) -> Option<(&'static str, &'static str)> {
    match bytes {
        [0x89, b'P', b'N', b'G', 0x0D, 0x0A, 0x1A, 0x0A, ..] => Some(("image/png", "png")),
        [0xFF, 0xD8, 0xFF, ..] => Some(("image/jpeg", "jpg")),
        [b'G', b'I', b'F', b'8', b'7' | b'9', b'a', ..] => Some(("image/gif", "gif")),
        [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => {
            Some(("image/webp", "webp"))
        }
        _ => None,
    }
}

/// Stores an already-sniffed image and records it after the product's
/// current images. The object is written first: a crash in between leaves an
/// unreferenced object, never a row without bytes.
/// An upload whose type `sniff` recognised.
pub struct NewImage {
    pub bytes: Bytes,
    pub content_type: &'static str,
    pub extension: &'static str,
}

pub async fn add(
    pool: &PgPool,
    storage: &Storage,
    shop: &Shop,
    actor: Actor,
    product_id: Uuid,
    new: NewImage,
) -> Result<Image> {
    let NewImage {
        bytes,
        content_type,
        extension,
    } = new;
    products::managed(&mut *pool.acquire().await?, actor, product_id).await?;
    let count: i64 =
        sqlx::query_scalar("SELECT count(*) FROM product_images WHERE product_id = $1")
            .bind(product_id)
            .fetch_one(pool)
            .await?;
    if count >= MAX_PER_PRODUCT {
        return Err(Error::Conflict(format!(
            "a product has at most {MAX_PER_PRODUCT} images; delete one first"
        )));
    }
    let id = Uuid::now_v7();
    let key = format!("products/{product_id}/{id}.{extension}");
    let size = bytes.len() as i32;
    storage.put(&key, bytes).await.map_err(Error::Internal)?;
    sqlx::query(
        "INSERT INTO product_images (id, product_id, storage_key, content_type, size_bytes, position)
         VALUES ($1, $2, $3, $4, $5,
                 (SELECT COALESCE(max(position) + 1, 0) FROM product_images WHERE product_id = $2))",
    )
    .bind(id)
    .bind(product_id)
    .bind(&key)
    .bind(content_type)
    .bind(size)
    .execute(pool)
    .await?;
    Ok(Image {
        id,
        url: shop.media_url(&key),
        content_type: content_type.to_owned(),
    })
}

pub async fn delete(
    pool: &PgPool,
    storage: &Storage,
    actor: Actor,
    product_id: Uuid,
    image_id: Uuid,
) -> Result<()> {
    products::managed(&mut *pool.acquire().await?, actor, product_id).await?;
    let key: String = sqlx::query_scalar(
        "DELETE FROM product_images WHERE id = $1 AND product_id = $2 RETURNING storage_key",
    )
    .bind(image_id)
    .bind(product_id)
    .fetch_optional(pool)
    .await?
    .ok_or(Error::NotFound)?;
    // The row is gone, so nothing links to the object any more; a failure
    // here only leaves garbage behind.
    if let Err(e) = storage.delete(&key).await {
        tracing::warn!(key, error = %e, "could not delete an image object");
    }
    Ok(())
}

/// The content type of a stored image, `None` for unknown keys.
pub async fn content_type(pool: &PgPool, key: &str) -> Result<Option<String>> {
    Ok(
        sqlx::query_scalar("SELECT content_type FROM product_images WHERE storage_key = $1")
            .bind(key)
            .fetch_optional(pool)
            .await?,
    )
}

/// The first image of a product: (storage key, content type).
pub async fn first(pool: &PgPool, product_id: Uuid) -> Result<Option<(String, String)>> {
    Ok(sqlx::query_as(
        "SELECT storage_key, content_type FROM product_images
          WHERE product_id = $1 ORDER BY position, created_at LIMIT 1",
    )
    .bind(product_id)
    .fetch_optional(pool)
    .await?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn images_are_recognised_by_their_signature() {
        assert_eq!(
            sniff(b"\x89PNG\r\n\x1a\n rest").map(|t| t.0),
            Some("image/png")
        );
        assert_eq!(sniff(b"\xff\xd8\xff\xe0").map(|t| t.0), Some("image/jpeg"));
        assert_eq!(sniff(b"RIFF1234WEBPVP8 ").map(|t| t.0), Some("image/webp"));
        assert_eq!(sniff(b"GIF89a").map(|t| t.0), Some("image/gif"));
        assert_eq!(sniff(b"<svg xmlns="), None);
        assert_eq!(sniff(b"%PDF-1.7"), None);
    }
}
