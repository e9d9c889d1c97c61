//! Stores and categories (issue 3, first part).

use serde_json::{json, Value};

use crate::{
    fixtures::send,
    harness::{assert_problem, TestApp, PASSWORD},
};

async fn session(app: &TestApp, email: &str, role: &str) -> String {
    let r = app
        .post(
            "/api/v1/auth/register",
            json!({ "email": email, "password": PASSWORD, "name": email, "role": role }),
        )
        .await;
    assert_eq!(r.status(), 201);
    r.json::<Value>().await.unwrap()["access_token"]
        .as_str()
        .unwrap()
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_store_authorization_matrix_holds_in_every_cell() {
    let app = TestApp::builder().without_worker().start().await;
    let customer = session(&app, "cust@example.com", "customer").await;
    let owner = session(&app, "owner@example.com", "vendor").await;
    let other = session(&app, "other@example.com", "vendor").await;
    let admin = app.admin_token().await;
    let who: [(&str, Option<&str>); 5] = [
        ("public", None),
        ("customer", Some(&customer)),
        ("owner", Some(&owner)),
        ("other vendor", Some(&other)),
        ("admin", Some(&admin)),
    ];
    let mut n = 0;
    let mut new_store = |name: &str| {
        n += 1;
        json!({ "name": format!("{name} {n}") })
    };

    // (actor, create, view, update the owner's store, delete the owner's store)
    let expected = [
        ("public", 401, 200, 401, 401),
        ("customer", 403, 200, 403, 403),
        ("owner", 201, 200, 200, 204),
        ("other vendor", 201, 200, 403, 403),
        ("admin", 201, 200, 200, 204),
    ];
    for ((actor, token), (name, create, view, update, delete)) in who.iter().zip(expected) {
        assert_eq!(*actor, name);
        let r = send(
            &app,
            "POST",
            "/api/v1/stores",
            *token,
            Some(new_store(actor)),
        )
        .await;
        assert_eq!(r.status().as_u16(), create, "{actor} create");
        if create == 201 {
            let store: Value = r.json().await.unwrap();
            assert_eq!(store["active"], true);
        }

        let target: Value = send(
            &app,
            "POST",
            "/api/v1/stores",
            Some(&owner),
            Some(new_store("Target")),
        )
        .await
        .json()
        .await
        .unwrap();
        let path = format!("/api/v1/stores/{}", target["id"].as_str().unwrap());
        let r = send(&app, "GET", &path, *token, None).await;
        assert_eq!(r.status().as_u16(), view, "{actor} view");
        let r = send(
            &app,
            "PATCH",
            &path,
            *token,
            Some(json!({ "description": format!("by {actor}") })),
        )
        .await;
        assert_eq!(r.status().as_u16(), update, "{actor} update owner's store");
        if update == 200 {
            assert_eq!(
                r.json::<Value>().await.unwrap()["description"],
                format!("by {actor}")
            );
        }
        let r = send(&app, "DELETE", &path, *token, None).await;
        assert_eq!(r.status().as_u16(), delete, "{actor} delete owner's store");
        let r = send(&app, "GET", &path, None, None).await;
        assert_eq!(
            r.status().as_u16(),
            if delete == 204 { 404 } else { 200 },
            "after {actor}'s delete"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn inactive_stores_are_hidden_from_everybody_but_their_owner_and_admins() {
    let app = TestApp::builder().without_worker().start().await;
    let owner = session(&app, "o@example.com", "vendor").await;
    let other = session(&app, "x@example.com", "vendor").await;
    let admin = app.admin_token().await;
    let store: Value = send(
        &app,
        "POST",
        "/api/v1/stores",
        Some(&owner),
        Some(json!({ "name": "Quiet Shop" })),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(store["slug"], "quiet-shop");
    let path = format!("/api/v1/stores/{}", store["id"].as_str().unwrap());
    let r = send(
        &app,
        "PATCH",
        &path,
        Some(&owner),
        Some(json!({ "active": false })),
    )
    .await;
    assert_eq!(r.status(), 200);

    let listing: Value = send(&app, "GET", "/api/v1/stores", None, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(listing["total"], 0);
    assert_problem(send(&app, "GET", &path, None, None).await, 404).await;
    assert_problem(send(&app, "GET", &path, Some(&other), None).await, 404).await;
    assert_problem(
        send(
            &app,
            "PATCH",
            &path,
            Some(&other),
            Some(json!({ "active": true })),
        )
        .await,
        404,
    )
    .await;
    assert_eq!(
        send(&app, "GET", &path, Some(&owner), None).await.status(),
        200
    );
    assert_eq!(
        send(&app, "GET", &path, Some(&admin), None).await.status(),
        200
    );

    let r = send(
        &app,
        "POST",
        "/api/v1/stores",
        Some(&other),
        Some(json!({ "name": "Another", "slug": "quiet-shop" })),
    )
    .await;
    assert_problem(r, 409).await;
    let r = send(
        &app,
        "POST",
        "/api/v1/stores",
        Some(&other),
        Some(json!({ "name": "", "slug": "Not A Slug" })),
    )
    .await;
    let body = assert_problem(r, 422).await;
    assert_eq!(body["errors"].as_array().unwrap().len(), 2);
    assert_problem(
        send(&app, "GET", "/api/v1/stores/not-an-id", None, None).await,
        404,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn categories_form_a_tree_that_only_admins_shape() {
    let app = TestApp::builder().without_worker().start().await;
    let admin = app.admin_token().await;
    let vendor = session(&app, "v@example.com", "vendor").await;
    let create = |token: String, body: Value| {
        let app = &app;
        async move { send(app, "POST", "/api/v1/categories", Some(&token), Some(body)).await }
    };
    assert_problem(create(vendor.clone(), json!({ "name": "Nope" })).await, 403).await;

    let clothes: Value = create(admin.clone(), json!({ "name": "Clothes", "position": 1 }))
        .await
        .json()
        .await
        .unwrap();
    let home: Value = create(admin.clone(), json!({ "name": "Home", "position": 0 }))
        .await
        .json()
        .await
        .unwrap();
    let shirts: Value = create(
        admin.clone(),
        json!({ "name": "Shirts", "parent_id": clothes["id"] }),
    )
    .await
    .json()
    .await
    .unwrap();
    let tees: Value = create(
        admin.clone(),
        json!({ "name": "T-Shirts", "parent_id": shirts["id"] }),
    )
    .await
    .json()
    .await
    .unwrap();
    assert_eq!(tees["slug"], "t-shirts");
    assert_problem(
        create(
            admin.clone(),
            json!({ "name": "Shirts again", "slug": "shirts" }),
        )
        .await,
        409,
    )
    .await;
    let body = assert_problem(
        create(
            admin.clone(),
            json!({ "name": "Orphan", "parent_id": uuid::Uuid::now_v7() }),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "parent_id");

    let tree: Value = send(&app, "GET", "/api/v1/categories", None, None)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(tree[0]["id"], home["id"], "ordered by position");
    assert_eq!(tree[0]["name"], "Home");
    assert_eq!(tree[1]["name"], "Clothes");
    assert_eq!(tree[1]["children"][0]["children"][0]["slug"], "t-shirts");

    // Moving a category inside its own subtree is refused; to the top is fine.
    let clothes_path = format!("/api/v1/categories/{}", clothes["id"].as_str().unwrap());
    let r = send(
        &app,
        "PATCH",
        &clothes_path,
        Some(&admin),
        Some(json!({ "parent_id": tees["id"] })),
    )
    .await;
    assert_problem(r, 422).await;
    let tees_path = format!("/api/v1/categories/{}", tees["id"].as_str().unwrap());
    let r = send(
        &app,
        "PATCH",
        &tees_path,
        Some(&admin),
        Some(json!({ "parent_id": null, "name": "Tees" })),
    )
    .await;
    assert_eq!(r.status(), 200);
    let moved: Value = r.json().await.unwrap();
    assert!(moved["parent_id"].is_null());
    assert_eq!(moved["name"], "Tees");

    // A category with subcategories cannot be deleted; a leaf can.
    assert_problem(
        send(&app, "DELETE", &clothes_path, Some(&admin), None).await,
        409,
    )
    .await;
    assert_problem(
        send(&app, "DELETE", &tees_path, Some(&vendor), None).await,
        403,
    )
    .await;
    assert_eq!(
        send(&app, "DELETE", &tees_path, Some(&admin), None)
            .await
            .status(),
        204
    );
    assert_problem(
        send(&app, "DELETE", &tees_path, Some(&admin), None).await,
        404,
    )
    .await;
}
