// The window's state and what changes it: what was loaded through api.ts,
// the tab on screen, the sign-in in progress, the consent prompts waiting,
// the banners. Components read `store.state` and call the store's methods;
// every change re-renders the tree (`useStore`). Nothing here touches the DOM.

import * as api from "./api";
import type {
  AccountHealth,
  AccountInfo,
  AppStatus,
  ClientApproval,
  ConsentRequest,
  DesktopSettings,
  DeviceSignIn,
  ProviderInfo,
  ProviderTemplate,
  Readiness,
  Screen,
  SignInFailed,
  SignInStarted,
  UnlistenFn,
} from "./api";
import { text } from "./strings";

export type Loaded<T> = { state: "loading" } | { state: "ready"; value: T } | { state: "failed" };

/** A sign-in the window started (or heard about failing). */
export interface SignIn {
  /** Provider id; "" when a failure came for a sign-in started elsewhere. */
  provider: string;
  mode: "browser" | "code";
  phase: "opening" | "waiting" | "failed" | "expired";
  started?: SignInStarted;
  device?: DeviceSignIn;
  failure?: SignInFailed;
}

export interface Notice {
  text: string;
  /** A warning is kept until dismissed; information too, but looks calmer. */
  kind: "info" | "warn";
}

export interface State {
  screen: Screen;
  providers: Loaded<ProviderInfo[]>;
  templates: Loaded<ProviderTemplate[]>;
  accounts: Loaded<AccountInfo[]>;
  /** Token health by account id. */
  health: Map<string, AccountHealth>;
  status: Loaded<AppStatus>;
  apps: Loaded<ClientApproval[]>;
  settings: Loaded<DesktopSettings>;
  /** `undefined` until the first answer (and while the shell cannot say). */
  readiness: Readiness | undefined;
  signIn: SignIn | undefined;
  /** Consent prompts waiting, oldest first. */
  consents: ConsentRequest[];
  /** Accounts being signed out / made active, by id. */
  signingOut: Set<string>;
  switching: Set<string>;
  error: string | undefined;
  notice: Notice | undefined;
  /** Bumped when the activity log may have grown: Activity reloads. */
  activityVersion: number;
}

export function initialState(): State {
  return {
    screen: "accounts",
    providers: { state: "loading" },
    templates: { state: "loading" },
    accounts: { state: "loading" },
    health: new Map(),
    status: { state: "loading" },
    apps: { state: "loading" },
    settings: { state: "loading" },
    readiness: undefined,
    signIn: undefined,
    consents: [],
    signingOut: new Set(),
    switching: new Set(),
    error: undefined,
    notice: undefined,
    activityVersion: 0,
  };
}

/** How often health and readiness are reloaded without an event. */
export const RELOAD_MS = 60_000;

function same(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export class Store {
  state: State = initialState();
  private listeners = new Set<() => void>();
  private unlisten: UnlistenFn[] = [];
  private timers: ReturnType<typeof setInterval>[] = [];
  private expiry: ReturnType<typeof setTimeout> | undefined;
  private loads = { accounts: 0, health: 0, apps: 0, readiness: 0 };

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private set(patch: Partial<State>): void {
    this.state = { ...this.state, ...patch };
    for (const l of this.listeners) l();
  }

  // ------------------------------------------------------------ start, stop

  /** Subscribes to the shell's events and loads everything once. */
  async start(): Promise<void> {
    void this.loadProviders();
    void this.loadTemplates();
    void this.loadAccounts();
    void this.loadStatus();
    void this.loadApps();
    void this.loadSettings();
    void this.loadReadiness();
    this.timers.push(
      setInterval(() => {
        void this.loadHealth();
        void this.loadReadiness();
      }, RELOAD_MS),
    );
    try {
      this.unlisten.push(
        await api.onAccountsChanged(() => {
          void this.loadAccounts();
          void this.loadReadiness();
        }),
        await api.onProvidersChanged(() => void this.loadProviders()),
        await api.onSignedIn((account) => this.signedIn(account)),
        await api.onSignInFailed((failed) => this.signInFailed(failed)),
        await api.onHealthChanged(() => {
          void this.loadHealth();
          void this.loadReadiness();
        }),
        await api.onSettingsChanged((settings) => {
          this.set({ settings: { state: "ready", value: settings } });
          void this.loadReadiness();
        }),
        await api.onShowScreen((screen) => this.showScreen(screen)),
        await api.onConsentRequested((request) => this.enqueueConsent(request)),
        await api.onConsentSettled((id) => {
          this.settleConsent(id);
          this.activityChanged();
        }),
        await api.onClientsChanged(() => {
          void this.loadApps();
          void this.loadReadiness();
          this.activityChanged();
        }),
      );
    } catch (e) {
      this.reportError(e);
    }
    // After subscribing: a prompt that opened meanwhile arrives either way.
    try {
      for (const request of await api.pendingConsents()) this.enqueueConsent(request);
    } catch (e) {
      this.reportError(e);
    }
  }

  stop(): void {
    for (const u of this.unlisten) u();
    this.unlisten = [];
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    clearTimeout(this.expiry);
  }

  // ------------------------------------------------------------ banners, tabs

  showScreen(screen: Screen): void {
    if (this.state.screen !== screen) this.set({ screen });
  }

  showError(message: string): void {
    this.set({ error: message });
  }

  reportError = (e: unknown): void => {
    this.showError(api.errorMessage(e));
  };

  hideError = (): void => {
    if (this.state.error !== undefined) this.set({ error: undefined });
  };

  notify(notice: Notice | undefined): void {
    this.set({ notice });
  }

  activityChanged(): void {
    this.set({ activityVersion: this.state.activityVersion + 1 });
  }

  // ------------------------------------------------------------ lookups

  accounts(): AccountInfo[] {
    return this.state.accounts.state === "ready" ? this.state.accounts.value : [];
  }

  providers(): ProviderInfo[] {
    return this.state.providers.state === "ready" ? this.state.providers.value : [];
  }

  provider(id: string): ProviderInfo | undefined {
    return this.providers().find((p) => p.id === id);
  }

  providerName = (id: string): string => this.provider(id)?.display_name ?? id;

  // ------------------------------------------------------------ loading

  async loadAccounts(): Promise<void> {
    const mine = ++this.loads.accounts;
    try {
      const value = await api.listAccounts();
      if (mine !== this.loads.accounts) return;
      this.set({ accounts: { state: "ready", value } });
    } catch (e) {
      if (mine !== this.loads.accounts) return;
      // Keep showing what we had; only an empty window says "failed".
      if (this.state.accounts.state !== "ready") this.set({ accounts: { state: "failed" } });
      this.reportError(e);
    }
    void this.loadHealth();
  }

  async loadHealth(): Promise<void> {
    const mine = ++this.loads.health;
    try {
      const health = await api.accountHealth();
      if (mine !== this.loads.health) return;
      this.set({ health: new Map(health.map((entry) => [entry.account.id, entry])) });
    } catch (e) {
      if (mine !== this.loads.health) return;
      // The cards keep showing the accounts' own status.
      this.reportError(e);
    }
  }

  async loadProviders(): Promise<void> {
    try {
      const value = await api.listProviders();
      const before = this.state.providers;
      if (before.state === "ready" && same(before.value, value)) return;
      this.set({ providers: { state: "ready", value } });
    } catch (e) {
      if (this.state.providers.state !== "ready") this.set({ providers: { state: "failed" } });
      this.reportError(e);
    }
  }

  async loadTemplates(): Promise<void> {
    try {
      this.set({ templates: { state: "ready", value: await api.listProviderTemplates() } });
    } catch (e) {
      if (this.state.templates.state !== "ready") this.set({ templates: { state: "failed" } });
      this.reportError(e);
    }
  }

  async loadStatus(): Promise<void> {
    try {
      this.set({ status: { state: "ready", value: await api.appStatus() } });
    } catch (e) {
      if (this.state.status.state !== "ready") this.set({ status: { state: "failed" } });
      this.reportError(e);
    }
  }

  async loadApps(): Promise<void> {
    const mine = ++this.loads.apps;
    try {
      const value = await api.listApps();
      if (mine !== this.loads.apps) return;
      const before = this.state.apps;
      // Unchanged: no redraw under what the user is typing.
      if (before.state === "ready" && same(before.value, value)) return;
      this.set({ apps: { state: "ready", value } });
    } catch (e) {
      if (mine !== this.loads.apps) return;
      if (this.state.apps.state !== "ready") this.set({ apps: { state: "failed" } });
      this.reportError(e);
    }
  }

  async loadSettings(): Promise<void> {
    try {
      this.set({ settings: { state: "ready", value: await api.settings() } });
    } catch (e) {
      if (this.state.settings.state !== "ready") this.set({ settings: { state: "failed" } });
      this.reportError(e);
    }
  }

  /** The readiness summary; a shell that cannot say leaves it out quietly. */
  async loadReadiness(): Promise<void> {
    const mine = ++this.loads.readiness;
    try {
      const value = await api.goLiveReadiness();
      if (mine !== this.loads.readiness) return;
      this.set({ readiness: value });
    } catch {
      if (mine !== this.loads.readiness) return;
      this.set({ readiness: undefined });
    }
  }

  // ------------------------------------------------------------ settings

  /** Saves `settings`; resolves with what the shell kept. */
  async saveSettings(settings: DesktopSettings): Promise<DesktopSettings> {
    const saved = await api.updateSettings(settings);
    this.set({ settings: { state: "ready", value: saved } });
    void this.loadReadiness();
    return saved;
  }

  // ------------------------------------------------------------ accounts

  async makeActive(account: AccountInfo): Promise<void> {
    this.hideError();
    this.set({ switching: new Set(this.state.switching).add(account.id) });
    try {
      await api.switchAccount({ account_id: account.id });
    } catch (e) {
      this.reportError(e);
    } finally {
      const switching = new Set(this.state.switching);
      switching.delete(account.id);
      this.set({ switching });
    }
    await this.loadAccounts();
    void this.loadReadiness();
  }

  /** Signs out (after the user confirmed) and says what the provider did. */
  async signOut(account: AccountInfo): Promise<void> {
    this.hideError();
    this.set({ signingOut: new Set(this.state.signingOut).add(account.id), notice: undefined });
    try {
      const done = await api.signOut({ account_id: account.id });
      const t = text.accounts;
      const why = done.message ? ` ${t.revocationWhy(done.message)}` : "";
      this.notify({
        text: `${t.signedOut(account.display_name)} ${t.revocation[done.revocation]}${why}`,
        kind: done.revocation === "not_confirmed" ? "warn" : "info",
      });
    } catch (e) {
      this.reportError(e);
    } finally {
      const signingOut = new Set(this.state.signingOut);
      signingOut.delete(account.id);
      this.set({ signingOut });
    }
    await this.loadAccounts();
    void this.loadReadiness();
  }

  // ------------------------------------------------------------ sign-in

  /** Opens the browser to sign in with `provider`; the progress panel follows it. */
  async startSignIn(provider: string): Promise<void> {
    const current = this.state.signIn;
    if (current && current.provider === provider && (current.phase === "opening" || current.phase === "waiting")) {
      return;
    }
    this.hideError();
    this.clearExpiry();
    const attempt: SignIn = { provider, mode: "browser", phase: "opening" };
    this.set({ signIn: attempt });
    let started: SignInStarted;
    try {
      started = await api.signIn({ provider });
    } catch (e) {
      if (this.state.signIn === attempt) this.set({ signIn: undefined });
      this.reportError(e);
      return;
    }
    // The outcome may already have arrived (signed-in / sign-in-failed).
    if (this.state.signIn !== attempt) return;
    this.set({ signIn: { ...attempt, phase: "waiting", started } });
    this.expireAt(started.expires_at);
  }

  /** Sign-in with a code: shows the code, the URL and the QR code. */
  async startDeviceSignIn(provider: string): Promise<void> {
    this.hideError();
    this.clearExpiry();
    let device: DeviceSignIn;
    try {
      device = await api.signInWithCode({ provider });
    } catch (e) {
      this.reportError(e);
      return;
    }
    this.set({ signIn: { provider, mode: "code", phase: "waiting", device } });
    this.expireAt(device.expires_at);
  }

  /** Cancel: the shell stops waiting (a late redirect is refused). */
  async cancelSignIn(): Promise<void> {
    const current = this.state.signIn;
    this.clearExpiry();
    this.set({ signIn: undefined });
    if (!current || current.phase === "failed" || current.phase === "expired" || current.provider === "") return;
    try {
      if (current.mode === "code") await api.cancelSignInWithCode({ provider: current.provider });
      else await api.cancelSignIn({ provider: current.provider });
    } catch (e) {
      this.reportError(e);
    }
  }

  /** Closes a failed or expired sign-in's panel. */
  closeSignIn(): void {
    this.clearExpiry();
    this.set({ signIn: undefined });
  }

  private signedIn(account: AccountInfo): void {
    const current = this.state.signIn;
    if (current && (current.provider === account.provider || current.provider === "")) {
      this.clearExpiry();
      this.set({ signIn: undefined, screen: "accounts" });
      this.notify({ text: text.signIn.signedIn(account.display_name), kind: "info" });
    }
    void this.loadAccounts();
    void this.loadReadiness();
  }

  private signInFailed(failed: SignInFailed): void {
    const current = this.state.signIn;
    // Another provider's sign-in (started elsewhere, e.g. by `castkey login`)
    // is not the one this window waits for. (An empty provider: unknown.)
    const elsewhere = !!failed.provider && !!current?.provider && failed.provider !== current?.provider;
    if (elsewhere) return;
    this.clearExpiry();
    this.set({
      signIn: {
        provider: current?.provider || failed.provider || "",
        mode: current?.mode ?? "browser",
        phase: "failed",
        ...(current?.started ? { started: current.started } : {}),
        failure: failed,
      },
    });
  }

  private expireAt(at: number): void {
    const ms = at * 1000 - Date.now();
    this.expiry = setTimeout(
      () => {
        const current = this.state.signIn;
        if (current && (current.phase === "waiting" || current.phase === "opening")) {
          this.set({ signIn: { ...current, phase: "expired" } });
        }
      },
      Math.max(0, Math.min(ms, 2_147_000_000)),
    );
  }

  private clearExpiry(): void {
    clearTimeout(this.expiry);
    this.expiry = undefined;
  }

  // ------------------------------------------------------------ consent

  enqueueConsent(request: ConsentRequest): void {
    if (this.state.consents.some((r) => r.id === request.id)) return;
    const consents = [...this.state.consents, request].sort((a, b) => a.id - b.id);
    this.set({ consents });
  }

  settleConsent(id: number): void {
    if (!this.state.consents.some((r) => r.id === id)) return;
    this.set({ consents: this.state.consents.filter((r) => r.id !== id) });
  }
}
