//! A real headless Chromium, driven through its WebDriver (chromedriver,
//! started on a free port for each test), for the admin page's tests.
//! `HERALD_TEST_CHROMEDRIVER` and `HERALD_TEST_CHROMIUM` name the binaries
//! (`ops/services.sh --browser` installs them); a test fails without them.
//!
//! With `HERALD_SCREENSHOTS=<dir>`, [`Browser::screenshot`] saves PNGs there
//! (`ops/screenshots.sh` refreshes `docs/screenshots/` so).

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

use super::eventually;
use super::http_sink::SOON;

pub struct Browser {
    pub client: Client,
    base: String,
    _driver: Child,
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn binary(var: &str, default: &str) -> String {
    let path = std::env::var(var).unwrap_or_else(|_| default.to_owned());
    assert!(
        std::path::Path::new(&path).exists(),
        "{path} is missing: the admin page's tests need Chromium and chromedriver \
         (`ops/services.sh --browser` installs them; {var} names another path)"
    );
    path
}

impl Browser {
    /// Chromium at `base` (Herald's URL, `http://127.0.0.1:port`), headless,
    /// 1280×860.
    pub async fn start(base: &str) -> Browser {
        let driver = binary("HERALD_TEST_CHROMEDRIVER", "/usr/bin/chromedriver");
        let chromium = binary("HERALD_TEST_CHROMIUM", "/usr/bin/chromium");
        let port = free_port();
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let http = reqwest::Client::new();
        eventually("chromedriver to be ready", SOON, || async {
            let status: Value = http
                .get(format!("{url}/status"))
                .send()
                .await
                .map_err(|e| e.to_string())?
                .json()
                .await
                .map_err(|e| e.to_string())?;
            if status["value"]["ready"] == true {
                Ok(())
            } else {
                Err(status.to_string())
            }
        })
        .await;
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                         "--window-size=1280,860", "--hide-scrollbars"],
            }),
        );
        let client = ClientBuilder::rustls()
            .expect("the WebDriver client builds")
            .capabilities(caps)
            .connect(&url)
            .await
            .expect("chromedriver starts a Chromium session");
        Browser {
            client,
            base: base.trim_end_matches('/').to_owned(),
            _driver: child,
        }
    }

    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|e| panic!("opening {path}: {e}"));
    }

    /// The path of the page shown.
    pub async fn path(&self) -> String {
        let url = self.client.current_url().await.expect("the current URL");
        url.path().to_owned()
    }

    /// Types `text` into the field `css`, replacing what it held.
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field
            .clear()
            .await
            .unwrap_or_else(|e| panic!("clearing {css}: {e}"));
        field
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("typing into {css}: {e}"));
    }

    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("clicking {css}: {e}"));
    }

    /// The element `css`, waiting for it to appear.
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(SOON)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css} on {}: {e}", self.base))
    }

    /// Whether the page has an element `css` now.
    pub async fn has(&self, css: &str) -> bool {
        self.client.find(Locator::Css(css)).await.is_ok()
    }

    /// The text of `css`, once it contains `needle`.
    pub async fn wait_text(&self, css: &str, needle: &str) -> String {
        eventually(&format!("{css} to say {needle:?}"), SOON, || async {
            let text = match self.client.find(Locator::Css(css)).await {
                Ok(element) => element.text().await.map_err(|e| e.to_string())?,
                Err(e) => return Err(e.to_string()),
            };
            if text.contains(needle) {
                Ok(text)
            } else {
                Err(text)
            }
        })
        .await
    }

    /// The text of `css`, once the page reloaded every moment shows `needle`.
    pub async fn reload_until(&self, path: &str, css: &str, needle: &str) -> String {
        eventually(
            &format!("{path} to show {needle:?} in {css}"),
            SOON,
            || async {
                self.goto(path).await;
                let text = match self.client.find(Locator::Css(css)).await {
                    Ok(element) => element.text().await.map_err(|e| e.to_string())?,
                    Err(e) => return Err(e.to_string()),
                };
                if text.contains(needle) {
                    Ok(text)
                } else {
                    Err(text)
                }
            },
        )
        .await
    }

    /// Saves the page as `<HERALD_SCREENSHOTS>/<name>.png` when that is set.
    pub async fn screenshot(&self, name: &str) {
        let Ok(dir) = std::env::var("HERALD_SCREENSHOTS") else {
            return;
        };
        // The page from its top, no field focused.
        self.client
            .execute(
                "document.activeElement && document.activeElement.blur(); window.scrollTo(0, 0);",
                vec![],
            )
            .await
            .expect("scrolling to the top");
        let png = self.client.screenshot().await.expect("a screenshot");
        let dir = PathBuf::from(dir);
        std::fs::create_dir_all(&dir).expect("the screenshot folder");
        std::fs::write(dir.join(format!("{name}.png")), png).expect("the screenshot is saved");
    }

    pub async fn close(self) {
        self.client
            .close()
            .await
            .expect("the browser session closes");
    }
}
