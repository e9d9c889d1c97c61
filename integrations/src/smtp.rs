//! E-mail through lettre: SMTP when `SMTP_URL` is set, otherwise `.eml` files
//! in `MAIL_OUTBOX_DIR` (development). Every message has a text and an HTML
//! part, a Message-ID, and the job's idempotency key in
//! `X-Bazaar-Idempotency-Key` so duplicates can be traced.

use std::{path::Path, time::Duration};

use bazaar_core::provider::ProviderError;
use lettre::{
    message::{
        header::{Header, HeaderName, HeaderValue},
        Mailbox, MultiPart,
    },
    AsyncFileTransport, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor,
};

pub struct OutgoingMail<'a> {
    pub to: &'a str,
    pub subject: &'a str,
    pub text: &'a str,
    pub html: &'a str,
    pub idempotency_key: Option<&'a str>,
}

/// A message that cannot be sent as asked (bad address, bad settings):
/// never sent, so there is no status.
fn config_error(body: String) -> ProviderError {
    ProviderError::Rejected { status: 0, body }
}

#[derive(Clone)]
struct IdempotencyKeyHeader(String);

impl Header for IdempotencyKeyHeader {
    fn name() -> HeaderName {
        HeaderName::new_from_ascii_str("X-Bazaar-Idempotency-Key")
    }

    fn parse(s: &str) -> Result<Self, Box<dyn std::error::Error + Send + Sync>> {
        Ok(Self(s.to_owned()))
    }

    fn display(&self) -> HeaderValue {
        HeaderValue::new(Self::name(), self.0.clone())
    }
}

#[derive(Clone)]
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    File(AsyncFileTransport<Tokio1Executor>),
}

#[derive(Clone)]
pub struct Mailer {
    transport: Transport,
    from: Mailbox,
    description: String,
}

impl Mailer {
    /// `smtp_url` as lettre understands it (`smtp://host:2525`,
    /// `smtp://user:pass@host:587?tls=required`, `smtps://...`).
    pub fn new(
        smtp_url: Option<&str>,
        from: &str,
        outbox_dir: &Path,
    ) -> Result<Self, ProviderError> {
        let from: Mailbox = from
            .parse()
            .map_err(|e| config_error(format!("MAIL_FROM {from:?} is not a mailbox: {e}")))?;
        let (transport, description) = match smtp_url {
            Some(url) => {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url)
                    .map_err(|e| config_error(format!("SMTP_URL is invalid: {e}")))?
                    .timeout(Some(Duration::from_secs(20)))
                    .build();
                (Transport::Smtp(transport), "SMTP".to_owned())
            }
            None => {
                std::fs::create_dir_all(outbox_dir).map_err(|e| {
                    config_error(format!("cannot create {}: {e}", outbox_dir.display()))
                })?;
                (
                    Transport::File(AsyncFileTransport::new(outbox_dir)),
                    format!(".eml files in {}", outbox_dir.display()),
                )
            }
        };
        Ok(Self {
            transport,
            from,
            description,
        })
    }

    /// Where mail goes, for the start-up log (no credentials).
    pub fn describe(&self) -> &str {
        &self.description
    }

    /// The same Message-ID for every delivery of one job: a message sent
    /// again after a worker crash (delivery is at least once) is the same
    /// message to the recipient's mail system (which may show it once).
    fn message_id_for(&self, key: &str) -> String {
        use sha2::{Digest, Sha256};
        let digest = Sha256::digest(key.as_bytes());
        let id = hex::encode(&digest[..16]);
        format!("<{id}.bazaar@{}>", self.from.email.domain())
    }

    pub fn build(&self, mail: &OutgoingMail<'_>) -> Result<Message, ProviderError> {
        let to: Mailbox = mail
            .to
            .parse()
            .map_err(|e| config_error(format!("recipient {:?} is invalid: {e}", mail.to)))?;
        let mut builder = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(mail.subject);
        builder = match mail.idempotency_key {
            Some(key) => builder
                .message_id(Some(self.message_id_for(key)))
                .header(IdempotencyKeyHeader(key.to_owned())),
            None => builder.message_id(None),
        };
        builder
            .multipart(MultiPart::alternative_plain_html(
                mail.text.to_owned(),
                mail.html.to_owned(),
            ))
            .map_err(|e| config_error(format!("building message: {e}")))
    }

    pub async fn send(&self, mail: &OutgoingMail<'_>) -> Result<(), ProviderError> {
        let message = self.build(mail)?;
        match &self.transport {
            Transport::Smtp(t) => t.send(message).await.map(|_| ()).map_err(|e| {
                // A 5xx reply is final; 4xx replies and lost connections are not.
                match (e.is_permanent(), e.status()) {
                    (true, Some(code)) => ProviderError::Rejected {
                        status: u16::from(code),
                        body: ProviderError::excerpt(&e.to_string()),
                    },
                    _ => ProviderError::Transport(format!("cannot reach the mail server: {e}")),
                }
            }),
            Transport::File(t) => t
                .send(message)
                .await
                .map(|_| ())
                .map_err(|e| ProviderError::Transport(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_carry_both_parts_and_the_idempotency_key() {
        let dir = std::env::temp_dir().join("bazaar-mail-unit");
        let mailer = Mailer::new(None, "shop <shop@example.com>", &dir).unwrap();
        let msg = mailer
            .build(&OutgoingMail {
                to: "ann@example.com",
                subject: "Hi",
                text: "plain body",
                html: "<p>html body</p>",
                idempotency_key: Some("welcome:1"),
            })
            .unwrap();
        let raw = String::from_utf8(msg.formatted()).unwrap();
        assert!(raw.contains("X-Bazaar-Idempotency-Key: welcome:1"));
        assert!(raw.contains("Message-ID: <"));
        assert!(raw.contains("multipart/alternative"));
        assert!(raw.contains("plain body"));
        assert!(raw.contains("<p>html body</p>"));
    }

    #[test]
    fn every_delivery_of_one_job_has_the_same_message_id() {
        let mailer = Mailer::new(None, "shop <shop@example.com>", &std::env::temp_dir()).unwrap();
        let message_id = |key| {
            let msg = mailer
                .build(&OutgoingMail {
                    to: "ann@example.com",
                    subject: "Hi",
                    text: "x",
                    html: "x",
                    idempotency_key: key,
                })
                .unwrap();
            let raw = String::from_utf8(msg.formatted()).unwrap();
            let line = raw.lines().find(|l| l.starts_with("Message-ID: ")).unwrap();
            line["Message-ID: ".len()..].to_owned()
        };
        let first = message_id(Some("order:1"));
        assert_eq!(first, message_id(Some("order:1")));
        assert_ne!(first, message_id(Some("order:2")));
        assert!(
            first.starts_with('<') && first.ends_with(".bazaar@example.com>"),
            "{first}"
        );
        assert_ne!(message_id(None), message_id(None));
    }

    #[test]
    fn an_invalid_recipient_is_permanent() {
        let mailer = Mailer::new(None, "shop@example.com", &std::env::temp_dir()).unwrap();
        let err = mailer
            .build(&OutgoingMail {
                to: "not an address",
                subject: "x",
                text: "x",
                html: "x",
                idempotency_key: None,
            })
            .unwrap_err();
        assert!(!err.is_retryable(), "{err:?}");
    }
}
