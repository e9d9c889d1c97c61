//! Configuration from the environment (`.env` is loaded by the binary first).
//! The variable names in ARCHITECTURE.md are a contract with operators; every
//! variable is listed in `.env.example`. A bad value is a start-up error that
//! names the variable, never a silent default.

use std::{net::SocketAddr, path::PathBuf, str::FromStr, time::Duration};

use secrecy::SecretString;

use crate::jobs::Queue;

#[derive(Debug, thiserror::Error)]
#[error("invalid value for {name}: {message}")]
pub struct ConfigError {
    pub name: String,
    pub message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Production,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Pretty,
    Json,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub environment: Environment,
    pub database_url: String,
    pub database_max_connections: u32,
    /// How long a request waits for a free database connection before it is
    /// answered 503 with Retry-After.
    pub database_acquire_timeout: Duration,
    /// How long a stopping API keeps serving its open connections (each
    /// answer closing its own) before closing the rest; see `bazaar_api::drain`.
    pub shutdown_drain: Duration,
    pub redis_url: String,
    pub redis_prefix: String,
    pub redis_response_timeout: Duration,
    pub bind: SocketAddr,
    pub public_url: String,
    /// `None` in development means "generate one per start".
    pub jwt_secret: Option<SecretString>,
    pub access_token_ttl: Duration,
    pub refresh_token_ttl: Duration,
    pub smtp_url: Option<SecretString>,
    pub mail_from: String,
    pub mail_outbox_dir: PathBuf,
    pub admin_emails: Vec<String>,
    pub alert_repeat: Duration,
    pub telegram: TelegramConfig,
    pub log_format: Option<LogFormat>,
    pub sentry_dsn: Option<SecretString>,
    pub max_body_bytes: usize,
    pub metrics_bind: Option<SocketAddr>,
    pub cors_allowed_origins: Vec<String>,
    pub trust_forwarded_for: bool,
    pub worker_give_up: Duration,
    pub rate_limits: RateLimits,
    pub pipeline: PipelineConfig,
    pub health: HealthThresholds,
    pub storage_url: String,
    /// ISO 4217 code of every price in this shop (`CURRENCY`).
    pub currency: String,
    pub max_image_bytes: usize,
    /// Public product reads are cached in memory, invalidated through Redis.
    pub catalog_cache: bool,
    pub concurrency: Concurrency,
    /// Memory the catalogue cache may hold (bodies, keys and bookkeeping).
    pub catalog_cache_bytes: u64,
    pub search: SearchConfig,
    /// `None` when any of the four `TWITTER_*` credentials is missing.
    pub twitter: Option<TwitterConfig>,
    pub commerce: CommerceConfig,
    /// `None` without `WHATSAPP_TOKEN` and `WHATSAPP_PHONE_NUMBER_ID`.
    pub whatsapp: Option<WhatsappConfig>,
    /// Messages to customers without a language of their own (`BAZAAR_LANGUAGE`, `ru` or `en`).
    pub default_language: String,
    /// Kaspi.kz and Ozon (`KASPI_*`, `OZON_*`).
    pub marketplaces: super::marketplace_config::MarketplacesConfig,
    /// Credentials of integrations that later issues wire up; kept so that
    /// start-up can say which are enabled.
    pub integrations: Vec<(&'static str, bool)>,
    pub back_office: BackOfficeConfig,
}

/// The console, the dashboard and the contact form.
#[derive(Debug, Clone)]
pub struct BackOfficeConfig {
    /// Where contact-form messages go (`SHOP_EMAIL`; default: the first of
    /// `ADMIN_EMAILS`). `None`: the form answers 503.
    pub shop_email: Option<String>,
    /// A console sign-in lasts this long (`CONSOLE_SESSION_TTL_SECS`, 8 h).
    pub session_ttl: Duration,
    /// Variants with this many units for sale or fewer are low on stock
    /// (`LOW_STOCK_THRESHOLD`, 5).
    pub low_stock_threshold: i32,
    /// Contact-form messages per client address per hour
    /// (`RATE_LIMIT_CONTACT_PER_IP`, 5).
    pub contact_per_ip_per_hour: u64,
    /// How long the API keeps a computed dashboard (`DASHBOARD_CACHE_SECS`, 10).
    pub dashboard_cache: Duration,
    /// How long a total of 10,000 or more orders of one order-list filter
    /// is reused (`ORDER_TOTALS_CACHE_SECS`, 60).
    pub order_totals_cache: Duration,
}

#[derive(Debug, Clone)]
pub struct CommerceConfig {
    /// Basis points (`TAX_RATE_BPS`): 1200 is 12 %.
    pub tax_rate_bps: i64,
    /// Prices include tax (`TAX_INCLUSIVE`).
    pub tax_inclusive: bool,
    /// How long an unpaid prepaid order holds its stock.
    pub reservation_ttl: Duration,
    pub cart_guest_ttl: Duration,
    /// `None` without `STRIPE_SECRET_KEY`: the stripe payment method is off.
    pub stripe: Option<StripeConfig>,
    pub kaspi_webhook_secret: Option<SecretString>,
}

#[derive(Debug, Clone)]
pub struct StripeConfig {
    pub secret_key: SecretString,
    pub webhook_secret: Option<SecretString>,
    pub api_url: String,
}

#[derive(Debug, Clone)]
pub struct TelegramConfig {
    pub bot_token: Option<SecretString>,
    pub api_url: String,
    pub admin_chat_id: Option<i64>,
    pub webhook_secret: Option<SecretString>,
    /// The bot's username, for `t.me/<bot>?start=` links
    /// (`TELEGRAM_BOT_USERNAME`); customer messages need it.
    pub bot_username: Option<String>,
    /// How long a link token works (`TELEGRAM_LINK_TTL_SECS`).
    pub link_ttl: Duration,
    /// Telegram's flood limits, shared by every worker process through
    /// Redis: per chat and overall, messages per second. Defaults are those
    /// of teloxide's `Throttle` (`Limits::default()`).
    pub per_chat_per_sec: u32,
    pub overall_per_sec: u32,
    /// Added to each one-second window, because a request reserved at one
    /// instant reaches Telegram a little later (`TELEGRAM_RATE_MARGIN_MS`).
    pub rate_margin: Duration,
}

#[derive(Debug, Clone)]
pub struct WhatsappConfig {
    pub token: SecretString,
    pub phone_number_id: String,
    pub api_url: String,
    /// The Graph API version in every path (`WHATSAPP_API_VERSION`).
    pub api_version: String,
    /// Verifies `X-Hub-Signature-256`; without it inbound webhooks are off.
    pub app_secret: Option<SecretString>,
    /// Answers Meta's verification handshake.
    pub verify_token: Option<SecretString>,
    /// Template per event, `WHATSAPP_TEMPLATE_<EVENT>=name[:language]`; the
    /// language defaults to the customer's.
    pub templates: Vec<(String, String, Option<String>)>,
    /// Cloud API throughput per business number (`WHATSAPP_RATE_PER_SEC`).
    pub per_second: u32,
    /// Messages to one customer per minute (`WHATSAPP_PAIR_PER_MINUTE`):
    /// Meta's pair rate limit (131056).
    pub pair_per_minute: u32,
}

/// The events a WhatsApp template exists for.
pub const WHATSAPP_EVENTS: [&str; 9] = [
    "order_placed",
    "order_paid",
    "order_confirmed",
    "order_shipped",
    "order_delivered",
    "order_cancelled",
    "order_refunded",
    "payment_failed",
    "price_drop",
];

#[derive(Debug, Clone)]
pub struct TwitterConfig {
    pub api_key: SecretString,
    pub api_secret: SecretString,
    pub access_token: SecretString,
    pub access_secret: SecretString,
    pub api_url: String,
    pub upload_url: String,
    /// How long after a product is created its tweet goes out, so that images
    /// uploaded right after creating it are included.
    pub announce_delay: Duration,
}

#[derive(Debug, Clone)]
pub struct RateLimits {
    pub login_failures_per_account: u64,
    pub login_failure_window: Duration,
    /// Past `login_failures_per_account` failures from all clients, one
    /// attempt on the account per this long.
    pub login_slow_down: Duration,
    pub login_requests_per_ip_per_minute: u64,
    pub forgot_per_account_per_hour: u64,
    pub forgot_per_ip_per_hour: u64,
    pub track_per_ip_per_minute: u64,
}

/// Knobs of the outbox -> Redis -> worker pipeline (see APALIS.md for why each exists).
#[derive(Debug, Clone)]
pub struct PipelineConfig {
    pub worker_poll_interval: Duration,
    pub worker_heartbeat: Duration,
    pub worker_missed_heartbeats: usize,
    pub worker_batch_size: usize,
    pub relay_poll_interval: Duration,
    pub relay_batch_size: i64,
    pub relay_backlog_cap: u64,
    pub redeliver_after: Duration,
    pub queues: Vec<QueuePolicy>,
    pub done_retention: Duration,
    pub failed_retention: Duration,
}

#[derive(Debug, Clone)]
pub struct QueuePolicy {
    pub queue: Queue,
    pub concurrency: usize,
    pub timeout: Duration,
    pub max_attempts: i32,
    pub backoff_base: Duration,
    pub backoff_max: Duration,
}

#[derive(Debug, Clone)]
pub struct HealthThresholds {
    pub max_backlog: i64,
    pub max_failed_last_hour: i64,
    pub max_outbox_lag: Duration,
    pub check_timeout: Duration,
}

impl PipelineConfig {
    /// The longest any job may run.
    pub fn longest_timeout(&self) -> Duration {
        self.queues
            .iter()
            .map(|q| q.timeout)
            .max()
            .unwrap_or_default()
    }

    pub fn policy(&self, queue: Queue) -> &QueuePolicy {
        self.queues
            .iter()
            .find(|p| p.queue == queue)
            .unwrap_or(&self.queues[0])
    }
}

/// Reads a variable through a lookup function, so tests can configure a
/// process without touching the real environment.
type Lookup<'a> = Box<dyn Fn(&str) -> Option<String> + 'a>;

pub struct Env<'a> {
    lookup: Lookup<'a>,
}

impl<'a> Env<'a> {
    pub fn new(lookup: impl Fn(&str) -> Option<String> + 'a) -> Self {
        Self {
            lookup: Box::new(lookup),
        }
    }

    pub fn process() -> Env<'static> {
        Env::new(|k| std::env::var(k).ok())
    }

    pub fn get(&self, name: &str) -> Option<String> {
        (self.lookup)(name).filter(|v| !v.trim().is_empty())
    }

    pub(crate) fn string(&self, name: &str, default: &str) -> String {
        self.get(name).unwrap_or_else(|| default.to_owned())
    }

    pub(crate) fn parse<T: FromStr>(&self, name: &str, default: T) -> Result<T, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        match self.get(name) {
            None => Ok(default),
            Some(v) => v.trim().parse().map_err(|e: T::Err| ConfigError {
                name: name.to_owned(),
                message: format!("{v:?}: {e}"),
            }),
        }
    }

    pub(crate) fn opt_parse<T: FromStr>(&self, name: &str) -> Result<Option<T>, ConfigError>
    where
        T::Err: std::fmt::Display,
    {
        self.get(name)
            .map(|v| {
                v.trim().parse().map_err(|e: T::Err| ConfigError {
                    name: name.to_owned(),
                    message: format!("{v:?}: {e}"),
                })
            })
            .transpose()
    }

    pub(crate) fn secs(&self, name: &str, default: u64) -> Result<Duration, ConfigError> {
        self.parse(name, default).map(Duration::from_secs)
    }

    pub(crate) fn millis(&self, name: &str, default: u64) -> Result<Duration, ConfigError> {
        self.parse(name, default).map(Duration::from_millis)
    }

    pub(crate) fn secret(&self, name: &str) -> Option<SecretString> {
        self.get(name).map(SecretString::from)
    }

    pub(crate) fn bool(&self, name: &str, default: bool) -> Result<bool, ConfigError> {
        match self.get(name).map(|v| v.to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if ["1", "true", "yes", "on"].contains(&v.as_str()) => Ok(true),
            Some(v) if ["0", "false", "no", "off"].contains(&v.as_str()) => Ok(false),
            Some(v) => Err(ConfigError {
                name: name.to_owned(),
                message: format!("{v:?}: expected true or false"),
            }),
        }
    }
}

impl Config {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from(&Env::process())
    }

    pub fn from(env: &Env<'_>) -> Result<Self, ConfigError> {
        let environment = match env.string("BAZAAR_ENV", "development").as_str() {
            "development" | "dev" => Environment::Development,
            "production" | "prod" => Environment::Production,
            other => {
                return Err(ConfigError {
                    name: "BAZAAR_ENV".into(),
                    message: format!("{other:?}: expected development or production"),
                })
            }
        };
        let jwt_secret = env.secret("JWT_SECRET");
        if environment == Environment::Production {
            match env.get("JWT_SECRET") {
                None => {
                    return Err(ConfigError {
                        name: "JWT_SECRET".into(),
                        message: "is required when BAZAAR_ENV=production".into(),
                    })
                }
                Some(s) if s.len() < 32 => {
                    return Err(ConfigError {
                        name: "JWT_SECRET".into(),
                        message: "must be at least 32 bytes".into(),
                    })
                }
                Some(_) => {}
            }
        }
        let log_format = match env.get("LOG_FORMAT").as_deref() {
            None => None,
            Some("json") => Some(LogFormat::Json),
            Some("pretty") => Some(LogFormat::Pretty),
            Some(other) => {
                return Err(ConfigError {
                    name: "LOG_FORMAT".into(),
                    message: format!("{other:?}: expected pretty or json"),
                })
            }
        };
        let list = |name: &str| -> Vec<String> {
            env.get(name)
                .map(|v| {
                    v.split(',')
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty())
                        .collect()
                })
                .unwrap_or_default()
        };
        let configured = |names: &[&str]| names.iter().all(|n| env.get(n).is_some());
        let public_url = env
            .string("BAZAAR_PUBLIC_URL", "http://127.0.0.1:8080")
            .trim_end_matches('/')
            .to_owned();

        let twitter = twitter_config(env)?;
        let twitter_enabled = twitter.is_some();
        Ok(Config {
            environment,
            database_url: env.string("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/bazaar"),
            database_max_connections: env.parse("DATABASE_MAX_CONNECTIONS", default_pool_size())?,
            database_acquire_timeout: env.millis("DATABASE_ACQUIRE_TIMEOUT_MS", 2_000)?,
            shutdown_drain: env.secs("SHUTDOWN_DRAIN_SECS", 15)?,
            redis_url: env.string("REDIS_URL", "redis://127.0.0.1:6379"),
            redis_prefix: env.string("REDIS_PREFIX", "bazaar"),
            redis_response_timeout: env.millis("REDIS_RESPONSE_TIMEOUT_MS", 5_000)?,
            bind: env.parse("BAZAAR_BIND", SocketAddr::from(([127, 0, 0, 1], 8080)))?,
            public_url,
            jwt_secret,
            access_token_ttl: env.secs("ACCESS_TOKEN_TTL_SECS", 15 * 60)?,
            refresh_token_ttl: env.secs("REFRESH_TOKEN_TTL_SECS", 30 * 24 * 3600)?,
            smtp_url: env.secret("SMTP_URL"),
            mail_from: env.string("MAIL_FROM", "bazaar <no-reply@bazaar.local>"),
            mail_outbox_dir: PathBuf::from(env.string("MAIL_OUTBOX_DIR", "./var/outbox")),
            admin_emails: list("ADMIN_EMAILS"),
            alert_repeat: Duration::from_secs(60 * env.parse::<u64>("ALERT_REPEAT_MINUTES", 30)?),
            telegram: TelegramConfig {
                bot_token: env.secret("TELEGRAM_BOT_TOKEN"),
                api_url: env
                    .string("TELEGRAM_API_URL", "https://api.telegram.org")
                    .trim_end_matches('/')
                    .to_owned(),
                admin_chat_id: env.opt_parse("TELEGRAM_ADMIN_CHAT_ID")?,
                webhook_secret: telegram_secret(env)?,
                bot_username: env
                    .get("TELEGRAM_BOT_USERNAME")
                    .map(|u| u.trim().trim_start_matches('@').to_owned()),
                link_ttl: env.secs("TELEGRAM_LINK_TTL_SECS", 15 * 60)?,
                per_chat_per_sec: env.parse("TELEGRAM_RATE_PER_CHAT", 1)?,
                overall_per_sec: env.parse("TELEGRAM_RATE_OVERALL", 30)?,
                rate_margin: env.millis("TELEGRAM_RATE_MARGIN_MS", 200)?,
            },
            log_format,
            sentry_dsn: env.secret("SENTRY_DSN"),
            max_body_bytes: env.parse("MAX_BODY_BYTES", 1_048_576)?,
            metrics_bind: env.opt_parse("METRICS_BIND")?,
            cors_allowed_origins: origins(list("CORS_ALLOWED_ORIGINS"))?,
            trust_forwarded_for: env.bool("TRUST_FORWARDED_FOR", false)?,
            worker_give_up: env.secs("WORKER_GIVE_UP_SECS", 300)?,
            rate_limits: RateLimits {
                login_failures_per_account: env.parse("RATE_LIMIT_LOGIN_FAILURES", 10)?,
                login_failure_window: env.secs("RATE_LIMIT_LOGIN_FAILURE_WINDOW_SECS", 15 * 60)?,
                login_slow_down: env.secs("RATE_LIMIT_LOGIN_SLOW_DOWN_SECS", 10)?,
                login_requests_per_ip_per_minute: env.parse("RATE_LIMIT_LOGIN_PER_IP", 30)?,
                forgot_per_account_per_hour: env.parse("RATE_LIMIT_FORGOT_PER_ACCOUNT", 5)?,
                forgot_per_ip_per_hour: env.parse("RATE_LIMIT_FORGOT_PER_IP", 30)?,
                track_per_ip_per_minute: env.parse("RATE_LIMIT_TRACK_PER_IP", 10)?,
            },
            pipeline: pipeline_config(env)?,
            health: HealthThresholds {
                max_backlog: env.parse("HEALTH_MAX_BACKLOG", 10_000)?,
                max_failed_last_hour: env.parse("HEALTH_MAX_FAILED_JOBS", 10)?,
                max_outbox_lag: env.secs("HEALTH_MAX_OUTBOX_LAG_SECS", 120)?,
                check_timeout: env.millis("HEALTH_CHECK_TIMEOUT_MS", 3_000)?,
            },
            storage_url: env.string("STORAGE_URL", "file://./var/media"),
            currency: currency(env.string("CURRENCY", "KZT"))?,
            max_image_bytes: env.parse("MAX_IMAGE_BYTES", 5 * 1024 * 1024)?,
            catalog_cache: env.bool("CATALOG_CACHE", true)?,
            catalog_cache_bytes: env.parse("CATALOG_CACHE_BYTES", 7 * 1024 * 1024)?,
            search: SearchConfig {
                engine: match env.string("SEARCH_ENGINE", "embedded").as_str() {
                    "embedded" => SearchEngine::Embedded,
                    "postgres" => SearchEngine::Postgres,
                    other => {
                        return Err(ConfigError {
                            name: "SEARCH_ENGINE".into(),
                            message: format!("{other:?}: expected embedded or postgres"),
                        })
                    }
                },
                reconcile: env.secs("SEARCH_RECONCILE_SECS", 300)?,
                wait: env.millis("SEARCH_WAIT_MS", 100)?,
            },
            concurrency: Concurrency {
                reads: env.parse("CONCURRENCY_READS", 512)?,
                writes: env.parse("CONCURRENCY_WRITES", 256)?,
                webhooks: env.parse("CONCURRENCY_WEBHOOKS", 256)?,
                back_office: env.parse("CONCURRENCY_BACK_OFFICE", 64)?,
                wait: env.millis("CONCURRENCY_WAIT_MS", 250)?,
            },
            twitter,
            commerce: commerce_config(env)?,
            whatsapp: whatsapp_config(env)?,
            marketplaces: super::marketplace_config::load(env)?,
            default_language: match env.string("BAZAAR_LANGUAGE", "ru").as_str() {
                l @ ("ru" | "en") => l.to_owned(),
                other => {
                    return Err(ConfigError {
                        name: "BAZAAR_LANGUAGE".into(),
                        message: format!("{other:?}: expected ru or en"),
                    })
                }
            },
            back_office: BackOfficeConfig {
                shop_email: match env.get("SHOP_EMAIL") {
                    Some(e) => Some(crate::validate::email(&e).map_err(|m| ConfigError {
                        name: "SHOP_EMAIL".into(),
                        message: m.into(),
                    })?),
                    None => list("ADMIN_EMAILS").into_iter().next(),
                },
                session_ttl: env.secs("CONSOLE_SESSION_TTL_SECS", 8 * 3600)?,
                low_stock_threshold: env.parse("LOW_STOCK_THRESHOLD", 5)?,
                contact_per_ip_per_hour: env.parse("RATE_LIMIT_CONTACT_PER_IP", 5)?,
                dashboard_cache: env.secs("DASHBOARD_CACHE_SECS", 10)?,
                order_totals_cache: env.secs("ORDER_TOTALS_CACHE_SECS", 60)?,
            },
            integrations: vec![
                ("smtp", env.get("SMTP_URL").is_some()),
                ("telegram", configured(&["TELEGRAM_BOT_TOKEN"])),
                (
                    "whatsapp",
                    configured(&["WHATSAPP_TOKEN", "WHATSAPP_PHONE_NUMBER_ID"]),
                ),
                ("kaspi", configured(&["KASPI_TOKEN", "KASPI_MERCHANT_ID"])),
                ("ozon", configured(&["OZON_CLIENT_ID", "OZON_API_KEY"])),
                ("twitter", twitter_enabled),
                ("stripe", configured(&["STRIPE_SECRET_KEY"])),
            ],
        })
    }
}

/// Telegram sends the secret back in a header: 1-256 characters of
/// `A-Z a-z 0-9 _ -` (setWebhook rejects anything else).
fn telegram_secret(env: &Env<'_>) -> Result<Option<SecretString>, ConfigError> {
    let Some(secret) = env.get("TELEGRAM_WEBHOOK_SECRET") else {
        return Ok(None);
    };
    let ok = (1..=256).contains(&secret.len())
        && secret
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if !ok {
        return Err(ConfigError {
            name: "TELEGRAM_WEBHOOK_SECRET".into(),
            message: "must be 1 to 256 characters of A-Z, a-z, 0-9, _ and -".into(),
        });
    }
    Ok(Some(SecretString::from(secret)))
}

fn whatsapp_config(env: &Env<'_>) -> Result<Option<WhatsappConfig>, ConfigError> {
    let (Some(token), Some(phone_number_id)) = (
        env.secret("WHATSAPP_TOKEN"),
        env.get("WHATSAPP_PHONE_NUMBER_ID"),
    ) else {
        return Ok(None);
    };
    let mut templates = Vec::new();
    for event in WHATSAPP_EVENTS {
        let name = format!("WHATSAPP_TEMPLATE_{}", event.to_ascii_uppercase());
        let value = env.string(&name, &format!("bazaar_{event}"));
        let (template, language) = match value.split_once(':') {
            Some((t, l)) => (t.trim().to_owned(), Some(l.trim().to_owned())),
            None => (value.trim().to_owned(), None),
        };
        if template.is_empty() || language.as_deref() == Some("") {
            return Err(ConfigError {
                name,
                message: format!("{value:?}: expected template_name or template_name:language"),
            });
        }
        templates.push((event.to_owned(), template, language));
    }
    Ok(Some(WhatsappConfig {
        token,
        phone_number_id: phone_number_id.trim().to_owned(),
        api_url: env
            .string("WHATSAPP_API_URL", "https://graph.facebook.com")
            .trim_end_matches('/')
            .to_owned(),
        api_version: env.string("WHATSAPP_API_VERSION", "v23.0"),
        app_secret: env.secret("WHATSAPP_APP_SECRET"),
        verify_token: env.secret("WHATSAPP_VERIFY_TOKEN"),
        templates,
        per_second: env.parse("WHATSAPP_RATE_PER_SEC", 80)?,
        pair_per_minute: env.parse("WHATSAPP_PAIR_PER_MINUTE", 10)?,
    }))
}

fn pipeline_config(env: &Env<'_>) -> Result<PipelineConfig, ConfigError> {
    let mut queues = Vec::new();
    for queue in Queue::ALL {
        let d = queue.default_policy();
        let up = queue.as_str().to_ascii_uppercase();
        queues.push(QueuePolicy {
            queue,
            concurrency: env.parse(&format!("QUEUE_{up}_CONCURRENCY"), d.concurrency)?,
            timeout: env.secs(&format!("QUEUE_{up}_TIMEOUT_SECS"), d.timeout.as_secs())?,
            max_attempts: env.parse(&format!("QUEUE_{up}_MAX_ATTEMPTS"), d.max_attempts)?,
            backoff_base: env.millis(
                &format!("QUEUE_{up}_BACKOFF_BASE_MS"),
                d.backoff_base.as_millis() as u64,
            )?,
            backoff_max: env.secs(
                &format!("QUEUE_{up}_BACKOFF_MAX_SECS"),
                d.backoff_max.as_secs(),
            )?,
        });
    }
    Ok(PipelineConfig {
        worker_poll_interval: env.millis("WORKER_POLL_INTERVAL_MS", 20)?,
        worker_heartbeat: env.secs("WORKER_HEARTBEAT_SECS", 5)?,
        worker_missed_heartbeats: env.parse("WORKER_MISSED_HEARTBEATS", 3)?,
        worker_batch_size: env.parse("WORKER_BATCH_SIZE", 50)?,
        relay_poll_interval: env.millis("OUTBOX_POLL_INTERVAL_MS", 500)?,
        relay_batch_size: env.parse("OUTBOX_BATCH_SIZE", 500)?,
        relay_backlog_cap: env.parse("OUTBOX_BACKLOG_CAP", 2_000)?,
        redeliver_after: env.secs("OUTBOX_REDELIVER_SECS", 300)?,
        queues,
        done_retention: env.secs("JOB_DONE_RETENTION_SECS", 7 * 24 * 3600)?,
        failed_retention: env.secs("JOB_FAILED_RETENTION_SECS", 30 * 24 * 3600)?,
    })
}

/// Requests in flight per route class in one API process (see `api::shed`);
/// past them a request waits up to `wait` for a slot, then gets a 503.
#[derive(Debug, Clone)]
pub struct Concurrency {
    pub reads: usize,
    pub writes: usize,
    pub webhooks: usize,
    pub back_office: usize,
    pub wait: Duration,
}

/// Which engine answers searches and listings (`catalog::search`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SearchEngine {
    /// In each API process's memory, fed by the change feed; PostgreSQL
    /// answers while it is behind.
    Embedded,
    /// Every request computed by PostgreSQL.
    Postgres,
}

#[derive(Debug, Clone)]
pub struct SearchConfig {
    pub engine: SearchEngine,
    /// The embedded engine rebuilds from PostgreSQL at least this often,
    /// healing any change message it missed.
    pub reconcile: Duration,
    /// How long a search waits for the embedded engine to apply the changes
    /// known when it began before PostgreSQL answers it.
    pub wait: Duration,
}

/// Four connections per core and two spare: on a 2-core box, 10 connections
/// carry 2.3x the checkouts of 32, which only queue up inside PostgreSQL
/// (ops/scripts/bench-checkout.sh).
fn default_pool_size() -> u32 {
    std::thread::available_parallelism()
        .map(|n| 4 * n.get() as u32 + 2)
        .unwrap_or(10)
}

fn commerce_config(env: &Env<'_>) -> Result<CommerceConfig, ConfigError> {
    let tax_rate_bps: i64 = env.parse("TAX_RATE_BPS", 0)?;
    if !(0..=10_000).contains(&tax_rate_bps) {
        return Err(ConfigError {
            name: "TAX_RATE_BPS".into(),
            message: format!("{tax_rate_bps}: expected basis points from 0 to 10000"),
        });
    }
    let stripe = env
        .secret("STRIPE_SECRET_KEY")
        .map(|secret_key| StripeConfig {
            secret_key,
            webhook_secret: env.secret("STRIPE_WEBHOOK_SECRET"),
            api_url: env
                .string("STRIPE_API_URL", "https://api.stripe.com")
                .trim_end_matches('/')
                .to_owned(),
        });
    Ok(CommerceConfig {
        tax_rate_bps,
        tax_inclusive: env.bool("TAX_INCLUSIVE", true)?,
        reservation_ttl: env.secs("RESERVATION_TTL_SECS", 30 * 60)?,
        cart_guest_ttl: Duration::from_secs(
            24 * 3600 * env.parse::<u64>("CART_GUEST_TTL_DAYS", 30)?,
        ),
        stripe,
        kaspi_webhook_secret: env.secret("KASPI_WEBHOOK_SECRET"),
    })
}

fn currency(code: String) -> Result<String, ConfigError> {
    if code.len() == 3 && code.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(code)
    } else {
        Err(ConfigError {
            name: "CURRENCY".into(),
            message: format!("{code:?} is not an ISO 4217 code like KZT"),
        })
    }
}

fn twitter_config(env: &Env<'_>) -> Result<Option<TwitterConfig>, ConfigError> {
    let announce_delay = env.secs("TWITTER_ANNOUNCE_DELAY_SECS", 10)?;
    let url =
        |name: &str, default: &str| env.string(name, default).trim_end_matches('/').to_owned();
    Ok(credentials(env).map(
        |(api_key, api_secret, access_token, access_secret)| TwitterConfig {
            api_key,
            api_secret,
            access_token,
            access_secret,
            api_url: url("TWITTER_API_URL", "https://api.twitter.com"),
            upload_url: url("TWITTER_UPLOAD_URL", "https://upload.twitter.com"),
            announce_delay,
        },
    ))
}

fn credentials(env: &Env<'_>) -> Option<(SecretString, SecretString, SecretString, SecretString)> {
    Some((
        env.secret("TWITTER_API_KEY")?,
        env.secret("TWITTER_API_SECRET")?,
        env.secret("TWITTER_ACCESS_TOKEN")?,
        env.secret("TWITTER_ACCESS_SECRET")?,
    ))
}

fn origins(list: Vec<String>) -> Result<Vec<String>, ConfigError> {
    for origin in &list {
        let valid = origin == "*"
            || url::Url::parse(origin).is_ok_and(|u| {
                matches!(u.scheme(), "http" | "https") && u.path() == "/" && !origin.ends_with('/')
            });
        if !valid {
            return Err(ConfigError {
                name: "CORS_ALLOWED_ORIGINS".into(),
                message: format!("{origin:?} is not an origin like https://shop.example.com"),
            });
        }
    }
    Ok(list)
}

/// The URL with its password replaced by `***`, for logs and start-up errors.
pub fn mask_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut u) => {
            if u.password().is_some() {
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => "<unparseable URL>".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let map: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Config::from(&Env::new(move |k| map.get(k).cloned()))
    }

    /// The module's promise: every variable read here is in `.env.example`
    /// (the names spelled out whole; `QUEUE_<NAME>_*` are listed by pattern).
    #[test]
    fn every_variable_read_here_is_in_the_env_example() {
        let source = include_str!("config.rs");
        let example = include_str!("../../../.env.example");
        let names = regex::Regex::new(r#"env\s*\.\s*(?:string|opt_parse|parse|secs|millis|secret|bool|get)\(\s*"([A-Z][A-Z0-9_]+)""#)
            .unwrap();
        let read: Vec<&str> = names
            .captures_iter(source)
            .map(|c| c.get(1).unwrap().as_str())
            .collect();
        assert!(read.len() > 60, "the pattern finds the variables: {read:?}");
        let missing: Vec<&&str> = read
            .iter()
            .filter(|name| !example.contains(*name))
            .collect();
        assert!(missing.is_empty(), ".env.example lacks {missing:?}");
    }

    #[test]
    fn defaults_match_the_documented_table() {
        let c = config(&[]).expect("defaults are valid");
        assert_eq!(c.database_url, "postgres://postgres@127.0.0.1:5432/bazaar");
        assert_eq!(c.redis_url, "redis://127.0.0.1:6379");
        assert_eq!(c.redis_prefix, "bazaar");
        assert_eq!(c.bind.to_string(), "127.0.0.1:8080");
        assert_eq!(c.max_body_bytes, 1_048_576);
        assert_eq!(c.alert_repeat, Duration::from_secs(30 * 60));
        assert_eq!(c.telegram.api_url, "https://api.telegram.org");
        assert!(c.jwt_secret.is_none());
    }

    #[test]
    fn a_bad_value_names_its_variable() {
        let err = config(&[("MAX_BODY_BYTES", "lots")]).unwrap_err();
        assert_eq!(err.name, "MAX_BODY_BYTES");
        let err = config(&[("QUEUE_EMAIL_CONCURRENCY", "-1")]).unwrap_err();
        assert_eq!(err.name, "QUEUE_EMAIL_CONCURRENCY");
    }

    #[test]
    fn cors_origins_must_be_origins() {
        let ok = config(&[(
            "CORS_ALLOWED_ORIGINS",
            "https://shop.example.com, http://localhost:3000",
        )])
        .unwrap();
        assert_eq!(ok.cors_allowed_origins.len(), 2);
        for bad in [
            "shop.example.com",
            "https://shop.example.com/path",
            "ftp://x.com",
        ] {
            assert!(config(&[("CORS_ALLOWED_ORIGINS", bad)]).is_err(), "{bad}");
        }
    }

    #[test]
    fn production_requires_a_strong_jwt_secret() {
        assert_eq!(
            config(&[("BAZAAR_ENV", "production")]).unwrap_err().name,
            "JWT_SECRET"
        );
        assert!(config(&[("BAZAAR_ENV", "production"), ("JWT_SECRET", "short")]).is_err());
        assert!(config(&[
            ("BAZAAR_ENV", "production"),
            ("JWT_SECRET", &"k".repeat(32))
        ])
        .is_ok());
    }

    #[test]
    fn passwords_are_masked_in_urls() {
        assert_eq!(
            mask_url("postgres://app:s3cret@db:5432/bazaar"),
            "postgres://app:***@db:5432/bazaar"
        );
        assert_eq!(mask_url("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }
}
