//! A PostgreSQL cluster of the test's own (initdb into a temporary directory,
//! a free port), so a test can restart PostgreSQL without touching the
//! shared server every other test uses. Run as the `postgres` user when the
//! tests run as root (initdb refuses root).

use std::{
    path::PathBuf,
    process::{Command, Output},
};

use super::{ports::free_port, running_as_root};

pub struct PostgresServer {
    pub port: u16,
    dir: PathBuf,
    bin: PathBuf,
}

/// The server binaries: `pg_config --bindir`, else Debian's newest.
fn bin_dir() -> PathBuf {
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        if dir.join("initdb").exists() {
            return dir;
        }
    }
    let mut versions: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(|e| e.ok())
                .map(|e| e.path().join("bin"))
                .collect()
        })
        .unwrap_or_default();
    versions.sort();
    versions
        .pop()
        .filter(|d| d.join("initdb").exists())
        .expect("PostgreSQL's server binaries (initdb, pg_ctl) are installed")
}

impl PostgresServer {
    pub fn start() -> Self {
        let dir = std::env::temp_dir().join(format!("bazaar-pg-{}", uuid::Uuid::now_v7().simple()));
        std::fs::create_dir_all(&dir).expect("cluster directory");
        let server = Self {
            port: free_port(),
            dir,
            bin: bin_dir(),
        };
        if running_as_root() {
            let chown = Command::new("chown")
                .args(["-R", "postgres:"])
                .arg(&server.dir)
                .status()
                .expect("chown");
            assert!(chown.success(), "chown the cluster directory to postgres");
        }
        let data = server.data();
        server.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
        );
        let options = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off",
            server.port,
            server.dir.display()
        );
        server.run(
            "pg_ctl",
            &[
                "-D",
                &data,
                "-l",
                &server.log(),
                "-o",
                &options,
                "-w",
                "start",
            ],
        );
        server
    }

    /// `postgres://postgres@127.0.0.1:PORT/{database}`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// `pg_ctl restart -m fast`, what `systemctl restart postgresql` does:
    /// sessions are terminated, the server stops and starts again. Returns
    /// once it accepts connections.
    pub fn restart(&self) {
        self.run(
            "pg_ctl",
            &[
                "-D",
                &self.data(),
                "-l",
                &self.log(),
                "-m",
                "fast",
                "-w",
                "restart",
            ],
        );
    }

    fn data(&self) -> String {
        self.dir.join("data").display().to_string()
    }

    fn log(&self) -> String {
        self.dir.join("server.log").display().to_string()
    }

    /// `program` from the server binaries, as `postgres` when we are root.
    fn command(&self, program: &str) -> Command {
        let program = self.bin.join(program);
        if running_as_root() {
            let mut command = Command::new("runuser");
            // postgres may not enter our working directory.
            command
                .args(["-u", "postgres", "--"])
                .arg(program)
                .current_dir("/");
            command
        } else {
            Command::new(program)
        }
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        let out = self
            .command(program)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("{program}: {e}"));
        assert!(
            out.status.success(),
            "{program} {args:?}: {}{}\nserver log: {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(self.log()).unwrap_or_default()
        );
        out
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        let _ = self
            .command("pg_ctl")
            .args(["-D", &self.data(), "-m", "immediate", "stop"])
            .output();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
