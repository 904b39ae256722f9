//! Settings from the window reach outside it: "Start Castkey when I log
//! in" writes and removes the XDG autostart entry (which starts Castkey
//! with `--autostarted`, so "start in tray" can keep the window closed),
//! "Put castkey in ~/.local/bin" links the command there, and "Export
//! diagnostics" saves a report with no token or secret in it.

use castkey_scenarios::webdriver::WebDriver;
use castkey_scenarios::{binary, wait_for, EnvOptions, TestEnv};
use std::path::{Path, PathBuf};
use std::time::Duration;

fn autostart_entries(env: &TestEnv) -> Vec<PathBuf> {
    // The XDG autostart directories a session reads: the user's config
    // dir (XDG_CONFIG_HOME) — and, should a library ignore that variable,
    // ~/.config.
    [Path::new(&env.vars["XDG_CONFIG_HOME"]).join("autostart"), env.path(".config/autostart")]
        .iter()
        .flat_map(|d| std::fs::read_dir(d).into_iter().flatten().flatten().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|e| e == "desktop"))
        .collect()
}

fn settings_file(env: &TestEnv) -> serde_json::Value {
    let path = Path::new(&env.vars["XDG_CONFIG_HOME"]).join("castkey/settings.json");
    serde_json::from_slice(&std::fs::read(path).unwrap_or_default()).unwrap_or(serde_json::Value::Null)
}

#[test]
fn start_at_login_writes_and_removes_the_autostart_entry_and_diagnostics_hold_no_secret() {
    let mut env = TestEnv::start(EnvOptions { display: true, ..Default::default() });
    let driver = WebDriver::start(&mut env, &binary("castkey-app"));
    env.wait_for_broker();
    let login = env.castkey(&["login", "sandbox"]);
    assert!(login.status.success(), "{}", String::from_utf8_lossy(&login.stderr));
    let token = env.castkey(&["token"]);
    let access_token = String::from_utf8_lossy(&token.stdout).trim().to_string();
    assert!(!access_token.is_empty());
    assert!(autostart_entries(&env).is_empty(), "off until the user turns it on");

    driver.show_screen("settings");
    driver.click_css("#setting-start-at-login", Duration::from_secs(10));
    let entry = wait_for("the autostart entry", Duration::from_secs(10), || autostart_entries(&env).pop());
    let text = std::fs::read_to_string(&entry).unwrap();
    let exec = text.lines().find(|l| l.starts_with("Exec=")).unwrap_or_default().to_string();
    assert!(exec.contains("castkey-app") && exec.contains("--autostarted"), "{entry:?}: {text}");
    wait_for("settings.json to say so", Duration::from_secs(10), || {
        (settings_file(&env)["start_at_login"] == true).then_some(())
    });

    driver.click_css("#setting-start-at-login", Duration::from_secs(10));
    wait_for("the autostart entry to go", Duration::from_secs(10), || {
        autostart_entries(&env).is_empty().then_some(())
    });
    assert_eq!(settings_file(&env)["start_at_login"], false);

    // The castkey command beside the app goes into ~/.local/bin (a link
    // here: not an AppImage), and it works from there.
    driver.click_css("#install-cli", Duration::from_secs(10));
    let installed = driver.wait("#cli-installed", Duration::from_secs(10));
    let link = env.path(".local/bin/castkey");
    assert!(driver.text(&installed).contains(&link.display().to_string()), "{}", driver.text(&installed));
    assert_eq!(std::fs::read_link(&link).unwrap(), binary("castkey"));
    let via_link = env.command(&link).arg("token").output().unwrap();
    assert_eq!(String::from_utf8_lossy(&via_link.stdout).trim(), access_token);

    // Diagnostics: versions, the provider, the account — and no secret.
    driver.click_css("#export-diagnostics", Duration::from_secs(10));
    let report_path = Path::new(&env.vars["XDG_CONFIG_HOME"]).join("castkey/diagnostics.txt");
    let report = wait_for("the diagnostics file", Duration::from_secs(10), || {
        std::fs::read_to_string(&report_path).ok().filter(|t| !t.is_empty())
    });
    assert!(report.contains("Castkey diagnostics") && report.contains("sandbox:streamer"), "{report}");
    assert!(report.contains("recent log"), "{report}");
    let refresh_token = env.refresh_token("sandbox:streamer").expect("a refresh token in the keychain");
    for secret in [&access_token, &refresh_token] {
        assert!(!report.contains(secret.as_str()), "the report holds a token:\n{report}");
    }
}
