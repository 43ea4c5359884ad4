//! The program under test as a child process: started with its filled-in command line, each line it
//! prints recorded as it arrives, its exit recorded with its code, and killed when its case ends.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::events::{EventKind, Recorder};
use crate::scenario::SERVER;

/// A running (or ended) child; dropping it kills it.
pub struct Child {
    /// Its process ID (`None` once the system no longer reports one).
    pid: Option<u32>,
    /// The exit code once it has exited (`None` inside: killed by a signal).
    exited: watch::Receiver<Option<Option<i32>>>,
    kill: Option<tokio::sync::oneshot::Sender<()>>,
    stderr: Arc<Mutex<String>>,
}

impl Child {
    /// Starts `argv` as `host`, recording its start, its lines and its exit against `start`; each line
    /// it prints on standard output is also sent to `watch` (with when it was read), if given.
    pub fn spawn(
        argv: &[String],
        host: &'static str,
        recorder: &Recorder,
        start: Instant,
        stdin: Stdio,
        watch: Option<UnboundedSender<(Duration, String)>>,
    ) -> std::io::Result<(Child, Option<tokio::process::ChildStdin>)> {
        let (program, args) = argv
            .split_first()
            .ok_or_else(|| std::io::Error::other("an empty command line"))?;
        let mut child = Command::new(program)
            .args(args)
            .stdin(stdin)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        recorder.record(start.elapsed(), host, EventKind::Start(argv.join(" ")));
        let pid = child.id();
        let stdin = child.stdin.take();
        let stderr = Arc::new(Mutex::new(String::new()));
        let out = child
            .stdout
            .take()
            .map(|o| tokio::spawn(lines(o, host, recorder.clone(), start, Output::Out(watch))));
        let err = child.stderr.take().map(|e| {
            tokio::spawn(lines(
                e,
                host,
                recorder.clone(),
                start,
                Output::Err(stderr.clone()),
            ))
        });
        let (exited_tx, exited) = watch::channel(None);
        let (kill, killed) = tokio::sync::oneshot::channel::<()>();
        let recorder = recorder.clone();
        tokio::spawn(async move {
            let status = tokio::select! {
                status = child.wait() => status.ok(),
                _ = killed => {
                    let _ = child.kill().await;
                    None
                }
            };
            // Its last lines are read before its exit is recorded.
            for reader in [out, err].into_iter().flatten() {
                let _ = reader.await;
            }
            let code = status.map(|s| s.code());
            if let Some(code) = code {
                let at = start.elapsed();
                match code {
                    Some(c) => recorder.record(at, host, EventKind::Exit(c.clamp(0, 255) as u8)),
                    // Killed by a signal nobody here sent: a crash.
                    None => recorder.record(at, host, EventKind::Crash),
                }
            }
            let _ = exited_tx.send(Some(code.flatten()));
        });
        Ok((
            Child {
                pid,
                exited,
                kill: Some(kill),
                stderr,
            },
            stdin,
        ))
    }

    /// Its process ID.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// Whether it has exited.
    pub fn has_exited(&self) -> bool {
        self.exited.borrow().is_some()
    }

    /// Waits up to `limit` for it to exit on its own: whether it did.
    pub async fn wait(&mut self, limit: Duration) -> bool {
        let mut exited = self.exited.clone();
        tokio::time::timeout(limit, exited.wait_for(Option::is_some))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Kills it if it still runs, and waits until its output is read.
    pub async fn stop(&mut self) -> String {
        if let Some(kill) = self.kill.take() {
            let _ = kill.send(());
        }
        let mut exited = self.exited.clone();
        let _ = exited.wait_for(Option::is_some).await;
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// Where a stream's lines go besides the record.
enum Output {
    /// Standard output, watched by the case if it asks.
    Out(Option<UnboundedSender<(Duration, String)>>),
    /// Standard error, also kept whole for the report.
    Err(Arc<Mutex<String>>),
}

/// The assignment's client lines. A prompt printed without a newline runs into the line after it
/// (`New ID: Connection established ...`): the line is read from where one of these begins.
const CLIENT_LINES: [&str; 3] = [
    "Connection established",
    "Connection Error",
    "Connection Failure",
];

/// `line` without a prompt run into its start.
fn without_prompt(line: &str) -> &str {
    CLIENT_LINES
        .iter()
        .filter_map(|marker| line.find(marker))
        .min()
        .map_or(line, |at| &line[at..])
}

/// Records each line of `from` as printed by `host`.
async fn lines(
    from: impl AsyncRead + Unpin,
    host: &'static str,
    recorder: Recorder,
    start: Instant,
    output: Output,
) {
    let mut reader = BufReader::new(from);
    let mut line = Vec::new();
    loop {
        line.clear();
        match reader.read_until(b'\n', &mut line).await {
            Ok(0) | Err(_) => return,
            Ok(_) => {}
        }
        let text = String::from_utf8_lossy(&line);
        let text = text.trim_end_matches(['\n', '\r']);
        let at = start.elapsed();
        match &output {
            Output::Out(watch) => {
                let text = if host == SERVER {
                    text
                } else {
                    without_prompt(text)
                };
                recorder.record(at, host, EventKind::Out(text.to_string()));
                if let Some(watch) = watch {
                    let _ = watch.send((at, text.to_string()));
                }
            }
            Output::Err(all) => {
                if let Ok(mut all) = all.lock() {
                    all.push_str(text);
                    all.push('\n');
                }
                recorder.record(at, host, EventKind::Err(text.to_string()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prompt_run_into_a_client_line_is_cut_off() {
        assert_eq!(
            without_prompt("Enter a new ID: Connection Error 7 on 2023-01-16 06:06:06.123456"),
            "Connection Error 7 on 2023-01-16 06:06:06.123456"
        );
        assert_eq!(
            without_prompt("Connection Failure on x"),
            "Connection Failure on x"
        );
        assert_eq!(without_prompt("sending HELLO 7"), "sending HELLO 7");
    }
}
