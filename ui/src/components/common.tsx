// Small pieces every screen uses: the store in a context, a ticking clock,
// scope chips, avatars, a copy button.

import { createContext, type ComponentChildren } from "preact";
import { useContext, useEffect, useState } from "preact/hooks";
import type { Store } from "../store";
import { initials, text } from "../strings";

export const StoreContext = createContext<Store | null>(null);

/** The store, re-rendering the caller on every change. */
export function useStore(): Store {
  const store = useContext(StoreContext);
  if (!store) throw new Error("useStore outside <StoreContext.Provider>");
  const [, setTick] = useState(0);
  useEffect(() => store.subscribe(() => setTick((n) => n + 1)), [store]);
  return store;
}

/** Milliseconds since the epoch, updated every `everyMs`. */
export function useNow(everyMs: number): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(t);
  }, [everyMs]);
  return now;
}

export function ScopeChips(props: { scopes: string[]; label: string; highlight?: string }) {
  const highlight = props.highlight ?? "broadcaster";
  return (
    <ul class="chips" aria-label={props.label}>
      {props.scopes.map((scope) => (
        <li key={scope} class={scope === highlight ? "chip chip-broadcaster" : "chip"}>
          {scope}
        </li>
      ))}
    </ul>
  );
}

/** A stable colour (one of 8) for a name. */
export function hue(name: string): number {
  let h = 0;
  for (const c of name) h = (h * 31 + (c.codePointAt(0) ?? 0)) >>> 0;
  return h % 8;
}

/** Initials in a coloured circle (no pictures: the CSP loads nothing remote). */
export function Avatar(props: { name: string; kind?: "account" | "service"; label?: string }) {
  const kind = props.kind ?? "account";
  return (
    <span
      class={`avatar avatar-${kind} avatar-hue-${hue(props.name)}`}
      aria-hidden={props.label === undefined ? "true" : undefined}
      role={props.label === undefined ? undefined : "img"}
      aria-label={props.label}
    >
      {initials(props.name)}
    </span>
  );
}

/** Puts `value` on the clipboard; false when the webview would not. */
export async function copyText(value: string): Promise<boolean> {
  try {
    if (navigator.clipboard?.writeText) {
      await navigator.clipboard.writeText(value);
      return true;
    }
  } catch {
    // Fall back to the selection below.
  }
  const area = document.createElement("textarea");
  area.value = value;
  area.setAttribute("readonly", "");
  area.className = "offscreen";
  document.body.append(area);
  area.select();
  let ok = false;
  try {
    ok = document.execCommand("copy");
  } catch {
    ok = false;
  }
  area.remove();
  return ok;
}

/** A "Copy" button that says "Copied" for a moment. */
export function CopyButton(props: { value: string; label?: string; id?: string; children?: ComponentChildren }) {
  const [state, setState] = useState<"idle" | "copied" | "failed">("idle");
  useEffect(() => {
    if (state === "idle") return;
    const t = setTimeout(() => setState("idle"), 2000);
    return () => clearTimeout(t);
  }, [state]);
  return (
    <span class="copy">
      <button
        type="button"
        class="btn btn-secondary btn-small"
        id={props.id}
        aria-label={props.label}
        onClick={() => void copyText(props.value).then((ok) => setState(ok ? "copied" : "failed"))}
      >
        {state === "copied" ? text.app.copied : (props.children ?? text.app.copy)}
      </button>
      <span class="copy-status" role="status">
        {state === "failed" ? text.app.copyFailed : ""}
      </span>
    </span>
  );
}

/**
 * An `<option>` whose `value` is always an attribute (Preact sets only the
 * property, and skips it when it equals the label: `option[value=…]` would
 * then match nothing).
 */
export function Option(props: { value: string; selected?: boolean; children: ComponentChildren }) {
  return (
    <option value={props.value} selected={props.selected} ref={(el) => el?.setAttribute("value", props.value)}>
      {props.children}
    </option>
  );
}

export function Placeholder(props: { children: ComponentChildren; failed?: boolean }) {
  return <p class={props.failed ? "placeholder placeholder-failed" : "placeholder"}>{props.children}</p>;
}
