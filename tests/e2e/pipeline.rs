//! The outbox -> Redis -> worker spine: durability, retries, failures.

use std::time::Duration;

use bazaar_core::{jobs::Probe, outbox};
use serde_json::{json, Value};

use crate::harness::{eventually, RedisServer, TestApp};

async fn enqueue_probe(app: &TestApp, key: &str, fail_times: u32) {
    let mut conn = app.pool.acquire().await.unwrap();
    let probe = Probe {
        key: key.into(),
        work_ms: 0,
        fail_times,
    };
    outbox::enqueue(&mut conn, &app.config.pipeline, &probe)
        .await
        .unwrap()
        .expect("new job");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forgot_password_works_while_redis_is_down_and_the_mail_arrives_once_it_is_back() {
    let mut redis = RedisServer::start().await;
    let app = TestApp::builder()
        .var("REDIS_URL", redis.url())
        .start()
        .await;
    app.register("jane@example.com").await;
    app.drain().await;
    redis.stop();

    let r = app
        .post(
            "/api/v1/auth/password/forgot",
            json!({ "email": "jane@example.com" }),
        )
        .await;
    assert_eq!(r.status(), 202);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let resets = |app: &TestApp| {
        app.smtp
            .mails_to("jane@example.com")
            .into_iter()
            .filter(|m| m.header("Subject").is_some_and(|s| s.contains("Reset")))
            .count()
    };
    assert_eq!(resets(&app), 0, "no mail can go out while Redis is down");
    let (pending, _, _) = app.job_counts("email.send").await;
    assert_eq!(pending, 1, "the job waits durably in PostgreSQL");

    redis.restart().await;
    eventually(
        "the reset mail after Redis is back",
        Duration::from_secs(30),
        || async { (resets(&app) >= 1).then_some(()) },
    )
    .await;
    app.drain().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(resets(&app), 1, "exactly once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_job_is_retried_with_backoff_then_succeeds() {
    let app = TestApp::spawn().await;
    enqueue_probe(&app, "flaky", 2).await;
    app.drain().await;
    let attempts: i32 =
        sqlx::query_scalar("SELECT attempts FROM outbox WHERE idempotency_key = 'flaky'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(attempts, 3);
    let runs: i64 =
        sqlx::query_scalar("SELECT count(*) FROM job_probes WHERE idempotency_key = 'flaky'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(runs, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_that_exhausts_its_retries_is_failed_visible_counted_and_retryable() {
    let app = TestApp::builder()
        .var("QUEUE_OPS_MAX_ATTEMPTS", "3")
        .start()
        .await;
    app.leaves_jobs("the probe is made to fail for good");
    enqueue_probe(&app, "doomed", 1000).await;
    let admin = app.admin_token().await;
    let jobs: Value = eventually(
        "the job to fail for good",
        Duration::from_secs(30),
        || async {
            let jobs: Value = app
                .get_auth("/api/v1/admin/jobs", &admin)
                .await
                .json()
                .await
                .ok()?;
            (jobs["latest_failures"].as_array()?.len() == 1).then_some(jobs)
        },
    )
    .await;
    let failure = &jobs["latest_failures"][0];
    assert_eq!(failure["kind"], "ops.probe");
    assert_eq!(failure["attempts"], 3);
    assert!(failure["last_error"].as_str().unwrap().contains("fail"));
    let ops = jobs["queues"]
        .as_array()
        .unwrap()
        .iter()
        .find(|q| q["queue"] == "ops")
        .unwrap();
    assert_eq!(ops["failed"], 1);
    assert_eq!(ops["retried"], 1);

    let text = app.metrics().await;
    assert!(text.contains("bazaar_jobs_total{queue=\"ops\",outcome=\"failed\"}"));

    // Retrying from the admin API puts it back in line with a fresh attempt.
    let id = failure["id"].as_str().unwrap();
    let r = app
        .post_auth(
            &format!("/api/v1/admin/jobs/ops/{id}/retry"),
            &admin,
            json!({}),
        )
        .await;
    assert_eq!(r.status(), 202);
    eventually(
        "the retried job to fail again",
        Duration::from_secs(30),
        || async {
            let (pending, _, failed) = app.job_counts("ops.probe").await;
            (pending == 0 && failed == 1).then_some(())
        },
    )
    .await;
    let attempts: i32 =
        sqlx::query_scalar("SELECT attempts FROM outbox WHERE idempotency_key = 'doomed'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(attempts, 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_smtp_errors_are_retried_and_permanent_ones_fail_the_job() {
    let app = TestApp::spawn().await;
    app.leaves_jobs("a mail is refused for good (550) on purpose");
    app.smtp.fail_next(451, 2);
    app.register("kim@example.com").await;
    app.drain().await;
    assert_eq!(app.smtp.mails_to("kim@example.com").len(), 1);

    app.smtp.fail_next(550, 1);
    app.register("lee@example.com").await;
    eventually(
        "the welcome mail job to fail",
        Duration::from_secs(20),
        || async {
            let (_, _, failed) = app.job_counts("email.send").await;
            (failed == 1).then_some(())
        },
    )
    .await;
    let attempts: i32 = sqlx::query_scalar("SELECT attempts FROM outbox WHERE status = 'failed'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(attempts, 1, "a permanent failure is not retried");
    assert!(app.smtp.mails_to("lee@example.com").is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enqueueing_the_same_job_twice_is_a_no_op() {
    let app = TestApp::spawn().await;
    let mut conn = app.pool.acquire().await.unwrap();
    let probe = Probe {
        key: "once".into(),
        work_ms: 0,
        fail_times: 0,
    };
    assert!(outbox::enqueue(&mut conn, &app.config.pipeline, &probe)
        .await
        .unwrap()
        .is_some());
    assert!(outbox::enqueue(&mut conn, &app.config.pipeline, &probe)
        .await
        .unwrap()
        .is_none());
    app.drain().await;
    let (_, done, _) = app.job_counts("ops.probe").await;
    assert_eq!(done, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_start_promptly_without_waiting_for_a_worker_heartbeat() {
    // With a 30 s heartbeat, apalis-redis alone would leave a job pushed by the
    // relay waiting for the next heartbeat; the polling interval picks it up.
    let app = TestApp::builder()
        .var("WORKER_HEARTBEAT_SECS", "30")
        .start()
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    for i in 0..5 {
        enqueue_probe(&app, &format!("prompt-{i}"), 0).await;
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.drain().await;
    let slowest_ms: f64 = sqlx::query_scalar(
        "SELECT max(EXTRACT(EPOCH FROM started_at - enqueued_at) * 1000)::float8 FROM job_probes",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(slowest_ms < 2000.0, "a job waited {slowest_ms} ms to start");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cleanup_trims_finished_jobs_and_the_task_data_apalis_never_expires() {
    let app = TestApp::builder()
        .var("JOB_DONE_RETENTION_SECS", "0")
        .start()
        .await;
    for i in 0..20 {
        enqueue_probe(&app, &format!("old-{i}"), 0).await;
    }
    app.drain().await;
    let queue = bazaar_core::queue_keys::queue_name(&app.config.redis_prefix, "ops");
    let mut redis = bazaar_core::redis_conn::connect(&app.config.redis_url, Duration::from_secs(5))
        .await
        .unwrap();
    let data_before: u64 = redis::cmd("HLEN")
        .arg(format!("{queue}:data"))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(data_before >= 20, "apalis keeps task data: {data_before}");

    app.clean_up().await;

    let probes_left: i64 =
        sqlx::query_scalar("SELECT count(*) FROM outbox WHERE kind = 'ops.probe'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(probes_left, 0, "finished jobs past retention are deleted");
    // Only the clean-up's own task (finished after it ran) may remain.
    let data_after: u64 = redis::cmd("HLEN")
        .arg(format!("{queue}:data"))
        .query_async(&mut redis)
        .await
        .unwrap();
    let done_after: u64 = redis::cmd("SCARD")
        .arg(format!("{queue}:done"))
        .query_async(&mut redis)
        .await
        .unwrap();
    assert!(
        data_after <= 1 && done_after <= 1,
        "data {data_after}, done {done_after}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_failing_job_does_not_spoil_the_jobs_run_with_it() {
    let app = TestApp::builder()
        .without_worker()
        .var("QUEUE_OPS_MAX_ATTEMPTS", "2")
        .start()
        .await;
    app.leaves_jobs("one probe is made to fail for good");
    // This probe's effect row exists already: its insert fails every time,
    // inside the transaction it shares with the others.
    sqlx::query("INSERT INTO job_probes (idempotency_key, enqueued_at, started_at) VALUES ('clash', now(), now())")
        .execute(&app.pool)
        .await
        .unwrap();
    let mut tx = app.pool.begin().await.unwrap();
    let mut probes: Vec<Probe> = (0..40)
        .map(|i| Probe {
            key: format!("batch-{i}"),
            work_ms: 0,
            fail_times: u32::from(i % 10 == 0),
        })
        .collect();
    probes.push(Probe {
        key: "clash".into(),
        work_ms: 0,
        fail_times: 0,
    });
    outbox::enqueue_batch(&mut tx, &app.config.pipeline, &probes)
        .await
        .unwrap();
    outbox::enqueue_batch(
        &mut tx,
        &app.config.pipeline,
        &[bazaar_core::jobs::NoOp { key: "noop".into() }],
    )
    .await
    .unwrap();
    tx.commit().await.unwrap();
    app.start_worker();

    eventually("the batch to settle", Duration::from_secs(60), || async {
        let pending: i64 =
            sqlx::query_scalar("SELECT count(*) FROM outbox WHERE status = 'pending'")
                .fetch_one(&app.pool)
                .await
                .ok()?;
        (pending == 0).then_some(())
    })
    .await;
    let (_, done, failed) = app.job_counts("ops.probe").await;
    assert_eq!((done, failed), (40, 1), "only the clashing job fails");
    let runs: i64 =
        sqlx::query_scalar("SELECT count(*) FROM job_probes WHERE idempotency_key LIKE 'batch-%'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(runs, 40, "every other effect committed exactly once");
    let (_, noop_done, _) = app.job_counts("ops.noop").await;
    assert_eq!(noop_done, 1);
    let error: String =
        sqlx::query_scalar("SELECT last_error FROM outbox WHERE idempotency_key = 'clash'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(error.contains("recording probe"), "{error}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_mail_refused_for_good_does_not_spoil_the_mails_sharing_its_batch() {
    let app = TestApp::builder().without_worker().start().await;
    app.leaves_jobs("one mail is refused for good on purpose");
    app.smtp.fail_next(550, 1);
    let mails: Vec<bazaar_core::jobs::SendEmail> = (0..10)
        .map(|i| bazaar_core::jobs::SendEmail {
            key: format!("batch-mail-{i}"),
            to: format!("m{i}@example.com"),
            template: bazaar_core::mail::MailTemplate::Welcome {
                name: format!("M{i}"),
            },
        })
        .collect();
    let mut tx = app.pool.begin().await.unwrap();
    outbox::enqueue_batch(&mut tx, &app.config.pipeline, &mails)
        .await
        .unwrap();
    tx.commit().await.unwrap();
    app.start_worker();
    eventually("the mails to settle", Duration::from_secs(60), || async {
        let (pending, _, _) = app.job_counts("email.send").await;
        (pending == 0).then_some(())
    })
    .await;
    let (_, done, failed) = app.job_counts("email.send").await;
    assert_eq!((done, failed), (9, 1));
    assert_eq!(app.smtp.mails().len(), 9);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_of_an_unknown_kind_waits_untouched_for_a_worker_that_knows_it() {
    let app = TestApp::builder()
        .var("OUTBOX_REDELIVER_SECS", "1")
        .start()
        .await;
    app.leaves_jobs("a job of a kind no worker knows stays pending by design");
    let mut conn = app.pool.acquire().await.unwrap();
    outbox::enqueue_raw(
        &mut conn,
        bazaar_core::jobs::Queue::Ops,
        "ops.from_the_future",
        json!({}),
        "future-1",
        3,
    )
    .await
    .unwrap();
    // Delivered (several times: redelivery after 1 s), never run, never failed.
    eventually("repeated deliveries", Duration::from_secs(30), || async {
        let relays: i32 =
            sqlx::query_scalar("SELECT relay_count FROM outbox WHERE idempotency_key = 'future-1'")
                .fetch_one(&app.pool)
                .await
                .ok()?;
        (relays >= 3).then_some(())
    })
    .await;
    let (status, attempts): (String, i32) =
        sqlx::query_as("SELECT status, attempts FROM outbox WHERE idempotency_key = 'future-1'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!((status.as_str(), attempts), ("pending", 0));
}
