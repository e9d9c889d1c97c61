use bazaar_core::jobs::SendEmail;
use bazaar_integrations::smtp::{MailError, OutgoingMail};

use super::JobError;
use crate::Deps;

pub async fn run(deps: &Deps, job: SendEmail) -> Result<(), JobError> {
    let rendered = job.template.render();
    deps.mailer
        .send(&OutgoingMail {
            to: &job.to,
            subject: &rendered.subject,
            text: &rendered.text,
            html: &rendered.html,
            idempotency_key: Some(&job.key),
        })
        .await
        .map_err(|e| match e {
            MailError::Transient(m) => JobError::retry(m),
            MailError::Permanent(m) => JobError::Permanent(m),
        })
}
