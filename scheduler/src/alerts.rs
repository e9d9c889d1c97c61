//! Admin alerts, sent directly (not through a queue) to the Telegram admin chat
//! and every address in `ADMIN_EMAILS`, so an alert about Redis goes out while
//! Redis is down. A channel that fails is retried a few times, then logged.

use std::time::Duration;

use bazaar_core::{mail::MailTemplate, provider::ProviderError};
use bazaar_integrations::{
    smtp::{Mailer, OutgoingMail},
    telegram::TelegramClient,
};

pub struct Alerter {
    pub telegram: Option<(TelegramClient, i64)>,
    pub mailer: Option<(Mailer, Vec<String>)>,
}

pub struct Alert {
    pub subject: String,
    pub lines: Vec<String>,
    /// Identifies this alert in the mail header, for tracing duplicates.
    pub key: String,
}

const ATTEMPTS: u32 = 3;

impl Alerter {
    pub async fn send(&self, alert: &Alert) {
        if let Some((client, chat)) = &self.telegram {
            let text = format!("{}\n{}", alert.subject, alert.lines.join("\n"));
            for attempt in 1..=ATTEMPTS {
                match client.send_message(*chat, &text).await {
                    Ok(_) => break,
                    Err(e) if !e.is_retryable() => {
                        tracing::error!(error = %e, "Telegram rejected the admin alert");
                        break;
                    }
                    Err(e) if attempt == ATTEMPTS => {
                        tracing::error!(error = %e, "could not send the admin alert to Telegram");
                    }
                    Err(e) => {
                        let wait = match e {
                            ProviderError::RateLimited {
                                retry_after: Some(after),
                            } => after.min(Duration::from_secs(10)),
                            _ => Duration::from_millis(500 * u64::from(attempt)),
                        };
                        tokio::time::sleep(wait).await;
                    }
                }
            }
        }
        if let Some((mailer, recipients)) = &self.mailer {
            let rendered = MailTemplate::AdminAlert {
                subject: alert.subject.clone(),
                lines: alert.lines.clone(),
            }
            .render();
            for to in recipients {
                let mail = OutgoingMail {
                    to,
                    subject: &rendered.subject,
                    text: &rendered.text,
                    html: &rendered.html,
                    idempotency_key: Some(&alert.key),
                };
                for attempt in 1..=ATTEMPTS {
                    match mailer.send(&mail).await {
                        Ok(_) => break,
                        Err(e) if !e.is_retryable() => {
                            tracing::error!(to, error = %e, "admin alert mail rejected");
                            break;
                        }
                        Err(e) if attempt == ATTEMPTS => {
                            tracing::error!(to, error = %e, "could not send admin alert mail");
                        }
                        Err(_) => {
                            tokio::time::sleep(Duration::from_millis(500 * u64::from(attempt)))
                                .await
                        }
                    }
                }
            }
        }
    }
}
