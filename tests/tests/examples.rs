//! The examples for people who write broadcasting software (`examples/`),
//! each run as its own process against a real `castkey serve`, as a user
//! would run them: the Python and Node clients (standard library only) print
//! the same token `castkey token` prints, and hear notifications with
//! `--subscribe`; the OBS script, run under the `obspython` stand-in
//! (`examples/obs/test/`, not OBS), puts that token into the streaming
//! service's settings; a copy of the Python example at another path, which
//! nobody approved, is refused with `client_not_allowed` and told how to be
//! allowed, and gets the token once that command ran.

use castkey_scenarios::{repo, text, wait_for, EnvOptions, TestEnv};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Runs `cmd` to its end (at most 60 s) and prints what it said.
fn run(what: &str, mut cmd: Command) -> Output {
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("could not start {what}: {e}"));
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!("{what} did not finish within 60 s:\n{}{}", text(&out.stdout), text(&out.stderr));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().expect("output");
    println!("$ {what} -> {}\n{}{}", out.status, text(&out.stdout), text(&out.stderr));
    out
}

/// The interpreter's real executable, as the broker reads it from
/// `/proc/<pid>/exe` (not a shim or a symbolic link on PATH).
fn real_executable(env: &TestEnv, program: &str, print_own_exe: &[&str]) -> String {
    let out = run(program, {
        let mut c = env.command(program);
        c.args(print_own_exe);
        c
    });
    assert!(out.status.success(), "{program} could not say where it is");
    text(&out.stdout).trim().to_string()
}

fn canonical(p: &Path) -> String {
    std::fs::canonicalize(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())).display().to_string()
}

/// Runs the OBS script under the stand-in with a service of `service_type`
/// and answers the runner's report.
fn run_obs_script(env: &TestEnv, runner: &str, service_type: &str) -> Value {
    let mut cmd = env.command("python3");
    cmd.arg(runner).args(["--service", service_type, "--wait", "30"]);
    let out = run(&format!("castkey_obs.py under the obspython stand-in ({service_type})"), cmd);
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("the runner's report is not JSON ({e}):\n{}", text(&out.stdout)));
    assert!(out.status.success(), "the OBS script did not set the token:\n{report:#}\n{}", text(&out.stderr));
    assert_eq!(report["unreleased_obs_data"], 0, "the script leaks obs_data references: {report:#}");
    assert_eq!(report["timers_left"], 0, "a timer survived script_unload: {report:#}");
    report
}

#[test]
fn the_examples_get_the_token_castkey_token_prints_and_an_unapproved_copy_is_refused() {
    let mut env = TestEnv::start(EnvOptions::default());
    let examples = repo().join("examples");
    let py_example = canonical(&examples.join("python/castkey_token.py"));
    let node_example = canonical(&examples.join("node/castkey-token.mjs"));
    let obs_runner = canonical(&examples.join("obs/test/run_with_standin.py"));
    let python = real_executable(&env, "python3", &["-c", "import os; print(os.readlink('/proc/self/exe'))"]);
    let node = real_executable(&env, "node", &["-p", "require('fs').readlinkSync('/proc/self/exe')"]);
    // What `castkey apps allow <exe> --script <script>` writes.
    env.approve_client(&python, Some(&py_example), "castkey_token.py example");
    env.approve_client(&node, Some(&node_example), "castkey-token.mjs example");
    env.approve_client(&python, Some(&obs_runner), "castkey_obs.py under the obspython stand-in");
    let account = env.login_headless("sandbox");
    env.start_serve();

    let cli = env.castkey(&["token"]);
    assert!(cli.status.success(), "castkey token failed");
    let token = text(&cli.stdout).trim().to_string();
    assert!(!token.is_empty());
    let bearer = format!("Bearer {token}");

    // Python, standard library only: the Authorization header value of the
    // very token the broker holds (it serves its cached one).
    let out = run("python3 castkey_token.py", {
        let mut c = env.command("python3");
        c.arg(&py_example);
        c
    });
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), bearer);
    let out = run("python3 castkey_token.py --json", {
        let mut c = env.command("python3");
        c.args([&py_example, "--json"]);
        c
    });
    let grant: Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    assert_eq!(grant["access_token"], token.as_str());
    assert_eq!(grant["account"]["id"], account.as_str());
    assert!(grant["scope"].as_array().unwrap().iter().any(|s| s == "broadcaster"), "{grant}");

    // Node, standard library only: the same.
    let out = run("node castkey-token.mjs", {
        let mut c = env.command("node");
        c.arg(&node_example);
        c
    });
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), bearer);
    let out = run("node castkey-token.mjs --json", {
        let mut c = env.command("node");
        c.args([&node_example, "--json"]);
        c
    });
    let grant: Value = serde_json::from_slice(&out.stdout).expect("--json prints JSON");
    assert_eq!(grant["headers"]["Authorization"], bearer.as_str());

    // The OBS script puts the token where the custom services read it: the
    // stream key of a custom RTMP service, the bearer token of a WHIP one.
    let report = run_obs_script(&env, &obs_runner, "rtmp_custom");
    assert_eq!(report["service"]["settings"]["key"], token.as_str(), "{report:#}");
    assert_eq!(report["service"]["settings"]["server"], "rtmp://ingest.example.test/live", "{report:#}");
    let logged = report["log"].to_string();
    assert!(logged.contains("key of the rtmp_custom service set from Castkey"), "{logged}");
    assert!(!logged.contains(&token), "the script log shows the token: {logged}");
    let report = run_obs_script(&env, &obs_runner, "whip_custom");
    assert_eq!(report["service"]["settings"]["bearer_token"], token.as_str(), "{report:#}");
    assert!(report["service"]["settings"].get("key").is_none(), "{report:#}");

    // --subscribe prints notifications as they come: a forced refresh is one.
    let mut py_sub = env.command("python3");
    py_sub.args([&py_example, "--subscribe"]);
    env.spawn("py-subscribe", py_sub);
    let mut node_sub = env.command("node");
    node_sub.args([&node_example, "--subscribe"]);
    env.spawn("node-subscribe", node_sub);
    for name in ["py-subscribe", "node-subscribe"] {
        wait_for(&format!("{name} to subscribe"), Duration::from_secs(20), || {
            env.log(name).contains("subscribed to").then_some(())
        });
    }
    let refreshed = env.castkey(&["token", "--refresh"]);
    assert!(refreshed.status.success());
    let new_token = text(&refreshed.stdout).trim().to_string();
    assert_ne!(new_token, token);
    for name in ["py-subscribe", "node-subscribe"] {
        let line = wait_for(&format!("{name} to print token_refreshed"), Duration::from_secs(20), || {
            env.log(name).lines().find(|l| l.starts_with("token_refreshed ")).map(String::from)
        });
        assert!(line.contains(&account), "{name}: {line}");
        assert!(!env.log(name).contains(&new_token), "{name} printed a token value");
    }

    // A copy of the Python example somewhere else is another program, which
    // nobody approved: the headless broker refuses it, and says how to allow it.
    let elsewhere = env.path("downloads");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let copy = elsewhere.join("castkey_token.py");
    std::fs::copy(&py_example, &copy).unwrap();
    let out = run("python3 <an unapproved copy>/castkey_token.py", {
        let mut c = env.command("python3");
        c.arg(&copy);
        c
    });
    let err = text(&out.stderr);
    assert_eq!(out.status.code(), Some(7), "exit code of client_not_allowed:\n{err}");
    assert!(out.stdout.is_empty(), "printed something on a refusal: {}", text(&out.stdout));
    let refusal = err
        .lines()
        .find(|l| l.ends_with("[client_not_allowed]"))
        .unwrap_or_else(|| panic!("no client_not_allowed refusal:\n{err}"));
    assert!(refusal.contains("clients.json"), "the broker's message does not name clients.json: {refusal}");
    assert!(
        refusal.contains("castkey apps allow"),
        "the broker's message does not name the command: {refusal}"
    );
    let copy_path = canonical(&copy);
    assert!(
        err.contains(&format!("castkey apps allow {python} --script {copy_path}")),
        "the hint does not name this program:\n{err}"
    );
    // The command the hint gives allows it, on the running broker, typed by
    // the person at a terminal (a program that runs it is refused).
    let refused = env.castkey(&["apps", "allow", &python, "--script", &copy_path]);
    assert_eq!(refused.status.code(), Some(6), "a program approved a program: {}", text(&refused.stdout));
    let allow = env.castkey_at_terminal(&["apps", "allow", &python, "--script", &copy_path]);
    assert!(allow.status.success(), "castkey apps allow failed: {}", text(&allow.stderr));
    let out = run("python3 <the copy, now allowed>/castkey_token.py", {
        let mut c = env.command("python3");
        c.arg(&copy);
        c
    });
    assert_eq!(out.status.code(), Some(0), "{}", text(&out.stderr));
    // (The token the broker holds since `castkey token --refresh` above.)
    assert_eq!(text(&out.stdout).trim(), format!("Bearer {new_token}"));

    // Both refuse a socket in a directory other users can write to (someone
    // else could have put it there), before they send anything.
    let shared = env.path("shared");
    std::fs::create_dir_all(&shared).unwrap();
    std::fs::set_permissions(&shared, std::fs::Permissions::from_mode(0o777)).unwrap();
    let planted = shared.join("castkey.sock");
    let _listener = UnixListener::bind(&planted).unwrap();
    for (program, script) in [("python3", &py_example), ("node", &node_example)] {
        let out = run(&format!("{program} {script} (socket in a shared directory)"), {
            let mut c = env.command(program);
            c.arg(script).env("CASTKEY_SOCKET", &planted);
            c
        });
        assert_eq!(out.status.code(), Some(11), "{}", text(&out.stderr));
        assert!(text(&out.stderr).contains("can be changed by other users"), "{}", text(&out.stderr));
    }
}
