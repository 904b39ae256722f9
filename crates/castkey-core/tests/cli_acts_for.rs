//! Castkey's own command acts for whoever runs it, over the real socket:
//! a Python script runs "the CLI" (this test binary, which is the broker's
//! own executable file, so the broker takes it for Castkey's command) and
//! the broker applies the script's consent, not the command's.
//!
//! The child side is `cli_stand_in`: run by the script with
//! `CASTKEY_TEST_SOCKET` and `CASTKEY_TEST_LINE` set, it sends that one
//! line and prints the answer after `ANSWER `.
// The stand-in answers on standard output; helpers here are test code.
#![allow(clippy::unwrap_used, clippy::print_stdout)]

use castkey_core::test_support::World;
use castkey_core::{CoreEvent, IpcServer};
use castkey_ipc::ui::{AnswerConsentArgs, ConsentDecision};
use castkey_ipc::{ActivityParams, AllowAppParams};
use serde_json::Value;
use std::path::{Path, PathBuf};

const SOCKET_ENV: &str = "CASTKEY_TEST_SOCKET";
const LINE_ENV: &str = "CASTKEY_TEST_LINE";

/// The child side (does nothing unless a script ran it with the variables).
#[test]
fn cli_stand_in() {
    use std::io::{BufRead, Write};
    let (Some(path), Some(line)) = (std::env::var_os(SOCKET_ENV), std::env::var(LINE_ENV).ok()) else {
        return;
    };
    let mut stream = std::os::unix::net::UnixStream::connect(path).expect("connect");
    stream.write_all(format!("{line}\n").as_bytes()).expect("write");
    let mut answer = String::new();
    std::io::BufReader::new(stream).read_line(&mut answer).expect("read");
    println!("ANSWER {}", answer.trim_end());
}

/// `bot.py`, written to `dir`: runs this test binary as its `castkey`.
fn script(dir: &Path) -> Option<PathBuf> {
    if !Path::new("/usr/bin/python3").exists() {
        eprintln!("no /usr/bin/python3: nothing to run the command from");
        return None;
    }
    let cli = std::env::current_exe().unwrap();
    let path = std::fs::canonicalize(dir).unwrap().join("bot.py");
    std::fs::write(
        &path,
        format!(
            "import subprocess, sys\n\
             r = subprocess.run([{cli:?}, '--exact', 'cli_stand_in', '--nocapture', '--test-threads=1'],\n\
             \x20   stdin=subprocess.DEVNULL, capture_output=True, text=True)\n\
             sys.stdout.write(r.stdout)\n",
            cli = cli.display().to_string()
        ),
    )
    .unwrap();
    Some(path)
}

/// Runs `bot.py` (no terminal), which runs the command, which sends `line`.
async fn bot_runs_cli(bot: &Path, socket: &Path, line: &str) -> Value {
    let (bot, socket, line) = (bot.to_path_buf(), socket.to_path_buf(), line.to_string());
    let out = tokio::task::spawn_blocking(move || {
        std::process::Command::new("/usr/bin/python3")
            .arg(bot)
            .env(SOCKET_ENV, socket)
            .env(LINE_ENV, line)
            .stdin(std::process::Stdio::null())
            .output()
    })
    .await
    .unwrap()
    .expect("python runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let answer = text
        .lines()
        .find_map(|l| l.split_once("ANSWER ").map(|(_, a)| a))
        .unwrap_or_else(|| panic!("{text}"));
    serde_json::from_str(answer).expect("a JSON answer")
}

async fn serve(w: &World, dir: &Path) -> PathBuf {
    let socket = dir.join("castkey.sock");
    let server = IpcServer::bind(&socket).unwrap();
    tokio::spawn(server.serve(w.core.clone()));
    socket
}

fn reason(answer: &Value) -> &str {
    answer["error"]["data"]["reason"].as_str().unwrap_or_else(|| panic!("not refused: {answer}"))
}

const TOKEN: &str = r#"{"jsonrpc":"2.0","id":1,"method":"token"}"#;

#[tokio::test]
async fn a_script_running_castkey_token_gets_its_own_consent_not_the_command_s() {
    let w = World::with_sandbox_listed_only("http://127.0.0.1:9").await;
    let dir = tempfile::tempdir().unwrap();
    let Some(bot) = script(dir.path()) else { return };
    let socket = serve(&w, dir.path()).await;
    // Unlisted: refused, and the refusal names the script, not `castkey`.
    let answer = bot_runs_cli(&bot, &socket, TOKEN).await;
    assert_eq!(reason(&answer), "client_not_allowed", "{answer}");
    let message = answer["error"]["message"].as_str().unwrap();
    assert!(message.contains(&bot.display().to_string()), "{message}");
    assert!(message.contains("castkey apps allow /usr/bin/python3"), "{message}");
    assert!(answer["result"].is_null());
    // The log names the script as the program that asked.
    w.core.flush_activity().await;
    let log = w.core.activity(&ActivityParams::default());
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0].client.script.as_deref(), Some(bot.display().to_string().as_str()));
    assert!(log[0].client.executable.contains("python"), "{:?}", log[0].client);
    assert_eq!(log[0].outcome, "client_not_allowed");
    // Approved (as `castkey apps allow` typed at a terminal would): the
    // script's request gets past consent, to "nobody is signed in".
    let params = AllowAppParams {
        executable: log[0].client.executable.clone(),
        script: log[0].client.script.clone(),
        ..Default::default()
    };
    w.core.allow_app(&params).unwrap();
    let answer = bot_runs_cli(&bot, &socket, TOKEN).await;
    assert_eq!(reason(&answer), "not_signed_in", "{answer}");
}

#[tokio::test]
async fn a_script_running_castkey_apps_allow_is_refused_even_when_approved() {
    let w = World::with_sandbox_listed_only("http://127.0.0.1:9").await;
    let dir = tempfile::tempdir().unwrap();
    let Some(bot) = script(dir.path()) else { return };
    let socket = serve(&w, dir.path()).await;
    let allow_itself = format!(
        r#"{{"jsonrpc":"2.0","id":2,"method":"allow_app","params":{{"executable":"/usr/bin/python3.11","script":{:?},"name":"OBS Studio"}}}}"#,
        bot.display().to_string()
    );
    for approved in [false, true] {
        if approved {
            let who = bot_runs_cli(&bot, &socket, TOKEN).await;
            assert_eq!(reason(&who), "client_not_allowed");
            w.core.flush_activity().await;
            let client = w.core.activity(&ActivityParams::default())[0].client.clone();
            let params =
                AllowAppParams { executable: client.executable, script: client.script, ..Default::default() };
            w.core.allow_app(&params).unwrap();
        }
        let before = w.core.apps();
        for line in [
            allow_itself.as_str(),
            r#"{"jsonrpc":"2.0","id":3,"method":"revoke_app","params":{"executable":"/usr/bin/obs"}}"#,
            r#"{"jsonrpc":"2.0","id":4,"method":"activity"}"#,
            r#"{"jsonrpc":"2.0","id":5,"method":"remove_provider","params":{"provider":"sandbox"}}"#,
        ] {
            let answer = bot_runs_cli(&bot, &socket, line).await;
            assert_eq!(reason(&answer), "client_not_allowed", "approved: {approved}: {answer}");
            let message = answer["error"]["message"].as_str().unwrap();
            assert!(message.contains("not typed at a terminal"), "{message}");
        }
        assert_eq!(w.core.apps(), before, "nothing changed");
    }
}

#[tokio::test]
async fn in_the_app_a_script_running_castkey_is_asked_about_as_itself() {
    let w = World::with_sandbox("http://127.0.0.1:9").await;
    let dir = tempfile::tempdir().unwrap();
    let Some(bot) = script(dir.path()) else { return };
    let socket = serve(&w, dir.path()).await;
    let asking = {
        let (bot, socket) = (bot.clone(), socket.clone());
        tokio::spawn(async move { bot_runs_cli(&bot, &socket, TOKEN).await })
    };
    let Some(CoreEvent::ConsentRequested(req)) =
        w.events.wait_for(|e| matches!(e, CoreEvent::ConsentRequested(_))).await
    else {
        panic!("no prompt")
    };
    assert_eq!(req.identity.script.as_deref(), Some(bot.display().to_string().as_str()));
    assert!(req.identity.executable.contains("python"), "{:?}", req.identity);
    assert!(req.interpreted);
    assert!(req.always_offered, "an absolute script path");
    assert!(req.via.as_deref().is_some_and(|v| v.contains("Castkey's command")), "{:?}", req.via);
    assert!(req.client_name.is_none(), "the command's own name is not the script's");
    let args =
        AnswerConsentArgs { id: req.id, decision: ConsentDecision::Deny, scopes: None, bind_account: None };
    w.core.answer_consent(&args).unwrap();
    let answer = asking.await.unwrap();
    assert_eq!(reason(&answer), "consent_denied", "{answer}");
    assert!(w.core.apps().is_empty());
}
