// Activity: the last entries of the log (who got a token, who was refused),
// newest first, filtered by app and account. Never a token value: the log
// holds none.

import { useEffect, useRef, useState } from "preact/hooks";
import * as api from "../api";
import type { ActivityEntry, ActivityParams } from "../api";
import { Option, useStore } from "../components/common";
import { clockTime, entryClient, identityText, outcomeText, text } from "../strings";

const t = text.activity;
/** How many entries the screen shows. */
export const LIMIT = 50;
const TYPING_PAUSE_MS = 300;

type Rows = { state: "loading" } | { state: "ready"; entries: ActivityEntry[]; filtered: boolean } | { state: "failed" };

function Row(props: { entry: ActivityEntry; accountName: (id: string) => string }) {
  const e = props.entry;
  const served = e.outcome === "served";
  return (
    <tr data-outcome={e.outcome}>
      <td class="activity-time">{clockTime(e.at)}</td>
      <td class="activity-client" title={identityText(e.client) + (e.pid ? ` (pid ${e.pid})` : "")}>
        {entryClient(e)}
      </td>
      <td class="activity-account" title={e.account}>
        {e.account ? props.accountName(e.account) : t.none}
      </td>
      <td class="activity-scopes">{e.scopes.length > 0 ? e.scopes.join(" ") : t.none}</td>
      <td class={served ? "activity-outcome outcome-ok" : "activity-outcome outcome-refused"} title={e.outcome}>
        {outcomeText(e.outcome)}
        {e.count > 1 && <span class="activity-count"> {t.count(e.count)}</span>}
      </td>
    </tr>
  );
}

export function ActivityScreen() {
  const store = useStore();
  const [rows, setRows] = useState<Rows>({ state: "loading" });
  const [account, setAccount] = useState("");
  const client = useRef<HTMLInputElement>(null);
  const loads = useRef(0);
  const typing = useRef<ReturnType<typeof setTimeout> | undefined>(undefined);
  const accounts = store.accounts();
  const accountValue = accounts.some((a) => a.id === account) ? account : "";
  /** "streamer (Local sandbox)" for an account still here, else its id. */
  const accountName = (id: string) => {
    const a = accounts.find((x) => x.id === id);
    return a ? `${a.display_name} (${store.providerName(a.provider)})` : id;
  };

  const load = async (accountFilter = accountValue) => {
    const mine = ++loads.current;
    const params: ActivityParams = { limit: LIMIT };
    // The field itself: emptied by a script, it fires no input event.
    const c = client.current?.value.trim() ?? "";
    if (c) params.client = c;
    if (accountFilter) params.account = accountFilter;
    try {
      const entries = await api.activity(params);
      if (mine !== loads.current) return;
      setRows({ state: "ready", entries, filtered: params.client !== undefined || params.account !== undefined });
    } catch (e) {
      if (mine !== loads.current) return;
      setRows({ state: "failed" });
      store.reportError(e);
    }
  };

  useEffect(() => {
    void load();
  }, [store.state.activityVersion]);
  useEffect(() => () => clearTimeout(typing.current), []);

  let body;
  if (rows.state === "loading" || rows.state === "failed" || rows.entries.length === 0) {
    const message =
      rows.state === "loading"
        ? text.app.loading
        : rows.state === "failed"
          ? t.loadFailed
          : rows.filtered
            ? t.noMatch
            : t.empty;
    body = (
      <tr class={rows.state === "failed" ? "placeholder-row placeholder-failed" : "placeholder-row"}>
        <td colSpan={t.columns.length}>{message}</td>
      </tr>
    );
  } else {
    // The log is newest last; the table shows the newest first.
    body = rows.entries
      .slice(-LIMIT)
      .reverse()
      .map((e, i) => <Row key={`${e.at}-${i}`} entry={e} accountName={accountName} />);
  }

  return (
    <>
      <h2 id="activity-title" class="screen-title">
        {t.title}
      </h2>
      <p class="screen-intro">{t.intro}</p>
      <div id="activity" class="activity">
        <form
          class="filters"
          role="search"
          onSubmit={(e) => {
            e.preventDefault();
            void load();
          }}
        >
          <label class="field-label">
            <span>{t.filterClient}</span>
            <input
              ref={client}
              class="field"
              type="search"
              id="activity-client"
              autocomplete="off"
              placeholder={t.filterClientPlaceholder}
              onInput={() => {
                clearTimeout(typing.current);
                typing.current = setTimeout(() => void load(), TYPING_PAUSE_MS);
              }}
            />
          </label>
          <label class="field-label">
            <span>{t.filterAccount}</span>
            <select
              class="field"
              id="activity-account"
              value={accountValue}
              onChange={(e) => {
                const v = e.currentTarget.value;
                setAccount(v);
                void load(v);
              }}
            >
              <Option value="">{t.allAccounts}</Option>
              {accounts.map((a) => (
                <Option key={a.id} value={a.id}>
                  {`${a.display_name} (${store.providerName(a.provider)})`}
                </Option>
              ))}
            </select>
          </label>
          <button type="submit" class="btn btn-secondary" id="activity-refresh">
            {t.refresh}
          </button>
        </form>
        <div class="table-scroll">
          <table class="activity-table">
            <thead>
              <tr>
                {t.columns.map((c) => (
                  <th key={c} scope="col">
                    {c}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody id="activity-rows">{body}</tbody>
          </table>
        </div>
      </div>
    </>
  );
}
