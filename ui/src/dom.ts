// The few DOM helpers every part of the window uses. Text goes in with
// textContent only: nothing here builds HTML from strings.

export type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  props: { class?: string; text?: string; attrs?: Record<string, string> } = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (props.class) node.className = props.class;
  if (props.text !== undefined) node.textContent = props.text;
  for (const [name, value] of Object.entries(props.attrs ?? {})) node.setAttribute(name, value);
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    node.append(child);
  }
  return node;
}

export function byId<T extends HTMLElement>(id: string): T {
  const node = document.getElementById(id);
  if (!node) throw new Error(`missing #${id} in index.html`);
  return node as T;
}

export function placeholder(text: string, failed = false): HTMLLIElement {
  return h("li", { class: failed ? "placeholder placeholder-failed" : "placeholder", text });
}

/** A `<select>` of `options` ([value, label]) with `value` selected. */
export function select(
  attrs: Record<string, string>,
  options: [string, string][],
  value: string,
): HTMLSelectElement {
  const node = h("select", { class: "field", attrs });
  for (const [v, label] of options) node.append(h("option", { text: label, attrs: { value: v } }));
  node.value = value;
  return node;
}

/** Chips for scopes (the broadcast scope stands out). */
export function scopeChips(scopes: string[], label: string, highlight = "broadcaster"): HTMLUListElement {
  return h(
    "ul",
    { class: "chips", attrs: { "aria-label": label } },
    ...scopes.map((scope) => h("li", { class: scope === highlight ? "chip chip-broadcaster" : "chip", text: scope })),
  );
}
