//! [`Gate`]: what the access rules (`access.rs`) keep between requests:
//! consent mode, approved programs, prompts, the activity log, the
//! forced-refresh notes and Castkey's own tools, in one place.

use crate::activity::ActivityLog;
use crate::clients::ApprovedClients;
use crate::clock::Clock;
use crate::consent::{ClientSession, ConsentMode, ConsentPrompts};
use crate::error::CoreError;
use crate::event::CoreEvent;
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use tokio::sync::broadcast;

/// Who may ask, in one place: the consent mode, the programs the user
/// approved with their policy (`clients.json`), the prompts waiting for the
/// user, the activity log, the forced-refresh notes and Castkey's own tools.
/// The core holds one; the access rules in `access.rs` (its `impl Core`)
/// are what reads and changes what is inside, so every request meets the
/// same rules. Its own file, not `access.rs`: the core holds it, and the
/// core and `access` must not import each other (DESIGN.md).
pub(crate) struct Gate {
    pub(crate) consent: ConsentMode,
    pub(crate) clients: Arc<ApprovedClients>,
    pub(crate) prompts: Arc<ConsentPrompts>,
    pub(crate) activity: ActivityLog,
    /// When each account's token was last refreshed on a program's demand
    /// (`force_refresh`): at most one such refresh per account per
    /// [`crate::FORCE_INTERVAL_SECS`].
    pub(crate) forced: Mutex<HashMap<String, u64>>,
    /// Castkey's own executables, as they were when this broker started.
    own_tools: Option<crate::OwnTools>,
}

impl Gate {
    /// The gate of the broker whose files are in `config_dir`
    /// (`clients.json`, watched for hand edits; `activity.jsonl`).
    pub(crate) fn start(
        config_dir: &Path,
        consent: ConsentMode,
        events: &broadcast::Sender<CoreEvent>,
        clock: Arc<dyn Clock>,
    ) -> Result<Self, CoreError> {
        let clients = Arc::new(ApprovedClients::load(config_dir.join("clients.json"))?);
        clients.watch_file(events);
        Ok(Gate {
            consent,
            clients,
            prompts: Arc::new(ConsentPrompts::new(events.clone(), clock)),
            activity: ActivityLog::start(config_dir.join("activity.jsonl")),
            forced: Default::default(),
            own_tools: crate::OwnTools::of_this_process(),
        })
    }

    /// The session of a new connection from `caller`.
    pub(crate) fn session(&self, caller: crate::Caller) -> ClientSession {
        ClientSession::new(caller, self.own_tools.as_ref())
    }

    /// Writes out the activity recorded so far, saying if any was lost
    /// (the process is stopping).
    pub(crate) async fn flush_log(&self) {
        self.activity.flush().await;
        if self.activity.dropped() > 0 {
            tracing::warn!(
                dropped = self.activity.dropped(),
                "activity entries were lost (the log fell behind)"
            );
        }
    }

    /// Lets the person at terminal `t` act as the user (tests: what
    /// answering that terminal's prompt does).
    #[cfg(any(test, feature = "test-support"))]
    pub(crate) fn allow_terminal(&self, t: &crate::Terminal) {
        self.prompts.allow_terminal(t)
    }
}
