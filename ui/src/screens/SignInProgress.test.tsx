import { fireEvent, waitFor } from "@testing-library/preact";
import { describe, expect, it } from "vitest";
import type { Reason } from "../api";
import { events } from "../bindings/names";
import { fakeBackend, NOW, renderApp, shellEmits, streamer } from "../test/backend";

const started = {
  provider: "sandbox",
  url: "https://idp.example/auth?client_id=castkey&state=abc",
  redirect_uri: "dev.castkey.app:/callback",
  expires_at: NOW + 600,
};

async function startSignIn() {
  const backend = fakeBackend({ sign_in: () => started, cancel_sign_in: () => true });
  const app = await renderApp();
  app.store.showScreen("add");
  const button = await waitFor(() => document.querySelector<HTMLButtonElement>('#providers button[data-provider="sandbox"]')!);
  fireEvent.click(button);
  await waitFor(() => expect(document.getElementById("sign-in-url")).not.toBeNull());
  return { backend, app, button };
}

function panel(): HTMLElement {
  return document.getElementById("sign-in-progress")!;
}

describe("Sign-in progress", () => {
  it("waits for the browser with the address to copy, the time left and Cancel", async () => {
    const { backend, button } = await startSignIn();
    expect(panel().hidden).toBe(false);
    expect(panel().textContent).toContain("Signing in to Local sandbox");
    expect(panel().textContent).toContain("Waiting for your browser…");
    expect((document.getElementById("sign-in-url") as HTMLInputElement).value).toBe(started.url);
    expect(document.getElementById("sign-in-time")?.textContent).toMatch(/Time left: (9:5\d|10:00)/);
    expect(button.disabled).toBe(true);

    fireEvent.click(document.getElementById("sign-in-cancel")!);
    await waitFor(() => expect(backend.argsOf("cancel_sign_in")).toEqual([{ provider: "sandbox" }]));
    expect(panel().hidden).toBe(true);
    await waitFor(() => expect(button.disabled).toBe(false));
  });

  it("closes and shows Accounts when the account signed in", async () => {
    const { app } = await startSignIn();
    expect(app.store.state.screen).toBe("add");
    await shellEmits(events.signedIn, streamer);
    await waitFor(() => expect(panel().hidden).toBe(true));
    expect(document.getElementById("panel-accounts")?.hidden).toBe(false);
    expect(document.getElementById("notice-text")?.textContent).toBe("Signed in as streamer.");
  });

  const cases: [Reason, string, string][] = [
    ["login_failed", "The provider refused the sign-in", "register this redirect URI"],
    ["provider_unavailable", "Couldn't reach the provider", "Check your internet connection"],
    ["keychain_unavailable", "The keychain is locked", "Unlock it"],
    ["internal", "Signing in didn't work", "the token endpoint answered HTTP 500"],
  ];
  for (const [reason, title, body] of cases) {
    it(`explains a failure with reason ${reason}`, async () => {
      await startSignIn();
      const message = reason === "internal" ? "the token endpoint answered HTTP 500" : `${reason} details`;
      await shellEmits(events.signInFailed, { reason, message });
      await waitFor(() => expect(panel().dataset.phase).toBe("failed"));
      expect(panel().querySelector("h2")?.textContent).toBe(title);
      const failure = document.getElementById("sign-in-failure")!;
      expect(failure.dataset.reason).toBe(reason);
      expect(failure.getAttribute("role")).toBe("alert");
      expect(failure.textContent).toContain(body);
      expect(document.getElementById("sign-in-message")?.textContent).toContain(message);
      const redirect = document.getElementById("sign-in-redirect-uri");
      if (reason === "login_failed") expect(redirect?.textContent).toBe("dev.castkey.app:/callback");
      else expect(redirect).toBeNull();
      // Focus goes to the failure so a keyboard user hears it.
      await waitFor(() => expect(document.activeElement).toBe(panel().querySelector("h2")));
      expect(document.getElementById("sign-in-retry")).not.toBeNull();
      fireEvent.click(document.getElementById("sign-in-close")!);
      await waitFor(() => expect(panel().hidden).toBe(true));
    });
  }

  it("reports a sign-in that fails to start in the error banner", async () => {
    fakeBackend({
      sign_in: () => {
        throw { reason: "provider_unavailable", message: "discovery failed: connection refused" };
      },
    });
    const app = await renderApp();
    app.store.showScreen("add");
    fireEvent.click(await waitFor(() => document.querySelector<HTMLButtonElement>('#providers button[data-provider="sandbox"]')!));
    await waitFor(() => expect(document.getElementById("error-text")?.textContent).toBe("discovery failed: connection refused"));
    expect(panel().hidden).toBe(true);
  });
});

describe("Sign-in with a code", () => {
  it("shows the code, the URL and the QR code, and Cancel stops the wait", async () => {
    const backend = fakeBackend({
      sign_in_with_code: () => ({
        provider: "sandbox",
        user_code: "WDJB-MJHT",
        verification_uri: "https://idp.example/device",
        verification_uri_complete: "https://idp.example/device?user_code=WDJB-MJHT",
        expires_at: NOW + 300,
        qr_svg: '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 2 2"><rect width="1" height="1"/></svg>',
      }),
      cancel_sign_in_with_code: () => null,
    });
    const app = await renderApp();
    app.store.showScreen("add");
    expect(document.getElementById("device-sign-in")?.hidden).toBe(true);
    fireEvent.click(await waitFor(() => document.querySelector<HTMLButtonElement>('#providers button[data-device-provider="sandbox"]')!));
    await waitFor(() => expect(document.getElementById("device-sign-in")?.hidden).toBe(false));
    expect(document.getElementById("device-user-code")?.textContent).toBe("WDJB-MJHT");
    const uri = document.getElementById("device-verification-uri")!;
    expect(uri.textContent).toBe("https://idp.example/device");
    expect(uri.dataset.complete).toBe("https://idp.example/device?user_code=WDJB-MJHT");
    await waitFor(() => expect(document.querySelector("#device-qr svg rect")).not.toBeNull());
    expect(document.getElementById("sign-in-progress")?.hidden).toBe(true);
    fireEvent.click(document.getElementById("device-hide")!);
    await waitFor(() => expect(document.getElementById("device-sign-in")?.hidden).toBe(true));
    expect(backend.argsOf("cancel_sign_in_with_code")).toEqual([{ provider: "sandbox" }]);
  });
});
