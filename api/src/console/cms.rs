//! Pages and banners, edited by admins. Saving goes through the same core
//! functions as the API (the same validation, Markdown sanitised on save)
//! and empties the public cache, like the API does.

use askama::Template;
use axum::{
    extract::{Path, State},
    http::StatusCode,
    response::{IntoResponse, Redirect, Response},
};
use bazaar_core::{
    cms::{
        banners::{self, Banner, BannerInput},
        pages::{self, Page, PageInput},
    },
    Error, FieldError,
};
use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;
use uuid::Uuid;

use super::{
    render::{self, Chrome},
    session::{ConsoleUser, CsrfForm, TokenOnlyForm},
};
use crate::AppState;

#[derive(Template)]
#[template(path = "console/pages.html")]
struct PagesPage {
    chrome: Chrome,
    pages: Vec<Page>,
}

pub async fn pages(State(state): State<AppState>, user: ConsoleUser) -> Response {
    if let Some(r) = user.refuse_unless_admin() {
        return r;
    }
    match pages::list(&state.pool, 100, 0).await {
        Ok((pages, _)) => render::html(
            StatusCode::OK,
            &PagesPage {
                chrome: Chrome::of(&user, "pages"),
                pages,
            },
        ),
        Err(e) => render::core_error(e),
    }
}

/// The page form's fields, as typed.
#[derive(Debug, Default, Deserialize)]
pub struct PageForm {
    #[serde(default)]
    slug: String,
    #[serde(default)]
    title: String,
    #[serde(default)]
    body: String,
    /// A checkbox: present ("on") when ticked.
    #[serde(default)]
    published: Option<String>,
}

#[derive(Template)]
#[template(path = "console/page_form.html")]
struct PageFormPage {
    chrome: Chrome,
    /// None: a new page.
    id: Option<Uuid>,
    form: PageForm,
    errors: Vec<FieldError>,
    /// The saved page's public address.
    public: Option<String>,
}

fn page_form(
    user: &ConsoleUser,
    status: StatusCode,
    id: Option<Uuid>,
    form: PageForm,
    errors: Vec<FieldError>,
) -> Response {
    let public = id.map(|_| format!("/api/v1/pages/{}", form.slug));
    render::html(
        status,
        &PageFormPage {
            chrome: Chrome::of(user, "pages"),
            id,
            form,
            errors,
            public,
        },
    )
}

pub async fn new_page(user: ConsoleUser) -> Response {
    if let Some(r) = user.refuse_unless_admin() {
        return r;
    }
    let form = PageForm {
        published: Some("on".into()),
        ..Default::default()
    };
    page_form(&user, StatusCode::OK, None, form, Vec::new())
}

pub async fn edit_page(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(id): Path<Uuid>,
) -> Response {
    if let Some(r) = user.refuse_unless_admin() {
        return r;
    }
    match pages::get(&state.pool, id).await {
        Ok(p) => page_form(
            &user,
            StatusCode::OK,
            Some(id),
            PageForm {
                slug: p.slug,
                title: p.title,
                body: p.body,
                published: p.published.then(|| "on".into()),
            },
            Vec::new(),
        ),
        Err(e) => render::core_error(e),
    }
}

async fn save_page(
    state: AppState,
    user: ConsoleUser,
    id: Option<Uuid>,
    form: PageForm,
) -> Response {
    if let Some(r) = user.refuse_unless_admin() {
        return r;
    }
    let input = PageInput {
        slug: Some(form.slug.clone()),
        title: Some(form.title.clone()),
        body: Some(form.body.clone()),
        published: Some(form.published.is_some()),
    };
    match pages::save(&state.pool, id, input).await {
        Ok(saved) => {
            state.cache.pages_changed().await;
            Redirect::to(&format!("/admin/pages/{}?saved=1", saved.id)).into_response()
        }
        Err(Error::Validation(errors)) => {
            page_form(&user, StatusCode::UNPROCESSABLE_ENTITY, id, form, errors)
        }
        Err(Error::Conflict(message)) => page_form(
            &user,
            StatusCode::CONFLICT,
            id,
            form,
            vec![FieldError::new("slug", message)],
        ),
        Err(e) => render::core_error(e),
    }
}

pub async fn create_page(
    State(state): State<AppState>,
    CsrfForm { user, form }: CsrfForm<PageForm>,
) -> Response {
    save_page(state, user, None, form).await
}

pub async fn update_page(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    CsrfForm { user, form }: CsrfForm<PageForm>,
) -> Response {
    save_page(state, user, Some(id), form).await
}

pub async fn delete_page(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    CsrfForm { user, .. }: CsrfForm<TokenOnlyForm>,
) -> Response {
    if let Some(r) = user.refuse_unless_admin() {
        return r;
    }
    match pages::delete(&state.pool, id).await {
        Ok(()) => {
            state.cache.pages_changed().await;
            Redirect::to("/admin/pages").into_response()
        }
        Err(e) => render::core_error(e),
    }
}

#[derive(Template)]
#[template(path = "console/banners.html")]
struct BannersPage {
    chrome: Chrome,
    banners: Vec<Banner>,
}

pub async fn banners(State(state): State<AppState>, user: ConsoleUser) -> Response {
    if let Some(r) = user.refuse_unless_admin() {
        return r;
    }
    match banners::list(&state.pool, 100, 0).await {
        Ok((banners, _)) => render::html(
            StatusCode::OK,
            &BannersPage {
                chrome: Chrome::of(&user, "banners"),
                banners,
            },
        ),
        Err(e) => render::core_error(e),
    }
}

/// The banner form's fields, as typed. Times are the browser's
/// `datetime-local` (`2026-12-24T10:00`), taken as UTC.
#[derive(Debug, Default, Deserialize)]
pub struct BannerForm {
    #[serde(default)]
    title: String,
    #[serde(default)]
    image_url: String,
    #[serde(default)]
    link_url: String,
    #[serde(default)]
    position: String,
    #[serde(default)]
    active: Option<String>,
    #[serde(default)]
    starts_at: String,
    #[serde(default)]
    ends_at: String,
}

const LOCAL: &str = "%Y-%m-%dT%H:%M";

fn local(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format(LOCAL).to_string()).unwrap_or_default()
}

impl BannerForm {
    fn input(&self) -> Result<BannerInput, Vec<FieldError>> {
        let mut errors = Vec::new();
        let mut time = |field: &str, raw: &str| -> Option<DateTime<Utc>> {
            let raw = raw.trim();
            if raw.is_empty() {
                return None;
            }
            NaiveDateTime::parse_from_str(raw, LOCAL)
                .or_else(|_| NaiveDateTime::parse_from_str(raw, "%Y-%m-%dT%H:%M:%S"))
                .map(|t| t.and_utc())
                .map_err(|_| errors.push(FieldError::new(field, "must be a date and time")))
                .ok()
        };
        let starts_at = time("starts_at", &self.starts_at);
        let ends_at = time("ends_at", &self.ends_at);
        let position = match self.position.trim() {
            "" => 0,
            p => p.parse().unwrap_or_else(|_| {
                errors.push(FieldError::new("position", "must be a whole number"));
                0
            }),
        };
        if !errors.is_empty() {
            return Err(errors);
        }
        let link = self.link_url.trim();
        Ok(BannerInput {
            title: Some(self.title.clone()),
            image_url: Some(self.image_url.clone()),
            link_url: Some((!link.is_empty()).then(|| link.to_owned())),
            position: Some(position),
            active: Some(self.active.is_some()),
            starts_at: Some(starts_at),
            ends_at: Some(ends_at),
        })
    }
}

#[derive(Template)]
#[template(path = "console/banner_form.html")]
struct BannerFormPage {
    chrome: Chrome,
    id: Option<Uuid>,
    form: BannerForm,
    errors: Vec<FieldError>,
}

fn banner_form(
    user: &ConsoleUser,
    status: StatusCode,
    id: Option<Uuid>,
    form: BannerForm,
    errors: Vec<FieldError>,
) -> Response {
    render::html(
        status,
        &BannerFormPage {
            chrome: Chrome::of(user, "banners"),
            id,
            form,
            errors,
        },
    )
}

pub async fn new_banner(user: ConsoleUser) -> Response {
    if let Some(r) = user.refuse_unless_admin() {
        return r;
    }
    let form = BannerForm {
        active: Some("on".into()),
        position: "0".into(),
        ..Default::default()
    };
    banner_form(&user, StatusCode::OK, None, form, Vec::new())
}

pub async fn edit_banner(
    State(state): State<AppState>,
    user: ConsoleUser,
    Path(id): Path<Uuid>,
) -> Response {
    if let Some(r) = user.refuse_unless_admin() {
        return r;
    }
    match banners::get(&state.pool, id).await {
        Ok(b) => banner_form(
            &user,
            StatusCode::OK,
            Some(id),
            BannerForm {
                title: b.title,
                image_url: b.image_url,
                link_url: b.link_url.unwrap_or_default(),
                position: b.position.to_string(),
                active: b.active.then(|| "on".into()),
                starts_at: local(b.starts_at),
                ends_at: local(b.ends_at),
            },
            Vec::new(),
        ),
        Err(e) => render::core_error(e),
    }
}

async fn save_banner(
    state: AppState,
    user: ConsoleUser,
    id: Option<Uuid>,
    form: BannerForm,
) -> Response {
    if let Some(r) = user.refuse_unless_admin() {
        return r;
    }
    let input = match form.input() {
        Ok(i) => i,
        Err(errors) => {
            return banner_form(&user, StatusCode::UNPROCESSABLE_ENTITY, id, form, errors)
        }
    };
    match banners::save(&state.pool, id, input).await {
        Ok(_) => {
            state.cache.pages_changed().await;
            Redirect::to("/admin/banners").into_response()
        }
        Err(Error::Validation(errors)) => {
            banner_form(&user, StatusCode::UNPROCESSABLE_ENTITY, id, form, errors)
        }
        Err(e) => render::core_error(e),
    }
}

pub async fn create_banner(
    State(state): State<AppState>,
    CsrfForm { user, form }: CsrfForm<BannerForm>,
) -> Response {
    save_banner(state, user, None, form).await
}

pub async fn update_banner(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    CsrfForm { user, form }: CsrfForm<BannerForm>,
) -> Response {
    save_banner(state, user, Some(id), form).await
}

pub async fn delete_banner(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    CsrfForm { user, .. }: CsrfForm<TokenOnlyForm>,
) -> Response {
    if let Some(r) = user.refuse_unless_admin() {
        return r;
    }
    match banners::delete(&state.pool, id).await {
        Ok(()) => {
            state.cache.pages_changed().await;
            Redirect::to("/admin/banners").into_response()
        }
        Err(e) => render::core_error(e),
    }
}
