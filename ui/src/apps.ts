// Connected apps: the programs allowed always, what each may get (scopes,
// account binding), a way to change that, and Revoke.

import * as api from "./api";
import type { AccountInfo, ClientApproval } from "./api";
import { byId, h, placeholder, select } from "./dom";
import { text } from "./strings";

const t = text.apps;

export interface AppsDeps {
  accounts(): AccountInfo[];
  providerName(id: string): string;
  reportError(e: unknown): void;
  hideError(): void;
}

type Loaded<T> = { state: "loading" } | { state: "ready"; value: T } | { state: "failed" };

let deps: AppsDeps;
let list: HTMLUListElement;
let apps: Loaded<ClientApproval[]> = { state: "loading" };
let load = 0;

export function initApps(d: AppsDeps): void {
  deps = d;
  list = byId<HTMLUListElement>("apps");
}

export async function loadApps(): Promise<void> {
  const mine = ++load;
  try {
    const value = await api.listApps();
    if (mine !== load) return;
    const before = apps;
    if (before.state === "ready" && JSON.stringify(before.value) === JSON.stringify(value)) return;
    apps = { state: "ready", value };
  } catch (e) {
    if (mine !== load) return;
    if (apps.state !== "ready") apps = { state: "failed" };
    deps.reportError(e);
  }
  renderApps();
}

/** The accounts changed: the binding choices follow. */
export function accountsChanged(): void {
  renderApps();
}

/** What tells one app from another, as an attribute value. */
function appKey(app: ClientApproval): string {
  return JSON.stringify([app.identity.executable, app.identity.script ?? null]);
}

export function renderApps(): void {
  list.setAttribute("aria-busy", String(apps.state === "loading"));
  if (apps.state === "loading") {
    list.replaceChildren(placeholder("Loading…"));
    return;
  }
  if (apps.state === "failed") {
    list.replaceChildren(placeholder(t.loadFailed, true));
    return;
  }
  if (apps.value.length === 0) {
    list.replaceChildren(placeholder(t.empty));
    return;
  }
  // Keep focus on the same control of the same app across the redraw.
  const active = document.activeElement;
  const focusedKey =
    active instanceof HTMLElement && list.contains(active)
      ? [active.closest<HTMLElement>("[data-app-key]")?.dataset.appKey, active.dataset.focus]
      : undefined;
  list.replaceChildren(...apps.value.map(appCard));
  if (focusedKey) {
    for (const card of list.querySelectorAll<HTMLElement>("[data-app-key]")) {
      if (card.dataset.appKey !== focusedKey[0]) continue;
      card.querySelector<HTMLElement>(`[data-focus="${focusedKey[1]}"]`)?.focus();
    }
  }
}

function accountOptions(bound: string | undefined): [string, string][] {
  const options: [string, string][] = [["", t.followActive]];
  for (const a of deps.accounts()) options.push([a.id, `${a.display_name} (${deps.providerName(a.provider)})`]);
  if (bound && !options.some(([v]) => v === bound)) options.push([bound, t.missingAccount(bound)]);
  return options;
}

/** "broadcaster openid" or "broadcaster, openid" → a list; empty → any. */
function parseScopes(value: string): string[] | undefined {
  const scopes = value.split(/[\s,]+/).filter((s) => s !== "");
  return scopes.length > 0 ? scopes : undefined;
}

function policyForm(app: ClientApproval): HTMLFormElement {
  const scopes = h("input", {
    class: "field",
    attrs: {
      type: "text",
      name: "scopes",
      autocomplete: "off",
      placeholder: t.anyScope,
      title: t.scopesHint,
      "aria-label": `${app.name}: ${t.scopes} (${t.scopesHint})`,
      "data-focus": "scopes",
    },
  });
  scopes.value = (app.scopes ?? []).join(" ");
  const account = select(
    { name: "account", "aria-label": `${app.name}: ${t.account}`, "data-focus": "account" },
    accountOptions(app.account),
    app.account ?? "",
  );
  const save = h("button", {
    class: "btn btn-secondary",
    text: t.save,
    attrs: { type: "submit", "data-save-app": "", "data-focus": "save" },
  });
  const form = h(
    "form",
    { class: "app-policy" },
    h("label", { class: "field-label" }, h("span", { text: t.scopes }), scopes),
    h("label", { class: "field-label" }, h("span", { text: t.account }), account),
    save,
  );
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    deps.hideError();
    save.disabled = true;
    const params: api.AllowAppParams = { executable: app.identity.executable, name: app.name };
    if (app.identity.script !== undefined) params.script = app.identity.script;
    const wanted = parseScopes(scopes.value);
    if (wanted) params.scopes = wanted;
    if (account.value) params.account = account.value;
    api
      .updateApp(params)
      .then(loadApps)
      .catch(deps.reportError)
      .finally(() => {
        save.disabled = false;
      });
  });
  return form;
}

function revokeButton(app: ClientApproval): HTMLButtonElement {
  const button = h("button", {
    class: "btn btn-secondary",
    text: t.revoke,
    attrs: { type: "button", "data-revoke-app": "", "data-focus": "revoke", "aria-label": t.revokeLabel(app.name) },
  });
  button.addEventListener("click", () => {
    if (!window.confirm(t.confirmRevoke(app.name))) return;
    deps.hideError();
    button.disabled = true;
    api
      .revokeApp({ identity: app.identity })
      .then(loadApps)
      .catch(deps.reportError)
      .finally(() => {
        button.disabled = false;
      });
  });
  return button;
}

function appCard(app: ClientApproval): HTMLLIElement {
  const attrs: Record<string, string> = {
    "data-app-key": appKey(app),
    "data-app-executable": app.identity.executable,
  };
  if (app.identity.script !== undefined) attrs["data-app-script"] = app.identity.script;
  return h(
    "li",
    { class: "card app-card", attrs },
    h(
      "div",
      { class: "card-main" },
      h("span", { class: "app-name", text: app.name }),
      h(
        "p",
        { class: "app-identity" },
        h("code", { class: "app-path", text: app.identity.executable }),
        app.identity.script !== undefined && h("code", { class: "app-path", text: app.identity.script }),
      ),
      policyForm(app),
      // 0: listed by hand in clients.json, with no date.
      app.approved_at > 0 && h("p", { class: "app-meta", text: t.allowedAt(app.approved_at) }),
    ),
    h("div", { class: "card-side" }, revokeButton(app)),
  );
}
