//! Kaspi's two-step completion, asked by an admin: first Kaspi sends the
//! buyer a code in its app, then the admin types in the code the buyer
//! reads out, and Kaspi completes the order (ours becomes delivered). A
//! wrong code changes nothing, here or on Kaspi.

use serde::{Deserialize, Serialize};
use sqlx::PgPool;
use utoipa::ToSchema;

use super::{
    import::{self, Stage},
    KaspiCompletion,
};
use crate::{
    commerce::{
        orders::{self, Order},
        status::{OrderSource, OrderStatus},
    },
    provider::ProviderError,
    shop::Shop,
    Error, FieldError, Result,
};

#[derive(Debug, Default, Clone, Deserialize, ToSchema)]
#[serde(default, deny_unknown_fields)]
pub struct CompletionRequest {
    #[schema(schema_with = crate::validate::schema::kaspi_code_or_null)]
    pub code: Option<String>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum Completion {
    /// Kaspi sent the buyer a code; ask again with it.
    CodeSent { number: String },
    /// Kaspi completed the order.
    Completed { order: Box<Order> },
}

fn upstream(e: ProviderError) -> Error {
    Error::Upstream(format!("Kaspi: {e}"))
}

pub async fn complete(
    pool: &PgPool,
    shop: &Shop,
    kaspi: Option<&dyn KaspiCompletion>,
    number: &str,
    req: CompletionRequest,
) -> Result<Completion> {
    let code = match req.code.as_deref().map(str::trim) {
        None => None,
        Some(c) if (1..=10).contains(&c.len()) && c.bytes().all(|b| b.is_ascii_digit()) => {
            Some(c.to_owned())
        }
        Some(_) => {
            return Err(Error::Validation(vec![FieldError::new(
                "code",
                "must be the digits Kaspi sent the buyer",
            )]))
        }
    };
    let row = {
        let mut conn = pool.acquire().await?;
        orders::find_by_number(&mut conn, number, false)
            .await?
            .ok_or(Error::NotFound)?
    };
    if row.source != OrderSource::Kaspi {
        return Err(Error::Conflict(format!(
            "order {} is not a Kaspi order",
            row.number
        )));
    }
    if !matches!(row.status, OrderStatus::Confirmed | OrderStatus::Shipped) {
        return Err(Error::Conflict(format!(
            "order {} is {}; Kaspi completes accepted orders only",
            row.number, row.status
        )));
    }
    let kaspi = kaspi.ok_or_else(|| {
        Error::Conflict("Kaspi is disabled: set KASPI_TOKEN and KASPI_MERCHANT_ID".into())
    })?;
    let ext = import::external(pool, row.id)
        .await?
        .ok_or(Error::NotFound)?;
    let (Some(id), Some(kaspi_code)) = (ext.external_id, ext.external_code) else {
        return Err(Error::Conflict(format!(
            "order {} has no Kaspi id",
            row.number
        )));
    };
    let Some(code) = code else {
        kaspi
            .send_code(&id, &kaspi_code)
            .await
            .map_err(|e| match e {
                ProviderError::Rejected { body, .. } => {
                    Error::Conflict(format!("Kaspi refused: {body}"))
                }
                e => upstream(e),
            })?;
        tracing::info!(order = %row.number, "Kaspi sent the buyer a completion code");
        return Ok(Completion::CodeSent { number: row.number });
    };
    let status = match kaspi.complete(&id, &kaspi_code, &code).await {
        Ok(status) => status,
        Err(e) if kaspi.is_wrong_code(&e) => {
            return Err(Error::Validation(vec![FieldError::new(
                "code",
                "is not the code Kaspi sent the buyer",
            )]))
        }
        Err(ProviderError::Rejected { body, .. }) => {
            return Err(Error::Conflict(format!("Kaspi refused: {body}")))
        }
        Err(e) => return Err(upstream(e)),
    };
    import::acknowledge(pool, shop, row.id, &status, Stage::Completed).await?;
    let mut conn = pool.acquire().await?;
    let row = orders::find_by_id(&mut conn, row.id, false)
        .await?
        .ok_or(Error::NotFound)?;
    Ok(Completion::Completed {
        order: Box::new(orders::one(&mut conn, row, None).await?),
    })
}
