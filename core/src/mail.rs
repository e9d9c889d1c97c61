//! E-mail templates: each renders a subject, a text part and an HTML part from
//! the same data. Values are HTML-escaped in the HTML part.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(tag = "template", rename_all = "snake_case")]
pub enum MailTemplate {
    Welcome {
        name: String,
    },
    PasswordReset {
        name: String,
        link: String,
        valid_minutes: u32,
    },
    AdminAlert {
        subject: String,
        lines: Vec<String>,
    },
    OrderReceived {
        name: String,
        number: String,
        /// "2 x Classic Tee S Red (CTEE-S-RED): 9 980.00 KZT"
        lines: Vec<String>,
        total: String,
        payment: String,
    },
    OrderStatus {
        name: String,
        number: String,
        status: String,
        note: Option<String>,
        tracking: Option<String>,
    },
    /// A message sent through the contact form, to the shop.
    ContactMessage {
        name: String,
        email: String,
        message: String,
        /// Whether the sender was signed in (their address is then verified
        /// as their account's).
        signed_in: bool,
    },
    /// The sender's copy of what they wrote (signed-in senders only).
    ContactCopy {
        name: String,
        message: String,
    },
    PriceDrop {
        name: String,
        product: String,
        sku: String,
        old_price: String,
        new_price: String,
        link: String,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub struct RenderedMail {
    pub subject: String,
    pub text: String,
    pub html: String,
}

pub fn escape_html(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// The HTML part of a mail whose text part says it all: every line
/// escaped, one paragraph per blank-line-separated block.
pub fn html_from_text(text: &str) -> String {
    let body: String = text
        .split("\n\n")
        .map(|block| format!("<p>{}</p>", escape_html(block).replace('\n', "<br>")))
        .collect();
    html_page(&body)
}

fn html_page(body: &str) -> String {
    format!(
        "<!doctype html><html><body style=\"font-family:sans-serif;line-height:1.5\">{body}\
         <p style=\"color:#888\">bazaar</p></body></html>"
    )
}

impl MailTemplate {
    pub fn render(&self) -> RenderedMail {
        match self {
            MailTemplate::Welcome { name } => RenderedMail {
                subject: "Welcome to bazaar".into(),
                text: format!("Hello {name},\n\nyour bazaar account is ready.\n"),
                html: html_page(&format!(
                    "<p>Hello {},</p><p>your bazaar account is ready.</p>",
                    escape_html(name)
                )),
            },
            MailTemplate::PasswordReset { name, link, valid_minutes } => RenderedMail {
                subject: "Reset your bazaar password".into(),
                text: format!(
                    "Hello {name},\n\nto choose a new password, open this link within {valid_minutes} minutes:\n\n{link}\n\n\
                     The link works once. If you did not ask for it, ignore this mail.\n"
                ),
                html: html_page(&format!(
                    "<p>Hello {},</p><p>to choose a new password, open this link within {valid_minutes} minutes:</p>\
                     <p><a href=\"{link}\">{link}</a></p><p>The link works once. If you did not ask for it, ignore this mail.</p>",
                    escape_html(name),
                    link = escape_html(link)
                )),
            },
            MailTemplate::PriceDrop {
                name,
                product,
                sku,
                old_price,
                new_price,
                link,
            } => RenderedMail {
                subject: format!("Price drop: {product} now {new_price}"),
                text: format!(
                    "Hello {name},\n\n{product} ({sku}) on your wishlist now costs {new_price} instead of {old_price}.\n\n{link}\n\n\
                     You get this mail because you asked for price alerts on this product.\n"
                ),
                html: html_page(&format!(
                    "<p>Hello {},</p><p><b>{}</b> ({}) on your wishlist now costs <b>{}</b> instead of <s>{}</s>.</p>\
                     <p><a href=\"{link}\">{link}</a></p><p>You get this mail because you asked for price alerts on this product.</p>",
                    escape_html(name),
                    escape_html(product),
                    escape_html(sku),
                    escape_html(new_price),
                    escape_html(old_price),
                    link = escape_html(link)
                )),
            },
            MailTemplate::OrderReceived {
                name,
                number,
                lines,
                total,
                payment,
            } => RenderedMail {
                subject: format!("Order {number} received"),
                text: format!(
                    "Hello {name},\n\nthank you for your order {number}.\n\n{}\n\nTotal: {total}\nPayment: {payment}\n",
                    lines.join("\n")
                ),
                html: html_page(&format!(
                    "<p>Hello {},</p><p>thank you for your order <b>{}</b>.</p><ul>{}</ul><p>Total: <b>{}</b><br>Payment: {}</p>",
                    escape_html(name),
                    escape_html(number),
                    lines
                        .iter()
                        .map(|l| format!("<li>{}</li>", escape_html(l)))
                        .collect::<String>(),
                    escape_html(total),
                    escape_html(payment)
                )),
            },
            MailTemplate::OrderStatus {
                name,
                number,
                status,
                note,
                tracking,
            } => {
                let extra: Vec<String> = [
                    tracking.as_ref().map(|t| format!("Tracking: {t}")),
                    note.as_ref().map(|n| format!("Note: {n}")),
                ]
                .into_iter()
                .flatten()
                .collect();
                RenderedMail {
                    subject: format!("Order {number} is {status}"),
                    text: format!(
                        "Hello {name},\n\nyour order {number} is now {status}.\n{}\n",
                        extra.join("\n")
                    ),
                    html: html_page(&format!(
                        "<p>Hello {},</p><p>your order <b>{}</b> is now <b>{}</b>.</p>{}",
                        escape_html(name),
                        escape_html(number),
                        escape_html(status),
                        extra
                            .iter()
                            .map(|l| format!("<p>{}</p>", escape_html(l)))
                            .collect::<String>()
                    )),
                }
            }
            MailTemplate::ContactMessage {
                name,
                email,
                message,
                signed_in,
            } => {
                let who = if *signed_in {
                    "a signed-in customer"
                } else {
                    "a visitor (address not verified)"
                };
                let text = format!("From: {name} <{email}>, {who}\n\n{message}\n");
                RenderedMail {
                    subject: format!("Contact form: {name}"),
                    html: html_from_text(&text),
                    text,
                }
            }
            MailTemplate::ContactCopy { name, message } => {
                let text = format!(
                    "Hello {name},\n\nthank you for writing to us. We will answer soon. What you wrote:\n\n{message}\n"
                );
                RenderedMail {
                    subject: "We received your message".into(),
                    html: html_from_text(&text),
                    text,
                }
            }
            MailTemplate::AdminAlert { subject, lines } => RenderedMail {
                subject: subject.clone(),
                text: format!("{subject}\n\n{}\n", lines.join("\n")),
                html: html_page(&format!(
                    "<h3>{}</h3><ul>{}</ul>",
                    escape_html(subject),
                    lines
                        .iter()
                        .map(|l| format!("<li>{}</li>", escape_html(l)))
                        .collect::<String>()
                )),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reset_mail_has_the_link_in_both_parts() {
        let link = "http://shop/reset-password?token=abc&x=1";
        let m = MailTemplate::PasswordReset {
            name: "<Ann>".into(),
            link: link.into(),
            valid_minutes: 60,
        }
        .render();
        assert!(m.text.contains(link));
        assert!(m.html.contains("token=abc&amp;x=1"));
        assert!(m.html.contains("&lt;Ann&gt;"));
        assert!(!m.html.contains("<Ann>"));
    }
}
