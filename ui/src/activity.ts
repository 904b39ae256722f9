// Activity: the last entries of the log (who got a token, who was refused),
// newest first, filtered by app and account. Never a token value: the log
// holds none.

import * as api from "./api";
import type { AccountInfo, ActivityEntry, ActivityParams } from "./api";
import { byId, h, select } from "./dom";
import { clockTime, entryClient, identityText, outcomeText, text } from "./strings";

const t = text.activity;
/** How many entries the section shows. */
const LIMIT = 50;
const TYPING_PAUSE_MS = 300;

export interface ActivityDeps {
  accounts(): AccountInfo[];
  providerName(id: string): string;
  reportError(e: unknown): void;
}

let deps: ActivityDeps;
let clientFilter: HTMLInputElement;
let accountFilter: HTMLSelectElement;
let rows: HTMLTableSectionElement;
let load = 0;
let typing: number | undefined;

export function initActivity(d: ActivityDeps): void {
  deps = d;
  const root = byId("activity");
  clientFilter = h("input", {
    class: "field",
    attrs: { type: "search", id: "activity-client", autocomplete: "off", placeholder: t.filterClientPlaceholder },
  });
  accountFilter = accountSelect("");
  const refresh = h("button", {
    class: "btn btn-secondary",
    text: t.refresh,
    attrs: { type: "submit", id: "activity-refresh" },
  });
  const filters = h(
    "form",
    { class: "filters", attrs: { role: "search" } },
    h("label", { class: "field-label" }, h("span", { text: t.filterClient }), clientFilter),
    h("label", { class: "field-label" }, h("span", { text: t.filterAccount }), accountFilter),
    refresh,
  );
  filters.addEventListener("submit", (e) => {
    e.preventDefault();
    void loadActivity();
  });
  clientFilter.addEventListener("input", () => {
    window.clearTimeout(typing);
    typing = window.setTimeout(() => void loadActivity(), TYPING_PAUSE_MS);
  });
  accountFilter.addEventListener("change", () => void loadActivity());

  rows = h("tbody", { attrs: { id: "activity-rows" } });
  const table = h(
    "table",
    { class: "activity-table" },
    h("thead", {}, h("tr", {}, ...t.columns.map((c) => h("th", { text: c, attrs: { scope: "col" } })))),
    rows,
  );
  root.replaceChildren(filters, h("div", { class: "table-scroll" }, table));
  rows.replaceChildren(message("Loading…"));
}

function accountSelect(value: string): HTMLSelectElement {
  const options: [string, string][] = [["", t.allAccounts]];
  for (const a of deps.accounts()) options.push([a.id, `${a.display_name} (${deps.providerName(a.provider)})`]);
  if (!options.some(([v]) => v === value)) value = "";
  const node = select({ id: "activity-account", "aria-label": t.filterAccount }, options, value);
  return node;
}

/** The accounts changed: the account filter follows. */
export function accountsChanged(): void {
  const fresh = accountSelect(accountFilter.value);
  fresh.addEventListener("change", () => void loadActivity());
  const focused = document.activeElement === accountFilter;
  accountFilter.replaceWith(fresh);
  accountFilter = fresh;
  if (focused) fresh.focus();
}

function filters(): ActivityParams {
  const params: ActivityParams = { limit: LIMIT };
  const client = clientFilter.value.trim();
  if (client) params.client = client;
  if (accountFilter.value) params.account = accountFilter.value;
  return params;
}

export async function loadActivity(): Promise<void> {
  const mine = ++load;
  const params = filters();
  try {
    const entries = await api.activity(params);
    if (mine !== load) return;
    render(entries, params.client !== undefined || params.account !== undefined);
  } catch (e) {
    if (mine !== load) return;
    rows.replaceChildren(message(t.loadFailed, true));
    deps.reportError(e);
  }
}

function message(text: string, failed = false): HTMLTableRowElement {
  return h(
    "tr",
    { class: failed ? "placeholder-row placeholder-failed" : "placeholder-row" },
    h("td", { text, attrs: { colspan: String(t.columns.length) } }),
  );
}

function render(entries: ActivityEntry[], filtered: boolean): void {
  if (entries.length === 0) {
    rows.replaceChildren(message(filtered ? t.noMatch : t.empty));
    return;
  }
  // The log is newest last; the table shows the newest first.
  rows.replaceChildren(...entries.slice(-LIMIT).reverse().map(row));
}

function row(e: ActivityEntry): HTMLTableRowElement {
  const served = e.outcome === "served";
  return h(
    "tr",
    { attrs: { "data-outcome": e.outcome } },
    h("td", { class: "activity-time", text: clockTime(e.at) }),
    h(
      "td",
      { class: "activity-client", attrs: { title: identityText(e.client) + (e.pid ? ` (pid ${e.pid})` : "") } },
      entryClient(e),
    ),
    h("td", { text: e.account ?? t.none }),
    h("td", { class: "activity-scopes", text: e.scopes.length > 0 ? e.scopes.join(" ") : t.none }),
    h(
      "td",
      { class: served ? "activity-outcome outcome-ok" : "activity-outcome outcome-refused", attrs: { title: e.outcome } },
      outcomeText(e.outcome),
      e.count > 1 && h("span", { class: "activity-count", text: ` ${t.count(e.count)}` }),
    ),
  );
}
