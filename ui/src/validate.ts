// Checks the window makes as the user types (the shell checks again: these
// only save a round trip and say what is wrong next to the field).

import type { TemplateField } from "./api";
import { text } from "./strings";

const LOOPBACK = new Set(["127.0.0.1", "[::1]", "localhost"]);

/** Whether `host` (as `URL.hostname` gives it) is this machine. */
export function isLoopback(host: string): boolean {
  return LOOPBACK.has(host) || /^127(\.\d{1,3}){3}$/.test(host);
}

/**
 * A problem with a URL field, or `undefined` when it is fine: it must be
 * https, except plain http on loopback (a local provider).
 */
export function urlProblem(label: string, value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    return text.validation.notUrl(label);
  }
  if (url.protocol === "https:") return url.hostname === "" ? text.validation.notUrl(label) : undefined;
  if (url.protocol === "http:") {
    return isLoopback(url.hostname) ? undefined : text.validation.plainHttp(label, value.trim());
  }
  return text.validation.notUrl(label);
}

/** A problem with one template field's value, or `undefined`. */
export function fieldProblem(field: TemplateField, value: string): string | undefined {
  const v = value.trim();
  if (v === "") return field.required ? text.validation.required(field.label) : undefined;
  if (field.kind === "url") return urlProblem(field.label, v);
  return undefined;
}

/** The go-live horizon as typed: a whole number of hours 1–48, else `undefined`. */
export function parseHours(value: string): number | undefined {
  const v = value.trim();
  if (!/^\d{1,2}$/.test(v)) return undefined;
  const n = Number(v);
  return n >= 1 && n <= 48 ? n : undefined;
}
