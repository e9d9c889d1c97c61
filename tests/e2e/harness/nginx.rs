//! Debian's nginx running the repository's `ops/nginx.conf` in front of API
//! processes on this machine. Only what Docker provides is replaced: the
//! upstream `api:8080` (one name for every replica, re-resolved through
//! Docker's DNS) becomes one `server` line per local API, and the paths
//! (logs, pid, temporary files) and the port move into a directory of the
//! test's own.

use std::{
    net::SocketAddr,
    path::PathBuf,
    process::{Child, Command, Stdio},
    time::Duration,
};

use super::{ports::free_port, running_as_root};

pub struct Nginx {
    pub port: u16,
    dir: PathBuf,
    child: Child,
}

/// `ops/nginx.conf` with `upstreams` for `api:8080`, listening on `port`,
/// everything it writes under `dir`.
pub fn local_config(upstreams: &[SocketAddr], port: u16, dir: &std::path::Path) -> String {
    let file = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ops/nginx.conf");
    let original = std::fs::read_to_string(&file).expect("ops/nginx.conf");
    let servers: String = upstreams
        .iter()
        .map(|a| format!("server     {a};\n        "))
        .collect();
    let dir = dir.display();
    let user = if running_as_root() {
        "user  www-data;"
    } else {
        ""
    };
    let replacements = [
        ("user  nginx;", user.to_owned()),
        (
            "error_log  /var/log/nginx/error.log  warn;",
            format!("error_log  {dir}/error.log  warn;"),
        ),
        (
            "pid        /var/run/nginx.pid;",
            format!("pid  {dir}/nginx.pid;"),
        ),
        (
            "access_log  /var/log/nginx/access.log  json_combined;",
            format!(
                "access_log  {dir}/access.log  json_combined;\n    \
                 client_body_temp_path  {dir}/body;\n    \
                 proxy_temp_path  {dir}/proxy;"
            ),
        ),
        ("resolver  127.0.0.11  valid=10s  ipv6=off;", String::new()),
        (
            "server     api:8080 resolve;   # `resolve` needs nginx >= 1.27.3\n        ",
            servers,
        ),
        (
            "listen       80;",
            format!("listen       127.0.0.1:{port};"),
        ),
    ];
    let mut config = original;
    for (from, to) in replacements {
        assert!(
            config.contains(from),
            "ops/nginx.conf no longer has {from:?}: update harness::nginx"
        );
        config = config.replacen(from, &to, 1);
    }
    config
}

impl Nginx {
    pub async fn start(upstreams: &[SocketAddr]) -> Self {
        let dir =
            std::env::temp_dir().join(format!("bazaar-nginx-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(dir.join("logs")).expect("nginx directory");
        let port = free_port();
        let file = dir.join("nginx.conf");
        std::fs::write(&file, local_config(upstreams, port, &dir)).expect("nginx.conf");
        let child = Command::new("nginx")
            .arg("-p")
            .arg(&dir)
            .arg("-c")
            .arg(&file)
            .args(["-e", "stderr", "-g", "daemon off;"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nginx is installed (ops/scripts/test.sh installs Debian's nginx-light)");
        let nginx = Self { port, dir, child };
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                tokio::time::Instant::now() < deadline,
                "nginx did not start: {}",
                std::fs::read_to_string(nginx.dir.join("error.log")).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        nginx
    }

    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The access log, one JSON object a line (`json_combined`).
    pub fn access_log(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(self.dir.join("access.log"))
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).expect("json_combined lines are JSON"))
            .collect()
    }

    pub fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        // SIGTERM, nginx's fast shutdown: the master stops its workers (a
        // SIGKILLed master would leave them serving).
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
