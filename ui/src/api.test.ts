import { describe, expect, it, vi } from "vitest";
import * as api from "./api";
import { commands, events } from "./bindings/names";
import { fakeBackend, settings, shellEmits, status } from "./test/backend";

describe("api: commands go out under their generated names with one args struct", () => {
  it("sends each command's args as { args } and commands without args with none", async () => {
    const backend = fakeBackend({
      sign_in: () => ({ provider: "sandbox", url: "https://idp/auth", redirect_uri: "dev.castkey.app:/callback", expires_at: 1 }),
      cancel_sign_in: () => true,
      cancel_sign_in_with_code: () => null,
      sign_out: () => ({ account_id: "a", revocation: "confirmed", message: null }),
      switch_account: () => ({}),
      update_settings: (args) => args,
      export_diagnostics: () => ({ path: "/tmp/castkey-diagnostics.txt", text: "report" }),
      install_cli: () => ({ path: "/home/u/.local/bin/castkey", on_path: false }),
      answer_consent: () => null,
      revoke_app: () => true,
      add_provider: () => ({}),
      add_service_account: () => ({}),
      add_api_key_account: () => ({}),
    });

    await api.signIn({ provider: "sandbox" });
    await api.cancelSignIn({ provider: "sandbox" });
    await api.cancelSignInWithCode({ provider: "sandbox" });
    await api.signOut({ account_id: "sandbox:streamer" });
    await api.switchAccount({ account_id: "sandbox:viewer" });
    await api.updateSettings({ ...settings, go_live_hours: 6 });
    await api.answerConsent({ id: 7, decision: "deny" });
    await api.revokeApp({ identity: { executable: "/usr/bin/obs" } });
    await api.addProvider({ template: "oidc", values: { issuer: "https://id.example.com" } });
    await api.addServiceAccount({ provider: "vidiflow", client_id: "id", client_secret: "s" });
    await api.addApiKeyAccount({ provider: "apivideo", environment: "sandbox", api_key: "k" });
    await api.activity({ limit: 5, account: "sandbox:streamer" });
    expect(await api.appStatus()).toEqual(status);
    expect(await api.settings()).toEqual(settings);
    expect((await api.goLiveReadiness()).horizon_hours).toBe(4);
    expect(await api.exportDiagnostics()).toEqual({ path: "/tmp/castkey-diagnostics.txt", text: "report" });
    expect(await api.installCli()).toEqual({ path: "/home/u/.local/bin/castkey", on_path: false });

    expect(backend.calls).toEqual([
      { cmd: commands.signIn, args: { provider: "sandbox" } },
      { cmd: "cancel_sign_in", args: { provider: "sandbox" } },
      { cmd: "cancel_sign_in_with_code", args: { provider: "sandbox" } },
      { cmd: "sign_out", args: { account_id: "sandbox:streamer" } },
      { cmd: "switch_account", args: { account_id: "sandbox:viewer" } },
      { cmd: "update_settings", args: { ...settings, go_live_hours: 6 } },
      { cmd: "answer_consent", args: { id: 7, decision: "deny" } },
      { cmd: "revoke_app", args: { identity: { executable: "/usr/bin/obs" } } },
      { cmd: "add_provider", args: { template: "oidc", values: { issuer: "https://id.example.com" } } },
      { cmd: "add_service_account", args: { provider: "vidiflow", client_id: "id", client_secret: "s" } },
      { cmd: "add_api_key_account", args: { provider: "apivideo", environment: "sandbox", api_key: "k" } },
      { cmd: "activity", args: { limit: 5, account: "sandbox:streamer" } },
      { cmd: "app_status", args: undefined },
      { cmd: "settings", args: undefined },
      { cmd: "go_live_readiness", args: undefined },
      { cmd: "export_diagnostics", args: undefined },
      { cmd: "install_cli", args: undefined },
    ]);
  });

  it("passes the shell's CommandError through and turns anything else into `internal`", async () => {
    fakeBackend({
      sign_out: () => {
        throw { reason: "keychain_unavailable", message: "The keychain is locked." };
      },
      switch_account: () => {
        throw "boom";
      },
    });
    await expect(api.signOut({ account_id: "x" })).rejects.toEqual({
      reason: "keychain_unavailable",
      message: "The keychain is locked.",
    });
    await expect(api.switchAccount({ account_id: "x" })).rejects.toEqual({ reason: "internal", message: "boom" });
  });

  it("delivers events' payloads, and show-screen only for known tabs", async () => {
    fakeBackend();
    const screens: string[] = [];
    const changed = vi.fn();
    await api.onShowScreen((s) => screens.push(s));
    await api.onSettingsChanged(changed);
    await shellEmits(events.showScreen, "settings");
    await shellEmits(events.showScreen, "nonsense");
    await shellEmits(events.showScreen, "add");
    await shellEmits(events.settingsChanged, { ...settings, notifications: false });
    expect(screens).toEqual(["settings", "add"]);
    expect(changed).toHaveBeenCalledWith({ ...settings, notifications: false });
  });
});
