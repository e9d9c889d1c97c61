//! The storefront's contact form: a visitor's message, mailed to the shop
//! through the outbox. The sender gets a copy only when signed in, and then
//! at their account's address, never at one typed into the form: the form
//! cannot be used to mail strangers.

use serde::Deserialize;
use sqlx::PgPool;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::{
    jobs::SendEmail, mail::MailTemplate, outbox, shop::Shop, validate, Error, FieldError, Result,
};

pub const MAX_MESSAGE: usize = 5_000;

#[derive(Debug, Clone, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactMessage {
    #[schema(schema_with = crate::validate::schema::name)]
    pub name: String,
    /// Where the shop answers.
    #[schema(schema_with = crate::validate::schema::email)]
    pub email: String,
    #[schema(schema_with = message_schema)]
    pub message: String,
    /// Leave empty. People never see this field; robots fill it in, and
    /// their message is accepted and dropped.
    #[serde(default)]
    #[schema(example = "")]
    pub website: String,
}

/// Not blank once trimmed, at most `MAX_MESSAGE` characters.
fn message_schema() -> utoipa::openapi::Object {
    let mut schema = crate::validate::schema::line(MAX_MESSAGE, false);
    schema.examples = vec![serde_json::json!("Do you deliver to Almaty?")];
    schema
}

/// A message that passed validation.
#[derive(Debug, Clone)]
pub struct Checked {
    name: String,
    email: String,
    message: String,
    /// The honeypot was filled in: answer like a success, mail no one.
    pub robot: bool,
}

/// Every problem at once (422), before anything is counted or sent.
pub fn check(m: ContactMessage) -> Result<Checked> {
    let mut errors = Vec::new();
    let name = validate::name(&m.name)
        .map_err(|e| errors.push(FieldError::new("name", e)))
        .unwrap_or_default();
    let email = validate::email(&m.email)
        .map_err(|e| errors.push(FieldError::new("email", e)))
        .unwrap_or_default();
    let message = m.message.trim().to_owned();
    if message.is_empty() || message.chars().count() > MAX_MESSAGE {
        errors.push(FieldError::new(
            "message",
            format!("must be 1 to {MAX_MESSAGE} characters"),
        ));
    }
    if !errors.is_empty() {
        return Err(Error::Validation(errors));
    }
    Ok(Checked {
        name,
        email,
        message,
        robot: !m.website.trim().is_empty(),
    })
}

/// Enqueues the shop's mail, and the sender's copy when `signed_in` is the
/// sender's account id, in one transaction.
pub async fn send(
    pool: &PgPool,
    shop: &Shop,
    shop_email: &str,
    signed_in: Option<Uuid>,
    m: Checked,
) -> Result<()> {
    if m.robot {
        tracing::info!("contact form honeypot filled in; message dropped");
        return Ok(());
    }
    let Checked {
        name,
        email,
        message,
        ..
    } = m;
    let id = Uuid::now_v7();
    let mut tx = pool.begin().await?;
    let account: Option<(String, String)> = match signed_in {
        Some(user) => {
            sqlx::query_as("SELECT email, name FROM users WHERE id = $1")
                .bind(user)
                .fetch_optional(&mut *tx)
                .await?
        }
        None => None,
    };
    outbox::enqueue(
        &mut tx,
        &shop.pipeline,
        &SendEmail {
            key: format!("contact:{id}"),
            to: shop_email.to_owned(),
            template: MailTemplate::ContactMessage {
                name: name.clone(),
                email,
                message: message.clone(),
                signed_in: account.is_some(),
            },
        },
    )
    .await?;
    if let Some((address, account_name)) = account {
        outbox::enqueue(
            &mut tx,
            &shop.pipeline,
            &SendEmail {
                key: format!("contact-copy:{id}"),
                to: address,
                template: MailTemplate::ContactCopy {
                    name: account_name,
                    message,
                },
            },
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
