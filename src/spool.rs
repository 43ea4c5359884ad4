//! Output that never makes the server wait. Lines are gathered into chunks and handed through a
//! bounded queue to a thread of their own that writes them. While the queue is full the lines wait,
//! up to [`HOLD`] bytes; past that (nobody reads the pipe, the terminal is paused) they are dropped
//! and counted, and the next chunk that gets through begins with a line saying how many were lost
//! ([`ServerLine::LinesDropped`]). At the end the spool waits a bounded time for its writer; whatever
//! is still unwritten then is counted on standard error, if that can be written.
//!
//! Why a thread and a `std` bounded channel rather than tracing-appender's non-blocking writer: the
//! server's lines are its output, not tracing events, and the count must go in-band, at the gap, once
//! output flows again, which tracing-appender's lossy mode does not do (it only counts).

use std::fs::File;
use std::io::{self, Write};
use std::mem::ManuallyDrop;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, SyncSender, TrySendError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::console::Console;
use crate::lines::ServerLine;

/// Chunks waiting for the writer at most (each handed over at [`CHUNK`] bytes, or at most [`HOLD`]
/// when it had to wait).
pub const QUEUE: usize = 16;
/// A chunk is handed over once it holds this many bytes, or when the server is about to wait.
pub const CHUNK: usize = 64 * 1024;
/// The most bytes of lines held back while the queue is full, before they are dropped.
pub const HOLD: usize = 1024 * 1024;

/// The most bytes a pipe takes in one write or not at all (POSIX's `PIPE_BUF` on Linux): the writer
/// writes whole lines in pieces no longer, so a process that ends while its output is blocked never
/// leaves half a line in the pipe.
const PIPE_ATOMIC: usize = 4096;

/// `text` (whole lines) cut at line ends into pieces of at most [`PIPE_ATOMIC`] bytes (or one line,
/// if longer), each with its number of lines.
fn pieces(text: &str) -> impl Iterator<Item = (&str, u64)> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let window = &rest.as_bytes()[..rest.len().min(PIPE_ATOMIC)];
        let end = match window.iter().rposition(|&b| b == b'\n') {
            Some(i) => i + 1,
            None => rest.find('\n').map_or(rest.len(), |i| i + 1),
        };
        let (piece, tail) = rest.split_at(end);
        rest = tail;
        Some((piece, piece.matches('\n').count() as u64))
    })
}

/// Lines on their way to the writer.
#[derive(Default)]
struct Chunk {
    text: String,
    lines: u64,
    /// Lines dropped before it, said in a line of its own ahead of it.
    dropped_before: u64,
}

/// One output stream (a file descriptor) written by a thread of its own.
pub struct Spool {
    queue: Option<SyncSender<Chunk>>,
    chunk: Chunk,
    /// Lines dropped since the last chunk that got through.
    dropped: u64,
    /// Lines handed to the writer, and lines it has written (or failed to: a closed output).
    handed: u64,
    written: Arc<AtomicU64>,
    done: Receiver<()>,
}

impl Spool {
    /// A spool that writes to `out` from a new thread.
    pub fn new(mut out: impl Write + Send + 'static) -> io::Result<Self> {
        let (queue, chunks) = mpsc::sync_channel::<Chunk>(QUEUE);
        let (finished, done) = mpsc::channel();
        let written = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&written);
        std::thread::Builder::new()
            .name("output".into())
            .spawn(move || {
                for chunk in chunks {
                    if chunk.dropped_before > 0 {
                        let notice = ServerLine::LinesDropped {
                            count: chunk.dropped_before,
                        };
                        let _ = writeln!(out, "{notice}").and_then(|()| out.flush());
                        counter.fetch_add(1, Ordering::Release);
                    }
                    for (piece, lines) in pieces(&chunk.text) {
                        // A closed output loses its lines, as it would for any program: not
                        // counted.
                        let _ = out.write_all(piece.as_bytes()).and_then(|()| out.flush());
                        counter.fetch_add(lines, Ordering::Release);
                    }
                }
                let _ = finished.send(());
            })?;
        Ok(Self {
            queue: Some(queue),
            chunk: Chunk::default(),
            dropped: 0,
            handed: 0,
            written,
            done,
        })
    }

    /// Adds a line; hands the chunk over once it is [`CHUNK`] bytes.
    pub fn line(&mut self, line: &str) {
        self.chunk.text.push_str(line);
        self.chunk.text.push('\n');
        self.chunk.lines += 1;
        if self.chunk.text.len() >= CHUNK {
            self.hand_over();
        }
    }

    /// Hands the lines gathered so far to the writer without waiting, with the count of lines dropped
    /// before them, if any. If the queue is full they wait for the next try, joined by the lines that
    /// follow, until they hold [`HOLD`] bytes; then they are dropped and counted.
    pub fn hand_over(&mut self) {
        if self.chunk.lines == 0 {
            return;
        }
        let mut chunk = std::mem::take(&mut self.chunk);
        chunk.dropped_before = self.dropped;
        let (lines, notice) = (chunk.lines, u64::from(self.dropped > 0));
        let refused = match &self.queue {
            Some(queue) => queue.try_send(chunk).err(),
            None => return self.dropped += lines,
        };
        match refused {
            None => {
                self.handed += lines + notice;
                self.dropped = 0;
            }
            // The writer is behind: the lines wait here, joined by the next ones, up to HOLD bytes
            // (a writer starved of CPU for a moment loses nothing); past that they are dropped.
            Some(TrySendError::Full(chunk)) if chunk.text.len() < HOLD => self.chunk = chunk,
            Some(_) => self.dropped += lines,
        }
    }

    /// Hands over what is left and waits for the writer until `deadline` at most; returns how many
    /// lines never reached the output (dropped, or still queued when the wait ended).
    pub fn finish(&mut self, deadline: Instant) -> u64 {
        // What waits here for room in the queue goes too, if the writer makes room in time.
        loop {
            self.hand_over();
            if self.chunk.lines == 0 || Instant::now() >= deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let never_handed = std::mem::take(&mut self.chunk).lines;
        self.queue = None;
        let left = deadline.saturating_duration_since(Instant::now());
        let _ = self.done.recv_timeout(left);
        let written = self.written.load(Ordering::Acquire);
        self.dropped + never_handed + self.handed.saturating_sub(written)
    }
}

/// Standard output (1) or error (2) as a file the spool's thread writes without Rust's lock and
/// buffer, so that nothing at the process's exit waits for a write that cannot finish.
#[cfg(unix)]
fn raw(fd: std::os::fd::RawFd) -> impl Write + Send + 'static {
    use std::os::fd::FromRawFd;
    // SAFETY: 1 and 2 are open for the whole life of the process, and ManuallyDrop never closes them.
    ManuallyFile(ManuallyDrop::new(unsafe { File::from_raw_fd(fd) }))
}

/// A file that is not closed when dropped.
#[cfg(unix)]
struct ManuallyFile(ManuallyDrop<File>);

#[cfg(unix)]
impl Write for ManuallyFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// The server's console: standard output and error, each through a [`Spool`].
pub struct SpooledConsole {
    out: Spool,
    err: Spool,
}

impl SpooledConsole {
    /// Spools for the process's standard output and error.
    pub fn std() -> io::Result<Self> {
        #[cfg(unix)]
        let (out, err) = (Spool::new(raw(1))?, Spool::new(raw(2))?);
        #[cfg(not(unix))]
        let (out, err) = (Spool::new(io::stdout())?, Spool::new(io::stderr())?);
        Ok(Self { out, err })
    }

    /// Spools over any two writers (the tests' pipes).
    pub fn over(
        out: impl Write + Send + 'static,
        err: impl Write + Send + 'static,
    ) -> io::Result<Self> {
        Ok(Self {
            out: Spool::new(out)?,
            err: Spool::new(err)?,
        })
    }

    /// Writes out what it can within `within` and returns: lines standard output lost are counted
    /// on standard error. Never waits longer, whatever the outputs are doing.
    pub fn finish(mut self, within: Duration) {
        let deadline = Instant::now() + within;
        let lost = self.out.finish(Instant::now() + within / 2);
        if lost > 0 {
            self.err
                .line(&ServerLine::LinesDropped { count: lost }.to_string());
        }
        self.err.finish(deadline);
    }
}

impl Console for SpooledConsole {
    fn out(&mut self, line: &str) {
        self.out.line(line);
    }

    fn err(&mut self, line: &str) {
        // What was printed before it goes first, as on a terminal.
        self.out.hand_over();
        self.err.line(line);
        self.err.hand_over();
    }

    fn flush(&mut self) {
        self.out.hand_over();
    }

    async fn prompt(&mut self, _: &str) -> io::Result<Option<String>> {
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "the server's console reads no input",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Condvar, Mutex};

    /// A writer that blocks until opened, then keeps what it is given.
    #[derive(Clone, Default)]
    struct Gate(Arc<(Mutex<GateState>, Condvar)>);

    #[derive(Default)]
    struct GateState {
        open: bool,
        /// A write has begun (and waits, while closed).
        entered: bool,
        kept: Vec<u8>,
    }

    impl Gate {
        fn open(&self) {
            self.0 .0.lock().unwrap().open = true;
            self.0 .1.notify_all();
        }
        fn wait_entered(&self) {
            let (lock, cv) = &*self.0;
            drop(cv.wait_while(lock.lock().unwrap(), |s| !s.entered).unwrap());
        }
        fn text(&self) -> String {
            String::from_utf8(self.0 .0.lock().unwrap().kept.clone()).unwrap()
        }
    }

    impl Write for Gate {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            let (lock, cv) = &*self.0;
            let mut state = lock.lock().unwrap();
            state.entered = true;
            cv.notify_all();
            let mut state = cv.wait_while(state, |s| !s.open).unwrap();
            state.kept.extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    /// Waits (boundedly) until the writer has written `n` lines.
    fn written(spool: &Spool, n: u64) {
        let until = Instant::now() + Duration::from_secs(30);
        while spool.written.load(Ordering::Acquire) < n && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(1));
        }
        assert_eq!(spool.written.load(Ordering::Acquire), n);
    }

    #[test]
    fn lines_wait_while_the_queue_is_full_and_past_a_mebibyte_are_dropped_counted_and_reported() {
        let gate = Gate::default();
        let mut spool = Spool::new(gate.clone()).unwrap();
        // The writer takes the first chunk and blocks on it; QUEUE more fill the queue.
        spool.line("line 0");
        spool.hand_over();
        gate.wait_entered();
        for i in 1..=QUEUE {
            spool.line(&format!("line {i}"));
            spool.hand_over();
        }
        assert_eq!((spool.handed, spool.dropped), (QUEUE as u64 + 1, 0));
        // The next lines wait for room, and are dropped once they hold HOLD bytes.
        let long = "z".repeat(1000);
        let held = HOLD.div_ceil(long.len() + 1) as u64;
        for _ in 0..held - 1 {
            spool.line(&long);
        }
        spool.hand_over();
        assert_eq!(spool.dropped, 0, "still waiting");
        spool.line(&long);
        assert_eq!(spool.dropped, held, "past HOLD bytes: dropped");
        gate.open();
        written(&spool, QUEUE as u64 + 1);
        // Output flows again: the next line gets through, after the count.
        spool.line("after");
        spool.hand_over();
        assert_eq!(spool.dropped, 0);
        assert_eq!(spool.finish(Instant::now() + Duration::from_secs(30)), 0);
        let text = gate.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), QUEUE + 1 + 2, "{}", &text[..200]);
        assert_eq!(lines[QUEUE], format!("line {QUEUE}"));
        let notice = format!("{held} log lines dropped: standard output was not being read");
        assert_eq!(lines[QUEUE + 1..], [notice.as_str(), "after"]);
        assert_eq!(
            lines[QUEUE + 1].parse::<ServerLine>(),
            Ok(ServerLine::LinesDropped { count: held })
        );
    }

    #[test]
    fn a_writer_that_is_only_slow_loses_no_line() {
        let gate = Gate::default();
        let mut spool = Spool::new(gate.clone()).unwrap();
        spool.line("line 0");
        spool.hand_over();
        gate.wait_entered();
        // Many small chunks while the writer is held: the queue fills, the rest waits in one chunk.
        for i in 1..=QUEUE * 4 {
            spool.line(&format!("line {i}"));
            spool.hand_over();
        }
        gate.open();
        assert_eq!(spool.finish(Instant::now() + Duration::from_secs(30)), 0);
        let text = gate.text();
        let expected: Vec<String> = (0..=QUEUE * 4).map(|i| format!("line {i}")).collect();
        assert_eq!(text.lines().collect::<Vec<_>>(), expected);
    }

    #[test]
    fn finishing_never_waits_past_its_deadline_and_counts_what_is_left() {
        let gate = Gate::default();
        let mut spool = Spool::new(gate.clone()).unwrap();
        for i in 0..3 {
            spool.line(&format!("line {i}"));
            spool.hand_over();
        }
        gate.wait_entered();
        let lost = spool.finish(Instant::now() + Duration::from_millis(100));
        assert_eq!(lost, 3, "nothing was written");
        gate.open();
    }

    #[test]
    fn pieces_are_whole_lines_of_at_most_a_pipe_s_atomic_write() {
        let line = format!("{}\n", "y".repeat(999));
        let text = line.repeat(9);
        let cut: Vec<(usize, u64)> = pieces(&text).map(|(p, n)| (p.len(), n)).collect();
        assert_eq!(cut, [(4000, 4), (4000, 4), (1000, 1)]);
        let long = format!("{}\nz\n", "x".repeat(5000));
        let cut: Vec<(usize, u64)> = pieces(&long).map(|(p, n)| (p.len(), n)).collect();
        assert_eq!(cut, [(5001, 1), (2, 1)]);
        assert_eq!(pieces("").count(), 0);
    }

    #[test]
    fn a_big_burst_is_handed_over_a_chunk_at_a_time() {
        let mut out = Vec::new();
        {
            let gate = Gate::default();
            gate.open();
            let mut spool = Spool::new(gate.clone()).unwrap();
            let line = "x".repeat(99);
            for _ in 0..2000 {
                spool.line(&line);
            }
            // 200,000 bytes: three full chunks went without a flush; the rest waits for one.
            assert_eq!(spool.handed, 3 * (CHUNK as u64).div_ceil(100));
            assert_eq!(spool.finish(Instant::now() + Duration::from_secs(30)), 0);
            out.extend(gate.text().lines().map(str::len));
        }
        assert_eq!(out.len(), 2000);
    }
}
