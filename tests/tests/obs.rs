//! OBS Studio as a streamer runs it on Debian (the `obs-studio` package,
//! installed by `scripts/deps test`), with a Python script added under
//! Tools > Scripts (`tests/clients/obs_castkey.py`) that asks Castkey for a
//! token every second. OBS runs on the scenario's own X display with
//! software OpenGL; the headless broker refuses it until the person allows
//! OBS at a terminal, then serves it; in the app, the prompt names OBS by
//! its executable (no "weaker identity" warning) and "Always allow" lets
//! it in. The script runs inside OBS's process: Castkey names
//! `/usr/bin/obs`, whatever the script calls itself.

use castkey_scenarios::steps::{answer_consent_prompt, sign_in_from_window, ConsentAnswer, CONSENT_DIALOG};
use castkey_scenarios::webdriver::WebDriver;
use castkey_scenarios::{binary, repo, text, wait_for, EnvOptions, TestEnv};
use serde_json::{json, Value};
use std::path::Path;
use std::time::Duration;

const OBS: &str = "/usr/bin/obs";

/// OBS's configuration for one profile and one scene collection that
/// loads `script`; no first-run wizard (OBS 29's `FirstRun` and
/// `LastVersion`), a small canvas.
fn configure_obs(env: &TestEnv, script: &Path) {
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
        "modules": {"scripts-tool": [{"path": script.display().to_string(), "settings": {}}]}
    });
    write("basic/scenes/Castkey.json", &scenes.to_string());
}

/// The answers the script wrote so far, one per second.
fn answers(env: &TestEnv) -> Vec<Value> {
    std::fs::read_to_string(env.path("obs-answers.jsonl"))
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// Starts OBS with the script in its scene collection; answers its index
/// for [`TestEnv::stop`].
fn start_obs(env: &mut TestEnv) -> usize {
    assert!(Path::new(OBS).exists(), "no {OBS}: run scripts/deps test");
    let script = env.path("obs-scripts/castkey_token.py");
    std::fs::create_dir_all(script.parent().unwrap()).unwrap();
    std::fs::copy(repo().join("tests/clients/obs_castkey.py"), &script).unwrap();
    configure_obs(env, &script);
    let mut obs = env.command(OBS);
    obs.args(["--minimize-to-tray", "--disable-shutdown-check"])
        .env("CASTKEY_OBS_OUT", env.path("obs-answers.jsonl"))
        .env("LIBGL_ALWAYS_SOFTWARE", "1")
        .stdin(std::process::Stdio::null());
    env.spawn("obs", obs)
}

/// The first answer that carried a token.
fn served(env: &TestEnv) -> Value {
    wait_for("OBS to be served", Duration::from_secs(60), || {
        answers(env).into_iter().find(|a| a["token"]["result"]["access_token"].is_string())
    })
}

#[test]
fn obs_studio_is_asked_about_in_the_window_and_allowed_always() {
    let mut env = TestEnv::start(EnvOptions { display: true, ..Default::default() });
    env.browser_with_chosen_login();
    let driver = WebDriver::start(&mut env, &binary("castkey-app"));
    env.wait_for_broker();
    sign_in_from_window(&env, &driver, "streamer");
    let obs = start_obs(&mut env);

    // OBS's script asks; the prompt names OBS by its executable, the
    // identity of an installed program (no warning about a weaker one).
    let dialog = driver.wait(CONSENT_DIALOG, Duration::from_secs(120));
    let shown = driver.text(&dialog);
    for expected in ["OBS Studio", OBS, "Always allow"] {
        assert!(shown.contains(expected), "the prompt lacks `{expected}`:\n{shown}");
    }
    assert!(!shown.contains("a weaker identity"), "{shown}");
    answer_consent_prompt(&driver, ConsentAnswer::Always);
    let served = served(&env);
    let token = served["token"]["result"]["access_token"].as_str().unwrap();
    assert_eq!(env.introspect(token)["active"], true);
    assert_eq!(served["token"]["result"]["account"]["id"], "sandbox:streamer", "{served}");
    // Asked once: every later request is served without a prompt.
    let count = answers(&env).len();
    wait_for("three more requests", Duration::from_secs(30), || {
        (answers(&env).len() >= count + 3).then_some(())
    });
    assert!(answers(&env)[count..].iter().all(|a| a["token"]["result"]["access_token"].is_string()));
    assert!(driver.find(CONSENT_DIALOG).is_none(), "asked again");
    env.stop(obs);
}

#[test]
fn obs_studio_gets_a_token_once_the_person_allows_it() {
    let mut env = TestEnv::start(EnvOptions { display: true, ..Default::default() });
    let account = env.login_headless("sandbox");
    env.start_serve();
    let obs = start_obs(&mut env);

    // OBS loads the script; the broker has never heard of OBS: refused.
    let refused = wait_for("OBS's script to ask", Duration::from_secs(120), || {
        answers(&env).into_iter().find(|a| a.get("token").is_some())
    });
    assert_eq!(refused["hello"]["result"]["client"]["approval"], "unknown", "{refused}");
    assert_eq!(refused["token"]["error"]["data"]["reason"], "client_not_allowed", "{refused}");
    assert!(env.log("obs").contains("Loaded python script"), "{}", env.log("obs"));

    // The person allows OBS, at a terminal: its next request is served.
    let allow = env.castkey_at_terminal(&["apps", "allow", OBS, "--name", "OBS Studio"]);
    assert!(allow.status.success(), "{}{}", text(&allow.stdout), text(&allow.stderr));
    let served = served(&env);
    let token = served["token"]["result"]["access_token"].as_str().unwrap();
    assert_eq!(env.introspect(token)["active"], true);
    assert_eq!(served["token"]["result"]["account"]["id"], json!(account), "{served}");
    assert!(
        served["token"]["result"]["scope"].as_array().unwrap().iter().any(|s| s == "broadcaster"),
        "{served}"
    );

    // The log names OBS's executable, with no script: the Python inside
    // OBS is OBS.
    let log = env.castkey_at_terminal(&["log", "--client", OBS, "--json"]);
    let log: Vec<Value> = serde_json::from_slice(&log.stdout).unwrap();
    assert!(
        log.iter().all(|e| e["client"]["executable"] == json!(OBS) && e["client"]["script"].is_null()),
        "{log:?}"
    );
    assert!(log.iter().any(|e| e["outcome"] == "served"), "{log:?}");
    env.stop(obs);
}
