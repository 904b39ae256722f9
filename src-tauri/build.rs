//! Declares the app's own commands so that they go through Tauri's ACL like
//! plugin commands do (PITFALLS #21), and checks that the main window's
//! capability allows exactly them.
//!
//! The names come from `castkey_ipc::ui::command::COMMANDS` (a build-dependency),
//! the one list that also drives the invoke handler (checked at compile time in
//! `src/commands.rs`) and the window's TypeScript (`ui/src/bindings/names.ts`).
//! The capability file stays written by hand, since it is the security grant,
//! but a command it does not allow would only fail at run time ("not allowed"),
//! so a difference fails the build here instead.

use castkey_ipc::ui::command::COMMANDS;
use std::collections::BTreeSet;

const CAPABILITY: &str = "capabilities/default.json";

fn main() {
    println!("cargo:rerun-if-changed={CAPABILITY}");
    if let Err(e) = check_capability() {
        panic!("{CAPABILITY}: {e}");
    }
    tauri_build::try_build(
        tauri_build::Attributes::new().app_manifest(tauri_build::AppManifest::new().commands(COMMANDS)),
    )
    .expect("tauri build script failed");
}

/// The capability's `allow-…` permissions of our commands must be one
/// `allow-<command>` (underscores as dashes) per name in `COMMANDS`, no more,
/// no fewer. Plugin and core permissions (`core:…`, `plugin:…`) are not ours.
fn check_capability() -> Result<(), String> {
    let text = std::fs::read_to_string(CAPABILITY).map_err(|e| format!("cannot read it: {e}"))?;
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|e| format!("not JSON: {e}"))?;
    let permissions = json.get("permissions").and_then(|p| p.as_array()).ok_or("no \"permissions\" list")?;
    let ours: BTreeSet<String> = permissions
        .iter()
        .filter_map(|p| p.as_str().or_else(|| p.get("identifier").and_then(|i| i.as_str())))
        .filter(|id| !id.contains(':'))
        .map(str::to_owned)
        .collect();
    let expected: BTreeSet<String> =
        COMMANDS.iter().map(|name| format!("allow-{}", name.replace('_', "-"))).collect();
    if ours == expected {
        return Ok(());
    }
    let missing: Vec<_> = expected.difference(&ours).map(String::as_str).collect();
    let extra: Vec<_> = ours.difference(&expected).map(String::as_str).collect();
    Err(format!(
        "its permissions must allow exactly castkey_ipc::ui::command::COMMANDS; \
         missing: [{}], not in COMMANDS: [{}]",
        missing.join(", "),
        extra.join(", ")
    ))
}
