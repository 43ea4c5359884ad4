//! The controller: moves a case's virtual clock forward when nothing can happen before the next
//! deadline.
//!
//! Time jumps only when, in two looks at `/proc` a moment apart, every thread of the program (every
//! process the case started, and what they started) and the case's own thread are asleep and have not
//! run in between (their scheduling counts unchanged), so there was an instant at which nothing could
//! run; a thread asleep in a timed wait the preload library registered is waiting for its deadline,
//! one asleep without a timeout for something that only another thread or the case can send. A
//! thread asleep in a timed wait the library did not see (a static binary, a raw system call) stops
//! the jump: time flows at the real rate while it waits, and the report says why. Time never jumps
//! past a deadline that has come and not yet been acted on.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::Duration;

use super::page::{
    UNSUPPORTED_ALARM, UNSUPPORTED_POSIX_TIMER, UNSUPPORTED_SLOTS, UNSUPPORTED_SOCKET_TIMEOUT,
    UNSUPPORTED_TIMERFD,
};
use super::{real_monotonic_ns, VirtualClock};

/// How often the controller looks.
const TICK: Duration = Duration::from_micros(250);
/// How long apart its two looks are.
const SETTLE: Duration = Duration::from_micros(200);
/// How long after the case's side sent the program something time holds still (real time) where the
/// kernel does not show its queues of packets not yet delivered ([`backlog_empty`]): a loopback
/// datagram can wait that long in the kernel's backlog on a loaded machine before it wakes the
/// program. Where it shows them, time holds still only until they are empty.
const DELIVERY: i64 = 5_000_000;
/// How long after the program starts time holds still unless the program has made a timed wait: a
/// program on its way in (a shell wrapper or an interpreter's launcher, such as pyenv's, whose shells
/// wait on each other's pipes) can look asleep before it has begun.
const STARTING: Duration = Duration::from_secs(2);
/// How often the controller looks at a program on its way in ([`STARTING`]): time cannot jump then,
/// and a look only serves to tell an unseen wait, so it looks seldom and leaves the cores to the
/// program's start (an interpreter's takes tens of milliseconds of CPU).
const STARTING_LOOKS: Duration = Duration::from_millis(2);
/// How long a process that has ended but not been reaped holds time still: its parent is about to
/// learn of it (conform, for the program itself; the program, for what it started).
const REAPING: Duration = Duration::from_millis(100);

/// With `CONFORM_CLOCK_DEBUG` set: tells standard error which thread has kept time from jumping for a
/// second (real time) or more, and what it is doing.
fn running(clock: &VirtualClock, pid: u32, tid: i32) {
    if std::env::var_os("CONFORM_CLOCK_DEBUG").is_none() {
        return;
    }
    let now = std::time::Instant::now();
    let mut since = match clock.running_since.lock() {
        Ok(since) => since,
        Err(_) => return,
    };
    let (first, told) = *since.get_or_insert((now, now));
    if now.duration_since(told) >= Duration::from_secs(1) {
        let dir = format!("/proc/{pid}/task/{tid}");
        let stat = std::fs::read_to_string(format!("{dir}/stat")).unwrap_or_default();
        let call = std::fs::read_to_string(format!("{dir}/syscall")).unwrap_or_default();
        eprintln!(
            "conform clock: no jump for {:.1} s: {} | {} | {}",
            now.duration_since(first).as_secs_f64(),
            named(pid),
            stat.split(' ').take(3).collect::<Vec<_>>().join(" "),
            call.trim()
        );
        *since = Some((first, now));
    }
}

/// The run count of a thread that has ended.
const GONE: u64 = u64::MAX;

/// One thread, as a look at `/proc` saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Task {
    tid: i32,
    /// How many times it has been scheduled.
    runs: u64,
    /// The deadline of the registered wait it is in, if it is in one.
    deadline: Option<i64>,
}

/// Why a look found the clock unable to jump.
enum Busy {
    /// Something runs (or is about to): look again soon.
    Running,
    /// A thread (by ID) waits with a timeout the clock does not see.
    Unseen(i32, String),
}

/// Runs until the case's side ends.
pub fn run(clock: &VirtualClock) {
    let mut preloaded: HashMap<u32, bool> = HashMap::new();
    let mut ended: HashMap<u32, std::time::Instant> = HashMap::new();
    // The thread last seen waiting unseen: said only when seen so twice in a row, as a thread that has
    // just entered a registered wait can look unregistered for a moment.
    let mut unseen_before = None;
    // Its sleeps end when asked, not up to the default 50 us later: each jump waits out two of them.
    // SAFETY: prctl with PR_SET_TIMERSLACK takes a value and touches no memory.
    unsafe { libc::prctl(libc::PR_SET_TIMERSLACK, 1) };
    let mut last_look = std::time::Instant::now();
    // The first jump walks.
    let mut last_walk = std::time::Instant::now()
        .checked_sub(STRAYS_AT_LEAST_EVERY)
        .unwrap_or_else(std::time::Instant::now);
    while !clock.stop.load(Ordering::Acquire) {
        std::thread::sleep(TICK);
        if let Some(why) = unsupported(clock.page.shared().unsupported.load(Ordering::Acquire)) {
            clock.note_real_time(why);
            continue;
        }
        let now = real_monotonic_ns();
        let since_sent = now - clock.last_sent.load(Ordering::Acquire);
        if since_sent < DELIVERY && backlog_empty() != Some(true) {
            continue;
        }
        if now - clock.input_ended.load(Ordering::Acquire) < DELIVERY {
            continue;
        }
        // A close the program has not yet seen: a start still holds a copy of the descriptor.
        if clock.closes_wait_for.load(Ordering::Acquire) > crate::child::starts_done() {
            continue;
        }
        if starting(clock) {
            if last_look.elapsed() < STARTING_LOOKS {
                continue;
            }
            last_look = std::time::Instant::now();
        }
        let first = match look(clock, &mut preloaded, &mut ended) {
            Ok(tasks) => {
                unseen_before = None;
                tasks
            }
            Err(Busy::Running) => continue,
            Err(Busy::Unseen(tid, why)) => {
                if unseen_before == Some(tid) {
                    clock.note_real_time(why);
                }
                unseen_before = Some(tid);
                continue;
            }
        };
        // The case's own deadlines, taken while its thread is asleep: unchanged unless it ran, which
        // the second look would show.
        let own = clock.earliest_own();
        std::thread::sleep(SETTLE);
        let Ok(second) = look(clock, &mut preloaded, &mut ended) else {
            continue;
        };
        // A program still on its way in is looked at (an unseen wait is told) but not jumped over.
        if first != second || starting(clock) || strays(clock, &mut last_walk) {
            continue;
        }
        jump(clock, &second, own);
    }
}

/// Whether the program is still on its way in: started under [`STARTING`] ago without a timed wait.
fn starting(clock: &VirtualClock) -> bool {
    let waited = clock.page.shared().waits_seen.load(Ordering::Acquire) > 0;
    let started = clock.started.lock().ok().and_then(|s| *s);
    !waited && started.is_none_or(|s| s.elapsed() < STARTING)
}

/// Moves time to the earliest deadline of those the looks saw, if it is still to come. Between the
/// looks nothing could run, so nothing can happen before that deadline; the deadlines are the ones
/// seen then, not read anew: one that has since come and gone (its thread woke and moved on) must
/// still stop the jump.
fn jump(clock: &VirtualClock, seen: &[Task], own: Option<i64>) {
    let program = seen.iter().filter_map(|t| t.deadline).min();
    let earliest = [program, own].into_iter().flatten().min();
    let Some(earliest) = earliest else {
        return;
    };
    let now = real_monotonic_ns().saturating_add(clock.page.offset());
    if earliest > now {
        if std::env::var_os("CONFORM_CLOCK_DEBUG").is_some() {
            debug(clock, now, earliest, own);
        }
        if let Ok(mut since) = clock.running_since.lock() {
            *since = None;
        }
        clock.page.advance(earliest - now);
        clock.page.wake_sleepers();
        clock.jumps.fetch_add(1, Ordering::Relaxed);
        clock.jumped.notify_waiters();
    }
}

/// Tells standard error about a jump and every thread it saw (with `CONFORM_CLOCK_DEBUG` set).
fn debug(clock: &VirtualClock, now: i64, to: i64, own: Option<i64>) {
    let mut lines = vec![format!(
        "conform clock: jump {:.6} s to the earliest deadline (own {:?}, program {:?})",
        (to - now) as f64 / 1e9,
        own.map(|d| (d - now) as f64 / 1e9),
        clock.page.waits()
    )];
    let roots = clock.roots.lock().map(|r| r.clone()).unwrap_or_default();
    lines.push(format!("  roots {roots:?}"));
    for pid in roots.into_iter().flat_map(crate::child::family) {
        for entry in std::fs::read_dir(format!("/proc/{pid}/task"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let dir = entry.path();
            let stat = std::fs::read_to_string(dir.join("stat")).unwrap_or_default();
            let call = std::fs::read_to_string(dir.join("syscall")).unwrap_or_default();
            lines.push(format!(
                "  {} | {}",
                stat.split(' ').take(3).collect::<Vec<_>>().join(" "),
                call.trim()
            ));
        }
    }
    eprintln!("{}", lines.join("\n"));
}

/// What the page's unsupported bits say, in words.
fn unsupported(bits: u32) -> Option<String> {
    let names = [
        (
            UNSUPPORTED_SOCKET_TIMEOUT,
            "a socket timeout (SO_RCVTIMEO or SO_SNDTIMEO)",
        ),
        (UNSUPPORTED_TIMERFD, "a timerfd"),
        (UNSUPPORTED_ALARM, "alarm or setitimer"),
        (UNSUPPORTED_POSIX_TIMER, "a POSIX timer (timer_settime)"),
        (
            UNSUPPORTED_SLOTS,
            "more threads in timed waits at once than the clock has slots",
        ),
    ];
    let used: Vec<&str> = names
        .iter()
        .filter(|(bit, _)| bits & bit != 0)
        .map(|(_, name)| *name)
        .collect();
    (!used.is_empty()).then(|| {
        format!(
            "the program armed {}, which the virtual clock does not make virtual",
            used.join(" and ")
        )
    })
}

/// Every thread of the case's side and of the program, if all are asleep and none waits unseen.
fn look(
    clock: &VirtualClock,
    preloaded: &mut HashMap<u32, bool>,
    ended: &mut HashMap<u32, std::time::Instant>,
) -> Result<Vec<Task>, Busy> {
    if clock.busy.load(Ordering::Acquire) > 0 {
        return Err(Busy::Running);
    }
    let mut tasks = Vec::new();
    let driver = clock.driver.load(Ordering::Acquire);
    let me = std::process::id();
    tasks.push(task(me, driver).inspect_err(|_| running(clock, me, driver))?);
    let registered: HashMap<i32, i64> = clock.page.waits().into_iter().collect();
    let roots = clock.roots.lock().map(|r| r.clone()).unwrap_or_default();
    let reaped = clock.reaped.lock().map(|r| r.clone()).unwrap_or_default();
    let spawned = clock.spawned.lock().map(|s| s.clone()).unwrap_or_default();
    let family: Vec<(u32, u32)> = roots
        .iter()
        .flat_map(|&root| {
            crate::child::family(root)
                .into_iter()
                .map(move |p| (root, p))
        })
        .collect();
    vanished(&family, &spawned, preloaded, ended)?;
    for (root, pid) in family {
        let Ok(threads) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            // A process the case started, gone from `/proc` before the case's side has taken in
            // its exit, is on its way out (a loaded machine can show that for a few milliseconds):
            // its exit is still to be recorded at the moment it happens.
            if pid == root && spawned.contains(&root) && !reaped.contains(&root) {
                return Err(Busy::Running);
            }
            continue;
        };
        let mut seen = Vec::new();
        for entry in threads.flatten() {
            let Some(tid) = entry.file_name().to_str().and_then(|t| t.parse().ok()) else {
                continue;
            };
            seen.push((
                tid,
                task(pid, tid).inspect_err(|_| running(clock, pid, tid))?,
            ));
        }
        // A process that has ended (a zombie not yet reaped) waits for nothing, once its parent
        // has had time to learn of it: the case's side for a program it started, which holds time
        // until it has; init (or a subreaper), which may take its time, for a stray.
        if seen.iter().all(|(_, t)| t.runs == GONE) {
            let first = *ended.entry(pid).or_insert_with(std::time::Instant::now);
            if spawned.contains(&pid) || first.elapsed() < REAPING {
                return Err(Busy::Running);
            }
            continue;
        }
        // Alive: a moment of not being seen (the `children` files are read one by one) is forgotten.
        ended.remove(&pid);
        if !*preloaded.entry(pid).or_insert_with(|| has_preload(pid)) {
            return Err(Busy::Unseen(
                pid as i32,
                format!(
                    "{} runs without the virtual clock (a static binary, or LD_PRELOAD cleared)",
                    named(pid)
                ),
            ));
        }
        for (tid, mut t) in seen {
            if let Some(&deadline) = registered.get(&tid) {
                // Asleep in a registered wait: it wakes for a moment every slice to look at the
                // clock (a condition variable's wait returns to its caller then), so what tells
                // that it has not moved on is its deadline, not how often it ran.
                t.runs = 0;
                t.deadline = Some(deadline);
            } else if t.runs != GONE {
                if let Some(call) = timed_syscall(pid, tid) {
                    if entering(clock, pid, &t) {
                        return Err(Busy::Running);
                    }
                    return Err(Busy::Unseen(
                        tid,
                        format!(
                            "{} waited in {call} with a timeout the virtual clock did not see",
                            named(pid)
                        ),
                    ));
                }
            }
            tasks.push(t);
        }
    }
    Ok(tasks)
}

/// Whether a thread seen in a timed system call the registered waits (read before it) did not
/// list is on its way into or out of a registered wait rather than in an unseen one: registered
/// now, or it has run since it was seen. Between the read of the waits and the look at the thread,
/// a thread (a JVM's, woken by a jump with a dozen others) can register and enter its wait.
fn entering(clock: &VirtualClock, pid: u32, seen: &Task) -> bool {
    clock.page.waits().iter().any(|&(tid, _)| tid == seen.tid)
        || task(pid, seen.tid).map_or(true, |again| again.runs != seen.runs)
}

/// Holds time still (for [`REAPING`]) after a process the looks saw before (not one the case started:
/// those hold until the case has taken in their exit) has gone from `/proc`: its parent may not yet
/// have woken to learn of it. Forgets it then.
fn vanished(
    family: &[(u32, u32)],
    spawned: &[u32],
    preloaded: &mut HashMap<u32, bool>,
    ended: &mut HashMap<u32, std::time::Instant>,
) -> Result<(), Busy> {
    let gone: Vec<u32> = preloaded
        .keys()
        .copied()
        .filter(|p| !spawned.contains(p) && !family.iter().any(|&(_, f)| f == *p))
        .collect();
    let mut holding = false;
    for pid in gone {
        let first = *ended.entry(pid).or_insert_with(std::time::Instant::now);
        if first.elapsed() < REAPING {
            holding = true;
        } else {
            preloaded.remove(&pid);
            ended.remove(&pid);
        }
    }
    if holding {
        Err(Busy::Running)
    } else {
        Ok(())
    }
}

/// How long (real time) the controller goes at most without walking all of `/proc` for strays, even
/// when the program has not been seen to start a process: one it started out of the library's sight
/// (a static binary its child ran, say) is then found within this.
const STRAYS_AT_LEAST_EVERY: Duration = Duration::from_millis(50);

/// Whether a process of the program's process group (which every process it starts inherits) is
/// outside what the looks walked (one whose parent has ended, say): it becomes a root of its own, and
/// time does not jump this time. The walk of all of `/proc` is the dearest part of a jump, so it is
/// made only where the program may have started a process (the page's `born` above one: the preload
/// library counts them) or [`STRAYS_AT_LEAST_EVERY`] has passed since the last.
fn strays(clock: &VirtualClock, last_walk: &mut std::time::Instant) -> bool {
    let born = clock.page.shared().born.load(Ordering::Acquire);
    if born <= 1 && last_walk.elapsed() < STRAYS_AT_LEAST_EVERY {
        return false;
    }
    *last_walk = std::time::Instant::now();
    let roots = clock.roots.lock().map(|r| r.clone()).unwrap_or_default();
    let known: Vec<u32> = roots
        .iter()
        .flat_map(|&r| crate::child::family(r))
        .collect();
    let Ok(all) = std::fs::read_dir("/proc") else {
        return false;
    };
    let mut found = Vec::new();
    for entry in all.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|p| p.parse::<u32>().ok())
        else {
            continue;
        };
        if known.contains(&pid) {
            continue;
        }
        let stat = crate::child::read_proc(format!("/proc/{pid}/stat")).unwrap_or_default();
        // The process group is the fifth field, the third after the command's closing parenthesis.
        let group = stat
            .rfind(')')
            .and_then(|end| stat[end + 1..].split_whitespace().nth(2))
            .and_then(|g| g.parse::<u32>().ok());
        if group.is_some_and(|g| roots.contains(&g)) {
            found.push(pid);
        }
    }
    if found.is_empty() {
        return false;
    }
    if let Ok(mut roots) = clock.roots.lock() {
        roots.extend(found);
    }
    true
}

/// One thread, if it is asleep (`S`), or gone; `Err` while it runs or cannot be read as asleep.
fn task(pid: u32, tid: i32) -> Result<Task, Busy> {
    let dir = format!("/proc/{pid}/task/{tid}");
    let stat = crate::child::read_proc(format!("{dir}/stat")).ok_or(Busy::Running)?;
    let state = stat
        .rfind(')')
        .and_then(|end| stat[end + 1..].split_whitespace().next())
        .unwrap_or("?");
    match state {
        "S" => {}
        // A zombie or a dead thread does nothing more.
        "Z" | "X" => {
            return Ok(Task {
                tid,
                runs: GONE,
                deadline: None,
            })
        }
        _ => return Err(Busy::Running),
    }
    let sched = crate::child::read_proc(format!("{dir}/schedstat")).ok_or(Busy::Running)?;
    let runs = sched
        .split_whitespace()
        .nth(2)
        .and_then(|r| r.parse().ok())
        .ok_or(Busy::Running)?;
    Ok(Task {
        tid,
        runs,
        deadline: None,
    })
}

/// Whether every CPU's backlog (the packets a loopback send has queued and the kernel has not yet
/// taken to their sockets, where they wake their readers) is empty, from `/proc/net/softnet_stat`;
/// `None` where the kernel does not show it (before 5.10) or the file cannot be read.
fn backlog_empty() -> Option<bool> {
    // A line per CPU: more than one page on a large machine.
    let stat = std::fs::read_to_string("/proc/net/softnet_stat").ok()?;
    backlog_in(&stat).map(|queued| queued == 0)
}

/// The packets waiting in every CPU's backlog, summed, from the text of `/proc/net/softnet_stat`:
/// a line per CPU whose twelfth column (hexadecimal) is its backlog's length.
fn backlog_in(softnet_stat: &str) -> Option<u64> {
    let mut queued = 0;
    let mut cpus = 0;
    for line in softnet_stat.lines() {
        let column = line.split_whitespace().nth(11)?;
        queued += u64::from_str_radix(column, 16).ok()?;
        cpus += 1;
    }
    (cpus > 0).then_some(queued)
}

/// A process named by its ID and command line.
fn named(pid: u32) -> String {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
    format!("process {pid} ({})", cmdline.trim())
}

/// Whether the preload library is mapped into `pid`.
fn has_preload(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/maps"))
        .is_ok_and(|maps| maps.contains("libconform_preload"))
}

/// The system call a sleeping thread is blocked in, if it is one with a timeout (named).
fn timed_syscall(pid: u32, tid: i32) -> Option<&'static str> {
    let line = crate::child::read_proc(format!("/proc/{pid}/task/{tid}/syscall"))?;
    let mut fields = line.split_whitespace();
    let number: i64 = fields.next()?.parse().ok()?;
    let args: Vec<u64> = fields
        .take(6)
        .map(|a| u64::from_str_radix(a.trim_start_matches("0x"), 16).unwrap_or(0))
        .collect();
    let arg = |i: usize| args.get(i).copied().unwrap_or(0);
    // A timeout in milliseconds: negative (as a C int) waits for ever.
    let ms = |i: usize| (arg(i) as u32 as i32) >= 0;
    let ptr = |i: usize| arg(i) != 0;
    let timed = |call: Syscall| match call {
        Syscall::Poll => ms(2),
        Syscall::EpollWait => ms(3),
        Syscall::Select => ptr(4),
        Syscall::Ppoll => ptr(2),
        Syscall::Pselect => ptr(4),
        Syscall::EpollPwait => ms(3),
        Syscall::EpollPwait2 => ptr(3),
        Syscall::Sleep => true,
        Syscall::Futex => {
            // FUTEX_WAIT, FUTEX_LOCK_PI, FUTEX_WAIT_BITSET, FUTEX_WAIT_REQUEUE_PI, FUTEX_LOCK_PI2.
            let op = arg(1) & 127;
            matches!(op, 0 | 6 | 9 | 11 | 13) && ptr(3)
        }
        Syscall::Other(i) => ptr(i),
    };
    let call = syscall(number)?;
    timed(call.1).then_some(call.0)
}

#[derive(Clone, Copy)]
enum Syscall {
    Poll,
    EpollWait,
    Select,
    Ppoll,
    Pselect,
    EpollPwait,
    EpollPwait2,
    Sleep,
    Futex,
    /// Timed when the argument at this index (a pointer to a timeout) is set.
    Other(usize),
}

/// The blocking system calls that can take a timeout, by number on this architecture.
fn syscall(number: i64) -> Option<(&'static str, Syscall)> {
    #[cfg(target_arch = "x86_64")]
    let table: &[(i64, &str, Syscall)] = &[
        (7, "poll", Syscall::Poll),
        (23, "select", Syscall::Select),
        (35, "nanosleep", Syscall::Sleep),
        (128, "rt_sigtimedwait", Syscall::Other(2)),
        (202, "futex", Syscall::Futex),
        (208, "io_getevents", Syscall::Other(4)),
        (220, "semtimedop", Syscall::Other(3)),
        (230, "clock_nanosleep", Syscall::Sleep),
        (232, "epoll_wait", Syscall::EpollWait),
        (243, "mq_timedreceive", Syscall::Other(4)),
        (270, "pselect6", Syscall::Pselect),
        (271, "ppoll", Syscall::Ppoll),
        (281, "epoll_pwait", Syscall::EpollPwait),
        (299, "recvmmsg", Syscall::Other(4)),
        (441, "epoll_pwait2", Syscall::EpollPwait2),
    ];
    #[cfg(target_arch = "aarch64")]
    let table: &[(i64, &str, Syscall)] = &[
        (4, "io_getevents", Syscall::Other(4)),
        (22, "epoll_pwait", Syscall::EpollPwait),
        (72, "pselect6", Syscall::Pselect),
        (73, "ppoll", Syscall::Ppoll),
        (98, "futex", Syscall::Futex),
        (101, "nanosleep", Syscall::Sleep),
        (115, "clock_nanosleep", Syscall::Sleep),
        (137, "rt_sigtimedwait", Syscall::Other(2)),
        (183, "mq_timedreceive", Syscall::Other(4)),
        (192, "semtimedop", Syscall::Other(3)),
        (243, "recvmmsg", Syscall::Other(4)),
        (441, "epoll_pwait2", Syscall::EpollPwait2),
    ];
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let table: &[(i64, &str, Syscall)] = &[];
    table
        .iter()
        .find(|(n, _, _)| *n == number)
        .map(|(_, name, call)| (*name, *call))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_backlog_is_summed_over_every_cpu_from_its_twelfth_column() {
        // Kernel 6.18's format: processed, dropped, ..., backlog length (12th), CPU, its two halves.
        let zero = "0000000a 00000000 00000000 00000000 00000000 00000000 00000000 00000000 \
                    00000000 00000000 00000000 00000000 00000000 00000000 00000000\n";
        let some = "0000000b 00000000 00000001 00000000 00000000 00000000 00000000 00000000 \
                    00000000 00000000 00000000 0000001a 00000001 00000010 0000000a\n";
        assert_eq!(backlog_in(zero), Some(0));
        assert_eq!(backlog_in(&format!("{zero}{some}")), Some(26));
        assert_eq!(backlog_in(&format!("{some}{some}")), Some(52));
        // An older kernel's ten columns, a garbled column, or nothing: not shown.
        assert_eq!(
            backlog_in("0000000a 00000000 00000000 00000000 00000000\n"),
            None
        );
        let garbled = "0000000a 0 0 0 0 0 0 0 0 0 0 zz 0 0 0\n";
        assert_eq!(backlog_in(&format!("{zero}{garbled}")), None);
        assert_eq!(backlog_in(""), None);
    }

    #[test]
    fn this_kernel_shows_its_backlog() {
        // The machines conform runs on are 5.10 or later; this one is 6.18.
        assert!(backlog_empty().is_some());
    }

    #[test]
    fn the_unsupported_timers_are_named() {
        assert_eq!(unsupported(0), None);
        let both = unsupported(UNSUPPORTED_SOCKET_TIMEOUT | UNSUPPORTED_TIMERFD).unwrap();
        assert!(
            both.contains("SO_RCVTIMEO") && both.contains("timerfd"),
            "{both}"
        );
        assert!(unsupported(UNSUPPORTED_SLOTS).unwrap().contains("slots"));
    }

    #[test]
    fn a_process_of_the_program_that_vanished_holds_time_for_a_moment_then_is_forgotten() {
        // Seen before (42, a child of root 7), no longer in the family: its parent may not yet know.
        let mut preloaded = HashMap::from([(7, true), (42, true)]);
        let mut ended = HashMap::new();
        let family = [(7, 7)];
        assert!(matches!(
            vanished(&family, &[7], &mut preloaded, &mut ended),
            Err(Busy::Running)
        ));
        assert!(preloaded.contains_key(&42));
        // Still in the family: nothing held, whatever came before.
        let mut present = HashMap::from([(7, true), (42, true)]);
        assert!(vanished(&[(7, 7), (7, 42)], &[7], &mut present, &mut HashMap::new()).is_ok());
        // Once REAPING has passed it no longer holds time, and is forgotten.
        std::thread::sleep(REAPING + Duration::from_millis(20));
        assert!(vanished(&family, &[7], &mut preloaded, &mut ended).is_ok());
        assert!(!preloaded.contains_key(&42) && ended.is_empty());
        // A root is never held here: the case's side says when it has taken in its exit.
        assert!(vanished(&[], &[7], &mut preloaded, &mut ended).is_ok());
    }

    #[test]
    fn a_thread_asleep_with_a_timeout_is_seen_in_proc() {
        // A child of ours asleep in nanosleep (no preload): a timed system call.
        let mut sleeper = std::process::Command::new("sleep")
            .arg("5")
            .spawn()
            .unwrap();
        let pid = sleeper.id();
        let mut found = None;
        for _ in 0..200 {
            std::thread::sleep(Duration::from_millis(10));
            found = timed_syscall(pid, pid as i32);
            if found.is_some() {
                break;
            }
        }
        let _ = sleeper.kill();
        let _ = sleeper.wait();
        assert!(
            matches!(found, Some("clock_nanosleep" | "nanosleep")),
            "{found:?}"
        );
        assert!(!has_preload(std::process::id()));
    }
}
