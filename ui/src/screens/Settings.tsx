// Settings: start at login, start in the tray, the go-live horizon,
// notifications; where apps connect and how to get the castkey command; a
// diagnostics report to attach to a bug.

import { useEffect, useState } from "preact/hooks";
import * as api from "../api";
import type { DesktopSettings, Diagnostics } from "../api";
import type { CliInstalled } from "../bindings/CliInstalled";
import { CopyButton, Placeholder, useStore } from "../components/common";
import { text } from "../strings";
import { parseHours } from "../validate";

const t = text.settings;

function SettingsForm(props: { settings: DesktopSettings }) {
  const store = useStore();
  const [hours, setHours] = useState(String(props.settings.go_live_hours));
  const [state, setState] = useState<"idle" | "saving" | "saved">("idle");
  // A change from the tray shows here too.
  useEffect(() => setHours(String(props.settings.go_live_hours)), [props.settings.go_live_hours]);
  const hoursValue = parseHours(hours);
  const hoursProblem = hoursValue === undefined ? text.validation.hours : undefined;

  const save = (patch: Partial<DesktopSettings>) => {
    store.hideError();
    setState("saving");
    store
      .saveSettings({ ...props.settings, ...patch })
      .then(() => setState("saved"))
      .catch((e) => {
        setState("idle");
        store.reportError(e);
      });
  };
  const toggle = (key: "start_at_login" | "start_in_tray" | "notifications") => (
    <input
      type="checkbox"
      id={`setting-${key.replace(/_/g, "-")}`}
      name={key}
      checked={props.settings[key]}
      onChange={(e) => save({ [key]: e.currentTarget.checked })}
    />
  );
  const commitHours = () => {
    if (hoursValue !== undefined && hoursValue !== props.settings.go_live_hours) save({ go_live_hours: hoursValue });
  };

  return (
    <form
      class="settings-form"
      id="settings-form"
      onSubmit={(e) => {
        e.preventDefault();
        commitHours();
      }}
      noValidate
    >
      <fieldset class="settings-group">
        <legend>{t.general}</legend>
        <label class="check">
          {toggle("start_at_login")}
          <span>{t.startAtLogin}</span>
        </label>
        <label class="check">
          {toggle("start_in_tray")}
          <span>{t.startInTray}</span>
        </label>
        <p class="hint">{t.trayHint}</p>
        <label class="check">
          {toggle("notifications")}
          <span>{t.notifications}</span>
        </label>
      </fieldset>
      <fieldset class="settings-group">
        <legend>{t.goLive}</legend>
        <label class="field-label" for="setting-go-live-hours">
          <span>{t.goLiveHours}</span>
        </label>
        <div class="hours-row">
          <input
            class="field field-hours"
            id="setting-go-live-hours"
            name="go_live_hours"
            type="number"
            inputMode="numeric"
            min={1}
            max={48}
            step={1}
            value={hours}
            aria-invalid={hoursProblem ? "true" : undefined}
            aria-describedby="setting-go-live-hint"
            onInput={(e) => setHours(e.currentTarget.value)}
            onChange={commitHours}
          />
          <span>{t.hours}</span>
        </div>
        {hoursProblem ? (
          <p class="field-error" id="setting-go-live-hint" role="alert">
            {hoursProblem}
          </p>
        ) : (
          <p class="hint" id="setting-go-live-hint">
            {t.goLiveHint}
          </p>
        )}
      </fieldset>
      <p class="saved" role="status" id="settings-saved">
        {state === "saving" ? t.saving : state === "saved" ? t.saved : ""}
      </p>
    </form>
  );
}

/** "Put castkey in ~/.local/bin": a link (a copy from an AppImage). */
function InstallCli() {
  const store = useStore();
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState<CliInstalled | undefined>();
  const run = () => {
    store.hideError();
    setBusy(true);
    api
      .installCli()
      .then(setDone)
      .catch(store.reportError)
      .finally(() => setBusy(false));
  };
  return (
    <div class="copy-row">
      <button type="button" class="btn btn-secondary" id="install-cli" disabled={busy} onClick={run}>
        {busy ? t.installingCli : t.installCli}
      </button>
      {done && (
        <p role="status" id="cli-installed">
          {t.cliInstalled(done.path)} {done.on_path ? "" : t.cliDirNotOnPath}
        </p>
      )}
    </div>
  );
}

function Diagnostics() {
  const store = useStore();
  const [busy, setBusy] = useState(false);
  const [report, setReport] = useState<Diagnostics | undefined>();
  const run = () => {
    store.hideError();
    setBusy(true);
    api
      .exportDiagnostics()
      .then(setReport)
      .catch(store.reportError)
      .finally(() => setBusy(false));
  };
  return (
    <section class="section settings-group" aria-labelledby="diagnostics-title">
      <h3 id="diagnostics-title" class="section-title">
        {t.diagnostics}
      </h3>
      <p class="hint">{t.diagnosticsHint}</p>
      <button type="button" class="btn btn-secondary" id="export-diagnostics" disabled={busy} onClick={run}>
        {busy ? t.exporting : t.export}
      </button>
      {report && (
        <div class="copy-row" id="diagnostics-result">
          <span>{t.exportedTo}</span>
          <code class="path" id="diagnostics-path">
            {report.path}
          </code>
          <CopyButton value={report.text} id="copy-diagnostics">
            {t.copyReport}
          </CopyButton>
        </div>
      )}
    </section>
  );
}

export function SettingsScreen() {
  const store = useStore();
  const settings = store.state.settings;
  const status = store.state.status;
  return (
    <>
      <h2 id="settings-title" class="screen-title">
        {t.title}
      </h2>
      {settings.state === "ready" && <SettingsForm settings={settings.value} />}
      {settings.state === "loading" && <Placeholder>{text.app.loading}</Placeholder>}
      {settings.state === "failed" && <Placeholder failed>{t.loadFailed}</Placeholder>}
      {status.state === "ready" && (
        <section class="section settings-group" aria-labelledby="settings-apps-title">
          <h3 id="settings-apps-title" class="section-title">
            {t.apps}
          </h3>
          <p>{t.socket}</p>
          <div class="copy-row">
            <code class="path" id="socket-path">
              {status.value.socket_path}
            </code>
            <CopyButton value={status.value.socket_path} label={t.copySocket} id="copy-socket" />
          </div>
          <p class="settings-cli-title">{t.cli}</p>
          {status.value.cli_on_path ? (
            <p id="cli-hint">{t.cliOnPath}</p>
          ) : status.value.cli_path ? (
            <>
              <p id="cli-hint">{t.cliNotOnPath}</p>
              <div class="copy-row">
                <code class="path" id="cli-command">
                  {t.linkCommand(status.value.cli_path)}
                </code>
                <CopyButton value={t.linkCommand(status.value.cli_path)} label={t.copyCommand} />
              </div>
              <InstallCli />
            </>
          ) : (
            <p id="cli-hint">{t.cliMissing}</p>
          )}
          <p class="settings-cli-title">{t.redirect}</p>
          <div class="copy-row">
            <code class="path" id="redirect-uri">{`${status.value.redirect_scheme}:/callback/<service>`}</code>
          </div>
          <p class="hint" id="redirect-hint">{t.redirectHint}</p>
          <p class="settings-cli-title">{t.configDir}</p>
          <div class="copy-row">
            <code class="path" id="config-dir">
              {status.value.config_dir}
            </code>
          </div>
        </section>
      )}
      <Diagnostics />
    </>
  );
}
