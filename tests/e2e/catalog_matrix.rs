//! The catalogue's authorization matrix, one table: who (public, customer,
//! vendor, other vendor, admin) may view, create, update their own, update
//! another's and delete what, for every catalogue resource. Each cell acts on
//! a fresh target, so no cell depends on another.

use serde_json::{json, Value};

use crate::{
    fixtures::{customer, expect, send, vendor},
    harness::TestApp,
};

#[derive(Debug, Clone, Copy, PartialEq)]
enum Res {
    Store,
    Category,
    ProductType,
    Product,
    Variant,
    Image,
    Review,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Who {
    Public,
    Customer,
    Vendor,
    OtherVendor,
    Admin,
}

struct World {
    app: TestApp,
    customer: String,
    reviewer: String,
    vendor: String,
    other: String,
    admin: String,
    category: String,
    product_type: String,
    vendor_store: String,
    other_store: String,
    n: std::sync::atomic::AtomicUsize,
}

fn id(v: &Value) -> String {
    v["id"].as_str().unwrap().to_owned()
}

impl World {
    fn token(&self, who: Who) -> Option<&str> {
        match who {
            Who::Public => None,
            Who::Customer => Some(&self.customer),
            Who::Vendor => Some(&self.vendor),
            Who::OtherVendor => Some(&self.other),
            Who::Admin => Some(&self.admin),
        }
    }

    fn next(&self) -> usize {
        self.n.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    }

    async fn product(&self, token: &str, store: &str) -> Value {
        let n = self.next();
        expect(
            &self.app,
            "POST",
            "/api/v1/products",
            Some(token),
            Some(json!({
                "store_id": store, "category_id": self.category, "product_type_id": self.product_type,
                "name": format!("Matrix Tee {n}"), "code": format!("MT{n}"),
            })),
            201,
        )
        .await
    }

    /// The body that creates `res` as `who` (for products: in a store of
    /// theirs, or the vendor's when they have none).
    fn create_body(&self, res: Res, who: Who) -> Value {
        let n = self.next();
        match res {
            Res::Store => json!({ "name": format!("Matrix Store {n}") }),
            Res::Category => json!({ "name": format!("Matrix Category {n}") }),
            Res::ProductType => json!({ "name": format!("Matrix Type {n}"), "attributes": [
                { "code": "size", "name": "Size", "level": "variant", "values": ["S", "M"] }] }),
            Res::Product => json!({
                "store_id": if who == Who::OtherVendor { &self.other_store } else { &self.vendor_store },
                "category_id": self.category, "product_type_id": self.product_type,
                "name": format!("Matrix Product {n}"), "code": format!("MP{n}"),
            }),
            Res::Variant => {
                json!({ "size": ["S"], "price": { "amount": 1000, "currency": "KZT" } })
            }
            Res::Image | Res::Review => json!({ "rating": 4, "title": "Good" }),
        }
    }

    /// POST that creates `res`; `product` is where variants, images and
    /// reviews go.
    async fn create(&self, res: Res, who: Who, product: &str) -> reqwest::Response {
        let token = self.token(who);
        let path = match res {
            Res::Store => "/api/v1/stores".to_owned(),
            Res::Category => "/api/v1/categories".to_owned(),
            Res::ProductType => "/api/v1/product-types".to_owned(),
            Res::Product => "/api/v1/products".to_owned(),
            Res::Variant => format!("/api/v1/products/{product}/variants/generate"),
            Res::Review => format!("/api/v1/products/{product}/reviews"),
            Res::Image => {
                let part = reqwest::multipart::Part::bytes(b"\x89PNG\r\n\x1a\n\0\0".to_vec())
                    .file_name("a.png");
                let mut req = self
                    .app
                    .client
                    .post(self.app.url(&format!("/api/v1/products/{product}/images")))
                    .multipart(reqwest::multipart::Form::new().part("file", part));
                if let Some(t) = token {
                    req = req.bearer_auth(t);
                }
                return req.send().await.unwrap();
            }
        };
        send(
            &self.app,
            "POST",
            &path,
            token,
            Some(self.create_body(res, who)),
        )
        .await
    }

    /// A fresh target owned by `owner` (admin for admin-only resources), as
    /// (path to PATCH/DELETE, path to GET).
    async fn target(&self, res: Res, owner: Who) -> (String, String) {
        let owner_token = self.token(owner).unwrap();
        let store = if owner == Who::OtherVendor {
            &self.other_store
        } else {
            &self.vendor_store
        };
        match res {
            Res::Store | Res::Category | Res::ProductType | Res::Product => {
                let who = match res {
                    Res::Category | Res::ProductType => Who::Admin,
                    _ => owner,
                };
                let r = self.create(res, who, "").await;
                assert_eq!(r.status().as_u16(), 201, "arranging {res:?}");
                let id = id(&r.json().await.unwrap());
                let base = match res {
                    Res::Store => "stores",
                    Res::Category => "categories",
                    Res::ProductType => "product-types",
                    _ => "products",
                };
                let view = if res == Res::Category {
                    "/api/v1/categories".to_owned()
                } else {
                    format!("/api/v1/{base}/{id}")
                };
                (format!("/api/v1/{base}/{id}"), view)
            }
            Res::Variant => {
                let product = id(&self.product(owner_token, store).await);
                let r = self.create(Res::Variant, owner, &product).await;
                assert_eq!(r.status(), 201);
                let p: Value = r.json().await.unwrap();
                (
                    format!(
                        "/api/v1/variants/{}",
                        p["variants"][0]["id"].as_str().unwrap()
                    ),
                    format!("/api/v1/products/{product}"),
                )
            }
            Res::Image => {
                let product = id(&self.product(owner_token, store).await);
                let r = self.create(Res::Image, owner, &product).await;
                assert_eq!(r.status(), 201);
                let image: Value = r.json().await.unwrap();
                (
                    format!("/api/v1/products/{product}/images/{}", id(&image)),
                    image["url"]
                        .as_str()
                        .unwrap()
                        .trim_start_matches("http://shop.test")
                        .to_owned(),
                )
            }
            Res::Review => {
                let product = id(&self.product(&self.vendor, &self.vendor_store).await);
                let author = if owner == Who::Customer {
                    &self.customer
                } else {
                    &self.reviewer
                };
                let review = expect(
                    &self.app,
                    "POST",
                    &format!("/api/v1/products/{product}/reviews"),
                    Some(author),
                    Some(json!({ "rating": 5 })),
                    201,
                )
                .await;
                (
                    format!("/api/v1/reviews/{}", id(&review)),
                    format!("/api/v1/products/{product}/reviews"),
                )
            }
        }
    }

    fn patch_body(res: Res) -> Value {
        match res {
            Res::Store | Res::Product => json!({ "description": "changed" }),
            Res::Category | Res::ProductType => {
                json!({ "name": format!("Renamed {}", uuid::Uuid::now_v7().simple()) })
            }
            Res::Variant => json!({ "stock": 3 }),
            Res::Review => json!({ "rating": 2 }),
            Res::Image => json!({}),
        }
    }
}

/// Expected statuses: view, create, update own, update another's, delete
/// own, delete another's. `None`: the action does not exist for the role or
/// resource (nothing of theirs to update, no such endpoint).
type Row = (
    Who,
    u16,
    u16,
    Option<u16>,
    Option<u16>,
    Option<u16>,
    Option<u16>,
);

fn table(res: Res) -> Vec<Row> {
    use Who::*;
    match res {
        Res::Store | Res::Product => vec![
            (Public, 200, 401, None, Some(401), None, Some(401)),
            (Customer, 200, 403, None, Some(403), None, Some(403)),
            (Vendor, 200, 201, Some(200), Some(403), Some(204), Some(403)),
            (
                OtherVendor,
                200,
                201,
                Some(200),
                Some(403),
                Some(204),
                Some(403),
            ),
            (Admin, 200, 201, Some(200), Some(200), Some(204), Some(204)),
        ],
        Res::Category => vec![
            (Public, 200, 401, None, Some(401), None, Some(401)),
            (Customer, 200, 403, None, Some(403), None, Some(403)),
            (Vendor, 200, 403, None, Some(403), None, Some(403)),
            (OtherVendor, 200, 403, None, Some(403), None, Some(403)),
            (Admin, 200, 201, Some(200), Some(200), Some(204), Some(204)),
        ],
        // Types are never deleted (products keep them): no DELETE route.
        Res::ProductType => vec![
            (Public, 200, 401, None, Some(401), None, None),
            (Customer, 200, 403, None, Some(403), None, None),
            (Vendor, 200, 403, None, Some(403), None, None),
            (OtherVendor, 200, 403, None, Some(403), None, None),
            (Admin, 200, 201, Some(200), Some(200), None, None),
        ],
        // Created on the vendor's product; there is no variant DELETE (deactivate instead).
        Res::Variant => vec![
            (Public, 200, 401, None, Some(401), None, None),
            (Customer, 200, 403, None, Some(403), None, None),
            (Vendor, 200, 201, Some(200), Some(403), None, None),
            (OtherVendor, 200, 403, None, Some(403), None, None),
            (Admin, 200, 201, Some(200), Some(200), None, None),
        ],
        // Uploaded to the vendor's product; images are deleted, not patched.
        Res::Image => vec![
            (Public, 200, 401, None, None, None, Some(401)),
            (Customer, 200, 403, None, None, None, Some(403)),
            (Vendor, 200, 201, None, None, Some(204), Some(403)),
            (OtherVendor, 200, 403, None, None, None, Some(403)),
            (Admin, 200, 201, None, None, Some(204), Some(204)),
        ],
        // Customers write reviews; admins moderate (edit, hide, delete) any.
        Res::Review => vec![
            (Public, 200, 401, None, Some(401), None, Some(401)),
            (
                Customer,
                200,
                201,
                Some(200),
                Some(403),
                Some(204),
                Some(403),
            ),
            (Vendor, 200, 403, None, Some(403), None, Some(403)),
            (OtherVendor, 200, 403, None, Some(403), None, Some(403)),
            (Admin, 200, 403, None, Some(200), None, Some(204)),
        ],
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_catalogue_authorization_matrix_holds_in_every_cell() {
    let app = TestApp::builder().without_worker().start().await;
    let admin = app.admin_token().await;
    let vendor_token = vendor(&app, "vendor@example.com").await;
    let other = vendor(&app, "other@example.com").await;
    let customer_token = customer(&app, "customer@example.com").await;
    let reviewer = customer(&app, "reviewer@example.com").await;
    let category = expect(
        &app,
        "POST",
        "/api/v1/categories",
        Some(&admin),
        Some(json!({ "name": "Matrix" })),
        201,
    )
    .await;
    let product_type = expect(
        &app,
        "POST",
        "/api/v1/product-types",
        Some(&admin),
        Some(json!({ "name": "Matrix Apparel", "attributes": [
            { "code": "size", "name": "Size", "level": "variant", "values": ["S", "M"] }] })),
        201,
    )
    .await;
    let vendor_store = expect(
        &app,
        "POST",
        "/api/v1/stores",
        Some(&vendor_token),
        Some(json!({ "name": "Vendor Store" })),
        201,
    )
    .await;
    let other_store = expect(
        &app,
        "POST",
        "/api/v1/stores",
        Some(&other),
        Some(json!({ "name": "Other Store" })),
        201,
    )
    .await;
    let w = World {
        app,
        customer: customer_token,
        reviewer,
        vendor: vendor_token,
        other,
        admin,
        category: id(&category),
        product_type: id(&product_type),
        vendor_store: id(&vendor_store),
        other_store: id(&other_store),
        n: Default::default(),
    };

    let mut failures = Vec::new();
    let mut cells = 0;
    for res in [
        Res::Store,
        Res::Category,
        Res::ProductType,
        Res::Product,
        Res::Variant,
        Res::Image,
        Res::Review,
    ] {
        for (who, view, create, update_own, update_other, delete_own, delete_other) in table(res) {
            let token = w.token(who);
            let mut check = |action: &str, want: u16, got: u16| {
                cells += 1;
                if want != got {
                    failures.push(format!(
                        "{res:?} / {who:?} / {action}: expected {want}, got {got}"
                    ));
                }
            };
            // Another's: the vendor's, or for the vendor the other vendor's.
            let owner_of_others = if who == Who::Vendor {
                Who::OtherVendor
            } else {
                Who::Vendor
            };

            let (_, view_path) = w.target(res, Who::Vendor).await;
            let r = send(&w.app, "GET", &view_path, token, None).await;
            check("view", view, r.status().as_u16());

            let vendor_product = id(&w.product(&w.vendor, &w.vendor_store).await);
            let r = w.create(res, who, &vendor_product).await;
            check("create", create, r.status().as_u16());
            let own = if r.status().is_success() {
                let body: Value = r.json().await.unwrap();
                Some(match res {
                    Res::Variant => format!(
                        "/api/v1/variants/{}",
                        body["variants"][0]["id"].as_str().unwrap()
                    ),
                    Res::Image => format!("/api/v1/products/{vendor_product}/images/{}", id(&body)),
                    Res::Store => format!("/api/v1/stores/{}", id(&body)),
                    Res::Category => format!("/api/v1/categories/{}", id(&body)),
                    Res::ProductType => format!("/api/v1/product-types/{}", id(&body)),
                    Res::Product => format!("/api/v1/products/{}", id(&body)),
                    Res::Review => format!("/api/v1/reviews/{}", id(&body)),
                })
            } else {
                None
            };
            if let (Some(want), Some(path)) = (update_own, &own) {
                let r = send(&w.app, "PATCH", path, token, Some(World::patch_body(res))).await;
                check("update own", want, r.status().as_u16());
            }
            if let Some(want) = update_other {
                let (path, _) = w.target(res, owner_of_others).await;
                let r = send(&w.app, "PATCH", &path, token, Some(World::patch_body(res))).await;
                check("update another's", want, r.status().as_u16());
            }
            if let (Some(want), Some(path)) = (delete_own, &own) {
                let r = send(&w.app, "DELETE", path, token, None).await;
                check("delete own", want, r.status().as_u16());
            }
            if let Some(want) = delete_other {
                let (path, view_path) = w.target(res, owner_of_others).await;
                let r = send(&w.app, "DELETE", &path, token, None).await;
                check("delete another's", want, r.status().as_u16());
                // A refused delete leaves the resource as it was.
                if want != 204 && res != Res::Image {
                    let still = send(&w.app, "GET", &view_path, Some(&w.admin), None).await;
                    check(
                        "still there after a refused delete",
                        200,
                        still.status().as_u16(),
                    );
                }
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {cells} cells wrong:\n{}",
        failures.len(),
        failures.join("\n")
    );
    assert!(cells > 150, "only {cells} cells checked");
}
