//! Just enough W3C WebDriver to drive the real window through `tauri-driver`
//! and `WebKitWebDriver` (PITFALLS #23-#26): find, click, read, screenshot.

use crate::{wait_for, TestEnv};
use serde_json::{json, Value};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

#[derive(Debug)]
pub struct WebDriver {
    base: String,
    session: String,
    http: ureq::Agent,
}

fn agent() -> ureq::Agent {
    // Every WebDriver call is bounded: a stuck driver fails the test instead of hanging it.
    ureq::Agent::config_builder()
        .timeout_global(Some(crate::wait::patient(Duration::from_secs(60))))
        .build()
        .into()
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

fn tauri_driver() -> String {
    let home = std::env::var("HOME").unwrap_or_default();
    let cargo_bin = Path::new(&home).join(".cargo/bin/tauri-driver");
    if cargo_bin.exists() {
        cargo_bin.display().to_string()
    } else {
        "tauri-driver".into()
    }
}

impl WebDriver {
    /// Starts tauri-driver in `env` and opens a session on `application`
    /// (which tauri-driver launches with `env`'s variables).
    pub fn start(env: &mut TestEnv, application: &Path) -> WebDriver {
        let port = free_port();
        let native = free_port();
        let mut cmd: Command = env.command(tauri_driver());
        cmd.args(["--port", &port.to_string(), "--native-port", &native.to_string()]);
        env.spawn("tauri-driver", cmd);
        let base = format!("http://127.0.0.1:{port}");
        let http = agent();
        wait_for("tauri-driver", Duration::from_secs(30), || http.get(format!("{base}/status")).call().ok());
        let caps = json!({"capabilities": {"alwaysMatch": {"tauri:options": {
            "application": application.display().to_string(), "args": []
        }}}});
        // Session creation races the driver's start-up now and then (#26).
        let mut last = String::new();
        for _ in 0..3 {
            match http.post(format!("{base}/session")).send_json(&caps) {
                Ok(mut r) => {
                    let v: Value = r.body_mut().read_json().expect("session JSON");
                    let session = v["value"]["sessionId"].as_str().expect("sessionId").to_string();
                    return WebDriver { base, session, http };
                }
                Err(e) => last = e.to_string(),
            }
            std::thread::sleep(Duration::from_secs(1));
        }
        panic!("no WebDriver session: {last}\n{}", env.log("tauri-driver"));
    }

    fn url(&self, path: &str) -> String {
        format!("{}/session/{}{path}", self.base, self.session)
    }

    fn post(&self, path: &str, body: Value) -> Option<Value> {
        let mut r = self.http.post(self.url(path)).send_json(&body).ok()?;
        r.body_mut().read_json::<Value>().ok().map(|v| v["value"].clone())
    }

    fn get(&self, path: &str) -> Option<Value> {
        let mut r = self.http.get(self.url(path)).call().ok()?;
        r.body_mut().read_json::<Value>().ok().map(|v| v["value"].clone())
    }

    /// The element matching `css`, if there is one now.
    pub fn find(&self, css: &str) -> Option<String> {
        let v = self.post("/element", json!({"using": "css selector", "value": css}))?;
        v[ELEMENT].as_str().map(String::from)
    }

    /// Waits for an element to appear.
    pub fn wait(&self, css: &str, timeout: Duration) -> String {
        wait_for(&format!("`{css}` in the window"), timeout, || self.find(css))
    }

    /// Clicks what `css` matches, finding it afresh until the click lands
    /// (the window redraws lists when accounts or providers change).
    pub fn click_css(&self, css: &str, timeout: Duration) {
        wait_for(&format!("a click on `{css}`"), timeout, || {
            let element = self.find(css)?;
            self.post(&format!("/element/{element}/click"), json!({}))
        });
    }

    pub fn click(&self, element: &str) {
        self.post(&format!("/element/{element}/click"), json!({})).expect("click");
    }

    pub fn text(&self, element: &str) -> String {
        self.get(&format!("/element/{element}/text"))
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default()
    }

    /// Types into an input.
    pub fn type_text(&self, element: &str, text: &str) {
        self.try_type_text(element, text).expect("type");
    }

    /// Types into an input; `None` if the element is gone (re-rendered).
    pub fn try_type_text(&self, element: &str, text: &str) -> Option<()> {
        self.post(&format!("/element/{element}/value"), json!({"text": text})).map(drop)
    }

    /// Shows the window's tab `name` (`accounts`, `add`, `apps`, `activity`,
    /// `settings`): clicks `#nav-<name>` until its panel is the one shown
    /// (a click can miss while a consent prompt is closing over the window).
    pub fn show_screen(&self, name: &str) {
        let panel = format!("#panel-{name}:not([hidden])");
        wait_for(&format!("the {name} screen"), Duration::from_secs(60), || {
            if self.find(&panel).is_some() {
                return Some(());
            }
            let tab = self.find(&format!("#nav-{name}"))?;
            self.post(&format!("/element/{tab}/click"), json!({}));
            std::thread::sleep(Duration::from_millis(200));
            self.find(&panel).map(drop)
        });
    }

    /// Signs an account out from its card and waits for the card to go.
    pub fn sign_out(&self, account_id: &str) {
        self.show_screen("accounts");
        self.click_css(
            &format!("#accounts [data-account-id=\"{account_id}\"] button"),
            Duration::from_secs(10),
        );
        wait_for("the confirmation", Duration::from_secs(10), || self.accept_prompt().then_some(()));
        wait_for("the account to leave the window", Duration::from_secs(30), || {
            self.find(&format!("#accounts [data-account-id=\"{account_id}\"]")).is_none().then_some(())
        });
    }

    /// An element's attribute, if it has it.
    pub fn attribute(&self, element: &str, name: &str) -> Option<String> {
        self.get(&format!("/element/{element}/attribute/{name}")).and_then(|v| v.as_str().map(String::from))
    }

    /// Empties an input.
    pub fn clear(&self, element: &str) {
        self.try_clear(element).expect("clear");
    }

    /// Empties an input; `None` if the element is gone (re-rendered).
    pub fn try_clear(&self, element: &str) -> Option<()> {
        self.post(&format!("/element/{element}/clear"), json!({})).map(drop)
    }

    /// Fills in the "Add a service" form of `template` and presses Add.
    /// Fields not named keep their pre-filled values.
    pub fn set_up_service(&self, template: &str, values: &[(&str, &str)]) {
        self.fill_service_form(template, values);
        let form = format!("#templates form[data-template=\"{template}\"]");
        let add = self.find(&format!("{form} button[data-add-template]")).expect("the Add button");
        self.click(&add);
    }

    /// The redirect URI the open form of `template` tells the user to
    /// register, once it shows one.
    pub fn redirect_uri_shown(&self, template: &str) -> String {
        let shown = self.wait(
            &format!("#templates form[data-template=\"{template}\"] [data-redirect-uri]"),
            Duration::from_secs(30),
        );
        self.text(&shown)
    }

    /// Fills in the "Add a service" form of `template`, without adding.
    pub fn fill_service_form(&self, template: &str, values: &[(&str, &str)]) {
        self.show_screen("add");
        let summary =
            self.wait(&format!("#templates [data-setup-template=\"{template}\"]"), Duration::from_secs(60));
        let form = format!("#templates form[data-template=\"{template}\"]");
        let details =
            self.find(&format!("#templates [data-template-id=\"{template}\"] details")).expect("details");
        if self.get(&format!("/element/{details}/property/open")).and_then(|v| v.as_bool()) != Some(true) {
            self.click(&summary);
        }
        for (name, value) in values {
            let option = format!("{form} select[name=\"{name}\"] option[value=\"{value}\"]");
            if let Some(o) = self.find(&option) {
                self.click(&o);
                continue;
            }
            let input =
                self.find(&format!("{form} [name=\"{name}\"]")).unwrap_or_else(|| panic!("no field {name}"));
            self.clear(&input);
            self.type_text(&input, value);
        }
    }

    /// The `value` property of an input.
    pub fn value(&self, element: &str) -> String {
        self.get(&format!("/element/{element}/property/value"))
            .and_then(|v| v.as_str().map(String::from))
            .unwrap_or_default()
    }

    /// Accepts an open `confirm()`/`alert()`; false if none is open.
    pub fn accept_prompt(&self) -> bool {
        self.post("/alert/accept", json!({})).is_some()
    }

    /// The page's HTML as the webview has it now.
    pub fn source(&self) -> String {
        self.get("/source").and_then(|v| v.as_str().map(String::from)).unwrap_or_default()
    }
}

impl Drop for WebDriver {
    fn drop(&mut self) {
        let _ = self.http.delete(self.url("")).call();
    }
}

impl WebDriver {
    /// Resizes the window (screenshots show more than the default size).
    pub fn set_window_size(&self, width: u32, height: u32) -> Option<()> {
        self.post("/window/rect", json!({"width": width, "height": height})).map(drop)
    }

    /// Runs `script` (a function body; `return` answers) in the window and
    /// answers its value, e.g. `return document.activeElement.id`.
    pub fn execute(&self, script: &str) -> Option<Value> {
        self.post("/execute/sync", json!({"script": script, "args": []}))
    }
}
