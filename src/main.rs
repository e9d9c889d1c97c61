//! The `bazaar` command: one binary, one subcommand per process role.

mod admin;
mod bench;
mod bench_messengers;
mod logging;
mod roles;
mod seed;

use std::process::ExitCode;

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
}

fn main() -> ExitCode {
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
            Command::Seed { products } => seed::command(&config, products).await,
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
