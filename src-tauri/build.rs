// Declares the app's own commands so that they go through Tauri's ACL like
// plugin commands do (PITFALLS #21); capabilities/default.json allows them.
fn main() {
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(
        tauri_build::AppManifest::new().commands(&[
            "list_providers",
            "list_accounts",
            "sign_in",
            "sign_in_with_code",
            "cancel_sign_in_with_code",
            "add_service_account",
            "add_api_key_account",
            "sign_out",
            "app_status",
            "list_provider_templates",
            "add_provider",
            "remove_provider",
        ]),
    ))
    .expect("tauri build script failed");
}
