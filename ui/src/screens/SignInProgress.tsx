// Sign-in progress: "Waiting for your browser…" with the address to copy,
// the time left and Cancel; a clear message for each way it can fail. And
// sign-in with a code: the code, the URL and a QR code.

import { useEffect, useRef } from "preact/hooks";
import { CopyButton, useNow, useStore } from "../components/common";
import type { SignIn } from "../store";
import { secondsUntil, signInFailure, text } from "../strings";

const t = text.signIn;

function Waiting(props: { signIn: SignIn; name: string }) {
  const store = useStore();
  const nowMs = useNow(1000);
  const started = props.signIn.started;
  return (
    <>
      <h2 id="sign-in-title" class="panel-title">
        {t.titleWith(props.name)}
      </h2>
      <p class="sign-in-state" role="status">
        <span class="spinner" aria-hidden="true" />
        {props.signIn.phase === "opening" ? t.opening : t.waiting}
      </p>
      {started && (
        <>
          <p>{t.waitingBody}</p>
          <p class="sign-in-url-label">{t.noBrowser}</p>
          <div class="copy-row">
            <input
              class="field field-wide"
              id="sign-in-url"
              readOnly
              aria-label={t.urlLabel}
              value={started.url}
              onFocus={(e) => e.currentTarget.select()}
            />
            <CopyButton value={started.url} id="sign-in-copy" />
          </div>
          <p class="sign-in-time" id="sign-in-time">
            {t.timeLeft(secondsUntil(started.expires_at, nowMs))}
          </p>
        </>
      )}
      <div class="panel-actions">
        <button type="button" class="btn btn-secondary" id="sign-in-cancel" onClick={() => void store.cancelSignIn()}>
          {t.cancel}
        </button>
      </div>
    </>
  );
}

function Failed(props: { signIn: SignIn; name: string }) {
  const store = useStore();
  const { signIn } = props;
  const expired = signIn.phase === "expired";
  const failure = signIn.failure;
  const about = expired ? undefined : signInFailure(failure?.reason);
  const redirect = signIn.started?.redirect_uri;
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), []);
  return (
    <>
      <h2 id="sign-in-title" class="panel-title" tabIndex={-1} ref={heading}>
        {expired ? t.titleWith(props.name) : (about?.title ?? t.failedTitle.other)}
      </h2>
      <div role="alert" id="sign-in-failure" data-reason={expired ? "expired" : (failure?.reason ?? "unknown")}>
        {expired && <p>{t.expired}</p>}
        {about && about.body !== "" && <p class="sign-in-failure-body">{about.body}</p>}
        {failure?.reason === "login_failed" && redirect && (
          <div class="copy-row">
            <code class="redirect-uri" id="sign-in-redirect-uri" aria-label={t.redirectUri}>
              {redirect}
            </code>
            <CopyButton value={redirect} />
          </div>
        )}
        {failure && (
          <p class="sign-in-message" id="sign-in-message">
            {about && about.body !== "" ? t.details(failure.message) : failure.message}
          </p>
        )}
      </div>
      <div class="panel-actions">
        {signIn.provider !== "" && (
          <button
            type="button"
            class="btn btn-primary"
            id="sign-in-retry"
            onClick={() =>
              void (signIn.mode === "code"
                ? store.startDeviceSignIn(signIn.provider)
                : store.startSignIn(signIn.provider))
            }
          >
            {t.tryAgain}
          </button>
        )}
        <button type="button" class="btn btn-secondary" id="sign-in-close" onClick={() => store.closeSignIn()}>
          {t.close}
        </button>
      </div>
    </>
  );
}

/** The browser sign-in's panel (a sign-in with a code has its own, below). */
export function SignInProgress() {
  const store = useStore();
  const signIn = store.state.signIn;
  const visible = signIn !== undefined && !(signIn.mode === "code" && signIn.phase === "waiting");
  const name = signIn && signIn.provider !== "" ? store.providerName(signIn.provider) : "";
  return (
    <section
      id="sign-in-progress"
      class={signIn?.phase === "failed" || signIn?.phase === "expired" ? "panel panel-failed" : "panel"}
      aria-labelledby="sign-in-title"
      data-phase={signIn?.phase}
      hidden={!visible}
    >
      {visible && signIn && (signIn.phase === "failed" || signIn.phase === "expired") && (
        <Failed signIn={signIn} name={name || t.title} />
      )}
      {visible && signIn && (signIn.phase === "opening" || signIn.phase === "waiting") && (
        <Waiting signIn={signIn} name={name} />
      )}
    </section>
  );
}

/** Parses Castkey's QR drawing as SVG (never as HTML) into `into`. */
function QrCode(props: { svg: string | undefined }) {
  const holder = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = holder.current;
    if (!el) return;
    el.replaceChildren();
    if (!props.svg) return;
    const doc = new DOMParser().parseFromString(props.svg, "image/svg+xml");
    const svg = doc.documentElement;
    if (svg.nodeName.toLowerCase() === "svg") el.append(document.importNode(svg, true));
  }, [props.svg]);
  return <div id="device-qr" class="device-qr" ref={holder} />;
}

export function DeviceSignIn() {
  const store = useStore();
  const nowMs = useNow(1000);
  const signIn = store.state.signIn;
  const device = signIn?.mode === "code" && signIn.phase === "waiting" ? signIn.device : undefined;
  const d = text.device;
  return (
    <section id="device-sign-in" class="panel device" aria-labelledby="device-title" hidden={!device}>
      <h2 id="device-title" class="panel-title">
        {device ? d.title(store.providerName(device.provider)) : ""}
      </h2>
      <p>
        {d.open} <code id="device-verification-uri" data-complete={device?.verification_uri_complete ?? device?.verification_uri}>
          {device?.verification_uri}
        </code>{" "}
        {d.enter}
      </p>
      <p class="device-code">
        <code id="device-user-code">{device?.user_code}</code>
      </p>
      <p>{d.scan}</p>
      <QrCode svg={device?.qr_svg} />
      <p class="device-note" id="device-note" aria-live="polite">
        {d.waiting} {device ? d.expiresIn(secondsUntil(device.expires_at, nowMs)) : ""}
      </p>
      <button id="device-hide" class="btn btn-secondary" type="button" onClick={() => void store.cancelSignIn()}>
        {d.cancel}
      </button>
    </section>
  );
}
