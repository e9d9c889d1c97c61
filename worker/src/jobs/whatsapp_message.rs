//! `messenger.whatsapp`: a notice or a reply. Free text only inside the
//! 24-hour window since the customer last wrote; otherwise the event's
//! approved template (`WHATSAPP_TEMPLATE_<EVENT>`). Meta accepts with 200
//! and reports delivery later by webhook (`inbound.whatsapp`).

use bazaar_core::{
    jobs::WhatsappMessage,
    messaging::{
        messages::{self, MessageBody, Outgoing, Sending, Single},
        text, whatsapp, Channel, MessageStatus,
    },
    provider::ProviderError,
};
use bazaar_integrations::whatsapp::{error_code, Outbound};

use super::{Context, ExternalHandler, JobError, Outcome};
use crate::messengers::{channel_gone, load, note_retry, reason, record};

pub struct WhatsappMessageHandler;

/// Codes that end this message but say nothing wrong with bazaar's set-up.
const FINAL_FOR_MESSAGE: [i64; 5] = [131048, 131049, 131008, 100, 132001];

impl ExternalHandler for WhatsappMessageHandler {
    type Job = WhatsappMessage;

    async fn run(cx: Context<'_>, job: WhatsappMessage) -> Outcome {
        let deps = cx.deps;
        let store = &deps.messengers.store;
        let Sending {
            message: m,
            enabled,
            window_open,
        } = load(&deps.messengers, job.message).await?;
        if m.status != MessageStatus::Queued {
            return Ok(());
        }
        let (Some(client), Some(config)) =
            (&deps.messengers.whatsapp, deps.config.whatsapp.as_ref())
        else {
            return Err(JobError::retry("WHATSAPP_TOKEN is not set"));
        };
        let rendered;
        let params;
        let template_name;
        let template_lang;
        let outbound = match &m.body {
            MessageBody::Reply { text } => Outbound::Text(text),
            MessageBody::Notice { .. } if enabled != Some(true) => {
                let why = "WhatsApp was switched off";
                return record(store, &m, MessageStatus::Skipped, None, Some(why)).await;
            }
            MessageBody::Notice {
                template,
                template_only,
            } => {
                if window_open && !template_only {
                    rendered = text::render(template, m.language);
                    Outbound::Text(&rendered)
                } else {
                    let Some((event, p)) = text::template_params(template, m.language) else {
                        return Err(JobError::Permanent(
                            "this notice has no WhatsApp template".into(),
                        ));
                    };
                    params = p;
                    let (name, lang) = config
                        .templates
                        .iter()
                        .find(|(e, _, _)| *e == event)
                        .map(|(_, name, lang)| (name.clone(), lang.clone()))
                        .ok_or_else(|| JobError::Permanent(format!("no template for {event}")))?;
                    template_name = name;
                    template_lang = lang.unwrap_or_else(|| m.language.as_str().to_owned());
                    Outbound::Template {
                        name: &template_name,
                        language: &template_lang,
                        params: &params,
                    }
                }
            }
        };
        let wa_id = whatsapp::wa_id(&m.recipient);
        deps.messengers.whatsapp_slot(&wa_id).await?;
        match client.send(&m.recipient, &outbound).await {
            Ok(wamid) => record(store, &m, MessageStatus::Sent, Some(&wamid), None).await,
            Err(e) => match error_code(&e) {
                Some(whatsapp::codes::UNDELIVERABLE) => {
                    channel_gone(&deps.pool, store, &m, Channel::Whatsapp, &reason(&e)).await
                }
                Some(whatsapp::codes::WINDOW_CLOSED) => {
                    record(store, &m, MessageStatus::Failed, None, Some(&reason(&e))).await?;
                    resend_as_template(deps, &m).await
                }
                Some(code) if FINAL_FOR_MESSAGE.contains(&code) => {
                    record(store, &m, MessageStatus::Failed, None, Some(&reason(&e))).await
                }
                _ if matches!(e, ProviderError::Rejected { .. }) => {
                    record(store, &m, MessageStatus::Failed, None, Some(&reason(&e))).await?;
                    Err(e.into())
                }
                _ => {
                    note_retry(&deps.pool, &m, &e).await;
                    Err(e.into())
                }
            },
        }
    }
}

/// The window closed before the text went out: the template instead.
async fn resend_as_template(deps: &crate::Deps, m: &Outgoing) -> Outcome {
    let MessageBody::Notice {
        template,
        template_only: false,
    } = &m.body
    else {
        return Ok(());
    };
    let mut conn = deps
        .pool
        .acquire()
        .await
        .map_err(|e| JobError::retry(e.to_string()))?;
    let event = format!("{}:template", m.event);
    messages::enqueue(
        &mut conn,
        &deps.shop,
        Single {
            channel: Channel::Whatsapp,
            event: &event,
            user: m.user_id,
            order: m.order_id,
            recipient: &m.recipient,
            language: m.language,
            body: &MessageBody::Notice {
                template: template.clone(),
                template_only: true,
            },
        },
    )
    .await
    .map_err(|e| JobError::retry(format!("{e:#}")))
}
