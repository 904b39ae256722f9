//! A stream overlay written for Deno, as streamers run them: the real
//! `deno` (the npm package's binary, installed by `scripts/deps test`) runs
//! `tests/clients/overlay.ts`, which speaks Castkey's socket protocol. The
//! headless broker refuses it until the person allows exactly that script
//! at a terminal; Deno's own command-line grammar (`deno run [flags]
//! <script>`) names the script, so another script run by the same `deno`,
//! or code given with `deno eval`, is still refused.

use castkey_scenarios::{repo, text, EnvOptions, TestEnv};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Stdio;

/// The real Deno binary (not the npm launcher: Castkey names the process
/// that connects, and this is it).
fn deno() -> PathBuf {
    let bin = repo().join("tests/clients/node_modules/@deno/linux-x64-glibc/deno");
    assert!(bin.exists(), "no Deno at {}: run scripts/deps test", bin.display());
    std::fs::canonicalize(bin).unwrap()
}

/// Runs `deno <args>` as a program of this user (no terminal); answers what
/// it printed, as JSON.
fn run_deno(env: &TestEnv, args: &[&str]) -> Value {
    let out = env
        .command(deno())
        .args(args)
        .env("DENO_DIR", env.path("deno-cache"))
        .env("DENO_NO_UPDATE_CHECK", "1")
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .expect("run deno");
    let said = text(&out.stdout);
    assert!(out.status.success(), "deno {args:?}: {said}{}", text(&out.stderr));
    serde_json::from_str(said.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {said}"))
}

fn install(env: &TestEnv, file: &str) -> PathBuf {
    let script = env.path(file);
    std::fs::copy(repo().join("tests/clients/overlay.ts"), &script).expect("copy overlay.ts");
    std::fs::canonicalize(script).unwrap()
}

fn overlay(env: &TestEnv, script: &Path) -> Value {
    let script = script.display().to_string();
    run_deno(env, &["run", "--allow-read", "--allow-write", "--allow-net", "--allow-env", &script])
}

#[test]
fn a_deno_overlay_gets_a_token_once_the_person_allows_that_script() {
    let mut env = TestEnv::start(EnvOptions::default());
    let account = env.login_headless("sandbox");
    env.start_serve();
    let script = install(&env, "overlay.ts");

    // Unknown to the headless broker: refused, nothing handed out.
    let said = overlay(&env, &script);
    assert_eq!(said["hello"]["result"]["client"]["approval"], "unknown", "{said}");
    assert!(said["token"]["result"].is_null(), "{said}");
    assert_eq!(said["token"]["error"]["data"]["reason"], "client_not_allowed", "{said}");

    // The person allows that script run by that Deno, at a terminal.
    let deno = deno().display().to_string();
    let script_path = script.display().to_string();
    let allow = env.castkey_at_terminal(&[
        "apps",
        "allow",
        &deno,
        "--script",
        &script_path,
        "--name",
        "Stream overlay",
    ]);
    assert!(allow.status.success(), "{}{}", text(&allow.stdout), text(&allow.stderr));
    let said = overlay(&env, &script);
    assert_eq!(said["hello"]["result"]["client"]["approval"], "approved", "{said}");
    let token = said["token"]["result"]["access_token"].as_str().unwrap_or_else(|| panic!("{said}"));
    assert_eq!(env.introspect(token)["active"], true);
    assert_eq!(said["token"]["result"]["account"]["id"], serde_json::json!(account), "{said}");

    // The activity log keeps what the kernel says, not the name the
    // overlay gave itself: Deno's executable and the script, refused then
    // served.
    let log = env.castkey_at_terminal(&["log", "--client", &script_path, "--json"]);
    let log: Vec<Value> =
        serde_json::from_slice(&log.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&log.stdout)));
    let outcomes: Vec<&str> = log
        .iter()
        .filter(|e| {
            e["client"]["executable"] == serde_json::json!(deno)
                && e["client"]["script"] == serde_json::json!(script_path)
        })
        .filter_map(|e| e["outcome"].as_str())
        .collect();
    assert_eq!(outcomes, ["client_not_allowed", "served"], "{log:?}");

    // The same Deno running another script, or code on its command line,
    // is another program: refused.
    let other = install(&env, "other-overlay.ts");
    let said = overlay(&env, &other);
    assert_eq!(said["token"]["error"]["data"]["reason"], "client_not_allowed", "{said}");
    let code = std::fs::read_to_string(&script).unwrap();
    let said = run_deno(&env, &["eval", "--allow-all", &code]);
    assert_eq!(said["token"]["error"]["data"]["reason"], "client_not_allowed", "{said}");
}
