// Every sentence the window shows, in one place, so that a translation can be
// added later (a second object of the same shape), and the small functions
// that put numbers and names into them. Nothing here touches the DOM.

import type { ActivityEntry, ClientIdentity, HealthState, Reason, Revocation } from "./api";

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

/** "2 days", "5 h", "3 min": an age without "ago". */
export function duration(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  if (s < 90) return "a minute";
  if (s < 90 * 60) return `${Math.round(s / 60)} min`;
  if (s < 36 * 3600) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86400)} days`;
}

/** Seconds from now until Unix time `at` (negative: past). */
export function secondsUntil(at: number, nowMs = Date.now()): number {
  return at - nowMs / 1000;
}

/** A Unix time as the user's clock shows it: time only if today. */
export function clockTime(at: number, nowMs = Date.now()): string {
  const d = new Date(at * 1000);
  const today = new Date(nowMs);
  const sameDay =
    d.getFullYear() === today.getFullYear() && d.getMonth() === today.getMonth() && d.getDate() === today.getDate();
  return sameDay
    ? d.toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" })
    : d.toLocaleString([], { weekday: "short", day: "numeric", month: "short", hour: "2-digit", minute: "2-digit" });
}

/** "4:05" from seconds. */
export function minutesSeconds(secs: number): string {
  const s = Math.max(0, Math.floor(secs));
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, "0")}`;
}

/** The last part of a path: the name people know a program by. */
export function fileName(path: string): string {
  const parts = path.split("/");
  return parts[parts.length - 1] || path;
}

export function identityText(id: ClientIdentity): string {
  return id.script ? `${id.executable} ${id.script}` : id.executable;
}

/** Up to two letters for an avatar: "Stream Bot" → "SB", "streamer" → "ST". */
export function initials(name: string): string {
  const words = name
    .replace(/[^\p{L}\p{N}]+/gu, " ")
    .trim()
    .split(/\s+/)
    .filter((w) => w !== "");
  if (words.length === 0) return "?";
  const first = words[0] ?? "";
  const second = words[1];
  const letters = second ? first.charAt(0) + second.charAt(0) : first.slice(0, 2);
  return letters.toUpperCase();
}

export const text = {
  app: {
    title: "Castkey",
    subtitle: "Sign-in and broadcast tokens for your streaming apps",
    nav: "Castkey screens",
    loading: "Loading…",
    dismiss: "Dismiss",
    copy: "Copy",
    copied: "Copied",
    copyFailed: "Couldn't copy: select the text and copy it by hand.",
    somethingWrong: "Something went wrong.",
  },

  screens: {
    accounts: "Accounts",
    add: "Add account",
    apps: "Connected apps",
    activity: "Activity",
    settings: "Settings",
  },

  status: {
    checking: "Checking…",
    unavailable: "Status unavailable.",
    brokerDown: (why: string) => `Broadcasting apps can't connect: ${why}`,
    connectAt: "Broadcasting apps connect to ",
    version: (v: string) => `Castkey ${v}`,
  },

  readiness: {
    title: "Ready to go live",
    ready: (hours: number) => `Every account your apps use is good for at least the next ${hoursText(hours)}.`,
    notReadyTitle: "Not ready to go live",
    notReady: (hours: number) => `These accounts will need you within the next ${hoursText(hours)}:`,
    goodUntil: (at: number) => `good until ${clockTime(at)}`,
    usedBy: (names: string[]) => `used by ${names.join(", ")}`,
    activeAccount: "its service's active account",
    signInNow: "Sign in again now",
    signInNowLabel: (name: string) => `Sign in to ${name} again now`,
    checked: (at: number) => `Checked ${clockTime(at)}`,
  },

  accounts: {
    title: "Accounts",
    loadFailed: "Couldn't load the accounts.",
    emptyTitle: "No accounts yet",
    emptyBody:
      "Castkey signs you in to your streaming services once and hands fresh access tokens to your " +
      "broadcasting apps, bots and scripts, so none of them ever sees your password or refresh token.",
    emptyAction: "Add account",
    active: "Active",
    makeActive: "Make active",
    makeActiveLabel: (name: string, provider: string) => `Make ${name} (${provider}) the active account`,
    switching: "Switching…",
    signOut: "Sign out",
    signingOut: "Signing out…",
    signOutLabel: (name: string, provider: string) => `Sign out ${name} (${provider})`,
    confirmSignOut: (name: string, provider: string) =>
      `Sign out ${name} (${provider})?\n\n` +
      "Castkey will forget this account, and broadcasting apps will no longer get tokens for it.",
    signInAgain: "Sign in again",
    signInAgainLabel: (name: string, provider: string) => `Sign in to ${provider} again as ${name}`,
    scopes: "Scopes",
    accountsOf: (provider: string, n: number) => `${provider}: ${n === 1 ? "1 account" : `${n} accounts`}`,
    health: {
      signed_in: "Signed in",
      refreshing: "Refreshing",
      offline: "Offline",
      sign_in_again: "Sign in again",
    } satisfies Record<HealthState, string>,
    expiresIn: (secs: number) =>
      secs > 0 ? `Access token expires ${relative(secs)}` : "Access token expired",
    noTokenYet: "No access token yet",
    /** `ago`: seconds since (a clock a little ahead still says "just now"). */
    lastRefresh: (ago: number) => `last refresh ${relative(-Math.max(ago, 1))}`,
    refreshing: "Getting a new access token…",
    offline: (problem: string | undefined) =>
      problem ? `The provider can't be reached (${problem})` : "The provider can't be reached",
    cachedUntil: (at: number) => `cached token still valid until ${clockTime(at)}`,
    cachedExpired: "no valid cached token",
    retry: (secs: number) => (secs > 0 ? `next try ${relative(secs)}` : "trying again now"),
    grantAge: (secs: number) => `Refresh token ${duration(secs)} old`,
    grantEnds: (at: number) => `sign in again by ${clockTime(at)}`,
    reauth: "The provider no longer accepts this sign-in: sign in again.",
    signedOut: (name: string) => `Signed out of ${name}.`,
    revocation: {
      confirmed: "The provider confirmed that Castkey's access is revoked.",
      not_offered: "There was nothing to revoke at the provider.",
      not_confirmed:
        "The provider did not confirm the revocation, so the grant may stay valid there until it expires. " +
        "You can also revoke Castkey's access in your account settings at the provider.",
    } satisfies Record<Revocation, string>,
    revocationWhy: (message: string) => `(${message})`,
  },

  add: {
    title: "Add account",
    intro: "Choose a service. Castkey asks only for what that service needs.",
    services: "Services",
    noProviders: "No services are set up yet. Set one up below.",
    loadFailed: "Couldn't load the services.",
    signIn: "Sign in",
    signInLabel: (name: string) => `Sign in with ${name}`,
    signInAnother: "Sign in with another account",
    hasAccounts: (n: number) =>
      n === 1 ? "1 account — signing in again adds another" : `${n} accounts — signing in again adds another`,
    withCode: "Sign in with a code",
    withCodeLabel: (name: string) => `Sign in to ${name} with a code`,
    browserNote: "Signs in in your browser",
    serviceAccount: "Service account: client id and secret",
    apiKey: "API key",
    clientId: "Client id",
    clientSecret: "Client secret",
    environment: "Environment",
    add: "Add",
    addLabel: (name: string) => `Add a ${name} account`,
    remove: "Remove",
    removeLabel: (name: string) => `Remove ${name}`,
    confirmRemove: (name: string) => `Remove ${name} from Castkey?`,
    templates: "Set up another service",
    templatesIntro: "Services that need details from you (your own OAuth client, an endpoint) are set up once here.",
    templatesFailed: "Couldn't load the services you can set up.",
    setUp: "Set up",
    redirectToRegister: "Register this redirect URI for your OAuth client:",
    addService: "Add",
    addServiceLabel: (name: string) => `Add ${name}`,
    optional: (label: string) => `${label} (optional)`,
    added: (name: string) => `${name} was added: sign in below.`,
    accountAdded: (name: string) => `Added ${name}.`,
  },

  validation: {
    required: (label: string) => `${label} is required.`,
    notUrl: (label: string) => `${label}: enter a full address starting with https://`,
    plainHttp: (label: string, url: string) =>
      `The ${label.toLowerCase()} ${url} uses plain HTTP; only loopback addresses may (use https://).`,
    hours: "Enter a whole number of hours from 1 to 48.",
  },

  signIn: {
    titleWith: (name: string) => `Signing in to ${name}`,
    title: "Signing in",
    opening: "Opening your browser…",
    waiting: "Waiting for your browser…",
    waitingBody: "Finish signing in in the browser window that opened. Castkey comes back here when you're done.",
    noBrowser: "No browser opened? Copy this address into one:",
    urlLabel: "Sign-in address",
    timeLeft: (secs: number) => `Time left: ${minutesSeconds(secs)}`,
    cancel: "Cancel",
    tryAgain: "Try again",
    close: "Close",
    signedIn: (name: string) => `Signed in as ${name}.`,
    expired: "The sign-in took too long and was stopped. Try again.",
    failedTitle: {
      login_failed: "The provider refused the sign-in",
      provider_unavailable: "Couldn't reach the provider",
      keychain_unavailable: "The keychain is locked",
      other: "Signing in didn't work",
    },
    failedBody: {
      login_failed:
        "You may have denied access, or the provider refused Castkey's request. If it says the redirect " +
        "URI is not allowed, register this redirect URI for your OAuth client at the provider:",
      provider_unavailable: "Check your internet connection, or whether the service is down, and try again.",
      keychain_unavailable:
        "Castkey keeps refresh tokens in your keychain. Unlock it (Passwords and Keys, or your desktop's " +
        "keyring) and try again.",
      other: "",
    },
    redirectUri: "Redirect URI to register",
    providerSaid: (message: string) => `The provider said: ${message}`,
    details: (message: string) => `Details: ${message}`,
  },

  device: {
    title: (name: string) => `Sign in to ${name} with a code`,
    open: "On any device, open",
    enter: "and enter",
    scan: "or scan this code with your phone:",
    waiting: "Waiting for you to finish…",
    expiresIn: (secs: number) => `The code works for ${minutesSeconds(secs)} more.`,
    cancel: "Cancel",
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
    via: "Asked through",
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
    escapeHint: "Esc denies",
    waiting: (secs: number) =>
      secs > 0 ? `Waiting for your answer: ${minutesSeconds(secs)} left` : "The program stopped waiting.",
    more: (n: number) => (n === 1 ? "1 more program is waiting." : `${n} more programs are waiting.`),
    gone: "That program stopped waiting before you answered; it will ask again.",
  },

  apps: {
    title: "Connected apps",
    intro: "Programs you allowed always. Each gets tokens without asking, within the limits you set here.",
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
    title: "Activity",
    intro: "Which program got a token for which account, and who was refused. Token values are never kept.",
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

  settings: {
    title: "Settings",
    loadFailed: "Couldn't load the settings.",
    general: "Starting Castkey",
    startAtLogin: "Start Castkey when I log in",
    startInTray: "Start in the tray, without opening this window",
    trayHint: "Closing the window keeps Castkey running in the tray, so your apps keep getting tokens.",
    goLive: "Ready to go live",
    goLiveHours: "Warn me when an account will need me within",
    hours: "hours",
    goLiveHint: "An account is ready when it can serve tokens without you for at least this long (1 to 48 hours).",
    notifications: "Show notifications (an account needs me, a program asks while the window is closed)",
    saved: "Saved.",
    saving: "Saving…",
    apps: "Broadcasting apps",
    socket: "Apps connect to this socket",
    copySocket: "Copy the socket path",
    cli: "The castkey command",
    cliOnPath: "castkey is on your PATH: try castkey token in a terminal.",
    cliNotOnPath: "To use castkey in a terminal, link it into a folder on your PATH:",
    cliMissing: "This installation has no castkey command beside the app.",
    copyCommand: "Copy the command",
    linkCommand: (cli: string) => `ln -s '${cli}' ~/.local/bin/castkey`,
    installCli: "Put castkey in ~/.local/bin",
    installingCli: "Putting castkey in place…",
    cliInstalled: (path: string) => `castkey is now ${path}.`,
    cliDirNotOnPath: "Add ~/.local/bin to your PATH (most desktops do at the next login).",
    redirect: "Redirect URIs for your own OAuth clients",
    redirectHint:
      "Each service you set up has its own, shown in its form as you fill it in, so that one provider's " +
      "answer can never finish another's sign-in. Services set up before keep the one they registered.",
    configDir: "Accounts, connected apps and the activity log are kept in",
    diagnostics: "Diagnostics",
    diagnosticsHint:
      "A report to attach to a bug: versions, services (without secrets), accounts (without tokens) and " +
      "recent log lines with anything secret-looking removed.",
    export: "Export diagnostics",
    exporting: "Exporting…",
    exportedTo: "Saved to",
    copyReport: "Copy the report",
  },
};

function hoursText(hours: number): string {
  return hours === 1 ? "hour" : `${hours} hours`;
}

/** The sign-in failure texts for a reason. */
export function signInFailure(reason: Reason | undefined): { title: string; body: string } {
  const t = text.signIn;
  switch (reason) {
    case "login_failed":
    case "provider_unavailable":
    case "keychain_unavailable":
      return { title: t.failedTitle[reason], body: t.failedBody[reason] };
    default:
      return { title: t.failedTitle.other, body: t.failedBody.other };
  }
}

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
