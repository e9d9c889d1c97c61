//! The order desk: the filtered list (and its CSV), one order with its
//! timeline, its notifications and the moves the state machine allows.

use askama::Template;
use axum::{
    extract::{Path, Query, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use bazaar_core::{
    backoffice::Scope,
    commerce::{
        orders::{self, AdminFilter, Order},
        status::{self, Mover, OrderSource, OrderStatus},
        workflow::{self, StatusChange},
    },
    messaging::messages::{self, MessageView},
    users::Role,
};
use chrono::{DateTime, Days, NaiveDate, Utc};
use serde::{Deserialize, Serialize};

use super::{
    render::{self, choices, Choice, Chrome},
    session::{ConsoleUser, CsrfForm},
};
use crate::{routes::orders::BackOfficeQuery, AppState};

const PER_PAGE: i64 = 25;

/// The filter form as the browser sends it: every field may be empty.
#[derive(Debug, Default, Clone, Deserialize, Serialize)]
pub struct OrderQuery {
    #[serde(default)]
    status: String,
    #[serde(default)]
    source: String,
    /// A day, `YYYY-MM-DD`, inclusive.
    #[serde(default)]
    from: String,
    /// A day, `YYYY-MM-DD`, inclusive.
    #[serde(default)]
    to: String,
    #[serde(default)]
    customer: String,
    #[serde(default)]
    number: String,
    #[serde(default, skip_serializing)]
    page: Option<i64>,
}

fn day_start(day: NaiveDate) -> Option<DateTime<Utc>> {
    day.and_hms_opt(0, 0, 0).map(|t| t.and_utc())
}

impl OrderQuery {
    /// The filter, or what could not be understood: the days here, the
    /// rest by the API's own parsing of the same filters.
    fn filter(&self) -> Result<AdminFilter, String> {
        let mut problems = Vec::new();
        let mut day = |s: &str, name: &str| -> Option<NaiveDate> {
            let s = s.trim();
            if s.is_empty() {
                return None;
            }
            NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map_err(|_| problems.push(format!("{name} must be a date (YYYY-MM-DD)")))
                .ok()
        };
        let from = day(&self.from, "from").and_then(day_start);
        let to = day(&self.to, "to")
            .and_then(|d| d.checked_add_days(Days::new(1)))
            .and_then(day_start);
        if !problems.is_empty() {
            return Err(problems.join("; "));
        }
        BackOfficeQuery {
            status: Some(self.status.clone()),
            source: Some(self.source.clone()),
            from,
            to,
            customer: Some(self.customer.clone()),
            number: Some(self.number.clone()),
        }
        .filter()
        .map_err(|e| e.explanation())
    }

    fn page(&self) -> i64 {
        self.page.unwrap_or(1).clamp(1, 100_000)
    }

    /// The query string of these filters (without the page).
    fn encoded(&self) -> String {
        serde_urlencoded::to_string(self).unwrap_or_default()
    }
}

#[derive(Template)]
#[template(path = "console/orders.html")]
struct OrdersPage {
    chrome: Chrome,
    q: OrderQuery,
    statuses: Vec<Choice>,
    sources: Vec<Choice>,
    problems: Vec<String>,
    orders: Vec<Order>,
    total: i64,
    page: i64,
    pages: i64,
    query: String,
}

pub async fn list(
    State(state): State<AppState>,
    user: ConsoleUser,
    Query(q): Query<OrderQuery>,
) -> Response {
    let page = q.page();
    let (filter, problems) = match q.filter() {
        Ok(f) => (f, Vec::new()),
        Err(problem) => (AdminFilter::default(), vec![problem]),
    };
    let (orders, total) = if problems.is_empty() {
        match crate::routes::orders::back_office_list(
            &state,
            user.actor(),
            filter,
            PER_PAGE,
            (page - 1) * PER_PAGE,
        )
        .await
        {
            Ok(r) => r,
            Err(e) => return render::api_error(e),
        }
    } else {
        (Vec::new(), 0)
    };
    let statuses: Vec<&'static str> = OrderStatus::ALL.iter().map(|s| s.as_str()).collect();
    let sources: Vec<&'static str> = OrderSource::ALL.iter().map(|s| s.as_str()).collect();
    let page_view = OrdersPage {
        chrome: Chrome::of(&user, "orders"),
        statuses: choices(&statuses, q.status.trim()),
        sources: choices(&sources, q.source.trim()),
        query: q.encoded(),
        q,
        problems,
        orders,
        total,
        page,
        pages: (total + PER_PAGE - 1) / PER_PAGE,
    };
    let code = if page_view.problems.is_empty() {
        StatusCode::OK
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    render::html(code, &page_view)
}

/// The filtered list as CSV, like the API's export.
pub async fn export(
    State(state): State<AppState>,
    user: ConsoleUser,
    Query(q): Query<OrderQuery>,
) -> Response {
    let filter = match q.filter() {
        Ok(f) => f,
        Err(problem) => return render::page_error(StatusCode::UNPROCESSABLE_ENTITY, &problem),
    };
    match Scope::of(&state.pool, user.actor()).await {
        Ok(scope) => crate::routes::orders::csv_response(&state, scope, filter),
        Err(e) => render::core_error(e),
    }
}

/// A move the state machine allows from here, for this user.
struct Action {
    to: &'static str,
    /// Shipping asks for the courier and tracking number.
    ship: bool,
}

#[derive(Template)]
#[template(path = "console/order.html")]
struct OrderPage {
    chrome: Chrome,
    order: Order,
    actions: Vec<Action>,
    notifications: Vec<MessageView>,
    flash: Option<String>,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct DetailQuery {
    #[serde(default)]
    moved: Option<String>,
}

async fn detail_page(
    state: &AppState,
    user: &ConsoleUser,
    number: &str,
    flash: Option<String>,
    error: Option<(StatusCode, String)>,
) -> Response {
    let filter = AdminFilter {
        number: Some(number.to_owned()),
        ..Default::default()
    };
    let scope = match Scope::of(&state.pool, user.actor()).await {
        Ok(s) => s,
        Err(e) => return render::core_error(e),
    };
    let order = match orders::back_office_page(&state.pool, scope.stores(), &filter, 1, 0).await {
        Ok(mut found) if !found.is_empty() => found.remove(0),
        Ok(_) => return render::page_error(StatusCode::NOT_FOUND, "No such order."),
        Err(e) => return render::core_error(e),
    };
    let mover = if user.role == Role::Admin {
        Mover::Admin
    } else {
        Mover::Vendor
    };
    let actions = OrderStatus::ALL
        .iter()
        .filter(|to| status::check(order.status, **to, order.payment.method, mover).is_ok())
        .map(|to| Action {
            to: to.as_str(),
            ship: *to == OrderStatus::Shipped,
        })
        .collect();
    let notifications = match messages::list(
        &state.pool,
        &messages::Filter {
            order: Some(order.number.clone()),
            ..Default::default()
        },
        50,
        0,
    )
    .await
    {
        Ok((items, _)) => items,
        Err(e) => return render::core_error(e),
    };
    let (code, error) = match error {
        Some((code, text)) => (code, Some(text)),
        None => (StatusCode::OK, None),
    };
    let page = OrderPage {
        chrome: Chrome::of(user, "orders"),
        order,
        actions,
        notifications,
        flash,
        error,
    };
    render::html(code, &page)
}

pub async fn detail(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(number): Path<String>,
    Query(q): Query<DetailQuery>,
) -> Response {
    let flash = q
        .moved
        .as_deref()
        .and_then(OrderStatus::parse)
        .map(|s| format!("The order is now {s}. Its notifications are listed below."));
    detail_page(&state, &user, &number, flash, None).await
}

#[derive(Deserialize)]
pub struct MoveForm {
    status: String,
    #[serde(default)]
    tracking_number: String,
    #[serde(default)]
    courier: String,
    #[serde(default)]
    note: String,
}

pub async fn change_status(
    State(state): State<AppState>,
    Path(number): Path<String>,
    CsrfForm { user, form }: CsrfForm<MoveForm>,
) -> Response {
    let Some(to) = OrderStatus::parse(form.status.trim()) else {
        return render::page_error(StatusCode::UNPROCESSABLE_ENTITY, "Unknown status.");
    };
    let text = |s: String| Some(s.trim().to_owned()).filter(|s| !s.is_empty());
    let change = StatusChange {
        status: to,
        tracking_number: text(form.tracking_number),
        courier: text(form.courier),
        note: text(form.note),
    };
    match workflow::change_by_staff(&state.pool, &state.shop, user.actor(), &number, change).await {
        Ok((order, moved)) => {
            state.cache.availability_changed(&moved.availability).await;
            Redirect::to(&format!(
                "/admin/orders/{}?moved={}",
                urlencode(&order.number),
                to
            ))
            .into_response()
        }
        Err(e) => {
            let api = crate::error::ApiError::from(e);
            let code = api.status();
            if code.is_server_error() {
                return render::api_error(api);
            }
            let message = api.explanation();
            detail_page(&state, &user, &number, None, Some((code, message))).await
        }
    }
}

fn urlencode(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}
