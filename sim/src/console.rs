//! The console seam with a scripted keyboard: printed lines are recorded, typed lines come from the
//! scenario, and input ends when they run out. The server's console is buffered as the real one is
//! (`StdConsole::buffered`): its lines are recorded when it flushes, so a line held too long shows
//! up late, out of step with its timestamp.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use connid::{clock, Console};

use crate::clock::SimClock;

use crate::clock::now;
use crate::events::{EventKind, Recorder};

/// One host's console.
#[derive(Debug)]
pub struct ScriptedConsole {
    host: Arc<str>,
    rec: Recorder,
    clock: SimClock,
    typed: VecDeque<String>,
    typing: Duration,
    /// Standard output lines not written out yet (a buffered console only).
    held: Option<Vec<String>>,
}

impl ScriptedConsole {
    /// A console that answers prompts with `typed`, one line each, `typing` after the prompt.
    pub fn new(
        host: &str,
        rec: Recorder,
        clock: SimClock,
        typed: &[String],
        typing: Duration,
    ) -> Self {
        Self {
            host: host.into(),
            rec,
            clock,
            typed: typed.iter().cloned().collect(),
            typing,
            held: None,
        }
    }

    /// A console that holds standard output lines until [`Console::flush`], a line on standard
    /// error or a prompt, as the real server's does.
    pub fn buffered(mut self) -> Self {
        self.held = Some(Vec::new());
        self
    }

    /// Records the lines held, as written out now. Outside the simulation (the run is being torn
    /// down) there is nothing to record.
    fn write_out(&mut self) {
        let Some(held) = self.held.as_mut().filter(|h| !h.is_empty()) else {
            return;
        };
        let lines = std::mem::take(held);
        if let Some(at) = turmoil::sim_elapsed() {
            for line in lines {
                self.rec.record(at, &self.host, EventKind::Out(line));
            }
        }
    }
}

impl Drop for ScriptedConsole {
    /// A program that ends writes out what its console holds (a crash comes while the server waits,
    /// after its flush).
    fn drop(&mut self) {
        self.write_out();
    }
}

impl Console for ScriptedConsole {
    fn out(&mut self, line: &str) {
        match &mut self.held {
            Some(held) => held.push(line.to_string()),
            None => self
                .rec
                .record(now(), &self.host, EventKind::Out(line.to_string())),
        }
    }

    fn flush(&mut self) {
        self.write_out();
    }

    fn err(&mut self, line: &str) {
        // Standard output is written out first, as the real console does, to keep the order.
        self.write_out();
        self.rec
            .record(now(), &self.host, EventKind::Err(line.to_string()));
    }

    async fn prompt(&mut self, prompt: &str) -> io::Result<Option<String>> {
        self.write_out();
        let typed = self.typed.pop_front();
        let kind = EventKind::Prompt {
            prompt: prompt.to_string(),
            typed: typed.clone(),
            after: self.typing,
        };
        self.rec.record(now(), &self.host, kind);
        clock::sleep(&self.clock, self.typing).await;
        Ok(typed)
    }
}
