//! Messenger texts in the customer's language, from the same facts as the
//! e-mail (`MailTemplate`), and the event and parameters of the WhatsApp
//! template that carries them. Plain text: Telegram gets no parse mode, so
//! nothing in a product name or a note can become markup.

use crate::mail::{html_from_text, MailTemplate, RenderedMail};

use super::Language;

/// An order status (or `payment_failed`) in words.
pub fn status_word(status: &str, lang: Language) -> String {
    let (ru, en) = match status {
        "pending" => ("ожидает оплаты", "awaiting payment"),
        "paid" => ("оплачен", "paid"),
        "confirmed" => ("подтверждён", "confirmed"),
        "shipped" => ("отправлен", "shipped"),
        "delivered" => ("доставлен", "delivered"),
        "cancelled" => ("отменён", "cancelled"),
        "refunded" => ("возвращён", "refunded"),
        "payment_failed" => ("оплата не прошла", "payment failed"),
        other => (other, other),
    };
    match lang {
        Language::Ru => ru.to_owned(),
        Language::En => en.to_owned(),
    }
}

/// The message text of a notice.
pub fn render(template: &MailTemplate, lang: Language) -> String {
    use Language::*;
    match template {
        MailTemplate::OrderReceived {
            number,
            lines,
            total,
            payment,
            ..
        } => match lang {
            Ru => format!(
                "Заказ {number} принят.\n{}\nИтого: {total}\nОплата: {payment}",
                lines.join("\n")
            ),
            En => format!(
                "Order {number} received.\n{}\nTotal: {total}\nPayment: {payment}",
                lines.join("\n")
            ),
        },
        MailTemplate::OrderStatus {
            number,
            status,
            note,
            tracking,
            ..
        } => {
            let word = status_word(status, lang);
            let mut text = if status == "payment_failed" {
                match lang {
                    Ru => format!("Оплата заказа {number} не прошла. Попробуйте ещё раз."),
                    En => format!("The payment for order {number} failed. Please try again."),
                }
            } else {
                match lang {
                    Ru => format!("Заказ {number}: {word}."),
                    En => format!("Order {number} is now {word}."),
                }
            };
            if let Some(t) = tracking {
                text.push_str(&match lang {
                    Ru => format!("\nТрек-номер: {t}"),
                    En => format!("\nTracking number: {t}"),
                });
            }
            if let Some(n) = note {
                text.push_str(&match lang {
                    Ru => format!("\nКомментарий: {n}"),
                    En => format!("\nNote: {n}"),
                });
            }
            text
        }
        MailTemplate::PriceDrop {
            product,
            sku,
            old_price,
            new_price,
            link,
            ..
        } => match lang {
            Ru => format!("Цена снижена: {product} ({sku}) теперь {new_price} вместо {old_price}.\n{link}"),
            En => format!("Price drop: {product} ({sku}) now costs {new_price} instead of {old_price}.\n{link}"),
        },
        // Account mails are not messenger notices; render their text part.
        other => other.render().text,
    }
}

/// A notice as e-mail in the customer's language: English is the mail
/// template's own wording; Russian says the same facts as the messenger
/// text, with a greeting.
pub fn mail(template: &MailTemplate, lang: Language) -> RenderedMail {
    if lang == Language::En {
        return template.render();
    }
    let (name, subject) = match template {
        MailTemplate::OrderReceived { name, number, .. } => {
            (name, format!("Заказ {number} принят"))
        }
        MailTemplate::OrderStatus {
            name,
            number,
            status,
            ..
        } => (
            name,
            format!("Заказ {number}: {}", status_word(status, lang)),
        ),
        MailTemplate::PriceDrop {
            name,
            product,
            new_price,
            ..
        } => (name, format!("Цена снижена: {product} теперь {new_price}")),
        other => return other.render(),
    };
    let text = format!("Здравствуйте, {name}!\n\n{}\n", render(template, lang));
    RenderedMail {
        subject,
        html: html_from_text(&text),
        text,
    }
}

/// The WhatsApp template event (`WHATSAPP_TEMPLATE_<EVENT>`) of a notice
/// and its body parameters, in order.
pub fn template_params(template: &MailTemplate, lang: Language) -> Option<(String, Vec<String>)> {
    match template {
        MailTemplate::OrderReceived { number, total, .. } => {
            Some(("order_placed".into(), vec![number.clone(), total.clone()]))
        }
        MailTemplate::OrderStatus {
            number,
            status,
            tracking,
            ..
        } => {
            let event = if status == "payment_failed" {
                "payment_failed".to_owned()
            } else {
                format!("order_{status}")
            };
            let mut params = vec![number.clone(), status_word(status, lang)];
            if status == "shipped" {
                params.push(tracking.clone().unwrap_or_else(|| "-".into()));
            }
            Some((event, params))
        }
        MailTemplate::PriceDrop {
            product,
            new_price,
            link,
            ..
        } => Some((
            "price_drop".into(),
            vec![product.clone(), new_price.clone(), link.clone()],
        )),
        _ => None,
    }
}

/// Bot texts.
pub mod bot {
    use super::Language::{self, *};

    pub fn help(lang: Language, linked: bool) -> String {
        let mut text = match lang {
            Ru => "Я бот магазина. Команды:\n/orders — ваши последние заказы\n/track <номер> — статус заказа\n/stop — отвязать Telegram\n/help — эта справка".to_owned(),
            En => "I am the shop's bot. Commands:\n/orders — your recent orders\n/track <number> — an order's status\n/stop — unlink Telegram\n/help — this help".to_owned(),
        };
        if !linked {
            text.push_str(match lang {
                Ru => {
                    "\n\nЧтобы получать уведомления, привяжите Telegram в личном кабинете магазина."
                }
                En => {
                    "\n\nTo get notifications, link Telegram from your account on the shop's site."
                }
            });
        }
        text
    }

    pub fn linked(lang: Language, name: &str) -> String {
        match lang {
            Ru => format!("Готово, {name}! Telegram привязан: здесь будут уведомления о ваших заказах. /help — команды."),
            En => format!("Done, {name}! Telegram is linked: your order updates will arrive here. /help for commands."),
        }
    }

    pub fn bad_link(lang: Language) -> String {
        match lang {
            Ru => "Ссылка недействительна: она уже использована или устарела. Получите новую в личном кабинете.".into(),
            En => "This link does not work: it was used already or has expired. Get a new one from your account.".into(),
        }
    }

    pub fn unlinked(lang: Language) -> String {
        match lang {
            Ru => "Telegram отвязан, уведомлений больше не будет.".into(),
            En => "Telegram is unlinked; no more notifications.".into(),
        }
    }

    pub fn not_linked(lang: Language) -> String {
        match lang {
            Ru => "Этот чат не привязан к аккаунту. Привяжите Telegram в личном кабинете магазина.".into(),
            En => "This chat is not linked to an account. Link Telegram from your account on the shop's site.".into(),
        }
    }

    pub fn no_orders(lang: Language) -> String {
        match lang {
            Ru => "У вас пока нет заказов.".into(),
            En => "You have no orders yet.".into(),
        }
    }

    pub fn orders_header(lang: Language) -> &'static str {
        match lang {
            Ru => "Ваши последние заказы:",
            En => "Your recent orders:",
        }
    }

    pub fn track_usage(lang: Language) -> String {
        match lang {
            Ru => "Укажите номер заказа: /track BZ-000123".into(),
            En => "Give the order number: /track BZ-000123".into(),
        }
    }

    /// The same answer for an unknown number and someone else's order.
    pub fn order_not_found(lang: Language, number: &str) -> String {
        match lang {
            Ru => format!("Заказ {number} не найден среди ваших заказов."),
            En => format!("Order {number} is not among your orders."),
        }
    }

    pub fn whatsapp_help(lang: Language) -> String {
        match lang {
            Ru => {
                "Чтобы узнать статус заказа, пришлите его номер, например: status BZ-000123".into()
            }
            En => "To see an order's status, send its number, for example: status BZ-000123".into(),
        }
    }

    /// WhatsApp: the same answer for an unknown number and an order placed
    /// with another phone.
    pub fn whatsapp_not_found(lang: Language, number: &str) -> String {
        match lang {
            Ru => format!("Не нашли заказ {number} для этого номера телефона."),
            En => format!("We found no order {number} for this phone number."),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shipped() -> MailTemplate {
        MailTemplate::OrderStatus {
            name: "Ann".into(),
            number: "BZ-000123".into(),
            status: "shipped".into(),
            note: None,
            tracking: Some("KZ123".into()),
        }
    }

    #[test]
    fn notices_render_in_both_languages_with_the_same_facts() {
        let ru = render(&shipped(), Language::Ru);
        let en = render(&shipped(), Language::En);
        assert!(ru.contains("BZ-000123") && ru.contains("KZ123") && ru.contains("отправлен"));
        assert!(en.contains("BZ-000123") && en.contains("KZ123") && en.contains("shipped"));
    }

    #[test]
    fn russian_mail_is_escaped_and_carries_the_facts() {
        let m = mail(
            &MailTemplate::OrderStatus {
                name: "<Аня>".into(),
                number: "BZ-000123".into(),
                status: "shipped".into(),
                note: None,
                tracking: Some("KZ1".into()),
            },
            Language::Ru,
        );
        assert_eq!(m.subject, "Заказ BZ-000123: отправлен");
        assert!(
            m.text.contains("KZ1") && m.html.contains("&lt;Аня&gt;") && !m.html.contains("<Аня>")
        );
        assert_eq!(mail(&shipped(), Language::En), shipped().render());
    }

    #[test]
    fn shipped_templates_carry_the_tracking_number() {
        let (event, params) = template_params(&shipped(), Language::En).expect("template");
        assert_eq!(event, "order_shipped");
        assert_eq!(params, vec!["BZ-000123", "shipped", "KZ123"]);
    }
}
