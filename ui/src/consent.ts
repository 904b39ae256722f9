// The consent prompt: a modal dialog per local program that waits for the
// user's answer. Prompts queue (one shown at a time, oldest first); a prompt
// closes when it is answered here or settled elsewhere (timed out, answered
// by another window), which the shell announces with `consent-settled`.
//
// Keyboard: focus moves to "Deny" when a prompt opens and stays inside the
// dialog (Tab cycles); Escape denies. The rest of the window is inert meanwhile.

import * as api from "./api";
import type { AccountInfo, AnswerConsentArgs, ConsentDecision, ConsentRequest } from "./api";
import { byId, h, scopeChips, select } from "./dom";
import { fileName, secondsUntil, text } from "./strings";

const t = text.consent;

export interface ConsentDeps {
  accounts(): AccountInfo[];
  providerName(id: string): string;
  /** Something was decided: Connected apps and Activity may have changed. */
  answered(): void;
  /** Errors outside the dialog (the banner). */
  showError(message: string): void;
}

/** How long a prompt stays after its deadline if no `consent-settled` came. */
const GRACE_MS = 5_000;

let deps: ConsentDeps;
let root: HTMLElement;
let app: HTMLElement;
const queue: ConsentRequest[] = [];
/** The prompt on screen, by id. */
let shown: number | undefined;
let busy = false;
let ticker: number | undefined;
/** Where focus was before the dialog took it. */
let returnFocus: Element | null = null;

export function initConsent(d: ConsentDeps): void {
  deps = d;
  root = byId("consent");
  app = byId("app");
  root.addEventListener("keydown", onKeyDown);
}

/** A new prompt (or one already known: ignored). */
export function enqueue(request: ConsentRequest): void {
  if (queue.some((r) => r.id === request.id)) return;
  queue.push(request);
  queue.sort((a, b) => a.id - b.id);
  showFirst();
}

/** The prompt `id` was answered or timed out: close it, show the next. */
export function settle(id: number): void {
  const i = queue.findIndex((r) => r.id === id);
  if (i < 0) return;
  queue.splice(i, 1);
  if (shown === id) shown = undefined;
  showFirst();
}

/** Prompts that were waiting before the window subscribed. */
export async function loadPendingConsents(): Promise<void> {
  for (const request of await api.pendingConsents()) enqueue(request);
}

/** The accounts changed: the "Bind to account" choices follow. */
export function accountsChanged(): void {
  const old = root.querySelector<HTMLSelectElement>("#consent-bind");
  if (!old) return;
  const fresh = bindSelect(old.value);
  if (document.activeElement === old) {
    old.replaceWith(fresh);
    fresh.focus();
  } else {
    old.replaceWith(fresh);
  }
}

// ---------------------------------------------------------------- showing

function showFirst(): void {
  const first = queue[0];
  if (!first) {
    close();
    return;
  }
  if (shown === first.id) {
    renderQueueNote();
    return;
  }
  const opening = root.hidden;
  if (opening) returnFocus = document.activeElement;
  shown = first.id;
  busy = false;
  root.replaceChildren(dialog(first));
  root.hidden = false;
  app.inert = true;
  renderQueueNote();
  tick();
  window.clearInterval(ticker);
  ticker = window.setInterval(tick, 1000);
  byId<HTMLButtonElement>("consent-deny").focus();
}

function close(): void {
  window.clearInterval(ticker);
  ticker = undefined;
  shown = undefined;
  if (root.hidden) return;
  root.hidden = true;
  root.replaceChildren();
  app.inert = false;
  if (returnFocus instanceof HTMLElement && document.contains(returnFocus)) returnFocus.focus();
  returnFocus = null;
}

/** Counts down to the prompt's deadline; drops it a little after. */
function tick(): void {
  const request = queue.find((r) => r.id === shown);
  const timer = root.querySelector("#consent-timer");
  if (!request || !timer) return;
  const left = secondsUntil(request.expires_at);
  timer.textContent = t.waiting(Math.max(0, left));
  if (left * 1000 < -GRACE_MS) settle(request.id);
}

function renderQueueNote(): void {
  const note = root.querySelector<HTMLElement>("#consent-queue");
  if (!note) return;
  note.hidden = queue.length < 2;
  note.textContent = queue.length < 2 ? "" : t.more(queue.length - 1);
}

function detail(term: string, ...value: (Node | string)[]): HTMLElement[] {
  return [h("dt", { text: term }), h("dd", {}, ...value)];
}

function accountLabel(request: ConsentRequest): string {
  const a = request.account;
  if (!a) return t.activeAccount;
  return `${a.display_name} (${deps.providerName(a.provider)})`;
}

function bindSelect(value: string): HTMLSelectElement {
  const options: [string, string][] = [["", t.followActive]];
  for (const a of deps.accounts()) options.push([a.id, `${a.display_name} (${deps.providerName(a.provider)})`]);
  if (value !== "" && !options.some(([v]) => v === value)) value = "";
  return select({ id: "consent-bind", name: "bind_account" }, options, value);
}

function dialog(request: ConsentRequest): HTMLElement {
  const name = request.client_name;
  const claimed = name
    ? [h("strong", { class: "consent-name", text: name }), " ", h("span", { class: "consent-claim", text: `(${t.claimedNote})` })]
    : [h("span", { class: "consent-claim", text: t.noName })];
  const details = h(
    "dl",
    { class: "consent-details" },
    ...detail(t.claimedName, ...claimed),
    ...detail(t.executable, h("code", { class: "consent-path", text: request.identity.executable })),
    ...(request.identity.script
      ? detail(t.script, h("code", { class: "consent-path", text: request.identity.script }))
      : []),
    ...(request.pid !== undefined ? detail(t.pid, String(request.pid)) : []),
    ...detail(t.wants, t.method(request.method)),
    ...(request.method === "token" ? detail(t.account, accountLabel(request)) : []),
    ...(request.scopes.length > 0 ? detail(t.scopes, scopeChips(request.scopes, t.scopes)) : []),
  );

  const onlyScopes = h("input", { attrs: { type: "checkbox", id: "consent-only-scopes", name: "only_scopes" } });
  onlyScopes.checked = true;
  const always = h(
    "fieldset",
    { class: "consent-always" },
    h("legend", { text: t.alwaysOptions }),
    request.scopes.length > 0 &&
      h("label", { class: "check" }, onlyScopes, h("span", { text: t.onlyScopes(request.scopes) })),
    h("label", { class: "field-label" }, h("span", { text: t.bindTo }), bindSelect("")),
  );

  const button = (id: string, label: string, cls: string, decision: ConsentDecision) => {
    const b = h("button", { class: `btn ${cls}`, text: label, attrs: { id, type: "button" } });
    b.addEventListener("click", () => void answer(decision));
    return b;
  };
  const who = name ?? fileName(request.identity.script ?? request.identity.executable);

  return h(
    "div",
    {
      class: "modal-dialog",
      attrs: {
        role: "dialog",
        "aria-modal": "true",
        "aria-labelledby": "consent-title",
        "aria-describedby": "consent-intro",
        "data-consent-id": String(request.id),
        "data-consent-who": who,
      },
    },
    h("h2", { class: "modal-title", text: t.title, attrs: { id: "consent-title" } }),
    h("p", { class: "modal-intro", text: t.intro, attrs: { id: "consent-intro" } }),
    details,
    request.interpreted && h("p", { class: "consent-warning", text: t.weakIdentity, attrs: { id: "consent-warning" } }),
    always,
    h("p", { class: "consent-error", attrs: { id: "consent-error", role: "alert" } }),
    h("p", { class: "consent-timer", attrs: { id: "consent-timer" } }),
    h("p", { class: "consent-queue", attrs: { id: "consent-queue" } }),
    h(
      "div",
      { class: "modal-actions" },
      button("consent-deny", t.deny, "btn-secondary", "deny"),
      button("consent-once", t.allowOnce, "btn-secondary", "allow_once"),
      button("consent-always", t.always, "btn-primary", "always"),
    ),
  );
}

// ---------------------------------------------------------------- answering

function answerArgs(request: ConsentRequest, decision: ConsentDecision): AnswerConsentArgs {
  const args: AnswerConsentArgs = { id: request.id, decision };
  if (decision !== "always") return args;
  const only = root.querySelector<HTMLInputElement>("#consent-only-scopes");
  if (only?.checked && request.scopes.length > 0) args.scopes = [...request.scopes];
  const bind = root.querySelector<HTMLSelectElement>("#consent-bind")?.value;
  if (bind) args.bind_account = bind;
  return args;
}

function setBusy(value: boolean): void {
  busy = value;
  for (const b of root.querySelectorAll<HTMLButtonElement>(".modal-actions button")) b.disabled = value;
}

async function answer(decision: ConsentDecision): Promise<void> {
  const request = queue.find((r) => r.id === shown);
  if (!request || busy) return;
  setBusy(true);
  try {
    await api.answerConsent(answerArgs(request, decision));
    settle(request.id);
    deps.answered();
  } catch (e) {
    if (api.isCommandError(e) && e.reason === "invalid_request") {
      // The request stopped waiting (timed out, or its program went away).
      settle(request.id);
      deps.showError(t.gone);
      return;
    }
    if (shown !== request.id) return;
    setBusy(false);
    const error = root.querySelector<HTMLElement>("#consent-error");
    if (error) error.textContent = api.errorMessage(e);
  }
}

// ---------------------------------------------------------------- keyboard

function focusable(): HTMLElement[] {
  return [...root.querySelectorAll<HTMLElement>("button, input, select, [tabindex]")].filter(
    (el) => !(el as HTMLButtonElement).disabled && el.tabIndex >= 0,
  );
}

function onKeyDown(e: KeyboardEvent): void {
  if (root.hidden) return;
  if (e.key === "Escape") {
    e.preventDefault();
    void answer("deny");
    return;
  }
  if (e.key !== "Tab") return;
  const items = focusable();
  const first = items[0];
  const last = items[items.length - 1];
  if (!first || !last) return;
  const at = document.activeElement;
  if (e.shiftKey && (at === first || !root.contains(at))) {
    e.preventDefault();
    last.focus();
  } else if (!e.shiftKey && (at === last || !root.contains(at))) {
    e.preventDefault();
    first.focus();
  }
}
