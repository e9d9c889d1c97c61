//! `/api/v1/admin/messages`: every customer notice and bot reply on every
//! channel, with what the provider said of it.

use axum::extract::{Query, State};
use bazaar_core::{
    messaging::{
        messages::{self, Filter, MessageView},
        Channel, MessageStatus,
    },
    FieldError,
};
use serde::Deserialize;
use utoipa::IntoParams;
use utoipa_axum::{router::OpenApiRouter, routes};

use crate::{
    error::{ApiError, ApiResult, Problem},
    extract::{AdminUser, Json, Pagination},
    page::Page,
    AppState,
};

pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MessageQuery {
    #[param(pattern = "^(email|telegram|whatsapp)$")]
    channel: Option<String>,
    #[param(pattern = "^(queued|sent|delivered|read|failed|skipped)$")]
    status: Option<String>,
    /// The customer's user id or e-mail.
    customer: Option<String>,
    /// An order number (`BZ-000123`).
    order: Option<String>,
}

/// Messages to customers, newest first: channel, status (and why it failed
/// or was skipped), customer, order.
#[utoipa::path(get, path = "/api/v1/admin/messages", tag = "admin", security(("bearer" = [])),
    params(MessageQuery, Pagination),
    responses((status = 200, body = Page<MessageView>),
        (status = 401, body = Problem, content_type = "application/problem+json"),
        (status = 403, body = Problem, content_type = "application/problem+json"),
        (status = 422, body = Problem, content_type = "application/problem+json")))]
async fn list(
    State(state): State<AppState>,
    _admin: AdminUser,
    page: Pagination,
    query: Result<Query<MessageQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Page<MessageView>>> {
    let Query(q) =
        query.map_err(|e| ApiError::validation(vec![FieldError::new("query", e.body_text())]))?;
    let mut errors = Vec::new();
    let channel = match q.channel.as_deref().map(Channel::parse) {
        Some(None) => {
            errors.push(FieldError::new(
                "channel",
                "must be email, telegram or whatsapp",
            ));
            None
        }
        other => other.flatten(),
    };
    let status = match q.status.as_deref().map(MessageStatus::parse) {
        Some(None) => {
            errors.push(FieldError::new(
                "status",
                "must be queued, sent, delivered, read, failed or skipped",
            ));
            None
        }
        other => other.flatten(),
    };
    if !errors.is_empty() {
        return Err(ApiError::validation(errors));
    }
    let filter = Filter {
        channel,
        status,
        customer: q.customer,
        order: q.order,
    };
    let (items, total) =
        messages::list(&state.pool, &filter, page.per_page(), page.offset()).await?;
    Ok(Json(Page::new(items, page, total)))
}
