//! Castkey lives in the tray: the window closed the way a window manager
//! closes it (WM_DELETE_WINDOW), the app keeps serving tokens with no web
//! process left; a program asking for consent brings the window back and
//! a desktop notification is sent; "start in tray" at login opens no window
//! until the user launches Castkey again.
//!
//! Notifications are watched with `dbus-monitor` on the scenario's own
//! session bus: the app's `org.freedesktop.Notifications.Notify` calls are
//! seen there whether or not a notification server answers them.

use castkey_ipc::{Token, TokenGrant, TokenParams};
use castkey_scenarios::x11::{self, web_processes};
use castkey_scenarios::{binary, text, wait_for, EnvOptions, LocalProgram, TestEnv};
use std::process::{Output, Stdio};
use std::time::Duration;

const TITLE: &str = "Castkey";

fn window_shown(env: &TestEnv) -> bool {
    x11::window_shown(env, TITLE)
}

fn close_window(env: &TestEnv) {
    x11::close_window(env, TITLE)
}

fn token(env: &TestEnv) -> TokenGrant {
    env.client().call::<Token>(&TokenParams::default()).expect("a token over IPC")
}

/// `dbus-monitor` on the scenario's bus, watching notification requests.
fn watch_notifications(env: &mut TestEnv) {
    let mut cmd = env.command("dbus-monitor");
    cmd.args(["--session", "type='method_call',interface='org.freedesktop.Notifications',member='Notify'"]);
    cmd.stdin(Stdio::null());
    env.spawn("notifications", cmd);
    // dbus-monitor prints its own NameAcquired signal once it listens.
    wait_for("dbus-monitor to listen", Duration::from_secs(10), || {
        env.log("notifications").contains("NameAcquired").then_some(())
    });
}

#[test]
fn closing_the_window_leaves_castkey_serving_from_the_tray() {
    let mut env = TestEnv::start(EnvOptions { display: true, ..Default::default() });
    watch_notifications(&mut env);
    let app = env.start_app("app", &[]);
    let pid = env.guard(app).child.id();
    assert!(!env.log("app").contains("no tray icon"), "{}", env.log("app"));
    wait_for("the window", Duration::from_secs(30), || window_shown(&env).then_some(()));

    let login = env.castkey(&["login", "sandbox"]);
    assert!(login.status.success(), "{}", text(&login.stderr));
    let before = token(&env);
    wait_for("the signed-in notification", Duration::from_secs(10), || {
        env.log("notifications").contains("Signed in").then_some(())
    });
    wait_for("a web process", Duration::from_secs(10), || (!web_processes(pid).is_empty()).then_some(()));

    // Closed as a window manager closes it: the app stays, the web process goes.
    close_window(&env);
    wait_for("the window to close", Duration::from_secs(15), || (!window_shown(&env)).then_some(()));
    assert!(env.guard(app).child.try_wait().unwrap().is_none(), "closing the window quit Castkey");
    wait_for("the web process to exit", Duration::from_secs(20), || {
        web_processes(pid).is_empty().then_some(())
    });

    // Broadcasting software still gets its token, from memory.
    let after = token(&env);
    assert_eq!(after.access_token, before.access_token, "the cached token is served with the window closed");
    let cli = env.castkey(&["token"]);
    assert!(cli.status.success(), "{}", text(&cli.stderr));
    assert_eq!(text(&cli.stdout).trim(), before.access_token);

    // A program nobody approved asks while the window is closed: the window
    // comes back with the prompt, and the user is notified.
    let script = LocalProgram::install(&env, "night-bot.py");
    let _asker = LocalProgram::start(&env, &script, "Night Bot");
    wait_for("the window to come back for the prompt", Duration::from_secs(30), || {
        window_shown(&env).then_some(())
    });
    wait_for("the consent notification", Duration::from_secs(10), || {
        let log = env.log("notifications");
        (log.contains("A program asks for tokens") && log.contains("Night Bot")).then_some(())
    });
    let notes = env.log("notifications");
    assert!(!notes.contains(&before.access_token), "a notification carried a token");
}

#[test]
fn start_in_tray_at_login_opens_no_window_until_launched_again() {
    let mut env = TestEnv::start(EnvOptions { display: true, ..Default::default() });
    // First run: sign in (the person, with `castkey login` before Castkey
    // runs: the account is active), turn "start in tray" on (as Settings
    // does), quit.
    env.login_headless("sandbox");
    let app = env.start_app("first", &[]);
    env.signal(app, libc::SIGTERM);
    assert_eq!(env.wait_exit(app, Duration::from_secs(20)), Some(0));
    let settings = std::path::Path::new(&env.vars["XDG_CONFIG_HOME"]).join("castkey/settings.json");
    assert!(settings.parent().unwrap().is_dir(), "no config dir at {}", settings.display());
    std::fs::write(
        &settings,
        r#"{"start_at_login":true,"start_in_tray":true,"go_live_hours":4,"notifications":true}"#,
    )
    .unwrap();

    // Started at login (the autostart entry's argument): tray only, serving.
    let mut cmd = env.command(binary("castkey-app"));
    cmd.arg("--autostarted");
    env.spawn("at-login", cmd);
    env.wait_for_broker();
    assert!(!token(&env).access_token.is_empty());
    std::thread::sleep(Duration::from_secs(3));
    assert!(!window_shown(&env), "a start at login with \"start in tray\" opened the window");

    // The user launches Castkey from the menu: the running one shows its window.
    let mut again = env.command(binary("castkey-app"));
    again.stdin(Stdio::null());
    let status = again.status().expect("launch castkey-app again");
    assert!(status.success(), "the second launch should hand over and exit 0");
    wait_for("the window", Duration::from_secs(30), || window_shown(&env).then_some(()));
}

#[test]
fn an_account_whose_sign_in_ends_within_the_horizon_is_not_ready_to_go_live() {
    // The provider says its refresh tokens end in an hour; the horizon is 4 h.
    let mut env = TestEnv::start(EnvOptions { display: true, gate: true, ..Default::default() });
    env.gate_fail("/token", "refresh_ends");
    watch_notifications(&mut env);
    // The person signs in (before Castkey runs: the account is active; a
    // program's sign-in would be that program's alone, not the streamer's).
    env.login_headless("sandbox");
    env.start_app("app", &[]);

    // Before going live, not in the middle of it: told once, right away.
    wait_for("the not-ready notification", Duration::from_secs(15), || {
        env.log("notifications").contains("Not ready to go live").then_some(())
    });
    let notes = env.log("notifications");
    assert!(notes.contains("ends before then"), "{notes}");
    // (`castkey status` is the person's: typed at a terminal, which the app
    // asks about in its window; tests/tests/no_keyring.rs reads it headless.)

    // A broadcasting app keeps working meanwhile: the grant has not ended.
    let token = token(&env);
    assert!(!token.access_token.is_empty());
    assert_eq!(notes.matches("Not ready to go live").count(), 1, "said once: {notes}");
}

/// `gdbus call` on the scenario's bus; its printed answer.
fn gdbus_call(env: &TestEnv, dest: &str, path: &str, method: &str, args: &[&str]) -> String {
    let out = try_gdbus_call(env, dest, path, method, args);
    assert!(out.status.success(), "gdbus {method}: {}", text(&out.stderr));
    text(&out.stdout)
}

/// [`gdbus_call`], whatever it answers.
fn try_gdbus_call(env: &TestEnv, dest: &str, path: &str, method: &str, args: &[&str]) -> Output {
    env.command("gdbus")
        .args(["call", "--session", "--dest", dest, "--object-path", path, "--method", method, "--"])
        .args(args)
        .output()
        .expect("run gdbus")
}

/// One entry of the tray menu as a panel reads it (com.canonical.dbusmenu).
#[derive(Debug)]
struct MenuEntry {
    id: i32,
    label: String,
    checked: bool,
}

/// Every entry of the menu at `menu_path`, submenus included, from
/// `GetLayout`'s printed answer: `(<id>, {'label': <'…'>, 'toggle-state': <1>, …}, [children])`.
fn menu_entries(env: &TestEnv, dest: &str, menu_path: &str) -> Vec<MenuEntry> {
    let layout = gdbus_call(env, dest, menu_path, "com.canonical.dbusmenu.GetLayout", &["0", "-1", "[]"]);
    let mut entries = Vec::new();
    let mut rest = layout.as_str();
    while let Some(open) = rest.find(", {") {
        let before = &rest[..open];
        let id = before.rsplit(|c: char| !c.is_ascii_digit()).next().and_then(|d| d.parse::<i32>().ok());
        let after = &rest[open + 3..];
        let close = after.find('}').unwrap_or(after.len());
        let props = &after[..close];
        if let (Some(id), Some(start)) = (id, props.find("'label': <'")) {
            let label = &props[start + 11..];
            let label = &label[..label.find("'>").unwrap_or(label.len())];
            entries.push(MenuEntry {
                id,
                label: label.replace('_', ""),
                checked: props.contains("'toggle-state': <1>"),
            });
        }
        rest = &after[close..];
    }
    entries
}

/// Clicks the entry labelled `label…` as the menu is now (the tray
/// rebuilds its menu when accounts change, which renumbers the entries),
/// until `done` says it took.
fn click_until(env: &TestEnv, dest: &str, menu_path: &str, label: &str, done: impl Fn() -> bool) {
    wait_for(&format!("a click on `{label}` to take"), Duration::from_secs(15), || {
        if let Some(e) = menu_entries(env, dest, menu_path).iter().find(|e| e.label.starts_with(label)) {
            // A stale id (the menu was rebuilt meanwhile) is refused: try again.
            let id = e.id.to_string();
            try_gdbus_call(
                env,
                dest,
                menu_path,
                "com.canonical.dbusmenu.Event",
                &[&id, "clicked", "<0>", "0"],
            );
        }
        std::thread::sleep(Duration::from_millis(300));
        done().then_some(())
    });
}

fn click(env: &TestEnv, dest: &str, menu_path: &str, id: i32) {
    gdbus_call(
        env,
        dest,
        menu_path,
        "com.canonical.dbusmenu.Event",
        &[&id.to_string(), "clicked", "<0>", "0"],
    );
}

#[test]
fn the_tray_menu_says_ready_switches_accounts_and_quits() {
    let mut env = TestEnv::start(EnvOptions { display: true, ..Default::default() });
    // A panel's tray host: the app's icon registers with it.
    let mut watcher = env.command("/usr/bin/python3");
    watcher.arg(castkey_scenarios::repo().join("tests/x11/sni_watcher.py")).stdin(Stdio::null());
    env.spawn("watcher", watcher);
    wait_for("the tray host", Duration::from_secs(10), || {
        env.log("watcher").contains("WATCHING").then_some(())
    });
    env.browser_with_chosen_login();
    let app = env.start_app("app", &[]);
    let item = wait_for("the tray icon to register", Duration::from_secs(30), || {
        env.log("watcher").lines().find_map(|l| l.strip_prefix("ITEM ").map(str::to_string))
    });
    let (sender, item_path) = item.split_once(' ').expect("ITEM <sender> <path>");
    let (sender, item_path) = (sender.to_string(), item_path.trim().to_string());
    let menu = gdbus_call(
        &env,
        &sender,
        &item_path,
        "org.freedesktop.DBus.Properties.Get",
        &["org.kde.StatusNotifierItem", "Menu"],
    );
    let menu_path = menu.split('\'').nth(1).expect("the item's Menu object path").to_string();

    // Two accounts of the sandbox, signed in by a program (this test): each
    // is that program's own, neither becomes the active account…
    for who in ["streamer", "bot"] {
        env.login_as(who);
        let login = env.castkey(&["login", "sandbox"]);
        assert!(login.status.success(), "{}", text(&login.stderr));
    }
    let entries = wait_for("both accounts in the menu", Duration::from_secs(15), || {
        let entries = menu_entries(&env, &sender, &menu_path);
        (entries.iter().filter(|e| e.label.starts_with("streamer") || e.label.starts_with("bot")).count()
            == 2)
            .then_some(entries)
    });
    assert!(entries.iter().any(|e| e.label == "Local sandbox: none"), "{entries:?}");
    assert!(entries.iter().all(|e| !e.checked), "a program's sign-in became active: {entries:?}");
    // …until the person picks one in the tray.
    click_until(&env, &sender, &menu_path, "bot", || {
        menu_entries(&env, &sender, &menu_path).iter().any(|e| e.label.starts_with("Local sandbox: bot"))
    });
    let shown = || {
        let entries = menu_entries(&env, &sender, &menu_path);
        entries.iter().any(|e| e.label.starts_with("Local sandbox: bot")).then_some(entries)
    };
    let entries = std::iter::repeat_with(|| {
        std::thread::sleep(Duration::from_millis(200));
        shown()
    })
    .take(75)
    .flatten()
    .next()
    .unwrap_or_else(|| {
        let layout =
            gdbus_call(&env, &sender, &menu_path, "com.canonical.dbusmenu.GetLayout", &["0", "-1", "[]"]);
        panic!("the menu does not show both accounts: {layout}")
    });
    let labels: Vec<&str> = entries.iter().map(|e| e.label.as_str()).collect();
    for expected in ["Ready to go live (next 4 h)", "Local sandbox: bot", "Open Castkey", "Quit Castkey"] {
        assert!(labels.contains(&expected), "no `{expected}` in {labels:?}");
    }
    let streamer =
        entries.iter().find(|e| e.label.starts_with("streamer")).expect("streamer in the switch menu");
    let bot = entries.iter().find(|e| e.label.starts_with("bot")).expect("bot in the switch menu");
    assert!(bot.checked && !streamer.checked, "{entries:?}");

    // Switch from the tray: the active account is the other one.
    click_until(&env, &sender, &menu_path, "streamer", || {
        let accounts = env.client().call::<castkey_ipc::Accounts>(&Default::default()).unwrap_or_default();
        accounts.iter().any(|a| a.active && a.id == "sandbox:streamer")
    });
    wait_for("the menu to follow", Duration::from_secs(10), || {
        menu_entries(&env, &sender, &menu_path)
            .iter()
            .any(|e| e.label.starts_with("Local sandbox: streamer"))
            .then_some(())
    });

    // Quit from the tray: the app ends, cleanly.
    let quit =
        menu_entries(&env, &sender, &menu_path).into_iter().find(|e| e.label == "Quit Castkey").unwrap();
    click(&env, &sender, &menu_path, quit.id);
    assert_eq!(env.wait_exit(app, Duration::from_secs(20)), Some(0), "{}", env.log("app"));
}

#[test]
fn the_app_started_while_castkey_serve_owns_the_state_says_so_and_exits() {
    // A streamer clicks the icon while the broker runs as a service.
    let mut env = TestEnv::start(EnvOptions { display: true, ..Default::default() });
    watch_notifications(&mut env);
    let serve = env.start_serve();
    let serve_pid = env.guard(serve).child.id();
    let mut cmd = env.command(binary("castkey-app"));
    cmd.stdin(Stdio::null());
    let app = env.spawn("app", cmd);
    assert_eq!(env.wait_exit(app, Duration::from_secs(30)), Some(1), "{}", env.log("app"));
    let notes = env.log("notifications");
    assert!(notes.contains("Castkey could not start"), "{notes}");
    assert!(notes.contains(&format!("Castkey already runs (process {serve_pid})")), "{notes}");
    assert!(!window_shown(&env));
    // The broker it found goes on serving.
    assert!(env.guard(serve).child.try_wait().unwrap().is_none());
}
