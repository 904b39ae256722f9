// The only module that talks to the Rust side (src-tauri). Everything else in
// the window goes through these typed wrappers; the types, each command's args
// struct and the command and event names are generated from crates/castkey-ipc
// (see src/bindings/). A command with args takes one args struct, sent as
// `invoke(name, { args })` (every command's parameter is named `args`).
//
// Every promise returned here rejects with a `CommandError`: the shell's own
// errors pass through unchanged, anything else (no backend, a capability that
// refuses the command, a malformed answer) becomes reason "internal".

import { invoke, type InvokeArgs } from "@tauri-apps/api/core";
import { listen, type UnlistenFn } from "@tauri-apps/api/event";
import type { AccountInfo } from "./bindings/AccountInfo";
import type { CliInstalled } from "./bindings/CliInstalled";
import type { SignedOut } from "./bindings/SignedOut";
import type { AddProvider } from "./bindings/AddProvider";
import type { DeviceSignIn } from "./bindings/DeviceSignIn";
import type { FieldKind } from "./bindings/FieldKind";
import type { ProviderTemplate } from "./bindings/ProviderTemplate";
import type { TemplateField } from "./bindings/TemplateField";
import type { AccountStatus } from "./bindings/AccountStatus";
import type { AppStatus } from "./bindings/AppStatus";
import type { CommandError } from "./bindings/CommandError";
import type { ProviderInfo } from "./bindings/ProviderInfo";
import type { Reason } from "./bindings/Reason";
import type { SignInFailed } from "./bindings/SignInFailed";
import type { SignInStarted } from "./bindings/SignInStarted";
import type { SignInArgs } from "./bindings/SignInArgs";
import type { SignInWithCodeArgs } from "./bindings/SignInWithCodeArgs";
import type { CancelSignInWithCodeArgs } from "./bindings/CancelSignInWithCodeArgs";
import type { AddServiceAccountArgs } from "./bindings/AddServiceAccountArgs";
import type { AddApiKeyAccountArgs } from "./bindings/AddApiKeyAccountArgs";
import type { SignOutArgs } from "./bindings/SignOutArgs";
import type { RemoveProviderArgs } from "./bindings/RemoveProviderArgs";
import type { RedirectUriArgs } from "./bindings/RedirectUriArgs";
import type { SwitchAccountArgs } from "./bindings/SwitchAccountArgs";
import type { AccountHealth } from "./bindings/AccountHealth";
import type { HealthState } from "./bindings/HealthState";
import type { ConsentRequest } from "./bindings/ConsentRequest";
import type { ConsentDecision } from "./bindings/ConsentDecision";
import type { AnswerConsentArgs } from "./bindings/AnswerConsentArgs";
import type { AccountRef } from "./bindings/AccountRef";
import type { ClientIdentity } from "./bindings/ClientIdentity";
import type { ClientApproval } from "./bindings/ClientApproval";
import type { AllowAppParams } from "./bindings/AllowAppParams";
import type { RevokeAppArgs } from "./bindings/RevokeAppArgs";
import type { ActivityEntry } from "./bindings/ActivityEntry";
import type { ActivityParams } from "./bindings/ActivityParams";
import type { CancelSignInArgs } from "./bindings/CancelSignInArgs";
import type { DesktopSettings } from "./bindings/DesktopSettings";
import type { Readiness } from "./bindings/Readiness";
import type { AccountReadiness } from "./bindings/AccountReadiness";
import type { Diagnostics } from "./bindings/Diagnostics";
import type { Revocation } from "./bindings/Revocation";
import { commands, events, type CommandName, type EventName } from "./bindings/names";

export type {
  AddProvider,
  DeviceSignIn,
  FieldKind,
  ProviderTemplate,
  TemplateField,
  AccountInfo,
  AccountStatus,
  AppStatus,
  CommandError,
  ProviderInfo,
  Reason,
  SignInFailed,
  SignInStarted,
  SignInArgs,
  SignInWithCodeArgs,
  CancelSignInWithCodeArgs,
  AddServiceAccountArgs,
  AddApiKeyAccountArgs,
  SignOutArgs,
  RemoveProviderArgs,
  SwitchAccountArgs,
  AccountHealth,
  HealthState,
  ConsentRequest,
  ConsentDecision,
  AnswerConsentArgs,
  AccountRef,
  ClientIdentity,
  ClientApproval,
  AllowAppParams,
  RevokeAppArgs,
  ActivityEntry,
  ActivityParams,
  CancelSignInArgs,
  DesktopSettings,
  Readiness,
  AccountReadiness,
  Diagnostics,
  Revocation,
  SignedOut,
  UnlistenFn,
};

/** The window's tabs, as the tray's `show-screen` event names them. */
export const SCREENS = ["accounts", "add", "apps", "activity", "settings"] as const;
export type Screen = (typeof SCREENS)[number];

export function isScreen(value: unknown): value is Screen {
  return typeof value === "string" && (SCREENS as readonly string[]).includes(value);
}

/** Shown when the window runs outside Castkey (no Tauri IPC). */
export const BACKEND_UNREACHABLE = "Castkey's backend is not reachable.";

export function isCommandError(e: unknown): e is CommandError {
  return (
    typeof e === "object" &&
    e !== null &&
    typeof (e as { reason?: unknown }).reason === "string" &&
    typeof (e as { message?: unknown }).message === "string"
  );
}

/** A sentence for the user, whatever was thrown. */
export function errorMessage(e: unknown): string {
  if (isCommandError(e)) return e.message;
  if (e instanceof Error) return e.message;
  if (typeof e === "string" && e !== "") return e;
  return "Something went wrong.";
}

function backendPresent(): boolean {
  return typeof window !== "undefined" && "__TAURI_INTERNALS__" in window;
}

function toCommandError(e: unknown): CommandError {
  if (isCommandError(e)) return { reason: e.reason, message: e.message };
  if (!backendPresent()) return { reason: "internal", message: BACKEND_UNREACHABLE };
  return { reason: "internal", message: errorMessage(e) };
}

/** Invokes `command` with its one args struct, if it takes one. */
async function call<T>(command: CommandName, args?: object): Promise<T> {
  const payload: InvokeArgs | undefined = args === undefined ? undefined : { args };
  try {
    return await invoke<T>(command, payload);
  } catch (e) {
    throw toCommandError(e);
  }
}

async function subscribe<T>(event: EventName, handler: (payload: T) => void): Promise<UnlistenFn> {
  try {
    return await listen<T>(event, (ev) => handler(ev.payload));
  } catch (e) {
    throw toCommandError(e);
  }
}

/** The providers an account can be added for. */
export function listProviders(): Promise<ProviderInfo[]> {
  return call<ProviderInfo[]>(commands.listProviders);
}

/** Every account Castkey holds (no secrets). */
export function listAccounts(): Promise<AccountInfo[]> {
  return call<AccountInfo[]>(commands.listAccounts);
}

/**
 * Opens the system browser to sign in with `provider` (a provider id). Resolves
 * once the browser is open; the outcome arrives as `accounts-changed` or
 * `sign-in-failed`.
 */
export function signIn(args: SignInArgs): Promise<SignInStarted> {
  return call<SignInStarted>(commands.signIn, args);
}

/**
 * Sign-in with a code (RFC 8628): resolves with the code and the URL to show;
 * the outcome arrives as `signed-in` or `sign-in-failed`.
 */
export function signInWithCode(args: SignInWithCodeArgs): Promise<DeviceSignIn> {
  return call<DeviceSignIn>(commands.signInWithCode, args);
}

/** Stops waiting for `provider`'s sign-in with a code (the user closed it). */
export function cancelSignInWithCode(args: CancelSignInWithCodeArgs): Promise<void> {
  return call<void>(commands.cancelSignInWithCode, args);
}

/** Adds a service account (client credentials). The secret is sent once;
 *  no command ever returns it. */
export function addServiceAccount(args: AddServiceAccountArgs): Promise<AccountInfo> {
  return call<AccountInfo>(commands.addServiceAccount, args);
}

/** Adds an API-key account (api.video) in `environment`. The key is sent
 *  once; no command ever returns it. */
export function addApiKeyAccount(args: AddApiKeyAccountArgs): Promise<AccountInfo> {
  return call<AccountInfo>(commands.addApiKeyAccount, args);
}

/** Forgets an account and its grant; answers whether the provider
 *  confirmed the revocation (RFC 7009). */
export function signOut(args: SignOutArgs): Promise<SignedOut> {
  return call<SignedOut>(commands.signOut, args);
}

/** The kinds of service a user can add (IBM Video Streaming, VidiFlow, …). */
export function listProviderTemplates(): Promise<ProviderTemplate[]> {
  return call<ProviderTemplate[]>(commands.listProviderTemplates);
}

/** Adds a provider from a filled-in template. A client secret among the
 *  values is sent once; no command ever returns it. */
export function addProvider(args: AddProvider): Promise<ProviderInfo> {
  return call<ProviderInfo>(commands.addProvider, args);
}

/** The redirect URI the provider a form describes will send, while the
 *  form is being filled in (`null` until it can be known). Each provider the
 *  user adds has its own (RFC 9700 §4.4.2). Never send secret fields here. */
export function redirectUriToRegister(args: RedirectUriArgs): Promise<string | null> {
  return call<string | null>(commands.redirectUriToRegister, args);
}

/** Removes a provider the user added (it must have no accounts). */
export function removeProvider(args: RemoveProviderArgs): Promise<void> {
  return call<void>(commands.removeProvider, args);
}

export function appStatus(): Promise<AppStatus> {
  return call<AppStatus>(commands.appStatus);
}

/** Makes an account its provider's active one; programs that follow the
 *  active account get it from their next request. */
export function switchAccount(args: SwitchAccountArgs): Promise<AccountInfo> {
  return call<AccountInfo>(commands.switchAccount, args);
}

/** Every account's token health: state, expiry, last refresh (no token). */
export function accountHealth(): Promise<AccountHealth[]> {
  return call<AccountHealth[]>(commands.accountHealth);
}

/** The consent prompts waiting for an answer, oldest first. */
export function pendingConsents(): Promise<ConsentRequest[]> {
  return call<ConsentRequest[]>(commands.pendingConsents);
}

/** Answers a consent prompt: allow once, always (with a scope policy and
 *  binding) or deny. */
export function answerConsent(args: AnswerConsentArgs): Promise<void> {
  return call<void>(commands.answerConsent, args);
}

/** Connected apps: the programs allowed always. */
export function listApps(): Promise<ClientApproval[]> {
  return call<ClientApproval[]>(commands.listApps);
}

/** Changes a connected app's scope policy or account binding. */
export function updateApp(args: AllowAppParams): Promise<ClientApproval> {
  return call<ClientApproval>(commands.updateApp, args);
}

/** Forgets a connected app; resolves whether it was one. */
export function revokeApp(args: RevokeAppArgs): Promise<boolean> {
  return call<boolean>(commands.revokeApp, args);
}

/** The activity log, newest last (who got a token, who was refused). */
export function activity(args: ActivityParams): Promise<ActivityEntry[]> {
  return call<ActivityEntry[]>(commands.activity, args);
}

/** Stops waiting for the browser sign-in with `provider`; resolves whether
 *  one was waiting (a later redirect for it is refused). */
export function cancelSignIn(args: CancelSignInArgs): Promise<boolean> {
  return call<boolean>(commands.cancelSignIn, args);
}

/** The desktop app's settings (start at login, tray, go-live horizon, notifications). */
export function settings(): Promise<DesktopSettings> {
  return call<DesktopSettings>(commands.settings);
}

/** Saves the settings; resolves with what was saved (the horizon clamped to 1–48). */
export function updateSettings(args: DesktopSettings): Promise<DesktopSettings> {
  return call<DesktopSettings>(commands.updateSettings, args);
}

/** Is every account broadcasting apps use good for the next few hours? */
export function goLiveReadiness(): Promise<Readiness> {
  return call<Readiness>(commands.goLiveReadiness);
}

/** Writes a diagnostics report (no secrets) to a file; resolves with its path and text. */
export function exportDiagnostics(): Promise<Diagnostics> {
  return call<Diagnostics>(commands.exportDiagnostics);
}

/** Puts the `castkey` command installed with the app in ~/.local/bin. */
export function installCli(): Promise<CliInstalled> {
  return call<CliInstalled>(commands.installCli);
}

/** The accounts changed (added, signed out, needing a new sign-in…): reload them. */
export function onAccountsChanged(cb: () => void): Promise<UnlistenFn> {
  return subscribe<unknown>(events.accountsChanged, () => cb());
}

/** A provider was added or removed, or Castkey learned more about one: reload them. */
export function onProvidersChanged(cb: () => void): Promise<UnlistenFn> {
  return subscribe<unknown>(events.providersChanged, () => cb());
}

/** A sign-in finished: the account that signed in. */
export function onSignedIn(cb: (account: AccountInfo) => void): Promise<UnlistenFn> {
  return subscribe<AccountInfo>(events.signedIn, cb);
}

/** A browser sign-in did not complete. */
export function onSignInFailed(cb: (e: SignInFailed) => void): Promise<UnlistenFn> {
  return subscribe<SignInFailed>(events.signInFailed, cb);
}

/** A local program waits for the user's consent. */
export function onConsentRequested(cb: (request: ConsentRequest) => void): Promise<UnlistenFn> {
  return subscribe<ConsentRequest>(events.consentRequested, cb);
}

/** A consent prompt was answered or timed out: its id. */
export function onConsentSettled(cb: (id: number) => void): Promise<UnlistenFn> {
  return subscribe<number>(events.consentSettled, cb);
}

/** An app was allowed, changed or revoked: reload Connected apps. */
export function onClientsChanged(cb: () => void): Promise<UnlistenFn> {
  return subscribe<unknown>(events.clientsChanged, () => cb());
}

/** A token was refreshed or an account needs a new sign-in: reload the health. */
export function onHealthChanged(cb: () => void): Promise<UnlistenFn> {
  return subscribe<unknown>(events.healthChanged, () => cb());
}

/** The settings changed (here or from the tray): the new settings. */
export function onSettingsChanged(cb: (settings: DesktopSettings) => void): Promise<UnlistenFn> {
  return subscribe<DesktopSettings>(events.settingsChanged, cb);
}

/** The tray asks for a tab; unknown names are ignored. */
export function onShowScreen(cb: (screen: Screen) => void): Promise<UnlistenFn> {
  return subscribe<unknown>(events.showScreen, (payload) => {
    if (isScreen(payload)) cb(payload);
  });
}
