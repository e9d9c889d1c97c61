//! The pipeline under failure: killed workers, a 20,000-job backlog, Redis
//! restarts. Each test would fail if one of APALIS.md's workarounds were removed.

use std::time::{Duration, Instant};

use bazaar_core::{jobs::Probe, outbox, queue_keys};

use crate::harness::{eventually, process::BazaarProcess, RedisServer, TestApp};

async fn enqueue_probes(app: &TestApp, prefix: &str, count: usize, work_ms: u64) {
    let probes: Vec<Probe> = (0..count)
        .map(|i| Probe {
            key: format!("{prefix}{i}"),
            work_ms,
            fail_times: 0,
        })
        .collect();
    let mut tx = app.pool.begin().await.unwrap();
    for chunk in probes.chunks(5000) {
        outbox::enqueue_batch(&mut tx, &app.config.pipeline, chunk)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
}

async fn probes_done(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM job_probes")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

async fn assert_every_probe_ran_once(app: &TestApp, count: i64) {
    let (pending, done, failed) = app.job_counts("ops.probe").await;
    assert_eq!((pending, done, failed), (0, count, 0));
    // One effect row per job (the key is the primary key, so a second run of
    // a job could not have succeeded: it would show up as a failure above).
    assert_eq!(probes_done(app).await, count);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_killed_worker_s_jobs_are_redelivered_within_the_orphan_bound_and_run_once() {
    // Redelivery by the outbox is pushed far out, so only apalis's orphan
    // recovery (heartbeat 1 s x 3 missed) can bring the jobs back in time.
    let app = TestApp::builder()
        .without_worker()
        .var("OUTBOX_REDELIVER_SECS", "600")
        .var("QUEUE_OPS_CONCURRENCY", "16")
        .start()
        .await;
    enqueue_probes(&app, "kill-", 300, 250).await;
    let mut first = BazaarProcess::spawn("worker", &app.vars);
    eventually(
        "the first worker to be mid-batch",
        Duration::from_secs(60),
        || async { (probes_done(&app).await >= 30).then_some(()) },
    )
    .await;
    first.kill();
    let killed_at = Instant::now();
    let done_at_kill = probes_done(&app).await;
    assert!(done_at_kill < 300, "the kill must land mid-batch");

    let _second = BazaarProcess::spawn("worker", &app.vars);
    eventually(
        "all jobs after the kill",
        Duration::from_secs(90),
        || async { (probes_done(&app).await == 300).then_some(()) },
    )
    .await;
    let recovered_in = killed_at.elapsed();
    assert!(
        recovered_in < Duration::from_secs(60),
        "took {recovered_in:?}"
    );
    assert_every_probe_ran_once(&app, 300).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_thousand_queued_jobs_drain_without_flooding_redis() {
    let app = TestApp::builder().without_worker().start().await;
    enqueue_probes(&app, "bulk-", 20_000, 0).await;
    app.start_worker();

    let cap = app.config.pipeline.relay_backlog_cap;
    let slack = app.config.pipeline.relay_batch_size as u64;
    let queue = queue_keys::queue_name(&app.config.redis_prefix, "ops");
    let mut redis = bazaar_core::redis_conn::connect(&app.config.redis_url, Duration::from_secs(5))
        .await
        .unwrap();
    let mut max_backlog = 0;
    let deadline = Instant::now() + Duration::from_secs(600);
    while probes_done(&app).await < 20_000 {
        max_backlog = max_backlog.max(queue_keys::backlog(&mut redis, &queue).await.unwrap());
        assert!(
            Instant::now() < deadline,
            "20,000 jobs did not drain in time"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(max_backlog > 0, "the backlog was sampled while draining");
    assert!(
        max_backlog <= cap + slack,
        "Redis backlog reached {max_backlog}, cap {cap}"
    );
    assert_every_probe_ran_once(&app, 20_000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn workers_survive_a_redis_restart_under_load_and_every_job_completes() {
    let mut redis = RedisServer::start().await;
    let app = TestApp::builder()
        .without_worker()
        .var("REDIS_URL", redis.url())
        // The restarted Redis has lost every queued task: the outbox pushes
        // what is still pending again after this long.
        .var("OUTBOX_REDELIVER_SECS", "3")
        .start()
        .await;
    enqueue_probes(&app, "restart-", 1000, 5).await;
    let mut worker = BazaarProcess::spawn("worker", &app.vars);
    eventually("the worker to be busy", Duration::from_secs(60), || async {
        (probes_done(&app).await >= 100).then_some(())
    })
    .await;

    redis.stop();
    tokio::time::sleep(Duration::from_secs(1)).await;
    redis.restart().await;

    eventually(
        "every job after the Redis restart",
        Duration::from_secs(120),
        || async { (probes_done(&app).await == 1000).then_some(()) },
    )
    .await;
    assert!(
        worker.try_status().is_none(),
        "the worker process must still run; log: {}",
        worker.log_text()
    );
    assert_every_probe_ran_once(&app, 1000).await;
    assert!(
        worker.log_text().contains("restarting apalis worker"),
        "the supervisor restarted the workers"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_worker_that_cannot_reach_redis_for_long_exits_non_zero() {
    let mut redis = RedisServer::start().await;
    let app = TestApp::builder()
        .without_worker()
        .var("REDIS_URL", redis.url())
        .var("WORKER_GIVE_UP_SECS", "2")
        .start()
        .await;
    let mut worker = BazaarProcess::spawn("worker", &app.vars);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(worker.try_status().is_none(), "running while Redis is up");
    redis.stop();
    let status = worker.wait(Duration::from_secs(60)).await;
    assert!(!status.success(), "exit status {status:?}");
    assert!(
        worker.log_text().contains("kept failing"),
        "{}",
        worker.log_text()
    );
}

async fn redis_cli(redis: &RedisServer, args: &[&str]) {
    let status = tokio::process::Command::new("redis-cli")
        .args(["-p", &redis.port.to_string()])
        .args(args)
        .stdout(std::process::Stdio::null())
        .status()
        .await
        .unwrap();
    assert!(status.success(), "redis-cli {args:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_redis_drops_every_connection_new_jobs_run_at_once_under_a_new_worker_name() {
    // A 30 s registration threshold (10 s heartbeat x 3): a worker coming back
    // under its old name would be refused for that long. Fresh names are not.
    let redis = RedisServer::start().await;
    let app = TestApp::builder()
        .without_worker()
        .var("REDIS_URL", redis.url())
        .var("WORKER_HEARTBEAT_SECS", "10")
        .var("OUTBOX_REDELIVER_SECS", "600")
        .start()
        .await;
    let worker = BazaarProcess::spawn("worker", &app.vars);
    enqueue_probes(&app, "before-", 5, 0).await;
    eventually("the first jobs", Duration::from_secs(60), || async {
        (probes_done(&app).await == 5).then_some(())
    })
    .await;

    redis_cli(&redis, &["CLIENT", "KILL", "TYPE", "normal"]).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let started = Instant::now();
    enqueue_probes(&app, "after-", 20, 0).await;
    eventually(
        "the jobs after the disconnect",
        Duration::from_secs(60),
        || async { (probes_done(&app).await == 25).then_some(()) },
    )
    .await;
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "took {:?}",
        started.elapsed()
    );
    assert!(
        worker.log_text().contains("restarting apalis worker"),
        "{}",
        worker.log_text()
    );
    assert_every_probe_ran_once(&app, 25).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_redis_stall_longer_than_half_a_second_does_not_stop_the_workers() {
    // redis-rs's default response timeout (500 ms) would turn this stall into
    // an error, and apalis-redis would end every worker.
    let redis = RedisServer::start().await;
    let app = TestApp::builder()
        .without_worker()
        .var("REDIS_URL", redis.url())
        .start()
        .await;
    let worker = BazaarProcess::spawn("worker", &app.vars);
    enqueue_probes(&app, "pre-", 3, 0).await;
    eventually("the worker to run", Duration::from_secs(60), || async {
        (probes_done(&app).await == 3).then_some(())
    })
    .await;

    redis_cli(&redis, &["DEBUG", "SLEEP", "1.5"]).await;
    enqueue_probes(&app, "post-", 10, 0).await;
    eventually("jobs after the stall", Duration::from_secs(30), || async {
        (probes_done(&app).await == 13).then_some(())
    })
    .await;
    assert!(
        !worker.log_text().contains("restarting apalis worker"),
        "{}",
        worker.log_text()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_delivered_many_times_run_once() {
    // Redelivery after 1 s while jobs wait and run 1.5 s each: every job is
    // pushed to Redis again, some several times, while it is queued or running.
    let app = TestApp::builder()
        .without_worker()
        .var("OUTBOX_REDELIVER_SECS", "1")
        .var("QUEUE_OPS_CONCURRENCY", "8")
        .start()
        .await;
    enqueue_probes(&app, "dup-", 40, 1500).await;
    app.start_worker();
    eventually("every job once", Duration::from_secs(120), || async {
        (probes_done(&app).await == 40).then_some(())
    })
    .await;
    app.drain().await;
    assert_every_probe_ran_once(&app, 40).await;
    let relayed: i64 =
        sqlx::query_scalar("SELECT sum(relay_count) FROM outbox WHERE kind = 'ops.probe'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(
        relayed > 40,
        "jobs were delivered more than once ({relayed} deliveries)"
    );
    let metrics = app.metrics().await;
    assert!(
        metrics.contains("bazaar_jobs_total{queue=\"ops\",outcome=\"duplicate\"}"),
        "duplicates are counted"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_running_jobs_finish_and_loses_none() {
    let app = TestApp::builder().without_worker().start().await;
    enqueue_probes(&app, "term-", 60, 1000).await;
    let mut worker = BazaarProcess::spawn("worker", &app.vars);
    eventually("the worker to be busy", Duration::from_secs(60), || async {
        (probes_done(&app).await >= 1).then_some(())
    })
    .await;
    worker.signal("TERM");
    let status = worker.wait(Duration::from_secs(60)).await;
    assert!(status.success(), "exit {status:?}: {}", worker.log_text());
    let (_, _, failed) = app.job_counts("ops.probe").await;
    assert_eq!(failed, 0, "shutdown fails no job");

    // What was not done is still pending and runs on the next start.
    let _next = BazaarProcess::spawn("worker", &app.vars);
    eventually(
        "the rest after a restart",
        Duration::from_secs(90),
        || async { (probes_done(&app).await == 60).then_some(()) },
    )
    .await;
    assert_every_probe_ran_once(&app, 60).await;
}

/// patches/apalis-redis, fetch_next.lua: a task id left in a queue after
/// its data was vacuumed (a second copy of a finished task: a killed
/// worker's orphans re-queued after the relay redelivered them, then the
/// clean-up ran) is dropped. Upstream it failed every fetch of the queue,
/// for every worker, for good; the scale-out test found it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_queued_task_whose_data_was_vacuumed_does_not_stall_its_queue() {
    let app = TestApp::builder().without_worker().start().await;
    let queue = queue_keys::queue_name(&app.config.redis_prefix, "ops");
    let redis = redis::Client::open(app.config.redis_url.as_str()).unwrap();
    let mut conn = redis.get_multiplexed_async_connection().await.unwrap();
    // More such ids than four fetches take (50 each): upstream, each fetch
    // holds one of them, fails, and the ids go round (orphan recovery).
    let gone: Vec<String> = (0..201).map(|_| uuid::Uuid::now_v7().to_string()).collect();
    redis::cmd("RPUSH")
        .arg(queue_keys::active_list(&queue))
        .arg(&gone)
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    enqueue_probes(&app, "after-", 5, 0).await;
    app.start_worker();
    eventually("the probes behind it", Duration::from_secs(30), || async {
        (probes_done(&app).await == 5).then_some(())
    })
    .await;
    assert_every_probe_ran_once(&app, 5).await;
    // And the ids are gone: upstream they went round for good, between
    // failed workers' in-flight sets and the queue (orphan recovery).
    eventually(
        "the ids without data dropped",
        Duration::from_secs(10),
        || async {
            let mut c = conn.clone();
            let mut held: Vec<String> = redis::cmd("LRANGE")
                .arg(queue_keys::active_list(&queue))
                .arg(0)
                .arg(-1)
                .query_async(&mut c)
                .await
                .ok()?;
            let inflight: Vec<String> = redis::cmd("KEYS")
                .arg(format!("{queue}:inflight:*"))
                .query_async(&mut c)
                .await
                .ok()?;
            for set in inflight {
                let members: Vec<String> = redis::cmd("SMEMBERS")
                    .arg(set)
                    .query_async(&mut c)
                    .await
                    .ok()?;
                held.extend(members);
            }
            (!held.iter().any(|id| gone.contains(id))).then_some(())
        },
    )
    .await;
}

/// patches/apalis-redis, vacuum.lua: a task whose attempt failed (the
/// worker could not record its outcome: PostgreSQL restarting) waits in the
/// scheduled set with the status "Failed" until its retry. The clean-up
/// keeps its data; upstream deleted it as if the task were dead, and the
/// retry found nothing to run. A task out of attempts (dead) is removed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_clean_up_keeps_a_failed_task_that_waits_for_its_retry() {
    let app = TestApp::spawn().await;
    let queue = queue_keys::queue_name(&app.config.redis_prefix, "ops");
    let redis = redis::Client::open(app.config.redis_url.as_str()).unwrap();
    let mut conn = redis.get_multiplexed_async_connection().await.unwrap();
    let (retrying, dead) = (
        uuid::Uuid::now_v7().to_string(),
        uuid::Uuid::now_v7().to_string(),
    );
    let later = chrono::Utc::now().timestamp() + 3600;
    // handle_results.lua: a failed attempt is retried until the 25th.
    for (id, attempts) in [(&retrying, "1"), (&dead, "25")] {
        redis::pipe()
            .hset(format!("{queue}:data"), id, "{}")
            .hset_multiple(
                format!("{queue}:meta:{id}"),
                &[("status", "Failed"), ("attempts", attempts)],
            )
            .query_async::<()>(&mut conn)
            .await
            .unwrap();
    }
    redis::pipe()
        .zadd(queue_keys::scheduled_set(&queue), &retrying, later)
        .sadd(queue_keys::dead_set(&queue), &dead)
        .query_async::<()>(&mut conn)
        .await
        .unwrap();

    app.clean_up().await;

    let kept: (bool, bool) = redis::pipe()
        .hexists(format!("{queue}:data"), &retrying)
        .hexists(format!("{queue}:data"), &dead)
        .query_async(&mut conn)
        .await
        .unwrap();
    assert_eq!(
        kept,
        (true, false),
        "(retrying, dead) data kept after the clean-up"
    );
}
