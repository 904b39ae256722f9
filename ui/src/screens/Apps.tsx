// Connected apps: the programs allowed always, what each may get (scopes,
// account binding), a way to change that, and Revoke.

import { useRef, useState } from "preact/hooks";
import * as api from "../api";
import type { AllowAppParams, ClientApproval } from "../api";
import { Avatar, Option, Placeholder, useStore } from "../components/common";
import { text } from "../strings";

const t = text.apps;

/** "broadcaster openid" or "broadcaster, openid" → a list; empty → any. */
export function parseScopes(value: string): string[] | undefined {
  const scopes = value.split(/[\s,]+/).filter((s) => s !== "");
  return scopes.length > 0 ? scopes : undefined;
}

/** What tells one app from another. */
function appKey(app: ClientApproval): string {
  return JSON.stringify([app.identity.executable, app.identity.script ?? null]);
}

function PolicyForm(props: { app: ClientApproval }) {
  const store = useStore();
  const { app } = props;
  const [busy, setBusy] = useState(false);
  const [saved, setSaved] = useState(false);
  const scopes = useRef<HTMLInputElement>(null);
  const account = useRef<HTMLSelectElement>(null);
  const options: [string, string][] = [["", t.followActive]];
  for (const a of store.accounts()) options.push([a.id, `${a.display_name} (${store.providerName(a.provider)})`]);
  if (app.account && !options.some(([v]) => v === app.account)) options.push([app.account, t.missingAccount(app.account)]);
  const submit = (e: Event) => {
    e.preventDefault();
    store.hideError();
    setBusy(true);
    setSaved(false);
    const params: AllowAppParams = { executable: app.identity.executable, name: app.name };
    if (app.identity.script !== undefined) params.script = app.identity.script;
    // Read from the fields themselves (uncontrolled: a redraw never undoes typing).
    const wanted = parseScopes(scopes.current?.value ?? "");
    if (wanted) params.scopes = wanted;
    const bound = account.current?.value ?? "";
    if (bound) params.account = bound;
    api
      .updateApp(params)
      .then(() => {
        setSaved(true);
        return store.loadApps();
      })
      .catch(store.reportError)
      .finally(() => setBusy(false));
  };
  return (
    <form class="app-policy" onSubmit={submit}>
      <label class="field-label">
        <span>{t.scopes}</span>
        <input
          ref={scopes}
          class="field"
          type="text"
          name="scopes"
          autocomplete="off"
          placeholder={t.anyScope}
          title={t.scopesHint}
          aria-label={`${app.name}: ${t.scopes} (${t.scopesHint})`}
          defaultValue={(app.scopes ?? []).join(" ")}
        />
      </label>
      <label class="field-label">
        <span>{t.account}</span>
        <select ref={account} class="field" name="account" aria-label={`${app.name}: ${t.account}`}>
          {options.map(([v, label]) => (
            <Option key={v} value={v} selected={v === (app.account ?? "")}>
              {label}
            </Option>
          ))}
        </select>
      </label>
      <button type="submit" class="btn btn-secondary" data-save-app="" disabled={busy}>
        {t.save}
      </button>
      <span class="saved" role="status">
        {saved ? t.saved : ""}
      </span>
    </form>
  );
}

function AppCard(props: { app: ClientApproval }) {
  const store = useStore();
  const { app } = props;
  const [busy, setBusy] = useState(false);
  const revoke = () => {
    if (!window.confirm(t.confirmRevoke(app.name))) return;
    store.hideError();
    setBusy(true);
    api
      .revokeApp({ identity: app.identity })
      .then(() => store.loadApps())
      .catch(store.reportError)
      .finally(() => setBusy(false));
  };
  return (
    <li
      class="card app-card"
      data-app-key={appKey(app)}
      data-app-executable={app.identity.executable}
      data-app-script={app.identity.script}
    >
      <Avatar name={app.name} kind="service" />
      <div class="card-main">
        <span class="app-name">{app.name}</span>
        <p class="app-identity">
          <code class="app-path">{app.identity.executable}</code>
          {app.identity.script !== undefined && <code class="app-path">{app.identity.script}</code>}
        </p>
        {/* Keyed by the policy: a change saved elsewhere shows; typing is not undone meanwhile. */}
        <PolicyForm key={JSON.stringify([app.scopes, app.account])} app={app} />
        {/* 0: listed by hand in clients.json, with no date. */}
        {app.approved_at > 0 && <p class="app-meta">{t.allowedAt(app.approved_at)}</p>}
      </div>
      <div class="card-side">
        <button
          type="button"
          class="btn btn-secondary"
          data-revoke-app=""
          aria-label={t.revokeLabel(app.name)}
          disabled={busy}
          onClick={revoke}
        >
          {t.revoke}
        </button>
      </div>
    </li>
  );
}

export function AppsScreen() {
  const store = useStore();
  const apps = store.state.apps;
  return (
    <>
      <h2 id="apps-title" class="screen-title">
        {t.title}
      </h2>
      <p class="screen-intro">{t.intro}</p>
      <ul id="apps" class="list" aria-busy={apps.state === "loading" ? "true" : "false"}>
        {apps.state === "loading" && (
          <li>
            <Placeholder>{text.app.loading}</Placeholder>
          </li>
        )}
        {apps.state === "failed" && (
          <li>
            <Placeholder failed>{t.loadFailed}</Placeholder>
          </li>
        )}
        {apps.state === "ready" && apps.value.length === 0 && (
          <li>
            <Placeholder>{t.empty}</Placeholder>
          </li>
        )}
        {apps.state === "ready" && apps.value.map((app) => <AppCard key={appKey(app)} app={app} />)}
      </ul>
    </>
  );
}
