//! The process's last log lines, kept in memory for "Export diagnostics"
//! (which redacts them again). Every line also goes to stderr as before.

use std::collections::VecDeque;
use std::io::Write;
use std::sync::Mutex;

/// How many lines are kept.
const KEEP: usize = 300;

static LINES: Mutex<VecDeque<String>> = Mutex::new(VecDeque::new());

/// The kept lines, oldest first.
pub fn recent() -> Vec<String> {
    LINES.lock().unwrap_or_else(|e| e.into_inner()).iter().cloned().collect()
}

/// A `tracing_subscriber` writer: stderr, and a copy of each line here.
#[derive(Debug, Clone, Copy, Default)]
pub struct TeeWriter;

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for TeeWriter {
    type Writer = TeeWriter;
    fn make_writer(&'a self) -> Self::Writer {
        TeeWriter
    }
}

impl Write for TeeWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        let mut lines = LINES.lock().unwrap_or_else(|e| e.into_inner());
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            if lines.len() == KEEP {
                lines.pop_front();
            }
            lines.push_back(line.to_string());
        }
        drop(lines);
        std::io::stderr().write_all(buf)?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
