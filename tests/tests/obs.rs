//! OBS Studio as a streamer runs it on Debian (the `obs-studio` package,
//! installed by `scripts/deps test`), on the scenario's own X display with
//! software OpenGL, with Castkey's OBS script (`examples/obs/castkey_obs.py`,
//! the one the streamer adds under Tools > Scripts) and a Custom (RTMP)
//! streaming service. A probe script beside it
//! (`tests/clients/obs_probe.py`) writes what OBS's streaming service holds
//! each second. The script runs inside OBS's process: Castkey sees
//! `/usr/bin/obs`, an installed program's identity, whatever the script
//! calls itself.
//!
//! - In the app: the prompt names OBS by its executable (no "weaker
//!   identity" warning); "Always allow", and OBS's stream key is the
//!   broadcaster token every app following the active account gets.
//! - Headless: refused (the script's log says how to allow OBS) until the
//!   person allows `/usr/bin/obs` at a terminal; then the stream key comes.

use castkey_scenarios::steps::{answer_consent_prompt, sign_in_from_window, ConsentAnswer, CONSENT_DIALOG};
use castkey_scenarios::webdriver::WebDriver;
use castkey_scenarios::{binary, repo, text, wait_for, EnvOptions, TestEnv};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

const OBS: &str = "/usr/bin/obs";

/// OBS's configuration: one profile with a Custom (RTMP) streaming service
/// and no key, one scene collection that loads Castkey's OBS script and the
/// probe; no first-run wizard (OBS 29's `FirstRun` and `LastVersion`), a
/// small canvas.
fn configure_obs(env: &TestEnv) {
    let config = env.path("config/obs-studio");
    let write = |rel: &str, body: &str| {
        let file = config.join(rel);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, body).unwrap();
    };
    write(
        "global.ini",
        "[General]\nFirstRun=true\nLastVersion=486539266\nEnableAutoUpdates=false\n\n\
         [Basic]\nProfile=Castkey\nProfileDir=Castkey\nSceneCollection=Castkey\nSceneCollectionFile=Castkey\n",
    );
    write(
        "basic/profiles/Castkey/basic.ini",
        "[General]\nName=Castkey\n\n[Video]\nBaseCX=320\nBaseCY=180\nOutputCX=320\nOutputCY=180\nFPSCommon=10\n",
    );
    let service =
        json!({"type": "rtmp_custom", "settings": {"server": "rtmp://127.0.0.1:1935/live", "key": ""}});
    write("basic/profiles/Castkey/service.json", &service.to_string());
    let script = |path: &Path| json!({"path": path.display().to_string(), "settings": {}});
    let scenes = json!({
        "name": "Castkey",
        "current_scene": "Scene",
        "current_program_scene": "Scene",
        "scene_order": [{"name": "Scene"}],
        "sources": [{
            "id": "scene", "versioned_id": "scene", "name": "Scene",
            "uuid": "5e6a1c2e-0000-4000-8000-000000000001",
            "settings": {"items": [], "id_counter": 0, "custom_size": false}
        }],
        "groups": [], "transitions": [], "quick_transitions": [],
        "modules": {"scripts-tool": [
            script(&repo().join("examples/obs/castkey_obs.py")),
            script(&repo().join("tests/clients/obs_probe.py")),
        ]}
    });
    write("basic/scenes/Castkey.json", &scenes.to_string());
}

/// Starts OBS; answers its index for [`TestEnv::stop`].
fn start_obs(env: &mut TestEnv) -> usize {
    assert!(Path::new(OBS).exists(), "no {OBS}: run scripts/deps test");
    configure_obs(env);
    let mut obs = env.command(OBS);
    obs.args(["--minimize-to-tray", "--disable-shutdown-check"])
        .env("CASTKEY_OBS_OUT", env.path("obs-probe.jsonl"))
        .env("LIBGL_ALWAYS_SOFTWARE", "1")
        // The scripts are the repository's: no bytecode written beside them.
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(std::process::Stdio::null());
    env.spawn("obs", obs)
}

/// What the probe saw in OBS's streaming service, newest last.
fn probed(env: &TestEnv) -> Vec<Value> {
    std::fs::read_to_string(env.path("obs-probe.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The stream key OBS holds, once Castkey's script set one.
fn stream_key(env: &TestEnv, timeout: Duration) -> String {
    wait_for("OBS's stream key to come from Castkey", timeout, || {
        probed(env).last().and_then(|p| p["key"].as_str().filter(|k| !k.is_empty()).map(String::from))
    })
}

/// The token an app following the active account gets now (the cached one).
fn active_token(env: &TestEnv) -> String {
    env.client().call::<castkey_ipc::Token>(&Default::default()).expect("a token").access_token
}

#[test]
fn obs_is_asked_about_in_the_window_and_its_stream_key_comes_from_castkey() {
    let mut env = TestEnv::start(EnvOptions { display: true, ..Default::default() });
    env.browser_with_chosen_login();
    let driver = WebDriver::start(&mut env, &binary("castkey-app"));
    env.wait_for_broker();
    sign_in_from_window(&env, &driver, "streamer");
    let obs = start_obs(&mut env);

    // The script asks; the prompt names OBS by its executable, the identity
    // of an installed program (no warning about a weaker one).
    let dialog = driver.wait(CONSENT_DIALOG, Duration::from_secs(120));
    let shown = driver.text(&dialog);
    for expected in ["OBS Studio (castkey_obs.py)", OBS, "Always allow"] {
        assert!(shown.contains(expected), "the prompt lacks `{expected}`:\n{shown}");
    }
    assert!(!shown.contains("a weaker identity"), "{shown}");
    assert!(
        probed(&env).iter().all(|p| p["type"] == "rtmp_custom" && p["key"] == ""),
        "a key before the answer"
    );
    answer_consent_prompt(&driver, ConsentAnswer::Always);

    // OBS's stream key is the broadcaster token every app following the
    // active account gets.
    let key = stream_key(&env, Duration::from_secs(60));
    let info = env.introspect(&key);
    assert_eq!(info["active"], true, "{info}");
    assert!(info["scope"].as_str().unwrap_or("").split(' ').any(|s| s == "broadcaster"), "{info}");
    assert_eq!(key, active_token(&env));
    assert!(
        env.log("obs").contains("[castkey] key of the rtmp_custom service set from Castkey"),
        "{}",
        env.log("obs")
    );
    env.stop(obs);
}

#[test]
fn a_headless_broker_refuses_obs_until_the_person_allows_it() {
    let mut env = TestEnv::start(EnvOptions { display: true, ..Default::default() });
    env.login_headless("sandbox");
    env.start_serve();
    let obs = start_obs(&mut env);

    // Refused: OBS's script log says so and how to allow OBS; no key.
    wait_for("the script to log the refusal", Duration::from_secs(120), || {
        env.log("obs").contains("[client_not_allowed]").then_some(())
    });
    assert!(env.log("obs").contains("castkey apps allow"), "{}", env.log("obs"));
    assert!(probed(&env).iter().all(|p| p["key"] == ""), "a key although refused");

    // The person allows OBS at a terminal: the script's next try gets it.
    let allow = env.castkey_at_terminal(&["apps", "allow", OBS, "--name", "OBS Studio"]);
    assert!(allow.status.success(), "{}{}", text(&allow.stdout), text(&allow.stderr));
    let key = stream_key(&env, Duration::from_secs(90));
    assert_eq!(env.introspect(&key)["active"], true);
    assert_eq!(key, active_token(&env));

    // The log names OBS's executable with no script: the Python inside OBS
    // is OBS.
    let log = env.castkey_at_terminal(&["log", "--client", OBS, "--json"]);
    let log: Vec<Value> = serde_json::from_slice(&log.stdout).unwrap();
    assert!(
        log.iter().all(|e| e["client"]["executable"] == json!(OBS) && e["client"]["script"].is_null()),
        "{log:?}"
    );
    let outcomes: Vec<&str> = log.iter().filter_map(|e| e["outcome"].as_str()).collect();
    assert!(outcomes.contains(&"client_not_allowed") && outcomes.contains(&"served"), "{outcomes:?}");
    env.stop(obs);
}
