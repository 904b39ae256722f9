// Add account: the services an account can be added for (sign in in the
// browser or with a code, a service account's client id and secret, an API
// key), and the services the user can set up (a form per template). Secrets
// go to the shell once and the field is emptied at once, whatever happens.

import { useEffect, useState } from "preact/hooks";
import * as api from "../api";
import type { ProviderInfo, ProviderTemplate, TemplateField } from "../api";
import { Avatar, CopyButton, Option, Placeholder, useStore } from "../components/common";
import { text } from "../strings";
import type { Loaded } from "../store";
import { fieldProblem } from "../validate";

const t = text.add;

function RemoveButton(props: { provider: ProviderInfo }) {
  const store = useStore();
  const p = props.provider;
  if (!p.template) return null;
  return (
    <button
      type="button"
      class="btn btn-secondary"
      data-remove-provider={p.id}
      aria-label={t.removeLabel(p.display_name)}
      onClick={() => {
        if (!window.confirm(t.confirmRemove(p.display_name))) return;
        store.hideError();
        api
          .removeProvider({ provider: p.id })
          .then(() => store.loadProviders())
          .catch(store.reportError);
      }}
    >
      {t.remove}
    </button>
  );
}

/** A service account (client id + secret) or an API key (environment + key). */
function CredentialsForm(props: { provider: ProviderInfo }) {
  const store = useStore();
  const p = props.provider;
  const apiKey = p.sign_in === "api_key";
  const [id, setId] = useState("");
  const [secret, setSecret] = useState("");
  const [environment, setEnvironment] = useState(p.environments[0] ?? "");
  const [busy, setBusy] = useState(false);
  const [touched, setTouched] = useState(false);
  const idLabel = apiKey ? t.environment : t.clientId;
  const secretLabel = apiKey ? t.apiKey : t.clientSecret;
  const problemsOf = (idValue: string, secretValue: string) =>
    [
      !apiKey && idValue.trim() === "" ? text.validation.required(idLabel) : undefined,
      secretValue === "" ? text.validation.required(secretLabel) : undefined,
    ].filter((x): x is string => x !== undefined);
  const problems = problemsOf(id, secret);

  const submit = (e: Event) => {
    e.preventDefault();
    // What the fields hold now (a field emptied by a script fires no input).
    const form = e.currentTarget as HTMLFormElement;
    const read = (name: string, fallback: string) => {
      const el = form.elements.namedItem(name);
      return el instanceof HTMLInputElement || el instanceof HTMLSelectElement ? el.value : fallback;
    };
    const idNow = read("client-id", id);
    const secretNow = read(apiKey ? "api-key" : "client-secret", secret);
    const environmentNow = read("environment", environment);
    setTouched(true);
    const now = problemsOf(idNow, secretNow);
    if (now.length > 0) {
      store.showError(now.join(" "));
      return;
    }
    store.hideError();
    const sent = apiKey
      ? api.addApiKeyAccount({ provider: p.id, environment: environmentNow, api_key: secretNow })
      : api.addServiceAccount({ provider: p.id, client_id: idNow.trim(), client_secret: secretNow });
    // The secret leaves the window now, whatever the answer.
    setSecret("");
    const secretField = form.elements.namedItem(apiKey ? "api-key" : "client-secret");
    if (secretField instanceof HTMLInputElement) secretField.value = "";
    setBusy(true);
    sent
      .then((account) => {
        setId("");
        setTouched(false);
        store.notify({ text: t.accountAdded(account.display_name), kind: "info" });
        store.showScreen("accounts");
        return store.loadAccounts();
      })
      .catch(store.reportError)
      .finally(() => setBusy(false));
  };

  return (
    <form class="credentials" onSubmit={submit} noValidate>
      {apiKey ? (
        <label class="field-label">
          <span>{t.environment}</span>
          <select
            class="field"
            name="environment"
            aria-label={`${p.display_name} ${t.environment.toLowerCase()}`}
            value={environment}
            onChange={(e) => setEnvironment(e.currentTarget.value)}
          >
            {p.environments.map((env) => (
              <Option key={env} value={env}>
                {env}
              </Option>
            ))}
          </select>
        </label>
      ) : (
        <label class="field-label">
          <span>{t.clientId}</span>
          <input
            class="field"
            type="text"
            name="client-id"
            autocomplete="off"
            aria-label={`${p.display_name} ${t.clientId.toLowerCase()}`}
            aria-invalid={touched && id.trim() === "" ? "true" : undefined}
            value={id}
            onInput={(e) => setId(e.currentTarget.value)}
          />
        </label>
      )}
      <label class="field-label">
        <span>{secretLabel}</span>
        <input
          class="field"
          type="password"
          name={apiKey ? "api-key" : "client-secret"}
          autocomplete="off"
          aria-label={`${p.display_name} ${secretLabel.toLowerCase()}`}
          aria-invalid={touched && secret === "" ? "true" : undefined}
          value={secret}
          onInput={(e) => setSecret(e.currentTarget.value)}
        />
      </label>
      <button
        type="submit"
        class="btn btn-primary"
        data-provider={p.id}
        aria-label={t.addLabel(p.display_name)}
        disabled={busy}
      >
        {t.add}
      </button>
      {touched && problems.length > 0 && (
        <p class="field-error" role="alert">
          {problems.join(" ")}
        </p>
      )}
    </form>
  );
}

function ProviderRow(props: { provider: ProviderInfo; accounts: number }) {
  const store = useStore();
  const p = props.provider;
  const signIn = store.state.signIn;
  const pending =
    signIn !== undefined && signIn.provider === p.id && (signIn.phase === "opening" || signIn.phase === "waiting");
  let note: string;
  if (p.sign_in === "service_account") note = t.serviceAccount;
  else if (p.sign_in === "api_key") note = t.apiKey;
  else note = props.accounts > 0 ? t.hasAccounts(props.accounts) : t.browserNote;
  return (
    <li class={pending ? "card provider provider-pending" : "card provider"} data-provider-id={p.id}>
      <Avatar name={p.display_name} kind="service" />
      <div class="card-main">
        <span class="provider-name">{p.display_name}</span>
        <span class="provider-note">{note}</span>
        {p.sign_in !== "browser" && <CredentialsForm provider={p} />}
      </div>
      <div class="card-side">
        {p.sign_in === "browser" && (
          <>
            <button
              type="button"
              class="btn btn-primary"
              data-provider={p.id}
              aria-label={props.accounts > 0 ? t.signInAnother : t.signInLabel(p.display_name)}
              disabled={pending}
              onClick={() => void store.startSignIn(p.id)}
            >
              {t.signIn}
            </button>
            {p.device_flow && (
              <button
                type="button"
                class="btn btn-secondary"
                data-device-provider={p.id}
                aria-label={t.withCodeLabel(p.display_name)}
                onClick={() => void store.startDeviceSignIn(p.id)}
              >
                {t.withCode}
              </button>
            )}
          </>
        )}
        <RemoveButton provider={p} />
      </div>
    </li>
  );
}

function TemplateInput(props: {
  template: ProviderTemplate;
  field: TemplateField;
  value: string;
  problem: string | undefined;
  onValue: (v: string) => void;
}) {
  const { template, field: f } = props;
  const id = `tpl-${template.id}-${f.name}`;
  const label = `${template.display_name} ${f.label}`;
  if (f.kind === "choice") {
    return (
      <label class="field-label">
        <span>{f.label}</span>
        <select
          class="field"
          id={id}
          name={f.name}
          aria-label={label}
          value={props.value}
          onChange={(e) => props.onValue(e.currentTarget.value)}
        >
          {f.choices.map((c) => (
            <Option key={c} value={c}>
              {c}
            </Option>
          ))}
        </select>
      </label>
    );
  }
  const errorId = `${id}-error`;
  return (
    <label class="field-label">
      <span>{f.required ? f.label : t.optional(f.label)}</span>
      {f.kind === "secret" ? (
        <input
          class="field"
          id={id}
          type="password"
          name={f.name}
          autocomplete="off"
          aria-label={label}
          required={f.required}
          aria-invalid={props.problem ? "true" : undefined}
          aria-describedby={props.problem ? errorId : undefined}
          value={props.value}
          onInput={(e) => props.onValue(e.currentTarget.value)}
        />
      ) : (
        <input
          class="field"
          id={id}
          type="text"
          inputMode={f.kind === "url" ? "url" : undefined}
          spellcheck={false}
          name={f.name}
          autocomplete="off"
          aria-label={label}
          required={f.required}
          aria-invalid={props.problem ? "true" : undefined}
          aria-describedby={props.problem ? errorId : undefined}
          value={props.value}
          onInput={(e) => props.onValue(e.currentTarget.value)}
        />
      )}
      {props.problem && (
        <span class="field-error" id={errorId} data-field-error={f.name}>
          {props.problem}
        </span>
      )}
    </label>
  );
}

function defaults(template: ProviderTemplate): Record<string, string> {
  const values: Record<string, string> = {};
  for (const f of template.fields) values[f.name] = f.default ?? (f.kind === "choice" ? (f.choices[0] ?? "") : "");
  return values;
}

/** A kind of service the user can add: a form from the template's fields,
 *  checked as the user types; secret values are emptied once sent. */
/** A list's one item while it loads, or when loading failed. */
function ListStatus(props: { loaded: Loaded<unknown>; failed: string }) {
  if (props.loaded.state === "ready") return null;
  return (
    <li>
      {props.loaded.state === "loading" ? (
        <Placeholder>{text.app.loading}</Placeholder>
      ) : (
        <Placeholder failed>{props.failed}</Placeholder>
      )}
    </li>
  );
}

export function TemplateRow(props: { template: ProviderTemplate }) {
  const store = useStore();
  const tpl = props.template;
  const [values, setValues] = useState(() => defaults(tpl));
  const [touched, setTouched] = useState<Set<string>>(() => new Set());
  const [open, setOpen] = useState(false);
  const [busy, setBusy] = useState(false);
  const problems = new Map<string, string>();
  for (const f of tpl.fields) {
    const p = fieldProblem(f, values[f.name] ?? "");
    if (p) problems.set(f.name, p);
  }
  const setValue = (name: string, v: string) => {
    setValues((old) => ({ ...old, [name]: v }));
    setTouched((old) => (old.has(name) ? old : new Set(old).add(name)));
  };
  // The exact redirect URI to register, from the shell as the user types
  // (it depends on the name and the redirect fields); never a secret sent.
  const [redirectUri, setRedirectUri] = useState<string | null>(null);
  const shown: Record<string, string> = {};
  for (const f of tpl.fields) if (f.kind !== "secret" && values[f.name]) shown[f.name] = values[f.name]!;
  const shownKey = JSON.stringify(shown);
  useEffect(() => {
    if (!open) return;
    let current = true;
    const wait = setTimeout(() => {
      api
        .redirectUriToRegister({ template: tpl.id, values: shown })
        .then((uri) => current && setRedirectUri(uri))
        .catch(() => current && setRedirectUri(null));
    }, 150);
    return () => {
      current = false;
      clearTimeout(wait);
    };
  }, [open, tpl.id, shownKey]);

  const submit = (e: Event) => {
    e.preventDefault();
    // What the fields hold now (a field emptied by a script fires no input).
    const form = e.currentTarget as HTMLFormElement;
    const current: Record<string, string> = { ...values };
    for (const f of tpl.fields) {
      const el = form.elements.namedItem(f.name);
      if (el instanceof HTMLInputElement || el instanceof HTMLSelectElement) current[f.name] = el.value;
    }
    problems.clear();
    for (const f of tpl.fields) {
      const p = fieldProblem(f, current[f.name] ?? "");
      if (p) problems.set(f.name, p);
    }
    setValues(current);
    if (problems.size > 0) {
      setTouched(new Set(tpl.fields.map((f) => f.name)));
      store.showError([...problems.values()][0] ?? text.app.somethingWrong);
      const first = tpl.fields.find((f) => problems.has(f.name));
      if (first) document.getElementById(`tpl-${tpl.id}-${first.name}`)?.focus();
      return;
    }
    const sent: Record<string, string> = {};
    for (const f of tpl.fields) {
      const v = current[f.name] ?? "";
      if (v.trim() !== "") sent[f.name] = f.kind === "secret" ? v : v.trim();
    }
    // Secrets leave the window now, whatever the answer.
    for (const f of tpl.fields) {
      const el = form.elements.namedItem(f.name);
      if (f.kind === "secret" && el instanceof HTMLInputElement) el.value = "";
    }
    setValues((old) => {
      const next = { ...old };
      for (const f of tpl.fields) if (f.kind === "secret") next[f.name] = "";
      return next;
    });
    store.hideError();
    setBusy(true);
    api
      .addProvider({ template: tpl.id, values: sent })
      .then((provider) => {
        setValues(defaults(tpl));
        setTouched(new Set());
        setOpen(false);
        store.notify({ text: t.added(provider.display_name), kind: "info" });
        return store.loadProviders();
      })
      .catch(store.reportError)
      .finally(() => setBusy(false));
  };

  return (
    <li class="card template-card" data-template-id={tpl.id}>
      <Avatar name={tpl.display_name} kind="service" />
      <div class="card-main">
        <span class="provider-name">{tpl.display_name}</span>
        <span class="provider-note">{tpl.description}</span>
        <details class="template" open={open} onToggle={(e) => setOpen((e.currentTarget as HTMLDetailsElement).open)}>
          <summary data-setup-template={tpl.id}>{t.setUp}</summary>
          <form class="template-form" data-template={tpl.id} onSubmit={submit} noValidate>
            {tpl.fields.map((f) => (
              <TemplateInput
                key={f.name}
                template={tpl}
                field={f}
                value={values[f.name] ?? ""}
                problem={touched.has(f.name) ? problems.get(f.name) : undefined}
                onValue={(v) => setValue(f.name, v)}
              />
            ))}
            {redirectUri && (
              <p class="redirect-to-register">
                <span>{t.redirectToRegister}</span>{" "}
                <code class="redirect-uri" data-redirect-uri={tpl.id}>
                  {redirectUri}
                </code>{" "}
                <CopyButton value={redirectUri} />
              </p>
            )}
            <button
              type="submit"
              class="btn btn-primary"
              data-add-template={tpl.id}
              aria-label={t.addServiceLabel(tpl.display_name)}
              disabled={busy}
            >
              {t.addService}
            </button>
          </form>
        </details>
      </div>
    </li>
  );
}

export function AddAccountScreen() {
  const store = useStore();
  const providers = store.state.providers;
  const templates = store.state.templates;
  const counts = new Map<string, number>();
  for (const a of store.accounts()) counts.set(a.provider, (counts.get(a.provider) ?? 0) + 1);
  return (
    <>
      <h2 id="add-title" class="screen-title">
        {t.title}
      </h2>
      <p class="screen-intro">{t.intro}</p>
      <section class="section" aria-labelledby="providers-title">
        <h3 id="providers-title" class="section-title">
          {t.services}
        </h3>
        <ul id="providers" class="list" aria-busy={providers.state === "loading" ? "true" : "false"}>
          <ListStatus loaded={providers} failed={t.loadFailed} />
          {providers.state === "ready" && providers.value.length === 0 && (
            <li>
              <Placeholder>{t.noProviders}</Placeholder>
            </li>
          )}
          {providers.state === "ready" &&
            providers.value.map((p) => <ProviderRow key={p.id} provider={p} accounts={counts.get(p.id) ?? 0} />)}
        </ul>
      </section>
      <section class="section" aria-labelledby="templates-title">
        <h3 id="templates-title" class="section-title">
          {t.templates}
        </h3>
        <p class="section-intro">{t.templatesIntro}</p>
        <ul id="templates" class="list" aria-busy={templates.state === "loading" ? "true" : "false"}>
          <ListStatus loaded={templates} failed={t.templatesFailed} />
          {templates.state === "ready" && templates.value.map((tpl) => <TemplateRow key={tpl.id} template={tpl} />)}
        </ul>
      </section>
    </>
  );
}
