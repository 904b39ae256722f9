//! One in-process world for tests (feature `test-support`): the real
//! [`Core`] with an in-memory secret store, a manual clock, a browser that
//! records what it was asked to open, a temporary config directory and a
//! collector of [`CoreEvent`]s. Nothing here is used by the app or the CLI.
//!
//! ```text
//! let w = World::with_sandbox("http://127.0.0.1:9").await;
//! w.clock.advance(60);
//! let event = w.events.next().await;
//! ```

use crate::catalog::ProviderCatalog;
pub use crate::clock::ManualClock;
use crate::core::{BrowserLauncher, Core, CoreOptions, RedirectMode};
use crate::event::CoreEvent;
pub use crate::secret::MemoryStore;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;
use url::Url;

/// A browser that opens nothing and remembers every URL it was given.
#[derive(Debug, Default)]
pub struct RecordingBrowser {
    opened: Mutex<Vec<Url>>,
}

impl RecordingBrowser {
    /// Every URL opened so far, oldest first.
    pub fn opened(&self) -> Vec<Url> {
        self.opened.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl BrowserLauncher for RecordingBrowser {
    fn open(&self, url: &Url) -> Result<(), String> {
        self.opened.lock().unwrap_or_else(|e| e.into_inner()).push(url.clone());
        Ok(())
    }
}

/// The events a [`Core`] announced, read in order.
#[derive(Debug)]
pub struct EventCollector {
    rx: tokio::sync::Mutex<broadcast::Receiver<CoreEvent>>,
}

impl EventCollector {
    /// The next event, waiting up to 10 s for it (`None` if none came).
    pub async fn next(&self) -> Option<CoreEvent> {
        let mut rx = self.rx.lock().await;
        tokio::time::timeout(Duration::from_secs(10), rx.recv()).await.ok()?.ok()
    }

    /// Waits (up to 10 s) for the first event that `wanted` accepts.
    pub async fn wait_for(&self, wanted: impl Fn(&CoreEvent) -> bool) -> Option<CoreEvent> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        let mut rx = self.rx.lock().await;
        loop {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Ok(e)) if wanted(&e) => return Some(e),
                Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
                Ok(Err(_)) | Err(_) => return None,
            }
        }
    }
}

/// The real core, wired to test doubles only where the real thing cannot
/// run in a unit test (keychain, clock, browser).
#[derive(Debug)]
pub struct World {
    pub core: Arc<Core>,
    pub secrets: Arc<MemoryStore>,
    pub clock: Arc<ManualClock>,
    pub browser: Arc<RecordingBrowser>,
    pub events: EventCollector,
    pub dir: tempfile::TempDir,
    /// How the catalog was made, to make it again at [`World::restart`].
    remake: CatalogMaker,
    consent: crate::consent::ConsentMode,
}

/// Makes the world's provider catalog (again, at a restart).
struct CatalogMaker(Box<dyn Fn() -> ProviderCatalog + Send + Sync>);

impl std::fmt::Debug for CatalogMaker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CatalogMaker")
    }
}

impl World {
    /// A world offering the local sandbox provider at `issuer` (and
    /// api.video at its documented hosts, as always).
    pub async fn with_sandbox(issuer: &str) -> Self {
        Self::start(sandbox(issuer), crate::consent::ConsentMode::Prompt).await
    }

    /// A world offering api.video with both environments at `base` (a
    /// stand-in on loopback).
    pub async fn with_api_video(base: &str) -> Self {
        let url = Url::parse(base).expect("base URL");
        let remake = CatalogMaker(Box::new(move || {
            let mut catalog = ProviderCatalog::default();
            catalog.add(crate::services::api_video(url.clone(), url.clone())).expect("api.video provider");
            catalog
        }));
        Self::start(remake, crate::consent::ConsentMode::Prompt).await
    }

    /// The sandbox world of a headless broker: programs not in
    /// `clients.json` are refused, nobody is asked.
    pub async fn with_sandbox_listed_only(issuer: &str) -> Self {
        Self::start(sandbox(issuer), crate::consent::ConsentMode::ListedOnly).await
    }

    async fn start(remake: CatalogMaker, consent: crate::consent::ConsentMode) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let secrets = Arc::new(MemoryStore::default());
        let clock = ManualClock::new(1_700_000_000);
        let browser = Arc::new(RecordingBrowser::default());
        Self::start_on(dir, secrets, clock, browser, remake, consent).await
    }

    async fn start_on(
        dir: tempfile::TempDir,
        secrets: Arc<MemoryStore>,
        clock: Arc<ManualClock>,
        browser: Arc<RecordingBrowser>,
        remake: CatalogMaker,
        consent: crate::consent::ConsentMode,
    ) -> Self {
        let core = Core::start(CoreOptions {
            config_dir: dir.path().to_path_buf(),
            redirect_mode: RedirectMode::AppScheme,
            consent,
            secrets: secrets.clone(),
            catalog: (remake.0)(),
            browser: browser.clone(),
            clock: clock.clone(),
        })
        .await
        .expect("core starts");
        let events = EventCollector { rx: tokio::sync::Mutex::new(core.subscribe()) };
        World { core, secrets, clock, browser, events, dir, remake, consent }
    }

    /// The same world after Castkey quit and started again: a new [`Core`]
    /// on the same config directory, secret store (as a keychain outlives
    /// the process), clock and providers; nothing kept in memory survives.
    /// Panics if something still holds the old core.
    pub async fn restart(self) -> Self {
        let World { core, secrets, clock, browser, events, dir, remake, consent } = self;
        core.shutdown(Duration::from_secs(5)).await;
        drop(events);
        let core = Arc::try_unwrap(core).expect("nothing else holds the core at a restart");
        drop(core);
        Self::start_on(dir, secrets, clock, browser, remake, consent).await
    }
}

/// The local sandbox provider at `issuer`.
fn sandbox(issuer: &str) -> CatalogMaker {
    let url = Url::parse(issuer).expect("issuer URL");
    CatalogMaker(Box::new(move || {
        let mut catalog = ProviderCatalog::default();
        catalog.add(crate::services::local_sandbox(url.clone())).expect("sandbox provider");
        catalog
    }))
}

impl World {
    /// A connection from this test process, which is the serving process:
    /// one of Castkey's own tools, acting for whoever runs it (this test's
    /// parent chain decides; prefer [`World::terminal_session`] or
    /// [`World::session_for`], which say whom).
    pub fn own_session(&self) -> crate::ClientSession {
        self.core.gate.session(crate::Caller::this_process())
    }

    /// Approves whom `session` acts for: its program always (a terminal:
    /// until it closes), as the user would in the window.
    pub fn approve(&self, session: &crate::ClientSession) {
        match session.terminal() {
            Some(t) => self.core.gate.allow_terminal(t),
            None => {
                let id = &session.identity;
                let params = castkey_ipc::AllowAppParams {
                    executable: id.executable.clone(),
                    script: id.script.clone(),
                    ..Default::default()
                };
                self.core.allow_app(&params).unwrap_or_else(|e| panic!("cannot approve {id}: {e}"));
            }
        }
    }

    /// Approves this test process as the broker sees it when it connects to
    /// the socket (it is Castkey's own executable: whoever runs it).
    pub fn approve_this_process(&self) {
        let me = crate::Caller::this_process();
        let seen = crate::Caller::from_peer(me.uid, me.pid);
        self.approve(&self.core.gate.session(seen));
    }

    /// The person: Castkey's command typed at a terminal, that terminal
    /// already allowed.
    pub fn user_session(&self) -> crate::ClientSession {
        let session = self.terminal_session();
        self.approve(&session);
        session
    }

    /// Castkey's own command typed at a terminal: the person. The terminal
    /// session is this test process's own (it runs while the test does).
    pub fn terminal_session(&self) -> crate::ClientSession {
        let me = crate::Caller::this_process();
        let pid = me.pid.unwrap_or(1);
        let shell = crate::Caller { executable: Some("/bin/bash".into()), ..me.clone() };
        let terminal = crate::caller::Terminal {
            tty: "/dev/pts/99".into(),
            tty_nr: (136 << 8) | 99,
            session: pid,
            leader_start: me.start_time,
            shell,
        };
        crate::ClientSession::acting_for(me, true, crate::caller::Principal::Terminal(terminal))
    }

    /// Castkey's own command run by another program, `executable` (with
    /// `script`), pid 4343: it acts for that program.
    pub fn cli_run_by(&self, executable: &str, script: Option<&str>) -> crate::ClientSession {
        let program = Self::caller(executable, script, 4343);
        crate::ClientSession::acting_for(
            crate::Caller::this_process(),
            true,
            crate::caller::Principal::Program(program),
        )
    }

    fn caller(executable: &str, script: Option<&str>, pid: i32) -> crate::Caller {
        crate::Caller {
            uid: crate::Caller::this_process().uid,
            pid: Some(pid),
            executable: Some(executable.into()),
            script: script.map(str::to_string),
            start_time: None,
            strength: crate::caller::Strength::Executable,
        }
    }

    /// A connection from a program whose identity any program can take
    /// (`script`: `-c`, a module name…), pid 4444.
    pub fn weak_session(executable: &str, script: &str) -> crate::ClientSession {
        let mut caller = Self::caller(executable, Some(script), 4444);
        caller.strength = crate::caller::Strength::Weak("code on a command line".into());
        crate::ClientSession::new(caller, None)
    }

    /// A connection from another program, `executable` (with `script` for
    /// an interpreter), with pid 4242: a broadcasting app as the core sees it.
    pub fn session_for(&self, executable: &str, script: Option<&str>) -> crate::ClientSession {
        self.core.gate.session(Self::caller(executable, script, 4242))
    }
}
