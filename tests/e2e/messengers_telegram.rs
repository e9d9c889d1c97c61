//! Customers on Telegram (issue 10): linking a chat by deep link, the bot's
//! commands, order notices on every enabled channel exactly once, the
//! shared flood limits, blocked bots and 429s, and the webhook's secret.
//! The fake Bot API enforces Telegram's limits and exact error texts; in
//! these tests the bot long-polls (the public URL is not https).

use std::time::Duration;

use serde_json::{json, Value};

use crate::{
    commerce::{advance, number, place, shop, Shop, PATIENCE},
    fixtures::{customer, expect, send},
    harness::{
        assert_problem, error_fields, eventually,
        telegram::{text_update, Limits, BOT_USERNAME},
        FakeTelegram, TestApp,
    },
};

/// The messages the fake accepted for `chat`, oldest first.
fn texts(fake: &FakeTelegram, chat: i64) -> Vec<String> {
    fake.sent()
        .into_iter()
        .filter(|m| m.chat_id == chat)
        .map(|m| m.text)
        .collect()
}

/// Waits until `chat` has received `n` messages; returns them.
async fn wait_for_texts(fake: &FakeTelegram, chat: i64, n: usize) -> Vec<String> {
    eventually(
        &format!("{n} Telegram messages to chat {chat}"),
        PATIENCE,
        || async {
            let t = texts(fake, chat);
            (t.len() >= n).then_some(t)
        },
    )
    .await
}

/// Sends `text` to the bot from `chat` as the next update.
fn say(fake: &FakeTelegram, update_id: i64, chat: i64, text: &str) {
    fake.push_update(text_update(update_id, chat, text));
}

/// The deep link's token.
async fn link_token(app: &TestApp, token: &str) -> String {
    let link = expect(
        app,
        "POST",
        "/api/v1/me/telegram-link",
        Some(token),
        None,
        201,
    )
    .await;
    let url = link["url"].as_str().unwrap();
    let prefix = format!("https://t.me/{BOT_USERNAME}?start=");
    assert!(url.starts_with(&prefix), "{url}");
    let start = url[prefix.len()..].to_owned();
    assert!(
        (1..=64).contains(&start.len())
            && start
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
        "a deep-link payload is at most 64 of A-Z a-z 0-9 _ -: {start}"
    );
    start
}

/// Links `chat` to the account as a customer would; returns after the bot
/// confirmed. `update_id` must be unused.
pub async fn link(app: &TestApp, token: &str, chat: i64, update_id: i64) {
    let fake = app.telegram.as_ref().unwrap();
    let before = texts(fake, chat).len();
    let start = link_token(app, token).await;
    say(fake, update_id, chat, &format!("/start {start}"));
    let t = wait_for_texts(fake, chat, before + 1).await;
    assert!(t[before].contains("Telegram is linked"), "{}", t[before]);
}

async fn me(app: &TestApp, token: &str) -> Value {
    expect(app, "GET", "/api/v1/me", Some(token), None, 200).await
}

async fn english(app: &TestApp, token: &str) {
    expect(
        app,
        "PATCH",
        "/api/v1/me",
        Some(token),
        Some(json!({ "language": "en" })),
        200,
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deep_link_binds_the_chat_once_and_stop_unlinks_it() {
    let app = TestApp::builder().telegram().start().await;
    let fake = app.telegram.as_ref().unwrap();
    let ann = customer(&app, "ann@example.com").await;
    english(&app, &ann).await;
    assert_eq!(
        me(&app, &ann).await["channels"]["telegram"]["linked"],
        false
    );

    let start = link_token(&app, &ann).await;
    say(fake, 1, 501, &format!("/start {start}"));
    let t = wait_for_texts(fake, 501, 1).await;
    assert!(t[0].contains("Telegram is linked"), "{t:?}");
    let profile = me(&app, &ann).await;
    assert_eq!(profile["channels"]["telegram"]["linked"], true);
    assert_eq!(
        profile["notifications"]["telegram"], true,
        "linking switches it on"
    );

    // Pressing the same link again from the same chat: the same answer.
    say(fake, 2, 501, &format!("/start {start}"));
    let t = wait_for_texts(fake, 501, 2).await;
    assert!(t[1].contains("Telegram is linked"), "{t:?}");
    // Another chat with the used token binds nothing.
    say(fake, 3, 502, &format!("/start {start}"));
    let t = wait_for_texts(fake, 502, 1).await;
    assert!(
        t[0].contains("link does not work") || t[0].contains("Ссылка недействительна"),
        "{t:?}"
    );
    let bound: Vec<i64> =
        sqlx::query_scalar("SELECT telegram_chat_id FROM users WHERE telegram_chat_id IS NOT NULL")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(bound, vec![501]);

    // An expired token binds nothing either.
    let late = link_token(&app, &ann).await;
    sqlx::query("UPDATE telegram_link_tokens SET expires_at = now() - interval '1 second' WHERE used_at IS NULL")
        .execute(&app.pool)
        .await
        .unwrap();
    say(fake, 4, 503, &format!("/start {late}"));
    let t = wait_for_texts(fake, 503, 1).await;
    assert!(!t[0].contains("linked"), "{t:?}");

    say(fake, 5, 501, "/stop");
    let t = wait_for_texts(fake, 501, 3).await;
    assert!(t[2].contains("unlinked"), "{t:?}");
    let profile = me(&app, &ann).await;
    assert_eq!(profile["channels"]["telegram"]["linked"], false);
    assert_eq!(profile["notifications"]["telegram"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn orders_and_track_show_only_the_linked_customers_own_orders() {
    let app = TestApp::builder().telegram().start().await;
    let fake = app.telegram.as_ref().unwrap();
    let shop: Shop = shop(&app).await;
    let ann = customer(&app, "ann@example.com").await;
    let bob = customer(&app, "bob@example.com").await;
    english(&app, &ann).await;
    english(&app, &bob).await;
    link(&app, &ann, 601, 1).await;
    link(&app, &bob, 602, 2).await;
    let hers = number(
        &place(
            &app,
            &ann,
            &shop.buy_now("cash_on_delivery", &[("CTEE-S-RED", 1)]),
        )
        .await,
    );
    advance(&app, &shop.catalog.admin, &hers, "confirmed").await;
    advance(&app, &shop.catalog.admin, &hers, "shipped").await;
    // The order's notices reach Ann's chat: received, confirmed, shipped.
    let before = wait_for_texts(fake, 601, 4).await.len();

    say(fake, 3, 601, "/orders");
    let t = wait_for_texts(fake, 601, before + 1).await;
    assert!(
        t[before].contains(&hers) && t[before].contains("shipped"),
        "{}",
        t[before]
    );

    say(fake, 4, 601, &format!("/track {}", hers.to_lowercase()));
    let t = wait_for_texts(fake, 601, before + 2).await;
    assert!(
        t[before + 1].contains(&hers) && t[before + 1].contains("KZ123456789"),
        "{}",
        t[before + 1]
    );

    // Bob asks about Ann's order: nothing about it.
    let bob_before = texts(fake, 602).len();
    say(fake, 5, 602, &format!("/track {hers}"));
    let t = wait_for_texts(fake, 602, bob_before + 1).await;
    let answer = &t[bob_before];
    assert!(answer.contains("not among your orders"), "{answer}");
    assert!(
        !answer.contains("shipped") && !answer.contains("KZ123456789"),
        "{answer}"
    );
    say(fake, 6, 602, "/orders");
    let t = wait_for_texts(fake, 602, bob_before + 2).await;
    assert!(
        t[bob_before + 1].contains("no orders"),
        "{}",
        t[bob_before + 1]
    );

    // /help and anything else: the help text.
    say(fake, 7, 602, "/help");
    say(fake, 8, 602, "where is my parcel?");
    let t = wait_for_texts(fake, 602, bob_before + 4).await;
    assert!(t[bob_before + 2].contains("/track") && t[bob_before + 3].contains("/track"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_webhook_checks_its_secret_and_stores_each_update_once() {
    let app = TestApp::builder().telegram().start().await;
    let fake = app.telegram.as_ref().unwrap();
    let secret = app.vars["TELEGRAM_WEBHOOK_SECRET"].clone();
    let update = text_update(9001, 701, "/help");
    let post = |header: Option<&str>| {
        let mut r = app
            .client
            .post(app.url("/webhooks/telegram"))
            .header("content-type", "application/json")
            .body(update.to_string());
        if let Some(h) = header {
            r = r.header("X-Telegram-Bot-Api-Secret-Token", h);
        }
        r.send()
    };
    for forged in [None, Some("wrong-secret"), Some("")] {
        assert_problem(post(forged).await.unwrap(), 401).await;
    }
    let stored = || async {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM inbound_updates")
            .fetch_one(&app.pool)
            .await
            .unwrap();
        let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE queue = 'inbound'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
        (n, jobs)
    };
    assert_eq!(
        stored().await,
        (0, 0),
        "a forged update stores and queues nothing"
    );

    let first = post(Some(&secret)).await.unwrap();
    assert_eq!(first.status(), 200);
    assert_eq!(first.json::<Value>().await.unwrap()["new"], 1);
    // Telegram redelivers; concurrently, too.
    let again = futures::future::join_all((0..5).map(|_| post(Some(&secret)))).await;
    for r in again {
        let r = r.unwrap();
        assert_eq!(r.status(), 200);
        assert_eq!(r.json::<Value>().await.unwrap()["new"], 0);
    }
    assert_eq!(stored().await, (1, 1));
    wait_for_texts(fake, 701, 1).await;
    app.drain().await;
    assert_eq!(texts(fake, 701).len(), 1, "one update, one answer");
    let not_json = app
        .client
        .post(app.url("/webhooks/telegram"))
        .header("X-Telegram-Bot-Api-Secret-Token", &secret)
        .body("{")
        .send()
        .await
        .unwrap();
    assert_problem(not_json, 400).await;
}

/// Registers customers straight in the database with a linked chat each
/// and a price alert on `product`: a broadcast's audience without 300 bot
/// conversations.
async fn audience(app: &TestApp, product: &str, chats: std::ops::Range<i64>) {
    sqlx::query(
        "WITH u AS (
             INSERT INTO users (id, email, password_hash, name, role, notify_email, notify_telegram, telegram_chat_id, language)
             SELECT gen_random_uuid(), 'fan' || c || '@example.com', 'x', 'Fan ' || c, 'customer', false, true, c, 'en'
             FROM generate_series($1::bigint, $2::bigint - 1) AS c
             RETURNING id)
         INSERT INTO wishlist_items (user_id, product_id, price_alert) SELECT id, $3::uuid, true FROM u",
    )
    .bind(chats.start)
    .bind(chats.end)
    .bind(uuid::Uuid::parse_str(product).unwrap())
    .execute(&app.pool)
    .await
    .unwrap();
}

/// The most messages the fake accepted within any `window`.
fn busiest(at: &[std::time::Instant], window: Duration) -> usize {
    let mut at = at.to_vec();
    at.sort();
    let mut best = 0;
    let mut start = 0;
    for end in 0..at.len() {
        while at[end] - at[start] >= window {
            start += 1;
        }
        best = best.max(end - start + 1);
    }
    best
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_to_300_chats_stays_under_the_global_limit_in_one_worker() {
    broadcast(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broadcast_to_300_chats_stays_under_the_global_limit_with_two_workers() {
    broadcast(2).await;
}

/// 300 price-drop notices to 300 chats with the overall limit at 60/s,
/// sent by `workers` worker processes' worth of workers (each with its own
/// limiter client: the limit is shared through Redis only).
async fn broadcast(workers: usize) {
    let limits = Limits {
        per_chat_per_sec: 1,
        overall_per_sec: 60,
    };
    let app = TestApp::builder()
        .telegram_limits(limits)
        .var("TELEGRAM_RATE_OVERALL", "60")
        .start()
        .await;
    for _ in 1..workers {
        app.start_worker();
    }
    let fake = app.telegram.as_ref().unwrap();
    let shop: Shop = shop(&app).await;
    audience(&app, &shop.catalog.product_id, 10_000..10_300).await;
    let variant = shop.variant("CTEE-M-BLUE");
    crate::commerce::set_price(&app, &shop, &variant, 400_000).await;

    let sent = eventually(
        "300 price-drop messages",
        Duration::from_secs(90),
        || async {
            let s = fake.sent();
            (s.iter().filter(|m| m.chat_id >= 10_000).count() >= 300).then_some(s)
        },
    )
    .await;
    let at: Vec<_> = sent.iter().map(|m| m.at).collect();
    let peak = busiest(&at, Duration::from_secs(1));
    assert!(peak <= 60, "{peak} messages within one second");
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
    let chats: std::collections::HashSet<i64> = sent.iter().map(|m| m.chat_id).collect();
    assert_eq!(chats.len(), 300, "each chat once");
    assert!(sent.iter().all(|m| m.text.contains("Price drop")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_bot_switches_telegram_off_and_is_not_retried() {
    let app = TestApp::builder().telegram().start().await;
    let fake = app.telegram.as_ref().unwrap();
    let shop: Shop = shop(&app).await;
    let ann = customer(&app, "ann@example.com").await;
    link(&app, &ann, 801, 1).await;
    fake.block(801);
    let first = number(
        &place(
            &app,
            &ann,
            &shop.buy_now("cash_on_delivery", &[("CTEE-S-RED", 1)]),
        )
        .await,
    );
    let status: String = eventually("the notice to fail", PATIENCE, || async {
        sqlx::query_scalar(
            "SELECT status FROM messages WHERE channel = 'telegram' AND event LIKE 'order:%:received'",
        )
        .fetch_optional(&app.pool)
        .await
        .unwrap()
        .filter(|s: &String| s != "queued")
    })
    .await;
    assert_eq!(status, "failed");
    app.drain().await;
    assert_eq!(
        fake.attempts(801),
        2,
        "the link confirmation, then one try: no retries"
    );
    let profile = me(&app, &ann).await;
    assert_eq!(profile["notifications"]["telegram"], false);
    assert_eq!(
        profile["channels"]["telegram"]["off_reason"],
        "Forbidden: bot was blocked by the user"
    );
    // Later events are not even queued for Telegram.
    advance(&app, &shop.catalog.admin, &first, "confirmed").await;
    app.drain().await;
    assert_eq!(fake.attempts(801), 2);
    let admin_view = expect(
        &app,
        "GET",
        "/api/v1/admin/messages?channel=telegram&status=failed",
        Some(&shop.catalog.admin),
        None,
        200,
    )
    .await;
    assert_eq!(admin_view["total"], 1);
    assert_eq!(admin_view["items"][0]["order_number"], first.as_str());
    assert!(admin_view["items"][0]["error"]
        .as_str()
        .unwrap()
        .contains("blocked"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_429_is_retried_after_telegrams_retry_after() {
    let app = TestApp::builder()
        .telegram()
        .var("QUEUE_MESSENGER_BACKOFF_BASE_MS", "100")
        .start()
        .await;
    let fake = app.telegram.as_ref().unwrap();
    let ann = customer(&app, "ann@example.com").await;
    english(&app, &ann).await;
    fake.rate_limit_next(1, 2);
    let start = link_token(&app, &ann).await;
    say(fake, 1, 901, &format!("/start {start}"));
    let t = wait_for_texts(fake, 901, 1).await;
    assert!(t[0].contains("linked"));
    assert_eq!(fake.attempts(901), 2, "refused once, then sent");
    // The fake answers before the worker records the send: wait for the row.
    let (first_try, sent_at) = eventually("the message recorded as sent", PATIENCE, || async {
        sqlx::query_as::<_, (chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)>(
            "SELECT created_at, updated_at FROM messages WHERE channel = 'telegram' AND status = 'sent'",
        )
        .fetch_optional(&app.pool)
        .await
        .unwrap()
    })
    .await;
    assert!(
        sent_at - first_try >= chrono::Duration::milliseconds(1900),
        "sent {} after it was queued: retry_after was 2 s",
        sent_at - first_try
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_bot_telegram_cannot_be_switched_on() {
    let app = TestApp::spawn().await;
    let ann = customer(&app, "ann@example.com").await;
    let r = send(&app, "POST", "/api/v1/me/telegram-link", Some(&ann), None).await;
    let p = assert_problem(r, 422).await;
    assert_eq!(error_fields(&p), vec!["telegram"]);
    let r = send(
        &app,
        "PATCH",
        "/api/v1/me",
        Some(&ann),
        Some(json!({ "notifications": { "telegram": true, "whatsapp": true } })),
    )
    .await;
    let p = assert_problem(r, 422).await;
    assert_eq!(
        error_fields(&p),
        vec!["notifications.telegram", "notifications.whatsapp"]
    );
    assert!(p["errors"][0]["message"]
        .as_str()
        .unwrap()
        .contains("not available"));
    let profile = me(&app, &ann).await;
    assert_eq!(profile["channels"]["telegram"]["available"], false);
    assert_eq!(profile["notifications"]["telegram"], false);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_workers_long_poll_through_one_poller() {
    let app = TestApp::builder().telegram().start().await;
    app.start_worker();
    let fake = app.telegram.as_ref().unwrap();
    for i in 0..10 {
        say(fake, 100 + i, 1000 + i, "/help");
    }
    for i in 0..10 {
        wait_for_texts(fake, 1000 + i, 1).await;
    }
    assert!(
        fake.calls("deletewebhook") >= 1,
        "polling starts with deleteWebhook"
    );
    assert!(fake.violations().is_empty(), "{:?}", fake.violations());
    let stored: i64 = sqlx::query_scalar("SELECT count(*) FROM inbound_updates")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(stored, 10);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_an_https_public_url_the_webhook_is_registered_and_nobody_polls() {
    let app = TestApp::builder()
        .telegram()
        .var("BAZAAR_PUBLIC_URL", "https://shop.example.kz")
        .var("BAZAAR_LANGUAGE", "ru")
        .start()
        .await;
    let fake = app.telegram.as_ref().unwrap();
    let secret = app.vars["TELEGRAM_WEBHOOK_SECRET"].clone();
    let (url, registered) = eventually("setWebhook", PATIENCE, || async { fake.webhook() }).await;
    assert_eq!(url, "https://shop.example.kz/webhooks/telegram");
    assert_eq!(registered, Some(secret.clone()));
    assert_eq!(fake.calls("getupdates"), 0);

    // A customer who chose no language hears the shop's (Russian); the
    // counters say what happened per channel and outcome.
    let ann = customer(&app, "ann@example.com").await;
    let start = link_token(&app, &ann).await;
    // A Telegram client that tells no language.
    let mut update = text_update(1, 555, &format!("/start {start}"));
    update["message"]["from"]
        .as_object_mut()
        .unwrap()
        .remove("language_code");
    let r = app
        .client
        .post(app.url("/webhooks/telegram"))
        .header("X-Telegram-Bot-Api-Secret-Token", &secret)
        .json(&update)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let t = wait_for_texts(fake, 555, 1).await;
    assert!(t[0].starts_with("Готово"), "{}", t[0]);
    assert_eq!(me(&app, &ann).await["language"], "ru");
    // Her order confirmation mail is in Russian too.
    let shop: Shop = shop(&app).await;
    place(
        &app,
        &ann,
        &shop.buy_now("cash_on_delivery", &[("CTEE-S-RED", 1)]),
    )
    .await;
    let mails = eventually("the confirmation mail", PATIENCE, || async {
        let m: Vec<_> = app
            .smtp
            .mails_to("ann@example.com")
            .into_iter()
            .filter(|m| {
                m.header("Subject")
                    .is_some_and(|s| s.starts_with("=?utf-8?"))
            })
            .collect();
        (!m.is_empty()).then_some(m)
    })
    .await;
    // lettre encodes a non-ASCII subject (RFC 2047); the words themselves
    // are checked by the unit tests of `messaging::text::mail`.
    assert_eq!(mails.len(), 1);
    let languages: Vec<String> =
        sqlx::query_scalar("SELECT language FROM messages WHERE channel = 'email'")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    assert_eq!(languages, vec!["ru"]);
    let metrics = eventually("the message counter", PATIENCE, || async {
        let m = app.metrics().await;
        m.contains("bazaar_messages_total{channel=\"telegram\",outcome=\"sent\"}")
            .then_some(m)
    })
    .await;
    assert!(metrics.contains("bazaar_messages_total"), "{metrics}");
}
