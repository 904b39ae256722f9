import { fireEvent, waitFor } from "@testing-library/preact";
import { describe, expect, it, vi } from "vitest";
import { events } from "../bindings/names";
import { apps, fakeBackend, renderApp, shellEmits } from "../test/backend";

describe("Connected apps", () => {
  it("lists each app with its policy, saves a change and revokes", async () => {
    const backend = fakeBackend({ update_app: (a) => a, revoke_app: () => true });
    vi.spyOn(window, "confirm").mockReturnValue(true);
    await renderApp();
    fireEvent.click(document.getElementById("nav-apps")!);
    const card = await waitFor(() => document.querySelector<HTMLElement>('#apps [data-app-script="/home/me/bot.py"]')!);
    expect(card.dataset.appExecutable).toBe("/usr/bin/python3");
    expect(card.textContent).toContain("Stream Bot");
    const scopes = card.querySelector<HTMLInputElement>('input[name="scopes"]')!;
    expect(scopes.value).toBe("broadcaster");
    expect(card.querySelector<HTMLSelectElement>('select[name="account"]')!.value).toBe("");
    expect(document.getElementById("nav-apps")?.textContent).toContain("1");

    scopes.value = "openid, broadcaster";
    const account = card.querySelector<HTMLSelectElement>('select[name="account"]')!;
    account.value = "sandbox:viewer";
    fireEvent.click(card.querySelector("button[data-save-app]")!);
    await waitFor(() =>
      expect(backend.argsOf("update_app")).toEqual([
        {
          executable: "/usr/bin/python3",
          script: "/home/me/bot.py",
          name: "Stream Bot",
          scopes: ["openid", "broadcaster"],
          account: "sandbox:viewer",
        },
      ]),
    );
    fireEvent.click(card.querySelector("button[data-revoke-app]")!);
    await waitFor(() => expect(backend.argsOf("revoke_app")).toEqual([{ identity: apps[0]!.identity }]));
  });

  it("explains an empty list", async () => {
    fakeBackend({ list_apps: () => [] });
    await renderApp();
    await waitFor(() => expect(document.getElementById("apps")?.textContent).toContain("No connected apps."));
  });
});

describe("Activity", () => {
  it("shows the log newest first, with outcomes and counts, never a token", async () => {
    fakeBackend();
    await renderApp();
    const rows = await waitFor(() => {
      const r = document.querySelectorAll("#activity-rows tr[data-outcome]");
      expect(r).toHaveLength(2);
      return r;
    });
    expect(rows[0]!.textContent).toContain("obs");
    expect(rows[0]!.textContent).toContain("Denied");
    expect(rows[1]!.textContent).toContain("Stream Bot");
    expect(rows[1]!.textContent).toContain("Served ×3");
    // The account by its name while it is signed in (its id in the tooltip).
    const account = rows[1]!.querySelector<HTMLElement>(".activity-account")!;
    expect(account.textContent).toBe("streamer (Local sandbox)");
    expect(account.title).toBe("sandbox:streamer");
  });

  it("filters by app and by account", async () => {
    vi.useFakeTimers({ shouldAdvanceTime: true });
    try {
      const backend = fakeBackend();
      await renderApp();
      fireEvent.click(document.getElementById("nav-activity")!);
      await waitFor(() => expect(backend.count("activity")).toBe(1));
      const account = document.getElementById("activity-account") as HTMLSelectElement;
      await waitFor(() => expect(account.options.length).toBe(3));
      account.value = "sandbox:viewer";
      fireEvent.change(account);
      await waitFor(() => expect(backend.argsOf("activity").at(-1)).toEqual({ limit: 50, account: "sandbox:viewer" }));
      const client = document.getElementById("activity-client") as HTMLInputElement;
      client.value = "bot";
      fireEvent.input(client);
      await vi.advanceTimersByTimeAsync(400);
      await waitFor(() =>
        expect(backend.argsOf("activity").at(-1)).toEqual({ limit: 50, client: "bot", account: "sandbox:viewer" }),
      );
    } finally {
      vi.useRealTimers();
    }
  });

  it("says when nothing matches, and reloads when a consent was settled", async () => {
    const backend = fakeBackend({ activity: (a: { client?: string }) => (a.client ? [] : []) });
    await renderApp();
    await waitFor(() => expect(document.getElementById("activity-rows")?.textContent).toBe("No activity yet."));
    const client = document.getElementById("activity-client") as HTMLInputElement;
    client.value = "nothing";
    fireEvent.submit(client.form!);
    await waitFor(() => expect(document.getElementById("activity-rows")?.textContent).toBe("No activity matches."));
    const n = backend.count("activity");
    await shellEmits(events.consentSettled, 1);
    await waitFor(() => expect(backend.count("activity")).toBe(n + 1));
  });
});

describe("Tabs", () => {
  it("moves with the arrow keys, Home and End, and follows the tray's show-screen", async () => {
    fakeBackend();
    await renderApp();
    const tab = (name: string) => document.getElementById(`nav-${name}`)!;
    expect(tab("accounts").getAttribute("aria-selected")).toBe("true");
    expect(tab("add").tabIndex).toBe(-1);
    tab("accounts").focus();
    fireEvent.keyDown(tab("accounts"), { key: "ArrowRight" });
    await waitFor(() => expect(tab("add").getAttribute("aria-selected")).toBe("true"));
    expect(document.activeElement).toBe(tab("add"));
    fireEvent.keyDown(tab("add"), { key: "End" });
    await waitFor(() => expect(document.getElementById("panel-settings")?.hidden).toBe(false));
    fireEvent.keyDown(tab("settings"), { key: "ArrowRight" });
    await waitFor(() => expect(tab("accounts").getAttribute("aria-selected")).toBe("true"));
    await shellEmits(events.showScreen, "activity");
    await waitFor(() => expect(document.getElementById("panel-activity")?.hidden).toBe(false));
    expect(document.getElementById("panel-accounts")?.hidden).toBe(true);
  });
});
