// "Ready to go live": is every account broadcasting apps use good for the
// next few hours? When not, which one, and "Sign in again now".

import { useStore } from "../components/common";
import { text } from "../strings";

const t = text.readiness;

export function ReadinessBanner() {
  const store = useStore();
  const r = store.state.readiness;
  // Nothing to check: the empty Accounts screen says what to do.
  if (!r || r.accounts.length === 0) return null;
  if (r.ready) {
    return (
      <section id="readiness" class="readiness readiness-ok" data-ready="true" aria-labelledby="readiness-title">
        <span class="readiness-icon" aria-hidden="true">
          ✓
        </span>
        <div>
          <h2 id="readiness-title" class="readiness-title">
            {t.title}
          </h2>
          <p class="readiness-text">{t.ready(r.horizon_hours)}</p>
        </div>
      </section>
    );
  }
  const problems = r.accounts.filter((a) => !a.ready);
  return (
    <section id="readiness" class="readiness readiness-warn" data-ready="false" aria-labelledby="readiness-title">
      <span class="readiness-icon" aria-hidden="true">
        !
      </span>
      <div class="readiness-main">
        <h2 id="readiness-title" class="readiness-title">
          {t.notReadyTitle}
        </h2>
        <p class="readiness-text">{t.notReady(r.horizon_hours)}</p>
        <ul class="readiness-list">
          {problems.map((a) => {
            const provider = store.provider(a.account.provider);
            const name = `${a.account.display_name} (${store.providerName(a.account.provider)})`;
            const details = [
              a.problem,
              a.good_until !== undefined ? t.goodUntil(a.good_until) : undefined,
              a.used_by.length > 0 ? t.usedBy(a.used_by) : t.activeAccount,
            ].filter((x): x is string => x !== undefined && x !== "");
            return (
              <li key={a.account.id} class="readiness-item" data-readiness-account={a.account.id}>
                <div>
                  <strong>{name}</strong>
                  <span class="readiness-detail"> — {details.join(" · ")}</span>
                </div>
                {provider?.sign_in === "browser" && (
                  <button
                    type="button"
                    class="btn btn-primary btn-small"
                    data-readiness-sign-in={a.account.provider}
                    aria-label={t.signInNowLabel(name)}
                    onClick={() => void store.startSignIn(a.account.provider)}
                  >
                    {t.signInNow}
                  </button>
                )}
              </li>
            );
          })}
        </ul>
      </div>
    </section>
  );
}
