//! A browser-like client of the back-office console for HTTP-level tests:
//! it keeps the cookies it is given, follows no redirect by itself (tests
//! look at them), and reads the anti-forgery token out of each form.

use std::collections::BTreeMap;

use reqwest::{redirect::Policy, Response, StatusCode};

use super::TestApp;

pub struct ConsoleClient {
    client: reqwest::Client,
    base: String,
    pub cookies: BTreeMap<String, String>,
}

/// The value of the first `name="csrf"` hidden field in `html`.
pub fn csrf_of(html: &str) -> String {
    let at = html
        .find("name=\"csrf\" value=\"")
        .unwrap_or_else(|| panic!("no csrf field in {html}"));
    let rest = &html[at + "name=\"csrf\" value=\"".len()..];
    rest[..rest.find('"').expect("end of the csrf value")].to_owned()
}

impl ConsoleClient {
    pub fn new(app: &TestApp) -> Self {
        Self {
            client: reqwest::Client::builder()
                .redirect(Policy::none())
                .build()
                .expect("client"),
            base: app.url(""),
            cookies: BTreeMap::new(),
        }
    }

    fn keep_cookies(&mut self, r: &Response) {
        for v in r.headers().get_all("set-cookie") {
            let v = v.to_str().expect("cookie header");
            let pair = v.split(';').next().unwrap_or_default();
            if let Some((name, value)) = pair.split_once('=') {
                if value.is_empty() || v.contains("Max-Age=0") {
                    self.cookies.remove(name);
                } else {
                    self.cookies.insert(name.to_owned(), value.to_owned());
                }
            }
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub async fn get(&mut self, path: &str) -> Response {
        let r = self
            .client
            .get(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .send()
            .await
            .expect("console GET");
        self.keep_cookies(&r);
        r
    }

    pub async fn post(&mut self, path: &str, form: &[(&str, &str)]) -> Response {
        let r = self
            .client
            .post(format!("{}{path}", self.base))
            .header("cookie", self.cookie_header())
            .form(form)
            .send()
            .await
            .expect("console POST");
        self.keep_cookies(&r);
        r
    }

    /// GETs `path`, expecting 200; the page's HTML.
    pub async fn page(&mut self, path: &str) -> String {
        let r = self.get(path).await;
        let status = r.status();
        let body = r.text().await.expect("html");
        assert_eq!(status, StatusCode::OK, "GET {path}: {body}");
        body
    }

    /// Signs in through the form; the status of the form's answer.
    pub async fn sign_in(&mut self, email: &str, password: &str) -> Response {
        let form = self.page("/admin/login").await;
        let csrf = csrf_of(&form);
        self.post(
            "/admin/login",
            &[("email", email), ("password", password), ("csrf", &csrf)],
        )
        .await
    }

    /// Signs in, expecting the redirect to the dashboard.
    pub async fn signed_in(app: &TestApp, email: &str, password: &str) -> Self {
        let mut c = Self::new(app);
        let r = c.sign_in(email, password).await;
        assert_eq!(r.status(), StatusCode::SEE_OTHER, "sign-in of {email}");
        assert_eq!(r.headers()["location"], "/admin");
        c
    }

    /// Posts a form of the page at `page` (its token added).
    pub async fn submit(&mut self, page: &str, action: &str, fields: &[(&str, &str)]) -> Response {
        let html = self.page(page).await;
        let csrf = csrf_of(&html);
        let mut form = fields.to_vec();
        form.push(("csrf", &csrf));
        self.post(action, &form).await
    }
}
