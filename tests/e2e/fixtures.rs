//! Shared arrangements for catalogue tests, made through the HTTP API as a
//! client would, so they break when the API does.

use serde_json::{json, Value};

use crate::harness::{TestApp, PASSWORD};

pub async fn send(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
) -> reqwest::Response {
    let mut req = app.client.request(method.parse().unwrap(), app.url(path));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    if let Some(b) = body {
        req = req.json(&b);
    }
    req.send().await.unwrap()
}

/// Sends and expects `status`, returning the JSON body (the failure message
/// shows the body, which is what one needs when an arrangement breaks).
pub async fn expect(
    app: &TestApp,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<Value>,
    status: u16,
) -> Value {
    let r = send(app, method, path, token, body).await;
    let got = r.status().as_u16();
    let text = r.text().await.unwrap();
    assert_eq!(got, status, "{method} {path}: {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

async fn session(app: &TestApp, email: &str, role: &str) -> String {
    let body = expect(
        app,
        "POST",
        "/api/v1/auth/register",
        None,
        Some(json!({ "email": email, "password": PASSWORD, "name": email, "role": role })),
        201,
    )
    .await;
    body["access_token"].as_str().unwrap().to_owned()
}

/// Registers a customer named like their e-mail; returns the access token.
pub async fn customer(app: &TestApp, email: &str) -> String {
    session(app, email, "customer").await
}

pub async fn vendor(app: &TestApp, email: &str) -> String {
    session(app, email, "vendor").await
}

// Tests of other capabilities read the ids this one does not.
#[allow(dead_code)]
pub struct Catalog {
    pub admin: String,
    pub vendor: String,
    pub store_id: String,
    pub category_id: String,
    pub type_id: String,
    pub product_id: String,
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

/// A category, a vendor with a store, the "Apparel" type (size and color per
/// variant, material per product) and one product, "Classic Tee" (CTEE),
/// without variants. Once per app: the names are unique.
pub async fn catalog(app: &TestApp) -> Catalog {
    let admin = app.admin_token().await;
    let vendor = vendor(app, "vendor@example.com").await;
    let category = expect(
        app,
        "POST",
        "/api/v1/categories",
        Some(&admin),
        Some(json!({ "name": "Tees" })),
        201,
    )
    .await;
    let store = expect(
        app,
        "POST",
        "/api/v1/stores",
        Some(&vendor),
        Some(json!({ "name": "Shop" })),
        201,
    )
    .await;
    let apparel = expect(
        app,
        "POST",
        "/api/v1/product-types",
        Some(&admin),
        Some(json!({
            "name": "Apparel",
            "attributes": [
                { "code": "size", "name": "Size", "level": "variant", "values": ["S", "M", "L"] },
                { "code": "color", "name": "Color", "level": "variant", "values": ["Red", "Blue"] },
                { "code": "material", "name": "Material", "level": "product", "values": ["Cotton", "Linen"] },
            ],
        })),
        201,
    )
    .await;
    let product = expect(
        app,
        "POST",
        "/api/v1/products",
        Some(&vendor),
        Some(json!({
            "store_id": store["id"],
            "category_id": category["id"],
            "product_type_id": apparel["id"],
            "name": "Classic Tee",
            "code": "CTEE",
            "attributes": { "material": "Cotton" },
        })),
        201,
    )
    .await;
    Catalog {
        admin,
        vendor,
        store_id: id(&store),
        category_id: id(&category),
        type_id: id(&apparel),
        product_id: id(&product),
    }
}

impl Catalog {
    pub fn product_uuid(&self) -> uuid::Uuid {
        self.product_id.parse().unwrap()
    }

    /// Another product in this store, category and type; `fields` names the
    /// rest (name, code, attributes). Returns it.
    pub async fn product(&self, app: &TestApp, fields: Value) -> Value {
        let mut body = json!({
            "store_id": self.store_id,
            "category_id": self.category_id,
            "product_type_id": self.type_id,
        });
        body.as_object_mut()
            .unwrap()
            .extend(fields.as_object().unwrap().clone());
        expect(
            app,
            "POST",
            "/api/v1/products",
            Some(&self.vendor),
            Some(body),
            201,
        )
        .await
    }

    /// Generates the variants of `size` x `color` at `price` (KZT minor
    /// units); returns the product with its variants.
    pub async fn variants(
        &self,
        app: &TestApp,
        size: &[&str],
        color: &[&str],
        price: i64,
    ) -> Value {
        expect(
            app,
            "POST",
            &format!("/api/v1/products/{}/variants/generate", self.product_id),
            Some(&self.vendor),
            Some(json!({
                "size": size,
                "color": color,
                "price": { "amount": price, "currency": "KZT" },
                "stock": 10,
            })),
            201,
        )
        .await
    }
}

/// A PNG by signature, `extra` bytes of body after it.
pub fn png(extra: usize) -> Vec<u8> {
    let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec();
    bytes.extend((0..extra).map(|i| (i % 251) as u8));
    bytes
}

/// Uploads `bytes` as the `file` part of a product image form.
pub async fn upload(
    app: &TestApp,
    token: &str,
    product: &str,
    bytes: Vec<u8>,
    mime: &str,
) -> reqwest::Response {
    let part = reqwest::multipart::Part::bytes(bytes)
        .file_name("photo")
        .mime_str(mime)
        .unwrap();
    app.client
        .post(app.url(&format!("/api/v1/products/{product}/images")))
        .bearer_auth(token)
        .multipart(reqwest::multipart::Form::new().part("file", part))
        .send()
        .await
        .unwrap()
}
