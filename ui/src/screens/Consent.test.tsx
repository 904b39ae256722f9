import { fireEvent, waitFor } from "@testing-library/preact";
import { describe, expect, it } from "vitest";
import type { ConsentRequest } from "../api";
import { events } from "../bindings/names";
import { fakeBackend, NOW, renderApp, shellEmits } from "../test/backend";

const request: ConsentRequest = {
  id: 41,
  client_name: "Stream Bot",
  identity: { executable: "/usr/bin/python3", script: "/home/me/stream-bot.py" },
  interpreted: true,
  pid: 4242,
  account: { id: "sandbox:streamer", provider: "sandbox", display_name: "streamer" },
  scopes: ["broadcaster"],
  method: "token",
  expires_at: NOW + 120,
  always_offered: true,
};

async function prompt(overrides = {}) {
  const backend = fakeBackend({ answer_consent: () => null, ...overrides });
  const app = await renderApp();
  await shellEmits(events.consentRequested, request);
  const dialog = await waitFor(() => document.querySelector<HTMLElement>('#consent:not([hidden]) [role="dialog"]')!);
  await waitFor(() => expect(document.activeElement?.id).toBe("consent-deny"));
  return { backend, app, dialog };
}

describe("Consent prompt", () => {
  it("shows who asks, for what, over any tab, with focus on Deny and the window behind inert", async () => {
    const { dialog, app } = await prompt();
    expect(dialog.getAttribute("aria-modal")).toBe("true");
    for (const shown of [
      "Stream Bot",
      "what it says about itself, not verified",
      "/usr/bin/python3",
      "/home/me/stream-bot.py",
      "a weaker identity",
      "4242",
      "streamer (Local sandbox)",
      "Only these scopes: broadcaster",
      "Waiting for your answer: 1:5",
    ]) {
      expect(dialog.textContent).toContain(shown);
    }
    expect(document.getElementById("app")?.hasAttribute("inert")).toBe(true);
    // Another tab: the prompt stays over it.
    app.store.showScreen("settings");
    await waitFor(() => expect(document.getElementById("panel-settings")?.hidden).toBe(false));
    expect(document.querySelector('#consent:not([hidden]) [role="dialog"]')).not.toBeNull();
  });

  it("offers no Always for an identity any program can take, says why and through what it asked", async () => {
    fakeBackend({ answer_consent: () => null });
    await renderApp();
    await shellEmits(events.consentRequested, {
      ...request,
      id: 42,
      identity: { executable: "/usr/bin/python3", script: "-c" },
      always_offered: false,
      note: "allowed once at most: it runs code from its command line, as any program can",
      via: "Castkey's command /usr/bin/castkey (process 99)",
    });
    const dialog = await waitFor(() => document.querySelector<HTMLElement>('[data-consent-id="42"]')!);
    expect(dialog.querySelector("#consent-always")).toBeNull();
    expect(dialog.querySelector<HTMLElement>(".consent-always")?.hidden).toBe(true);
    expect(dialog.querySelector("#consent-once")).not.toBeNull();
    expect(dialog.textContent).toContain("allowed once at most");
    expect(dialog.textContent).toContain("Castkey's command /usr/bin/castkey (process 99)");
  });

  it("denies on Escape", async () => {
    const { backend, dialog } = await prompt();
    fireEvent.keyDown(document.activeElement ?? dialog, { key: "Escape" });
    await waitFor(() => expect(backend.argsOf("answer_consent")).toEqual([{ id: 41, decision: "deny" }]));
    await waitFor(() => expect(document.getElementById("consent")?.hidden).toBe(true));
    expect(document.getElementById("app")?.hasAttribute("inert")).toBe(false);
  });

  it("keeps focus inside: Tab from the last control goes to the first, Shift+Tab back", async () => {
    const { dialog } = await prompt();
    const controls = [...dialog.querySelectorAll<HTMLElement>("button, input, select")];
    const first = controls[0]!;
    const last = controls[controls.length - 1]!;
    expect(first.id).toBe("consent-only-scopes");
    expect(last.id).toBe("consent-always");
    last.focus();
    fireEvent.keyDown(last, { key: "Tab" });
    expect(document.activeElement).toBe(first);
    fireEvent.keyDown(first, { key: "Tab", shiftKey: true });
    expect(document.activeElement).toBe(last);
  });

  it("Always sends the scope policy and the chosen binding", async () => {
    const { backend } = await prompt();
    const bind = document.getElementById("consent-bind") as HTMLSelectElement;
    bind.value = "sandbox:viewer";
    fireEvent.change(bind);
    fireEvent.click(document.getElementById("consent-always")!);
    await waitFor(() =>
      expect(backend.argsOf("answer_consent")).toEqual([
        { id: 41, decision: "always", scopes: ["broadcaster"], bind_account: "sandbox:viewer" },
      ]),
    );
  });

  it("Allow once sends no policy; a second prompt waits its turn", async () => {
    const { backend } = await prompt();
    await shellEmits(events.consentRequested, { ...request, id: 42, client_name: "Overlay" });
    await waitFor(() => expect(document.getElementById("consent-queue")?.textContent).toBe("1 more program is waiting."));
    fireEvent.click(document.getElementById("consent-once")!);
    await waitFor(() => expect(backend.argsOf("answer_consent")).toEqual([{ id: 41, decision: "allow_once" }]));
    await waitFor(() => expect(document.querySelector('[role="dialog"]')?.getAttribute("data-consent-who")).toBe("Overlay"));
  });

  it("closes when settled elsewhere", async () => {
    await prompt();
    await shellEmits(events.consentSettled, 41);
    await waitFor(() => expect(document.getElementById("consent")?.hidden).toBe(true));
  });

  it("says so when the program stopped waiting", async () => {
    await prompt({
      answer_consent: () => {
        throw { reason: "invalid_request", message: "no such prompt" };
      },
    });
    fireEvent.click(document.getElementById("consent-deny")!);
    await waitFor(() => expect(document.getElementById("consent")?.hidden).toBe(true));
    expect(document.getElementById("error-text")?.textContent).toContain("stopped waiting before you answered");
  });
});
