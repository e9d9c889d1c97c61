//! The test harness: the real system in-process (api, worker and optionally
//! scheduler) on port 0, with its own database and Redis key prefix, plus fake
//! providers at their configured base URLs.

pub mod browser;
pub mod console;
pub mod kaspi;
pub mod nginx;
pub mod ozon;
pub mod ports;
pub mod postgres_server;
pub mod process;
pub mod redis_server;
pub mod smtp;
pub mod stripe;
pub mod telegram;
pub mod whatsapp;
pub mod x;

use std::{
    collections::HashMap,
    future::Future,
    net::SocketAddr,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    time::Duration,
};

use bazaar_core::config::{Config, Env};
use serde_json::{json, Value};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

pub use redis_server::RedisServer;
pub use smtp::SmtpServer;
pub use telegram::FakeTelegram;
pub use whatsapp::FakeWhatsApp;

pub const PASSWORD: &str = "correct-horse-9";

fn base_database_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432".into())
}

pub fn base_redis_url() -> String {
    std::env::var("TEST_REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".into())
}

/// Servers that refuse root (initdb) or need a user to drop to (nginx).
pub fn running_as_root() -> bool {
    static ROOT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ROOT.get_or_init(|| {
        std::process::Command::new("id")
            .arg("-u")
            .output()
            .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
    })
}

/// Polls `check` until it returns `Some`, failing the test with `what` after `limit`.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out after {limit:?} waiting for: {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The machine, shared by the tests that run at once. A test that loads
/// all of it on purpose (the scale-out test: ten processes and nginx) takes
/// it alone (`Builder::alone`), so neither it nor a neighbour fails for want
/// of CPU; every other test shares it.
static MACHINE: std::sync::LazyLock<Arc<tokio::sync::RwLock<()>>> =
    std::sync::LazyLock::new(|| Arc::new(tokio::sync::RwLock::new(())));

/// A test's hold on the machine: one of the two guards, held to be dropped.
struct MachineShare {
    _shared: Option<tokio::sync::OwnedRwLockReadGuard<()>>,
    _alone: Option<tokio::sync::OwnedRwLockWriteGuard<()>>,
}

/// Drops test databases left by earlier runs (older than an hour), once per
/// test process. Their names carry a UUIDv7, whose first 48 bits are the
/// creation time in milliseconds.
async fn drop_stale_databases() {
    static ONCE: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    ONCE.get_or_init(|| async {
        let Ok(mut admin) = <sqlx::PgConnection as sqlx::Connection>::connect(&format!(
            "{}/postgres",
            base_database_url()
        ))
        .await
        else {
            return;
        };
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT datname FROM pg_database WHERE datname LIKE 'bazaar\\_t\\_%'",
        )
        .fetch_all(&mut admin)
        .await
        .unwrap_or_default();
        let now_ms = chrono::Utc::now().timestamp_millis();
        for name in names {
            let created_ms = name
                .strip_prefix("bazaar_t_")
                .and_then(|hex| hex.get(..12))
                .and_then(|ms| i64::from_str_radix(ms, 16).ok());
            if created_ms.is_some_and(|t| now_ms - t > 3_600_000) {
                let sql = format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)");
                let _ = sqlx::query(sqlx::AssertSqlSafe(sql))
                    .execute(&mut admin)
                    .await;
            }
        }
    })
    .await;
}

pub struct Builder {
    vars: HashMap<String, String>,
    worker: bool,
    schedulers: usize,
    telegram: bool,
    /// Telegram's flood limits for the fake (implies `telegram`).
    telegram_limits: Option<telegram::Limits>,
    whatsapp: bool,
    x: bool,
    stripe: bool,
    kaspi: bool,
    /// A fake Ozon with these limits (bazaar configured to match).
    ozon: Option<ozon::Limits>,
    /// Runs with no other test (see `MACHINE`).
    alone: bool,
}

impl Builder {
    pub fn var(mut self, k: &str, v: impl Into<String>) -> Self {
        self.vars.insert(k.into(), v.into());
        self
    }

    /// No other test runs meanwhile: for a test that loads the machine.
    pub fn alone(mut self) -> Self {
        self.alone = true;
        self
    }

    pub fn without_worker(mut self) -> Self {
        self.worker = false;
        self
    }

    pub fn schedulers(mut self, n: usize) -> Self {
        self.schedulers = n;
        self
    }

    pub fn telegram(mut self) -> Self {
        self.telegram = true;
        self
    }

    /// A fake Telegram with other flood limits than Telegram's.
    pub fn telegram_limits(mut self, limits: telegram::Limits) -> Self {
        self.telegram = true;
        self.telegram_limits = Some(limits);
        self
    }

    /// A fake WhatsApp Cloud API, with the `WHATSAPP_*` variables it
    /// expects; it posts its webhooks to this app's `/webhooks/whatsapp`.
    pub fn whatsapp(mut self) -> Self {
        self.whatsapp = true;
        self
    }

    /// A fake X API, with the four `TWITTER_*` credentials it expects.
    pub fn x(mut self) -> Self {
        self.x = true;
        self
    }

    /// A fake Kaspi merchant API, with the `KASPI_*` variables it expects
    /// (and a feed token, `kaspi::FEED_TOKEN`).
    pub fn kaspi(mut self) -> Self {
        self.kaspi = true;
        self
    }

    /// A fake Ozon Seller API with Ozon's limits, but a stock pair interval
    /// of 2 s (30 s in production) so tests need not wait; bazaar is told
    /// the same limits.
    pub fn ozon(self) -> Self {
        self.ozon_limits(ozon::Limits {
            stock_pair_interval: Duration::from_secs(2),
            ..ozon::Limits::default()
        })
    }

    pub fn ozon_limits(mut self, limits: ozon::Limits) -> Self {
        self.ozon = Some(limits);
        self
    }

    /// A fake Stripe API, with the `STRIPE_*` variables it expects.
    pub fn stripe(mut self) -> Self {
        self.stripe = true;
        self
    }

    pub async fn start(mut self) -> TestApp {
        let machine = if self.alone {
            MachineShare {
                _shared: None,
                _alone: Some(MACHINE.clone().write_owned().await),
            }
        } else {
            MachineShare {
                _shared: Some(MACHINE.clone().read_owned().await),
                _alone: None,
            }
        };
        drop_stale_databases().await;
        let name = format!("bazaar_t_{}", uuid::Uuid::now_v7().simple());
        let db_url = format!("{}/{name}", base_database_url());
        let smtp = SmtpServer::start().await;
        let telegram = if self.telegram {
            let limits = self.telegram_limits.unwrap_or_default();
            Some(FakeTelegram::start_with(limits).await)
        } else {
            None
        };
        let fake_whatsapp = if self.whatsapp {
            let fake = FakeWhatsApp::start().await;
            for (k, v) in [
                ("WHATSAPP_TOKEN", whatsapp::TOKEN.to_owned()),
                (
                    "WHATSAPP_PHONE_NUMBER_ID",
                    whatsapp::PHONE_NUMBER_ID.to_owned(),
                ),
                ("WHATSAPP_API_URL", fake.url()),
                ("WHATSAPP_API_VERSION", whatsapp::VERSION.to_owned()),
                ("WHATSAPP_APP_SECRET", whatsapp::APP_SECRET.to_owned()),
                ("WHATSAPP_VERIFY_TOKEN", whatsapp::VERIFY_TOKEN.to_owned()),
            ] {
                self.vars.entry(k.into()).or_insert(v);
            }
            Some(fake)
        } else {
            None
        };
        let fake_x = if self.x {
            let fake = x::FakeX::start().await;
            for (k, v) in [
                ("TWITTER_API_KEY", x::API_KEY.to_owned()),
                ("TWITTER_API_SECRET", x::API_SECRET.to_owned()),
                ("TWITTER_ACCESS_TOKEN", x::ACCESS_TOKEN.to_owned()),
                ("TWITTER_ACCESS_SECRET", x::ACCESS_SECRET.to_owned()),
                ("TWITTER_API_URL", fake.url()),
                ("TWITTER_UPLOAD_URL", fake.url()),
                ("TWITTER_ANNOUNCE_DELAY_SECS", "1".to_owned()),
                ("QUEUE_SOCIAL_BACKOFF_BASE_MS", "100".to_owned()),
            ] {
                self.vars.entry(k.into()).or_insert(v);
            }
            Some(fake)
        } else {
            None
        };
        let fake_stripe = if self.stripe {
            let fake = stripe::FakeStripe::start().await;
            for (k, v) in [
                ("STRIPE_SECRET_KEY", stripe::SECRET_KEY.to_owned()),
                ("STRIPE_WEBHOOK_SECRET", stripe::WEBHOOK_SECRET.to_owned()),
                ("STRIPE_API_URL", fake.url()),
                ("QUEUE_PAYMENTS_BACKOFF_BASE_MS", "100".to_owned()),
            ] {
                self.vars.entry(k.into()).or_insert(v);
            }
            Some(fake)
        } else {
            None
        };
        let fake_kaspi = if self.kaspi {
            let fake = kaspi::FakeKaspi::start().await;
            for (k, v) in [
                ("KASPI_TOKEN", kaspi::TOKEN.to_owned()),
                ("KASPI_MERCHANT_ID", kaspi::MERCHANT_ID.to_owned()),
                ("KASPI_API_URL", fake.url()),
                ("KASPI_FEED_TOKEN", kaspi::FEED_TOKEN.to_owned()),
                ("QUEUE_MARKETPLACE_BACKOFF_BASE_MS", "100".to_owned()),
            ] {
                self.vars.entry(k.into()).or_insert(v);
            }
            Some(fake)
        } else {
            None
        };
        let fake_ozon = match self.ozon {
            Some(limits) => {
                let fake = ozon::FakeOzon::start_with(limits).await;
                for (k, v) in [
                    ("OZON_CLIENT_ID", ozon::CLIENT_ID.to_owned()),
                    ("OZON_API_KEY", ozon::API_KEY.to_owned()),
                    ("OZON_API_URL", fake.url()),
                    ("OZON_WAREHOUSE_ID", ozon::WAREHOUSE_ID.to_string()),
                    ("OZON_CURRENCY", "KZT".to_owned()),
                    ("OZON_RATE_PER_SEC", limits.global_per_sec.to_string()),
                    (
                        "OZON_STOCK_CALLS_PER_MIN",
                        limits.stock_calls_per_min.to_string(),
                    ),
                    (
                        "OZON_STOCK_PAIR_INTERVAL_SECS",
                        limits.stock_pair_interval.as_secs().to_string(),
                    ),
                    (
                        "OZON_PRICE_CHANGES_PER_HOUR",
                        limits.price_changes_per_hour.to_string(),
                    ),
                    ("OZON_CIRCLE_BACKOFF_SECS", "2".to_owned()),
                    ("QUEUE_MARKETPLACE_BACKOFF_BASE_MS", "100".to_owned()),
                ] {
                    self.vars.entry(k.into()).or_insert(v);
                }
                Some(fake)
            }
            None => None,
        };
        let defaults = [
            ("DATABASE_URL", db_url.clone()),
            ("DATABASE_MAX_CONNECTIONS", "8".into()),
            ("REDIS_URL", base_redis_url()),
            (
                "REDIS_PREFIX",
                format!("t{}", uuid::Uuid::now_v7().simple()),
            ),
            ("JWT_SECRET", "test-secret-test-secret-test-secret".into()),
            ("BAZAAR_PUBLIC_URL", "http://shop.test".into()),
            ("SMTP_URL", smtp.url()),
            ("MAIL_FROM", "bazaar <shop@bazaar.test>".into()),
            // The tests read English; Russian (the production default) is
            // asked for where it is tested.
            ("BAZAAR_LANGUAGE", "en".into()),
            ("WORKER_POLL_INTERVAL_MS", "20".into()),
            ("WORKER_HEARTBEAT_SECS", "1".into()),
            ("WORKER_MISSED_HEARTBEATS", "3".into()),
            ("OUTBOX_POLL_INTERVAL_MS", "100".into()),
            ("QUEUE_EMAIL_BACKOFF_BASE_MS", "100".into()),
            ("QUEUE_OPS_BACKOFF_BASE_MS", "100".into()),
            ("HEALTH_CHECK_TIMEOUT_MS", "1000".into()),
            (
                "STORAGE_URL",
                format!(
                    "file://{}",
                    std::env::temp_dir()
                        .join(format!("bazaar-media-{name}"))
                        .display()
                ),
            ),
        ];
        for (k, v) in defaults {
            self.vars.entry(k.into()).or_insert(v);
        }
        if let Some(t) = &telegram {
            self.vars
                .entry("TELEGRAM_BOT_TOKEN".into())
                .or_insert(t.token.clone());
            self.vars
                .entry("TELEGRAM_API_URL".into())
                .or_insert(t.url());
            self.vars
                .entry("TELEGRAM_ADMIN_CHAT_ID".into())
                .or_insert("-100777".into());
            self.vars
                .entry("TELEGRAM_BOT_USERNAME".into())
                .or_insert(telegram::BOT_USERNAME.into());
            self.vars
                .entry("TELEGRAM_WEBHOOK_SECRET".into())
                .or_insert("tg-secret_test-1".into());
        }
        let vars = self.vars.clone();
        let config = Arc::new(
            Config::from(&Env::new(|k| vars.get(k).cloned())).expect("test config is valid"),
        );
        let pool = bazaar_core::db::prepare(&config.database_url, config.database_max_connections)
            .await
            .expect("test database");
        let redis =
            bazaar_core::redis_conn::connect(&config.redis_url, config.redis_response_timeout)
                .await
                .expect("redis for tests");
        let shutdown = CancellationToken::new();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind api");
        let addr = listener.local_addr().expect("api addr");
        if let Some(fake) = &fake_whatsapp {
            fake.set_target(format!("http://{addr}/webhooks/whatsapp"));
        }
        let storage =
            bazaar_core::storage::Storage::from_url(&config.storage_url).expect("test storage");
        let payments = bazaar_integrations::wire::payment_providers(&config);
        let state =
            bazaar_api::AppState::new(config.clone(), pool.clone(), redis, storage, payments)
                .with_messengers(bazaar_integrations::wire::messenger_webhooks(&config))
                .with_kaspi(bazaar_integrations::wire::kaspi_completion(&config));
        tokio::spawn(bazaar_api::serve(state, listener, shutdown.clone()));
        let app = TestApp {
            worker_started: AtomicBool::new(false),
            leaves_jobs: Mutex::new(None),
            addr,
            client: reqwest::Client::new(),
            pool,
            vars: self.vars,
            config,
            shutdown,
            smtp,
            telegram,
            whatsapp: fake_whatsapp,
            x: fake_x,
            stripe: fake_stripe,
            kaspi: fake_kaspi,
            ozon: fake_ozon,
            _machine: machine,
        };
        if self.worker {
            app.start_worker();
        }
        for _ in 0..self.schedulers {
            app.start_scheduler();
        }
        app
    }
}

pub struct TestApp {
    pub addr: SocketAddr,
    pub client: reqwest::Client,
    pub pool: PgPool,
    pub vars: HashMap<String, String>,
    pub config: Arc<Config>,
    pub shutdown: CancellationToken,
    pub smtp: SmtpServer,
    pub telegram: Option<FakeTelegram>,
    pub whatsapp: Option<FakeWhatsApp>,
    pub x: Option<x::FakeX>,
    pub stripe: Option<stripe::FakeStripe>,
    pub kaspi: Option<kaspi::FakeKaspi>,
    pub ozon: Option<ozon::FakeOzon>,
    /// A worker was started: jobs can drain.
    worker_started: AtomicBool,
    /// Why this test leaves jobs behind, when it says so (`leaves_jobs`).
    leaves_jobs: Mutex<Option<&'static str>>,
    /// Held until the test ends (see `MACHINE`); dropped last.
    _machine: MachineShare,
}

/// At the end of every test (unless it said why not, `leaves_jobs`), no job
/// is left pending and none failed: a test that forgets an effect's job, or
/// makes one fail, fails itself. Tests run on the multi-threaded runtime so
/// that the check can wait for the worker from `drop`.
impl Drop for TestApp {
    fn drop(&mut self) {
        let opted_out = self.leaves_jobs.lock().map(|r| r.is_some()).unwrap_or(true);
        if !opted_out && !std::thread::panicking() {
            if let Ok(handle) = tokio::runtime::Handle::try_current() {
                tokio::task::block_in_place(|| handle.block_on(self.final_check()));
            }
        }
        self.shutdown.cancel();
    }
}

impl TestApp {
    pub fn builder() -> Builder {
        Builder {
            vars: HashMap::new(),
            worker: true,
            schedulers: 0,
            telegram: false,
            telegram_limits: None,
            whatsapp: false,
            x: false,
            stripe: false,
            kaspi: false,
            ozon: None,
            alone: false,
        }
    }

    pub async fn spawn() -> TestApp {
        Self::builder().start().await
    }

    /// This test leaves jobs pending or failed on purpose, for `reason`: the
    /// end-of-test check (see `Drop`) is skipped.
    pub fn leaves_jobs(&self, reason: &'static str) {
        if let Ok(mut r) = self.leaves_jobs.lock() {
            *r = Some(reason);
        }
    }

    /// The end-of-test check: without a worker nothing can drain, but
    /// nothing may have failed either; and no fake provider saw bazaar break
    /// one of its rules (a flood limit, an invalid body, a webhook bazaar
    /// refused), which the real provider would have punished.
    async fn final_check(&self) {
        // Status webhooks still on their way would otherwise add jobs (or
        // failures) after the drain.
        if let Some(whatsapp) = &self.whatsapp {
            whatsapp.settle().await;
        }
        if self.worker_started.load(Ordering::SeqCst) {
            self.drain().await;
        } else {
            self.assert_none_failed().await;
        }
        if let Some(telegram) = &self.telegram {
            let violations = telegram.violations();
            assert!(
                violations.is_empty(),
                "bazaar broke Telegram's rules: {violations:#?}"
            );
        }
        if let Some(ozon) = &self.ozon {
            let violations = ozon.violations();
            assert!(
                violations.is_empty(),
                "bazaar broke Ozon's rules: {violations:#?}"
            );
        }
        if let Some(kaspi) = &self.kaspi {
            let violations = kaspi.violations();
            assert!(
                violations.is_empty(),
                "bazaar broke Kaspi's rules: {violations:#?}"
            );
        }
        if let Some(whatsapp) = &self.whatsapp {
            let violations = whatsapp.violations();
            assert!(
                violations.is_empty(),
                "bazaar broke WhatsApp's rules: {violations:#?}"
            );
            let failures = whatsapp.webhook_failures();
            assert!(
                failures.is_empty(),
                "bazaar refused WhatsApp webhooks: {failures:#?}"
            );
        }
    }

    /// Starts an in-process worker (relay + apalis workers) on this app's config.
    /// A worker in this process with a pool of its own, as `bazaar worker`
    /// has: sharing the test's (and API's) eight connections starved two
    /// workers' batches on a busy machine, which no deployment does.
    pub fn start_worker(&self) {
        self.worker_started.store(true, Ordering::SeqCst);
        let (config, shutdown) = (self.config.clone(), self.shutdown.clone());
        tokio::spawn(async move {
            let pool = bazaar_worker::connect_pool(&config)
                .await
                .expect("the worker's pool");
            bazaar_worker::run(config, pool, shutdown).await
        });
    }

    pub fn start_scheduler(&self) {
        let vars = self.vars.clone();
        let entries =
            bazaar_scheduler::table::load(&Env::new(|k| vars.get(k).cloned())).expect("schedule");
        tokio::spawn(bazaar_scheduler::run(
            self.config.clone(),
            self.pool.clone(),
            entries,
            self.shutdown.clone(),
        ));
    }

    pub async fn metrics(&self) -> String {
        let r = self
            .client
            .get(self.url("/metrics"))
            .send()
            .await
            .expect("metrics");
        r.text().await.expect("metrics text")
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    pub async fn post(&self, path: &str, body: Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    pub async fn post_auth(&self, path: &str, token: &str, body: Value) -> reqwest::Response {
        self.client
            .post(self.url(path))
            .bearer_auth(token)
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    pub async fn get_auth(&self, path: &str, token: &str) -> reqwest::Response {
        self.client
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .expect("request")
    }

    /// Delivers `event` to `/webhooks/stripe` as Stripe does: the serialized
    /// JSON with a fresh, valid `Stripe-Signature` (t = now).
    pub async fn stripe_webhook(&self, event: &Value) -> reqwest::Response {
        let body = event.to_string();
        let signature = stripe::signature_header(&body, chrono::Utc::now().timestamp());
        self.client
            .post(self.url("/webhooks/stripe"))
            .header("content-type", "application/json")
            .header("stripe-signature", signature)
            .body(body)
            .send()
            .await
            .expect("stripe webhook")
    }

    /// Registers a customer and returns the session (user + tokens).
    pub async fn register(&self, email: &str) -> Value {
        let r = self
            .post(
                "/api/v1/auth/register",
                json!({ "email": email, "password": PASSWORD, "name": "Test User", "role": "customer" }),
            )
            .await;
        assert_eq!(r.status(), 201, "register {email}");
        r.json().await.expect("json")
    }

    /// Creates an admin the way an operator would (the core function behind
    /// `bazaar admin create`) and logs in.
    pub async fn admin_token(&self) -> String {
        self.admin().await.1
    }

    /// A new admin's e-mail (password `PASSWORD`) and access token.
    pub async fn admin(&self) -> (String, String) {
        let email = format!("admin-{}@bazaar.test", uuid::Uuid::now_v7().simple());
        bazaar_core::auth::service::create_admin(&self.pool, &email, "Admin", PASSWORD.into())
            .await
            .expect("admin");
        let r = self
            .post(
                "/api/v1/auth/login",
                json!({ "email": email, "password": PASSWORD }),
            )
            .await;
        assert_eq!(r.status(), 200);
        let token = r.json::<Value>().await.expect("json")["access_token"]
            .as_str()
            .expect("token")
            .to_owned();
        (email, token)
    }

    /// `bazaar seed --products N` against this app's database.
    pub fn seed(&self, products: usize) {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_bazaar"))
            .args(["seed", "--products", &products.to_string()])
            .envs(&self.vars)
            .env("RUST_LOG", "warn")
            .output()
            .expect("run bazaar seed");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Runs the scheduled clean-up job once, through the outbox, and waits
    /// for the queues to drain.
    pub async fn clean_up(&self) {
        let mut conn = self.pool.acquire().await.expect("connection");
        let job = bazaar_core::jobs::Cleanup {
            tick: "test".into(),
        };
        bazaar_core::outbox::enqueue(&mut conn, &self.config.pipeline, &job)
            .await
            .expect("enqueue the clean-up");
        drop(conn);
        self.drain().await;
    }

    /// Waits until no job is pending; fails if any is left behind or failed.
    pub async fn drain(&self) {
        eventually(
            "the job queues to drain",
            Duration::from_secs(60),
            || async {
                let pending: i64 =
                    sqlx::query_scalar("SELECT count(*) FROM outbox WHERE status = 'pending'")
                        .fetch_one(&self.pool)
                        .await
                        .ok()?;
                (pending == 0).then_some(())
            },
        )
        .await;
        self.assert_none_failed().await;
    }

    async fn assert_none_failed(&self) {
        let failed: Vec<(String, Option<String>)> =
            sqlx::query_as("SELECT kind, last_error FROM outbox WHERE status = 'failed'")
                .fetch_all(&self.pool)
                .await
                .expect("query");
        assert!(failed.is_empty(), "failed jobs left behind: {failed:?}");
    }

    pub async fn job_counts(&self, kind: &str) -> (i64, i64, i64) {
        sqlx::query_as(
            "SELECT count(*) FILTER (WHERE status = 'pending'), count(*) FILTER (WHERE status = 'done'),
                    count(*) FILTER (WHERE status = 'failed')
             FROM outbox WHERE kind = $1",
        )
        .bind(kind)
        .fetch_one(&self.pool)
        .await
        .expect("counts")
    }
}

/// Asserts a problem+json response with `status`, returning its body.
/// The `field` of each entry of a problem's `errors`, in order.
pub fn error_fields(problem: &Value) -> Vec<&str> {
    problem["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["field"].as_str().expect("field"))
        .collect()
}

pub async fn assert_problem(r: reqwest::Response, status: u16) -> Value {
    assert_eq!(r.status().as_u16(), status, "status");
    let ct = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    assert!(
        ct.starts_with("application/problem+json"),
        "content-type was {ct}"
    );
    let body: Value = r.json().await.expect("problem body");
    assert_eq!(body["status"], status);
    assert!(
        body["type"].is_string() && body["title"].is_string(),
        "{body}"
    );
    body
}
