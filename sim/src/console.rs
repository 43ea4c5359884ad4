//! The console seam with a scripted keyboard: printed lines are recorded, typed lines come from the
//! scenario, and input ends when they run out.

use std::collections::VecDeque;
use std::io;
use std::sync::Arc;
use std::time::Duration;

use connid::{clock, Console};

use crate::clock::SimClock;

use crate::events::{EventKind, Recorder};
use crate::net::now;

/// One host's console.
#[derive(Debug)]
pub struct ScriptedConsole {
    host: Arc<str>,
    rec: Recorder,
    clock: SimClock,
    typed: VecDeque<String>,
    typing: Duration,
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
        }
    }
}

impl Console for ScriptedConsole {
    fn out(&mut self, line: &str) {
        self.rec
            .record(now(), &self.host, EventKind::Out(line.to_string()));
    }

    fn err(&mut self, line: &str) {
        self.rec
            .record(now(), &self.host, EventKind::Err(line.to_string()));
    }

    async fn prompt(&mut self, prompt: &str) -> io::Result<Option<String>> {
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
