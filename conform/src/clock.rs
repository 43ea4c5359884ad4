//! The clock a case runs on: real time, or a virtual clock shared with the program under test.
//!
//! With the virtual clock, the program runs with `conform`'s preload library (see `preload/`), which
//! answers every time read with real time plus an offset kept in a page both sides map, and registers
//! every timed wait with its deadline. The case's own side runs on a thread of its own, and reads the
//! time and waits through this module ([`Instant`], [`sleep`], [`timeout`], ...), which registers its
//! deadlines too. A controller thread ([`controller`]) moves the offset forward to the earliest
//! deadline whenever every thread of the program and the case's own thread are blocked, so idle time
//! takes no real time and every timer fires at its exact virtual moment; while anything runs, time
//! flows at the real rate. On a thread without a virtual clock, every function here is real time.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

mod controller;
mod page;

pub use page::{Page, Sent};

/// A moment on the case's clock: virtual `CLOCK_MONOTONIC` nanoseconds (real ones on a real clock),
/// the same time base the program under test reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Instant(i64);

impl Instant {
    /// Now, on this thread's clock.
    pub fn now() -> Instant {
        let offset = CURRENT.with(|c| c.borrow().as_ref().map_or(0, |c| c.page.offset()));
        Instant(real_monotonic_ns().saturating_add(offset))
    }

    /// How long since this moment (zero if it is still to come).
    pub fn elapsed(&self) -> Duration {
        Instant::now().saturating_duration_since(*self)
    }

    /// How long from `earlier` to this moment (zero if `earlier` is later).
    pub fn saturating_duration_since(&self, earlier: Instant) -> Duration {
        Duration::from_nanos(self.0.saturating_sub(earlier.0).max(0) as u64)
    }

    fn nanos_until(self) -> i64 {
        self.0.saturating_sub(Instant::now().0)
    }
}

impl std::ops::Add<Duration> for Instant {
    type Output = Instant;
    fn add(self, d: Duration) -> Instant {
        Instant(
            self.0
                .saturating_add(i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
        )
    }
}

impl std::ops::Sub<Instant> for Instant {
    type Output = Duration;
    fn sub(self, earlier: Instant) -> Duration {
        self.saturating_duration_since(earlier)
    }
}

/// Real `CLOCK_MONOTONIC`, in nanoseconds: what the preload library adds its offset to.
pub fn real_monotonic_ns() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid clock ID and a timespec of ours.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec * 1_000_000_000 + ts.tv_nsec
}

/// A case's virtual clock: the shared page, the case's own deadlines, and what the controller found.
pub struct VirtualClock {
    page: Page,
    /// The case's own waits: their deadlines, by a number each.
    deadlines: Mutex<BTreeMap<u64, i64>>,
    next: AtomicU64,
    /// Woken after each jump, so the case's waits look at the clock again.
    jumped: tokio::sync::Notify,
    /// The processes the case started (each with whatever it starts in turn).
    roots: Mutex<Vec<u32>>,
    /// The roots the case started itself (the others are strays the controller found in their
    /// process groups): each holds time still until the case's side has taken in its exit.
    spawned: Mutex<Vec<u32>>,
    /// The roots whose exit the case's side has taken in (reaped and recorded): until then, a root
    /// holds time still even where `/proc` no longer shows it.
    reaped: Mutex<Vec<u32>>,
    /// When the first of them started (real time).
    started: Mutex<Option<std::time::Instant>>,
    /// The thread that runs the case's side.
    driver: AtomicI32,
    stop: AtomicBool,
    /// Work of the case's side running on other threads ([`blocking`]): time must not jump.
    busy: std::sync::atomic::AtomicU32,
    /// When (real monotonic nanoseconds) the case's side last sent the program something ([`sent`]).
    last_sent: std::sync::atomic::AtomicI64,
    /// How many program starts of this process must be done before the case's last close reaches
    /// the program ([`closed`]).
    closes_wait_for: AtomicU64,
    /// When (real monotonic nanoseconds) the case's side last ended the program's input
    /// ([`input_ended`]).
    input_ended: std::sync::atomic::AtomicI64,
    jumps: AtomicU64,
    /// Why time could not always jump (the first reason seen), for the report.
    real_time: Mutex<Option<String>>,
    /// Since when (and when last told) nothing has let time jump, for `CONFORM_CLOCK_DEBUG`.
    running_since: Mutex<Option<(std::time::Instant, std::time::Instant)>>,
}

impl VirtualClock {
    fn new(page: Page) -> Self {
        VirtualClock {
            page,
            deadlines: Mutex::new(BTreeMap::new()),
            next: AtomicU64::new(0),
            jumped: tokio::sync::Notify::new(),
            roots: Mutex::new(Vec::new()),
            spawned: Mutex::new(Vec::new()),
            reaped: Mutex::new(Vec::new()),
            started: Mutex::new(None),
            driver: AtomicI32::new(0),
            stop: AtomicBool::new(false),
            busy: std::sync::atomic::AtomicU32::new(0),
            last_sent: std::sync::atomic::AtomicI64::new(0),
            closes_wait_for: AtomicU64::new(0),
            input_ended: std::sync::atomic::AtomicI64::new(0),
            jumps: AtomicU64::new(0),
            real_time: Mutex::new(None),
            running_since: Mutex::new(None),
        }
    }

    fn earliest_own(&self) -> Option<i64> {
        self.deadlines.lock().ok()?.values().min().copied()
    }

    fn note_real_time(&self, why: String) {
        if let Ok(mut first) = self.real_time.lock() {
            first.get_or_insert(why);
        }
    }
}

std::thread_local! {
    static CURRENT: RefCell<Option<Arc<VirtualClock>>> = const { RefCell::new(None) };
}

fn current() -> Option<Arc<VirtualClock>> {
    CURRENT.with(|c| c.borrow().clone())
}

/// Whether the virtual clock can run here (a supported platform, its library written out).
pub fn supported() -> bool {
    page::library().is_some()
}

/// The environment that puts a program on this thread's virtual clock (empty on a real clock).
pub fn env() -> Vec<(String, String)> {
    match current() {
        Some(clock) => vec![
            (
                "LD_PRELOAD".into(),
                page::library().map_or_else(String::new, |p| p.to_string_lossy().into_owned()),
            ),
            (
                "CONFORM_CLOCK".into(),
                clock.page.path().to_string_lossy().into_owned(),
            ),
        ],
        None => Vec::new(),
    }
}

/// Tells this thread's virtual clock that `pid` (and what it starts) is part of the program.
pub fn watch(pid: u32) {
    if let Some(clock) = current() {
        if let Ok(mut roots) = clock.roots.lock() {
            roots.push(pid);
        }
        if let Ok(mut spawned) = clock.spawned.lock() {
            spawned.push(pid);
        }
        if let Ok(mut started) = clock.started.lock() {
            started.get_or_insert_with(std::time::Instant::now);
        }
    }
}

/// Where the program on this thread's virtual clock has sent datagrams or connected (empty on a real
/// clock: nothing is preloaded there to see it).
pub fn sends() -> Vec<Sent> {
    current().map_or_else(Vec::new, |clock| clock.page.sends())
}

/// Tells this thread's virtual clock that the case's side has taken in the exit of `pid` (one it
/// [`watch`]ed): reaped it and recorded when it ended. Until then time does not jump past it: on a
/// loaded machine a process can vanish from `/proc` a moment before its parent learns it ended.
pub fn reaped(pid: u32) {
    if let Some(clock) = current() {
        if let Ok(mut reaped) = clock.reaped.lock() {
            reaped.push(pid);
        }
    }
}

/// Tells this thread's virtual clock that the case's side has just sent the program something (a
/// datagram, bytes, a typed line): on a loaded machine the kernel may deliver it a moment later, and
/// time must not jump before the program has been woken by it.
pub fn sent() {
    if let Some(clock) = current() {
        clock
            .last_sent
            .store(real_monotonic_ns(), Ordering::Release);
    }
}

/// Tells this thread's virtual clock that the case's side has just closed (or shut down) something the
/// program reads: its input, a connection. A close reaches the program only once every copy of the
/// descriptor is closed, and a program this process is starting meanwhile (another case's, another
/// job's) holds a copy from its fork to its exec: time holds still until those starts are done, and
/// as after a [`sent`] until the kernel has delivered what the close sends (a FIN).
pub fn closed() {
    if let Some(clock) = current() {
        clock
            .closes_wait_for
            .store(crate::child::starts_begun(), Ordering::Release);
        clock
            .last_sent
            .store(real_monotonic_ns(), Ordering::Release);
    }
}

/// Tells this thread's virtual clock that the case's side has just ended the program's input: as
/// [`closed`], and time also holds still for a few milliseconds of real time whatever the looks see.
/// Explored clients (connid's, under load) were seen, about once in 10,000 sessions, never to
/// learn of the end of their input before time jumped to the session's end, for a cause not yet
/// found; the controller's old hold after every send happened to cover it.
pub fn input_ended() {
    closed();
    if let Some(clock) = current() {
        clock
            .input_ended
            .store(real_monotonic_ns(), Ordering::Release);
    }
}

/// Removes a registered deadline when its wait ends, however it ends.
struct Registered<'a>(&'a VirtualClock, u64);

impl Drop for Registered<'_> {
    fn drop(&mut self) {
        if let Ok(mut d) = self.0.deadlines.lock() {
            d.remove(&self.1);
        }
    }
}

/// Waits until `at` on this thread's clock.
pub async fn sleep_until(at: Instant) {
    let Some(clock) = current() else {
        let left = Duration::from_nanos(at.nanos_until().max(0) as u64);
        tokio::time::sleep(left).await;
        return;
    };
    let id = clock.next.fetch_add(1, Ordering::Relaxed);
    if let Ok(mut d) = clock.deadlines.lock() {
        d.insert(id, at.0);
    }
    let _registered = Registered(&clock, id);
    loop {
        let jumped = clock.jumped.notified();
        tokio::pin!(jumped);
        jumped.as_mut().enable();
        let left = at.nanos_until();
        if left <= 0 {
            return;
        }
        tokio::select! {
            () = tokio::time::sleep(Duration::from_nanos(left as u64)) => {}
            () = jumped => {}
        }
    }
}

/// Waits `d` on this thread's clock.
pub async fn sleep(d: Duration) {
    sleep_until(Instant::now() + d).await;
}

/// Runs `f` on tokio's blocking threads; the virtual clock holds still while it runs (the case's
/// side is not idle, though its own thread is). `None` if `f` panicked.
pub async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    struct Busy(Option<Arc<VirtualClock>>);
    impl Drop for Busy {
        fn drop(&mut self) {
            if let Some(clock) = &self.0 {
                clock.busy.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }
    let busy = Busy(current());
    if let Some(clock) = &busy.0 {
        clock.busy.fetch_add(1, Ordering::AcqRel);
    }
    let out = tokio::task::spawn_blocking(f).await.ok();
    drop(busy);
    out
}

/// A wait that ran out of time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Elapsed;

/// `future`'s output, unless `at` comes first on this thread's clock.
pub async fn timeout_at<F: Future>(at: Instant, future: F) -> Result<F::Output, Elapsed> {
    tokio::select! {
        biased;
        out = future => Ok(out),
        () = sleep_until(at) => Err(Elapsed),
    }
}

/// `future`'s output, unless `d` passes first on this thread's clock.
pub async fn timeout<F: Future>(d: Duration, future: F) -> Result<F::Output, Elapsed> {
    timeout_at(Instant::now() + d, future).await
}

/// What a case run on the virtual clock reports of it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Report {
    /// How many times time jumped.
    pub jumps: u64,
    /// Why it could not always jump, if it could not (the run then went at real time there).
    pub real_time: Option<String>,
}

/// Runs `make`'s future on a thread of its own with a virtual clock (a current-thread runtime, so the
/// controller can tell when the case's side is idle), with its controller beside it; the result and
/// what the clock reports. Without a page (`None`: the clock cannot run here) it runs at real time.
pub async fn run_virtual<T, F, Fut>(make: F) -> Result<(T, Report), RunError>
where
    T: Send + 'static,
    F: FnOnce() -> Fut + Send + 'static,
    Fut: Future<Output = T>,
{
    let page = Page::create().map_err(RunError::Start)?;
    let clock = Arc::new(VirtualClock::new(page));
    let (tx, rx) = tokio::sync::oneshot::channel();
    let for_thread = clock.clone();
    std::thread::Builder::new()
        .name("conform-case".into())
        .spawn(move || {
            // SAFETY: gettid has no preconditions.
            let tid = unsafe { libc::gettid() };
            for_thread.driver.store(tid, Ordering::Release);
            let control = {
                let clock = for_thread.clone();
                std::thread::Builder::new()
                    .name("conform-clock".into())
                    .spawn(move || controller::run(&clock))
            };
            CURRENT.with(|c| *c.borrow_mut() = Some(for_thread.clone()));
            // The controller stops with the case, even one that panics.
            struct StopsControl(Arc<VirtualClock>);
            impl Drop for StopsControl {
                fn drop(&mut self) {
                    self.0.stop.store(true, Ordering::Release);
                }
            }
            let _stops = StopsControl(for_thread.clone());
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            let out = runtime.map(|r| r.block_on(make()));
            CURRENT.with(|c| *c.borrow_mut() = None);
            for_thread.stop.store(true, Ordering::Release);
            if let Ok(control) = control {
                let _ = control.join();
            }
            let _ = tx.send(out);
        })
        .map_err(RunError::Start)?;
    let out = rx
        .await
        .map_err(|_| RunError::Panicked)?
        .map_err(RunError::Start)?;
    let report = Report {
        jumps: clock.jumps.load(Ordering::Relaxed),
        real_time: clock.real_time.lock().ok().and_then(|r| r.clone()),
    };
    Ok((out, report))
}

/// Why a case could not run to its end on the virtual clock.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    /// No page, thread or runtime for it: the program was not started.
    #[error("the virtual clock could not start: {0}")]
    Start(std::io::Error),
    /// The checker's own code panicked while the case ran.
    #[error("the checker itself failed on this case (it panicked)")]
    Panicked,
}

/// Where the shared pages are made: the runtime directory if there is one, else the temporary one.
fn page_dir() -> PathBuf {
    std::env::var_os("XDG_RUNTIME_DIR")
        .map(PathBuf::from)
        .filter(|d| d.is_dir())
        .unwrap_or_else(std::env::temp_dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instants_add_and_subtract_without_going_negative() {
        let a = Instant(5_000_000_000);
        let b = a + Duration::from_millis(1500);
        assert_eq!(b.0, 6_500_000_000);
        assert_eq!(b - a, Duration::from_millis(1500));
        assert_eq!(a - b, Duration::ZERO);
        assert_eq!(a.saturating_duration_since(b), Duration::ZERO);
    }

    #[test]
    fn a_case_that_panics_is_the_checkers_failure_and_its_controller_stops() {
        if !supported() {
            return;
        }
        let runtime = tokio::runtime::Runtime::new().unwrap();
        let out = runtime.block_on(run_virtual(|| async {
            if real_monotonic_ns() > 0 {
                panic!("a bug in a case");
            }
        }));
        assert!(matches!(out, Err(RunError::Panicked)), "{out:?}");
        // On the clock's own thread: the environment names the library and the page.
        let (env, _) = runtime.block_on(run_virtual(|| async { env() })).unwrap();
        let names: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(names, ["LD_PRELOAD", "CONFORM_CLOCK"]);
    }

    #[test]
    fn without_a_virtual_clock_time_is_real_and_nothing_is_preloaded() {
        let before = real_monotonic_ns();
        let now = Instant::now().0;
        assert!(now >= before && now - before < 1_000_000_000);
        assert!(env().is_empty());
    }
}
