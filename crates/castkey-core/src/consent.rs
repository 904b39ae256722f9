//! Who may ask: the consent prompt, and what each connection was allowed.
//!
//! - [`ConsentMode`]: the desktop app asks the user ([`ConsentPrompts`]); the
//!   headless broker serves only the programs in `clients.json`.
//! - [`ClientSession`]: one connection's caller and what was decided for it,
//!   cached so that the hot path is one atomic load when nothing changed.
//! - [`ConsentPrompts`]: open prompts (one per program however many of its
//!   requests wait), answers, timeouts, and the denied programs' quiet time.

use crate::caller::{Caller, Principal, Strength, Terminal};
use crate::clock::Clock;
use crate::error::CoreError;
use crate::event::CoreEvent;
use castkey_ipc::ui::ConsentRequest;
use castkey_ipc::{AccountRef, ClientApproval, ClientIdentity};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, oneshot};

/// How a program the user has not approved is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConsentMode {
    /// Ask in the window (the desktop app).
    Prompt,
    /// Refuse, naming `clients.json` and `castkey apps allow` (the headless
    /// broker, which has nobody to ask).
    ListedOnly,
}

/// How long a request waits for the user's answer.
pub const CONSENT_WAIT: Duration = Duration::from_secs(120);
/// How long a denied program is refused without a new prompt.
pub const DENIED_QUIET_SECS: u64 = 300;

/// A new prompt brings the window forward at most once in this many
/// seconds, however many programs ask (the prompts still queue in it).
pub const RAISE_INTERVAL_SECS: u64 = 5;

/// What the user decided in a prompt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    AllowOnce,
    Always(Arc<ClientApproval>),
    Deny,
}

/// What a connection may do, as decided so far.
#[derive(Debug, Clone)]
pub enum Standing {
    /// The person at a terminal (Castkey's command typed there; in the app,
    /// once that terminal session was allowed): any account, any scope,
    /// and the user's own actions.
    User,
    /// Approved always, with a policy.
    Approved(Arc<ClientApproval>),
    /// Allowed once: this connection, any scope the account holds.
    Once,
    /// Not decided: the request needs the user (or is refused headless).
    Unknown,
}

/// "Allow once": valid while no revocation happened since (the value of
/// `ApprovedClients::revocations` when given), for the account and scopes
/// the prompt showed (`None`: the prompt showed no account, so no token).
#[derive(Debug, Clone)]
pub(crate) struct AllowedOnce {
    pub(crate) revocations: u64,
    pub(crate) account: Option<String>,
    pub(crate) scopes: Vec<String>,
}

impl AllowedOnce {
    /// Whether a token of `account` with `scopes` is what the prompt showed.
    pub(crate) fn covers(&self, account: &str, scopes: &[String]) -> bool {
        self.account.as_deref() == Some(account) && scopes.iter().all(|s| self.scopes.contains(s))
    }
}

/// An approval as looked up at a generation of `ApprovedClients`, with the
/// account the program chose for itself.
pub(crate) type Looked = (u64, Option<Arc<ClientApproval>>, Option<Arc<str>>);

/// One connection: who is on the other end, whom it acts for, and what
/// was decided for it.
#[derive(Debug)]
pub struct ClientSession {
    /// The connecting process.
    pub caller: Caller,
    /// Whom it acts for: itself, or (Castkey's own command) the program
    /// that ran it or the person at its terminal.
    pub principal: Principal,
    /// The principal's identity: what consent, policy and the log name.
    pub identity: ClientIdentity,
    /// From `hello`, at most 100 characters: a claim, shown as such. Not
    /// taken from Castkey's command (it would name itself, not the program
    /// it acts for).
    pub name: Option<String>,
    pub(crate) own_tool: bool,
    /// "Allow once", valid while no revocation happened since (the value of
    /// `ApprovedClients::revocations` when it was given).
    pub(crate) once: Option<AllowedOnce>,
    /// The approval looked up at `ApprovedClients::generation`, with the
    /// account the program chose for itself (`switch`), if any.
    pub(crate) cached: Option<Looked>,
    /// The terminal's session was allowed (checked once per connection).
    pub(crate) terminal_allowed: bool,
    /// The connection receives notifications.
    pub subscribed: bool,
    /// Token requests not yet in the activity log.
    pub(crate) tally: Option<Tally>,
}

impl ClientSession {
    /// A session for `caller`; `own` are Castkey's own executables as the
    /// serving process knows them ([`Caller::is_own_tool`]). Castkey's own
    /// command acts for whoever runs it, found from its parent chain.
    pub fn new(caller: Caller, own: Option<&crate::OwnTools>) -> Self {
        let own_tool = caller.is_own_tool(own);
        let principal = match own_tool {
            true => crate::caller::acting_for(&caller),
            false => Principal::Itself,
        };
        Self::acting_for(caller, own_tool, principal)
    }

    /// A session of `caller` acting for `principal`, as [`ClientSession::new`]
    /// found it (and tests state it).
    pub fn acting_for(caller: Caller, own_tool: bool, principal: Principal) -> Self {
        let identity = match &principal {
            Principal::Itself => caller.identity(),
            Principal::Program(p) => p.identity(),
            Principal::Terminal(t) => t.identity(),
        };
        ClientSession {
            caller,
            principal,
            identity,
            name: None,
            own_tool,
            once: None,
            cached: None,
            terminal_allowed: false,
            subscribed: false,
            tally: None,
        }
    }

    /// The process consent is about: the caller, or the program (the
    /// shell, for a terminal) it acts for.
    pub fn subject(&self) -> &Caller {
        match &self.principal {
            Principal::Itself => &self.caller,
            Principal::Program(p) => p,
            Principal::Terminal(t) => &t.shell,
        }
    }

    /// The terminal this session acts for, if any.
    pub fn terminal(&self) -> Option<&Terminal> {
        match &self.principal {
            Principal::Terminal(t) => Some(t),
            _ => None,
        }
    }

    /// Whether "Always allow" may be offered, and what the prompt must say
    /// about the identity.
    pub(crate) fn identity_note(&self) -> (bool, Option<String>) {
        if let Some(t) = self.terminal() {
            return (
                false,
                Some(format!(
                    "a command typed in terminal {}: allowed until that terminal session ends (a program \
                     started from it is allowed too, as with sudo)",
                    t.tty
                )),
            );
        }
        let subject = self.subject();
        match &subject.strength {
            Strength::Weak(why) => (false, Some(format!("allowed once at most: {why}"))),
            Strength::Sandboxed => (
                true,
                Some("a sandboxed app, named by its sandbox: the program cannot choose this name".into()),
            ),
            Strength::Executable => (true, None),
        }
    }

    /// A name for people: the `hello` name, else the executable's file
    /// name (the script's, for an interpreter).
    pub fn display_name(&self) -> String {
        if let Some(n) = &self.name {
            return n.clone();
        }
        file_name(&self.identity)
    }

    pub(crate) fn set_name(&mut self, name: Option<&str>) {
        if self.principal != Principal::Itself {
            return;
        }
        self.name = name
            .map(|n| n.chars().filter(|c| !crate::is_unsafe_char(*c)).take(100).collect::<String>())
            .filter(|n| !n.trim().is_empty());
    }
}

/// Repeats of the same request on one connection, not yet in the log: the
/// first of a burst is logged at once, the rest as one entry with a count
/// when the burst ends (another request, a minute, the connection closes).
#[derive(Debug)]
pub struct Tally {
    pub(crate) account: Option<String>,
    pub(crate) scope: Option<castkey_ipc::ScopeParam>,
    pub(crate) outcome: &'static str,
    pub(crate) scopes: Vec<String>,
    pub(crate) first_at: u64,
    pub(crate) unsent: u32,
}

/// A program's name for people when it gave none: the file name of its
/// script, else of its executable.
pub(crate) fn file_name(identity: &ClientIdentity) -> String {
    let path = identity.script.as_deref().unwrap_or(&identity.executable);
    path.rsplit('/').next().unwrap_or(path).to_string()
}

struct Open {
    request: ConsentRequest,
    waiters: Vec<oneshot::Sender<Decision>>,
}

/// The prompts waiting for the user.
pub struct ConsentPrompts {
    next_id: AtomicU64,
    open: Mutex<HashMap<ClientIdentity, Open>>,
    denied: Mutex<HashMap<ClientIdentity, u64>>,
    /// Terminal sessions the user allowed: (device, session, leader's start).
    terminals: Mutex<HashSet<(i32, i32, Option<u64>)>>,
    /// When a prompt last brought the window forward ([`RAISE_INTERVAL_SECS`]).
    raised_at: Mutex<Option<u64>>,
    events: broadcast::Sender<CoreEvent>,
    clock: Arc<dyn Clock>,
}

impl std::fmt::Debug for ConsentPrompts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ConsentPrompts").finish_non_exhaustive()
    }
}

/// What a prompt shows besides the session: the first request.
#[derive(Debug, Clone)]
pub struct Asked {
    pub method: String,
    pub account: Option<AccountRef>,
    pub scopes: Vec<String>,
}

impl ConsentPrompts {
    pub fn new(events: broadcast::Sender<CoreEvent>, clock: Arc<dyn Clock>) -> Self {
        ConsentPrompts {
            next_id: AtomicU64::new(1),
            open: Default::default(),
            denied: Default::default(),
            terminals: Default::default(),
            raised_at: Default::default(),
            events,
            clock,
        }
    }

    /// Whether a prompt that just opened may bring the window forward: at
    /// most once per [`RAISE_INTERVAL_SECS`], so that a program asking over
    /// and over (under new names, or again after each timeout) cannot keep
    /// taking the user's focus. The prompt shows in the window either way.
    pub fn may_raise_window(&self) -> bool {
        let now = self.clock.now();
        let mut at = self.raised_at.lock().unwrap_or_else(|e| e.into_inner());
        match *at {
            Some(t) if now.saturating_sub(t) < RAISE_INTERVAL_SECS => false,
            _ => {
                *at = Some(now);
                true
            }
        }
    }

    /// Whether `identity` was denied less than [`DENIED_QUIET_SECS`] ago.
    pub fn recently_denied(&self, identity: &ClientIdentity) -> bool {
        let now = self.clock.now();
        let mut denied = self.denied.lock().unwrap_or_else(|e| e.into_inner());
        denied.retain(|_, until| *until > now);
        denied.contains_key(identity)
    }

    /// Asks the user about `session`'s program and waits (at most `wait`)
    /// for the answer. Requests of a program with a prompt open wait for
    /// that prompt. Errors: `ConsentDenied` (now or recently),
    /// `ConsentTimeout`.
    pub async fn ask(
        &self,
        session: &ClientSession,
        asked: Asked,
        wait: Duration,
    ) -> Result<Decision, CoreError> {
        let who = session.display_name();
        if self.recently_denied(&session.identity) {
            return Err(denied(&who));
        }
        let (tx, rx) = oneshot::channel();
        let id = {
            let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
            match open.get_mut(&session.identity) {
                Some(o) => {
                    o.waiters.push(tx);
                    o.request.id
                }
                None => {
                    let id = self.next_id.fetch_add(1, Ordering::Relaxed);
                    let (always_offered, note) = session.identity_note();
                    let via = (session.principal != Principal::Itself).then(|| {
                        let cli = session.caller.identity().executable;
                        let pid = session.caller.pid.map(|p| format!(" (process {p})")).unwrap_or_default();
                        format!("Castkey's command {cli}{pid}")
                    });
                    let request = ConsentRequest {
                        id,
                        client_name: session.name.clone(),
                        identity: session.identity.clone(),
                        interpreted: session.subject().is_interpreted(),
                        pid: session.subject().pid,
                        account: asked.account,
                        scopes: asked.scopes,
                        method: asked.method,
                        expires_at: self.clock.now() + wait.as_secs(),
                        always_offered,
                        note,
                        via,
                    };
                    open.insert(
                        session.identity.clone(),
                        Open { request: request.clone(), waiters: vec![tx] },
                    );
                    tracing::info!(client = %session.identity, id, "asking the user about a new client");
                    let _ = self.events.send(CoreEvent::ConsentRequested(request));
                    id
                }
            }
        };
        match tokio::time::timeout(wait, rx).await {
            Ok(Ok(Decision::Deny)) => Err(denied(&who)),
            Ok(Ok(decision)) => Ok(decision),
            // The prompt was dropped (the app quits) or nobody answered.
            Ok(Err(_)) | Err(_) => {
                self.close(id, None);
                Err(CoreError::ConsentTimeout(format!(
                    "nobody answered Castkey's prompt about {who} in time; ask again to show it again"
                )))
            }
        }
    }

    /// Settles prompt `id` with `decision` (`None`: it timed out); answers
    /// the request it was about.
    pub fn close(&self, id: u64, decision: Option<Decision>) -> Option<ConsentRequest> {
        let open = {
            let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
            let identity = open.iter().find(|(_, o)| o.request.id == id).map(|(k, _)| k.clone())?;
            open.remove(&identity)?
        };
        if decision == Some(Decision::Deny) {
            let until = self.clock.now() + DENIED_QUIET_SECS;
            self.denied
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(open.request.identity.clone(), until);
        }
        if let Some(d) = decision {
            for w in open.waiters {
                let _ = w.send(d.clone());
            }
        }
        let _ = self.events.send(CoreEvent::ConsentSettled { id });
        Some(open.request)
    }

    /// The prompt `id`, if still open.
    pub fn get(&self, id: u64) -> Option<ConsentRequest> {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        open.values().find(|o| o.request.id == id).map(|o| o.request.clone())
    }

    /// Every open prompt, oldest first (a window opened late shows them).
    pub fn pending(&self) -> Vec<ConsentRequest> {
        let open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let mut all: Vec<_> = open.values().map(|o| o.request.clone()).collect();
        all.sort_by_key(|r| r.id);
        all
    }

    /// Allows terminal session `t` until it ends.
    pub(crate) fn allow_terminal(&self, t: &Terminal) {
        let mut all = self.terminals.lock().unwrap_or_else(|e| e.into_inner());
        all.insert((t.tty_nr, t.session, t.leader_start));
    }

    /// Whether terminal session `t` was allowed and still runs (sessions
    /// that ended are forgotten).
    pub(crate) fn terminal_allowed(&self, t: &Terminal) -> bool {
        let mut all = self.terminals.lock().unwrap_or_else(|e| e.into_inner());
        all.retain(|(_, session, start)| {
            crate::caller::proc_stat(*session).is_some_and(|s| Some(s.start_time) == *start)
        });
        all.contains(&(t.tty_nr, t.session, t.leader_start))
    }

    /// Forgets a denial (the user allowed the program in Connected apps).
    pub fn forgive(&self, identity: &ClientIdentity) {
        self.denied.lock().unwrap_or_else(|e| e.into_inner()).remove(identity);
    }
}

fn denied(who: &str) -> CoreError {
    CoreError::ConsentDenied(format!(
        "the user denied {who} access to Castkey (asking again is possible in {} minutes, or allow it in \
         Castkey's Connected apps)",
        DENIED_QUIET_SECS / 60
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ManualClock;

    fn session(exe: &str) -> ClientSession {
        let caller = Caller {
            uid: 0,
            pid: Some(42),
            executable: Some(exe.into()),
            script: None,
            start_time: None,
            strength: Strength::Executable,
        };
        ClientSession::new(caller, None)
    }

    fn asked() -> Asked {
        Asked { method: "token".into(), account: None, scopes: vec!["broadcaster".into()] }
    }

    #[tokio::test]
    async fn requests_of_one_program_share_one_prompt_and_a_denial_quiets_it() {
        let (events, mut rx) = broadcast::channel(16);
        let clock = ManualClock::new(1_000);
        let prompts = Arc::new(ConsentPrompts::new(events, clock.clone()));
        let (a, b) = (session("/opt/bot"), session("/opt/bot"));
        let p1 = prompts.clone();
        let first = tokio::spawn(async move { p1.ask(&a, asked(), Duration::from_secs(5)).await });
        let p2 = prompts.clone();
        let second = tokio::spawn(async move { p2.ask(&b, asked(), Duration::from_secs(5)).await });
        let CoreEvent::ConsentRequested(req) = rx.recv().await.unwrap() else { panic!("no prompt") };
        assert_eq!(req.identity.executable, "/opt/bot");
        assert_eq!(req.pid, Some(42));
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert_eq!(prompts.pending().len(), 1, "one prompt for both requests");
        prompts.close(req.id, Some(Decision::Deny));
        for r in [first.await.unwrap(), second.await.unwrap()] {
            assert!(matches!(r, Err(CoreError::ConsentDenied(_))), "{r:?}");
        }
        // Asking again at once is refused without a prompt…
        let r = prompts.ask(&session("/opt/bot"), asked(), Duration::from_secs(5)).await;
        assert!(matches!(r, Err(CoreError::ConsentDenied(_))));
        assert!(prompts.pending().is_empty());
        assert!(matches!(rx.recv().await.unwrap(), CoreEvent::ConsentSettled { .. }));
        assert!(rx.try_recv().is_err(), "no new prompt while quiet");
        // …until the quiet time has passed.
        clock.advance(DENIED_QUIET_SECS);
        let p = prompts.clone();
        let third =
            tokio::spawn(async move { p.ask(&session("/opt/bot"), asked(), Duration::from_secs(5)).await });
        let CoreEvent::ConsentRequested(req) = rx.recv().await.unwrap() else { panic!("no prompt") };
        prompts.close(req.id, Some(Decision::AllowOnce));
        assert_eq!(third.await.unwrap().unwrap(), Decision::AllowOnce);
    }

    #[test]
    fn prompts_raise_the_window_at_most_once_per_interval() {
        let (events, _rx) = broadcast::channel(16);
        let clock = ManualClock::new(1_000);
        let prompts = ConsentPrompts::new(events, clock.clone());
        assert!(prompts.may_raise_window());
        let raised = (0..100).filter(|_| prompts.may_raise_window()).count();
        assert_eq!(raised, 0, "a flood of prompts raises nothing more");
        clock.advance(RAISE_INTERVAL_SECS - 1);
        assert!(!prompts.may_raise_window());
        clock.advance(1);
        assert!(prompts.may_raise_window());
    }

    #[tokio::test]
    async fn an_unanswered_prompt_times_out_and_closes() {
        let (events, _rx) = broadcast::channel(16);
        let prompts = ConsentPrompts::new(events, ManualClock::new(1));
        let r = prompts.ask(&session("/opt/x"), asked(), Duration::from_millis(100)).await;
        assert!(matches!(r, Err(CoreError::ConsentTimeout(_))), "{r:?}");
        assert!(prompts.pending().is_empty());
    }

    #[test]
    fn a_claimed_name_is_cleaned_and_cut() {
        let mut s = session("/usr/bin/obs");
        assert_eq!(s.display_name(), "obs");
        s.set_name(Some("OBS\u{7}\nStudio"));
        assert_eq!(s.display_name(), "OBSStudio");
        s.set_name(Some("\u{202E}oidutS SBO\u{1b}[2J"));
        assert_eq!(s.display_name(), "oidutS SBO[2J");
        s.set_name(Some(&"x".repeat(500)));
        assert_eq!(s.display_name().len(), 100);
        s.set_name(Some("   "));
        assert_eq!(s.display_name(), "obs");
    }
}
