//! The dashboard page: the API's figures, with charts.

use std::sync::Arc;

use askama::Template;
use axum::{extract::State, http::StatusCode, response::Response};
use bazaar_core::backoffice::{dashboard::Dashboard, Scope};

use super::{
    chart::{self, Bar},
    render::{self, Chrome},
    session::ConsoleUser,
};
use crate::AppState;

#[derive(Template)]
#[template(path = "console/dashboard.html")]
struct DashboardPage {
    chrome: Chrome,
    d: Arc<Dashboard>,
    revenue_chart: String,
    status_chart: String,
}

pub async fn page(State(state): State<AppState>, user: ConsoleUser) -> Response {
    let scope = match Scope::of(&state.pool, user.actor()).await {
        Ok(s) => s,
        Err(e) => return render::core_error(e),
    };
    let d = match crate::routes::dashboard::load(&state, scope).await {
        Ok(d) => d,
        Err(e) => return render::api_error(e),
    };
    let days: Vec<Bar> = d
        .revenue_by_day
        .iter()
        .map(|day| Bar {
            label: day.day.format("%d.%m").to_string(),
            value: day.revenue.amount / 100,
            title: format!(
                "{}: {} orders, {}",
                day.day,
                day.orders,
                day.revenue.display()
            ),
        })
        .collect();
    let statuses: Vec<Bar> = d
        .orders_by_status
        .iter()
        .map(|s| Bar {
            label: s.status.to_string(),
            value: s.orders,
            title: format!("{}: {}", s.status, s.orders),
        })
        .collect();
    let page = DashboardPage {
        chrome: Chrome::of(&user, "dashboard"),
        revenue_chart: chart::columns(
            "revenue-chart",
            &format!(
                "Revenue per day, last 30 days ({})",
                d.revenue_today.currency
            ),
            &days,
            5,
        ),
        status_chart: chart::rows("status-chart", "Orders per status, last 30 days", &statuses),
        d,
    };
    render::html(StatusCode::OK, &page)
}
