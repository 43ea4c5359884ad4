//! The program under test as a child process, in a process group of its own: started with its
//! filled-in command line (and the virtual clock's library, on that clock), its output read as bytes (each line recorded
//! as it arrives, text that waits without a newline told to the case as a prompt), its exit recorded
//! with its code, and killed with its whole group when its case ends.

use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::clock::Instant;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::watch;

use connid_sim::events::{EventKind, Recorder};

/// How to start a child: its command line and the directory it runs in (the checker's when `None`).
#[derive(Debug, Clone, Copy)]
pub struct Launch<'a> {
    pub argv: &'a [String],
    pub dir: Option<&'a std::path::Path>,
}

/// A running (or ended) child; dropping it kills it and its process group.
pub struct Child {
    /// Its process ID, which is also its process group's (`None` once the system no longer reports one).
    pid: Option<u32>,
    /// The exit code once it has exited (`None` inside: killed by a signal).
    exited: watch::Receiver<Option<Option<i32>>>,
    /// Set to end it, and every process it started.
    kill: watch::Sender<bool>,
    /// Whether everything it printed has been read (its pipes closed).
    drained: watch::Receiver<bool>,
    stderr: Arc<Mutex<String>>,
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.kill.send(true);
        kill_group(self.pid);
        if let (Some(pid), Ok(mut live)) = (self.pid, LIVE.lock()) {
            live.retain(|&p| p != pid);
        }
    }
}

/// The process groups of every child not yet dropped: a case on the virtual clock runs on a thread
/// of its own, which a stopping run does not wait for, so the run kills them by this list.
static LIVE: Mutex<Vec<u32>> = Mutex::new(Vec::new());

/// Kills every child still running, with its process group (a run that stops early: its output
/// closed, or Ctrl-C).
pub fn kill_all() {
    let live = LIVE.lock().map(|l| l.clone()).unwrap_or_default();
    for pid in live {
        kill_group(Some(pid));
    }
}

/// Kills the process group `pid` leads: the child and whatever it started (a shell wrapper's
/// program, say), so no grandchild keeps the case's pipes or ports.
fn kill_group(pid: Option<u32>) {
    #[cfg(unix)]
    if let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) {
        // SAFETY: kill(2) with a negative pid signals a process group; it touches no memory of ours.
        unsafe {
            libc::kill(-pid, libc::SIGKILL);
        }
    }
    #[cfg(not(unix))]
    let _ = pid;
}

/// `pid` and every process it started, as `/proc` tells (only `pid` where there is no `/proc`).
pub fn family(pid: u32) -> Vec<u32> {
    let mut family = vec![pid];
    let mut next = 0;
    while let Some(&p) = family.get(next) {
        next += 1;
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            continue;
        };
        for task in tasks.flatten() {
            let children =
                std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            family.extend(
                children
                    .split_whitespace()
                    .filter_map(|c| c.parse::<u32>().ok()),
            );
        }
    }
    family
}

/// The command that starts `launch`: in its directory, on this thread's clock, its output piped, in
/// a process group of its own, killed if dropped.
fn command(launch: Launch<'_>, stdin: Stdio) -> std::io::Result<Command> {
    let Launch { argv, dir } = launch;
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| std::io::Error::other("an empty command line"))?;
    let mut command = Command::new(program);
    if let Some(dir) = dir {
        command.current_dir(dir);
    }
    command
        .args(args)
        .envs(crate::clock::env())
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    #[cfg(unix)]
    command.process_group(0);
    Ok(command)
}

/// How long a child's last lines are waited for after it exits, before its exit is recorded anyway
/// (a process it left behind may hold its pipes until the case ends).
const LAST_LINES: Duration = Duration::from_secs(1);

impl Child {
    /// Starts `argv` as `host`, in a process group of its own, recording its start, its lines and its
    /// exit against `start`; what it prints on standard output is also told to `watch`, if given.
    pub fn spawn(
        launch: Launch<'_>,
        host: &'static str,
        recorder: &Recorder,
        start: Instant,
        stdin: Stdio,
        watch: Option<UnboundedSender<Printed>>,
    ) -> std::io::Result<(Child, Option<tokio::process::ChildStdin>)> {
        let mut child = command(launch, stdin)?.spawn()?;
        recorder.record(
            start.elapsed(),
            host,
            EventKind::Start(launch.argv.join(" ")),
        );
        let pid = child.id();
        if let Some(pid) = pid {
            crate::clock::watch(pid);
            if let Ok(mut live) = LIVE.lock() {
                live.push(pid);
            }
        }
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
        let (drained_tx, drained) = watch::channel(false);
        let (kill, mut killed) = watch::channel(false);
        let recorder = recorder.clone();
        tokio::spawn(async move {
            let status = tokio::select! {
                status = child.wait() => status.ok(),
                _ = async { killed.wait_for(|k| *k).await.map(|_| ()) } => {
                    kill_group(pid);
                    let _ = child.kill().await;
                    None
                }
            };
            let mut readers = std::pin::pin!(async {
                for reader in [out, err].into_iter().flatten() {
                    let _ = reader.await;
                }
            });
            // When it ended: its last lines are read before its exit is recorded (unless something
            // it left behind holds its pipes), but the exit keeps its own moment.
            let ended = start.elapsed();
            if let Some(pid) = pid {
                crate::clock::reaped(pid);
            }
            let read_all = crate::clock::timeout(LAST_LINES, &mut readers)
                .await
                .is_ok();
            let code = status.map(|s| s.code());
            if let Some(code) = code {
                let at = ended;
                match code {
                    Some(c) => recorder.record(at, host, EventKind::Exit(c.clamp(0, 255) as u8)),
                    // Killed by a signal nobody here sent: a crash.
                    None => recorder.record(at, host, EventKind::Crash),
                }
            }
            let _ = exited_tx.send(Some(code.flatten()));
            if !read_all {
                tokio::select! {
                    () = &mut readers => {}
                    _ = async { killed.wait_for(|k| *k).await.map(|_| ()) } => {
                        kill_group(pid);
                        readers.await;
                    }
                }
            }
            let _ = drained_tx.send(true);
        });
        Ok((
            Child {
                pid,
                exited,
                kill,
                drained,
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
        crate::clock::timeout(limit, exited.wait_for(Option::is_some))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Kills it and its process group if they still run, and waits until their output is read: what
    /// it printed on standard error.
    pub async fn stop(&mut self) -> String {
        let _ = self.kill.send(true);
        let mut drained = self.drained.clone();
        let _ = drained.wait_for(|d| *d).await;
        self.stderr.lock().map(|s| s.clone()).unwrap_or_default()
    }
}

/// What the child printed on standard output, as a case watching it sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Printed {
    /// A line, read when its line ending came (recorded as an `out` event already).
    Line(Duration, String),
    /// Text without a line ending that stayed so for [`PROMPT_QUIET`]: a prompt, with when it
    /// appeared. It is not recorded: the keyboard records it with what it typed.
    Prompt(Duration, String),
}

/// How long text without a line ending must stand before it counts as a prompt.
pub const PROMPT_QUIET: Duration = Duration::from_millis(100);

/// Where a stream's lines go besides the record.
enum Output {
    /// Standard output, watched by the case if it asks.
    Out(Option<UnboundedSender<Printed>>),
    /// Standard error, also kept whole for the report.
    Err(Arc<Mutex<String>>),
}

impl Output {
    /// Records one line read at `at`.
    fn line(&self, recorder: &Recorder, host: &'static str, at: Duration, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        let text = text.trim_end_matches(['\n', '\r']).to_string();
        match self {
            Output::Out(watch) => {
                recorder.record(at, host, EventKind::Out(text.clone()));
                if let Some(watch) = watch {
                    let _ = watch.send(Printed::Line(at, text));
                }
            }
            Output::Err(all) => {
                if let Ok(mut all) = all.lock() {
                    all.push_str(&text);
                    all.push('\n');
                }
                recorder.record(at, host, EventKind::Err(text));
            }
        }
    }
}

/// Records each line of `from` as printed by `host`. Read as bytes, not lines: on a watched standard
/// output, text that waits without a line ending is a prompt, told to the watcher when it appeared.
/// Text left without a line ending at the end of the stream is a line.
async fn lines(
    mut from: impl AsyncRead + Unpin,
    host: &'static str,
    recorder: Recorder,
    start: Instant,
    output: Output,
) {
    let watch = match &output {
        Output::Out(Some(watch)) => Some(watch.clone()),
        _ => None,
    };
    let mut pending: Vec<u8> = Vec::new();
    // When the text in `pending` began to arrive.
    let mut since = Duration::ZERO;
    let mut buf = [0u8; 4096];
    loop {
        let read = match (&watch, pending.is_empty()) {
            (Some(watch), false) => {
                match crate::clock::timeout(PROMPT_QUIET, from.read(&mut buf)).await {
                    Ok(read) => read,
                    Err(_) => {
                        let text = String::from_utf8_lossy(&pending).into_owned();
                        let _ = watch.send(Printed::Prompt(since, text));
                        pending.clear();
                        continue;
                    }
                }
            }
            _ => from.read(&mut buf).await,
        };
        let n = match read {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let at = start.elapsed();
        if pending.is_empty() {
            since = at;
        }
        pending.extend_from_slice(&buf[..n]);
        while let Some(end) = pending.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            output.line(&recorder, host, at, &line);
            since = at;
        }
    }
    if !pending.is_empty() {
        output.line(&recorder, host, start.elapsed(), &pending);
    }
}
