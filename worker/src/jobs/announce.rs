//! Announcement tweets. Posting is the external effect; the tweet id is
//! stored right after, and a retried job that finds it does nothing, so a
//! crash between the two is the only way to post twice (and X refuses the
//! duplicate text with a final 403).

use bazaar_core::{catalog::announcements, jobs::Announce, shop::Shop};
use bazaar_integrations::twitter::compose;

use super::{Context, ExternalHandler, JobError, Outcome};

pub struct AnnounceHandler;

impl ExternalHandler for AnnounceHandler {
    type Job = Announce;

    async fn run(cx: Context<'_>, job: Announce) -> Outcome {
        run(cx, job).await
    }
}

async fn run(cx: Context<'_>, job: Announce) -> Outcome {
    let deps = cx.deps;
    let Some(twitter) = &deps.twitter else {
        return Err(JobError::Permanent(
            "X (Twitter) is not configured: set the four TWITTER_* credentials".into(),
        ));
    };
    let shop = Shop::new(&deps.config);
    let plan = announcements::plan(&deps.pool, &shop, job.subject, job.id)
        .await
        .map_err(|e| JobError::retry(format!("reading what to announce: {e}")))?;
    let announcement = match plan {
        announcements::Plan::Post(a) => a,
        announcements::Plan::AlreadyPosted => return Ok(()),
        announcements::Plan::Gone => {
            tracing::info!(subject = ?job.subject, id = %job.id, "not announcing: deleted or hidden since");
            return Ok(());
        }
    };
    let mut media = Vec::new();
    if let Some((key, content_type)) = &announcement.image {
        let bytes = deps
            .storage
            .get(key)
            .await
            .map_err(|e| JobError::retry(format!("reading image {key}: {e}")))?;
        if let Some(bytes) = bytes {
            media.push(twitter.upload_media(bytes.to_vec(), content_type).await?);
        }
    }
    let text = compose(&announcement.headline, &announcement.url);
    let tweet_id = twitter.post_tweet(&text, &media).await?;
    tracing::info!(subject = ?job.subject, id = %job.id, tweet_id, "announced on X");
    announcements::record(&deps.pool, job.subject, job.id, &tweet_id)
        .await
        .map_err(|e| {
            JobError::Permanent(format!(
                "posted tweet {tweet_id} but could not store its id: {e}"
            ))
        })?;
    // Product and store pages show the tweet id; cached copies must learn it.
    if let Err(e) = bazaar_core::catalog::publish_change(&deps.config).await {
        tracing::warn!(error = %e, "could not announce the catalogue change");
    }
    Ok(())
}
