// The consent prompt: a modal dialog per local program that waits for the
// user's answer, over whatever tab is showing. Prompts queue (one shown at a
// time, oldest first); a prompt closes when it is answered here or settled
// elsewhere (timed out, answered by another window: `consent-settled`).
//
// Keyboard: focus moves to "Deny" when a prompt opens and stays inside the
// dialog (Tab cycles); Escape denies. The window behind is inert meanwhile.

import { useEffect, useRef, useState } from "preact/hooks";
import * as api from "../api";
import type { AnswerConsentArgs, ConsentDecision, ConsentRequest } from "../api";
import { Option, ScopeChips, useNow, useStore } from "../components/common";
import { fileName, secondsUntil, text } from "../strings";

const t = text.consent;

/** How long a prompt stays after its deadline if no `consent-settled` came. */
const GRACE_MS = 5_000;

function focusable(root: HTMLElement): HTMLElement[] {
  return [...root.querySelectorAll<HTMLElement>("button, input, select, [tabindex]")].filter(
    (el) => !(el as HTMLButtonElement).disabled && el.tabIndex >= 0,
  );
}

function Dialog(props: { request: ConsentRequest; more: number }) {
  const store = useStore();
  const { request } = props;
  const nowMs = useNow(1000);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState("");
  const [onlyScopes, setOnlyScopes] = useState(true);
  const [bind, setBind] = useState("");
  const root = useRef<HTMLDivElement>(null);
  const left = secondsUntil(request.expires_at, nowMs);

  useEffect(() => {
    root.current?.querySelector<HTMLButtonElement>("#consent-deny")?.focus();
  }, [request.id]);

  useEffect(() => {
    if (left * 1000 < -GRACE_MS) store.settleConsent(request.id);
  }, [left < -GRACE_MS / 1000]);

  const accounts = store.accounts();
  const bindValue = bind !== "" && !accounts.some((a) => a.id === bind) ? "" : bind;

  const answer = async (decision: ConsentDecision) => {
    if (busy) return;
    setBusy(true);
    const args: AnswerConsentArgs = { id: request.id, decision };
    if (decision === "always") {
      if (onlyScopes && request.scopes.length > 0) args.scopes = [...request.scopes];
      if (bindValue) args.bind_account = bindValue;
    }
    try {
      await api.answerConsent(args);
      store.settleConsent(request.id);
      void store.loadApps();
      store.activityChanged();
    } catch (e) {
      if (api.isCommandError(e) && e.reason === "invalid_request") {
        // The request stopped waiting (timed out, or its program went away).
        store.settleConsent(request.id);
        store.showError(t.gone);
        return;
      }
      setBusy(false);
      setError(api.errorMessage(e));
    }
  };

  const onKeyDown = (e: KeyboardEvent) => {
    if (e.key === "Escape") {
      e.preventDefault();
      void answer("deny");
      return;
    }
    if (e.key !== "Tab" || !root.current) return;
    const items = focusable(root.current);
    const first = items[0];
    const last = items[items.length - 1];
    if (!first || !last) return;
    const at = document.activeElement;
    if (e.shiftKey && (at === first || !root.current.contains(at))) {
      e.preventDefault();
      last.focus();
    } else if (!e.shiftKey && (at === last || !root.current.contains(at))) {
      e.preventDefault();
      first.focus();
    }
  };

  const name = request.client_name;
  const who = name ?? fileName(request.identity.script ?? request.identity.executable);
  const account = request.account
    ? `${request.account.display_name} (${store.providerName(request.account.provider)})`
    : t.activeAccount;

  return (
    <div
      class="modal-dialog"
      role="dialog"
      aria-modal="true"
      aria-labelledby="consent-title"
      aria-describedby="consent-intro"
      data-consent-id={String(request.id)}
      data-consent-who={who}
      ref={root}
      onKeyDown={onKeyDown}
    >
      <h2 class="modal-title" id="consent-title">
        {t.title}
      </h2>
      <p class="modal-intro" id="consent-intro">
        {t.intro}
      </p>
      <dl class="consent-details">
        <dt>{t.claimedName}</dt>
        <dd>
          {name ? (
            <>
              <strong class="consent-name">{name}</strong>{" "}
              <span class="consent-claim">({t.claimedNote})</span>
            </>
          ) : (
            <span class="consent-claim">{t.noName}</span>
          )}
        </dd>
        <dt>{t.executable}</dt>
        <dd>
          <code class="consent-path">{request.identity.executable}</code>
        </dd>
        {request.identity.script && (
          <>
            <dt>{t.script}</dt>
            <dd>
              <code class="consent-path">{request.identity.script}</code>
            </dd>
          </>
        )}
        {request.pid !== undefined && (
          <>
            <dt>{t.pid}</dt>
            <dd>{String(request.pid)}</dd>
          </>
        )}
        {request.via && (
          <>
            <dt>{t.via}</dt>
            <dd>{request.via}</dd>
          </>
        )}
        <dt>{t.wants}</dt>
        <dd>{t.method(request.method)}</dd>
        {request.method === "token" && (
          <>
            <dt>{t.account}</dt>
            <dd>{account}</dd>
          </>
        )}
        {request.scopes.length > 0 && (
          <>
            <dt>{t.scopes}</dt>
            <dd>
              <ScopeChips scopes={request.scopes} label={t.scopes} />
            </dd>
          </>
        )}
      </dl>
      {request.interpreted && (
        <p class="consent-warning" id="consent-warning">
          {t.weakIdentity}
        </p>
      )}
      {request.note && (
        <p class="consent-warning" id="consent-note">
          {request.note}
        </p>
      )}
      <fieldset class="consent-always" hidden={!request.always_offered}>
        <legend>{t.alwaysOptions}</legend>
        {request.scopes.length > 0 && (
          <label class="check">
            <input
              type="checkbox"
              id="consent-only-scopes"
              name="only_scopes"
              checked={onlyScopes}
              onChange={(e) => setOnlyScopes(e.currentTarget.checked)}
            />
            <span>{t.onlyScopes(request.scopes)}</span>
          </label>
        )}
        <label class="field-label">
          <span>{t.bindTo}</span>
          <select
            class="field"
            id="consent-bind"
            name="bind_account"
            value={bindValue}
            onChange={(e) => setBind(e.currentTarget.value)}
          >
            <Option value="">{t.followActive}</Option>
            {accounts.map((a) => (
              <Option key={a.id} value={a.id}>
                {`${a.display_name} (${store.providerName(a.provider)})`}
              </Option>
            ))}
          </select>
        </label>
      </fieldset>
      <p class="consent-error" id="consent-error" role="alert">
        {error}
      </p>
      <p class="consent-timer" id="consent-timer">
        {t.waiting(Math.max(0, left))}
      </p>
      <p class="consent-queue" id="consent-queue" hidden={props.more === 0}>
        {props.more > 0 ? t.more(props.more) : ""}
      </p>
      <div class="modal-actions">
        <span class="modal-hint">{t.escapeHint}</span>
        <button id="consent-deny" type="button" class="btn btn-secondary" disabled={busy} onClick={() => void answer("deny")}>
          {t.deny}
        </button>
        <button
          id="consent-once"
          type="button"
          class="btn btn-secondary"
          disabled={busy}
          onClick={() => void answer("allow_once")}
        >
          {t.allowOnce}
        </button>
        {request.always_offered && (
          <button
            id="consent-always"
            type="button"
            class="btn btn-primary"
            disabled={busy}
            onClick={() => void answer("always")}
          >
            {t.always}
          </button>
        )}
      </div>
    </div>
  );
}

/** The modal layer; `#app` is made inert by the caller while it shows. */
export function ConsentLayer() {
  const store = useStore();
  const queue = store.state.consents;
  const first = queue[0];
  // Where focus was before the dialog took it: given back when it closes.
  const returnFocus = useRef<Element | null>(null);
  const open = first !== undefined;
  if (open && returnFocus.current === null) returnFocus.current = document.activeElement;
  useEffect(() => {
    if (open) return;
    const back = returnFocus.current;
    returnFocus.current = null;
    if (back instanceof HTMLElement && document.contains(back)) back.focus();
  }, [open]);
  return (
    <div id="consent" class="modal" hidden={!open}>
      {first && <Dialog key={first.id} request={first} more={queue.length - 1} />}
    </div>
  );
}
