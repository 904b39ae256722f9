import { fireEvent, waitFor } from "@testing-library/preact";
import { describe, expect, it } from "vitest";
import { fakeBackend, providers, renderApp, streamer, templates } from "../test/backend";
import { fieldProblem, urlProblem } from "../validate";

async function openAdd(overrides = {}) {
  const backend = fakeBackend(overrides);
  const app = await renderApp();
  fireEvent.click(document.getElementById("nav-add")!);
  await waitFor(() => expect(document.querySelector("#providers [data-provider-id]")).not.toBeNull());
  return { backend, app };
}

function row(id: string): HTMLElement {
  return document.querySelector<HTMLElement>(`#providers [data-provider-id="${id}"]`)!;
}

function type(el: Element, value: string) {
  fireEvent.input(el, { target: { value } });
}

describe("Add account", () => {
  it("asks each service only what it needs", async () => {
    await openAdd();
    const sandbox = row("sandbox");
    expect(sandbox.querySelector("button[data-provider]")?.textContent).toBe("Sign in");
    expect(sandbox.querySelector("button[data-device-provider]")?.textContent).toBe("Sign in with a code");
    expect(sandbox.querySelector("input")).toBeNull();
    // Sandbox already has accounts: signing in again adds another.
    expect(sandbox.textContent).toContain("2 accounts — signing in again adds another");
    const vidiflow = row("vidiflow");
    expect([...vidiflow.querySelectorAll("input")].map((i) => i.name)).toEqual(["client-id", "client-secret"]);
    expect(vidiflow.querySelector("button[data-remove-provider]")).not.toBeNull();
    const apivideo = row("apivideo");
    expect([...apivideo.querySelectorAll("input, select")].map((i) => i.getAttribute("name"))).toEqual([
      "environment",
      "api-key",
    ]);
    expect((apivideo.querySelector("select") as HTMLSelectElement).value).toBe("sandbox");
    // Options carry their value as an attribute (scripts select them by it).
    expect(apivideo.querySelector('select[name="environment"] option[value="production"]')).not.toBeNull();
    expect(document.querySelector('#templates form[data-template="oidc"] option[value="loopback"]')).not.toBeNull();
  });

  it("sends a service account's secret once and empties the field whatever the answer", async () => {
    const { backend } = await openAdd({
      add_service_account: () => {
        throw { reason: "login_failed", message: "VidiFlow refused the client id or secret" };
      },
    });
    const r = row("vidiflow");
    const secret = r.querySelector<HTMLInputElement>('input[name="client-secret"]')!;
    // Nothing typed: said next to the form and in the banner, nothing sent.
    fireEvent.click(r.querySelector("button[data-provider]")!);
    await waitFor(() => expect(r.querySelector(".field-error")?.textContent).toContain("Client id is required."));
    expect(backend.count("add_service_account")).toBe(0);
    type(r.querySelector('input[name="client-id"]')!, "svc");
    type(secret, "s3cret");
    fireEvent.click(r.querySelector("button[data-provider]")!);
    await waitFor(() =>
      expect(backend.argsOf("add_service_account")).toEqual([{ provider: "vidiflow", client_id: "svc", client_secret: "s3cret" }]),
    );
    expect(secret.value).toBe("");
    await waitFor(() => expect(document.getElementById("error-text")?.textContent).toBe("VidiFlow refused the client id or secret"));
    expect(document.body.innerHTML).not.toContain("s3cret");
  });

  it("adds an API key in the chosen environment and shows the account", async () => {
    const { backend, app } = await openAdd({
      add_api_key_account: () => ({ ...streamer, id: "apivideo:sandbox-1234", provider: "apivideo", display_name: "…1234" }),
    });
    const r = row("apivideo");
    const env = r.querySelector<HTMLSelectElement>('select[name="environment"]')!;
    env.value = "production";
    fireEvent.change(env);
    type(r.querySelector('input[name="api-key"]')!, "prod-key");
    fireEvent.click(r.querySelector("button[data-provider]")!);
    await waitFor(() =>
      expect(backend.argsOf("add_api_key_account")).toEqual([{ provider: "apivideo", environment: "production", api_key: "prod-key" }]),
    );
    await waitFor(() => expect(app.store.state.screen).toBe("accounts"));
    expect(document.getElementById("notice-text")?.textContent).toBe("Added …1234.");
  });

  it("checks a service's form as the user types: https, or http on loopback only", async () => {
    const { backend } = await openAdd({ add_provider: () => ({ ...providers[0], id: "studio", display_name: "Studio IdP" }) });
    const form = document.querySelector<HTMLFormElement>('#templates form[data-template="oidc"]')!;
    fireEvent.click(document.querySelector('#templates [data-setup-template="oidc"]')!);
    const issuer = form.querySelector<HTMLInputElement>('[name="issuer"]')!;
    type(form.querySelector('[name="client_id"]')!, "castkey");
    type(issuer, "http://idp.example.com");
    // Only the fields touched so far say something.
    expect(form.querySelector('[data-field-error="name"]')).toBeNull();
    await waitFor(() =>
      expect(form.querySelector('[data-field-error="issuer"]')?.textContent).toBe(
        "The issuer http://idp.example.com uses plain HTTP; only loopback addresses may (use https://).",
      ),
    );
    expect(issuer.getAttribute("aria-invalid")).toBe("true");
    // Submitting anyway: nothing sent, the first problem in the banner and by its field.
    fireEvent.submit(form);
    await waitFor(() => expect(document.getElementById("error-text")?.textContent).toBe("Name is required."));
    expect(form.querySelector('[data-field-error="name"]')?.textContent).toBe("Name is required.");
    type(form.querySelector('[name="name"]')!, "Studio IdP");
    fireEvent.submit(form);
    await waitFor(() => expect(document.getElementById("error-text")?.textContent).toContain("plain HTTP; only loopback"));
    expect(backend.count("add_provider")).toBe(0);
    type(issuer, "http://127.0.0.1:4444");
    await waitFor(() => expect(form.querySelector('[data-field-error="issuer"]')).toBeNull());
    type(form.querySelector('[name="client_secret"]')!, "tpl-secret");
    fireEvent.submit(form);
    await waitFor(() =>
      expect(backend.argsOf("add_provider")).toEqual([
        {
          template: "oidc",
          values: {
            name: "Studio IdP",
            issuer: "http://127.0.0.1:4444",
            client_id: "castkey",
            client_secret: "tpl-secret",
            redirect: "deep_link",
          },
        },
      ]),
    );
    expect(form.querySelector<HTMLInputElement>('[name="client_secret"]')?.value).toBe("");
    await waitFor(() => expect(document.getElementById("notice-text")?.textContent).toBe("Studio IdP was added: sign in below."));
  });

  it("shows the exact redirect URI to register as the form is filled in, never sending a secret for it", async () => {
    const { backend } = await openAdd({
      redirect_uri_to_register: (args: unknown) => {
        const { values } = args as { values: Record<string, string> };
        return values.name ? `shell-says:/callback/${values.name}` : null;
      },
    });
    const form = document.querySelector<HTMLFormElement>('#templates form[data-template="oidc"]')!;
    fireEvent.click(document.querySelector('#templates [data-setup-template="oidc"]')!);
    type(form.querySelector('[name="client_secret"]')!, "tpl-secret");
    await waitFor(() => expect(backend.count("redirect_uri_to_register")).toBeGreaterThan(0));
    expect(form.querySelector("[data-redirect-uri]")).toBeNull();
    type(form.querySelector('[name="name"]')!, "Studio");
    await waitFor(() =>
      expect(form.querySelector('[data-redirect-uri="oidc"]')?.textContent).toBe("shell-says:/callback/Studio"),
    );
    for (const args of backend.argsOf("redirect_uri_to_register")) {
      expect(JSON.stringify(args)).not.toContain("tpl-secret");
      expect((args as { template: string }).template).toBe("oidc");
    }
  });

  it("validates URLs", () => {
    expect(urlProblem("Issuer", "https://id.example.com")).toBeUndefined();
    expect(urlProblem("Issuer", "http://localhost:8080")).toBeUndefined();
    expect(urlProblem("Issuer", "http://[::1]:8080/x")).toBeUndefined();
    expect(urlProblem("Issuer", "http://127.0.0.2")).toBeUndefined();
    expect(urlProblem("Issuer", "http://example.com")).toContain("plain HTTP");
    expect(urlProblem("Issuer", "ftp://example.com")).toContain("https://");
    expect(urlProblem("Issuer", "id.example.com")).toContain("https://");
    const optional = templates[0]!.fields[3]!;
    expect(fieldProblem(optional, "")).toBeUndefined();
  });
});
