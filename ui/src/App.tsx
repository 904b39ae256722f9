// Castkey's window: the go-live summary, banners, the tabs (Accounts, Add
// account, Connected apps, Activity, Settings), the sign-in panels, the
// status line, and the consent prompt over all of it.

import type { ComponentChildren } from "preact";
import { useRef } from "preact/hooks";
import { SCREENS, type Screen } from "./api";
import { useStore } from "./components/common";
import { AccountsScreen } from "./screens/Accounts";
import { ActivityScreen } from "./screens/Activity";
import { AddAccountScreen } from "./screens/AddAccount";
import { AppsScreen } from "./screens/Apps";
import { ConsentLayer } from "./screens/Consent";
import { ReadinessBanner } from "./screens/Readiness";
import { SettingsScreen } from "./screens/Settings";
import { DeviceSignIn, SignInProgress } from "./screens/SignInProgress";
import { text } from "./strings";

/** Tabs with arrow keys, Home and End (WAI-ARIA tabs, selection follows focus). */
function Nav() {
  const store = useStore();
  const current = store.state.screen;
  const list = useRef<HTMLDivElement>(null);
  const go = (screen: Screen) => {
    store.showScreen(screen);
    list.current?.querySelector<HTMLElement>(`#nav-${screen}`)?.focus();
  };
  const onKeyDown = (e: KeyboardEvent) => {
    const i = SCREENS.indexOf(current);
    let next: number | undefined;
    if (e.key === "ArrowRight" || e.key === "ArrowDown") next = (i + 1) % SCREENS.length;
    else if (e.key === "ArrowLeft" || e.key === "ArrowUp") next = (i - 1 + SCREENS.length) % SCREENS.length;
    else if (e.key === "Home") next = 0;
    else if (e.key === "End") next = SCREENS.length - 1;
    const screen = next === undefined ? undefined : SCREENS[next];
    if (screen === undefined) return;
    e.preventDefault();
    go(screen);
  };
  return (
    <div class="tabs" role="tablist" aria-label={text.app.nav} ref={list} onKeyDown={onKeyDown}>
      {SCREENS.map((screen) => (
        <button
          key={screen}
          type="button"
          role="tab"
          class="tab"
          id={`nav-${screen}`}
          aria-selected={screen === current ? "true" : "false"}
          aria-controls={`panel-${screen}`}
          tabIndex={screen === current ? 0 : -1}
          onClick={() => go(screen)}
        >
          {text.screens[screen]}
          {screen === "apps" && <AppsCount />}
        </button>
      ))}
    </div>
  );
}

function AppsCount() {
  const store = useStore();
  const apps = store.state.apps;
  if (apps.state !== "ready" || apps.value.length === 0) return null;
  return <span class="tab-count">{apps.value.length}</span>;
}

function Panel(props: { screen: Screen; children: ComponentChildren }) {
  const store = useStore();
  return (
    <section
      id={`panel-${props.screen}`}
      class="screen"
      role="tabpanel"
      aria-labelledby={`nav-${props.screen}`}
      tabIndex={0}
      hidden={store.state.screen !== props.screen}
    >
      {props.children}
    </section>
  );
}

function Banners() {
  const store = useStore();
  const { error, notice } = store.state;
  return (
    <>
      <div id="error" class="banner banner-error" role="alert" hidden={error === undefined}>
        <p id="error-text" class="banner-text">
          {error ?? ""}
        </p>
        <button
          id="error-dismiss"
          class="banner-dismiss"
          type="button"
          aria-label={text.app.dismiss}
          onClick={store.hideError}
        >
          <span aria-hidden="true">×</span>
        </button>
      </div>
      <div
        id="notice"
        class={notice?.kind === "warn" ? "banner banner-warn" : "banner banner-info"}
        role="status"
        hidden={notice === undefined}
      >
        <p id="notice-text" class="banner-text">
          {notice?.text ?? ""}
        </p>
        <button
          id="notice-dismiss"
          class="banner-dismiss"
          type="button"
          aria-label={text.app.dismiss}
          onClick={() => store.notify(undefined)}
        >
          <span aria-hidden="true">×</span>
        </button>
      </div>
    </>
  );
}

function Status() {
  const store = useStore();
  const s = store.state.status;
  const t = text.status;
  let line: ComponentChildren;
  let failed = false;
  if (s.state === "loading") line = t.checking;
  else if (s.state === "failed") {
    line = t.unavailable;
    failed = true;
  } else if (s.value.broker_error) {
    line = t.brokerDown(s.value.broker_error);
    failed = true;
  } else {
    line = (
      <>
        {t.connectAt}
        <code class="socket-path">{s.value.socket_path}</code>
      </>
    );
  }
  return (
    <footer id="status" class="status">
      <p id="status-text" class={failed ? "status-text status-error" : "status-text"}>
        {line}
      </p>
      <p id="version" class="version">
        {s.state === "ready" ? t.version(s.value.version) : ""}
      </p>
    </footer>
  );
}

export function App() {
  const store = useStore();
  const consentOpen = store.state.consents.length > 0;
  return (
    <>
      <div id="app" class="app" inert={consentOpen}>
        <header class="app-header">
          <div class="brand">
            <span class="brand-mark" aria-hidden="true" />
            <div>
              <h1>{text.app.title}</h1>
              <p class="subtitle">{text.app.subtitle}</p>
            </div>
          </div>
        </header>
        <ReadinessBanner />
        <Banners />
        <SignInProgress />
        <DeviceSignIn />
        <nav class="nav">
          <Nav />
        </nav>
        <main>
          <Panel screen="accounts">
            <AccountsScreen />
          </Panel>
          <Panel screen="add">
            <AddAccountScreen />
          </Panel>
          <Panel screen="apps">
            <AppsScreen />
          </Panel>
          <Panel screen="activity">
            <ActivityScreen />
          </Panel>
          <Panel screen="settings">
            <SettingsScreen />
          </Panel>
        </main>
        <Status />
      </div>
      <ConsentLayer />
    </>
  );
}
