//! Announcement tweets for new stores and products, against a fake X API that
//! checks OAuth 1.0a signatures.

use std::time::Duration;

use serde_json::{json, Value};

use crate::{
    fixtures::{catalog, expect, png, upload, vendor},
    harness::{eventually, ports::free_port, TestApp},
};

async fn announce_jobs(app: &TestApp) -> Vec<(String, i32)> {
    sqlx::query_as(
        "SELECT status, attempts FROM outbox WHERE kind = 'social.announce' ORDER BY created_at",
    )
    .fetch_all(&app.pool)
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_product_with_an_image_is_tweeted_with_that_image() {
    let app = TestApp::builder()
        .x()
        .var("TWITTER_ANNOUNCE_DELAY_SECS", "3")
        .start()
        .await;
    let x = app.x.as_ref().unwrap();
    let c = catalog(&app).await;
    let r = upload(&app, &c.vendor, &c.product_id, png(200), "image/png").await;
    assert_eq!(r.status(), 201);

    let tweets = eventually("two announcements", Duration::from_secs(30), || async {
        let t = x.tweets();
        (t.len() >= 2).then_some(t)
    })
    .await;
    app.drain().await;
    assert_eq!(x.rejected_auth(), 0, "every request was signed correctly");
    let uploads = x.uploads();
    assert_eq!(uploads.len(), 1);
    assert_eq!(
        uploads[0].bytes,
        png(200),
        "the stored image, byte for byte"
    );
    assert_eq!(uploads[0].content_type.as_deref(), Some("image/png"));
    let product_tweet = tweets
        .iter()
        .find(|t| t.text.contains("Classic Tee"))
        .expect("a tweet about the product");
    assert_eq!(product_tweet.media_ids, vec![uploads[0].media_id.clone()]);
    assert!(product_tweet
        .text
        .contains("http://shop.test/products/classic-tee"));
    let store_tweet = tweets.iter().find(|t| t.text.contains("Shop")).unwrap();
    assert!(store_tweet.media_ids.is_empty());
    assert_eq!(x.tweets().len(), 2, "one tweet each");

    let product = expect(
        &app,
        "GET",
        &format!("/api/v1/products/{}", c.product_id),
        Some(&c.vendor),
        None,
        200,
    )
    .await;
    assert_eq!(
        product["tweet_id"].as_str(),
        Some(product_tweet.id.as_str())
    );
    let store = expect(
        &app,
        "GET",
        &format!("/api/v1/stores/{}", c.store_id),
        None,
        None,
        200,
    )
    .await;
    assert_eq!(store["tweet_id"].as_str(), Some(store_tweet.id.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_tweet_is_retried_and_posted_once() {
    let app = TestApp::builder().x().start().await;
    let x = app.x.as_ref().unwrap();
    x.fail_tweets(500, 1);
    let owner = vendor(&app, "v@example.com").await;
    let store = expect(
        &app,
        "POST",
        "/api/v1/stores",
        Some(&owner),
        Some(json!({ "name": "Retry Shop" })),
        201,
    )
    .await;
    let tweet = eventually(
        "the tweet after a retry",
        Duration::from_secs(30),
        || async { x.tweets().into_iter().next() },
    )
    .await;
    app.drain().await;
    assert_eq!(x.tweets().len(), 1);
    assert!(tweet.text.contains("Retry Shop"));
    let jobs = announce_jobs(&app).await;
    assert_eq!(
        jobs,
        vec![("done".to_owned(), 2)],
        "failed once, then posted"
    );
    let store = expect(
        &app,
        "GET",
        &format!("/api/v1/stores/{}", store["id"].as_str().unwrap()),
        None,
        None,
        200,
    )
    .await;
    assert_eq!(store["tweet_id"].as_str(), Some(tweet.id.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn x_being_down_never_blocks_a_creation() {
    let dead = format!("http://127.0.0.1:{}", free_port());
    let app = TestApp::builder()
        .x()
        .var("TWITTER_API_URL", dead.clone())
        .var("TWITTER_UPLOAD_URL", dead)
        .start()
        .await;
    app.leaves_jobs("X stays down: the announcements are retried until they fail");
    let c = catalog(&app).await;
    let product = expect(
        &app,
        "GET",
        &format!("/api/v1/products/{}", c.product_id),
        None,
        None,
        200,
    )
    .await;
    assert_eq!(product["tweet_id"], Value::Null);
    // The jobs keep failing and are retried, not lost.
    eventually("retried announcements", Duration::from_secs(30), || async {
        let jobs = announce_jobs(&app).await;
        (jobs.len() == 2
            && jobs
                .iter()
                .all(|(status, attempts)| status == "pending" && *attempts >= 1))
        .then_some(())
    })
    .await;
    let error: Option<String> = sqlx::query_scalar(
        "SELECT last_error FROM outbox WHERE kind = 'social.announce' AND last_error IS NOT NULL LIMIT 1",
    )
    .fetch_optional(&app.pool)
    .await
    .unwrap()
    .flatten();
    assert!(error.unwrap_or_default().contains("cannot reach X"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_credentials_nothing_is_enqueued() {
    let app = TestApp::builder().without_worker().start().await;
    catalog(&app).await;
    assert!(announce_jobs(&app).await.is_empty());
}
