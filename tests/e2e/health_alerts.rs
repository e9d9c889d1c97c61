//! Scheduled health checks: alert once, recover once, one run per tick even
//! with two schedulers.

use std::{collections::HashSet, time::Duration};

use serde_json::Value;

use crate::harness::{eventually, RedisServer, TestApp};

async fn runs(app: &TestApp, admin: &str) -> Vec<Value> {
    let page: Value = app
        .get_auth("/api/v1/admin/health?per_page=100", admin)
        .await
        .json()
        .await
        .expect("runs");
    page["items"].as_array().cloned().unwrap_or_default()
}

/// Waits until `n` more finished runs exist than now.
async fn wait_runs(app: &TestApp, admin: &str, n: usize) {
    let finished = |runs: &[Value]| runs.iter().filter(|r| r["finished_at"].is_string()).count();
    let start = finished(&runs(app, admin).await);
    eventually(
        &format!("{n} more health runs"),
        Duration::from_secs(30),
        || async { (finished(&runs(app, admin).await) >= start + n).then_some(()) },
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_check_alerts_once_across_ticks_and_schedulers_then_recovers_once() {
    let mut redis = RedisServer::start().await;
    let app = TestApp::builder()
        .without_worker()
        .telegram()
        .schedulers(2)
        .var("REDIS_URL", redis.url())
        .var("SCHEDULE_HEALTH_CHECK", "* * * * * *")
        .var("ADMIN_EMAILS", "ops@bazaar.test, cto@bazaar.test")
        .start()
        .await;
    let telegram = app.telegram.as_ref().unwrap();
    let admin = app.admin_token().await;
    let alerts = |to: &str| app.smtp.mails_to(to);

    wait_runs(&app, &admin, 2).await;
    assert!(telegram.sent().is_empty(), "healthy: no alert");
    let latest = &runs(&app, &admin).await[0];
    assert_eq!(latest["status"], "ok");
    let names: Vec<&str> = latest["components"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["name"].as_str().unwrap())
        .collect();
    for expected in ["database", "redis", "queue:email", "queue:ops", "outbox"] {
        assert!(names.contains(&expected), "{expected} not in {names:?}");
    }

    redis.stop();
    let sent = eventually("the alert", Duration::from_secs(30), || async {
        let s = telegram.sent();
        (!s.is_empty()).then_some(s)
    })
    .await;
    assert_eq!(sent[0].chat_id, -100777);
    assert!(
        sent[0].text.contains("ALERT") && sent[0].text.contains("redis"),
        "{}",
        sent[0].text
    );

    wait_runs(&app, &admin, 4).await;
    assert_eq!(
        telegram.sent().len(),
        1,
        "one alert across several unhealthy ticks"
    );
    for to in ["ops@bazaar.test", "cto@bazaar.test"] {
        let mails = alerts(to);
        assert_eq!(mails.len(), 1, "one alert mail to {to}");
        assert!(mails[0].header("Subject").unwrap().contains("redis"));
    }
    let unhealthy = runs(&app, &admin)
        .await
        .into_iter()
        .find(|r| r["status"] == "unhealthy")
        .expect("an unhealthy run");
    let redis_component = unhealthy["components"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "redis")
        .unwrap();
    assert_eq!(redis_component["status"], "error");
    assert!(!redis_component["detail"].as_str().unwrap().is_empty());

    redis.restart().await;
    let sent = eventually("the recovery message", Duration::from_secs(30), || async {
        let s = telegram.sent();
        (s.len() >= 2).then_some(s)
    })
    .await;
    assert!(sent[1].text.contains("RECOVERED"), "{}", sent[1].text);
    wait_runs(&app, &admin, 3).await;
    assert_eq!(telegram.sent().len(), 2, "one recovery message");
    assert_eq!(alerts("ops@bazaar.test").len(), 2);
    assert!(alerts("ops@bazaar.test")[1]
        .header("Subject")
        .unwrap()
        .contains("RECOVERED"));

    let all = runs(&app, &admin).await;
    let ticks: Vec<&str> = all.iter().map(|r| r["tick_at"].as_str().unwrap()).collect();
    assert!(
        ticks.windows(2).all(|w| w[0] > w[1]),
        "newest first, one row per tick"
    );
}

/// The checks each scheduler process ran, from its own /metrics.
async fn executed(client: &reqwest::Client, port: u16) -> Option<f64> {
    let text = client
        .get(format!("http://127.0.0.1:{port}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    Some(
        text.lines()
            .filter(|l| l.starts_with("bazaar_health_runs_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_scheduler_processes_run_each_tick_once() {
    let app = TestApp::builder()
        .without_worker()
        .var("SCHEDULE_HEALTH_CHECK", "* * * * * *")
        .start()
        .await;
    let admin = app.admin_token().await;
    let ports = [
        crate::harness::ports::free_port(),
        crate::harness::ports::free_port(),
    ];
    let _schedulers: Vec<_> = ports
        .iter()
        .map(|port| {
            let mut vars = app.vars.clone();
            vars.insert("METRICS_BIND".into(), format!("127.0.0.1:{port}"));
            crate::harness::process::BazaarProcess::spawn("scheduler", &vars)
        })
        .collect();
    for port in ports {
        eventually("scheduler metrics", Duration::from_secs(60), || async {
            executed(&app.client, port).await
        })
        .await;
    }
    wait_runs(&app, &admin, 6).await;

    let total: f64 = executed(&app.client, ports[0]).await.unwrap()
        + executed(&app.client, ports[1]).await.unwrap();
    let rows = runs(&app, &admin).await;
    let finished = rows.iter().filter(|r| r["finished_at"].is_string()).count() as f64;
    // Each tick is executed by one process: executions match stored runs (give
    // or take the checks in flight), where both running every tick would
    // double them (12 or more here).
    assert!(
        (total - finished).abs() <= 3.0,
        "{total} checks ran for {finished} runs"
    );
    let runners: HashSet<&str> = rows.iter().map(|r| r["runner"].as_str().unwrap()).collect();
    assert!(!runners.is_empty());
}
