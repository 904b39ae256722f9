//! Child processes that are always cleaned up: each runs in its own process
//! group, and the whole group is stopped (SIGTERM, then SIGKILL) when its
//! [`Guard`] is stopped or dropped.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug)]
pub struct Guard {
    pub name: String,
    pub child: Child,
    stopped: bool,
}

#[allow(unsafe_code)]
fn signal_group(pid: u32, sig: i32) {
    // SAFETY: kill(2) with a negative pid signals the process group the
    // child leads; no memory is touched.
    unsafe {
        libc::kill(-(pid as i32), sig);
    }
}

impl Guard {
    pub fn spawn(name: &str, mut cmd: Command) -> Guard {
        cmd.process_group(0);
        let child = cmd.spawn().unwrap_or_else(|e| panic!("could not start {name}: {e}"));
        Guard { name: name.into(), child, stopped: false }
    }

    /// Starts a process and waits for a stdout line `pick` accepts (60 s on
    /// an idle machine, stretched by [`crate::wait::patience`]); the rest of
    /// its output goes to `log`. Fails at once, with the log, if the process
    /// exits first.
    pub fn spawn_reading_line(
        name: &str,
        mut cmd: Command,
        log: PathBuf,
        mut pick: impl FnMut(&str) -> Option<String>,
    ) -> (Guard, String) {
        let stderr = std::fs::File::create(&log).expect("log");
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(stderr);
        let mut g = Guard::spawn(name, cmd);
        let stdout = g.child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let limit = crate::wait::patient(Duration::from_secs(60));
        let start = Instant::now();
        loop {
            match rx.recv_timeout(Duration::from_millis(200)) {
                Ok(line) => {
                    if let Some(v) = pick(&line) {
                        // Keep draining so the child never blocks on a full pipe.
                        std::thread::spawn(move || while rx.recv().is_ok() {});
                        return (g, v);
                    }
                }
                Err(std::sync::mpsc::RecvTimeoutError::Timeout) if start.elapsed() < limit => {}
                Err(why) => {
                    let log = std::fs::read_to_string(&log).unwrap_or_default();
                    let status = g.child.try_wait().ok().flatten();
                    match (why, status) {
                        (_, Some(status)) => panic!("{name} exited ({status}) before it was ready; its log:\n{log}"),
                        _ => panic!(
                            "{name} printed no ready line within {:.0} s (60 s × {} for a busy machine); its log:\n{log}",
                            start.elapsed().as_secs_f64(),
                            crate::wait::patience()
                        ),
                    }
                }
            }
        }
    }

    /// Sends `sig` to the process itself (not its group), unless it has
    /// been stopped and reaped already.
    #[allow(unsafe_code)]
    pub fn signal(&mut self, sig: i32) {
        if self.stopped || !self.is_running() {
            return;
        }
        // SAFETY: kill(2) on the child's pid, which has not been reaped
        // (try_wait just said it runs), so it cannot have been reused.
        unsafe {
            libc::kill(self.child.id() as i32, sig);
        }
    }

    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let pid = self.child.id();
        signal_group(pid, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                // The leader is gone; take any stragglers of its group too.
                signal_group(pid, libc::SIGKILL);
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        signal_group(pid, libc::SIGKILL);
        let _ = self.child.wait();
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        self.stop();
    }
}
