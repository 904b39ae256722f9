//! The core's side of "who may ask": every IPC request passes here before
//! it reaches the broker. Consent ([`ConsentMode`]), the user's policy per
//! program (scopes, account binding), Castkey's own tools, switching the
//! active account, and the activity log.
//!
//! The hot path (an approved program asking for a cached token) costs two
//! atomic loads and a comparison on top of the broker's memory read; the
//! activity log gets one entry per burst (see [`Tally`]).

use crate::broker::{account_ref, ServedJson};
use crate::consent::{
    AllowedOnce, Asked, ClientSession, ConsentMode, Decision, Standing, Tally, CONSENT_WAIT,
};
use crate::core::Core;
use crate::error::CoreError;
use crate::event::CoreEvent;
use castkey_ipc::ui::{AnswerConsentArgs, ConsentDecision, ConsentRequest};
use castkey_ipc::{Access, Method};
use castkey_ipc::{
    AccountHealth, AccountInfo, ActivityEntry, ActivityParams, AllowAppParams, ClientApproval,
    ClientIdentity, ClientStanding, HelloParams, HelloResult, ScopeParam, TokenGrant, TokenParams,
};
use std::sync::Arc;

const TALLY_SECS: u64 = 60;

/// A program may force a refresh of an account's token at most once in
/// this many seconds; a forced request within it gets the token the last
/// forced refresh brought (newer than the one the program held).
pub const FORCE_INTERVAL_SECS: u64 = 10;

/// What [`Core::may_force`] decided about a forced refresh.
enum Force {
    /// Within [`FORCE_INTERVAL_SECS`] of the last: the cached token is served.
    TooSoon,
    /// To the provider; what was noted, to put back if it fails.
    Go(Option<ForceNote>),
}

/// A forced refresh noted for `account`, and the note it replaced.
struct ForceNote {
    account: String,
    before: Option<u64>,
}

impl Core {
    /// What `session` may do as things stand, without asking anyone.
    pub(crate) fn standing(&self, session: &mut ClientSession) -> Standing {
        if let Some(t) = session.terminal() {
            let allowed = match self.gate.consent {
                // Nobody to ask: the person at the terminal runs this broker.
                ConsentMode::ListedOnly => true,
                ConsentMode::Prompt => session.terminal_allowed || self.gate.prompts.terminal_allowed(t),
            };
            session.terminal_allowed = allowed;
            return if allowed { Standing::User } else { Standing::Unknown };
        }
        if let Some(once) = &session.once {
            if once.revocations == self.gate.clients.revocations() {
                return Standing::Once;
            }
            session.once = None;
        }
        let generation = self.gate.clients.generation();
        if let Some((g, approval, _)) = &session.cached {
            if *g == generation {
                return approval.clone().map_or(Standing::Unknown, Standing::Approved);
            }
        }
        let approval = self.gate.clients.get(&session.identity);
        let choice = self.gate.clients.choice(&session.identity);
        session.cached = Some((generation, approval.clone(), choice));
        approval.map_or(Standing::Unknown, Standing::Approved)
    }

    /// The standing of `session`, asking the user first if nobody decided
    /// about it (the app), or refusing it (the headless broker).
    async fn admit(
        &self,
        session: &mut ClientSession,
        asked: impl FnOnce() -> Asked,
    ) -> Result<Standing, CoreError> {
        match self.standing(session) {
            Standing::Unknown => {}
            known => return Ok(known),
        }
        let asked = match self.gate.consent {
            ConsentMode::ListedOnly => return Err(self.not_listed(session)),
            ConsentMode::Prompt => asked(),
        };
        let shown = (asked.account.as_ref().map(|a| a.id.clone()), asked.scopes.clone());
        match self.gate.prompts.ask(session, asked, CONSENT_WAIT).await? {
            Decision::AllowOnce => {
                if let Some(t) = session.terminal() {
                    self.gate.prompts.allow_terminal(t);
                    session.terminal_allowed = true;
                    return Ok(Standing::User);
                }
                session.once = Some(AllowedOnce {
                    revocations: self.gate.clients.revocations(),
                    account: shown.0,
                    scopes: shown.1,
                });
                Ok(Standing::Once)
            }
            Decision::Always(approval) => {
                session.cached = None;
                Ok(Standing::Approved(approval))
            }
            Decision::Deny => Err(CoreError::ConsentDenied("denied".into())),
        }
    }

    fn not_listed(&self, session: &ClientSession) -> CoreError {
        let id = &session.identity;
        let via = match session.own_tool {
            true => " It ran Castkey's `castkey` command, which acts for the program that runs it.",
            false => "",
        };
        let how = match session.identity_note() {
            (true, _) => {
                let script = id.script.as_deref().map(|s| format!(" --script {s}")).unwrap_or_default();
                format!("Allow it with `castkey apps allow {}{script}`, typed at a terminal", id.executable)
            }
            (false, note) => note.unwrap_or_default(),
        };
        CoreError::ClientNotAllowed(format!(
            "{} ({id}) is not a client this Castkey broker serves: a headless broker has no window to ask \
             you in, so it serves only the programs listed in {}.{via} {how}",
            session.display_name(),
            self.gate.clients.path().display(),
        ))
    }

    /// Whether a forced refresh of the account `params` names may go to the
    /// provider now ([`FORCE_INTERVAL_SECS`]); notes it if so. A noted
    /// refresh that fails is put back ([`Core::forget_force`]): it brought
    /// no newer token, and the broker's back-off already spaces the retries.
    fn may_force(&self, params: &TokenParams) -> Force {
        // An account that cannot be resolved fails in the broker with its error.
        let Ok((account, _)) = self.broker.resolve(params) else { return Force::Go(None) };
        let now = self.clock.now();
        let mut forced = self.gate.forced.lock().unwrap_or_else(|e| e.into_inner());
        match forced.get(&account.id) {
            Some(at) if now.saturating_sub(*at) < FORCE_INTERVAL_SECS => {
                tracing::debug!(account = %account.id, "forced refresh too soon after the last: cached token served");
                Force::TooSoon
            }
            before => {
                let before = before.copied();
                forced.insert(account.id.clone(), now);
                Force::Go(Some(ForceNote { account: account.id.clone(), before }))
            }
        }
    }

    /// Puts back what [`Core::may_force`] noted, after that refresh failed.
    fn forget_force(&self, note: ForceNote) {
        let mut forced = self.gate.forced.lock().unwrap_or_else(|e| e.into_inner());
        match note.before {
            Some(at) => forced.insert(note.account, at),
            None => forced.remove(&note.account),
        };
    }

    /// Whether `session` may keep a reserved connection slot: a program the
    /// user approved, or Castkey's command acting for the person or for one.
    pub(crate) fn may_use_reserve(&self, session: &mut ClientSession) -> bool {
        !matches!(self.standing(session), Standing::Unknown)
    }

    /// The access rule ([`Access`], from the method table) for `method`,
    /// checked before its handler runs: consent for a program (asking the
    /// user, once per program, in the app), the person's own presence for a
    /// user action. `token` is the request's parameters when `method` is
    /// `token` (the prompt shows its account and scopes; a refusal is logged).
    pub(crate) async fn gate(
        &self,
        session: &mut ClientSession,
        method: &str,
        access: Access,
        token: Option<&TokenParams>,
    ) -> Result<Standing, CoreError> {
        let asked = || match token {
            Some(params) => {
                let resolved = self.broker.resolve(params).ok();
                Asked {
                    method: method.to_string(),
                    account: resolved.as_ref().map(|(a, _)| account_ref(a)),
                    scopes: resolved.map(|(_, s)| s).unwrap_or_else(|| params.scopes_or(None)),
                }
            }
            None => Asked { method: method.to_string(), account: None, scopes: Vec::new() },
        };
        // "Allow once" covers the account and scopes its prompt showed:
        // another token is asked about again.
        if let (Some(params), Some(once)) = (token, &session.once) {
            let covered = self.broker.resolve(params).is_ok_and(|(a, wanted)| once.covers(&a.id, &wanted));
            if !covered {
                session.once = None;
            }
        }
        let result = match access {
            Access::Open => Ok(Standing::Unknown),
            Access::ApprovedProgram => self.admit(session, asked).await,
            Access::UserAction => match session.terminal() {
                Some(_) => self.admit(session, asked).await,
                None => Err(self.not_the_user(session, method)),
            },
        };
        if let (Some(params), Err(e)) = (token, &result) {
            self.log_token(session, params, Err(e));
        }
        result
    }

    fn not_the_user(&self, session: &ClientSession, method: &str) -> CoreError {
        let who = match session.own_tool {
            true => format!(
                "`castkey` was run by {} ({}), not typed at a terminal",
                session.display_name(),
                session.identity
            ),
            false => format!("{} ({}) is a program", session.display_name(), session.identity),
        };
        CoreError::ClientNotAllowed(format!(
            "`{method}` is yours to do: it changes what other programs get, or shows what they did. Do it \
             in Castkey's window, or type the `castkey` command at a terminal; {who}"
        ))
    }

    /// The account `session`'s program gets by default: the one the user
    /// bound it to, else the one it chose itself (`switch`).
    fn own_account(
        &self,
        session: &ClientSession,
        standing: &Standing,
    ) -> (Option<String>, Option<Arc<str>>) {
        match standing {
            Standing::Approved(a) => {
                let chosen = session.cached.as_ref().and_then(|(_, _, c)| c.clone());
                (a.account.clone(), chosen)
            }
            Standing::Once => (None, self.gate.clients.choice(&session.identity)),
            Standing::User | Standing::Unknown => (None, None),
        }
    }

    /// `accounts` as `session` may see them: a program the user bound to
    /// one account sees that one only.
    pub(crate) fn accounts_for(&self, session: &ClientSession, standing: &Standing) -> Vec<AccountInfo> {
        let all = self.accounts.list();
        match self.own_account(session, standing).0 {
            Some(bound) => all.into_iter().filter(|a| a.id == bound).collect(),
            None => all,
        }
    }

    /// Whether a subscribed connection of `identity` hears `event`: a
    /// program bound to an account hears that account's events only.
    pub(crate) fn hears(&self, identity: &ClientIdentity, event: &CoreEvent) -> bool {
        let Some(bound) = self.gate.clients.get(identity).and_then(|a| a.account.clone()) else {
            return true;
        };
        match event {
            CoreEvent::SignedIn { account } => account.id == bound,
            CoreEvent::SignedOut { account }
            | CoreEvent::ReauthRequired { account }
            | CoreEvent::TokenRefreshed { account, .. } => account.id == bound,
            // It does not follow the active account; others' sign-ins are not its business.
            CoreEvent::ActiveChanged { .. } | CoreEvent::SignInFailed { .. } => false,
            _ => true,
        }
    }

    /// `switch` as `session` asks it: the person (window, terminal) changes
    /// the provider's active account for every program that follows it; a
    /// program changes only the account it gets itself, and one the user
    /// bound to an account may not leave it.
    pub(crate) fn switch_for(
        &self,
        session: &ClientSession,
        standing: &Standing,
        account_id: &str,
    ) -> Result<AccountInfo, CoreError> {
        if matches!(standing, Standing::User) {
            return self.switch(account_id);
        }
        let info =
            self.accounts.info(account_id).ok_or_else(|| CoreError::UnknownAccount(account_id.into()))?;
        if let (Some(bound), _) = self.own_account(session, standing) {
            if bound != account_id {
                return Err(CoreError::ClientNotAllowed(format!(
                    "{} is bound to account `{bound}` by the user: it may not switch to another (change this \
                     in Castkey's Connected apps)",
                    session.display_name()
                )));
            }
            return Ok(info);
        }
        self.gate.clients.choose(&session.identity, account_id);
        tracing::info!(client = %session.identity, account = %account_id, "a program chose its account");
        Ok(info)
    }

    /// A sign-in a program asked for ended: the account it added (never
    /// made active, see [`crate::SignInFor`]) is the account that program
    /// gets from now on.
    pub(crate) fn bind_program_sign_in(
        &self,
        identity: &ClientIdentity,
        outcome: &Result<AccountInfo, CoreError>,
    ) {
        let Ok(info) = outcome else { return };
        self.gate.clients.choose(identity, &info.id);
        tracing::info!(client = %identity, account = %info.id, "a program signed in: the active account is unchanged");
    }

    /// A token for `session`'s program, as `params` asks and as the user
    /// allows it: consent first (once per program), then its account
    /// binding and scope policy, then the broker (see
    /// [`crate::broker::TokenBroker::token_json_if`]). Logged, without the token.
    pub async fn token(
        &self,
        session: &mut ClientSession,
        params: &TokenParams,
    ) -> Result<TokenGrant, CoreError> {
        let standing =
            self.gate(session, castkey_ipc::Token::METHOD, Access::ApprovedProgram, Some(params)).await?;
        let served = self.token_json(session, params, standing).await?;
        serde_json::from_slice(&served.json).map_err(|e| CoreError::Internal(e.to_string()))
    }

    /// [`Core::token`] as the IPC answer's bytes, for a session the gate
    /// admitted as `standing`: what the socket serves (a cached token's
    /// answer is serialised once, not per request).
    pub(crate) async fn token_json(
        &self,
        session: &mut ClientSession,
        params: &TokenParams,
        standing: Standing,
    ) -> Result<ServedJson, CoreError> {
        let result = self.token_unlogged(session, params, standing).await;
        self.log_token(session, params, result.as_ref());
        result
    }

    async fn token_unlogged(
        &self,
        session: &mut ClientSession,
        params: &TokenParams,
        standing: Standing,
    ) -> Result<ServedJson, CoreError> {
        if params.force_refresh != Some(true) {
            return self.token_as_allowed(session, params, standing).await;
        }
        match self.may_force(params) {
            Force::TooSoon => {
                let unforced = TokenParams { force_refresh: None, ..params.clone() };
                self.token_as_allowed(session, &unforced, standing).await
            }
            Force::Go(noted) => {
                let result = self.token_as_allowed(session, params, standing).await;
                if let (Err(_), Some(noted)) = (&result, noted) {
                    self.forget_force(noted);
                }
                result
            }
        }
    }

    async fn token_as_allowed(
        &self,
        session: &mut ClientSession,
        params: &TokenParams,
        standing: Standing,
    ) -> Result<ServedJson, CoreError> {
        // The account the program chose for itself, unless the user bound
        // it or it names one (no allocation on the hot path: an `Arc` copy
        // only when it chose).
        let chosen = match &standing {
            Standing::Approved(a) if a.account.is_none() => {
                session.cached.as_ref().and_then(|(_, _, c)| c.clone())
            }
            Standing::Once => self.gate.clients.choice(&session.identity),
            _ => None,
        };
        let mine;
        let params = match chosen {
            Some(id)
                if params.account.is_none()
                    && params.provider.as_deref().is_none_or(|p| id.starts_with(&format!("{p}:"))) =>
            {
                mine = TokenParams { account: Some(id.to_string()), ..params.clone() };
                &mine
            }
            _ => params,
        };
        if let Standing::Once = standing {
            let once = session.once.clone();
            return self
                .broker
                .token_json_if(params, |account, wanted| match &once {
                    Some(o) if o.covers(&account.id, wanted) => Ok(()),
                    _ => Err(CoreError::ClientNotAllowed(format!(
                        "{} was allowed once for another account or fewer scopes than `{}` {wanted:?}: ask \
                         again to be asked again",
                        session.display_name(),
                        account.id
                    ))),
                })
                .await;
        }
        let Standing::Approved(approval) = standing else {
            return self.broker.token_json_if(params, |_, _| Ok(())).await;
        };
        let who = &approval.name;
        let bound;
        let params = match approval.account.as_deref() {
            None => params,
            Some(account) => {
                if params.account.as_deref().is_some_and(|a| a != account) {
                    return Err(CoreError::ClientNotAllowed(format!(
                        "{who} is bound to account `{account}`: it may not have another's tokens (change \
                         this in Castkey's Connected apps)"
                    )));
                }
                bound = TokenParams { account: Some(account.to_string()), ..params.clone() };
                &bound
            }
        };
        self.broker
            .token_json_if(params, |account, wanted| {
                if let Some(p) = params.provider.as_deref().filter(|p| *p != account.provider) {
                    return Err(CoreError::ClientNotAllowed(format!(
                        "{who} is bound to account `{}` of `{}`, not to provider `{p}`",
                        account.id, account.provider
                    )));
                }
                match &approval.scopes {
                    Some(allowed) => {
                        let beyond: Vec<&String> = wanted.iter().filter(|w| !allowed.contains(w)).collect();
                        match beyond.is_empty() {
                            true => Ok(()),
                            false => Err(CoreError::ScopeNotAllowed(format!(
                                "{who} may receive only {allowed:?}, not {beyond:?} (the user's choice; change \
                                 it in Castkey's Connected apps)"
                            ))),
                        }
                    }
                    None => Ok(()),
                }
            })
            .await
    }

    fn log_token(
        &self,
        session: &mut ClientSession,
        params: &TokenParams,
        result: Result<&ServedJson, &CoreError>,
    ) {
        let now = self.clock.now();
        let (account, outcome) = match result {
            Ok(g) => (Some(g.account_id()), "served"),
            Err(e) => (params.account.as_deref(), e.reason().as_str()),
        };
        if let Some(t) = &mut session.tally {
            if t.outcome == outcome
                && t.account.as_deref() == account
                && t.scope == params.scope
                && now.saturating_sub(t.first_at) < TALLY_SECS
            {
                t.unsent += 1;
                return;
            }
        }
        self.end_tally(session);
        let scopes = match result {
            Ok(g) => g.scopes().to_vec(),
            Err(_) => params.scopes_or(None),
        };
        self.gate.activity.record(self.entry(session, now, account, &scopes, outcome, 1));
        session.tally = Some(Tally {
            account: account.map(str::to_string),
            scope: params.scope.clone(),
            outcome,
            scopes,
            first_at: now,
            unsent: 0,
        });
    }

    fn entry(
        &self,
        session: &ClientSession,
        at: u64,
        account: Option<&str>,
        scopes: &[String],
        outcome: &str,
        count: u32,
    ) -> ActivityEntry {
        ActivityEntry {
            at,
            client: session.identity.clone(),
            client_name: session.name.clone(),
            pid: session.subject().pid,
            method: castkey_ipc::Token::METHOD.to_string(),
            account: account.map(str::to_string),
            scopes: scopes.to_vec(),
            outcome: outcome.to_string(),
            count,
        }
    }

    /// Logs the repeats of the connection's last burst (call when it closes).
    pub fn end_tally(&self, session: &mut ClientSession) {
        if let Some(t) = session.tally.take() {
            if t.unsent > 0 {
                let e = self.entry(session, t.first_at, t.account.as_deref(), &t.scopes, t.outcome, t.unsent);
                self.gate.activity.record(e);
            }
        }
    }

    /// `hello`: notes the program's name for prompts and the log; answers
    /// the protocol, the capabilities and where it stands.
    pub fn hello(&self, session: &mut ClientSession, params: &HelloParams) -> HelloResult {
        session.set_name(params.name.as_deref());
        let standing = self.standing(session);
        let (approval, bound_account, allowed_scopes) = match &standing {
            Standing::User => ("approved", None, None),
            Standing::Once => ("approved_once", None, None),
            Standing::Approved(a) => ("approved", a.account.clone(), a.scopes.clone()),
            Standing::Unknown if self.gate.prompts.recently_denied(&session.identity) => {
                ("denied", None, None)
            }
            Standing::Unknown => ("unknown", None, None),
        };
        let mut capabilities: Vec<String> = castkey_ipc::METHODS.iter().map(|m| m.to_string()).collect();
        capabilities.extend(["token.force_refresh", "token.rejected", "notifications"].map(String::from));
        HelloResult {
            protocol: castkey_ipc::PROTOCOL_VERSION,
            server: format!("castkey {}", env!("CARGO_PKG_VERSION")),
            capabilities,
            client: ClientStanding { approval: approval.into(), bound_account, allowed_scopes },
            secret_store: matches!(standing, Standing::User).then(|| self.secret_store()),
        }
    }

    /// Makes `account_id` its provider's active account. Programs that
    /// follow the active account get it from their next request; programs
    /// bound to an account keep theirs.
    pub fn switch(&self, account_id: &str) -> Result<AccountInfo, CoreError> {
        let account =
            self.accounts.get(account_id).ok_or_else(|| CoreError::UnknownAccount(account_id.into()))?;
        if self.accounts.set_active(account_id)? {
            tracing::info!(account = %account_id, "active account switched");
            let _ = self.events.send(CoreEvent::ActiveChanged {
                provider: account.provider.clone(),
                account: Some(account_ref(&account)),
            });
        }
        let _ = self.events.send(CoreEvent::AccountsChanged);
        self.accounts.info(account_id).ok_or_else(|| CoreError::UnknownAccount(account_id.into()))
    }

    /// Every account's token health, from memory.
    pub fn status(&self) -> Vec<AccountHealth> {
        self.accounts.list().into_iter().map(|a| self.broker.health(a)).collect()
    }

    /// The programs the user allowed always.
    pub fn apps(&self) -> Vec<ClientApproval> {
        self.gate.clients.list()
    }

    /// Allows a program always (or changes its policy): what "Always allow"
    /// and `castkey apps allow` do. The account, if any, must exist.
    pub fn allow_app(&self, params: &AllowAppParams) -> Result<ClientApproval, CoreError> {
        let sandboxed = crate::caller::is_sandbox_identity(&params.executable);
        if !sandboxed && !std::path::Path::new(&params.executable).is_absolute() {
            return Err(CoreError::InvalidRequest(format!(
                "`{}` is not an absolute path: name the program's executable as the OS sees it, or a \
                 sandboxed app by its id (`flatpak:com.obsproject.Studio`, `snap:<its AppArmor label>`)",
                params.executable
            )));
        }
        if sandboxed && params.script.is_some() {
            return Err(CoreError::InvalidRequest(format!(
                "`{}` is a sandboxed app, known by its id alone: it takes no script",
                params.executable
            )));
        }
        if let Some(a) = params.account.as_deref() {
            self.accounts.get(a).ok_or_else(|| CoreError::UnknownAccount(a.into()))?;
        }
        let identity =
            ClientIdentity { executable: params.executable.clone(), script: params.script.clone() };
        let name = params
            .name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| crate::consent::file_name(&identity));
        let approval = ClientApproval {
            identity: identity.clone(),
            name,
            scopes: params.scopes.as_ref().map(|s| ScopeParam::List(s.clone()).names()),
            account: params.account.clone(),
            approved_at: self.clock.now(),
        };
        self.gate.clients.allow(approval.clone())?;
        self.gate.prompts.forgive(&identity);
        tracing::info!(client = %identity, "client allowed");
        let _ = self.events.send(CoreEvent::ClientsChanged);
        Ok(approval)
    }

    /// Forgets a program's approval; its open connections lose it at once
    /// (and "allow once" connections of every program end with it).
    pub fn revoke_app(&self, identity: &ClientIdentity) -> Result<bool, CoreError> {
        let removed = self.gate.clients.revoke(identity)?;
        tracing::info!(client = %identity, removed, "client approval revoked");
        let _ = self.events.send(CoreEvent::ClientsChanged);
        Ok(removed)
    }

    /// The activity log, newest last.
    pub fn activity(&self, params: &ActivityParams) -> Vec<ActivityEntry> {
        self.gate.activity.query(params)
    }

    /// Waits until the activity recorded so far is in the log (tests).
    pub async fn flush_activity(&self) {
        self.gate.activity.flush().await
    }

    /// Whether a consent prompt that just opened may bring the window
    /// forward (at most once per `consent::RAISE_INTERVAL_SECS`).
    pub fn prompt_may_raise_window(&self) -> bool {
        self.gate.prompts.may_raise_window()
    }

    /// The consent prompts waiting for the user.
    pub fn pending_consents(&self) -> Vec<ConsentRequest> {
        self.gate.prompts.pending()
    }

    /// The user answered a consent prompt. "Always" stores the approval
    /// (with the scope policy and binding) before the waiting request
    /// goes on.
    pub fn answer_consent(&self, args: &AnswerConsentArgs) -> Result<(), CoreError> {
        let request = self.gate.prompts.get(args.id).ok_or_else(|| {
            CoreError::InvalidRequest("that request is no longer waiting for an answer".into())
        })?;
        let decision = match args.decision {
            ConsentDecision::AllowOnce => Decision::AllowOnce,
            // Not offered for an identity any program can take: once only.
            ConsentDecision::Always if !request.always_offered => Decision::AllowOnce,
            ConsentDecision::Deny => Decision::Deny,
            ConsentDecision::Always => {
                let approval = self.allow_app(&AllowAppParams {
                    executable: request.identity.executable.clone(),
                    script: request.identity.script.clone(),
                    name: request.client_name.clone(),
                    scopes: args.scopes.clone(),
                    account: args.bind_account.clone(),
                })?;
                Decision::Always(Arc::new(approval))
            }
        };
        tracing::info!(client = %request.identity, decision = ?args.decision, "consent answered");
        self.gate.prompts.close(args.id, Some(decision));
        Ok(())
    }
}

#[cfg(all(test, feature = "test-support"))]
mod tests {
    use crate::test_support::World;
    use castkey_ipc::ClientIdentity;
    use secrecy::SecretString;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// api.video's `/auth/api-key`: a token for any key.
    async fn api_video() -> String {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let base = format!("http://127.0.0.1:{}/", listener.local_addr().expect("addr").port());
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let _ = s.read(&mut vec![0u8; 16 * 1024]).await;
                let body =
                    r#"{"token_type":"Bearer","expires_in":3600,"access_token":"a","refresh_token":"r"}"#;
                let reply = format!(
                    "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(reply.as_bytes()).await;
            }
        });
        base
    }

    /// A program's sign-in, kept the way its flow ends
    /// ([`crate::grant::AccountKeeper::keep`] with [`SignInFor::Program`]),
    /// then bound to that program.
    async fn program_signs_in(w: &World, program: &ClientIdentity, key: &str) -> castkey_ipc::AccountInfo {
        let provider = w.core.catalog.get("apivideo").expect("api.video is a preset");
        let (account, set) = w
            .core
            .grants
            .add_api_key_account(&provider, "sandbox", &SecretString::from(key.to_string()))
            .await
            .expect("the stand-in takes any key");
        let outcome = w.core.keep(account, &set, crate::SignInFor::Program);
        w.core.bind_program_sign_in(program, &outcome);
        outcome.expect("the account is kept")
    }

    #[tokio::test]
    async fn a_program_s_sign_in_adds_the_account_without_making_it_everyone_s() {
        let w = World::with_api_video(&api_video().await).await;
        let key = |k: &str| SecretString::from(k.to_string());
        let main = w.core.add_api_key_account("apivideo", "sandbox", &key("main")).await.unwrap();
        let bot_program = ClientIdentity { executable: "/opt/chatbot/bot".into(), script: None };
        let mut events = w.core.subscribe();
        // A program signs in: the account is added…
        let bot = program_signs_in(&w, &bot_program, "bot").await;
        let accounts = w.core.accounts();
        assert_eq!(accounts.len(), 2);
        // …but the active account is still the user's, and never was the
        // program's, not even for a moment (the tray follows these events)…
        let active: Vec<&str> = accounts.iter().filter(|a| a.active).map(|a| a.id.as_str()).collect();
        assert_eq!(active, [main.id.as_str()]);
        assert_eq!(w.core.accounts.default_provider().as_deref(), Some("apivideo"));
        let mut seen = Vec::new();
        while let Ok(e) = events.try_recv() {
            seen.push(e);
        }
        assert!(seen
            .iter()
            .any(|e| matches!(e, crate::CoreEvent::SignedIn { account } if account.id == bot.id)));
        assert!(!seen.iter().any(|e| matches!(e, crate::CoreEvent::ActiveChanged { .. })), "{seen:?}");
        // …and the new account is the one that program gets.
        assert_eq!(w.core.gate.clients.choice(&bot_program).as_deref(), Some(bot.id.as_str()));
        // The first account a program adds for a provider is nobody's default.
        let w = World::with_api_video(&api_video().await).await;
        program_signs_in(&w, &bot_program, "bot").await;
        assert!(w.core.accounts().iter().all(|a| !a.active));
        assert_eq!(w.core.accounts.default_provider(), None);
        // A program that names no account hears which are signed in and how
        // to make one active, not "no account is signed in".
        let err = w.core.accounts.resolve(None, None).unwrap_err();
        assert!(
            matches!(&err, crate::CoreError::NoActiveAccount { signed_in, .. } if signed_in.len() == 1),
            "{err}"
        );
        assert_eq!(err.reason(), castkey_ipc::Reason::NotSignedIn);
        assert!(err.to_string().contains("castkey switch"), "{err}");
    }
}
