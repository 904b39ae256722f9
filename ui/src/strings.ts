// Every sentence the accounts' health, the consent prompt, Connected apps and
// Activity show, in one place (and the small functions that put numbers and
// names into them). Nothing here touches the DOM.

import type { ActivityEntry, ClientIdentity, HealthState } from "./api";

/** "in 5 min", "2 h ago"… from a number of seconds (positive: future). */
export function relative(seconds: number): string {
  const future = seconds >= 0;
  const s = Math.abs(Math.round(seconds));
  let amount: string;
  if (s < 45) amount = future ? "less than a minute" : "just now";
  else if (s < 90 * 60) amount = `${Math.round(s / 60)} min`;
  else if (s < 36 * 3600) amount = `${Math.round(s / 3600)} h`;
  else amount = `${Math.round(s / 86400)} days`;
  if (amount === "just now") return amount;
  return future ? `in ${amount}` : `${amount} ago`;
}

/** Seconds from now until Unix time `at` (negative: past). */
export function secondsUntil(at: number, nowMs = Date.now()): number {
  return at - nowMs / 1000;
}

/** A Unix time as the user's clock shows it: time only if today. */
export function clockTime(at: number): string {
  const d = new Date(at * 1000);
  const today = new Date();
  const sameDay =
    d.getFullYear() === today.getFullYear() && d.getMonth() === today.getMonth() && d.getDate() === today.getDate();
  return sameDay ? d.toLocaleTimeString() : d.toLocaleString();
}

/** The last part of a path: the name people know a program by. */
export function fileName(path: string): string {
  const parts = path.split("/");
  return parts[parts.length - 1] || path;
}

export function identityText(id: ClientIdentity): string {
  return id.script ? `${id.executable} ${id.script}` : id.executable;
}

export const text = {
  accounts: {
    active: "Active",
    makeActive: "Make active",
    makeActiveLabel: (name: string, provider: string) => `Make ${name} (${provider}) the active account`,
    switching: "Switching…",
    health: {
      signed_in: "Signed in",
      offline: "Offline",
      sign_in_again: "Sign in again",
    } satisfies Record<HealthState, string>,
    expiresIn: (secs: number) =>
      secs > 0 ? `Access token expires ${relative(secs)}` : "Access token expired",
    noTokenYet: "No access token yet",
    lastRefresh: (secs: number) => `last refresh ${relative(secs)}`,
    retry: (secs: number) => (secs > 0 ? `retrying ${relative(secs)}` : "retrying now"),
    reauth: "The provider no longer accepts this sign-in: sign in again.",
  },

  consent: {
    title: "A program asks for access",
    intro: "A program on this computer wants tokens from Castkey. Allow it only if you started it.",
    claimedName: "Calls itself",
    claimedNote: "what it says about itself, not verified",
    noName: "(no name given)",
    executable: "Program",
    script: "Script",
    weakIdentity:
      "Identified by its interpreter and script path — a weaker identity: anything this interpreter runs " +
      "from that path counts as the same program.",
    pid: "Process id",
    account: "Account",
    activeAccount: "The active account",
    wants: "Wants",
    scopes: "Scopes",
    noScopes: "none",
    method: (method: string) =>
      method === "token"
        ? "an access token"
        : method === "accounts"
          ? "to list your accounts"
          : method === "subscribe"
            ? "to be told when accounts change"
            : `to call \`${method}\``,
    alwaysOptions: "If you allow it always",
    onlyScopes: (scopes: string[]) => `Only these scopes: ${scopes.join(", ")}`,
    bindTo: "Bind to account",
    followActive: "Follow the active account",
    allowOnce: "Allow once",
    always: "Always allow",
    deny: "Deny",
    waiting: (secs: number) =>
      secs > 0
        ? `Waiting for your answer: ${Math.floor(secs / 60)}:${String(Math.floor(secs % 60)).padStart(2, "0")} left`
        : "The program stopped waiting.",
    more: (n: number) => (n === 1 ? "1 more program is waiting." : `${n} more programs are waiting.`),
    gone: "That program stopped waiting before you answered; it will ask again.",
  },

  apps: {
    empty: "No connected apps. Programs you allow always appear here.",
    loadFailed: "Couldn't load the connected apps.",
    allowedAt: (at: number) => `Allowed ${clockTime(at)}`,
    scopes: "Scopes",
    scopesHint: "space-separated; empty: any scope the account holds",
    anyScope: "any scope",
    account: "Account",
    followActive: "Follow the active account",
    missingAccount: (id: string) => `${id} (no longer signed in)`,
    save: "Save",
    saved: "Saved.",
    revoke: "Revoke",
    revokeLabel: (name: string) => `Revoke ${name}`,
    confirmRevoke: (name: string) =>
      `Revoke ${name}?\n\nIt will get no more tokens; the next time it asks, Castkey asks you again.`,
  },

  activity: {
    empty: "No activity yet.",
    noMatch: "No activity matches.",
    loadFailed: "Couldn't load the activity.",
    filterClient: "App",
    filterClientPlaceholder: "name or path",
    filterAccount: "Account",
    allAccounts: "All accounts",
    refresh: "Refresh",
    columns: ["Time", "App", "Account", "Scopes", "Outcome"],
    none: "—",
    count: (n: number) => `×${n}`,
  },
};

/** An activity entry's outcome for people (the reason code is kept beside it). */
export function outcomeText(outcome: string): string {
  const known: Record<string, string> = {
    served: "Served",
    consent_denied: "Denied",
    consent_timeout: "Not answered",
    client_not_allowed: "Not allowed",
    scope_not_allowed: "Scope not allowed",
    scope_not_granted: "Scope not granted",
    not_signed_in: "Not signed in",
    unknown_account: "Unknown account",
    reauth_required: "Sign in again",
    provider_unavailable: "Provider unavailable",
    keychain_unavailable: "Keychain unavailable",
  };
  return known[outcome] ?? outcome;
}

/** Who an activity entry is about: its claimed name, else the file name. */
export function entryClient(e: ActivityEntry): string {
  return e.client_name ?? fileName(e.client.script ?? e.client.executable);
}
