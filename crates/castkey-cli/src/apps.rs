//! `castkey apps`: the programs allowed always, and allowing or revoking
//! one (how a headless broker learns its clients).
//!
//! The broker knows a program by its executable as the OS reports it
//! (absolute, symlinks resolved) and, for an interpreter, the script it
//! runs (absolute, symlinks resolved); paths given here are made the same.

use crate::{accounts, rpc, when};
use castkey_ipc::{Accounts, AllowApp, AllowAppParams, Apps, ClientApproval, ClientIdentity, RevokeApp};
use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

pub(crate) fn list(json: bool, out: &mut impl Write) -> anyhow::Result<()> {
    let apps = rpc::call::<Apps>(&mut rpc::connect()?, &Default::default())?;
    if json {
        writeln!(out, "{}", serde_json::to_string_pretty(&apps)?)?;
    } else if apps.is_empty() {
        writeln!(
            out,
            "No program is allowed always. Allow one with `castkey apps allow <executable>` (a headless \
             broker refuses programs it does not list)."
        )?;
    } else {
        let now = when::now();
        for a in &apps {
            write!(out, "{}", describe(a, now))?;
        }
    }
    Ok(())
}

/// What `castkey apps allow` takes.
#[derive(Debug, Default)]
pub(crate) struct Allow {
    pub executable: PathBuf,
    pub script: Option<String>,
    pub name: Option<String>,
    pub scopes: Vec<String>,
    pub account: Option<String>,
}

pub(crate) fn allow(args: Allow, out: &mut impl Write) -> anyhow::Result<()> {
    let cwd = std::env::current_dir()?;
    let path_var = std::env::var_os("PATH");
    let executable = executable_path(&args.executable, &cwd, path_var.as_deref(), true)?;
    let script = args.script.as_deref().map(|s| script_path(s, &cwd)).transpose()?;
    let scopes: Vec<String> =
        args.scopes.iter().flat_map(|s| s.split_whitespace()).map(String::from).collect();
    let mut client = rpc::connect()?;
    let account = match &args.account {
        Some(query) => {
            let list = rpc::call::<Accounts>(&mut client, &Default::default())?;
            Some(accounts::resolve(query, &list)?.id.clone())
        }
        None => None,
    };
    let params = AllowAppParams {
        executable: executable.display().to_string(),
        script,
        name: args.name,
        scopes: (!scopes.is_empty()).then_some(scopes),
        account,
    };
    let approval = rpc::call::<AllowApp>(&mut client, &params)?;
    writeln!(out, "Allowed always:")?;
    write!(out, "{}", describe(&approval, when::now()))?;
    Ok(())
}

pub(crate) fn revoke(
    executable: &Path,
    script: Option<&str>,
    out: &mut impl Write,
) -> anyhow::Result<ExitCode> {
    let cwd = std::env::current_dir()?;
    let path_var = std::env::var_os("PATH");
    let resolved = executable_path(executable, &cwd, path_var.as_deref(), false)?;
    let script = script.map(|s| script_path(s, &cwd)).transpose()?;
    let mut client = rpc::connect()?;
    let mut identity = ClientIdentity { executable: resolved.display().to_string(), script };
    let mut revoked = rpc::call::<RevokeApp>(&mut client, &identity)?;
    // Allowed under the path as written (a symlink that since points
    // elsewhere, after an update say)?
    if !revoked && executable.is_absolute() && executable != resolved {
        identity.executable = executable.display().to_string();
        revoked = rpc::call::<RevokeApp>(&mut client, &identity)?;
    }
    if revoked {
        writeln!(out, "Revoked: {identity} is no longer allowed always.")?;
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("castkey: {identity} was not allowed always (`castkey apps` lists those that are)");
        Ok(ExitCode::from(1))
    }
}

/// An approval, as `castkey apps` lists it.
pub(crate) fn describe(a: &ClientApproval, now: u64) -> String {
    let scopes = match &a.scopes {
        Some(s) if s.is_empty() => "none".to_string(),
        Some(s) => s.join(" "),
        None => "any the account holds".into(),
    };
    let account = match &a.account {
        Some(id) => format!("only {id}"),
        None => "the active one".into(),
    };
    format!(
        "{}\n    {}\n    scopes: {scopes}; account: {account}; approved {} ({})\n",
        a.name,
        a.identity,
        when::local(a.approved_at),
        when::relative(a.approved_at, now)
    )
}

/// An executable as the OS reports a running one: absolute, symlinks
/// resolved. A bare name is looked up in the working directory, then on
/// `PATH`; a relative path that does not exist is refused. An absolute one
/// that does not exist is kept as written (a program not installed yet, or
/// gone since); with `warn`, a note on stderr says so.
pub(crate) fn executable_path(
    arg: &Path,
    cwd: &Path,
    path_var: Option<&OsStr>,
    warn: bool,
) -> anyhow::Result<PathBuf> {
    // A sandboxed app (`flatpak:com.obsproject.Studio`) is known by its id.
    if arg.to_str().is_some_and(castkey_core::is_sandbox_identity) {
        return Ok(arg.to_path_buf());
    }
    if arg.is_absolute() {
        return Ok(match std::fs::canonicalize(arg) {
            Ok(p) => p,
            Err(_) => {
                if warn {
                    eprintln!("castkey: note: {} does not exist (yet); taken as written", arg.display());
                }
                arg.to_path_buf()
            }
        });
    }
    let here = cwd.join(arg);
    if here.is_file() {
        return Ok(std::fs::canonicalize(&here)?);
    }
    let bare = arg.components().count() == 1;
    if bare {
        if let Some(found) = path_var
            .into_iter()
            .flat_map(std::env::split_paths)
            .filter(|dir| dir.is_absolute())
            .map(|dir| dir.join(arg))
            .find(|p| is_executable_file(p))
        {
            return Ok(std::fs::canonicalize(&found)?);
        }
        anyhow::bail!(
            "`{}` is neither a file here nor a program on PATH: give the executable's path",
            arg.display()
        );
    }
    anyhow::bail!("`{}` does not exist (in {}): give the executable's path", arg.display(), cwd.display())
}

/// A script as the broker records it: absolute, symlinks resolved; or as
/// written for what runs no file (`-m module`, `-c`).
pub(crate) fn script_path(arg: &str, cwd: &Path) -> anyhow::Result<String> {
    if arg.starts_with('-') {
        return Ok(arg.to_string());
    }
    let p = cwd.join(arg);
    match std::fs::canonicalize(&p) {
        Ok(p) => Ok(p.display().to_string()),
        Err(_) if Path::new(arg).is_absolute() => Ok(arg.to_string()),
        Err(_) => anyhow::bail!("the script `{arg}` does not exist (in {}): give its path", cwd.display()),
    }
}

#[cfg(unix)]
fn is_executable_file(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable_file(p: &Path) -> bool {
    p.is_file()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn executables_are_made_absolute_and_canonical() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        let bin = root.join("bin");
        std::fs::create_dir(&bin).unwrap();
        let tool = bin.join("streamer-2.1");
        std::fs::write(&tool, "#!/bin/sh\n").unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&tool, std::fs::Permissions::from_mode(0o755)).unwrap();
            std::os::unix::fs::symlink(&tool, bin.join("streamer")).unwrap();
        }
        let path_var = std::env::join_paths([&bin]).unwrap();
        let resolve = |arg: &str| executable_path(Path::new(arg), &root, Some(&path_var), false);

        assert_eq!(resolve("bin/streamer-2.1").unwrap(), tool);
        assert_eq!(resolve("./bin/../bin/streamer-2.1").unwrap(), tool);
        assert_eq!(resolve(&tool.display().to_string()).unwrap(), tool);
        #[cfg(unix)]
        {
            assert_eq!(resolve("streamer").unwrap(), tool, "a bare name is found on PATH");
            assert_eq!(resolve(&bin.join("streamer").display().to_string()).unwrap(), tool);
        }
        let e = resolve("bin/nothing").unwrap_err();
        assert!(format!("{e}").contains("does not exist"), "{e}");
        let e = resolve("nothing").unwrap_err();
        assert!(format!("{e}").contains("PATH"), "{e}");
        // Absolute and missing: kept (a program not installed yet).
        assert_eq!(resolve("/opt/missing/app").unwrap(), PathBuf::from("/opt/missing/app"));
    }

    #[test]
    fn scripts_are_made_absolute_and_modules_kept() {
        let dir = tempfile::tempdir().unwrap();
        let root = std::fs::canonicalize(dir.path()).unwrap();
        std::fs::write(root.join("bot.py"), "").unwrap();
        let expected = root.join("bot.py").display().to_string();
        assert_eq!(script_path("bot.py", &root).unwrap(), expected);
        assert_eq!(script_path("./bot.py", &root).unwrap(), expected);
        assert_eq!(script_path("-m castbot", &root).unwrap(), "-m castbot");
        assert_eq!(script_path("/srv/later.py", &root).unwrap(), "/srv/later.py");
        assert!(script_path("missing.py", &root).is_err());
    }

    #[test]
    fn approvals_say_what_the_program_may_get() {
        let a = ClientApproval {
            identity: ClientIdentity {
                executable: "/usr/bin/python3.11".into(),
                script: Some("/home/me/bot.py".into()),
            },
            name: "Chat bot".into(),
            scopes: Some(vec!["broadcaster".into()]),
            account: Some("sandbox:bot".into()),
            approved_at: 1_000_000 - 3 * 86_400,
        };
        let text = describe(&a, 1_000_000);
        assert!(text.starts_with("Chat bot\n    /usr/bin/python3.11 running /home/me/bot.py\n"), "{text}");
        assert!(text.contains("scopes: broadcaster; account: only sandbox:bot; approved "), "{text}");
        assert!(text.ends_with("(3 days ago)\n"), "{text}");
        let any = ClientApproval { scopes: None, account: None, ..a };
        assert!(describe(&any, 1_000_000).contains("scopes: any the account holds; account: the active one"));
    }
}
