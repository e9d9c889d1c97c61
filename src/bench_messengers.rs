//! `bazaar bench messengers`: notification fan-out end to end. It serves
//! two minimal provider fakes itself (Telegram's sendMessage, WhatsApp's
//! messages endpoint; no rate limits, every request counted), creates
//! customers with a linked Telegram chat and WhatsApp on, queues order
//! events for them through the one notification path (`messaging::notify`)
//! and measures until every message is sent: messages per second from the
//! commit of the events to the last message recorded as sent. A worker
//! (`bazaar worker`) must run against the same database with
//! `TELEGRAM_API_URL` and `WHATSAPP_API_URL` pointing at `--fakes`.

use std::{
    net::SocketAddr,
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
    time::Duration,
};

use anyhow::Context;
use axum::{
    extract::{Path, State},
    routing::post,
    Json, Router,
};
use bazaar_core::{
    config::Config,
    db,
    mail::MailTemplate,
    messaging::notify::{self, Notice},
    shop::Shop,
};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

#[derive(Default)]
struct Counters {
    telegram: AtomicU64,
    whatsapp: AtomicU64,
}

/// sendMessage is counted; the poller's deleteWebhook and getUpdates (the
/// worker long-polls: no webhook in a benchmark) get empty answers.
async fn telegram(
    State(c): State<Arc<Counters>>,
    Path((_bot, method)): Path<(String, String)>,
    body: axum::body::Bytes,
) -> Json<Value> {
    if method.eq_ignore_ascii_case("getupdates") {
        tokio::time::sleep(Duration::from_secs(1)).await;
        return Json(json!({ "ok": true, "result": [] }));
    }
    if !method.eq_ignore_ascii_case("sendmessage") {
        return Json(json!({ "ok": true, "result": true }));
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or_default();
    let n = c.telegram.fetch_add(1, Ordering::Relaxed) + 1;
    Json(json!({ "ok": true, "result": {
        "message_id": n, "date": 1_700_000_000,
        "chat": { "id": body["chat_id"], "type": "private", "first_name": "Bench" },
        "text": body["text"] } }))
}

async fn whatsapp(State(c): State<Arc<Counters>>, Json(body): Json<Value>) -> Json<Value> {
    let n = c.whatsapp.fetch_add(1, Ordering::Relaxed) + 1;
    Json(json!({ "messaging_product": "whatsapp",
        "contacts": [{ "input": body["to"], "wa_id": body["to"] }],
        "messages": [{ "id": format!("wamid.bench{n}-{}", uuid::Uuid::now_v7().simple()) }] }))
}

pub async fn messengers(config: &Config, events: usize, fakes: SocketAddr) -> anyhow::Result<()> {
    let counters = Arc::new(Counters::default());
    let app = Router::new()
        .route("/{bot}/{method}", post(telegram))
        .route("/{version}/{phone}/messages", post(whatsapp))
        .with_state(counters.clone());
    let listener = tokio::net::TcpListener::bind(fakes)
        .await
        .with_context(|| format!("cannot listen on {fakes} for the provider fakes"))?;
    tokio::spawn(async move { axum::serve(listener, app).await });

    let pool = db::prepare(&config.database_url, 4).await?;
    let shop = Shop::new(config);
    anyhow::ensure!(
        shop.channels.telegram && shop.channels.whatsapp,
        "set TELEGRAM_BOT_TOKEN, TELEGRAM_BOT_USERNAME, WHATSAPP_TOKEN and WHATSAPP_PHONE_NUMBER_ID"
    );
    let run = uuid::Uuid::now_v7().simple().to_string();
    let customers = events.min(10_000);
    // Customers with Telegram linked and WhatsApp on; e-mail off, so the
    // figure is the messengers'.
    let users: Vec<uuid::Uuid> = sqlx::query_scalar(
        "INSERT INTO users (id, email, password_hash, name, role, phone, notify_email,
                            notify_telegram, notify_whatsapp, telegram_chat_id, language)
         SELECT gen_random_uuid(), 'bench-' || $1 || '-' || i || '@example.com', 'x', 'Bench ' || i,
                'customer', '+7701' || lpad(i::text, 7, '0'), false, true, true,
                (extract(epoch FROM now())::bigint % 100000) * 100000 + i, 'ru'
         FROM generate_series(1, $2::int) AS i
         RETURNING id",
    )
    .bind(&run)
    .bind(customers as i32)
    .fetch_all(&pool)
    .await
    .context("creating bench customers")?;
    println!("bench messengers: run {run}, {events} order events for {customers} customers");

    let notices: Vec<Notice> = (0..events)
        .map(|i| Notice {
            event: format!("bench:{run}:{i}"),
            user: Some(users[i % users.len()]),
            order: None,
            email: None,
            phone: None,
            template: MailTemplate::OrderStatus {
                name: "Bench".into(),
                number: format!("BZ-{:06}", i + 1),
                status: "shipped".into(),
                note: None,
                tracking: Some(format!("KZ{i:09}")),
            },
        })
        .collect();
    let started = std::time::Instant::now();
    let mut tx = pool.begin().await?;
    for chunk in notices.chunks(1_000) {
        notify::send(&mut tx, &shop, chunk).await?;
    }
    tx.commit().await?;
    let committed: DateTime<Utc> = sqlx::query_scalar("SELECT clock_timestamp()")
        .fetch_one(&pool)
        .await?;
    println!(
        "queued {} notices in {:.2} s",
        events,
        started.elapsed().as_secs_f64()
    );
    let expected = (events * 2) as i64;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(600);
    let last = loop {
        let (sent, other, last): (i64, i64, Option<DateTime<Utc>>) = sqlx::query_as(
            "SELECT count(*) FILTER (WHERE status = 'sent'), count(*) FILTER (WHERE status <> 'sent' AND status <> 'queued'),
                    max(updated_at)
             FROM messages WHERE starts_with(event, $1)",
        )
        .bind(format!("bench:{run}:"))
        .fetch_one(&pool)
        .await?;
        anyhow::ensure!(other == 0, "{other} messages failed or were skipped");
        if sent == expected {
            break last.context("no message sent")?;
        }
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "{sent} of {expected} messages sent after 600 s: is a worker running?"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let elapsed = (last - committed).num_milliseconds().max(1) as f64 / 1000.0;
    let (tg, wa) = (
        counters.telegram.load(Ordering::Relaxed),
        counters.whatsapp.load(Ordering::Relaxed),
    );
    println!(
        "fan-out: {expected} messages ({tg} Telegram, {wa} WhatsApp requests) in {elapsed:.2} s = {:.0} messages/s",
        expected as f64 / elapsed
    );
    anyhow::ensure!(
        tg + wa == expected as u64,
        "the fakes received {} requests for {expected} messages",
        tg + wa
    );
    sqlx::query("DELETE FROM messages WHERE starts_with(event, $1)")
        .bind(format!("bench:{run}:"))
        .execute(&pool)
        .await?;
    Ok(())
}
