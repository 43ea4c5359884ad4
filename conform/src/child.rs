//! The program under test as a child process, in a process group of its own: started with its
//! filled-in command line (and the virtual clock's library, on that clock), its output read as bytes
//! (each line recorded as it arrives; the text after the last line ending kept for the keyboard,
//! which takes it as the prompt it answers), its exit recorded with its code, and killed with its
//! whole group when its case ends.

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
    /// What it has printed on standard output since its last line ending.
    unfinished: Unfinished,
}

impl Drop for Child {
    fn drop(&mut self) {
        let _ = self.kill.send(true);
        kill_group(self.pid);
        if let (Some(pid), Ok(mut live)) = (self.pid, LIVE.lock()) {
            live.pids.retain(|&p| p != pid);
        }
    }
}

/// The process groups of every child not yet dropped: a case on the virtual clock runs on a thread
/// of its own, which a stopping run does not wait for, so the run kills them by this list.
static LIVE: Mutex<Live> = Mutex::new(Live {
    pids: Vec::new(),
    stopping: false,
});

struct Live {
    pids: Vec<u32>,
    /// Set by [`kill_all`]: no child starts after it.
    stopping: bool,
}

/// Kills every child still running, with its process group (a run that stops early: its output
/// closed, or Ctrl-C), and lets no other start: a case thread about to start one when the run
/// stops would leave it running after conform has gone.
pub fn kill_all() {
    let Ok(mut live) = LIVE.lock() else {
        return;
    };
    live.stopping = true;
    for &pid in &live.pids {
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
            let children = read_proc(task.path().join("children")).unwrap_or_default();
            family.extend(
                children
                    .split_whitespace()
                    .filter_map(|c| c.parse::<u32>().ok()),
            );
        }
    }
    family
}

/// A small `/proc` file (a thread's `stat`, `schedstat`, `syscall`, `children`) in as few system calls
/// as can be: one open, a read into a page-sized buffer, the read that finds its end, one close. The
/// controller reads thousands of them a second; `read_to_string` would first ask the file's size
/// (`/proc` says 0) and then read in growing pieces, three times the calls.
pub fn read_proc(path: impl AsRef<std::path::Path>) -> Option<String> {
    use std::io::Read;
    let mut file = std::fs::File::open(path).ok()?;
    let mut buf = [0u8; 4096];
    let mut len = 0;
    while len < buf.len() {
        match file.read(&mut buf[len..]).ok()? {
            0 => break,
            n => len += n,
        }
    }
    let mut text = String::from_utf8_lossy(&buf[..len]).into_owned();
    if len == buf.len() {
        // Longer than a page (a `children` list of hundreds): the rest as it comes.
        file.read_to_string(&mut text).ok()?;
    }
    Some(text)
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

/// How many programs this process has begun to start, and finished starting (one at a time, under
/// the list's lock, so they finish in order). From its fork until its exec has closed them a starting
/// program holds a copy of every descriptor this process has open, so one the checker closes (a
/// program's input, a connection) stays open until then: what [`crate::clock::closed`] waits for.
static STARTS_BEGUN: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
static STARTS_DONE: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// Waits (up to [`EXEC_LIMIT`]) until the child `pid`, forked by a thread named `forker`, has closed
/// the descriptors it inherited: `spawn` returns once the child's exec has replaced its memory, but
/// the kernel closes the close-on-exec descriptors a moment later (a loaded machine can make that
/// milliseconds), and names the process after its new program only after that. So the name no longer
/// being the forking thread's, or the process gone, says they are closed.
fn closed_on_exec(pid: Option<u32>, forker: &str) {
    let Some(pid) = pid else {
        return;
    };
    let begun = std::time::Instant::now();
    while begun.elapsed() < EXEC_LIMIT {
        match read_proc(format!("/proc/{pid}/comm")) {
            Some(name) if name == forker => std::thread::sleep(Duration::from_micros(50)),
            _ => return,
        }
    }
}

/// How long a start waits for its child's exec to close what it inherited ([`closed_on_exec`]): a
/// program whose name is the forking thread's is waited for this long.
const EXEC_LIMIT: Duration = Duration::from_millis(100);

/// How many programs this process has begun to start.
pub fn starts_begun() -> u64 {
    STARTS_BEGUN.load(std::sync::atomic::Ordering::Acquire)
}

/// How many of them have been started (exec'd, inherited descriptors closed) or failed to.
pub fn starts_done() -> u64 {
    STARTS_DONE.load(std::sync::atomic::Ordering::Acquire)
}

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
        // Started and listed under the list's lock, so a run that stops kills it or it never starts.
        let mut child = {
            let mut live = LIVE
                .lock()
                .map_err(|_| std::io::Error::other("the list of children is poisoned"))?;
            if live.stopping {
                return Err(std::io::Error::other("the run is stopping"));
            }
            let mut command = command(launch, stdin)?;
            STARTS_BEGUN.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            let forker = read_proc("/proc/thread-self/comm");
            let child = command.spawn();
            if let (Ok(child), Some(forker)) = (&child, forker) {
                closed_on_exec(child.id(), &forker);
            }
            STARTS_DONE.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            let child = child?;
            live.pids.extend(child.id());
            child
        };
        recorder.record(
            start.elapsed(),
            host,
            EventKind::Start(launch.argv.join(" ")),
        );
        let pid = child.id();
        if let Some(pid) = pid {
            crate::clock::watch(pid);
        }
        let stdin = child.stdin.take();
        let stderr = Arc::new(Mutex::new(String::new()));
        let unfinished = Unfinished::default();
        let out = child.stdout.take().map(|o| {
            if let Ok(mut u) = unfinished.0.lock() {
                u.pipe = dup(&o);
            }
            let output = Output::Out(watch, unfinished.clone());
            tokio::spawn(lines(o, host, recorder.clone(), start, output))
        });
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
                unfinished,
            },
            stdin,
        ))
    }

    /// Its process ID.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// What it has printed on standard output since its last line ending (its prompt, when it asks).
    pub fn unfinished(&self) -> &Unfinished {
        &self.unfinished
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

/// A line the child printed on standard output, as a case watching it sees it (recorded as an
/// `out` event already), with when it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Printed(pub Duration, pub String);

/// The text a child has printed since its last line ending, shared by the reader of its output and
/// the keyboard: the keyboard takes it as the prompt it answers, so what the child prints after the
/// typed line starts a line of its own, as on a terminal where the typed line ends with Enter.
#[derive(Clone, Default)]
pub struct Unfinished(Arc<Mutex<Pending>>);

#[derive(Default)]
struct Pending {
    /// When its first byte was read.
    since: Duration,
    text: Vec<u8>,
    /// A second descriptor of the output pipe's reading end: how many bytes wait in the pipe.
    pipe: Option<std::os::fd::OwnedFd>,
}

impl Unfinished {
    /// Takes the text (and when it began) once everything the child has written is read, waiting
    /// a little for the reader to catch up: `None` when there is none.
    pub async fn take(&self) -> Option<(Duration, String)> {
        for _ in 0..50 {
            if self.0.lock().map_or(0, |p| waiting(p.pipe.as_ref())) == 0 {
                break;
            }
            crate::clock::sleep(Duration::from_millis(1)).await;
        }
        let mut pending = self.0.lock().ok()?;
        if pending.text.is_empty() {
            return None;
        }
        let text = String::from_utf8_lossy(&std::mem::take(&mut pending.text)).into_owned();
        Some((pending.since, text))
    }
}

/// A second descriptor of `pipe` (closed on exec), for asking how many bytes wait in it.
fn dup(pipe: &impl std::os::fd::AsFd) -> Option<std::os::fd::OwnedFd> {
    pipe.as_fd().try_clone_to_owned().ok()
}

/// How many bytes wait unread in a pipe (0 if it cannot be told).
fn waiting(pipe: Option<&std::os::fd::OwnedFd>) -> usize {
    use std::os::fd::AsRawFd;
    let Some(pipe) = pipe else {
        return 0;
    };
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD on a descriptor we own writes one int.
    let r = unsafe { libc::ioctl(pipe.as_raw_fd(), libc::FIONREAD, &mut n) };
    if r == 0 {
        n.max(0) as usize
    } else {
        0
    }
}

/// Where a stream's lines go besides the record.
enum Output {
    /// Standard output, watched by the case if it asks; its unfinished line kept for the keyboard.
    Out(Option<UnboundedSender<Printed>>, Unfinished),
    /// Standard error, also kept whole for the report.
    Err(Arc<Mutex<String>>),
}

impl Output {
    /// Records one line read at `at`.
    fn line(&self, recorder: &Recorder, host: &'static str, at: Duration, bytes: &[u8]) {
        let text = String::from_utf8_lossy(bytes);
        let text = text.trim_end_matches(['\n', '\r']).to_string();
        match self {
            Output::Out(watch, _) => {
                recorder.record(at, host, EventKind::Out(text.clone()));
                if let Some(watch) = watch {
                    let _ = watch.send(Printed(at, text));
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

/// Records each line of `from` as printed by `host`, as it arrives. Read as bytes, not lines: on
/// standard output the text after the last line ending waits in its [`Unfinished`] for a line ending,
/// the keyboard (which takes it as a prompt), or the end of the stream (where it is a line).
async fn lines(
    mut from: impl AsyncRead + Unpin,
    host: &'static str,
    recorder: Recorder,
    start: Instant,
    output: Output,
) {
    let unfinished = match &output {
        Output::Out(_, unfinished) => unfinished.clone(),
        Output::Err(_) => Unfinished::default(),
    };
    let mut buf = [0u8; 4096];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let at = start.elapsed();
        let Ok(mut pending) = unfinished.0.lock() else {
            break;
        };
        if pending.text.is_empty() {
            pending.since = at;
        }
        pending.text.extend_from_slice(&buf[..n]);
        while let Some(end) = pending.text.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = pending.text.drain(..=end).collect();
            output.line(&recorder, host, at, &line);
            pending.since = at;
        }
    }
    let rest = unfinished
        .0
        .lock()
        .map(|mut p| std::mem::take(&mut p.text))
        .unwrap_or_default();
    if !rest.is_empty() {
        output.line(&recorder, host, start.elapsed(), &rest);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_start_waits_until_the_child_has_closed_what_it_inherited() {
        // The child's name stops being the forking thread's once its exec has closed them.
        let forker = read_proc("/proc/thread-self/comm").unwrap();
        let mut child = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let begun = std::time::Instant::now();
        closed_on_exec(Some(child.id()), &forker);
        let quick = begun.elapsed();
        assert_eq!(
            read_proc(format!("/proc/{}/comm", child.id())).unwrap(),
            "sleep\n"
        );
        // A program named as the forking thread is waited for the whole limit, no longer.
        let begun = std::time::Instant::now();
        closed_on_exec(Some(child.id()), "sleep\n");
        let named_alike = begun.elapsed();
        let _ = child.kill();
        let _ = child.wait();
        assert!(quick < EXEC_LIMIT, "{quick:?}");
        assert!(named_alike >= EXEC_LIMIT, "{named_alike:?}");
        assert!(named_alike < EXEC_LIMIT * 20, "{named_alike:?}");
        // A child gone, or none: no wait.
        let begun = std::time::Instant::now();
        closed_on_exec(Some(u32::MAX), "sleep\n");
        closed_on_exec(None, "sleep\n");
        assert!(begun.elapsed() < EXEC_LIMIT);
    }
}
