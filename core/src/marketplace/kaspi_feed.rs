//! The Kaspi price list (`GET /feeds/kaspi.xml`), which Kaspi fetches every
//! 30-60 minutes: one `<offer>` per Kaspi listing, with its stock at each
//! pickup point and its price in whole tenge.
//!
//! It is streamed: one query read row by row (sqlx yields rows as the
//! server sends them), written into 64 KiB chunks that go through a
//! channel of four, so 100,000 offers never sit in memory at once and a
//! slow reader holds the query back instead of filling RAM.
//!
//! Rules (kaspi.md, PAINS.md): the `kaspiShopping` namespace, `company`
//! then `merchantid` then `offers`; every text escaped (`&` in a model
//! name breaks the whole file); SKUs unique and at most 20 characters
//! (longer ones are skipped and logged, never cut: a cut SKU could collide);
//! `available="yes|no"` with an integer `stockCount >= 0`; one `<price>` in
//! whole tenge. The stock is what can be sold now (stock - reserved) less
//! `KASPI_SAFETY_STOCK`, because Kaspi acts on the figure for up to an hour.

use bytes::Bytes;
use chrono::{FixedOffset, Utc};
use futures::{Stream, TryStreamExt};
use sqlx::PgPool;

use super::listings::KASPI_SKU_MAX;
use crate::config::Config;

/// Bytes per chunk handed to the HTTP body.
const CHUNK: usize = 64 * 1024;
/// Chunks buffered between the query and the reader.
const CHANNEL: usize = 4;

/// Almaty's offset since 2024-03-01 (one zone, UTC+5, for all Kazakhstan).
fn almaty() -> FixedOffset {
    FixedOffset::east_opt(5 * 3600).expect("UTC+5 is a valid offset")
}

#[derive(sqlx::FromRow)]
struct OfferRow {
    sku: String,
    model: String,
    brand: String,
    available: i32,
    /// In KZT minor units; `None` when the variant has no KZT price.
    price: Option<i64>,
    warehouse_id: Option<String>,
}

/// Everything a feed needs from the configuration.
#[derive(Debug, Clone)]
pub struct FeedSettings {
    pub company: String,
    pub merchant_id: String,
    pub store_ids: Vec<String>,
    pub safety_stock: i32,
    /// The shop's currency: variant prices count only in KZT.
    pub currency: String,
}

impl FeedSettings {
    pub fn new(config: &Config) -> Self {
        let k = &config.marketplaces.kaspi;
        FeedSettings {
            company: k.company.clone(),
            merchant_id: k.merchant_id.clone().unwrap_or_default(),
            store_ids: k.store_ids.clone(),
            safety_stock: k.safety_stock,
            currency: config.currency.clone(),
        }
    }
}

/// Escapes the five characters XML gives meaning to.
pub fn escape(text: &str, out: &mut String) {
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 forbids outright; a product name with one
            // would make the whole file unreadable.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push(' '),
            c => out.push(c),
        }
    }
}

/// Whole tenge, rounded half up: the price list takes integers only.
pub fn whole_tenge(minor: i64) -> i64 {
    (minor + 50).div_euclid(100)
}

fn header(s: &FeedSettings, out: &mut String) {
    let date = Utc::now()
        .with_timezone(&almaty())
        .format("%Y-%m-%dT%H:%M:%S%:z");
    out.push_str("<?xml version=\"1.0\" encoding=\"utf-8\"?>\n");
    out.push_str(&format!(
        "<kaspi_catalog date=\"{date}\" xmlns=\"kaspiShopping\" \
         xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" \
         xsi:schemaLocation=\"kaspiShopping http://kaspi.kz/kaspishopping.xsd\">\n"
    ));
    out.push_str("  <company>");
    escape(&s.company, out);
    out.push_str("</company>\n  <merchantid>");
    escape(&s.merchant_id, out);
    out.push_str("</merchantid>\n  <offers>\n");
}

/// One `<offer>`, or nothing when it cannot be offered (a SKU too long, no
/// price in tenge).
fn offer(s: &FeedSettings, r: &OfferRow, out: &mut String) -> bool {
    let Some(price) = r.price else {
        return false;
    };
    if r.sku.len() > KASPI_SKU_MAX {
        return false;
    }
    let stock = (r.available - s.safety_stock).max(0);
    out.push_str("    <offer sku=\"");
    escape(&r.sku, out);
    out.push_str("\">\n      <model>");
    escape(&r.model, out);
    out.push_str("</model>\n      <brand>");
    escape(&r.brand, out);
    out.push_str("</brand>\n      <availabilities>\n");
    for store in &s.store_ids {
        // A listing tied to one pickup point is available there only.
        let here = r.warehouse_id.as_ref().is_none_or(|w| w == store);
        let count = if here { stock } else { 0 };
        let available = if count > 0 { "yes" } else { "no" };
        out.push_str(&format!(
            "        <availability available=\"{available}\" storeId=\""
        ));
        escape(store, out);
        out.push_str(&format!("\" stockCount=\"{count}\"/>\n"));
    }
    out.push_str(&format!(
        "      </availabilities>\n      <price>{}</price>\n    </offer>\n",
        whole_tenge(price)
    ));
    true
}

const FOOTER: &str = "  </offers>\n</kaspi_catalog>\n";

/// The feed as a stream of chunks. A database error mid-way ends the
/// stream with that error (the client sees a truncated, invalid file and
/// Kaspi keeps the previous one), never a well-formed partial catalogue.
pub fn stream(
    pool: PgPool,
    settings: FeedSettings,
) -> impl Stream<Item = Result<Bytes, std::io::Error>> + Send + 'static {
    let (tx, rx) = tokio::sync::mpsc::channel::<Result<Bytes, std::io::Error>>(CHANNEL);
    tokio::spawn(async move {
        if let Err(e) = write(&pool, &settings, &tx).await {
            tracing::error!(error = %e, "the Kaspi feed failed part-way");
            let _ = tx
                .send(Err(std::io::Error::other(format!("kaspi feed: {e}"))))
                .await;
        }
    });
    futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|item| (item, rx))
    })
}

#[derive(Debug, thiserror::Error)]
enum FeedError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error("the reader went away")]
    Gone,
}

async fn send(
    tx: &tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
    buf: &mut String,
) -> Result<(), FeedError> {
    let chunk = Bytes::from(std::mem::take(buf).into_bytes());
    tx.send(Ok(chunk)).await.map_err(|_| FeedError::Gone)
}

async fn write(
    pool: &PgPool,
    s: &FeedSettings,
    tx: &tokio::sync::mpsc::Sender<Result<Bytes, std::io::Error>>,
) -> Result<(), FeedError> {
    let mut buf = String::with_capacity(CHUNK + 4096);
    header(s, &mut buf);
    let mut conn = pool.acquire().await?;
    let mut rows = sqlx::query_as::<_, OfferRow>(concat!(
        "SELECT v.sku, ",
        line_name!(),
        " AS model,
                COALESCE(NULLIF(p.attributes->>'brand', ''), s.name) AS brand,
                CASE WHEN ",
        sellable!(),
        " THEN v.stock - v.reserved ELSE 0 END AS available,
                COALESCE(l.price_override, CASE WHEN v.currency = $1 AND v.price > 0 THEN v.price END) AS price,
                l.warehouse_id
           FROM listings l
           JOIN variants v ON v.id = l.variant_id
           JOIN products p ON p.id = v.product_id
           JOIN stores s ON s.id = p.store_id
          WHERE l.marketplace = 'kaspi' AND p.deleted_at IS NULL
          ORDER BY v.sku"
    ))
    .bind(if s.currency == "KZT" { "KZT" } else { "" })
    .fetch(&mut *conn);
    let (mut written, mut skipped) = (0u64, 0u64);
    while let Some(row) = rows.try_next().await? {
        if offer(s, &row, &mut buf) {
            written += 1;
        } else {
            skipped += 1;
        }
        if buf.len() >= CHUNK {
            send(tx, &mut buf).await?;
        }
    }
    buf.push_str(FOOTER);
    send(tx, &mut buf).await?;
    if skipped > 0 {
        tracing::warn!(
            skipped,
            "Kaspi feed: offers left out (SKU over {KASPI_SKU_MAX} characters or no price in KZT)"
        );
    }
    tracing::info!(offers = written, "Kaspi feed served");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> FeedSettings {
        FeedSettings {
            company: "Tom & Jerry's <shop>".into(),
            merchant_id: "30123456".into(),
            store_ids: vec!["PP1".into(), "PP2".into()],
            safety_stock: 1,
            currency: "KZT".into(),
        }
    }

    #[test]
    fn text_is_escaped_and_forbidden_characters_dropped() {
        let mut out = String::new();
        escape("A&B <\"x\"> 'y'\u{1}", &mut out);
        assert_eq!(out, "A&amp;B &lt;&quot;x&quot;&gt; &apos;y&apos; ");
    }

    #[test]
    fn prices_are_whole_tenge_rounded_half_up() {
        assert_eq!(whole_tenge(150_000), 1500);
        assert_eq!(whole_tenge(150_049), 1500);
        assert_eq!(whole_tenge(150_050), 1501);
        assert_eq!(whole_tenge(0), 0);
    }

    #[test]
    fn an_offer_keeps_the_safety_stock_back_and_says_no_at_zero() {
        let s = settings();
        let mut out = String::new();
        let row = OfferRow {
            sku: "CTEE-S-RED".into(),
            model: "T & shirt".into(),
            brand: "B".into(),
            available: 1,
            price: Some(150_000),
            warehouse_id: None,
        };
        assert!(offer(&s, &row, &mut out));
        assert!(out.contains("<model>T &amp; shirt</model>"));
        assert!(out.contains("available=\"no\" storeId=\"PP1\" stockCount=\"0\""));
        assert!(out.contains("<price>1500</price>"));

        let mut out = String::new();
        let row = OfferRow {
            available: 6,
            warehouse_id: Some("PP2".into()),
            ..row
        };
        assert!(offer(&s, &row, &mut out));
        assert!(out.contains("available=\"no\" storeId=\"PP1\" stockCount=\"0\""));
        assert!(out.contains("available=\"yes\" storeId=\"PP2\" stockCount=\"5\""));
    }

    #[test]
    fn long_skus_and_unpriced_offers_are_left_out_not_cut() {
        let s = settings();
        let mut out = String::new();
        let row = OfferRow {
            sku: "A".repeat(21),
            model: "m".into(),
            brand: "b".into(),
            available: 3,
            price: Some(100),
            warehouse_id: None,
        };
        assert!(!offer(&s, &row, &mut out));
        let row = OfferRow {
            sku: "OK".into(),
            price: None,
            ..row
        };
        assert!(!offer(&s, &row, &mut out));
        assert!(out.is_empty());
        let mut head = String::new();
        header(&s, &mut head);
        assert!(head.contains("<company>Tom &amp; Jerry&apos;s &lt;shop&gt;</company>"));
        assert!(head.contains("xmlns=\"kaspiShopping\""));
        assert!(head.contains("+05:00\""));
    }
}
