//! A redis-server of the test's own on a free port, so chaos tests can stop and
//! restart Redis without touching the shared one.

use std::{
    process::{Child, Command, Stdio},
    time::Duration,
};

pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
}

/// A port for a server a test starts (an API, a worker's metrics, Redis),
/// free when asked for. Taken from below the kernel's ephemeral range
/// (32768 and up here), which `bind(0)` and outgoing connections draw from,
/// and each handed out once per run: a port the kernel handed out for
/// `bind(0)` could be handed to another test before this one's server
/// bound it, and an API that lost that race left its test talking to the
/// other test's server (seen on CI: a production-mode API's public
/// `/metrics` answered 200 by another process). Runs started together
/// begin at different places (by process id) and skip ports in use.
pub fn free_port() -> u16 {
    const FIRST: u16 = 20_000;
    const SPAN: u16 = 10_000;
    static NEXT: std::sync::OnceLock<std::sync::atomic::AtomicU32> = std::sync::OnceLock::new();
    let next =
        NEXT.get_or_init(|| std::sync::atomic::AtomicU32::new(std::process::id() % 50 * 200));
    for _ in 0..SPAN {
        let n = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let port = FIRST + u16::try_from(n % u32::from(SPAN)).expect("below SPAN");
        if std::net::TcpListener::bind(("127.0.0.1", port)).is_ok() {
            return port;
        }
    }
    panic!("no free port in {FIRST}..{}", FIRST + SPAN);
}

impl RedisServer {
    pub async fn start() -> Self {
        let mut server = Self {
            port: free_port(),
            child: None,
        };
        server.restart().await;
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Starts (again) on the same port, with no persistence: a restart loses
    /// everything, the harshest case for the pipeline.
    pub async fn restart(&mut self) {
        self.stop();
        let child = Command::new("redis-server")
            .args([
                "--port",
                &self.port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server must be installed");
        self.child = Some(child);
        let client = redis::Client::open(self.url()).expect("url");
        for _ in 0..200 {
            if let Ok(mut c) = client.get_multiplexed_async_connection().await {
                if redis::cmd("PING")
                    .query_async::<String>(&mut c)
                    .await
                    .is_ok()
                {
                    return;
                }
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        panic!("redis-server on port {} did not start", self.port);
    }

    /// SIGKILL: no graceful shutdown, like a crash.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}
