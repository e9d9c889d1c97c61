//! The `bazaar` binary as a child process, for tests that kill or signal it.

use std::{
    collections::HashMap,
    path::PathBuf,
    process::{Child, Command, ExitStatus, Stdio},
    time::Duration,
};

/// Waits until GET `url` answers 2xx (a started process is serving),
/// failing the test after `limit`.
pub async fn wait_until_serving(url: &str, limit: Duration) {
    let client = reqwest::Client::new();
    super::eventually(&format!("{url} to answer"), limit, || async {
        let r = client.get(url).send().await.ok()?;
        r.status().is_success().then_some(())
    })
    .await;
}

pub struct BazaarProcess {
    child: Child,
    pub log: PathBuf,
}

impl BazaarProcess {
    pub fn spawn(role: &str, vars: &HashMap<String, String>) -> Self {
        let log = std::env::temp_dir().join(format!(
            "bazaar-{role}-{}.log",
            uuid::Uuid::now_v7().simple()
        ));
        let file = std::fs::File::create(&log).expect("log file");
        let child = Command::new(env!("CARGO_BIN_EXE_bazaar"))
            .arg(role)
            .envs(vars)
            .env("LOG_FORMAT", "json")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log"))
            .stderr(file)
            .spawn()
            .expect("spawn bazaar");
        Self { child, log }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &self.pid().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    pub fn try_status(&mut self) -> Option<ExitStatus> {
        self.child.try_wait().expect("try_wait")
    }

    pub async fn wait(&mut self, limit: Duration) -> ExitStatus {
        let deadline = tokio::time::Instant::now() + limit;
        loop {
            if let Some(s) = self.try_status() {
                return s;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "process did not exit within {limit:?}; log: {}",
                self.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for BazaarProcess {
    fn drop(&mut self) {
        if self.try_status().is_none() {
            self.kill();
        }
    }
}
