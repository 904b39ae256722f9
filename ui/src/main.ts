// Castkey's window: the accounts (with their token health), Connected apps,
// the providers to add an account for, Activity, and where broadcasting apps
// connect; the consent prompt comes up over it (consent.ts). All data is
// rendered with textContent; nothing here builds HTML from strings (the CSP
// forbids inline scripts and styles). The sentences of the newer parts are in
// strings.ts.

import * as api from "./api";
import type { AccountHealth, AccountInfo, AppStatus, ProviderInfo } from "./api";
import * as activity from "./activity";
import * as apps from "./apps";
import * as consent from "./consent";
import { byId, h, placeholder, scopeChips } from "./dom";
import { secondsUntil, text } from "./strings";

const BROADCASTER_SCOPE = "broadcaster";

/** How often the health lines' "in 5 min" are recomputed, and the health reloaded. */
const HEALTH_TICK_MS = 15_000;
const HEALTH_RELOAD_MS = 60_000;

// ---------------------------------------------------------------- state

interface PendingSignIn {
  /** Shown on the provider's row. */
  note: string;
  timer?: number;
}

type Loaded<T> = { state: "loading" } | { state: "ready"; value: T } | { state: "failed" };

const state = {
  providers: { state: "loading" } as Loaded<ProviderInfo[]>,
  templates: { state: "loading" } as Loaded<api.ProviderTemplate[]>,
  accounts: { state: "loading" } as Loaded<AccountInfo[]>,
  status: { state: "loading" } as Loaded<AppStatus>,
  /** Sign-ins waiting for the browser, by provider id. */
  pending: new Map<string, PendingSignIn>(),
  /** Accounts being signed out, by id. */
  signingOut: new Set<string>(),
  /** Accounts being made active, by id. */
  switching: new Set<string>(),
  /** Each account's token health, by account id. */
  health: new Map<string, AccountHealth>(),
};

let ui: {
  accounts: HTMLUListElement;
  providers: HTMLUListElement;
  templates: HTMLUListElement;
  statusText: HTMLElement;
  version: HTMLElement;
  error: HTMLElement;
  errorText: HTMLElement;
};

// ---------------------------------------------------------------- error banner

function showError(message: string): void {
  ui.errorText.textContent = message;
  ui.error.hidden = false;
}

function hideError(): void {
  ui.error.hidden = true;
  ui.errorText.textContent = "";
}

function reportError(e: unknown): void {
  showError(api.errorMessage(e));
}

// ---------------------------------------------------------------- rendering

function providerName(id: string): string {
  if (state.providers.state === "ready") {
    const found = state.providers.value.find((p) => p.id === id);
    if (found) return found.display_name;
  }
  return id;
}

function accounts(): AccountInfo[] {
  return state.accounts.state === "ready" ? state.accounts.value : [];
}

/** The health line and badge of an account: from `account_health`, else
 *  from the account's own status until that arrives. */
function healthView(account: AccountInfo): { badge: string; warn: boolean; line: string } {
  const t = text.accounts;
  const health = state.health.get(account.id);
  if (!health) {
    const reauth = account.status === "reauth_required";
    return { badge: reauth ? t.health.sign_in_again : t.health.signed_in, warn: reauth, line: reauth ? t.reauth : "" };
  }
  const parts: string[] = [];
  if (health.state === "sign_in_again") {
    parts.push(t.reauth);
  } else {
    if (health.state === "offline") {
      if (health.problem) parts.push(health.problem);
      if (health.retry_at !== undefined) parts.push(t.retry(secondsUntil(health.retry_at)));
    }
    parts.push(
      health.access_expires_at !== undefined ? t.expiresIn(secondsUntil(health.access_expires_at)) : t.noTokenYet,
    );
    if (health.last_refresh_at !== undefined) parts.push(t.lastRefresh(secondsUntil(health.last_refresh_at)));
  }
  return { badge: t.health[health.state], warn: health.state !== "signed_in", line: parts.join(" · ") };
}

/** Writes an account's health into its card, in place (keeps focus). */
function fillHealth(card: HTMLElement, account: AccountInfo): void {
  const view = healthView(account);
  const badge = card.querySelector<HTMLElement>(".health-badge");
  const line = card.querySelector<HTMLElement>(".account-health");
  if (badge) {
    badge.textContent = view.badge;
    badge.className = view.warn ? "badge badge-warn health-badge" : "badge badge-ok health-badge";
  }
  if (line) {
    line.textContent = view.line;
    line.classList.toggle("account-health-warn", view.warn);
  }
  card.classList.toggle("account-reauth", view.warn);
}

function renderHealth(): void {
  for (const card of ui.accounts.querySelectorAll<HTMLElement>("[data-account-id]")) {
    const account = accounts().find((a) => a.id === card.dataset.accountId);
    if (account) fillHealth(card, account);
  }
}

function makeActiveButton(account: AccountInfo, provider: string): HTMLButtonElement {
  const t = text.accounts;
  const busy = state.switching.has(account.id);
  const button = h("button", {
    class: "btn btn-primary",
    text: busy ? t.switching : t.makeActive,
    attrs: {
      type: "button",
      "data-make-active": account.id,
      "data-focus": "make-active",
      "aria-label": t.makeActiveLabel(account.display_name, provider),
    },
  });
  button.disabled = busy;
  button.addEventListener("click", () => void makeActive(account));
  return button;
}

function accountCard(account: AccountInfo): HTMLLIElement {
  const provider = providerName(account.provider);
  const busy = state.signingOut.has(account.id);

  const signOut = h("button", {
    class: "btn btn-secondary",
    text: busy ? "Signing out…" : "Sign out",
    attrs: {
      type: "button",
      "data-sign-out": account.id,
      "data-focus": "sign-out",
      "aria-label": `Sign out ${account.display_name} (${provider})`,
    },
  });
  signOut.disabled = busy;
  signOut.addEventListener("click", () => void confirmSignOut(account, provider));

  const card = h(
    "li",
    { class: "card account", attrs: { "data-account-id": account.id } },
    h(
      "div",
      { class: "card-main" },
      h(
        "div",
        { class: "account-title" },
        h("span", { class: "account-name", text: account.display_name }),
        account.active && h("span", { class: "badge badge-active", text: text.accounts.active }),
      ),
      h(
        "p",
        { class: "account-meta" },
        account.email ? h("span", { class: "account-email", text: account.email }) : null,
        h("span", { class: "account-provider", text: provider }),
      ),
      account.scopes.length > 0 && scopeChips(account.scopes, "Scopes", BROADCASTER_SCOPE),
      h("p", { class: "account-health", attrs: { "aria-live": "polite" } }),
    ),
    // Sign out comes first: a card's first button is Sign out on every card.
    h(
      "div",
      { class: "card-side" },
      h("span", { class: "badge health-badge" }),
      signOut,
      !account.active && makeActiveButton(account, provider),
    ),
  );
  fillHealth(card, account);
  return card;
}

function renderAccounts(): void {
  const list = ui.accounts;
  const loaded = state.accounts;
  list.setAttribute("aria-busy", String(loaded.state === "loading"));
  if (loaded.state === "loading") {
    list.replaceChildren(placeholder("Loading…"));
  } else if (loaded.state === "failed") {
    list.replaceChildren(placeholder("Couldn't load the accounts.", true));
  } else if (loaded.value.length === 0) {
    list.replaceChildren(placeholder("No accounts yet. Add one below."));
  } else {
    const focused = focusedAccount(list);
    list.replaceChildren(...loaded.value.map(accountCard));
    if (focused !== undefined) {
      for (const card of list.querySelectorAll<HTMLElement>("[data-account-id]")) {
        if (card.dataset.accountId !== focused.id) continue;
        // The same control if it is still there ("Make active" goes once it worked).
        const same = card.querySelector<HTMLElement>(`[data-focus="${focused.control}"]`);
        (same ?? card.querySelector("button"))?.focus();
      }
    }
  }
}

function focusedAccount(list: HTMLElement): { id: string; control: string } | undefined {
  const active = document.activeElement;
  if (!(active instanceof HTMLElement) || !list.contains(active)) return undefined;
  const id = active.closest<HTMLElement>("[data-account-id]")?.dataset.accountId;
  return id === undefined ? undefined : { id, control: active.dataset.focus ?? "" };
}

function field(provider: ProviderInfo, name: string, label: string, secret = false): HTMLInputElement {
  return h("input", {
    class: "field",
    attrs: {
      type: secret ? "password" : "text",
      name,
      autocomplete: "off",
      placeholder: label,
      "aria-label": `${provider.display_name} ${label.toLowerCase()}`,
    },
  });
}

/**
 * Sends a form to Rust once per press: `send` reads it (and empties its
 * secret inputs at once), `done` runs on success; the button is disabled
 * meanwhile and errors go to the banner.
 */
function onSubmit(
  form: HTMLFormElement,
  button: HTMLButtonElement,
  send: () => Promise<unknown>,
  done: () => unknown,
): void {
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const sent = send();
    button.disabled = true;
    sent
      .then(done)
      .catch(reportError)
      .finally(() => {
        button.disabled = false;
      });
  });
}

/**
 * A provider whose accounts are added with credentials typed here (a service
 * account's client secret, an API key). `submit` sends them to Rust once;
 * the secret field is emptied at once, whatever happens next.
 */
function credentialsRow(
  provider: ProviderInfo,
  note: string,
  inputs: HTMLElement[],
  secret: HTMLInputElement,
  submit: () => Promise<unknown>,
): HTMLLIElement {
  const button = h("button", {
    class: "btn btn-primary",
    text: "Add",
    attrs: { type: "submit", "data-provider": provider.id, "aria-label": `Add a ${provider.display_name} account` },
  });
  const form = h("form", { class: "service-account" }, ...inputs, button);
  onSubmit(
    form,
    button,
    () => {
      const sent = submit();
      secret.value = "";
      return sent;
    },
    () => {
      for (const input of form.querySelectorAll("input")) input.value = "";
      hideError();
      return loadAccounts();
    },
  );
  return h(
    "li",
    { class: "card provider", attrs: { "data-provider-id": provider.id } },
    h(
      "div",
      { class: "card-main" },
      h("span", { class: "provider-name", text: provider.display_name }),
      h("span", { class: "provider-note", text: note }),
    ),
    h("div", { class: "card-side" }, form, ...removeButton(provider)),
  );
}

/** A provider the user added can be removed (once it has no accounts). */
function removeButton(provider: ProviderInfo): HTMLButtonElement[] {
  if (!provider.template) return [];
  const button = h("button", {
    class: "btn btn-secondary",
    text: "Remove",
    attrs: { type: "button", "data-remove-provider": provider.id, "aria-label": `Remove ${provider.display_name}` },
  });
  button.addEventListener("click", () => {
    if (!window.confirm(`Remove ${provider.display_name} from Castkey?`)) return;
    hideError();
    api
      .removeProvider({ provider: provider.id })
      .then(loadProviders)
      .catch(reportError);
  });
  return [button];
}

/** One input for one template field; secrets are password inputs. */
function templateInput(template: api.ProviderTemplate, f: api.TemplateField): HTMLElement {
  const label = `${template.display_name} ${f.label}`;
  if (f.kind === "choice") {
    const select = h("select", { class: "field", attrs: { name: f.name, "aria-label": label } });
    for (const c of f.choices) select.append(h("option", { text: c, attrs: { value: c } }));
    if (f.default) select.value = f.default;
    return h("label", { class: "field-label" }, h("span", { text: f.label }), select);
  }
  const input = h("input", {
    class: "field",
    attrs: {
      type: f.kind === "secret" ? "password" : f.kind === "url" ? "url" : "text",
      name: f.name,
      autocomplete: "off",
      "aria-label": label,
      ...(f.required ? { required: "" } : {}),
    },
  });
  if (f.default) input.value = f.default;
  return h("label", { class: "field-label" }, h("span", { text: f.required ? f.label : `${f.label} (optional)` }), input);
}

/**
 * A kind of service the user can add: a form built from the template's
 * fields. Values go to Rust once; secret inputs are emptied at once.
 */
function templateRow(template: api.ProviderTemplate): HTMLLIElement {
  const inputs = template.fields.map((f) => templateInput(template, f));
  const button = h("button", {
    class: "btn btn-primary",
    text: "Add",
    attrs: { type: "submit", "data-add-template": template.id, "aria-label": `Add ${template.display_name}` },
  });
  const form = h("form", { class: "template-form", attrs: { "data-template": template.id } }, ...inputs, button);
  const details = h(
    "details",
    { class: "template" },
    h("summary", { text: "Set up", attrs: { "data-setup-template": template.id } }),
    form,
  );
  onSubmit(
    form,
    button,
    () => {
      const values: Record<string, string> = {};
      for (const el of form.querySelectorAll<HTMLInputElement | HTMLSelectElement>("input, select")) {
        if (el.value.trim() !== "") values[el.name] = el.value;
        if (el instanceof HTMLInputElement && el.type === "password") el.value = "";
      }
      hideError();
      return api.addProvider({ template: template.id, values });
    },
    () => {
      form.reset();
      details.open = false;
      return loadProviders();
    },
  );
  return h(
    "li",
    { class: "card template-card", attrs: { "data-template-id": template.id } },
    h(
      "div",
      { class: "card-main" },
      h("span", { class: "provider-name", text: template.display_name }),
      h("span", { class: "provider-note", text: template.description }),
      details,
    ),
  );
}

function renderTemplates(): void {
  const loaded = state.templates;
  ui.templates.setAttribute("aria-busy", String(loaded.state === "loading"));
  if (loaded.state === "loading") ui.templates.replaceChildren(placeholder("Loading…"));
  else if (loaded.state === "failed") ui.templates.replaceChildren(placeholder("Couldn't load the services.", true));
  else ui.templates.replaceChildren(...loaded.value.map(templateRow));
}

async function loadTemplates(): Promise<void> {
  try {
    state.templates = { state: "ready", value: await api.listProviderTemplates() };
  } catch (e) {
    if (state.templates.state !== "ready") state.templates = { state: "failed" };
    reportError(e);
  }
  renderTemplates();
}

function serviceAccountRow(provider: ProviderInfo): HTMLLIElement {
  const clientId = field(provider, "client-id", "Client id");
  const secret = field(provider, "client-secret", "Client secret", true);
  return credentialsRow(provider, "Service account", [clientId, secret], secret, () =>
    api.addServiceAccount({
      provider: provider.id,
      client_id: clientId.value,
      client_secret: secret.value,
    }),
  );
}

function apiKeyRow(provider: ProviderInfo): HTMLLIElement {
  const environment = h("select", {
    class: "field",
    attrs: { name: "environment", "aria-label": `${provider.display_name} environment` },
  });
  for (const env of provider.environments) environment.append(h("option", { text: env, attrs: { value: env } }));
  const key = field(provider, "api-key", "API key", true);
  return credentialsRow(provider, "API key", [environment, key], key, () =>
    api.addApiKeyAccount({ provider: provider.id, environment: environment.value, api_key: key.value }),
  );
}

function providerRow(provider: ProviderInfo): HTMLLIElement {
  if (provider.sign_in === "service_account") return serviceAccountRow(provider);
  if (provider.sign_in === "api_key") return apiKeyRow(provider);
  const button = h("button", {
    class: "btn btn-primary",
    text: "Sign in",
    attrs: {
      type: "button",
      "data-provider": provider.id,
      "aria-label": `Sign in with ${provider.display_name}`,
    },
  });
  button.addEventListener("click", () => void startSignIn(provider));
  const extra: HTMLButtonElement[] = [];
  if (provider.device_flow) {
    const code = h("button", {
      class: "btn btn-secondary",
      text: "Sign in with a code",
      attrs: {
        type: "button",
        "data-device-provider": provider.id,
        "aria-label": `Sign in to ${provider.display_name} with a code`,
      },
    });
    code.addEventListener("click", () => void startDeviceSignIn(provider));
    extra.push(code);
  }

  const row = h(
    "li",
    { class: "card provider", attrs: { "data-provider-id": provider.id } },
    h(
      "div",
      { class: "card-main" },
      h("span", { class: "provider-name", text: provider.display_name }),
      h("span", { class: "provider-note", attrs: { "aria-live": "polite" } }),
    ),
    h("div", { class: "card-side" }, button, ...extra, ...removeButton(provider)),
  );
  showPending(row, provider.id);
  return row;
}

/** Updates a provider row in place (so keyboard focus is not lost). */
function showPending(row: HTMLElement, providerId: string): void {
  const pending = state.pending.get(providerId);
  const button = row.querySelector<HTMLButtonElement>("button[data-provider]");
  const note = row.querySelector<HTMLElement>(".provider-note");
  row.classList.toggle("provider-pending", pending !== undefined);
  if (note) note.textContent = pending?.note ?? "";
  if (button) {
    const wasDisabled = button.disabled;
    button.disabled = pending !== undefined;
    // A disabled button drops focus; give it back when the wait is over.
    if (wasDisabled && !button.disabled && document.activeElement === document.body) button.focus();
  }
}

function renderPending(providerId: string): void {
  for (const row of ui.providers.querySelectorAll<HTMLElement>("[data-provider-id]")) {
    if (row.dataset.providerId === providerId) showPending(row, providerId);
  }
}

function renderProviders(): void {
  const list = ui.providers;
  const loaded = state.providers;
  list.setAttribute("aria-busy", String(loaded.state === "loading"));
  if (loaded.state === "loading") {
    list.replaceChildren(placeholder("Loading…"));
  } else if (loaded.state === "failed") {
    list.replaceChildren(placeholder("Couldn't load the providers.", true));
  } else if (loaded.value.length === 0) {
    list.replaceChildren(placeholder("No providers are configured."));
  } else {
    list.replaceChildren(...loaded.value.map(providerRow));
  }
}

function renderStatus(): void {
  const loaded = state.status;
  ui.statusText.classList.remove("status-error");
  if (loaded.state === "loading") {
    ui.statusText.textContent = "Checking…";
  } else if (loaded.state === "failed") {
    ui.statusText.textContent = "Status unavailable.";
    ui.statusText.classList.add("status-error");
  } else if (loaded.value.broker_error) {
    ui.statusText.textContent = `Broadcasting apps can't connect: ${loaded.value.broker_error}`;
    ui.statusText.classList.add("status-error");
  } else {
    ui.statusText.replaceChildren(
      "Broadcasting apps connect to ",
      h("code", { class: "socket-path", text: loaded.value.socket_path }),
    );
  }
  ui.version.textContent = loaded.state === "ready" ? `Castkey ${loaded.value.version}` : "";
}

// ---------------------------------------------------------------- loading

let accountsLoad = 0;

async function loadAccounts(): Promise<void> {
  const mine = ++accountsLoad;
  try {
    const accounts = await api.listAccounts();
    if (mine !== accountsLoad) return;
    state.accounts = { state: "ready", value: accounts };
  } catch (e) {
    if (mine !== accountsLoad) return;
    // Keep showing what we had; only an empty window says "failed".
    if (state.accounts.state !== "ready") state.accounts = { state: "failed" };
    reportError(e);
  }
  renderAccounts();
  // Every account choice elsewhere in the window follows.
  consent.accountsChanged();
  apps.accountsChanged();
  activity.accountsChanged();
  void loadHealth();
}

let healthLoad = 0;

async function loadHealth(): Promise<void> {
  const mine = ++healthLoad;
  try {
    const health = await api.accountHealth();
    if (mine !== healthLoad) return;
    state.health = new Map(health.map((entry) => [entry.account.id, entry]));
  } catch (e) {
    if (mine !== healthLoad) return;
    // The cards keep showing the accounts' own status.
    reportError(e);
  }
  renderHealth();
}

async function loadProviders(): Promise<void> {
  try {
    const value = await api.listProviders();
    // Redraw only what changed: a redraw would drop what the user is typing
    // into a provider's form.
    const before = state.providers;
    if (before.state === "ready" && JSON.stringify(before.value) === JSON.stringify(value)) return;
    state.providers = { state: "ready", value };
  } catch (e) {
    if (state.providers.state !== "ready") state.providers = { state: "failed" };
    reportError(e);
  }
  renderProviders();
  // Account cards show the providers' display names.
  renderAccounts();
}

async function loadStatus(): Promise<void> {
  try {
    state.status = { state: "ready", value: await api.appStatus() };
  } catch (e) {
    if (state.status.state !== "ready") state.status = { state: "failed" };
    reportError(e);
  }
  renderStatus();
}

// ---------------------------------------------------------------- actions

function endSignIn(providerId: string): void {
  const pending = state.pending.get(providerId);
  if (!pending) return;
  window.clearTimeout(pending.timer);
  state.pending.delete(providerId);
  renderPending(providerId);
}

function endAllSignIns(): void {
  for (const id of [...state.pending.keys()]) endSignIn(id);
}

async function startSignIn(provider: ProviderInfo): Promise<void> {
  if (state.pending.has(provider.id)) return;
  hideError();
  const attempt: PendingSignIn = { note: "Opening your browser…" };
  state.pending.set(provider.id, attempt);
  renderPending(provider.id);

  let started;
  try {
    started = await api.signIn({ provider: provider.id });
  } catch (e) {
    if (state.pending.get(provider.id) === attempt) endSignIn(provider.id);
    reportError(e);
    return;
  }
  // The outcome may already have arrived (accounts-changed / sign-in-failed).
  if (state.pending.get(provider.id) !== attempt) return;

  attempt.note = "Finish signing in in your browser…";
  const remainingMs = started.expires_at * 1000 - Date.now();
  attempt.timer = window.setTimeout(
    () => {
      if (state.pending.get(provider.id) !== attempt) return;
      endSignIn(provider.id);
      showError(`Signing in with ${provider.display_name} timed out. Try again.`);
    },
    Math.max(0, Math.min(remainingMs, 2_147_000_000)),
  );
  renderPending(provider.id);
}

// ---------------------------------------------------------------- sign-in with a code

let deviceProvider: string | undefined;

function hideDeviceSignIn(): void {
  deviceProvider = undefined;
  byId("device-sign-in").hidden = true;
  byId("device-qr").replaceChildren();
}

async function startDeviceSignIn(provider: ProviderInfo): Promise<void> {
  hideError();
  let shown: api.DeviceSignIn;
  try {
    shown = await api.signInWithCode({ provider: provider.id });
  } catch (e) {
    reportError(e);
    return;
  }
  deviceProvider = provider.id;
  byId("device-title").textContent = `Sign in to ${provider.display_name} with a code`;
  byId("device-user-code").textContent = shown.user_code;
  const uri = byId("device-verification-uri");
  uri.textContent = shown.verification_uri;
  uri.dataset.complete = shown.verification_uri_complete ?? shown.verification_uri;
  const qr = byId("device-qr");
  qr.replaceChildren();
  if (shown.qr_svg) {
    // Drawn by Castkey from the URL alone; parsed as SVG, never as HTML.
    const doc = new DOMParser().parseFromString(shown.qr_svg, "image/svg+xml");
    const svg = doc.documentElement;
    if (svg.nodeName.toLowerCase() === "svg") qr.append(document.importNode(svg, true));
  }
  byId("device-note").textContent = "Waiting for you to finish…";
  byId("device-sign-in").hidden = false;
}

async function makeActive(account: AccountInfo): Promise<void> {
  hideError();
  state.switching.add(account.id);
  renderAccounts();
  try {
    await api.switchAccount({ account_id: account.id });
  } catch (e) {
    reportError(e);
  } finally {
    state.switching.delete(account.id);
  }
  await loadAccounts();
}

async function confirmSignOut(account: AccountInfo, provider: string): Promise<void> {
  const ok = window.confirm(
    `Sign out ${account.display_name} (${provider})?\n\n` +
      "Castkey will forget this account, and broadcasting apps will no longer get tokens for it.",
  );
  if (!ok) return;
  hideError();
  state.signingOut.add(account.id);
  renderAccounts();
  try {
    const done = await api.signOut({ account_id: account.id });
    if (done.revocation === "not_confirmed") {
      showError(
        `Signed out of ${account.display_name} here; the provider did not confirm the revocation` +
          (done.message ? ` (${done.message})` : "") +
          ", so the grant may stay valid there until it expires. You can also revoke Castkey's " +
          "access in your account settings at the provider.",
      );
    }
  } catch (e) {
    reportError(e);
  } finally {
    state.signingOut.delete(account.id);
  }
  await loadAccounts();
}

// ---------------------------------------------------------------- start

async function subscribe(): Promise<void> {
  try {
    await api.onAccountsChanged(() => {
      endAllSignIns();
      void loadAccounts();
    });
    await api.onProvidersChanged(() => void loadProviders());
    await api.onSignedIn((account) => {
      endSignIn(account.provider);
      if (deviceProvider === account.provider) hideDeviceSignIn();
    });
    await api.onSignInFailed((failed) => {
      // The event does not say which provider: every waiting row is done.
      endAllSignIns();
      hideDeviceSignIn();
      showError(failed.message);
    });
    await api.onHealthChanged(() => void loadHealth());
    await api.onConsentRequested((request) => consent.enqueue(request));
    await api.onConsentSettled((id) => {
      consent.settle(id);
      void activity.loadActivity();
    });
    await api.onClientsChanged(() => {
      void apps.loadApps();
      void activity.loadActivity();
    });
  } catch (e) {
    reportError(e);
  }
  // After subscribing: a prompt that opened meanwhile arrives either way.
  await consent.loadPendingConsents().catch(reportError);
}

function start(): void {
  ui = {
    accounts: byId<HTMLUListElement>("accounts"),
    providers: byId<HTMLUListElement>("providers"),
    templates: byId<HTMLUListElement>("templates"),
    statusText: byId("status-text"),
    version: byId("version"),
    error: byId("error"),
    errorText: byId("error-text"),
  };
  byId<HTMLButtonElement>("error-dismiss").addEventListener("click", hideError);
  const shared = { accounts, providerName, reportError, hideError };
  consent.initConsent({
    accounts,
    providerName,
    showError,
    answered: () => {
      void apps.loadApps();
      void activity.loadActivity();
    },
  });
  apps.initApps(shared);
  activity.initActivity(shared);
  window.setInterval(renderHealth, HEALTH_TICK_MS);
  window.setInterval(() => void loadHealth(), HEALTH_RELOAD_MS);
  byId<HTMLButtonElement>("device-hide").addEventListener("click", () => {
    // Closing the code ends that sign-in; no late "expired" error.
    if (deviceProvider) api.cancelSignInWithCode({ provider: deviceProvider }).catch(reportError);
    hideDeviceSignIn();
  });

  window.addEventListener("focus", () => {
    void loadAccounts();
    void loadStatus();
    void apps.loadApps();
  });

  void subscribe();
  void loadProviders();
  void loadTemplates();
  void loadAccounts();
  void loadStatus();
  void apps.loadApps();
  void activity.loadActivity();
}

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", start, { once: true });
} else {
  start();
}
