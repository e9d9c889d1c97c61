//! The `bazaar` command: one binary, one subcommand per process role.

mod admin;
mod bench;
mod bench_marketplaces;
mod bench_messengers;
mod logging;
mod roles;
mod seed;
mod seed_orders;

use std::process::ExitCode;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "bazaar",
    version,
    about = "E-commerce backend: API, workers and scheduler"
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// API, workers and scheduler in one process (the default).
    All,
    /// The HTTP API.
    Api,
    /// The outbox relay and the job workers.
    Worker,
    /// The cron schedules (health checks, clean-ups).
    Scheduler,
    /// Create the database if needed and apply migrations, then exit.
    Migrate,
    /// Administration tasks.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
    },
    /// Fill the database with demo data: a vendor and its store, categories,
    /// product types, and products with about three variants each. Safe to
    /// re-run: the catalogue is reused and new products are added.
    Seed {
        /// How many products to add.
        #[arg(long, default_value_t = 1000)]
        products: usize,
        /// How many orders to add after the products, over the past year
        /// from a thousand demo customers (for the back office and its
        /// benchmark).
        #[arg(long, default_value_t = 0)]
        orders: usize,
    },
    /// Benchmarks against a running system.
    Bench {
        #[command(subcommand)]
        command: BenchCommand,
    },
}

#[derive(Subcommand)]
enum AdminCommand {
    /// Create an admin account. The password is read from standard input (one
    /// line) when it is not a terminal, and prompted for twice when it is.
    Create {
        #[arg(long)]
        email: String,
        #[arg(long, default_value = "Admin")]
        name: String,
    },
}

#[derive(Subcommand)]
enum BenchCommand {
    /// Probe jobs through outbox -> Redis -> worker: throughput of a burst,
    /// then enqueue-to-start latency at a steady rate.
    Jobs {
        /// Jobs in the burst.
        #[arg(long, default_value_t = 20_000)]
        count: usize,
        /// Jobs per second in the latency phase.
        #[arg(long, default_value_t = 200)]
        rate: u32,
        /// Seconds of the latency phase.
        #[arg(long, default_value_t = 10)]
        seconds: u64,
    },
    /// Notification fan-out to Telegram and WhatsApp fakes it serves itself:
    /// messages per second, end to end.
    Messengers {
        /// Order events to notify (each goes to Telegram and WhatsApp).
        #[arg(long, default_value_t = 10_000)]
        events: usize,
        /// Where the provider fakes listen; the worker's TELEGRAM_API_URL and
        /// WHATSAPP_API_URL must point here.
        #[arg(long, default_value = "127.0.0.1:18090")]
        fakes: std::net::SocketAddr,
    },
    /// Kaspi orders imported and accepted from a Kaspi fake it serves:
    /// orders per second, end to end.
    KaspiImport {
        #[arg(long, default_value_t = 10_000)]
        orders: usize,
        /// Where the fake listens; the worker's KASPI_API_URL must be
        /// `http://<fakes>/shop/api`.
        #[arg(long, default_value = "127.0.0.1:18091")]
        fakes: std::net::SocketAddr,
    },
    /// Site checkouts at a steady rate through the API, and the time until
    /// a fake Ozon (served here) receives each sale's stock figure.
    OzonPropagation {
        /// The API's base URL.
        #[arg(long)]
        api: String,
        /// A file of customers' access tokens, one a line.
        #[arg(long)]
        tokens: std::path::PathBuf,
        #[arg(long)]
        shipping_method: String,
        #[arg(long, default_value_t = 10_000)]
        variants: usize,
        #[arg(long, default_value_t = 200)]
        rate: u32,
        #[arg(long, default_value_t = 20)]
        seconds: u64,
        /// Where the fake listens; the worker's OZON_API_URL must point here.
        #[arg(long, default_value = "127.0.0.1:18092")]
        fakes: std::net::SocketAddr,
    },
}

/// mimalloc reads its options from the environment when it starts, before
/// `main`. With `arena_eager_commit` at its Linux default, arena memory
/// committed during a burst (the search index's build, a sign-up's argon2
/// hash) stays resident: the api's peak at 10,000 products was 125 MiB, 81
/// with it off, at the same throughput. So the process starts itself again
/// with it off, unless the environment already says (each option alone).
fn allocator_options() {
    use std::os::unix::process::CommandExt;
    // And memory freed after a burst goes back at once rather than after
    // v3's default second: the peak at 10,000 products under the catalogue
    // benchmark went from 83-84 to 65-73 MiB, at the same throughput.
    const OPTIONS: [(&str, &str); 2] = [
        ("MIMALLOC_ARENA_EAGER_COMMIT", "0"),
        ("MIMALLOC_PURGE_DELAY", "0"),
    ];
    let missing: Vec<_> = OPTIONS
        .iter()
        .filter(|(name, _)| std::env::var_os(name).is_none())
        .collect();
    if missing.is_empty() {
        return;
    }
    let Ok(exe) = std::env::current_exe() else {
        return;
    };
    // Returns only when the exec failed; then run as we are.
    let e = std::process::Command::new(exe)
        .args(std::env::args_os().skip(1))
        .envs(missing.iter().map(|(name, value)| (*name, *value)))
        .exec();
    eprintln!("bazaar: could not restart with the allocator's options ({e}); continuing");
}

fn main() -> ExitCode {
    allocator_options();
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    let config = match bazaar_core::config::Config::from_env() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("bazaar: {e}");
            return ExitCode::from(2);
        }
    };
    // Sentry must be initialised before the async runtime starts.
    let _sentry = logging::init(&config);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bazaar: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async move {
        match cli.command.unwrap_or(Command::All) {
            Command::All => roles::run(config, roles::Roles::all()).await,
            Command::Api => roles::run(config, roles::Roles::only_api()).await,
            Command::Worker => roles::run(config, roles::Roles::only_worker()).await,
            Command::Scheduler => roles::run(config, roles::Roles::only_scheduler()).await,
            Command::Migrate => roles::migrate(&config).await,
            Command::Admin {
                command: AdminCommand::Create { email, name },
            } => admin::create(&config, &email, &name).await,
            Command::Seed { products, orders } => seed::command(&config, products, orders).await,
            Command::Bench {
                command:
                    BenchCommand::Jobs {
                        count,
                        rate,
                        seconds,
                    },
            } => bench::jobs(&config, count, rate, seconds).await,
            Command::Bench {
                command: BenchCommand::Messengers { events, fakes },
            } => bench_messengers::messengers(&config, events, fakes).await,
            Command::Bench {
                command: BenchCommand::KaspiImport { orders, fakes },
            } => bench_marketplaces::import(&config, orders, fakes).await,
            Command::Bench {
                command:
                    BenchCommand::OzonPropagation {
                        api,
                        tokens,
                        shipping_method,
                        variants,
                        rate,
                        seconds,
                        fakes,
                    },
            } => {
                let tokens: anyhow::Result<Vec<String>> = std::fs::read_to_string(&tokens)
                    .map_err(anyhow::Error::from)
                    .map(|t| {
                        t.lines()
                            .filter(|l| !l.is_empty())
                            .map(str::to_owned)
                            .collect()
                    });
                match tokens {
                    Ok(tokens) => {
                        bench_marketplaces::propagation(
                            &config,
                            api,
                            tokens,
                            shipping_method,
                            variants,
                            rate,
                            seconds,
                            fakes,
                        )
                        .await
                    }
                    Err(e) => Err(e),
                }
            }
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "bazaar stopped");
            eprintln!("bazaar: {e:#}");
            ExitCode::FAILURE
        }
    }
}
