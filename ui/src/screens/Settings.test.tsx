import { fireEvent, waitFor } from "@testing-library/preact";
import { describe, expect, it } from "vitest";
import type { DesktopSettings } from "../api";
import { events } from "../bindings/names";
import { fakeBackend, renderApp, settings, shellEmits, status } from "../test/backend";
import { parseHours } from "../validate";

async function openSettings(overrides = {}) {
  const backend = fakeBackend({
    update_settings: (args: DesktopSettings) => args,
    export_diagnostics: () => ({ path: "/home/me/castkey-diagnostics.txt", text: "Castkey 0.1.0\n" }),
    ...overrides,
  });
  const app = await renderApp();
  fireEvent.click(document.getElementById("nav-settings")!);
  await waitFor(() => expect(document.getElementById("panel-settings")?.hidden).toBe(false));
  await waitFor(() => expect(document.getElementById("setting-go-live-hours")).not.toBeNull());
  return { backend, app };
}

describe("Settings", () => {
  it("shows the settings and saves a toggle with the whole settings struct", async () => {
    const { backend } = await openSettings();
    const login = document.getElementById("setting-start-at-login") as HTMLInputElement;
    expect(login.checked).toBe(false);
    expect((document.getElementById("setting-notifications") as HTMLInputElement).checked).toBe(true);
    expect((document.getElementById("setting-go-live-hours") as HTMLInputElement).value).toBe("4");
    fireEvent.click(login);
    await waitFor(() => expect(backend.argsOf("update_settings")).toEqual([{ ...settings, start_at_login: true }]));
    await waitFor(() => expect(document.getElementById("settings-saved")?.textContent).toBe("Saved."));
    expect(login.checked).toBe(true);
  });

  it("checks the go-live horizon as it is typed and saves only 1 to 48 whole hours", async () => {
    const { backend } = await openSettings();
    const hours = document.getElementById("setting-go-live-hours") as HTMLInputElement;
    for (const bad of ["0", "49", "2.5", "", "abc"]) {
      fireEvent.input(hours, { target: { value: bad } });
      fireEvent.change(hours);
      await waitFor(() => expect(hours.getAttribute("aria-invalid")).toBe("true"));
      expect(document.getElementById("setting-go-live-hint")?.textContent).toBe(
        "Enter a whole number of hours from 1 to 48.",
      );
    }
    expect(backend.count("update_settings")).toBe(0);
    fireEvent.input(hours, { target: { value: "12" } });
    fireEvent.change(hours);
    await waitFor(() => expect(backend.argsOf("update_settings")).toEqual([{ ...settings, go_live_hours: 12 }]));
    expect(hours.hasAttribute("aria-invalid")).toBe(false);
  });

  it("follows a change made from the tray", async () => {
    await openSettings();
    await shellEmits(events.settingsChanged, { ...settings, start_in_tray: true, go_live_hours: 9 });
    await waitFor(() => expect((document.getElementById("setting-start-in-tray") as HTMLInputElement).checked).toBe(true));
    await waitFor(() => expect((document.getElementById("setting-go-live-hours") as HTMLInputElement).value).toBe("9"));
  });

  it("shows the socket path, how to get the CLI on PATH, and exports diagnostics", async () => {
    const { backend } = await openSettings();
    expect(document.getElementById("socket-path")?.textContent).toBe(status.socket_path);
    expect(document.getElementById("copy-socket")?.textContent).toBe("Copy");
    expect(document.getElementById("cli-hint")?.textContent).toContain("link it into a folder on your PATH");
    expect(document.getElementById("cli-command")?.textContent).toBe("ln -s '/opt/castkey/castkey' ~/.local/bin/castkey");
    expect(document.getElementById("redirect-uri")?.textContent).toBe("dev.castkey.app:/callback/<service>");
    fireEvent.click(document.getElementById("export-diagnostics")!);
    await waitFor(() => expect(document.getElementById("diagnostics-path")?.textContent).toBe("/home/me/castkey-diagnostics.txt"));
    expect(document.getElementById("copy-diagnostics")).not.toBeNull();
    expect(backend.count("export_diagnostics")).toBe(1);
  });

  it("says the CLI is ready when it is on PATH", async () => {
    await openSettings({ app_status: () => ({ ...status, cli_on_path: true }) });
    expect(document.getElementById("cli-hint")?.textContent).toContain("castkey is on your PATH");
  });

  it("parses hours strictly", () => {
    expect(parseHours("1")).toBe(1);
    expect(parseHours(" 48 ")).toBe(48);
    expect(parseHours("0")).toBeUndefined();
    expect(parseHours("49")).toBeUndefined();
    expect(parseHours("4h")).toBeUndefined();
  });
});
