//! conform's preload clock: loaded into the program under test with `LD_PRELOAD`, it gives the program
//! a virtual clock that `conform` drives.
//!
//! Every time read (`clock_gettime` for every clock but the CPU-time ones, `gettimeofday`, `time`)
//! answers real time plus the offset in the page `conform` shares (`CONFORM_CLOCK` names its file, see
//! `layout.rs`). Every timed wait is registered in the thread's slot of that page with its virtual
//! deadline and made of short real waits ([`SLICE_NS`]) that each look at the clock again: when
//! `conform` sees every thread of the program and of its own side blocked, it moves the offset to the
//! earliest deadline, and the wait that owns it ends within a slice. A wait on file descriptors still
//! returns at once when one is ready: the network stays real loopback.
//!
//! It also keeps, in the same page, where the program last sent datagrams or connected
//! (`connect`, `sendto`, `sendmsg`): a client that sends to a port of its own choosing is told from
//! one that does not use the transport at all.
//!
//! Without `CONFORM_CLOCK` (or with a file that is not the page) every call goes straight to libc.
//! Timers it does not make virtual (`SO_RCVTIMEO`, `timerfd`, `alarm`, POSIX timers) are flagged in
//! the page when armed, so `conform` stops jumping rather than judge against a clock the program
//! does not see. Linux on x86-64 and aarch64 only (64-bit `time_t` and `long`).
//!
//! This crate has no dependencies on purpose: `conform`'s build script compiles this one file with
//! `rustc` and embeds the library in the `conform` binary.

#![allow(clippy::missing_safety_doc)]
#![deny(unsafe_op_in_unsafe_fn)]

use core::ffi::{c_char, c_int, c_long, c_uint, c_void};
use core::sync::atomic::Ordering::{Acquire, Relaxed, Release};
use core::sync::atomic::{AtomicPtr, AtomicU8};

include!("layout.rs");

/// The longest real wait made at once inside a timed wait: how late after a jump a wait notices it.
pub const SLICE_NS: i64 = 2_000_000;

const NS: i64 = 1_000_000_000;
const CLOCK_REALTIME: c_int = 0;
const CLOCK_MONOTONIC: c_int = 1;
const CLOCK_PROCESS_CPUTIME_ID: c_int = 2;
const CLOCK_THREAD_CPUTIME_ID: c_int = 3;
const TIMER_ABSTIME: c_int = 1;
const EINTR: c_int = 4;
const ETIMEDOUT: c_int = 110;
const O_RDWR: c_int = 2;
const O_CLOEXEC: c_int = 0o2000000;
const PROT_READ: c_int = 1;
const PROT_WRITE: c_int = 2;
const MAP_SHARED: c_int = 1;
const SOL_SOCKET: c_int = 1;
const SYS_EPOLL_PWAIT2: c_long = 441;
const SIGSET_BYTES: usize = 8;

#[repr(C)]
#[derive(Clone, Copy)]
pub struct Timespec {
    tv_sec: i64,
    tv_nsec: c_long,
}

#[repr(C)]
#[derive(Clone, Copy)]
pub struct Timeval {
    tv_sec: i64,
    tv_usec: c_long,
}

#[repr(C)]
pub struct Itimerspec {
    it_interval: Timespec,
    it_value: Timespec,
}

#[repr(C)]
pub struct Itimerval {
    it_interval: Timeval,
    it_value: Timeval,
}

extern "C" {
    fn dlsym(handle: *mut c_void, name: *const c_char) -> *mut c_void;
    fn dlvsym(handle: *mut c_void, name: *const c_char, version: *const c_char) -> *mut c_void;
    fn getenv(name: *const c_char) -> *const c_char;
    fn open(path: *const c_char, flags: c_int, ...) -> c_int;
    fn close(fd: c_int) -> c_int;
    fn mmap(
        addr: *mut c_void,
        len: usize,
        prot: c_int,
        flags: c_int,
        fd: c_int,
        off: i64,
    ) -> *mut c_void;
    fn __errno_location() -> *mut c_int;
    fn getpid() -> c_int;
    fn gettid() -> c_int;
    fn abort() -> !;
}

const RTLD_NEXT: *mut c_void = -1isize as *mut c_void;

/// libc's own `NAME` (the next definition after this library's), found once; `VERSION` picks a
/// symbol version where libc keeps an old one beside the default (the condition variables).
macro_rules! real {
    ($name:literal as $ty:ty) => {
        real!($name, "" as $ty)
    };
    ($name:literal, $version:literal as $ty:ty) => {{
        static FOUND: AtomicPtr<c_void> = AtomicPtr::new(core::ptr::null_mut());
        let mut found = FOUND.load(Relaxed);
        if found.is_null() {
            let name = concat!($name, "\0").as_ptr().cast();
            // SAFETY: both names are NUL-terminated literals.
            unsafe {
                if !$version.is_empty() {
                    found = dlvsym(RTLD_NEXT, name, concat!($version, "\0").as_ptr().cast());
                }
                if found.is_null() {
                    found = dlsym(RTLD_NEXT, name);
                }
            }
            if found.is_null() {
                // SAFETY: abort ends the process; a program that calls a function its libc lacks
                // cannot go on.
                unsafe { abort() }
            }
            FOUND.store(found, Relaxed);
        }
        // SAFETY: the symbol is libc's function of this name, whose C type this is.
        unsafe { core::mem::transmute::<*mut c_void, $ty>(found) }
    }};
}

static SHARED: AtomicPtr<Shared> = AtomicPtr::new(core::ptr::null_mut());
/// 0 not tried, 1 tried (attached or not).
static TRIED: AtomicU8 = AtomicU8::new(0);

/// The shared page, mapped on first use (`None`: no virtual clock, everything passes through).
fn shared() -> Option<&'static Shared> {
    if TRIED.load(Acquire) == 0 {
        attach();
    }
    let page = SHARED.load(Acquire);
    // SAFETY: a non-null pointer is a live MAP_SHARED mapping of a `Shared`, never unmapped.
    unsafe { page.as_ref() }
}

fn attach() {
    // SAFETY: getenv/open/mmap/close with valid arguments; the mapping is checked before use.
    unsafe {
        let path = getenv(c"CONFORM_CLOCK".as_ptr());
        if !path.is_null() {
            let fd = open(path, O_RDWR | O_CLOEXEC);
            if fd >= 0 {
                let size = core::mem::size_of::<Shared>();
                let page = mmap(
                    core::ptr::null_mut(),
                    size,
                    PROT_READ | PROT_WRITE,
                    MAP_SHARED,
                    fd,
                    0,
                );
                close(fd);
                if page as isize != -1 {
                    let page = page.cast::<Shared>();
                    if (*page).magic.load(Acquire) == MAGIC {
                        SHARED.store(page, Release);
                    }
                }
            }
        }
    }
    TRIED.store(1, Release);
}

#[used]
#[link_section = ".init_array"]
static ATTACH_AT_LOAD: extern "C" fn() = attach_at_load;

/// Attaches to the page and counts this image as a process begun.
extern "C" fn attach_at_load() {
    attach();
    born();
}

/// Counts a process about to begin, or an image loaded (see [`Shared::born`]).
fn born() {
    if let Some(page) = shared() {
        page.born.fetch_add(1, Relaxed);
    }
}

/// libc's `fork`, counted first: the child does not load the library anew, so the parent counts it.
#[no_mangle]
pub unsafe extern "C" fn fork() -> c_int {
    born();
    let f = real!("fork" as unsafe extern "C" fn() -> c_int);
    // SAFETY: passed on.
    unsafe { f() }
}

const CLONE_THREAD: c_long = 0x10000;

/// Whether a raw system call makes a process (not a thread): `fork`, `vfork`, and `clone` or
/// `clone3` without `CLONE_THREAD`.
fn makes_process(number: c_long, args: [c_long; 6]) -> bool {
    let (clone, clone3, fork, vfork) = if cfg!(target_arch = "aarch64") {
        (220, 435, -1, -1)
    } else {
        (56, 435, 57, 58)
    };
    match number {
        n if n == fork || n == vfork => true,
        n if n == clone => args[0] & CLONE_THREAD == 0,
        // The flags are the first field of the arguments' struct.
        n if n == clone3 => {
            // SAFETY: the caller's struct clone_args, checked for null, as the kernel reads it.
            let flags = unsafe { (args[0] as *const u64).as_ref() };
            flags.is_none_or(|f| *f & CLONE_THREAD as u64 == 0)
        }
        _ => false,
    }
}

fn errno() -> c_int {
    // SAFETY: glibc's thread-local errno.
    unsafe { *__errno_location() }
}

fn set_errno(value: c_int) {
    // SAFETY: as above.
    unsafe { *__errno_location() = value }
}

fn to_ns(ts: &Timespec) -> i64 {
    ts.tv_sec.saturating_mul(NS).saturating_add(ts.tv_nsec)
}

fn to_ts(ns: i64) -> Timespec {
    let ns = ns.max(0);
    Timespec {
        tv_sec: ns / NS,
        tv_nsec: ns % NS,
    }
}

fn valid(ts: &Timespec) -> bool {
    ts.tv_sec >= 0 && (0..NS).contains(&ts.tv_nsec)
}

/// Whether `clock` follows the virtual offset: every clock but the CPU-time ones (2, 3, and the
/// negative IDs of another process's or thread's CPU clock).
fn is_virtual(clock: c_int) -> bool {
    clock >= 0 && clock != CLOCK_PROCESS_CPUTIME_ID && clock != CLOCK_THREAD_CPUTIME_ID
}

fn real_now(clock: c_int) -> i64 {
    let mut ts = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    let f = real!("clock_gettime" as unsafe extern "C" fn(c_int, *mut Timespec) -> c_int);
    // SAFETY: a valid clock ID and a timespec of ours.
    unsafe { f(clock, &mut ts) };
    to_ns(&ts)
}

fn offset(page: &Shared) -> i64 {
    page.offset_ns.load(Acquire)
}

/// Virtual time on `clock`.
fn virtual_now(page: &Shared, clock: c_int) -> i64 {
    real_now(clock).saturating_add(offset(page))
}

/// This thread's slot, claimed on its first timed wait and freed when it ends (`None`: none free).
fn my_slot(page: &'static Shared) -> Option<&'static Slot> {
    struct Mine {
        tid: c_int,
        index: usize,
    }
    impl Drop for Mine {
        fn drop(&mut self) {
            if let Some(page) = shared() {
                let slot = &page.slots[self.index];
                if slot.tid.load(Relaxed) == self.tid {
                    slot.deadline_ns.store(NO_DEADLINE, Release);
                    slot.tid.store(0, Release);
                }
            }
        }
    }
    std::thread_local! {
        static MINE: core::cell::RefCell<Option<Mine>> = const { core::cell::RefCell::new(None) };
    }
    // SAFETY: gettid has no preconditions.
    let tid = unsafe { gettid() };
    let cached = MINE.try_with(|mine| {
        let mut mine = mine.try_borrow_mut().ok()?;
        // A forked child inherits its parent thread's record: its own ID tells them apart.
        if let Some(m) = mine.as_ref().filter(|m| m.tid == tid) {
            return Some(&page.slots[m.index]);
        }
        let index = claim(page, tid)?;
        *mine = Some(Mine { tid, index });
        Some(&page.slots[index])
    });
    match cached {
        Ok(Some(slot)) => Some(slot),
        // The record cannot be used (a signal handler's wait inside this thread's own lookup, or a
        // wait after the thread's locals were destroyed at its end): the page itself says which slot
        // is this thread's, and a wait is never left unregistered for want of a record.
        _ => page
            .slots
            .iter()
            .find(|s| s.tid.load(Acquire) == tid)
            .or_else(|| claim(page, tid).map(|index| &page.slots[index])),
    }
}

/// A free slot for thread `tid`, or one whose thread has ended.
fn claim(page: &'static Shared, tid: c_int) -> Option<usize> {
    // SAFETY: getpid has no preconditions.
    let pid = unsafe { getpid() };
    for (index, slot) in page.slots.iter().enumerate() {
        if slot.tid.compare_exchange(0, tid, Acquire, Relaxed).is_ok() {
            slot.deadline_ns.store(NO_DEADLINE, Release);
            slot.pid.store(pid, Release);
            return Some(index);
        }
    }
    for (index, slot) in page.slots.iter().enumerate() {
        let (owner, its_pid) = (slot.tid.load(Relaxed), slot.pid.load(Relaxed));
        // SAFETY: tgkill with signal 0 only checks that the thread exists.
        let gone = sys(tgkill_number(), [its_pid.into(), owner.into(), 0, 0, 0, 0]) != 0;
        if gone
            && slot
                .tid
                .compare_exchange(owner, tid, Acquire, Relaxed)
                .is_ok()
        {
            slot.deadline_ns.store(NO_DEADLINE, Release);
            slot.pid.store(pid, Release);
            return Some(index);
        }
    }
    page.unsupported.fetch_or(UNSUPPORTED_SLOTS, Relaxed);
    None
}

/// libc's `syscall` as this library calls it: the system call `number` with six arguments (a call
/// that takes fewer ignores the rest). Never the interposed [`syscall`] below.
fn sys(number: c_long, args: [c_long; 6]) -> c_long {
    let f = real!("syscall" as RawSyscall);
    let [a, b, c, d, e, g] = args;
    // SAFETY: libc's syscall reads its arguments from the registers a fixed-argument call fills
    // (on x86-64 and aarch64 variadic integer arguments travel exactly as fixed ones).
    unsafe { f(number, a, b, c, d, e, g) }
}

type RawSyscall =
    unsafe extern "C" fn(c_long, c_long, c_long, c_long, c_long, c_long, c_long) -> c_long;

/// libc's `syscall()`, through which Rust's standard library, parking_lot and others make their
/// futex waits: a futex wait with a timeout is a timed wait on the virtual clock, like a condition
/// variable's; every other call passes through. Declared with six fixed arguments: C's `...` cannot
/// be written in stable Rust, and on x86-64 and aarch64 a variadic caller passes integer arguments
/// exactly as it would fixed ones (a call with fewer leaves the rest as garbage, which the kernel
/// ignores, as it does through libc's own).
///
/// # Safety
/// As libc's `syscall`: the arguments are the system call's.
#[no_mangle]
pub unsafe extern "C" fn syscall(
    number: c_long,
    a: c_long,
    b: c_long,
    c: c_long,
    d: c_long,
    e: c_long,
    g: c_long,
) -> c_long {
    let args = [a, b, c, d, e, g];
    if makes_process(number, args) {
        born();
    }
    if number == futex_number() {
        if let Some(r) = futex_wait(args) {
            return r;
        }
    }
    sys(number, args)
}

const FUTEX_WAIT: c_long = 0;
const FUTEX_WAIT_BITSET: c_long = 9;
const FUTEX_PRIVATE_FLAG: c_long = 128;
const FUTEX_CLOCK_REALTIME: c_long = 256;
const FUTEX_BITSET_MATCH_ANY: c_long = 0xffff_ffff;

/// A futex wait with a timeout (`FUTEX_WAIT`, relative on the monotonic clock; `FUTEX_WAIT_BITSET`,
/// absolute on the clock its flag names), made of real waits of a slice each until the virtual
/// deadline: the result of the first that ends otherwise than by its timeout (woken, the word
/// changed, a signal), or -1 with `ETIMEDOUT`. `None` for any other futex call, or with no clock.
fn futex_wait(args: [c_long; 6]) -> Option<c_long> {
    let [word, op, value, timeout, _, bitset] = args;
    let command = op & !(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME);
    if command != FUTEX_WAIT && command != FUTEX_WAIT_BITSET {
        return None;
    }
    shared()?;
    // SAFETY: the caller's timeout pointer, checked for null, as the kernel reads it.
    let asked = unsafe { (timeout as *const Timespec).as_ref() }
        .filter(|t| valid(t))
        .copied()?;
    let (until, bitset) = match command {
        FUTEX_WAIT => (Until::In(to_ns(&asked)), FUTEX_BITSET_MATCH_ANY),
        _ => {
            let clock = match op & FUTEX_CLOCK_REALTIME {
                0 => CLOCK_MONOTONIC,
                _ => CLOCK_REALTIME,
            };
            (Until::At(clock, asked), bitset)
        }
    };
    // Each slice: the same wait, to a real monotonic deadline a slice away.
    let slice_op = FUTEX_WAIT_BITSET | (op & FUTEX_PRIVATE_FLAG);
    let (r, _) = timed(until, |slice, _| {
        let deadline = to_ts(real_now(CLOCK_MONOTONIC).saturating_add(slice));
        let deadline = &deadline as *const Timespec as c_long;
        match sys(futex_number(), [word, slice_op, value, deadline, 0, bitset]) {
            -1 if errno() == ETIMEDOUT => None,
            r => Some(r),
        }
    });
    Some(r.unwrap_or_else(|| {
        set_errno(ETIMEDOUT);
        -1
    }))
}

const fn futex_number() -> c_long {
    if cfg!(target_arch = "aarch64") {
        98
    } else {
        202
    }
}

const fn tgkill_number() -> c_long {
    if cfg!(target_arch = "aarch64") {
        131
    } else {
        234
    }
}

/// Runs one timed wait of `remaining` virtual nanoseconds: `wait` makes one real wait of at most the
/// nanoseconds it is given and says `Some` when it ended for another reason than its timeout. Gives
/// that `Some`, or `None` once the virtual deadline has passed, and the virtual time left.
fn timed<T>(until: Until, mut wait: impl FnMut(i64, u32) -> Option<T>) -> (Option<T>, i64) {
    let Some(page) = shared() else {
        let remaining = match until {
            Until::In(ns) => ns,
            Until::At(clock, abstime) => to_ns(&abstime).saturating_sub(real_now(clock)),
        };
        return (wait(remaining.max(0), 0), 0);
    };
    let deadline = until.deadline(page);
    page.waits_seen.fetch_add(1, Relaxed);
    let slot = my_slot(page);
    let out = loop {
        // Stored before every slice: a signal handler's own wait on this thread ends by clearing it.
        if let Some(slot) = slot {
            slot.deadline_ns.store(deadline, Release);
        }
        // Read before the clock, so a jump in between wakes the wait at once.
        let generation = page.generation.load(Acquire);
        let left = deadline.saturating_sub(virtual_now(page, CLOCK_MONOTONIC));
        if left <= 0 {
            break None;
        }
        if let Some(done) = wait(left.min(SLICE_NS), generation) {
            break Some(done);
        }
    };
    if let Some(slot) = slot {
        slot.deadline_ns.store(NO_DEADLINE, Release);
    }
    let left = deadline.saturating_sub(virtual_now(page, CLOCK_MONOTONIC));
    (out, left.max(0))
}

/// When a wait ends: after a time, or at a moment on a clock.
#[derive(Clone, Copy)]
enum Until {
    In(i64),
    At(c_int, Timespec),
}

impl Until {
    /// In virtual monotonic nanoseconds; a monotonic moment exactly as given, so a caller that waits
    /// again for the same moment (after a spurious wake-up) registers the same deadline.
    fn deadline(self, page: &Shared) -> i64 {
        match self {
            Until::At(CLOCK_MONOTONIC, abstime) => to_ns(&abstime),
            Until::At(clock, abstime) => {
                virtual_now(page, CLOCK_MONOTONIC).saturating_add(until(page, clock, &abstime))
            }
            Until::In(ns) => virtual_now(page, CLOCK_MONOTONIC).saturating_add(ns),
        }
    }
}

/// Nanoseconds from now until `abstime` on `clock`, in virtual time.
fn until(page: &Shared, clock: c_int, abstime: &Timespec) -> i64 {
    to_ns(abstime).saturating_sub(virtual_now(page, clock))
}

/// One real sleep of `ns`: `Some(errno)` when interrupted by a signal. On the virtual clock it waits
/// on the page's jump counter (still at `generation`), so a jump ends it at once.
fn sleep_slice(ns: i64, generation: u32) -> Option<c_int> {
    let ts = to_ts(ns);
    if let Some(page) = shared() {
        let word = &page.generation as *const core::sync::atomic::AtomicU32;
        // FUTEX_WAIT (shared: the word is in a file mapping) on a live word of the page.
        let r = sys(
            futex_number(),
            [
                word as c_long,
                0,
                c_long::from(generation),
                &ts as *const Timespec as c_long,
                0,
                0,
            ],
        );
        return match (r, errno()) {
            (-1, EINTR) => Some(EINTR),
            _ => None,
        };
    }
    let f = real!(
        "clock_nanosleep"
            as unsafe extern "C" fn(c_int, c_int, *const Timespec, *mut Timespec) -> c_int
    );
    // SAFETY: a valid relative timespec of ours.
    match unsafe { f(CLOCK_MONOTONIC, 0, &ts, core::ptr::null_mut()) } {
        0 => None,
        e => Some(e),
    }
}

// ---- time reads ----

#[no_mangle]
pub unsafe extern "C" fn clock_gettime(clock: c_int, tp: *mut Timespec) -> c_int {
    let f = real!("clock_gettime" as unsafe extern "C" fn(c_int, *mut Timespec) -> c_int);
    // SAFETY: the caller's arguments, passed on.
    let r = unsafe { f(clock, tp) };
    if r == 0 && is_virtual(clock) && !tp.is_null() {
        if let Some(page) = shared() {
            if page.reads_seen.load(Relaxed) == 0 {
                page.reads_seen.store(1, Relaxed);
            }
            // SAFETY: libc has just written it.
            let ts = unsafe { &mut *tp };
            *ts = to_ts(to_ns(ts).saturating_add(offset(page)));
        }
    }
    r
}

#[no_mangle]
pub unsafe extern "C" fn gettimeofday(tv: *mut Timeval, tz: *mut c_void) -> c_int {
    let f = real!("gettimeofday" as unsafe extern "C" fn(*mut Timeval, *mut c_void) -> c_int);
    // SAFETY: the caller's arguments, passed on.
    let r = unsafe { f(tv, tz) };
    if r == 0 && !tv.is_null() {
        if let Some(page) = shared() {
            // SAFETY: libc has just written it.
            let tv = unsafe { &mut *tv };
            let us = tv.tv_sec * 1_000_000 + tv.tv_usec + offset(page) / 1000;
            *tv = Timeval {
                tv_sec: us / 1_000_000,
                tv_usec: us % 1_000_000,
            };
        }
    }
    r
}

#[no_mangle]
pub unsafe extern "C" fn time(t: *mut i64) -> i64 {
    let now = match shared() {
        Some(page) => virtual_now(page, CLOCK_REALTIME) / NS,
        None => real_now(CLOCK_REALTIME) / NS,
    };
    if !t.is_null() {
        // SAFETY: the caller's pointer.
        unsafe { *t = now };
    }
    now
}

// ---- sleeps ----

/// `nanosleep`'s body, also serving `usleep` and `sleep`: 0, or -1 with errno and the time left.
fn sleep_for(ns: i64) -> (c_int, i64) {
    match timed(Until::In(ns), sleep_slice) {
        (None, _) => (0, 0),
        (Some(e), left) => {
            set_errno(e);
            (-1, left)
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn nanosleep(req: *const Timespec, rem: *mut Timespec) -> c_int {
    // SAFETY: the caller's pointer, checked for null.
    let Some(asked) = (unsafe { req.as_ref() }).filter(|r| valid(r)) else {
        let f = real!("nanosleep" as unsafe extern "C" fn(*const Timespec, *mut Timespec) -> c_int);
        // SAFETY: passed on, for libc's own error.
        return unsafe { f(req, rem) };
    };
    let (r, left) = sleep_for(to_ns(asked));
    if r != 0 && !rem.is_null() {
        // SAFETY: the caller's pointer.
        unsafe { *rem = to_ts(left) };
    }
    r
}

#[no_mangle]
pub unsafe extern "C" fn clock_nanosleep(
    clock: c_int,
    flags: c_int,
    req: *const Timespec,
    rem: *mut Timespec,
) -> c_int {
    let f = real!(
        "clock_nanosleep"
            as unsafe extern "C" fn(c_int, c_int, *const Timespec, *mut Timespec) -> c_int
    );
    // SAFETY: the caller's pointer, checked for null.
    let asked = unsafe { req.as_ref() }.filter(|r| valid(r));
    let (Some(_), Some(asked), true) = (shared(), asked, is_virtual(clock)) else {
        // SAFETY: passed on.
        return unsafe { f(clock, flags, req, rem) };
    };
    let until = if flags & TIMER_ABSTIME != 0 {
        Until::At(clock, *asked)
    } else {
        Until::In(to_ns(asked))
    };
    match timed(until, sleep_slice) {
        (None, _) => 0,
        (Some(e), left) => {
            if flags & TIMER_ABSTIME == 0 && !rem.is_null() {
                // SAFETY: the caller's pointer.
                unsafe { *rem = to_ts(left) };
            }
            e
        }
    }
}

#[no_mangle]
pub unsafe extern "C" fn usleep(us: c_uint) -> c_int {
    sleep_for(i64::from(us) * 1000).0
}

#[no_mangle]
pub unsafe extern "C" fn sleep(seconds: c_uint) -> c_uint {
    match sleep_for(i64::from(seconds) * NS) {
        (0, _) => 0,
        (_, left) => ((left + NS - 1) / NS) as c_uint,
    }
}

// ---- waits on file descriptors ----

#[repr(C)]
pub struct Pollfd {
    fd: c_int,
    events: i16,
    revents: i16,
}

type Ppoll = unsafe extern "C" fn(*mut Pollfd, u64, *const Timespec, *const c_void) -> c_int;

/// One real `ppoll` slice: `Some(result)` unless it timed out.
fn ppoll_slice(fds: *mut Pollfd, n: u64, ns: i64, mask: *const c_void) -> Option<c_int> {
    let f = real!("ppoll" as Ppoll);
    let ts = to_ts(ns);
    // SAFETY: the caller's descriptors and mask, a timespec of ours.
    match unsafe { f(fds, n, &ts, mask) } {
        0 => None,
        r => Some(r),
    }
}

#[no_mangle]
pub unsafe extern "C" fn poll(fds: *mut Pollfd, n: u64, timeout_ms: c_int) -> c_int {
    if timeout_ms <= 0 || shared().is_none() {
        let f = real!("poll" as unsafe extern "C" fn(*mut Pollfd, u64, c_int) -> c_int);
        // SAFETY: passed on.
        return unsafe { f(fds, n, timeout_ms) };
    }
    let ns = i64::from(timeout_ms) * 1_000_000;
    timed(Until::In(ns), |slice, _| {
        ppoll_slice(fds, n, slice, core::ptr::null())
    })
    .0
    .unwrap_or(0)
}

#[no_mangle]
pub unsafe extern "C" fn ppoll(
    fds: *mut Pollfd,
    n: u64,
    tmo: *const Timespec,
    mask: *const c_void,
) -> c_int {
    // SAFETY: the caller's pointer, checked for null.
    let asked = unsafe { tmo.as_ref() }.filter(|t| valid(t));
    let (Some(_), Some(asked)) = (shared(), asked) else {
        let f = real!("ppoll" as Ppoll);
        // SAFETY: passed on.
        return unsafe { f(fds, n, tmo, mask) };
    };
    let (r, left) = timed(Until::In(to_ns(asked)), |slice, _| {
        ppoll_slice(fds, n, slice, mask)
    });
    // Linux writes the time left back, as the raw system call does.
    // SAFETY: the kernel's ppoll takes this pointer as writable.
    unsafe { *tmo.cast_mut() = to_ts(left) };
    r.unwrap_or(0)
}

/// The bits of an `fd_set` that `nfds` covers, kept so each slice starts from the caller's sets.
struct Sets {
    saved: [[u64; 16]; 3],
    words: usize,
}

impl Sets {
    fn save(nfds: c_int, sets: [*mut u64; 3]) -> Sets {
        let words = (nfds.clamp(0, 1024) as usize).div_ceil(64);
        let mut saved = [[0u64; 16]; 3];
        for (keep, set) in saved.iter_mut().zip(sets) {
            if !set.is_null() {
                // SAFETY: an fd_set holds 16 words; `words` is at most 16.
                unsafe { core::ptr::copy_nonoverlapping(set, keep.as_mut_ptr(), words) };
            }
        }
        Sets { saved, words }
    }

    fn restore(&self, sets: [*mut u64; 3]) {
        for (keep, set) in self.saved.iter().zip(sets) {
            if !set.is_null() {
                // SAFETY: as in `save`.
                unsafe { core::ptr::copy_nonoverlapping(keep.as_ptr(), set, self.words) };
            }
        }
    }
}

type Pselect = unsafe extern "C" fn(
    c_int,
    *mut u64,
    *mut u64,
    *mut u64,
    *const Timespec,
    *const c_void,
) -> c_int;

/// `select` and `pselect`: slices of the real `pselect`, each from the caller's own sets.
fn select_for(nfds: c_int, sets: [*mut u64; 3], ns: i64, mask: *const c_void) -> (c_int, i64) {
    let f = real!("pselect" as Pselect);
    let saved = Sets::save(nfds, sets);
    let (r, left) = timed(Until::In(ns), |slice, _| {
        saved.restore(sets);
        let ts = to_ts(slice);
        // SAFETY: the caller's sets and mask, a timespec of ours.
        match unsafe { f(nfds, sets[0], sets[1], sets[2], &ts, mask) } {
            0 => None,
            r => Some(r),
        }
    });
    (r.unwrap_or(0), left)
}

#[no_mangle]
pub unsafe extern "C" fn select(
    nfds: c_int,
    r: *mut u64,
    w: *mut u64,
    e: *mut u64,
    tv: *mut Timeval,
) -> c_int {
    // SAFETY: the caller's pointer, checked for null.
    let asked =
        unsafe { tv.as_ref() }.filter(|t| t.tv_sec >= 0 && (0..1_000_000).contains(&t.tv_usec));
    let (Some(_), Some(asked)) = (shared(), asked) else {
        let f = real!(
            "select"
                as unsafe extern "C" fn(c_int, *mut u64, *mut u64, *mut u64, *mut Timeval) -> c_int
        );
        // SAFETY: passed on.
        return unsafe { f(nfds, r, w, e, tv) };
    };
    let ns = asked.tv_sec * NS + asked.tv_usec * 1000;
    let (result, left) = select_for(nfds, [r, w, e], ns, core::ptr::null());
    // Linux's select writes the time left back.
    // SAFETY: the caller's pointer.
    unsafe {
        *tv = Timeval {
            tv_sec: left / NS,
            tv_usec: (left % NS) / 1000,
        }
    };
    result
}

#[no_mangle]
pub unsafe extern "C" fn pselect(
    nfds: c_int,
    r: *mut u64,
    w: *mut u64,
    e: *mut u64,
    ts: *const Timespec,
    mask: *const c_void,
) -> c_int {
    // SAFETY: the caller's pointer, checked for null.
    let asked = unsafe { ts.as_ref() }.filter(|t| valid(t));
    let (Some(_), Some(asked)) = (shared(), asked) else {
        let f = real!("pselect" as Pselect);
        // SAFETY: passed on.
        return unsafe { f(nfds, r, w, e, ts, mask) };
    };
    select_for(nfds, [r, w, e], to_ns(asked), mask).0
}

/// One real `epoll_pwait2` slice (nanosecond timeouts), `Some(result)` unless it timed out.
fn epoll_slice(
    epfd: c_int,
    events: *mut c_void,
    max: c_int,
    ns: i64,
    mask: *const c_void,
) -> Option<c_int> {
    let ts = to_ts(ns);
    // The caller's descriptor, buffer and mask, a timespec of ours.
    let r = sys(
        SYS_EPOLL_PWAIT2,
        [
            epfd.into(),
            events as c_long,
            max.into(),
            &ts as *const Timespec as c_long,
            mask as c_long,
            SIGSET_BYTES as c_long,
        ],
    );
    match r {
        0 => None,
        r if r < 0 => Some(-1),
        r => Some(r as c_int),
    }
}

#[no_mangle]
pub unsafe extern "C" fn epoll_wait(
    epfd: c_int,
    events: *mut c_void,
    max: c_int,
    timeout_ms: c_int,
) -> c_int {
    // SAFETY: the same call with no signal mask.
    unsafe { epoll_pwait(epfd, events, max, timeout_ms, core::ptr::null()) }
}

#[no_mangle]
pub unsafe extern "C" fn epoll_pwait(
    epfd: c_int,
    events: *mut c_void,
    max: c_int,
    timeout_ms: c_int,
    mask: *const c_void,
) -> c_int {
    if timeout_ms <= 0 || shared().is_none() {
        let f = real!(
            "epoll_pwait"
                as unsafe extern "C" fn(c_int, *mut c_void, c_int, c_int, *const c_void) -> c_int
        );
        // SAFETY: passed on.
        return unsafe { f(epfd, events, max, timeout_ms, mask) };
    }
    let ns = i64::from(timeout_ms) * 1_000_000;
    timed(Until::In(ns), |slice, _| {
        epoll_slice(epfd, events, max, slice, mask)
    })
    .0
    .unwrap_or(0)
}

#[no_mangle]
pub unsafe extern "C" fn epoll_pwait2(
    epfd: c_int,
    events: *mut c_void,
    max: c_int,
    tmo: *const Timespec,
    mask: *const c_void,
) -> c_int {
    // SAFETY: the caller's pointer, checked for null.
    let asked = unsafe { tmo.as_ref() }.filter(|t| valid(t) && to_ns(t) > 0);
    let (Some(_), Some(asked)) = (shared(), asked) else {
        // Passed on as the raw system call.
        let args = [
            epfd.into(),
            events as c_long,
            max.into(),
            tmo as c_long,
            mask as c_long,
            SIGSET_BYTES as c_long,
        ];
        return sys(SYS_EPOLL_PWAIT2, args) as c_int;
    };
    timed(Until::In(to_ns(asked)), |slice, _| {
        epoll_slice(epfd, events, max, slice, mask)
    })
    .0
    .unwrap_or(0)
}

// ---- waits on threads ----

/// The caller's absolute deadline on `clock`, when the virtual clock takes the wait: a page is
/// attached, the deadline is a valid time, and the clock is the monotonic or the realtime one (all
/// that the `*_clockwait` calls accept). `None`: the call goes to libc as it is, errors and all.
///
/// # Safety
/// `abstime` is null or points to a timespec.
unsafe fn taken(clock: c_int, abstime: *const Timespec) -> Option<Timespec> {
    shared()?;
    if clock != CLOCK_MONOTONIC && clock != CLOCK_REALTIME {
        return None;
    }
    // SAFETY: the caller's promise.
    unsafe { abstime.as_ref() }.filter(|t| valid(t)).copied()
}

/// The clock a glibc condition variable was made for: bit 1 of its `__wrefs` word (byte 36).
fn cond_clock(cond: *const c_void) -> c_int {
    // SAFETY: every glibc pthread_cond_t (2.25 on) has `__wrefs` at byte 36, written at init.
    let wrefs = unsafe { core::ptr::read_volatile(cond.cast::<u8>().add(36).cast::<u32>()) };
    if wrefs & 2 != 0 {
        CLOCK_MONOTONIC
    } else {
        CLOCK_REALTIME
    }
}

type CondTimedwait = unsafe extern "C" fn(*mut c_void, *mut c_void, *const Timespec) -> c_int;

/// A condition variable's timed wait: one real slice at a time, each returning to the caller as a
/// spurious wake-up (which every caller handles) so a signal sent between slices is never lost.
fn cond_wait(cond: *mut c_void, mutex: *mut c_void, clock: c_int, abstime: &Timespec) -> c_int {
    let f = real!("pthread_cond_timedwait", "GLIBC_2.3.2" as CondTimedwait);
    let Some(page) = shared() else {
        return ETIMEDOUT;
    };
    let own = cond_clock(cond);
    let mut result = None;
    let (_, _) = timed(Until::At(clock, *abstime), |slice, _| {
        let real_deadline = to_ts(real_now(own).saturating_add(slice));
        // SAFETY: the caller's condition and mutex, a deadline of ours on the condition's clock.
        let r = unsafe { f(cond, mutex, &real_deadline) };
        result = Some(r);
        Some(())
    });
    match result {
        // The deadline had passed before it waited: time out as the real call would.
        None => {
            let now = to_ts(real_now(own));
            // SAFETY: as above, with a deadline already past.
            unsafe { f(cond, mutex, &now) }
        }
        Some(ETIMEDOUT) if until(page, clock, abstime) > 0 => 0,
        Some(r) => r,
    }
}

#[no_mangle]
pub unsafe extern "C" fn pthread_cond_timedwait(
    cond: *mut c_void,
    mutex: *mut c_void,
    abstime: *const Timespec,
) -> c_int {
    // SAFETY: the caller's pointer, as libc takes it.
    let Some(asked) = (unsafe { taken(cond_clock(cond), abstime) }) else {
        let f = real!("pthread_cond_timedwait", "GLIBC_2.3.2" as CondTimedwait);
        // SAFETY: passed on.
        return unsafe { f(cond, mutex, abstime) };
    };
    cond_wait(cond, mutex, cond_clock(cond), &asked)
}

#[no_mangle]
pub unsafe extern "C" fn pthread_cond_clockwait(
    cond: *mut c_void,
    mutex: *mut c_void,
    clock: c_int,
    abstime: *const Timespec,
) -> c_int {
    // SAFETY: the caller's pointer, as libc takes it.
    let Some(asked) = (unsafe { taken(clock, abstime) }) else {
        let f = real!(
            "pthread_cond_clockwait"
                as unsafe extern "C" fn(*mut c_void, *mut c_void, c_int, *const Timespec) -> c_int
        );
        // SAFETY: passed on.
        return unsafe { f(cond, mutex, clock, abstime) };
    };
    cond_wait(cond, mutex, clock, &asked)
}

type SemTimedwait = unsafe extern "C" fn(*mut c_void, *const Timespec) -> c_int;

/// A semaphore's timed wait in real slices (a post between slices is counted, never lost).
fn sem_wait_for(sem: *mut c_void, clock: c_int, abstime: &Timespec) -> c_int {
    let f = real!("sem_timedwait" as SemTimedwait);
    let (r, _) = timed(Until::At(clock, *abstime), |slice, _| {
        let real_deadline = to_ts(real_now(CLOCK_REALTIME).saturating_add(slice));
        // SAFETY: the caller's semaphore, a deadline of ours.
        match unsafe { f(sem, &real_deadline) } {
            0 => Some(0),
            _ if errno() == ETIMEDOUT => None,
            _ => Some(-1),
        }
    });
    r.unwrap_or_else(|| {
        // The deadline passed: one last try, as sem_timedwait makes before it looks at the time.
        let try_wait = real!("sem_trywait" as unsafe extern "C" fn(*mut c_void) -> c_int);
        // SAFETY: the caller's semaphore.
        if unsafe { try_wait(sem) } == 0 {
            return 0;
        }
        set_errno(ETIMEDOUT);
        -1
    })
}

#[no_mangle]
pub unsafe extern "C" fn sem_timedwait(sem: *mut c_void, abstime: *const Timespec) -> c_int {
    // SAFETY: the caller's pointer, as libc takes it.
    let Some(asked) = (unsafe { taken(CLOCK_REALTIME, abstime) }) else {
        let f = real!("sem_timedwait" as SemTimedwait);
        // SAFETY: passed on.
        return unsafe { f(sem, abstime) };
    };
    sem_wait_for(sem, CLOCK_REALTIME, &asked)
}

#[no_mangle]
pub unsafe extern "C" fn sem_clockwait(
    sem: *mut c_void,
    clock: c_int,
    abstime: *const Timespec,
) -> c_int {
    // SAFETY: the caller's pointer, as libc takes it.
    let Some(asked) = (unsafe { taken(clock, abstime) }) else {
        let f = real!(
            "sem_clockwait" as unsafe extern "C" fn(*mut c_void, c_int, *const Timespec) -> c_int
        );
        // SAFETY: passed on.
        return unsafe { f(sem, clock, abstime) };
    };
    sem_wait_for(sem, clock, &asked)
}

type MutexTimedlock = unsafe extern "C" fn(*mut c_void, *const Timespec) -> c_int;

/// A mutex's timed lock in real slices.
fn mutex_lock_for(mutex: *mut c_void, clock: c_int, abstime: &Timespec) -> c_int {
    let f = real!("pthread_mutex_timedlock" as MutexTimedlock);
    let (r, _) = timed(Until::At(clock, *abstime), |slice, _| {
        let real_deadline = to_ts(real_now(CLOCK_REALTIME).saturating_add(slice));
        // SAFETY: the caller's mutex, a deadline of ours.
        match unsafe { f(mutex, &real_deadline) } {
            ETIMEDOUT => None,
            r => Some(r),
        }
    });
    r.unwrap_or_else(|| {
        let try_lock = real!("pthread_mutex_trylock" as unsafe extern "C" fn(*mut c_void) -> c_int);
        // SAFETY: the caller's mutex.
        match unsafe { try_lock(mutex) } {
            0 => 0,
            _ => ETIMEDOUT,
        }
    })
}

#[no_mangle]
pub unsafe extern "C" fn pthread_mutex_timedlock(
    mutex: *mut c_void,
    abstime: *const Timespec,
) -> c_int {
    // SAFETY: the caller's pointer, as libc takes it.
    let Some(asked) = (unsafe { taken(CLOCK_REALTIME, abstime) }) else {
        let f = real!("pthread_mutex_timedlock" as MutexTimedlock);
        // SAFETY: passed on.
        return unsafe { f(mutex, abstime) };
    };
    mutex_lock_for(mutex, CLOCK_REALTIME, &asked)
}

#[no_mangle]
pub unsafe extern "C" fn pthread_mutex_clocklock(
    mutex: *mut c_void,
    clock: c_int,
    abstime: *const Timespec,
) -> c_int {
    // SAFETY: the caller's pointer, as libc takes it.
    let Some(asked) = (unsafe { taken(clock, abstime) }) else {
        let f = real!(
            "pthread_mutex_clocklock"
                as unsafe extern "C" fn(*mut c_void, c_int, *const Timespec) -> c_int
        );
        // SAFETY: passed on.
        return unsafe { f(mutex, clock, abstime) };
    };
    mutex_lock_for(mutex, clock, &asked)
}

// ---- timers it does not make virtual: flagged, then passed on ----

fn flag(bit: u32) {
    if let Some(page) = shared() {
        page.unsupported.fetch_or(bit, Relaxed);
    }
}

#[no_mangle]
pub unsafe extern "C" fn setsockopt(
    fd: c_int,
    level: c_int,
    name: c_int,
    value: *const c_void,
    len: u32,
) -> c_int {
    // SO_RCVTIMEO, SO_SNDTIMEO and their 64-bit-time twins.
    if level == SOL_SOCKET && matches!(name, 20 | 21 | 66 | 67) && !value.is_null() {
        // SAFETY: a timeval, as these options take.
        let tv = unsafe { &*value.cast::<Timeval>() };
        if tv.tv_sec != 0 || tv.tv_usec != 0 {
            flag(UNSUPPORTED_SOCKET_TIMEOUT);
        }
    }
    let f = real!(
        "setsockopt" as unsafe extern "C" fn(c_int, c_int, c_int, *const c_void, u32) -> c_int
    );
    // SAFETY: passed on.
    unsafe { f(fd, level, name, value, len) }
}

#[no_mangle]
pub unsafe extern "C" fn timerfd_settime(
    fd: c_int,
    flags: c_int,
    new: *const Itimerspec,
    old: *mut Itimerspec,
) -> c_int {
    // SAFETY: the caller's pointer, checked for null.
    if let Some(new) = unsafe { new.as_ref() } {
        if new.it_value.tv_sec != 0 || new.it_value.tv_nsec != 0 {
            flag(UNSUPPORTED_TIMERFD);
        }
    }
    let f = real!(
        "timerfd_settime"
            as unsafe extern "C" fn(c_int, c_int, *const Itimerspec, *mut Itimerspec) -> c_int
    );
    // SAFETY: passed on.
    unsafe { f(fd, flags, new, old) }
}

#[no_mangle]
pub unsafe extern "C" fn timer_settime(
    timer: *mut c_void,
    flags: c_int,
    new: *const Itimerspec,
    old: *mut Itimerspec,
) -> c_int {
    // SAFETY: the caller's pointer, checked for null.
    if let Some(new) = unsafe { new.as_ref() } {
        if new.it_value.tv_sec != 0 || new.it_value.tv_nsec != 0 {
            flag(UNSUPPORTED_POSIX_TIMER);
        }
    }
    let f = real!(
        "timer_settime"
            as unsafe extern "C" fn(
                *mut c_void,
                c_int,
                *const Itimerspec,
                *mut Itimerspec,
            ) -> c_int
    );
    // SAFETY: passed on.
    unsafe { f(timer, flags, new, old) }
}

#[no_mangle]
pub unsafe extern "C" fn alarm(seconds: c_uint) -> c_uint {
    if seconds != 0 {
        flag(UNSUPPORTED_ALARM);
    }
    let f = real!("alarm" as unsafe extern "C" fn(c_uint) -> c_uint);
    // SAFETY: passed on.
    unsafe { f(seconds) }
}

#[no_mangle]
pub unsafe extern "C" fn setitimer(
    which: c_int,
    new: *const Itimerval,
    old: *mut Itimerval,
) -> c_int {
    // SAFETY: the caller's pointer, checked for null.
    if let Some(new) = unsafe { new.as_ref() } {
        if which == 0 && (new.it_value.tv_sec != 0 || new.it_value.tv_usec != 0) {
            flag(UNSUPPORTED_ALARM);
        }
    }
    let f = real!(
        "setitimer" as unsafe extern "C" fn(c_int, *const Itimerval, *mut Itimerval) -> c_int
    );
    // SAFETY: passed on.
    unsafe { f(which, new, old) }
}

/// A socket address as C passes it (only the family and port are read, and an IPv4 address).
#[repr(C)]
pub struct SockaddrIn {
    family: u16,
    port_be: u16,
    addr_be: u32,
}

#[repr(C)]
pub struct Msghdr {
    name: *const c_void,
    namelen: u32,
    // The rest of `struct msghdr` is not read.
}

const AF_INET: u16 = 2;
const AF_INET6: u16 = 10;
const SO_TYPE: c_int = 3;
const SOCK_STREAM: c_int = 1;
const SOCK_DGRAM: c_int = 2;

/// Keeps, in the page, where the program sends (or connects) `fd`: its transport and address.
fn note_sent(fd: c_int, addr: *const c_void, len: u32) {
    let Some(page) = shared() else {
        return;
    };
    if addr.is_null() || (len as usize) < core::mem::size_of::<SockaddrIn>() {
        return;
    }
    // SAFETY: the caller's address, at least as long as a `sockaddr_in`; read without alignment.
    let sa = unsafe { core::ptr::read_unaligned(addr.cast::<SockaddrIn>()) };
    // An IPv4 address, in network byte order as `sin_addr` holds it; `None` for an IPv6 one.
    let ipv4 = match sa.family {
        AF_INET => Some(sa.addr_be),
        AF_INET6 if len as usize >= 24 => {
            // SAFETY: a `sockaddr_in6` (checked long enough): its address is bytes 8 to 24.
            let a =
                unsafe { core::ptr::read_unaligned(addr.cast::<u8>().add(8).cast::<[u8; 16]>()) };
            // An IPv4-mapped address (::ffff:a.b.c.d), as a dual-stack socket (Java's) sends to.
            let mapped = a[..10].iter().all(|&b| b == 0) && a[10..12] == [0xff, 0xff];
            match mapped {
                true => Some(u32::from_ne_bytes([a[12], a[13], a[14], a[15]])),
                false => None,
            }
        }
        AF_INET6 => None,
        _ => return,
    };
    let mut kind: c_int = 0;
    let mut kind_len: u32 = core::mem::size_of::<c_int>() as u32;
    let getsockopt = real!(
        "getsockopt" as unsafe extern "C" fn(c_int, c_int, c_int, *mut c_void, *mut u32) -> c_int
    );
    let saved = errno();
    // SAFETY: an int and its length, ours.
    let got = unsafe {
        getsockopt(
            fd,
            SOL_SOCKET,
            SO_TYPE,
            (&mut kind as *mut c_int).cast(),
            &mut kind_len,
        )
    };
    set_errno(saved);
    let transport = match (got, kind & 0xf) {
        (0, SOCK_DGRAM) => SENT_UDP,
        (0, SOCK_STREAM) => SENT_TCP,
        _ => return,
    };
    let at = page.sent.fetch_add(1, Relaxed) as usize % SENDS;
    let slot = &page.sends[at];
    slot.kind.store(0, Release);
    slot.port
        .store(u32::from(u16::from_be(sa.port_be)), Relaxed);
    slot.ipv4.store(ipv4.unwrap_or(0), Relaxed);
    slot.kind.store(
        transport | if ipv4.is_none() { SENT_IPV6 } else { 0 },
        Release,
    );
}

#[no_mangle]
pub unsafe extern "C" fn connect(fd: c_int, addr: *const c_void, len: u32) -> c_int {
    note_sent(fd, addr, len);
    let f = real!("connect" as unsafe extern "C" fn(c_int, *const c_void, u32) -> c_int);
    // SAFETY: passed on.
    unsafe { f(fd, addr, len) }
}

#[no_mangle]
pub unsafe extern "C" fn sendto(
    fd: c_int,
    buf: *const c_void,
    n: usize,
    flags: c_int,
    addr: *const c_void,
    len: u32,
) -> isize {
    note_sent(fd, addr, len);
    let f = real!(
        "sendto"
            as unsafe extern "C" fn(
                c_int,
                *const c_void,
                usize,
                c_int,
                *const c_void,
                u32,
            ) -> isize
    );
    // SAFETY: passed on.
    unsafe { f(fd, buf, n, flags, addr, len) }
}

#[no_mangle]
pub unsafe extern "C" fn sendmsg(fd: c_int, msg: *const Msghdr, flags: c_int) -> isize {
    // SAFETY: the caller's message header, checked for null.
    if let Some(m) = unsafe { msg.as_ref() } {
        note_sent(fd, m.name, m.namelen);
    }
    let f = real!("sendmsg" as unsafe extern "C" fn(c_int, *const Msghdr, c_int) -> isize);
    // SAFETY: passed on.
    unsafe { f(fd, msg, flags) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timespecs_convert_both_ways_and_negative_time_is_zero() {
        let ts = to_ts(3 * NS + 250);
        assert_eq!((ts.tv_sec, ts.tv_nsec), (3, 250));
        assert_eq!(to_ns(&ts), 3 * NS + 250);
        let zero = to_ts(-5);
        assert_eq!((zero.tv_sec, zero.tv_nsec), (0, 0));
        assert!(valid(&ts));
        assert!(!valid(&Timespec {
            tv_sec: 0,
            tv_nsec: NS
        }));
        assert!(!valid(&Timespec {
            tv_sec: -1,
            tv_nsec: 0
        }));
    }

    #[test]
    fn only_calls_that_make_a_process_count_as_one() {
        let (clone, fork) = if cfg!(target_arch = "aarch64") {
            (220, 220)
        } else {
            (56, 57)
        };
        let none = [0; 6];
        assert!(makes_process(fork, none));
        assert!(makes_process(clone, [0x11, 0, 0, 0, 0, 0]));
        assert!(!makes_process(clone, [CLONE_THREAD | 0x100, 0, 0, 0, 0, 0]));
        let process: u64 = 0x11;
        let thread: u64 = 0x10000 | 0x100;
        assert!(makes_process(
            435,
            [&process as *const u64 as c_long, 0, 0, 0, 0, 0]
        ));
        assert!(!makes_process(
            435,
            [&thread as *const u64 as c_long, 0, 0, 0, 0, 0]
        ));
        assert!(!makes_process(futex_number(), none));
    }

    #[test]
    fn only_the_cpu_time_clocks_stay_real() {
        assert!(is_virtual(CLOCK_REALTIME) && is_virtual(CLOCK_MONOTONIC));
        assert!(is_virtual(6) && is_virtual(7));
        assert!(!is_virtual(CLOCK_PROCESS_CPUTIME_ID) && !is_virtual(CLOCK_THREAD_CPUTIME_ID));
        assert!(!is_virtual(-6));
    }
}
