//! The console seam: lines a program prints, and the line a user types at a prompt.

use std::future::Future;
use std::io::{self, IsTerminal, Write};

use tokio::io::{AsyncBufReadExt, BufReader, Stdin};

/// Where a program's output goes and where typed input comes from.
pub trait Console: Send {
    /// Prints one line of the program's output (standard output).
    fn out(&mut self, line: &str);
    /// Prints one diagnostic line (standard error).
    fn err(&mut self, line: &str);
    /// Shows `prompt` and reads one line; `None` at end of input. The line ending is removed.
    fn prompt(&mut self, prompt: &str) -> impl Future<Output = io::Result<Option<String>>> + Send;
    /// Writes out lines held back by a buffered console; a server calls it before it waits.
    fn flush(&mut self) {}
}

/// The process's standard output, error and input.
pub struct StdConsole {
    stdin: BufReader<Stdin>,
    /// Standard output; flushed after every line unless `buffered`.
    stdout: io::BufWriter<io::Stdout>,
    buffered: bool,
    /// Input that is not a terminal is not echoed by one, so the console echoes it itself.
    echo: bool,
    /// A prompt is showing and no line ended it yet (input was interrupted).
    mid_line: bool,
}

impl StdConsole {
    pub fn new() -> Self {
        Self {
            stdin: BufReader::new(tokio::io::stdin()),
            stdout: io::BufWriter::with_capacity(64 * 1024, io::stdout()),
            buffered: false,
            echo: !io::stdin().is_terminal(),
            mid_line: false,
        }
    }
}

impl StdConsole {
    /// A console that holds output lines until [`Console::flush`]: one write for many lines when a
    /// server is busy.
    pub fn buffered() -> Self {
        Self {
            buffered: true,
            ..Self::new()
        }
    }
}

impl Default for StdConsole {
    fn default() -> Self {
        Self::new()
    }
}

impl Console for StdConsole {
    fn out(&mut self, line: &str) {
        // A closed stdout must not kill the program (the protocol still runs), so errors are ignored.
        if std::mem::take(&mut self.mid_line) {
            let _ = writeln!(self.stdout);
        }
        let _ = writeln!(self.stdout, "{line}");
        if !self.buffered {
            let _ = self.stdout.flush();
        }
    }

    fn flush(&mut self) {
        let _ = self.stdout.flush();
    }

    fn err(&mut self, line: &str) {
        let _ = self.stdout.flush();
        let _ = writeln!(io::stderr().lock(), "{line}");
    }

    async fn prompt(&mut self, prompt: &str) -> io::Result<Option<String>> {
        let _ = write!(self.stdout, "{prompt}").and_then(|_| self.stdout.flush());
        self.mid_line = true;
        let mut line = String::new();
        let n = self.stdin.read_line(&mut line).await?;
        let typed = line.trim_end_matches(['\n', '\r']).to_string();
        // The line typed ends the prompt's line: a terminal echoes it; otherwise it is echoed here.
        self.mid_line = false;
        if self.echo || n == 0 {
            self.out(&typed);
        }
        Ok((n > 0).then_some(typed))
    }
}
