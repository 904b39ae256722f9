// A fake Castkey shell for the component tests: `mockIPC` answers each
// command from a table (overridable per test) and records every call;
// events are mocked too, so a test can `emit` what the shell would.

import { cleanup, render } from "@testing-library/preact";
import { emit } from "@tauri-apps/api/event";
import { clearMocks, mockIPC, mockWindows } from "@tauri-apps/api/mocks";
import { afterEach } from "vitest";
import type {
  AccountHealth,
  AccountInfo,
  ActivityEntry,
  AppStatus,
  ClientApproval,
  DesktopSettings,
  ProviderInfo,
  ProviderTemplate,
  Readiness,
} from "../api";
import { App } from "../App";
import type { CommandName, EventName } from "../bindings/names";
import { StoreContext } from "../components/common";
import { Store } from "../store";

export const NOW = Math.floor(Date.now() / 1000);

export const providers: ProviderInfo[] = [
  {
    id: "sandbox",
    display_name: "Local sandbox",
    sign_in: "browser",
    scopes: ["openid", "broadcaster"],
    environments: [],
    device_flow: true,
  },
  {
    id: "vidiflow",
    display_name: "VidiFlow",
    sign_in: "service_account",
    scopes: ["api1"],
    environments: [],
    device_flow: false,
    template: "vidiflow",
  },
  {
    id: "apivideo",
    display_name: "api.video",
    sign_in: "api_key",
    scopes: [],
    environments: ["sandbox", "production"],
    device_flow: false,
    template: "apivideo",
  },
];

export const streamer: AccountInfo = {
  id: "sandbox:streamer",
  provider: "sandbox",
  display_name: "streamer",
  email: "streamer@example.test",
  active: true,
  scopes: ["openid", "broadcaster"],
  status: "signed_in",
};

export const viewer: AccountInfo = {
  id: "sandbox:viewer",
  provider: "sandbox",
  display_name: "viewer",
  email: "viewer@example.test",
  active: false,
  scopes: ["openid", "broadcaster"],
  status: "signed_in",
};

export const service: AccountInfo = {
  id: "vidiflow:svc",
  provider: "vidiflow",
  display_name: "svc",
  active: true,
  scopes: ["api1"],
  status: "signed_in",
};

export function healthOf(account: AccountInfo, patch: Partial<AccountHealth> = {}): AccountHealth {
  return {
    account,
    state: "signed_in",
    access_expires_at: NOW + 3000,
    last_refresh_at: NOW - 600,
    grant_stored_at: NOW - 2 * 86400,
    ...patch,
  };
}

export const templates: ProviderTemplate[] = [
  {
    id: "oidc",
    display_name: "OpenID Connect provider",
    description: "Any OpenID Connect provider: its issuer URL and your client id.",
    fields: [
      { name: "name", label: "Name", kind: "text", required: true, choices: [] },
      { name: "issuer", label: "Issuer", kind: "url", required: true, choices: [] },
      { name: "client_id", label: "Client id", kind: "text", required: true, choices: [] },
      { name: "client_secret", label: "Client secret", kind: "secret", required: false, choices: [] },
      {
        name: "redirect",
        label: "Redirect",
        kind: "choice",
        required: true,
        default: "deep_link",
        choices: ["deep_link", "loopback"],
      },
    ],
  },
];

export const status: AppStatus = {
  version: "0.1.0",
  socket_path: "/run/user/1000/castkey/castkey.sock",
  cli_path: "/opt/castkey/castkey",
  cli_on_path: false,
  config_dir: "/home/me/.config/castkey",
  redirect_scheme: "dev.castkey.app",
};

export const settings: DesktopSettings = {
  start_at_login: false,
  start_in_tray: false,
  go_live_hours: 4,
  notifications: true,
};

export const apps: ClientApproval[] = [
  {
    identity: { executable: "/usr/bin/python3", script: "/home/me/bot.py" },
    name: "Stream Bot",
    scopes: ["broadcaster"],
    approved_at: NOW - 3600,
  },
];

export const activity: ActivityEntry[] = [
  {
    at: NOW - 120,
    client: { executable: "/usr/bin/python3", script: "/home/me/bot.py" },
    client_name: "Stream Bot",
    method: "token",
    account: "sandbox:streamer",
    scopes: ["broadcaster"],
    outcome: "served",
    count: 3,
  },
  {
    at: NOW - 60,
    client: { executable: "/usr/bin/obs" },
    method: "token",
    scopes: [],
    outcome: "consent_denied",
    count: 1,
  },
];

export function readiness(patch: Partial<Readiness> = {}): Readiness {
  return {
    horizon_hours: 4,
    checked_at: NOW,
    ready: true,
    accounts: [
      { account: streamer, state: "signed_in", used_by: ["Stream Bot"], good_until: NOW + 30 * 86400, ready: true },
    ],
    ...patch,
  };
}

type Handler = (args: any) => unknown;

export interface Call {
  cmd: string;
  args: unknown;
}

export interface Backend {
  calls: Call[];
  handlers: Record<string, Handler>;
  /** The args of every call of `cmd`. */
  argsOf(cmd: CommandName): unknown[];
  count(cmd: CommandName): number;
}

/** Installs the fake shell: default answers, then `overrides`. */
export function fakeBackend(overrides: Partial<Record<CommandName, Handler>> = {}): Backend {
  const handlers: Record<string, Handler> = {
    list_providers: () => providers,
    list_accounts: () => [streamer, viewer],
    account_health: () => [healthOf(streamer), healthOf(viewer)],
    list_provider_templates: () => templates,
    redirect_uri_to_register: () => null,
    app_status: () => status,
    list_apps: () => apps,
    settings: () => settings,
    go_live_readiness: () => readiness(),
    pending_consents: () => [],
    activity: () => activity,
    ...overrides,
  };
  const calls: Call[] = [];
  mockWindows("main");
  mockIPC(
    (cmd, payload) => {
      const args = (payload as { args?: unknown } | undefined)?.args;
      calls.push({ cmd, args });
      const handler = handlers[cmd];
      if (!handler) throw { reason: "internal", message: `no fake for ${cmd}` };
      return handler(args);
    },
    { shouldMockEvents: true },
  );
  return {
    calls,
    handlers,
    argsOf: (cmd) => calls.filter((c) => c.cmd === cmd).map((c) => c.args),
    count: (cmd) => calls.filter((c) => c.cmd === cmd).length,
  };
}

/** Renders the whole window against the fake shell and starts its store. */
const stores: Store[] = [];

export async function renderApp() {
  const store = new Store();
  stores.push(store);
  const view = render(
    <StoreContext.Provider value={store}>
      <App />
    </StoreContext.Provider>,
  );
  await store.start();
  return { store, ...view };
}

/** What the shell would emit. */
export function shellEmits(event: EventName, payload?: unknown): Promise<void> {
  return emit(event, payload);
}

afterEach(() => {
  for (const s of stores.splice(0)) s.stop();
  cleanup();
  clearMocks();
});
