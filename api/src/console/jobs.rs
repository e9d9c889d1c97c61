//! The machinery, for admins: job queues (retry and discard), messages to
//! customers, and the integrations. Each page shows what the matching admin
//! API answers.

use askama::Template;
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use bazaar_core::{
    jobs::Queue,
    messaging::{
        messages::{self, MessageView},
        Channel, MessageStatus,
    },
    outbox,
};
use serde::Deserialize;
use uuid::Uuid;

use super::{
    render::{self, choices, Choice, Chrome},
    session::{ConsoleUser, CsrfForm, TokenOnlyForm},
};
use crate::{
    routes::{admin::JobsView, integrations::IntegrationsView},
    AppState,
};

#[derive(Template)]
#[template(path = "console/jobs.html")]
struct JobsPage {
    chrome: Chrome,
    jobs: JobsView,
    flash: Option<String>,
}

#[derive(Deserialize)]
pub struct JobsQuery {
    #[serde(default)]
    done: Option<String>,
}

pub async fn page(
    State(state): State<AppState>,
    user: ConsoleUser,
    Query(q): Query<JobsQuery>,
) -> Response {
    if let Some(r) = user.refuse_unless_admin() {
        return r;
    }
    let flash = match q.done.as_deref() {
        Some("retry") => Some("The job is back in line.".to_owned()),
        Some("discard") => {
            Some("The job was discarded; it is kept, marked, and will not run.".to_owned())
        }
        _ => None,
    };
    match crate::routes::admin::jobs_view(&state).await {
        Ok(jobs) => render::html(
            StatusCode::OK,
            &JobsPage {
                chrome: Chrome::of(&user, "jobs"),
                jobs,
                flash,
            },
        ),
        Err(e) => render::api_error(e),
    }
}

/// Retry or discard a failed job.
pub async fn act(
    State(state): State<AppState>,
    Path((queue, id, action)): Path<(String, String, String)>,
    CsrfForm { user, .. }: CsrfForm<TokenOnlyForm>,
) -> Response {
    if let Some(r) = user.refuse_unless_admin() {
        return r;
    }
    let gone = || {
        render::page_error(
            StatusCode::NOT_FOUND,
            "No failed job with that id in that queue.",
        )
    };
    let (Some(queue), Ok(id)) = (Queue::parse(&queue), id.parse::<Uuid>()) else {
        return gone();
    };
    let done = match action.as_str() {
        "retry" => outbox::retry_failed(&state.pool, queue, id).await,
        "discard" => outbox::discard_failed(&state.pool, queue, id, user.id).await,
        _ => return render::page_error(StatusCode::NOT_FOUND, "No such action."),
    };
    match done {
        Ok(true) => Redirect::to(&format!("/admin/jobs?done={action}")).into_response(),
        Ok(false) => gone(),
        Err(e) => render::core_error(e.into()),
    }
}

#[derive(Deserialize)]
pub struct MessagesQuery {
    #[serde(default)]
    channel: String,
    #[serde(default)]
    status: String,
    #[serde(default)]
    order: String,
}

#[derive(Template)]
#[template(path = "console/messages.html")]
struct MessagesPage {
    chrome: Chrome,
    channels: Vec<Choice>,
    statuses: Vec<Choice>,
    order: String,
    messages: Vec<MessageView>,
    total: i64,
}

pub async fn messages(
    State(state): State<AppState>,
    user: ConsoleUser,
    Query(q): Query<MessagesQuery>,
) -> Response {
    if let Some(r) = user.refuse_unless_admin() {
        return r;
    }
    let channel = Channel::parse(q.channel.trim());
    let status = MessageStatus::parse(q.status.trim());
    let order = Some(q.order.trim().to_owned()).filter(|o| !o.is_empty());
    let filter = messages::Filter {
        channel,
        status,
        customer: None,
        order: order.clone(),
    };
    let (items, total) = match messages::list(&state.pool, &filter, 100, 0).await {
        Ok(r) => r,
        Err(e) => return render::core_error(e),
    };
    let page = MessagesPage {
        chrome: Chrome::of(&user, "messages"),
        channels: choices(
            &Channel::ALL.iter().map(|c| c.as_str()).collect::<Vec<_>>(),
            channel.map_or("", Channel::as_str),
        ),
        statuses: choices(
            &MessageStatus::ALL
                .iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>(),
            status.map_or("", MessageStatus::as_str),
        ),
        order: order.unwrap_or_default(),
        messages: items,
        total,
    };
    render::html(StatusCode::OK, &page)
}

#[derive(Template)]
#[template(path = "console/integrations.html")]
struct IntegrationsPage {
    chrome: Chrome,
    view: IntegrationsView,
}

pub async fn integrations(State(state): State<AppState>, user: ConsoleUser) -> Response {
    if let Some(r) = user.refuse_unless_admin() {
        return r;
    }
    match crate::routes::integrations::view(&state).await {
        Ok(view) => render::html(
            StatusCode::OK,
            &IntegrationsPage {
                chrome: Chrome::of(&user, "integrations"),
                view,
            },
        ),
        Err(e) => render::api_error(e),
    }
}
