//! `email.notice`: a customer notice by e-mail, rendered in the customer's
//! language from the template stored with its message; the message row
//! says it was handed to SMTP.

use bazaar_core::{
    jobs::EmailNotice,
    messaging::{messages::MessageBody, text, MessageStatus},
};
use bazaar_integrations::smtp::OutgoingMail;

use super::{Context, ExternalHandler, JobError, Outcome};
use crate::messengers::{load, record};

pub struct EmailNoticeHandler;

impl ExternalHandler for EmailNoticeHandler {
    type Job = EmailNotice;

    async fn run(cx: Context<'_>, job: EmailNotice) -> Outcome {
        let store = &cx.deps.messengers.store;
        let m = load(&cx.deps.messengers, job.message).await?.message;
        if m.status != MessageStatus::Queued {
            return Ok(()); // sent before this delivery of the job
        }
        let MessageBody::Notice { template, .. } = &m.body else {
            return Err(JobError::Permanent("only notices go by e-mail".into()));
        };
        let rendered = text::mail(template, m.language);
        cx.deps
            .mailer
            .send(&OutgoingMail {
                to: &m.recipient,
                subject: &rendered.subject,
                text: &rendered.text,
                html: &rendered.html,
                idempotency_key: Some(&job.key),
            })
            .await?;
        record(store, &m, MessageStatus::Sent, None, None).await
    }
}
