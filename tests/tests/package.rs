//! The installed package: the .deb that `scripts/package deb` builds is
//! installed on this machine with `dpkg -i`, and a real sign-in goes through
//! what it installed: the desktop entry (with `%u`), reached by `xdg-open`
//! under GNOME's environment (so `gio open` does the launching, PITFALLS
//! #36), cold-starts `/usr/bin/castkey-app` with the redirect, and the
//! installed `/usr/bin/castkey` gets a token over IPC. The package is removed
//! afterwards, pass or fail.
//!
//! Needs root (or password-less sudo) for dpkg, and the .deb's path in
//! `CASTKEY_DEB`: `scripts/test` builds it and sets it.

use castkey_ipc::{Token, TokenParams};
use castkey_scenarios::{text, wait_for, EnvOptions, TestEnv};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

const APP: &str = "/usr/bin/castkey-app";
const CLI: &str = "/usr/bin/castkey";
const UNIT: &str = "/usr/lib/systemd/user/castkey.service";
const SCHEME_MIME: &str = "x-scheme-handler/dev.castkey.app";

fn deb_path() -> PathBuf {
    let path = std::env::var_os("CASTKEY_DEB").map(PathBuf::from).unwrap_or_else(|| {
        panic!(
            "CASTKEY_DEB is not set: this scenario installs the .deb. Build it with `scripts/package deb` \
             (it prints the path) and run `CASTKEY_DEB=<that path> cargo test -p castkey-scenarios \
             --test package`; scripts/test does both"
        )
    });
    assert!(
        path.is_file(),
        "CASTKEY_DEB={} is not a file: build it with `scripts/package deb`",
        path.display()
    );
    path
}

/// Runs a system administration command: as root directly, else through
/// `sudo -n` (which fails at once rather than asking for a password).
fn admin(args: &[&str]) -> Output {
    #[allow(unsafe_code)]
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    let root = unsafe { libc::geteuid() } == 0;
    let mut cmd = if root {
        Command::new(args[0])
    } else {
        let mut c = Command::new("sudo");
        c.arg("-n").arg(args[0]);
        c
    };
    cmd.args(&args[1..]);
    cmd.output().unwrap_or_else(|e| panic!("could not run {}: {e}", args.join(" ")))
}

/// `dpkg` with a few retries while another dpkg or apt holds its lock.
fn dpkg(args: &[&str]) -> Output {
    let mut all = vec!["dpkg"];
    all.extend_from_slice(args);
    for _ in 0..60 {
        let out = admin(&all);
        if out.status.success() || !text(&out.stderr).contains("lock") {
            return out;
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    admin(&all)
}

/// The installed package; dropping it removes it (`dpkg -r`), also when the
/// scenario fails.
#[derive(Debug)]
struct Installed {
    package: String,
}

impl Installed {
    fn install(deb: &Path) -> Installed {
        let field = Command::new("dpkg-deb").args(["--field"]).arg(deb).arg("Package").output().unwrap();
        assert!(field.status.success(), "dpkg-deb --field {}: {}", deb.display(), text(&field.stderr));
        let package = text(&field.stdout).trim().to_string();
        assert!(!package.is_empty(), "{} names no package", deb.display());
        // From here on the package may be (partly) installed: remove it on drop.
        let installed = Installed { package };
        let out = dpkg(&["-i", &deb.display().to_string()]);
        assert!(
            out.status.success(),
            "dpkg -i {} failed (this scenario needs root or password-less sudo):\n{}{}",
            deb.display(),
            text(&out.stdout),
            text(&out.stderr)
        );
        installed
    }

    fn files(&self) -> Vec<String> {
        let out = Command::new("dpkg").args(["-L", &self.package]).output().unwrap();
        assert!(out.status.success(), "dpkg -L {}: {}", self.package, text(&out.stderr));
        text(&out.stdout).lines().map(String::from).collect()
    }
}

impl Drop for Installed {
    fn drop(&mut self) {
        let out = dpkg(&["-r", &self.package]);
        if !out.status.success() {
            eprintln!("dpkg -r {} failed:\n{}{}", self.package, text(&out.stdout), text(&out.stderr));
        }
        // dpkg's trigger does this too where desktop-file-utils is installed.
        admin(&["update-desktop-database", "/usr/share/applications"]);
    }
}

/// The installed app processes of this scenario (found by their executable
/// and their HOME), stopped on drop: an app that `gio` started is no longer
/// the child of anything the harness started.
#[derive(Debug)]
struct InstalledApps {
    home: PathBuf,
}

impl InstalledApps {
    fn pids(&self) -> Vec<i32> {
        let home = format!("HOME={}", self.home.display());
        let mut pids = Vec::new();
        for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
            let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let exe = std::fs::read_link(entry.path().join("exe")).unwrap_or_default();
            // After `dpkg -r` the link reads "/usr/bin/castkey-app (deleted)".
            if !exe.to_string_lossy().starts_with(APP) {
                continue;
            }
            let environ = std::fs::read(entry.path().join("environ")).unwrap_or_default();
            if environ.split(|b| *b == 0).any(|v| v == home.as_bytes()) {
                pids.push(pid);
            }
        }
        pids
    }

    /// The command line of the one running installed app.
    fn argv(&self) -> Vec<String> {
        let pids = self.pids();
        assert_eq!(pids.len(), 1, "expected one installed castkey-app of this scenario, found {pids:?}");
        let raw = std::fs::read(format!("/proc/{}/cmdline", pids[0])).unwrap();
        raw.split(|b| *b == 0).filter(|a| !a.is_empty()).map(text).collect()
    }
}

impl Drop for InstalledApps {
    fn drop(&mut self) {
        for pid in self.pids() {
            kill(pid, libc::SIGTERM);
        }
        for _ in 0..50 {
            if self.pids().is_empty() {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        for pid in self.pids() {
            kill(pid, libc::SIGKILL);
        }
    }
}

#[allow(unsafe_code)]
fn kill(pid: i32, signal: i32) {
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    unsafe {
        libc::kill(pid, signal);
    }
}

/// Runs an installed program under the scenario's environment.
fn run(env: &TestEnv, program: &str, args: &[&str]) -> Output {
    let out = env.command(program).args(args).output().unwrap_or_else(|e| panic!("run {program}: {e}"));
    println!("$ {program} {} -> {}\n{}{}", args.join(" "), out.status, text(&out.stdout), text(&out.stderr));
    out
}

/// The `Exec=` and `MimeType=` of the package's desktop entry, checked.
fn check_desktop_entry(path: &str) {
    let entry = std::fs::read_to_string(path).unwrap();
    println!("---- {path} ----\n{entry}");
    let exec = entry.lines().find_map(|l| l.strip_prefix("Exec=")).expect("no Exec= line");
    let words: Vec<&str> = exec.split_whitespace().collect();
    assert_eq!(words.first(), Some(&"castkey-app"), "Exec={exec}");
    // Without a field code gio starts the app without the URL (PITFALLS #1, #36).
    assert!(words.contains(&"%u") || words.contains(&"%U"), "Exec={exec} has no %u: the URL is dropped");
    let mime = entry.lines().find_map(|l| l.strip_prefix("MimeType=")).expect("no MimeType= line");
    assert!(mime.split(';').any(|m| m == SCHEME_MIME), "MimeType={mime}");
    let valid = Command::new("desktop-file-validate").arg(path).output().expect("desktop-file-validate");
    assert!(
        valid.status.success(),
        "desktop-file-validate {path}:\n{}{}",
        text(&valid.stdout),
        text(&valid.stderr)
    );
}

#[test]
fn the_installed_package_signs_in_through_its_desktop_entry_and_hands_out_tokens() {
    let deb = deb_path();
    assert!(
        !Path::new(APP).exists(),
        "{APP} exists before this scenario installs the package: a Castkey package is installed already \
         (remove it with `dpkg -r castkey`); this scenario must not overwrite it"
    );
    let package = Installed::install(&deb);

    // What the package installed.
    let files = package.files();
    for path in [APP, CLI, UNIT] {
        assert!(files.iter().any(|f| f == path), "the package has no {path}:\n{}", files.join("\n"));
        assert!(Path::new(path).is_file(), "{path} is not installed");
    }
    for exe in [APP, CLI] {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(exe).unwrap().permissions().mode();
        assert_eq!(mode & 0o755, 0o755, "{exe} is not executable: {mode:o}");
    }
    let unit = std::fs::read_to_string(UNIT).unwrap();
    let exec_start =
        unit.lines().find_map(|l| l.strip_prefix("ExecStart=")).expect("the unit has no ExecStart=");
    assert!(
        exec_start.starts_with(&format!("{CLI} serve")),
        "the installed unit must start the installed CLI: ExecStart={exec_start}"
    );
    let entries: Vec<&String> = files
        .iter()
        .filter(|f| f.starts_with("/usr/share/applications/") && f.ends_with(".desktop"))
        .collect();
    assert_eq!(entries.len(), 1, "desktop entries in the package: {entries:?}");
    let entry = entries[0].clone();
    let entry_name = Path::new(&entry).file_name().unwrap().to_string_lossy().into_owned();
    check_desktop_entry(&entry);

    // The system's MIME cache names the installed entry for the scheme.
    let update = admin(&["update-desktop-database", "/usr/share/applications"]);
    assert!(update.status.success(), "update-desktop-database: {}", text(&update.stderr));
    let cache = std::fs::read_to_string("/usr/share/applications/mimeinfo.cache").unwrap();
    let handlers = cache.lines().find_map(|l| l.strip_prefix(&format!("{SCHEME_MIME}="))).unwrap_or("");
    assert!(handlers.split(';').any(|h| h == entry_name), "mimeinfo.cache: {SCHEME_MIME}={handlers}");

    // A GNOME session's environment: xdg-open hands URLs to `gio open`.
    let mut env = TestEnv::start(EnvOptions { display: true, ..Default::default() });
    env.vars.insert("XDG_CURRENT_DESKTOP".into(), "GNOME".into());
    let apps = InstalledApps { home: env.home.path().to_path_buf() };
    let gio = run(&env, "sh", &["-c", "command -v gio"]);
    assert!(
        gio.status.success(),
        "gio is not installed (Debian: libglib2.0-bin); xdg-open would not take GNOME's path"
    );

    // The temporary HOME has no handler of its own: only the installed entry
    // can answer (a checkout's build registers one at runtime; PITFALLS #2).
    let data_apps = Path::new(&env.vars["XDG_DATA_HOME"]).join("applications");
    let no_user_handler = |env: &TestEnv| {
        let own = std::fs::read_dir(&data_apps).map(|d| d.count()).unwrap_or(0);
        assert_eq!(own, 0, "the temporary HOME has desktop entries in {}", data_apps.display());
        let mimeapps = Path::new(&env.vars["XDG_CONFIG_HOME"]).join("mimeapps.list");
        let list = std::fs::read_to_string(&mimeapps).unwrap_or_default();
        assert!(!list.contains(SCHEME_MIME), "{}:\n{list}", mimeapps.display());
    };
    no_user_handler(&env);
    let default = run(&env, "gio", &["mime", SCHEME_MIME]);
    assert!(text(&default.stdout).contains(&entry_name), "gio's default handler: {}", text(&default.stdout));

    // Sign-in started in the installed app; the browser holds back the
    // redirect while the user quits Castkey.
    let hold = env.path("redirect.url").display().to_string();
    let app = env.start_app_from("app", Path::new(APP), &[("CASTKEY_TEST_BROWSER_HOLD", &hold)]);
    let mut login_cmd = env.command(CLI);
    login_cmd.args(["login", "sandbox"]);
    let login = env.spawn("login", login_cmd);
    let url = wait_for("the browser to reach the redirect", Duration::from_secs(60), || {
        std::fs::read_to_string(&hold).ok().filter(|s| !s.is_empty())
    });
    let url = url.trim().to_string();
    assert!(url.starts_with("dev.castkey.app:"), "{url}");
    env.stop(app);
    assert_ne!(env.wait_exit(login, Duration::from_secs(30)), Some(0));
    assert!(
        castkey_ipc::Client::connect(&env.socket()).is_err(),
        "a broker still answers after quitting the app"
    );
    assert!(apps.pids().is_empty(), "the installed app still runs: {:?}", apps.pids());
    // Installed under /usr, the app did not register itself.
    no_user_handler(&env);

    // The redirect arrives: xdg-open (traced, to show the path it takes)
    // starts the installed app from its desktop entry, with the URL.
    let xdg_open = run(&env, "sh", &["-c", "command -v xdg-open"]);
    let xdg_open = text(&xdg_open.stdout).trim().to_string();
    let mut open = env.command("sh");
    open.arg("-x").arg(&xdg_open).arg(&url);
    let opener = env.spawn("cold-app", open);
    assert_eq!(
        env.wait_exit(opener, Duration::from_secs(60)),
        Some(0),
        "xdg-open failed:\n{}",
        env.log("cold-app")
    );
    // `sh -x` shows each command it runs; the URL may come out quoted.
    let trace = env.log("cold-app");
    assert!(
        trace.lines().any(|l| l.starts_with("+ gio open ") && l.contains(&url)),
        "xdg-open did not go through `gio open`:\n{trace}"
    );
    env.wait_for_broker();
    let argv = apps.argv();
    assert_eq!(argv, vec!["castkey-app".to_string(), url.clone()], "the installed app's command line");
    wait_for("the cold-started app to finish the sign-in", Duration::from_secs(60), || {
        env.account_ids().contains(&"sandbox:streamer".to_string()).then_some(())
    });
    wait_for("the app to log the deep link", Duration::from_secs(10), || {
        env.log("cold-app").contains("sign-in completed through deep link").then_some(())
    });

    // A broadcasting app's token, from the installed `castkey`. A program
    // (this test) started that sign-in, so the account is added but not
    // made everyone's: the app names it.
    let token = run(&env, CLI, &["token", "--account", "sandbox:streamer"]);
    assert!(token.status.success(), "castkey token: {}", text(&token.stderr));
    let access = text(&token.stdout).trim().to_string();
    let info = env.introspect(&access);
    assert_eq!(info["active"], true, "{info}");
    assert!(info["scope"].as_str().unwrap().split(' ').any(|s| s == "broadcaster"), "{info}");
    // The same over the socket, and the refresh token went to the keychain.
    let named = TokenParams { account: Some("sandbox:streamer".into()), ..Default::default() };
    let grant = env.client().call::<Token>(&named).unwrap();
    assert_eq!(grant.access_token, access);
    assert!(env.keychain_lookup("account/sandbox:streamer/refresh_token").is_some());

    drop(apps);
    drop(env);
    drop(package);
    assert!(!Path::new(CLI).exists(), "{CLI} is still there after dpkg -r");
}
