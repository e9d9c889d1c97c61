//! The order desk's list as CSV, streamed: rows go out as PostgreSQL hands
//! them over, in chunks of a few hundred rows (about 64 KiB), so exporting a hundred thousand
//! orders holds one chunk in memory, not the file. A client that hangs up
//! stops the query.

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures::{channel::mpsc, SinkExt, StreamExt};
use sqlx::{PgPool, Postgres, QueryBuilder};

use super::Scope;
use crate::commerce::{
    orders::{push_filters, AdminFilter},
    status::{OrderSource, OrderStatus, PaymentMethod, PaymentStatus},
};

/// Rows per chunk sent: about 64 KiB of CSV.
const CHUNK_ROWS: u64 = 400;

pub const HEADER: [&str; 16] = [
    "number",
    "created_at",
    "status",
    "source",
    "email",
    "phone",
    "lines",
    "subtotal",
    "discount",
    "shipping",
    "tax",
    "total",
    "currency",
    "payment_method",
    "payment_status",
    "tracking_number",
];

#[derive(sqlx::FromRow)]
struct Row {
    number: String,
    created_at: DateTime<Utc>,
    status: OrderStatus,
    source: OrderSource,
    email: Option<String>,
    phone: Option<String>,
    lines: i64,
    subtotal: i64,
    discount: i64,
    shipping: i64,
    tax: i64,
    total: i64,
    currency: String,
    payment_method: PaymentMethod,
    payment_status: PaymentStatus,
    tracking_number: Option<String>,
}

/// A spreadsheet runs a cell that starts with `=`, `+`, `-`, `@` or a
/// control character as a formula: text customers typed is defused with a
/// leading apostrophe (OWASP's advice for CSV injection).
fn defuse(text: &str) -> String {
    match text.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{text}"),
        _ => text.to_owned(),
    }
}

/// Amounts in major units with two decimals, as spreadsheets sum them.
fn amount(minor: i64) -> String {
    let sign = if minor < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", (minor / 100).abs(), (minor % 100).abs())
}

impl Row {
    fn record(&self) -> [String; 16] {
        [
            self.number.clone(),
            self.created_at.to_rfc3339(),
            self.status.to_string(),
            self.source.to_string(),
            defuse(self.email.as_deref().unwrap_or("")),
            defuse(self.phone.as_deref().unwrap_or("")),
            self.lines.to_string(),
            amount(self.subtotal),
            amount(self.discount),
            amount(self.shipping),
            amount(self.tax),
            amount(self.total),
            self.currency.clone(),
            self.payment_method.to_string(),
            self.payment_status.to_string(),
            defuse(self.tracking_number.as_deref().unwrap_or("")),
        ]
    }
}

/// The filtered orders, newest first, as CSV chunks. For a vendor, `lines`
/// and `total` are their own lines only, and the order-wide figures
/// (subtotal, discount, shipping, tax), which are not theirs, are zero.
pub fn orders_csv(
    pool: PgPool,
    scope: Scope,
    filter: AdminFilter,
) -> impl futures::Stream<Item = Result<Bytes, std::io::Error>> {
    let (mut tx, rx) = mpsc::channel::<Result<Bytes, std::io::Error>>(2);
    tokio::spawn(async move {
        let stores = scope.stores().map(<[uuid::Uuid]>::to_vec);
        let mut q = QueryBuilder::<Postgres>::new(
            "SELECT o.number, o.created_at, o.status, o.source, o.email, o.phone, l.lines,",
        );
        if stores.is_some() {
            q.push(" 0::bigint AS subtotal, 0::bigint AS discount, 0::bigint AS shipping, 0::bigint AS tax, l.total,");
        } else {
            q.push(" o.subtotal, o.discount, o.shipping, o.tax, o.total,");
        }
        q.push(
            " o.currency, o.payment_method, o.payment_status, o.tracking_number
             FROM orders o CROSS JOIN LATERAL (
                 SELECT count(*) AS lines, COALESCE(sum(i.line_total), 0)::bigint AS total
                 FROM order_items i WHERE i.order_id = o.id",
        );
        if let Some(stores) = &stores {
            q.push(" AND i.store_id = ANY(")
                .push_bind(stores.clone())
                .push(")");
        }
        q.push(") l");
        push_filters(&mut q, &filter, stores.as_deref());
        q.push(" ORDER BY o.created_at DESC, o.id DESC");
        let mut writer = csv::Writer::from_writer(Vec::new());
        if writer.write_record(HEADER).is_err() {
            return;
        }
        let mut conn = match pool.acquire().await {
            Ok(c) => c,
            Err(e) => {
                let _ = tx.send(Err(std::io::Error::other(e))).await;
                return;
            }
        };
        let mut rows = q.build_query_as::<Row>().fetch(&mut *conn);
        let mut exported = 0u64;
        while let Some(row) = rows.next().await {
            let row = match row {
                Ok(r) => r,
                Err(e) => {
                    tracing::error!(error = %e, exported, "order export failed part-way");
                    let _ = tx.send(Err(std::io::Error::other(e))).await;
                    return;
                }
            };
            if writer.write_record(row.record()).is_err() {
                return;
            }
            exported += 1;
            if exported.is_multiple_of(CHUNK_ROWS) {
                let full = std::mem::replace(&mut writer, csv::Writer::from_writer(Vec::new()));
                let Ok(chunk) = full.into_inner() else { return };
                if tx.send(Ok(Bytes::from(chunk))).await.is_err() {
                    // The client hung up: dropping the row stream ends the query.
                    return;
                }
            }
        }
        if let Ok(rest) = writer.into_inner() {
            let _ = tx.send(Ok(Bytes::from(rest))).await;
        }
        tracing::info!(exported, "order export finished");
    });
    rx
}

#[cfg(test)]
mod tests {
    use super::{amount, defuse};

    #[test]
    fn formulas_typed_by_customers_stay_text() {
        assert_eq!(defuse("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(defuse("+7 701 123 45 67"), "'+7 701 123 45 67");
        assert_eq!(defuse("ann@example.com"), "ann@example.com");
    }

    #[test]
    fn amounts_are_major_units() {
        assert_eq!(amount(499_000), "4990.00");
        assert_eq!(amount(5), "0.05");
        assert_eq!(amount(-150), "-1.50");
    }
}
