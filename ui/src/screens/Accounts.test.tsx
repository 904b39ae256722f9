import { fireEvent, screen, waitFor, within } from "@testing-library/preact";
import { describe, expect, it, vi } from "vitest";
import {
  fakeBackend,
  healthOf,
  NOW,
  renderApp,
  service,
  shellEmits,
  streamer,
  viewer,
} from "../test/backend";
import { events } from "../bindings/names";
import { healthView } from "./Accounts";

function card(id: string): HTMLElement {
  const el = document.querySelector<HTMLElement>(`#accounts [data-account-id="${id}"]`);
  if (!el) throw new Error(`no card ${id}`);
  return el;
}

describe("Accounts", () => {
  it("groups accounts by service with initials, email, Active badge and token health", async () => {
    fakeBackend({
      list_accounts: () => [streamer, viewer, service],
      account_health: () => [
        healthOf(streamer, { grant_expires_at: NOW + 20 * 3600 }),
        healthOf(viewer),
        healthOf(service),
      ],
    });
    await renderApp();
    await waitFor(() => expect(card("sandbox:streamer").textContent).toContain("Access token expires in"));

    const groups = [...document.querySelectorAll<HTMLElement>("#accounts [data-group-provider]")];
    expect(groups.map((g) => g.dataset.groupProvider)).toEqual(["sandbox", "vidiflow"]);
    expect(within(groups[0]!).getAllByRole("listitem").filter((li) => li.dataset.accountId)).toHaveLength(2);
    expect(groups[0]!.querySelector(".service-heading")?.textContent).toContain("Local sandbox");

    const s = card("sandbox:streamer");
    expect(s.querySelector(".avatar")?.textContent).toBe("ST");
    expect(s.querySelector(".account-name")?.textContent).toBe("streamer");
    expect(s.textContent).toContain("streamer@example.test");
    expect(s.querySelector(".badge-active")?.textContent).toBe("Active");
    expect(s.querySelector(".health-badge")?.textContent).toBe("Signed in");
    expect(s.querySelector(".account-health")?.textContent).toMatch(/Access token expires in 50 min · last refresh 10 min ago/);
    expect(s.querySelector(".account-grant")?.textContent).toMatch(/Refresh token 2 days old · sign in again by /);
    // The active account has no "Make active"; the other has.
    expect(s.querySelector("[data-make-active]")).toBeNull();
    expect(card("sandbox:viewer").querySelector("[data-make-active]")).not.toBeNull();
    // The first button of every card is Sign out.
    expect(s.querySelector("button")?.textContent).toBe("Sign out");
  });

  it("says offline with the cached token's end and the next try, and offers Sign in again", async () => {
    const backend = fakeBackend({
      sign_in: () => ({ provider: "sandbox", url: "https://idp/auth?x", redirect_uri: "dev.castkey.app:/callback", expires_at: NOW + 600 }),
      account_health: () => [
        healthOf(streamer, { state: "offline", problem: "connection refused", retry_at: NOW + 30, access_expires_at: NOW + 1800 }),
        healthOf(viewer, { state: "sign_in_again" }),
      ],
    });
    await renderApp();
    await waitFor(() => expect(card("sandbox:streamer").querySelector(".health-badge")?.textContent).toBe("Offline"));
    const line = card("sandbox:streamer").querySelector(".account-health")?.textContent ?? "";
    expect(line).toContain("The provider can't be reached (connection refused)");
    expect(line).toContain("cached token still valid until");
    expect(line).toContain("next try in less than a minute");

    const v = card("sandbox:viewer");
    expect(v.querySelector(".health-badge")?.textContent).toBe("Sign in again");
    expect(v.classList.contains("account-reauth")).toBe(true);
    fireEvent.click(v.querySelector<HTMLButtonElement>("[data-reauth]")!);
    await waitFor(() => expect(backend.argsOf("sign_in")).toEqual([{ provider: "sandbox" }]));
  });

  it("shows a refreshing account as such", () => {
    const view = healthView(streamer, healthOf(streamer, { state: "refreshing" }), NOW * 1000);
    expect(view.badge).toBe("Refreshing");
    expect(view.tone).toBe("busy");
    expect(view.line).toMatch(/^Getting a new access token… · Access token expires in/);
  });

  it("makes an account active through switch_account", async () => {
    const backend = fakeBackend({ switch_account: () => viewer });
    await renderApp();
    await waitFor(() => card("sandbox:viewer"));
    fireEvent.click(card("sandbox:viewer").querySelector<HTMLButtonElement>("[data-make-active]")!);
    await waitFor(() => expect(backend.argsOf("switch_account")).toEqual([{ account_id: "sandbox:viewer" }]));
  });

  it("signs out after the confirmation and shows what the provider did with the grant", async () => {
    let accounts = [streamer];
    const backend = fakeBackend({
      list_accounts: () => accounts,
      sign_out: () => {
        accounts = [];
        return { account_id: "sandbox:streamer", revocation: "not_confirmed", message: "HTTP 503" };
      },
    });
    const confirm = vi.spyOn(window, "confirm").mockReturnValue(true);
    await renderApp();
    await waitFor(() => card("sandbox:streamer"));
    fireEvent.click(card("sandbox:streamer").querySelector<HTMLButtonElement>("[data-sign-out]")!);
    expect(confirm).toHaveBeenCalledOnce();
    await waitFor(() =>
      expect(document.getElementById("notice-text")?.textContent).toContain(
        "Signed out of streamer. The provider did not confirm the revocation",
      ),
    );
    expect(document.getElementById("notice-text")?.textContent).toContain("(HTTP 503)");
    expect(document.getElementById("notice")?.className).toContain("banner-warn");
    expect(backend.argsOf("sign_out")).toEqual([{ account_id: "sandbox:streamer" }]);
    await waitFor(() => expect(document.getElementById("accounts-empty")).not.toBeNull());
  });

  it("does not sign out when the user says no", async () => {
    const backend = fakeBackend();
    vi.spyOn(window, "confirm").mockReturnValue(false);
    await renderApp();
    await waitFor(() => card("sandbox:streamer"));
    fireEvent.click(card("sandbox:streamer").querySelector<HTMLButtonElement>("[data-sign-out]")!);
    expect(backend.count("sign_out")).toBe(0);
  });

  it("explains Castkey when there is no account and offers Add account", async () => {
    fakeBackend({ list_accounts: () => [], account_health: () => [] });
    await renderApp();
    const add = await screen.findByRole("button", { name: "Add account" });
    expect(document.getElementById("accounts-empty")?.textContent).toContain("hands fresh access tokens");
    expect(document.getElementById("panel-add")?.hidden).toBe(true);
    fireEvent.click(add);
    await waitFor(() => expect(document.getElementById("panel-add")?.hidden).toBe(false));
    expect(document.getElementById("panel-accounts")?.hidden).toBe(true);
    expect(document.getElementById("nav-add")?.getAttribute("aria-selected")).toBe("true");
  });

  it("reloads the health when the shell says it changed", async () => {
    const backend = fakeBackend();
    await renderApp();
    await waitFor(() => expect(backend.count("account_health")).toBeGreaterThan(0));
    const before = backend.count("account_health");
    await shellEmits(events.healthChanged);
    await waitFor(() => expect(backend.count("account_health")).toBe(before + 1));
  });
});
