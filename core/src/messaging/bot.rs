//! The Telegram bot's conversation: `/start <token>` links the chat,
//! `/stop` unlinks it, `/orders` lists the linked customer's recent orders,
//! `/track <number>` shows one of them, `/help` and anything else get the
//! help text. Each answer is a message (event `reply:telegram:<update_id>`)
//! queued in the handling job's transaction, so a redelivered update
//! answers once.

use sqlx::PgConnection;
use uuid::Uuid;

use crate::{
    commerce::{orders, status::OrderStatus},
    money::Money,
    shop::Shop,
    Result,
};

use super::{
    messages::{self, MessageBody, Single},
    telegram_link::{self, Bound},
    text::{bot, status_word},
    Channel, Language,
};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Start(Option<String>),
    Stop,
    Orders,
    Track(Option<String>),
    Help,
    Other,
}

/// Reads a message text as a bot command. Commands may carry the bot's
/// name (`/start@bazaar_bot <payload>`, as in groups).
pub fn parse_command(text: &str) -> Command {
    let text = text.trim();
    let Some(rest) = text.strip_prefix('/') else {
        return Command::Other;
    };
    let (word, arg) = match rest.split_once(char::is_whitespace) {
        Some((w, a)) => (w, Some(a.trim().to_owned()).filter(|a| !a.is_empty())),
        None => (rest, None),
    };
    let word = word
        .split('@')
        .next()
        .unwrap_or_default()
        .to_ascii_lowercase();
    match word.as_str() {
        "start" => Command::Start(arg),
        "stop" => Command::Stop,
        "orders" => Command::Orders,
        "track" => Command::Track(arg),
        "help" => Command::Help,
        _ => Command::Other,
    }
}

/// A private-chat text message to the bot.
#[derive(Debug, Clone)]
pub struct Incoming {
    pub update_id: i64,
    pub chat: i64,
    pub text: String,
    /// The sender's Telegram language, used until they choose one of ours.
    pub language: Option<Language>,
}

struct Linked {
    id: Uuid,
    language: Option<Language>,
}

async fn linked_user(conn: &mut PgConnection, chat: i64) -> Result<Option<Linked>> {
    let row: Option<(Uuid, Option<Language>)> =
        sqlx::query_as("SELECT id, language FROM users WHERE telegram_chat_id = $1")
            .bind(chat)
            .fetch_optional(conn)
            .await?;
    Ok(row.map(|(id, language)| Linked { id, language }))
}

/// Answers `m`, in the job's transaction.
pub async fn handle(conn: &mut PgConnection, shop: &Shop, m: &Incoming) -> Result<()> {
    let user = linked_user(conn, m.chat).await?;
    let mut lang = user
        .as_ref()
        .and_then(|u| u.language)
        .or(m.language)
        .unwrap_or(shop.channels.default_language);
    let mut user_id = user.as_ref().map(|u| u.id);
    let reply = match parse_command(&m.text) {
        Command::Start(Some(token)) => match telegram_link::bind(conn, &token, m.chat).await? {
            Bound::Linked { name, language } => {
                lang = language.or(m.language).unwrap_or(lang);
                user_id = linked_user(conn, m.chat).await?.map(|u| u.id);
                bot::linked(lang, &name)
            }
            Bound::Invalid => bot::bad_link(lang),
        },
        Command::Start(None) | Command::Help | Command::Other => bot::help(lang, user.is_some()),
        Command::Stop => {
            if telegram_link::unbind(conn, m.chat).await? {
                bot::unlinked(lang)
            } else {
                bot::not_linked(lang)
            }
        }
        Command::Orders => match &user {
            None => bot::not_linked(lang),
            Some(u) => recent_orders(conn, u.id, lang).await?,
        },
        Command::Track(None) => bot::track_usage(lang),
        Command::Track(Some(number)) => match &user {
            None => bot::not_linked(lang),
            Some(u) => track(conn, u.id, &number, lang).await?,
        },
    };
    let event = format!("reply:telegram:{}", m.update_id);
    let chat = m.chat.to_string();
    messages::enqueue(
        conn,
        shop,
        Single {
            channel: Channel::Telegram,
            event: &event,
            user: user_id,
            order: None,
            recipient: &chat,
            language: lang,
            body: &MessageBody::Reply { text: reply },
        },
    )
    .await
}

async fn recent_orders(conn: &mut PgConnection, user: Uuid, lang: Language) -> Result<String> {
    let rows: Vec<(String, OrderStatus, i64, String)> = sqlx::query_as(
        "SELECT number, status, total, currency FROM orders WHERE user_id = $1
         ORDER BY created_at DESC LIMIT 5",
    )
    .bind(user)
    .fetch_all(conn)
    .await?;
    if rows.is_empty() {
        return Ok(bot::no_orders(lang));
    }
    let mut text = bot::orders_header(lang).to_owned();
    for (number, status, total, currency) in rows {
        text.push_str(&format!(
            "\n{number}: {} — {}",
            status_word(status.as_str(), lang),
            Money::new(total, &currency).display()
        ));
    }
    Ok(text)
}

/// One of the customer's own orders; any other number gets the same
/// "not among your orders" whether it exists or not.
pub async fn track(
    conn: &mut PgConnection,
    user: Uuid,
    number: &str,
    lang: Language,
) -> Result<String> {
    let number = normalise_number(number);
    let order = orders::find_by_number(conn, &number, false)
        .await?
        .filter(|o| o.user_id == Some(user));
    Ok(match order {
        None => bot::order_not_found(lang, &number),
        Some(o) => order_status(&o, lang),
    })
}

/// An order's status line with its tracking, for the bots.
pub fn order_status(o: &orders::OrderRow, lang: Language) -> String {
    let mut text = match lang {
        Language::Ru => format!(
            "Заказ {}: {}.",
            o.number,
            status_word(o.status.as_str(), lang)
        ),
        Language::En => format!(
            "Order {}: {}.",
            o.number,
            status_word(o.status.as_str(), lang)
        ),
    };
    if let Some(t) = &o.tracking_number {
        let courier = o
            .courier
            .as_deref()
            .map(|c| format!(" ({c})"))
            .unwrap_or_default();
        text.push_str(&match lang {
            Language::Ru => format!("\nТрек-номер: {t}{courier}"),
            Language::En => format!("\nTracking number: {t}{courier}"),
        });
    }
    text
}

/// `bz-000123`, `BZ000123` and `123` all mean `BZ-000123`.
pub fn normalise_number(raw: &str) -> String {
    let upper = raw.trim().to_ascii_uppercase();
    let digits = upper
        .strip_prefix("BZ-")
        .or_else(|| upper.strip_prefix("BZ"))
        .unwrap_or(&upper);
    match digits.parse::<u64>() {
        Ok(n) if digits.bytes().all(|b| b.is_ascii_digit()) => format!("BZ-{n:06}"),
        _ => upper,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_parse_with_arguments_and_bot_names() {
        assert_eq!(
            parse_command("/start abc_DEF-1"),
            Command::Start(Some("abc_DEF-1".into()))
        );
        assert_eq!(
            parse_command("/start@bazaar_bot tok"),
            Command::Start(Some("tok".into()))
        );
        assert_eq!(parse_command("/start"), Command::Start(None));
        assert_eq!(
            parse_command("/TRACK BZ-000001"),
            Command::Track(Some("BZ-000001".into()))
        );
        assert_eq!(parse_command("/track   "), Command::Track(None));
        assert_eq!(parse_command("/orders"), Command::Orders);
        assert_eq!(parse_command("/stop"), Command::Stop);
        assert_eq!(parse_command("hello"), Command::Other);
        assert_eq!(parse_command("/weather"), Command::Other);
    }

    #[test]
    fn order_numbers_are_normalised() {
        assert_eq!(normalise_number(" bz-000123 "), "BZ-000123");
        assert_eq!(normalise_number("BZ000123"), "BZ-000123");
        assert_eq!(normalise_number("123"), "BZ-000123");
        assert_eq!(normalise_number("hello"), "HELLO");
    }
}
