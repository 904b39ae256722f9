import { fireEvent, waitFor } from "@testing-library/preact";
import { describe, expect, it, vi } from "vitest";
import { events } from "../bindings/names";
import { RELOAD_MS } from "../store";
import { fakeBackend, NOW, readiness, renderApp, settings, shellEmits, streamer, viewer } from "../test/backend";

describe("Ready to go live", () => {
  it("says every account is good for the horizon when ready", async () => {
    fakeBackend();
    await renderApp();
    const banner = await waitFor(() => document.querySelector<HTMLElement>("#readiness[data-ready='true']")!);
    expect(banner.textContent).toContain("Ready to go live");
    expect(banner.textContent).toContain("good for at least the next 4 hours");
  });

  it("names the account that is not ready and offers to sign in again now", async () => {
    const backend = fakeBackend({
      go_live_readiness: () =>
        readiness({
          ready: false,
          horizon_hours: 6,
          accounts: [
            { account: streamer, state: "signed_in", used_by: ["Stream Bot"], good_until: NOW + 30 * 86400, ready: true },
            {
              account: viewer,
              state: "signed_in",
              used_by: ["OBS"],
              good_until: NOW + 2 * 3600,
              ready: false,
              problem: "Its sign-in ends in 2 h.",
            },
          ],
        }),
      sign_in: () => ({ provider: "sandbox", url: "https://idp/auth", redirect_uri: "dev.castkey.app:/callback", expires_at: NOW + 600 }),
    });
    await renderApp();
    const banner = await waitFor(() => document.querySelector<HTMLElement>("#readiness[data-ready='false']")!);
    expect(banner.textContent).toContain("Not ready to go live");
    expect(banner.textContent).toContain("within the next 6 hours");
    const items = banner.querySelectorAll("[data-readiness-account]");
    expect(items).toHaveLength(1);
    expect(items[0]!.textContent).toContain("viewer (Local sandbox)");
    expect(items[0]!.textContent).toContain("Its sign-in ends in 2 h.");
    expect(items[0]!.textContent).toContain("used by OBS");
    fireEvent.click(items[0]!.querySelector("button")!);
    await waitFor(() => expect(backend.argsOf("sign_in")).toEqual([{ provider: "sandbox" }]));
  });

  it("reloads on health, accounts and settings events and every minute", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    try {
      const backend = fakeBackend();
      await renderApp();
      await waitFor(() => expect(backend.count("go_live_readiness")).toBeGreaterThan(0));
      let n = backend.count("go_live_readiness");
      for (const [event, payload] of [
        [events.healthChanged, null],
        [events.accountsChanged, null],
        [events.settingsChanged, { ...settings, go_live_hours: 8 }],
      ] as const) {
        await shellEmits(event, payload);
        await waitFor(() => expect(backend.count("go_live_readiness")).toBe(n + 1));
        n += 1;
      }
      await vi.advanceTimersByTimeAsync(RELOAD_MS);
      await waitFor(() => expect(backend.count("go_live_readiness")).toBe(n + 1));
    } finally {
      vi.useRealTimers();
    }
  });

  it("stays out of the way when the shell cannot say", async () => {
    fakeBackend({
      go_live_readiness: () => {
        throw { reason: "internal", message: "not implemented" };
      },
    });
    await renderApp();
    await waitFor(() => expect(document.querySelector("#accounts [data-account-id]")).not.toBeNull());
    expect(document.getElementById("readiness")).toBeNull();
    expect(document.getElementById("error")?.hidden).toBe(true);
  });
});

describe("Ready to go live, with no account", () => {
  it("is left out: the empty Accounts screen says what to do", async () => {
    fakeBackend({ list_accounts: () => [], account_health: () => [], go_live_readiness: () => readiness({ accounts: [] }) });
    await renderApp();
    await waitFor(() => expect(document.getElementById("accounts-empty")).not.toBeNull());
    expect(document.getElementById("readiness")).toBeNull();
  });
});
