//! Who is at the console: the session cookie, sign-in and sign-out, and
//! the anti-forgery token every form carries.
//!
//! The cookie is `HttpOnly` (scripts cannot read it), `SameSite=Strict`
//! (other sites' pages cannot send it), `Secure` when the shop is served
//! over https, and scoped to `/admin`. On top of SameSite, every POST must
//! carry the session's token in a hidden field (the synchronizer-token
//! pattern); the sign-in form, which has no session yet, carries one that
//! must match a short-lived cookie of its own (double submit).

use axum::{
    extract::{FromRequest, FromRequestParts, Request, State},
    http::{header, request::Parts, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Redirect, Response},
};
use bazaar_core::{
    auth::{console as sessions, tokens},
    catalog::Actor,
    users::Role,
    Error,
};
use cookie::{Cookie, SameSite};
use serde::de::DeserializeOwned;
use serde::Deserialize;
use uuid::Uuid;

use super::render::{self, page_error};
use crate::{extract::ClientIp, AppState};

const SESSION_COOKIE: &str = "bazaar_console";
const LOGIN_COOKIE: &str = "bazaar_console_login";

/// The signed-in admin or vendor. Without a live session, pages redirect to
/// the sign-in form.
#[derive(Debug, Clone)]
pub struct ConsoleUser {
    pub id: Uuid,
    pub name: String,
    pub role: Role,
    pub csrf: String,
}

impl ConsoleUser {
    pub fn actor(&self) -> Actor {
        Actor {
            id: self.id,
            role: self.role,
        }
    }

    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// The 403 page for what only admins may see or do; `None` for admins.
    pub fn refuse_unless_admin(&self) -> Option<Response> {
        (!self.is_admin())
            .then(|| page_error(StatusCode::FORBIDDEN, "Only admins may open this page."))
    }
}

fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name() == name)
        .map(|c| c.value().to_owned())
}

impl FromRequestParts<AppState> for ConsoleUser {
    type Rejection = Response;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let to_sign_in = || Redirect::to("/admin/login").into_response();
        let Some(token) = cookie_value(&parts.headers, SESSION_COOKIE) else {
            return Err(to_sign_in());
        };
        match sessions::find(&state.pool, &token).await {
            Ok(Some(s)) if s.role != Role::Customer => Ok(ConsoleUser {
                id: s.user_id,
                name: s.name,
                role: s.role,
                csrf: s.csrf,
            }),
            Ok(_) => Err(to_sign_in()),
            Err(e) => Err(render::core_error(e)),
        }
    }
}

/// A form posted by the signed-in user, its anti-forgery token checked
/// before anything else is read from it. A missing or wrong token is a 403.
pub struct CsrfForm<T> {
    pub user: ConsoleUser,
    pub form: T,
}

#[derive(Deserialize)]
struct TokenOnly {
    #[serde(default)]
    csrf: String,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for CsrfForm<T> {
    type Rejection = Response;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let user = ConsoleUser::from_request_parts(&mut parts, state).await?;
        let req = Request::from_parts(parts, body);
        let bytes = axum::body::Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        let token: TokenOnly = serde_urlencoded::from_bytes(&bytes).unwrap_or(TokenOnly {
            csrf: String::new(),
        });
        if !sessions::same_token(&token.csrf, &user.csrf) {
            return Err(forged());
        }
        let form = serde_urlencoded::from_bytes(&bytes).map_err(|e| {
            page_error(
                StatusCode::UNPROCESSABLE_ENTITY,
                &format!("The form could not be read: {e}"),
            )
        })?;
        Ok(CsrfForm { user, form })
    }
}

fn forged() -> Response {
    page_error(
        StatusCode::FORBIDDEN,
        "This form is not from your session (it expired, or another site sent it). Go back, reload the page and try again.",
    )
}

fn secure(state: &AppState) -> bool {
    state.config.public_url.starts_with("https://")
}

fn set_cookie(response: &mut Response, cookie: Cookie<'_>) {
    if let Ok(v) = HeaderValue::from_str(&cookie.to_string()) {
        response.headers_mut().append(header::SET_COOKIE, v);
    }
}

fn build<'c>(state: &AppState, name: &'c str, value: String, path: &'c str) -> Cookie<'c> {
    Cookie::build((name, value))
        .path(path)
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(secure(state))
        .build()
}

#[derive(Deserialize)]
pub struct SignInQuery {
    #[serde(default)]
    error: Option<String>,
}

/// The sign-in form, with a fresh form token in a cookie of its own.
pub async fn sign_in_page(
    State(state): State<AppState>,
    axum::extract::Query(q): axum::extract::Query<SignInQuery>,
) -> Response {
    sign_in_form(
        &state,
        StatusCode::OK,
        q.error.as_deref().map(|_| "Please sign in again."),
    )
}

fn sign_in_form(state: &AppState, status: StatusCode, error: Option<&str>) -> Response {
    let csrf = tokens::random_token();
    let mut response = render::sign_in(status, &csrf, error);
    let mut c = build(state, LOGIN_COOKIE, csrf, "/admin/login");
    c.set_max_age(cookie::time::Duration::hours(1));
    set_cookie(&mut response, c);
    response
}

#[derive(Deserialize)]
pub struct SignIn {
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    csrf: String,
}

/// Signs in with the API's login (its rate limits and failure counting).
pub async fn sign_in(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    headers: HeaderMap,
    axum::Form(form): axum::Form<SignIn>,
) -> Response {
    let expected = cookie_value(&headers, LOGIN_COOKIE).unwrap_or_default();
    if expected.is_empty() || !sessions::same_token(&form.csrf, &expected) {
        return forged();
    }
    let ttl = state.config.back_office.session_ttl;
    match sessions::start(&state.auth, &form.email, &form.password, ip, ttl).await {
        Ok(started) => {
            let mut response = Redirect::to("/admin").into_response();
            let mut c = build(&state, SESSION_COOKIE, started.token, "/admin");
            c.set_max_age(cookie::time::Duration::seconds(
                i64::try_from(ttl.as_secs()).unwrap_or(i64::MAX),
            ));
            set_cookie(&mut response, c);
            set_cookie(&mut response, removal(&state, LOGIN_COOKIE, "/admin/login"));
            response
        }
        Err(Error::Unauthorized(_)) => sign_in_form(
            &state,
            StatusCode::UNAUTHORIZED,
            Some("Wrong e-mail or password."),
        ),
        Err(Error::Validation(_)) => sign_in_form(
            &state,
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("Enter your e-mail and password."),
        ),
        Err(Error::Forbidden(_)) => sign_in_form(
            &state,
            StatusCode::FORBIDDEN,
            Some("The console is for the shop's admins and vendors; this is a customer account."),
        ),
        Err(Error::RateLimited { retry_after_secs }) => {
            let mut r = sign_in_form(
                &state,
                StatusCode::TOO_MANY_REQUESTS,
                Some(&format!(
                    "Too many attempts. Try again in {retry_after_secs} seconds."
                )),
            );
            r.headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
            r
        }
        Err(e) => render::core_error(e),
    }
}

fn removal<'c>(state: &AppState, name: &'c str, path: &'c str) -> Cookie<'c> {
    let mut c = build(state, name, String::new(), path);
    c.set_max_age(cookie::time::Duration::ZERO);
    c
}

/// Signs out: the session and its refresh-token family end, the cookie goes.
pub async fn sign_out(
    State(state): State<AppState>,
    headers: HeaderMap,
    CsrfForm { .. }: CsrfForm<TokenOnlyForm>,
) -> Response {
    if let Some(token) = cookie_value(&headers, SESSION_COOKIE) {
        if let Err(e) = sessions::end(&state.pool, &token).await {
            return render::core_error(e);
        }
    }
    let mut response = Redirect::to("/admin/login").into_response();
    set_cookie(&mut response, removal(&state, SESSION_COOKIE, "/admin"));
    response
}

/// A form with nothing but its token (sign-out, buttons).
#[derive(Deserialize)]
pub struct TokenOnlyForm {}
