//! The cart (issue 4): guests by `X-Cart-Token`, users by bearer; quantities
//! bounded by what is available; totals always computed by the server; guest
//! carts merging into the user's at login and registration.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::{
    commerce::{
        add, amount, cart, cart_call, cart_expect, create_coupon, line, login_with_cart, money,
        register_with_cart, set_price, set_stock, shop, As, FREE_ABOVE, PRICE, SHIPPING,
    },
    fixtures::{customer, expect},
    harness::{assert_problem, error_fields, TestApp},
};

fn totals(cart: &Value) -> [i64; 5] {
    let t = &cart["totals"];
    [
        amount(&t["subtotal"]),
        amount(&t["discount"]),
        amount(&t["shipping"]),
        amount(&t["tax"]),
        amount(&t["total"]),
    ]
}

fn item_path(cart: &Value, sku: &str) -> String {
    format!(
        "/api/v1/cart/items/{}",
        line(cart, sku)["id"].as_str().unwrap()
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_gets_a_cart_token_and_adds_updates_and_removes_lines_with_it() {
    let app = TestApp::builder().without_worker().start().await;
    let shop = shop(&app).await;
    let small_red = shop.variant("CTEE-S-RED");
    let medium_blue = shop.variant("CTEE-M-BLUE");

    // The first add, without a token, creates the cart and issues one.
    let r = cart_call(
        &app,
        "POST",
        "/api/v1/cart/items",
        As::Guest(None),
        Some(json!({ "variant_id": small_red, "quantity": 2 })),
    )
    .await;
    assert_eq!(r.status(), 201);
    let header = r
        .headers()
        .get("X-Cart-Token")
        .expect("X-Cart-Token header")
        .to_str()
        .unwrap()
        .to_owned();
    let created: Value = r.json().await.unwrap();
    let token = created["token"].as_str().unwrap().to_owned();
    assert_eq!(token, header);
    assert!(created["id"].is_string(), "{created}");
    let guest = As::Guest(Some(&token));
    let item = line(&created, "CTEE-S-RED");
    assert_eq!(item["variant_id"], small_red.as_str());
    assert_eq!(item["product_id"], shop.catalog.product_id.as_str());
    assert_eq!(item["quantity"], 2);
    assert_eq!(item["available"], 10);
    assert_eq!(item["unit_price"], money(PRICE));
    assert_eq!(item["line_total"], money(2 * PRICE));
    assert!(item["name"].as_str().unwrap().contains("Classic Tee"));
    assert!(created["coupon"].is_null());
    assert_eq!(totals(&created), [2 * PRICE, 0, 0, 0, 2 * PRICE]);

    // The same variant again adds to its line; another variant is a new line.
    let again = add(&app, guest, &small_red, 3).await;
    assert_eq!(again["token"], token.as_str());
    assert_eq!(again["items"].as_array().unwrap().len(), 1);
    assert_eq!(line(&again, "CTEE-S-RED")["id"], item["id"]);
    assert_eq!(line(&again, "CTEE-S-RED")["quantity"], 5);
    let two = add(&app, guest, &medium_blue, 1).await;
    assert_eq!(two["items"].as_array().unwrap().len(), 2);
    assert_eq!(totals(&two)[0], 6 * PRICE);
    let read = cart(&app, guest).await;
    assert_eq!(
        (&read["items"], &read["totals"]),
        (&two["items"], &two["totals"])
    );

    let updated = cart_expect(
        &app,
        "PATCH",
        &item_path(&two, "CTEE-S-RED"),
        guest,
        Some(json!({ "quantity": 7 })),
        200,
    )
    .await;
    assert_eq!(line(&updated, "CTEE-S-RED")["quantity"], 7);
    assert_eq!(line(&updated, "CTEE-S-RED")["line_total"], money(7 * PRICE));
    assert_eq!(totals(&updated)[0], 8 * PRICE);
    let removed = cart_expect(
        &app,
        "DELETE",
        &item_path(&updated, "CTEE-M-BLUE"),
        guest,
        None,
        200,
    )
    .await;
    let skus: Vec<&str> = removed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["sku"].as_str().unwrap())
        .collect();
    assert_eq!(skus, ["CTEE-S-RED"]);
    assert_eq!(totals(&removed)[4], 7 * PRICE);

    // A cart holds nothing back: the shop still offers all ten.
    let product = expect(
        &app,
        "GET",
        &format!("/api/v1/products/{}", shop.catalog.product_id),
        None,
        None,
        200,
    )
    .await;
    let offered = product["variants"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["id"] == small_red.as_str())
        .unwrap();
    assert_eq!(offered["available"], 10);

    // Nobody's cart without a token or a bearer: an empty one.
    let empty = cart(&app, As::Guest(None)).await;
    assert!(empty["id"].is_null(), "{empty}");
    assert_eq!(empty["items"], json!([]));
    assert_eq!(amount(&empty["totals"]["total"]), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_guest_token_is_404_except_when_adding_which_starts_a_new_cart() {
    let app = TestApp::builder().without_worker().start().await;
    let shop = shop(&app).await;
    let mine = add(&app, As::Guest(None), &shop.variant("CTEE-S-RED"), 1).await;
    let item = line(&mine, "CTEE-S-RED")["id"].as_str().unwrap().to_owned();
    let unknown = As::Guest(Some("no-such-cart-token"));

    assert_problem(
        cart_call(&app, "GET", "/api/v1/cart", unknown, None).await,
        404,
    )
    .await;
    let path = format!("/api/v1/cart/items/{item}");
    let patch = Some(json!({ "quantity": 2 }));
    assert_problem(cart_call(&app, "PATCH", &path, unknown, patch).await, 404).await;
    assert_problem(cart_call(&app, "DELETE", &path, unknown, None).await, 404).await;

    let fresh = add(&app, unknown, &shop.variant("CTEE-M-RED"), 1).await;
    let new_token = fresh["token"].as_str().unwrap();
    assert_ne!(new_token, "no-such-cart-token");
    assert_ne!(new_token, mine["token"].as_str().unwrap());
    assert_ne!(fresh["id"], mine["id"]);
    assert_eq!(fresh["items"].as_array().unwrap().len(), 1);

    // Another guest's line is not reachable with one's own token.
    let other = As::Guest(Some(new_token));
    let patch = Some(json!({ "quantity": 2 }));
    assert_problem(cart_call(&app, "PATCH", &path, other, patch).await, 404).await;
    let token = mine["token"].as_str().unwrap();
    assert_eq!(
        line(&cart(&app, As::Guest(Some(token))).await, "CTEE-S-RED")["quantity"],
        1
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_more_than_is_available_is_a_conflict_naming_the_line() {
    let app = TestApp::builder().without_worker().start().await;
    let shop = shop(&app).await;
    let ann = customer(&app, "ann@example.com").await;
    let me = As::User(&ann);
    let small_red = shop.variant("CTEE-S-RED");
    let items = "/api/v1/cart/items";

    let r = cart_call(
        &app,
        "POST",
        items,
        me,
        Some(json!({ "variant_id": small_red, "quantity": 11 })),
    )
    .await;
    let problem = assert_problem(r, 409).await;
    assert_eq!(
        problem["lines"],
        json!([{ "variant_id": small_red, "sku": "CTEE-S-RED", "requested": 11, "available": 10 }])
    );
    assert_eq!(cart(&app, me).await["items"], json!([]));

    // Adding to a line counts what is already in it.
    let six = add(&app, me, &small_red, 6).await;
    let r = cart_call(
        &app,
        "POST",
        items,
        me,
        Some(json!({ "variant_id": small_red, "quantity": 5 })),
    )
    .await;
    let problem = assert_problem(r, 409).await;
    assert_eq!(problem["lines"][0]["sku"], "CTEE-S-RED");
    assert_eq!(problem["lines"][0]["available"], 10);
    assert_eq!(line(&cart(&app, me).await, "CTEE-S-RED")["quantity"], 6);

    let path = item_path(&six, "CTEE-S-RED");
    let r = cart_call(&app, "PATCH", &path, me, Some(json!({ "quantity": 11 }))).await;
    let problem = assert_problem(r, 409).await;
    assert_eq!(problem["lines"][0]["requested"], 11);
    assert_eq!(problem["lines"][0]["available"], 10);
    let ten = cart_expect(
        &app,
        "PATCH",
        &path,
        me,
        Some(json!({ "quantity": 10 })),
        200,
    )
    .await;
    assert_eq!(line(&ten, "CTEE-S-RED")["quantity"], 10);

    // Less in stock: the line shows it, and asking for more than that is refused.
    set_stock(&app, &shop, &small_red, 4).await;
    assert_eq!(line(&cart(&app, me).await, "CTEE-S-RED")["available"], 4);
    let r = cart_call(&app, "PATCH", &path, me, Some(json!({ "quantity": 5 }))).await;
    let problem = assert_problem(r, 409).await;
    assert_eq!(problem["lines"][0]["available"], 4);
    let four = cart_expect(
        &app,
        "PATCH",
        &path,
        me,
        Some(json!({ "quantity": 4 })),
        200,
    )
    .await;
    assert_eq!(line(&four, "CTEE-S-RED")["quantity"], 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_quantities_and_unknown_or_inactive_variants_are_422() {
    let app = TestApp::builder().without_worker().start().await;
    let shop = shop(&app).await;
    let ann = customer(&app, "ann@example.com").await;
    let me = As::User(&ann);
    let small_red = shop.variant("CTEE-S-RED");
    let items = "/api/v1/cart/items";

    for quantity in [json!(0), json!(-1), json!(1000), json!("two"), json!(1.5)] {
        let r = cart_call(
            &app,
            "POST",
            items,
            me,
            Some(json!({ "variant_id": small_red, "quantity": quantity })),
        )
        .await;
        let problem = assert_problem(r, 422).await;
        assert_eq!(error_fields(&problem), ["quantity"], "{quantity}");
    }
    let r = cart_call(
        &app,
        "POST",
        items,
        me,
        Some(json!({ "variant_id": small_red })),
    )
    .await;
    assert_eq!(error_fields(&assert_problem(r, 422).await), ["quantity"]);

    let r = cart_call(
        &app,
        "POST",
        items,
        me,
        Some(json!({ "variant_id": Uuid::now_v7(), "quantity": 1 })),
    )
    .await;
    assert_eq!(error_fields(&assert_problem(r, 422).await), ["variant_id"]);
    let large_blue = shop.variant("CTEE-L-BLUE");
    expect(
        &app,
        "PATCH",
        &format!("/api/v1/variants/{large_blue}"),
        Some(&shop.catalog.vendor),
        Some(json!({ "active": false })),
        200,
    )
    .await;
    let r = cart_call(
        &app,
        "POST",
        items,
        me,
        Some(json!({ "variant_id": large_blue, "quantity": 1 })),
    )
    .await;
    assert_eq!(error_fields(&assert_problem(r, 422).await), ["variant_id"]);

    let one = add(&app, me, &small_red, 1).await;
    let path = item_path(&one, "CTEE-S-RED");
    for quantity in [0, -3, 1000] {
        let r = cart_call(
            &app,
            "PATCH",
            &path,
            me,
            Some(json!({ "quantity": quantity })),
        )
        .await;
        let problem = assert_problem(r, 422).await;
        assert_eq!(error_fields(&problem), ["quantity"], "{quantity}");
    }
    assert_eq!(cart(&app, me).await, one);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totals_come_from_the_server_with_coupon_shipping_and_inclusive_tax() {
    let app = TestApp::builder()
        .without_worker()
        .var("TAX_RATE_BPS", "1200")
        .start()
        .await;
    let shop = shop(&app).await;
    let ann = customer(&app, "ann@example.com").await;
    let me = As::User(&ann);
    let medium_red = shop.variant("CTEE-M-RED");
    set_price(&app, &shop, &medium_red, 333_335).await;
    set_stock(&app, &shop, &medium_red, 20).await;

    let methods = expect(&app, "GET", "/api/v1/shipping-methods", None, None, 200).await;
    let courier = methods
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["id"] == shop.shipping_method_id.as_str())
        .unwrap();
    assert_eq!(courier["name"], "Courier");
    assert_eq!(courier["price"], money(SHIPPING));
    assert_eq!(courier["free_above"], money(FREE_ABOVE));
    assert_eq!(courier["estimated_days"], json!({ "min": 2, "max": 5 }));

    create_coupon(
        &app,
        &shop,
        json!({ "code": "TEN-OFF", "kind": "percent", "value": 10 }),
    )
    .await;
    add(&app, me, &medium_red, 3).await;
    let with_coupon = cart_expect(
        &app,
        "POST",
        "/api/v1/cart/coupon",
        me,
        Some(json!({ "code": "ten-off" })),
        200,
    )
    .await;
    // 3 x 3 333.35 = 10 000.05; 10 % of it is 1 000.005, rounded half up.
    assert_eq!(with_coupon["coupon"]["code"], "TEN-OFF");
    assert_eq!(with_coupon["coupon"]["discount"], money(100_001));
    let [subtotal, discount, shipping, tax, total] = totals(&with_coupon);
    assert_eq!((subtotal, discount, shipping), (1_000_005, 100_001, 0));
    // Inclusive tax: the part of the total that is tax, 1200 / 11200 of it.
    assert_eq!((tax, total), (96_429, 900_004));

    let path = format!(
        "/api/v1/cart?shipping_method_id={}",
        shop.shipping_method_id
    );
    let shipped = cart_expect(&app, "GET", &path, me, None, 200).await;
    assert_eq!(
        totals(&shipped),
        [1_000_005, 100_001, SHIPPING, 112_500, 1_050_004]
    );

    // 17 x 3 333.35 = 56 666.95, less 10 % (5 666.695 -> 5 666.70): above
    // 50 000.00, so shipping is free.
    let path_17 = format!(
        "/api/v1/cart/items/{}",
        line(&shipped, "CTEE-M-RED")["id"].as_str().unwrap()
    );
    cart_expect(
        &app,
        "PATCH",
        &path_17,
        me,
        Some(json!({ "quantity": 17 })),
        200,
    )
    .await;
    let free = cart_expect(&app, "GET", &path, me, None, 200).await;
    assert_eq!(totals(&free), [5_666_695, 566_670, 0, 546_431, 5_100_025]);

    let without = cart_expect(&app, "DELETE", "/api/v1/cart/coupon", me, None, 200).await;
    assert!(without["coupon"].is_null(), "{without}");
    assert_eq!(totals(&without)[..2], [5_666_695, 0]);
    assert_eq!(totals(&without)[4], 5_666_695);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn coupons_that_cannot_apply_are_422_on_the_code_field() {
    let app = TestApp::builder().without_worker().start().await;
    let shop = shop(&app).await;
    let ann = customer(&app, "ann@example.com").await;
    let me = As::User(&ann);
    add(&app, me, &shop.variant("CTEE-S-RED"), 2).await;
    let now = chrono::Utc::now();
    let day = chrono::Duration::days(1);
    for coupon in [
        json!({ "code": "BIG-SPENDER", "kind": "fixed", "value": 100_000,
                "min_order": money(2_000_000) }),
        json!({ "code": "LAST-WEEK", "kind": "percent", "value": 20,
                "starts_at": now - day * 7, "ends_at": now - day }),
        json!({ "code": "NEXT-WEEK", "kind": "percent", "value": 20,
                "starts_at": now + day, "ends_at": now + day * 7 }),
        json!({ "code": "SWITCHED-OFF", "kind": "percent", "value": 20, "active": false }),
    ] {
        create_coupon(&app, &shop, coupon).await;
    }

    for code in [
        "NO-SUCH-CODE",
        "big-spender",
        "LAST-WEEK",
        "NEXT-WEEK",
        "SWITCHED-OFF",
    ] {
        let r = cart_call(
            &app,
            "POST",
            "/api/v1/cart/coupon",
            me,
            Some(json!({ "code": code })),
        )
        .await;
        let problem = assert_problem(r, 422).await;
        assert_eq!(error_fields(&problem), ["code"], "{code}");
    }
    let unchanged = cart(&app, me).await;
    assert!(unchanged["coupon"].is_null(), "{unchanged}");
    assert_eq!(totals(&unchanged), [2 * PRICE, 0, 0, 0, 2 * PRICE]);

    // With enough in the cart the minimum is met: a fixed discount.
    add(&app, me, &shop.variant("CTEE-M-RED"), 2).await;
    let applied = cart_expect(
        &app,
        "POST",
        "/api/v1/cart/coupon",
        me,
        Some(json!({ "code": "BIG-SPENDER" })),
        200,
    )
    .await;
    assert_eq!(applied["coupon"]["discount"], money(100_000));
    assert_eq!(totals(&applied)[4], 4 * PRICE - 100_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_cart_merges_into_the_users_cart_at_login_capped_by_stock() {
    let app = TestApp::builder().without_worker().start().await;
    let shop = shop(&app).await;
    let small_red = shop.variant("CTEE-S-RED");
    let medium_red = shop.variant("CTEE-M-RED");
    create_coupon(
        &app,
        &shop,
        json!({ "code": "TEN-OFF", "kind": "percent", "value": 10 }),
    )
    .await;
    create_coupon(
        &app,
        &shop,
        json!({ "code": "FIVE-OFF", "kind": "percent", "value": 5 }),
    )
    .await;
    let earlier = customer(&app, "ann@example.com").await;
    add(&app, As::User(&earlier), &small_red, 8).await;

    let guest = add(&app, As::Guest(None), &small_red, 3).await;
    let token = guest["token"].as_str().unwrap().to_owned();
    add(&app, As::Guest(Some(&token)), &medium_red, 2).await;
    cart_expect(
        &app,
        "POST",
        "/api/v1/cart/coupon",
        As::Guest(Some(&token)),
        Some(json!({ "code": "TEN-OFF" })),
        200,
    )
    .await;

    let session = login_with_cart(&app, "ann@example.com", &token).await;
    // The client is told which line was capped: asked for, got.
    assert_eq!(
        session["cart_merge"],
        json!({ "capped": [
            { "variant_id": small_red, "sku": "CTEE-S-RED", "requested": 11, "got": 10 },
        ] }),
        "{session}"
    );
    let ann = session["access_token"].as_str().unwrap().to_owned();
    let merged = cart(&app, As::User(&ann)).await;
    assert_eq!(merged["items"].as_array().unwrap().len(), 2, "{merged}");
    assert_eq!(line(&merged, "CTEE-S-RED")["quantity"], 10, "8 + 3, capped");
    assert_eq!(line(&merged, "CTEE-M-RED")["quantity"], 2);
    assert_eq!(merged["coupon"]["code"], "TEN-OFF", "the guest's coupon");
    assert!(merged.get("token").is_none(), "{merged}");
    assert_problem(
        cart_call(&app, "GET", "/api/v1/cart", As::Guest(Some(&token)), None).await,
        404,
    )
    .await;

    // A second guest cart with its own coupon: the user's coupon stays.
    let second = add(&app, As::Guest(None), &medium_red, 1).await;
    let token = second["token"].as_str().unwrap().to_owned();
    cart_expect(
        &app,
        "POST",
        "/api/v1/cart/coupon",
        As::Guest(Some(&token)),
        Some(json!({ "code": "FIVE-OFF" })),
        200,
    )
    .await;
    let session = login_with_cart(&app, "ann@example.com", &token).await;
    assert_eq!(session["cart_merge"], json!({ "capped": [] }), "{session}");
    let ann = session["access_token"].as_str().unwrap().to_owned();
    let merged = cart(&app, As::User(&ann)).await;
    assert_eq!(line(&merged, "CTEE-S-RED")["quantity"], 10);
    assert_eq!(line(&merged, "CTEE-M-RED")["quantity"], 3);
    assert_eq!(merged["coupon"]["code"], "TEN-OFF");
    // 13 x 5 000.00 = 65 000.00, less 10 %.
    assert_eq!(totals(&merged)[..2], [13 * PRICE, 13 * PRICE / 10]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_guest_cart_becomes_the_new_customers_cart_at_registration() {
    let app = TestApp::builder().without_worker().start().await;
    let shop = shop(&app).await;
    let guest = add(&app, As::Guest(None), &shop.variant("CTEE-L-BLUE"), 2).await;
    let token = guest["token"].as_str().unwrap().to_owned();
    add(
        &app,
        As::Guest(Some(&token)),
        &shop.variant("CTEE-S-BLUE"),
        1,
    )
    .await;

    let bob = register_with_cart(&app, "bob@example.com", &token).await;
    let mine = cart(&app, As::User(&bob)).await;
    assert!(mine["id"].is_string(), "{mine}");
    assert_eq!(mine["items"].as_array().unwrap().len(), 2, "{mine}");
    assert_eq!(line(&mine, "CTEE-L-BLUE")["quantity"], 2);
    assert_eq!(line(&mine, "CTEE-S-BLUE")["quantity"], 1);
    assert_eq!(totals(&mine)[0], 3 * PRICE);
    assert_problem(
        cart_call(&app, "GET", "/api/v1/cart", As::Guest(Some(&token)), None).await,
        404,
    )
    .await;

    // A bearer always means the user's cart, whatever token comes along.
    let other = add(&app, As::Guest(None), &shop.variant("CTEE-M-BLUE"), 1).await;
    let r = app
        .client
        .get(app.url("/api/v1/cart"))
        .bearer_auth(bob.as_str())
        .header("X-Cart-Token", other["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.unwrap()["id"], mine["id"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_price_past_what_a_cart_can_total_is_refused_and_never_breaks_a_cart() {
    let app = TestApp::builder().without_worker().start().await;
    let shop = shop(&app).await;
    let variant = shop.variant("CTEE-S-RED");
    set_stock(&app, &shop, &variant, 10).await;

    // Prices are bounded where they are set.
    for amount in [i64::MAX, 1_000_000_000_001] {
        let r = crate::fixtures::send(
            &app,
            "PATCH",
            &format!("/api/v1/variants/{variant}"),
            Some(&shop.catalog.vendor),
            Some(json!({ "price": money(amount) })),
        )
        .await;
        let problem = assert_problem(r, 422).await;
        assert_eq!(error_fields(&problem), ["price.amount"], "{problem}");
    }
    set_price(&app, &shop, &variant, 1_000_000_000_000).await;

    // A price stored before the bound existed: three units cannot be priced.
    sqlx::query("UPDATE variants SET price = $2 WHERE id = $1::uuid")
        .bind(&variant)
        .bind(i64::MAX / 2)
        .execute(&app.pool)
        .await
        .unwrap();
    let ann = customer(&app, "ann@example.com").await;
    let r = cart_call(
        &app,
        "POST",
        "/api/v1/cart/items",
        As::User(&ann),
        Some(json!({ "variant_id": variant, "quantity": 3 })),
    )
    .await;
    assert_problem(r, 422).await;
    // Nothing was stored: the cart still answers, empty.
    assert_eq!(cart(&app, As::User(&ann)).await["items"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cart_lines_carry_the_product_slug_and_first_image() {
    let app = TestApp::builder().without_worker().start().await;
    let shop = shop(&app).await;
    let product: Value = app
        .client
        .get(app.url(&format!("/api/v1/products/{}", shop.catalog.product_id)))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let guest = add(&app, As::Guest(None), &shop.variant("CTEE-S-RED"), 1).await;
    let token = guest["token"].as_str().unwrap().to_owned();
    let line = &guest["items"][0];
    assert_eq!(line["product_slug"], product["slug"], "{line}");
    assert_eq!(line["image_url"], Value::Null, "no image yet: {line}");

    let mut urls = Vec::new();
    for size in [1_000, 2_000] {
        let r = crate::fixtures::upload(
            &app,
            &shop.catalog.vendor,
            &shop.catalog.product_id,
            crate::fixtures::png(size),
            "image/png",
        )
        .await;
        assert_eq!(r.status(), 201);
        let image: Value = r.json().await.unwrap();
        urls.push(image["url"].as_str().unwrap().to_owned());
    }
    let seen = cart(&app, As::Guest(Some(&token))).await;
    assert_eq!(seen["items"][0]["image_url"], urls[0].as_str(), "{seen}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_variant_on_sale_cannot_be_priced_at_zero() {
    let app = TestApp::builder().without_worker().start().await;
    let shop = shop(&app).await;
    let variant = shop.variant("CTEE-S-RED");
    let path = format!("/api/v1/variants/{variant}");
    let zero = json!({ "price": money(0) });
    let r = crate::fixtures::send(
        &app,
        "PATCH",
        &path,
        Some(&shop.catalog.vendor),
        Some(zero.clone()),
    )
    .await;
    let problem = assert_problem(r, 422).await;
    assert_eq!(error_fields(&problem), ["price.amount"], "{problem}");
    // Taken off sale first, it may be zeroed (and must be priced to return).
    expect(
        &app,
        "PATCH",
        &path,
        Some(&shop.catalog.vendor),
        Some(json!({ "active": false })),
        200,
    )
    .await;
    expect(
        &app,
        "PATCH",
        &path,
        Some(&shop.catalog.vendor),
        Some(zero),
        200,
    )
    .await;
    let r = crate::fixtures::send(
        &app,
        "PATCH",
        &path,
        Some(&shop.catalog.vendor),
        Some(json!({ "active": true })),
    )
    .await;
    assert_problem(r, 422).await;
    let price: i64 = sqlx::query_scalar("SELECT price FROM variants WHERE id = $1::uuid")
        .bind(&variant)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(price, 0);
}
