//! Customers on WhatsApp (issue 10): order notices as approved templates
//! (free text only inside the 24-hour window), "status BZ-..." answered
//! for the order's own phone only, signed webhooks stored once, statuses
//! that only move forward, and Meta's failure codes. The fake Graph API
//! validates every request body against Meta's OpenAPI description.

use serde_json::{json, Value};

use crate::{
    commerce::{
        advance, kaspi_paid, kaspi_webhook, number, place, shop, Shop, KASPI_SECRET, PATIENCE,
        PHONE,
    },
    fixtures::{customer, expect, send},
    harness::{
        assert_problem, eventually,
        whatsapp::{envelope, inbound_message, sign, status_value, VERIFY_TOKEN},
        FakeWhatsApp, TestApp,
    },
    messengers_telegram::link,
};

/// `PHONE` as WhatsApp writes it.
const WA_ID: &str = "77012342345";

fn wa_id() -> String {
    PHONE.chars().filter(char::is_ascii_digit).collect()
}

fn approve_all(fake: &FakeWhatsApp) {
    for event in [
        "order_placed",
        "order_paid",
        "order_confirmed",
        "order_shipped",
        "order_delivered",
        "order_cancelled",
        "order_refunded",
        "payment_failed",
        "price_drop",
    ] {
        for lang in ["ru", "en"] {
            fake.approve_template(&format!("bazaar_{event}"), lang);
        }
    }
}

/// A customer with `PHONE` and WhatsApp switched on.
async fn whatsapp_customer(app: &TestApp, email: &str) -> String {
    let token = customer(app, email).await;
    expect(
        app,
        "PATCH",
        "/api/v1/me",
        Some(&token),
        Some(json!({ "phone": PHONE, "language": "en", "notifications": { "whatsapp": true } })),
        200,
    )
    .await;
    token
}

async fn wait_for_sent(fake: &FakeWhatsApp, n: usize) -> Vec<crate::harness::whatsapp::WaSent> {
    eventually(&format!("{n} WhatsApp messages"), PATIENCE, || async {
        let s = fake.sent();
        (s.len() >= n).then_some(s)
    })
    .await
}

/// The status of the message Meta knows as `provider_id`; `None` until the
/// worker has recorded Meta's id (the fake has the message a moment before
/// bazaar's row does).
async fn message_status(app: &TestApp, provider_id: &str) -> Option<String> {
    sqlx::query_scalar("SELECT status FROM messages WHERE provider_id = $1")
        .bind(provider_id)
        .fetch_optional(&app.pool)
        .await
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_order_paid_shipped_delivered_sends_one_message_per_channel_per_event() {
    let app = TestApp::builder()
        .telegram()
        .whatsapp()
        .var("KASPI_WEBHOOK_SECRET", KASPI_SECRET)
        .start()
        .await;
    let wa = app.whatsapp.as_ref().unwrap();
    approve_all(wa);
    let tg = app.telegram.as_ref().unwrap();
    let shop: Shop = shop(&app).await;
    let ann = whatsapp_customer(&app, "ann@example.com").await;
    link(&app, &ann, 4242, 1).await;

    let placed = place(&app, &ann, &shop.buy_now("kaspi", &[("CTEE-S-RED", 1)])).await;
    let order = number(&placed);
    assert_eq!(
        kaspi_webhook(&app, KASPI_SECRET, &kaspi_paid("kaspi-evt-1", &placed))
            .await
            .status(),
        200
    );
    crate::commerce::wait_for_status(&app, &ann, &order, "paid").await;
    for status in ["confirmed", "shipped", "delivered"] {
        advance(&app, &shop.catalog.admin, &order, status).await;
    }
    app.drain().await;
    wa.settle().await;

    // received, paid, confirmed, shipped, delivered: five events, each once
    // per channel.
    let events = ["received", "paid", "confirmed", "shipped", "delivered"];
    let per_channel: Vec<(String, i64)> = sqlx::query_as(
        "SELECT channel, count(*) FROM messages WHERE event LIKE 'order:%' GROUP BY channel ORDER BY channel",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(
        per_channel,
        vec![
            ("email".into(), 5),
            ("telegram".into(), 5),
            ("whatsapp".into(), 5)
        ]
    );
    let tg_texts: Vec<String> = tg
        .sent()
        .into_iter()
        .filter(|m| m.chat_id == 4242)
        .map(|m| m.text)
        .collect();
    assert_eq!(
        tg_texts.len(),
        1 + events.len(),
        "the link confirmation and one per event: {tg_texts:?}"
    );
    assert!(tg_texts
        .iter()
        .any(|t| t.contains(&order) && t.contains("shipped") && t.contains("KZ123456789")));

    let wa_sent: Vec<_> = wa
        .sent()
        .into_iter()
        .filter(|m| m.to.ends_with(&wa_id()))
        .collect();
    assert_eq!(wa_sent.len(), events.len(), "{wa_sent:?}");
    assert!(
        wa_sent.iter().all(|m| m.kind == "template"),
        "no window is open: templates only"
    );
    let shipped = wa_sent
        .iter()
        .find(|m| {
            m.template
                .as_ref()
                .is_some_and(|t| t.0 == "bazaar_order_shipped")
        })
        .expect("the shipped template");
    assert_eq!(
        shipped.template.as_ref().unwrap().1,
        "en",
        "the customer's language"
    );
    assert_eq!(
        shipped.params,
        vec![order.clone(), "shipped".into(), "KZ123456789".into()]
    );
    let mails = crate::commerce::mails_about(&app, "ann@example.com", &order);
    assert_eq!(mails.len(), events.len());

    // A duplicated job (the shipped notice's, delivered again) sends nothing more.
    sqlx::query(
        "INSERT INTO outbox (id, queue, kind, payload, idempotency_key, max_attempts)
         SELECT gen_random_uuid(), CASE channel WHEN 'email' THEN 'email' ELSE 'messenger' END,
                CASE channel WHEN 'email' THEN 'email.notice' ELSE 'messenger.' || channel END,
                jsonb_build_object('message', id, 'key', event || ':' || channel),
                event || ':' || channel || ':again', 3
         FROM messages WHERE event LIKE 'order:%:shipped'",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    app.drain().await;
    assert_eq!(wa.sent().len(), wa_sent.len());
    assert_eq!(
        tg.sent().iter().filter(|m| m.chat_id == 4242).count(),
        tg_texts.len()
    );
    assert_eq!(
        crate::commerce::mails_about(&app, "ann@example.com", &order).len(),
        events.len()
    );
    // Delivery reports arrived for each template and moved them forward.
    let delivered: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM messages WHERE channel = 'whatsapp' AND status = 'delivered'",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(delivered, 5);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_questions_are_answered_only_for_the_orders_own_phone() {
    let app = TestApp::builder().whatsapp().start().await;
    let wa = app.whatsapp.as_ref().unwrap();
    approve_all(wa);
    let shop: Shop = shop(&app).await;
    let ann = customer(&app, "ann@example.com").await;
    let order = number(
        &place(
            &app,
            &ann,
            &shop.buy_now("cash_on_delivery", &[("CTEE-S-RED", 1)]),
        )
        .await,
    );
    advance(&app, &shop.catalog.admin, &order, "confirmed").await;
    advance(&app, &shop.catalog.admin, &order, "shipped").await;

    assert_eq!(
        wa.deliver_inbound(&wa_id(), &format!("status {order}"))
            .await
            .status(),
        200
    );
    let sent = wait_for_sent(wa, 1).await;
    assert_eq!(
        sent[0].kind, "text",
        "a reply inside the window is free text"
    );
    let reply = sent[0].text.clone().unwrap();
    assert!(
        reply.contains(&order) && reply.contains("KZ123456789"),
        "{reply}"
    );

    // Someone else asks about Ann's order: nothing about it.
    assert_eq!(wa.deliver_inbound(WA_ID, &order).await.status(), 200);
    let sent = wait_for_sent(wa, 2).await;
    let other = sent[1].text.clone().unwrap();
    assert!(sent[1].to.ends_with(WA_ID));
    assert!(
        !other.contains("KZ123456789")
            && !other.contains("отправлен")
            && !other.contains("shipped"),
        "{other}"
    );
    // Chatter gets the help text.
    wa.deliver_inbound(WA_ID, "hello").await;
    let sent = wait_for_sent(wa, 3).await;
    assert!(sent[2].text.as_deref().unwrap().contains("BZ-000123"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_webhooks_store_nothing_and_duplicates_count_once() {
    let app = TestApp::builder().whatsapp().start().await;
    let wa = app.whatsapp.as_ref().unwrap();
    let body = envelope(inbound_message(&wa_id(), "wamid.DUP1", "hello")).to_string();
    let post = |signature: Option<String>| {
        let mut r = app
            .client
            .post(app.url("/webhooks/whatsapp"))
            .header("content-type", "application/json")
            .body(body.clone());
        if let Some(s) = signature {
            r = r.header("X-Hub-Signature-256", s);
        }
        r.send()
    };
    let forged = {
        let mut s = sign(body.as_bytes());
        s.replace_range(s.len() - 2.., if s.ends_with("00") { "11" } else { "00" });
        s
    };
    for bad in [
        None,
        Some(forged),
        Some("sha256=zz".to_owned()),
        Some(sign(b"another body")),
    ] {
        assert_problem(post(bad).await.unwrap(), 401).await;
    }
    // This message's rows only: once bazaar has answered it, the fake's
    // status webhooks about the answer are stored too.
    let stored = || async {
        sqlx::query_scalar::<_, i64>(
            "SELECT count(*) FROM inbound_updates WHERE external_id = 'message:wamid.DUP1'",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap()
    };
    let anything: i64 = sqlx::query_scalar("SELECT count(*) FROM inbound_updates")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(anything, 0, "nothing stored");
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE queue = 'inbound'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(jobs, 0, "nothing enqueued");

    let answers =
        futures::future::join_all((0..4).map(|_| post(Some(sign(body.as_bytes()))))).await;
    let mut new = 0;
    for r in answers {
        let r = r.unwrap();
        assert_eq!(r.status(), 200);
        new += r.json::<Value>().await.unwrap()["new"].as_i64().unwrap();
    }
    assert_eq!(new, 1, "concurrent duplicates: one is new");
    assert_eq!(stored().await, 1);
    wait_for_sent(wa, 1).await;
    app.drain().await;
    assert_eq!(wa.sent().len(), 1, "one answer");

    // Meta's verification handshake.
    let ok = wa.verify_subscription(VERIFY_TOKEN, "1158201444").await;
    assert_eq!(ok.status(), 200);
    assert_eq!(ok.text().await.unwrap(), "1158201444");
    let wrong = wa.verify_subscription("guess", "1158201444").await;
    assert_eq!(wrong.status(), 403);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_order_statuses_never_move_a_message_backwards() {
    let app = TestApp::builder().whatsapp().start().await;
    let wa = app.whatsapp.as_ref().unwrap();
    approve_all(wa);
    let shop: Shop = shop(&app).await;
    let ann = whatsapp_customer(&app, "ann@example.com").await;
    place(
        &app,
        &ann,
        &shop.buy_now("cash_on_delivery", &[("CTEE-S-RED", 1)]),
    )
    .await;
    let sent = wait_for_sent(wa, 1).await;
    let wamid = sent[0].id.clone();
    wa.settle().await;
    eventually("the delivery report", PATIENCE, || async {
        (message_status(&app, &wamid).await.as_deref() == Some("delivered")).then_some(())
    })
    .await;
    wa.send_status(&wamid, "read").await;
    eventually("read", PATIENCE, || async {
        (message_status(&app, &wamid).await.as_deref() == Some("read")).then_some(())
    })
    .await;
    // Late and repeated reports: sent, delivered, read again, and a failure.
    for late in ["sent", "delivered", "read"] {
        wa.send_status(&wamid, late).await;
    }
    let failed = status_value(
        &wamid,
        &wa_id(),
        "failed",
        Some(json!([{ "code": 131026, "title": "Message undeliverable" }])),
    );
    assert_eq!(wa.post_signed(envelope(failed)).await.status(), 200);
    app.drain().await;
    assert_eq!(message_status(&app, &wamid).await.as_deref(), Some("read"));
    let profile = expect(&app, "GET", "/api/v1/me", Some(&ann), None, 200).await;
    assert_eq!(
        profile["notifications"]["whatsapp"], true,
        "a failure after read changes nothing"
    );
    let admin = expect(
        &app,
        "GET",
        "/api/v1/admin/messages?channel=whatsapp&status=read",
        Some(&shop.catalog.admin),
        None,
        200,
    )
    .await;
    assert_eq!(admin["total"], 1);
    assert_eq!(admin["items"][0]["provider_id"], wamid.as_str());
    let bad = send(
        &app,
        "GET",
        "/api/v1/admin/messages?channel=sms&status=lost",
        Some(&shop.catalog.admin),
        None,
    )
    .await;
    let p = assert_problem(bad, 422).await;
    assert_eq!(crate::harness::error_fields(&p), vec!["channel", "status"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_window_falls_back_to_the_template_and_an_undeliverable_number_switches_whatsapp_off(
) {
    let app = TestApp::builder().whatsapp().start().await;
    let wa = app.whatsapp.as_ref().unwrap();
    approve_all(wa);
    let shop: Shop = shop(&app).await;
    let ann = whatsapp_customer(&app, "ann@example.com").await;
    // bazaar believes Ann wrote an hour ago (Meta does not: say, a clock
    // or a lost webhook): it sends free text, Meta fails it with 131047.
    sqlx::query("INSERT INTO whatsapp_contacts (wa_id, last_inbound_at) VALUES ($1, now() - interval '1 hour')")
        .bind(wa_id())
        .execute(&app.pool)
        .await
        .unwrap();
    place(
        &app,
        &ann,
        &shop.buy_now("cash_on_delivery", &[("CTEE-S-RED", 1)]),
    )
    .await;
    let sent = wait_for_sent(wa, 2).await;
    assert_eq!(sent[0].kind, "text");
    assert_eq!(sent[1].kind, "template", "the re-send after 131047");
    assert_eq!(sent[1].template.as_ref().unwrap().0, "bazaar_order_placed");
    wa.settle().await;
    app.drain().await;
    let rows: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT status, error FROM messages WHERE channel = 'whatsapp' ORDER BY created_at",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap();
    assert_eq!(rows[0].0, "failed");
    assert!(
        rows[0].1.as_deref().unwrap().starts_with("131047"),
        "{rows:?}"
    );
    assert_eq!(rows[1].0, "delivered");

    // Meta reports the number undeliverable: WhatsApp goes off, with why.
    wa.undeliverable(&wa_id());
    let second = number(
        &place(
            &app,
            &ann,
            &shop.buy_now("cash_on_delivery", &[("CTEE-S-RED", 1)]),
        )
        .await,
    );
    eventually("WhatsApp to be switched off", PATIENCE, || async {
        let p = expect(&app, "GET", "/api/v1/me", Some(&ann), None, 200).await;
        (p["notifications"]["whatsapp"] == false).then_some(p)
    })
    .await;
    let p = expect(&app, "GET", "/api/v1/me", Some(&ann), None, 200).await;
    assert!(
        p["channels"]["whatsapp"]["off_reason"]
            .as_str()
            .unwrap()
            .starts_with("131026"),
        "{p}"
    );
    let attempts = wa.attempts(&wa_id());
    advance(&app, &shop.catalog.admin, &second, "confirmed").await;
    app.drain().await;
    assert_eq!(
        wa.attempts(&wa_id()),
        attempts,
        "nothing more is sent to an undeliverable number"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_status_that_overtakes_its_message_id_is_applied_once_the_id_is_known() {
    let app = TestApp::builder().whatsapp().start().await;
    let wa = app.whatsapp.as_ref().unwrap();
    approve_all(wa);
    let shop: Shop = shop(&app).await;
    let ann = whatsapp_customer(&app, "ann@example.com").await;
    place(
        &app,
        &ann,
        &shop.buy_now("cash_on_delivery", &[("CTEE-S-RED", 1)]),
    )
    .await;
    wait_for_sent(wa, 1).await;
    wa.settle().await;
    app.drain().await;
    // Meta reports `read` for an id bazaar has not written yet (its write
    // lags the send's answer): the webhook is taken, and applied once the id
    // is there.
    let early = status_value("wamid.LATE-WRITE", &wa_id(), "read", None);
    assert_eq!(wa.post_signed(envelope(early)).await.status(), 200);
    eventually("the status job to wait for the id", PATIENCE, || async {
        let waiting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM outbox WHERE kind = 'inbound.whatsapp' AND status = 'pending'
               AND last_error LIKE 'no message wamid.LATE-WRITE%'",
        )
        .fetch_one(&app.pool)
        .await
        .unwrap();
        (waiting == 1).then_some(())
    })
    .await;
    sqlx::query("UPDATE messages SET provider_id = 'wamid.LATE-WRITE' WHERE channel = 'whatsapp'")
        .execute(&app.pool)
        .await
        .unwrap();
    eventually("the early status applied", PATIENCE, || async {
        (message_status(&app, "wamid.LATE-WRITE").await.as_deref() == Some("read")).then_some(())
    })
    .await;
    // A status for an id that never comes ends quietly (no failed job).
    let stray = status_value("wamid.NOT-OURS", &wa_id(), "delivered", None);
    assert_eq!(wa.post_signed(envelope(stray)).await.status(), 200);
}
