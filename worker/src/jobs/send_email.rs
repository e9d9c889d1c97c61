//! `email.send`: a transactional mail rendered from its template.

use bazaar_core::jobs::SendEmail;
use bazaar_integrations::smtp::OutgoingMail;

use super::{Context, ExternalHandler, Outcome};

pub struct SendEmailHandler;

impl ExternalHandler for SendEmailHandler {
    type Job = SendEmail;

    async fn run(cx: Context<'_>, job: SendEmail) -> Outcome {
        let rendered = job.template.render();
        cx.deps
            .mailer
            .send(&OutgoingMail {
                to: &job.to,
                subject: &rendered.subject,
                text: &rendered.text,
                html: &rendered.html,
                idempotency_key: Some(&job.key),
            })
            .await?;
        Ok(())
    }
}
