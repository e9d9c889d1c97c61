//! Headless Chromium driven through ChromeDriver (WebDriver), for tests of
//! the console in a real browser. `ops/scripts/test-tools.sh` installs
//! Debian's `chromium` and `chromium-driver`; a test that finds them
//! missing fails, it does not skip. Each page a test visits can be saved as
//! a screenshot under `target/e2e-artifacts/screenshots/<test>/`.

use std::{
    path::PathBuf,
    process::Stdio,
    time::{Duration, Instant},
};

use fantoccini::{elements::Element, Client, ClientBuilder, Locator};
use serde_json::json;

use super::{ports::free_port, TestApp};

const CHROMEDRIVER: &str = "/usr/bin/chromedriver";
const CHROMIUM: &str = "/usr/bin/chromium";

pub struct Browser {
    pub client: Client,
    driver: tokio::process::Child,
    base: String,
    shots: PathBuf,
    profile: PathBuf,
}

async fn driver_ready(port: u16, deadline: Instant) -> bool {
    let client = reqwest::Client::new();
    while Instant::now() < deadline {
        let ready = client
            .get(format!("http://127.0.0.1:{port}/status"))
            .send()
            .await
            .ok()
            .map(|r| r.status().is_success())
            .unwrap_or(false);
        if ready {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    false
}

impl Browser {
    /// A fresh browser (its own profile) for `test`, pointed at `app`.
    pub async fn start(app: &TestApp, test: &str) -> Browser {
        assert!(
            std::path::Path::new(CHROMEDRIVER).exists() && std::path::Path::new(CHROMIUM).exists(),
            "browser tests need Debian's chromium and chromium-driver (ops/scripts/test-tools.sh installs them)"
        );
        let shots = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("target/e2e-artifacts/screenshots")
            .join(test);
        std::fs::create_dir_all(&shots).expect("screenshot directory");
        let profile =
            std::env::temp_dir().join(format!("bazaar-chromium-{}", uuid::Uuid::now_v7()));
        // A port taken between choosing it and ChromeDriver binding it is
        // retried with another.
        for _ in 0..3 {
            let port = free_port();
            let mut driver = tokio::process::Command::new(CHROMEDRIVER)
                .arg(format!("--port={port}"))
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .kill_on_drop(true)
                .spawn()
                .expect("chromedriver starts");
            if !driver_ready(port, Instant::now() + Duration::from_secs(20)).await {
                let _ = driver.kill().await;
                continue;
            }
            let mut caps = serde_json::Map::new();
            caps.insert(
                "goog:chromeOptions".into(),
                json!({
                    "binary": CHROMIUM,
                    "args": [
                        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                        "--disable-quic", "--no-first-run", "--disable-background-networking",
                        "--disable-component-update", "--disable-sync", "--window-size=1280,1000",
                        format!("--user-data-dir={}", profile.display()),
                    ],
                }),
            );
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            let client = ClientBuilder::new(connector)
                .capabilities(caps)
                .connect(&format!("http://127.0.0.1:{port}"))
                .await
                .expect("a WebDriver session in Chromium");
            return Browser {
                client,
                driver,
                base: app.url(""),
                shots,
                profile,
            };
        }
        panic!("chromedriver did not start");
    }

    pub async fn open(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
    }

    /// The path of the page shown now.
    pub async fn path(&self) -> String {
        self.client
            .current_url()
            .await
            .expect("url")
            .path()
            .to_owned()
    }

    /// Waits (10 s at most) until the address shown satisfies `ok`: after
    /// a click that submits a form, before reading the page it leads to.
    pub async fn wait_for_url(&self, what: &str, ok: impl Fn(&url::Url) -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let url = self.client.current_url().await.expect("url");
            if ok(&url) {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "the browser never got to {what}: at {url}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn find(&self, css: &str) -> Element {
        match self
            .client
            .wait()
            .at_most(Duration::from_secs(10))
            .for_element(Locator::Css(css))
            .await
        {
            Ok(e) => e,
            Err(e) => panic!("no {css} on {}: {e}", self.path().await),
        }
    }

    pub async fn text(&self, css: &str) -> String {
        self.find(css).await.text().await.expect("text")
    }

    pub async fn fill(&self, css: &str, value: &str) {
        let field = self.find(css).await;
        field.clear().await.expect("clear");
        field.send_keys(value).await.expect("type");
    }

    pub async fn click(&self, css: &str) {
        self.find(css).await.click().await.expect("click");
    }

    pub async fn source(&self) -> String {
        self.client.source().await.expect("page source")
    }

    /// Saves what the browser shows as `<name>.png`.
    pub async fn shot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        assert!(png.starts_with(b"\x89PNG"), "a PNG screenshot");
        std::fs::write(self.shots.join(format!("{name}.png")), png).expect("save screenshot");
    }

    /// Signs in through the form.
    pub async fn sign_in(&self, email: &str, password: &str) {
        self.open("/admin/login").await;
        self.fill("input[name=email]", email).await;
        self.fill("input[name=password]", password).await;
        self.click("#sign-in button[type=submit]").await;
    }

    /// Ends the WebDriver session (Chromium exits) and ChromeDriver.
    pub async fn quit(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill().await;
    }
}

/// A test that fails midway never calls `quit`: ChromeDriver dies with its
/// handle (`kill_on_drop`), but the Chromium it started would live on, so
/// every process of this browser's profile is ended here.
impl Drop for Browser {
    fn drop(&mut self) {
        let _ = std::process::Command::new("pkill")
            .arg("-f")
            .arg(self.profile.display().to_string())
            .status();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}
