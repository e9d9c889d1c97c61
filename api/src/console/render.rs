//! Turning templates into responses, and errors into pages. Templates are
//! askama's: compiled with the binary, and every `{{ value }}` is
//! HTML-escaped unless a template says otherwise (only the server-made SVG
//! charts do).

use askama::Template;
use axum::{
    http::StatusCode,
    response::{Html, IntoResponse, Response},
};

use super::session::ConsoleUser;
use crate::error::ApiError;

/// What every signed-in page shows around its content.
pub struct Chrome {
    pub user: String,
    pub role: &'static str,
    pub is_admin: bool,
    /// The session's anti-forgery token, for the page's forms.
    pub csrf: String,
    /// Which menu entry is current.
    pub section: &'static str,
}

impl Chrome {
    pub fn of(user: &ConsoleUser, section: &'static str) -> Self {
        Self {
            user: user.name.clone(),
            role: user.role.as_str(),
            is_admin: user.is_admin(),
            csrf: user.csrf.clone(),
            section,
        }
    }

    /// The menu, admins' entries for admins only.
    pub fn menu(&self) -> Vec<MenuItem> {
        let mut m = vec![
            ("dashboard", "Dashboard", "/admin"),
            ("orders", "Orders", "/admin/orders"),
            ("products", "Products", "/admin/products"),
        ];
        if self.is_admin {
            m.extend([
                ("reviews", "Reviews", "/admin/reviews"),
                ("jobs", "Jobs", "/admin/jobs"),
                ("messages", "Messages", "/admin/messages"),
                ("integrations", "Integrations", "/admin/integrations"),
                ("pages", "Pages", "/admin/pages"),
                ("banners", "Banners", "/admin/banners"),
            ]);
        }
        m.into_iter()
            .map(|(key, label, path)| MenuItem {
                label,
                path,
                current: key == self.section,
            })
            .collect()
    }
}

pub struct MenuItem {
    pub label: &'static str,
    pub path: &'static str,
    pub current: bool,
}

/// One option of a select: its value, and whether the page was asked for it.
pub struct Choice {
    pub value: &'static str,
    pub selected: bool,
}

pub fn choices(all: &[&'static str], current: &str) -> Vec<Choice> {
    all.iter()
        .map(|v| Choice {
            value: v,
            selected: *v == current,
        })
        .collect()
}

/// The page, or the error page when the template cannot render.
pub fn html<T: Template>(status: StatusCode, template: &T) -> Response {
    match template.render() {
        Ok(body) => (status, Html(body)).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "console template failed");
            page_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "The page could not be shown.",
            )
        }
    }
}

#[derive(Template)]
#[template(path = "console/error.html")]
struct ErrorPage<'a> {
    status: u16,
    reason: &'a str,
    message: &'a str,
}

pub fn page_error(status: StatusCode, message: &str) -> Response {
    let page = ErrorPage {
        status: status.as_u16(),
        reason: status.canonical_reason().unwrap_or("Error"),
        message,
    };
    match page.render() {
        Ok(body) => (status, Html(body)).into_response(),
        Err(_) => (status, message.to_owned()).into_response(),
    }
}

/// An API error as a page: its status and what a person should read
/// (never the cause of an internal error, which goes to the log).
pub fn api_error(e: ApiError) -> Response {
    page_error(e.status(), &e.explanation())
}

pub fn core_error(e: bazaar_core::Error) -> Response {
    api_error(ApiError::from(e))
}

#[derive(Template)]
#[template(path = "console/sign_in.html")]
struct SignInPage<'a> {
    csrf: &'a str,
    error: Option<&'a str>,
}

pub fn sign_in(status: StatusCode, csrf: &str, error: Option<&str>) -> Response {
    html(status, &SignInPage { csrf, error })
}
