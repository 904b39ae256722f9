// Accounts: grouped by service, each with its avatar, name, email, the
// Active badge, token health and actions (make active, sign in again, sign
// out). With none: what Castkey does, and "Add account".

import type { AccountHealth, AccountInfo } from "../api";
import { Avatar, Placeholder, ScopeChips, useNow, useStore } from "../components/common";
import { secondsUntil, text } from "../strings";

const t = text.accounts;

/** How often the "in 5 min" of the health lines are recomputed. */
const TICK_MS = 15_000;

export interface HealthView {
  badge: string;
  tone: "ok" | "busy" | "warn" | "bad";
  /** The access token's line: state, expiry, last refresh. */
  line: string;
  /** The grant's line: its age and when the user must sign in again. */
  grant: string;
  reauth: boolean;
}

/** What an account's card says about its tokens (from `account_health`,
 *  else from the account's own status until that arrives). */
export function healthView(account: AccountInfo, health: AccountHealth | undefined, nowMs: number): HealthView {
  if (!health) {
    const reauth = account.status === "reauth_required";
    return {
      badge: reauth ? t.health.sign_in_again : t.health.signed_in,
      tone: reauth ? "bad" : "ok",
      line: reauth ? t.reauth : "",
      grant: "",
      reauth,
    };
  }
  const parts: string[] = [];
  const until = (at: number) => secondsUntil(at, nowMs);
  if (health.state === "sign_in_again") {
    parts.push(t.reauth);
  } else {
    if (health.state === "offline") {
      parts.push(t.offline(health.problem));
      if (health.access_expires_at !== undefined && until(health.access_expires_at) > 0) {
        parts.push(t.cachedUntil(health.access_expires_at));
      } else {
        parts.push(t.cachedExpired);
      }
      if (health.retry_at !== undefined) parts.push(t.retry(until(health.retry_at)));
    } else {
      if (health.state === "refreshing") parts.push(t.refreshing);
      parts.push(health.access_expires_at !== undefined ? t.expiresIn(until(health.access_expires_at)) : t.noTokenYet);
    }
    if (health.last_refresh_at !== undefined) parts.push(t.lastRefresh(-until(health.last_refresh_at)));
  }
  const grant: string[] = [];
  if (health.grant_stored_at !== undefined) grant.push(t.grantAge(-until(health.grant_stored_at)));
  if (health.grant_expires_at !== undefined) grant.push(t.grantEnds(health.grant_expires_at));
  const tone = { signed_in: "ok", refreshing: "busy", offline: "warn", sign_in_again: "bad" } as const;
  return {
    badge: t.health[health.state],
    tone: tone[health.state],
    line: parts.join(" · "),
    grant: grant.join(" · "),
    reauth: health.state === "sign_in_again",
  };
}

function AccountCard(props: { account: AccountInfo; provider: string; browser: boolean; nowMs: number }) {
  const store = useStore();
  const { account, provider } = props;
  const view = healthView(account, store.state.health.get(account.id), props.nowMs);
  const signingOut = store.state.signingOut.has(account.id);
  const switching = store.state.switching.has(account.id);
  const signOut = () => {
    if (!window.confirm(t.confirmSignOut(account.display_name, provider))) return;
    void store.signOut(account);
  };
  return (
    <li class={view.reauth ? "card account account-reauth" : "card account"} data-account-id={account.id}>
      <Avatar name={account.display_name} />
      <div class="card-main">
        <div class="account-title">
          <span class="account-name">{account.display_name}</span>
          {account.active && <span class="badge badge-active">{t.active}</span>}
          <span class={`badge badge-${view.tone} health-badge`}>{view.badge}</span>
        </div>
        <p class="account-meta">
          {account.email && <span class="account-email">{account.email}</span>}
          <span class="account-provider">{provider}</span>
        </p>
        {account.scopes.length > 0 && <ScopeChips scopes={account.scopes} label={t.scopes} />}
        <p class={view.tone === "ok" ? "account-health" : "account-health account-health-warn"} aria-live="polite">
          {view.line}
        </p>
        <p class="account-grant">{view.grant}</p>
      </div>
      {/* Sign out comes first: a card's first button is Sign out on every card. */}
      <div class="card-side">
        <button
          type="button"
          class="btn btn-secondary"
          data-sign-out={account.id}
          aria-label={t.signOutLabel(account.display_name, provider)}
          disabled={signingOut}
          onClick={signOut}
        >
          {signingOut ? t.signingOut : t.signOut}
        </button>
        {view.reauth && props.browser && (
          <button
            type="button"
            class="btn btn-primary"
            data-reauth={account.id}
            aria-label={t.signInAgainLabel(account.display_name, provider)}
            onClick={() => void store.startSignIn(account.provider)}
          >
            {t.signInAgain}
          </button>
        )}
        {!account.active && (
          <button
            type="button"
            class="btn btn-primary"
            data-make-active={account.id}
            aria-label={t.makeActiveLabel(account.display_name, provider)}
            disabled={switching}
            onClick={() => void store.makeActive(account)}
          >
            {switching ? t.switching : t.makeActive}
          </button>
        )}
      </div>
    </li>
  );
}

export function AccountsScreen() {
  const store = useStore();
  const nowMs = useNow(TICK_MS);
  const loaded = store.state.accounts;
  let body;
  if (loaded.state === "loading") {
    body = <Placeholder>{text.app.loading}</Placeholder>;
  } else if (loaded.state === "failed") {
    body = <Placeholder failed>{t.loadFailed}</Placeholder>;
  } else if (loaded.value.length === 0) {
    body = (
      <div class="empty" id="accounts-empty">
        <h3 class="empty-title">{t.emptyTitle}</h3>
        <p class="empty-body">{t.emptyBody}</p>
        <button type="button" class="btn btn-primary" id="empty-add" onClick={() => store.showScreen("add")}>
          {t.emptyAction}
        </button>
      </div>
    );
  } else {
    // Grouped by service, in the order the services are listed.
    const order = store.providers().map((p) => p.id);
    const groups = new Map<string, AccountInfo[]>();
    for (const a of loaded.value) groups.set(a.provider, [...(groups.get(a.provider) ?? []), a]);
    const ids = [...groups.keys()].sort((a, b) => rank(order, a) - rank(order, b));
    body = ids.map((id) => {
      const name = store.providerName(id);
      const accounts = groups.get(id) ?? [];
      const browser = store.provider(id)?.sign_in === "browser";
      return (
        <section key={id} class="service-group" data-group-provider={id} aria-label={t.accountsOf(name, accounts.length)}>
          <h3 class="service-heading">
            <Avatar name={name} kind="service" />
            <span>{name}</span>
          </h3>
          <ul class="list">
            {accounts.map((a) => (
              <AccountCard key={a.id} account={a} provider={name} browser={browser} nowMs={nowMs} />
            ))}
          </ul>
        </section>
      );
    });
  }
  return (
    <>
      <h2 id="accounts-title" class="screen-title">
        {t.title}
      </h2>
      <div id="accounts" aria-busy={loaded.state === "loading" ? "true" : "false"}>
        {body}
      </div>
    </>
  );
}

function rank(order: string[], id: string): number {
  const i = order.indexOf(id);
  return i < 0 ? order.length : i;
}
