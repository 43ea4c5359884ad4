//! Whether a client under test is asking for input right now: one of its threads is blocked reading
//! its standard input, or (an event loop's way: Node.js's, asyncio's) asleep in `epoll_wait` on a set
//! that watches its standard input. Read from `/proc`, so it holds for any language and whether or
//! not the program runs on the virtual clock. The keyboard types when this says so, never because
//! some text looks like a prompt.

/// A thread's blocking system call, as `/proc/PID/task/TID/syscall` names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Call {
    /// `read`, `readv` or `pread64`, on the descriptor given.
    Read(u64),
    /// `epoll_wait`, `epoll_pwait` or `epoll_pwait2`, on the epoll descriptor given.
    EpollWait(u64),
    Other,
}

/// The system call in a `syscall` file's text: its number, then its arguments in hexadecimal.
fn call(line: &str) -> Call {
    let mut fields = line.split_whitespace();
    let Some(number) = fields.next().and_then(|n| n.parse::<i64>().ok()) else {
        // "running", or a thread gone.
        return Call::Other;
    };
    let Some(first) = fields
        .next()
        .and_then(|a| u64::from_str_radix(a.trim_start_matches("0x"), 16).ok())
    else {
        return Call::Other;
    };
    #[cfg(target_arch = "x86_64")]
    let (reads, epolls): (&[i64], &[i64]) = (&[0, 17, 19], &[232, 281, 441]);
    #[cfg(target_arch = "aarch64")]
    let (reads, epolls): (&[i64], &[i64]) = (&[63, 65, 67], &[22, 441]);
    #[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
    let (reads, epolls): (&[i64], &[i64]) = (&[], &[]);
    if reads.contains(&number) {
        Call::Read(first)
    } else if epolls.contains(&number) {
        Call::EpollWait(first)
    } else {
        Call::Other
    }
}

/// Whether an epoll set's `fdinfo` text lists descriptor 0 among the descriptors it watches.
fn watches_stdin(fdinfo: &str) -> bool {
    fdinfo.lines().any(|l| {
        l.strip_prefix("tfd:")
            .and_then(|rest| rest.split_whitespace().next())
            .is_some_and(|fd| fd == "0")
    })
}

/// Whether a thread of `pid` or of a process it started is asleep reading its standard input, or
/// waiting on an epoll set that watches it.
pub fn asking(pid: u32) -> bool {
    crate::child::family(pid).into_iter().any(|p| {
        let Ok(tasks) = std::fs::read_dir(format!("/proc/{p}/task")) else {
            return false;
        };
        tasks.flatten().any(|task| {
            let line = std::fs::read_to_string(task.path().join("syscall")).unwrap_or_default();
            match call(&line) {
                Call::Read(0) => true,
                Call::EpollWait(epfd) => {
                    std::fs::read_to_string(format!("/proc/{p}/fdinfo/{epfd}"))
                        .is_ok_and(|info| watches_stdin(&info))
                }
                _ => false,
            }
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_arch = "x86_64")]
    #[test]
    fn a_read_of_descriptor_0_is_told_from_other_calls() {
        assert_eq!(
            call("0 0x0 0x55d0 0x2000 0x0 0x0 0x0 0x7ffd 0x7f12"),
            Call::Read(0)
        );
        assert_eq!(
            call("0 0x3 0x55d0 0x2000 0x0 0x0 0x0 0x7ffd 0x7f12"),
            Call::Read(3)
        );
        assert_eq!(
            call("19 0x0 0x55d0 0x1 0x0 0x0 0x0 0x7ffd 0x7f12"),
            Call::Read(0)
        );
        assert_eq!(
            call("232 0x5 0x7ffd 0x400 0xffffffff 0x0 0x0 0x7ffd 0x7f12"),
            Call::EpollWait(5)
        );
        assert_eq!(
            call("7 0x7ffd 0x2 0xffffffff 0x0 0x0 0x0 0x7ffd 0x7f12"),
            Call::Other
        );
        assert_eq!(call("running"), Call::Other);
        assert_eq!(call(""), Call::Other);
    }

    #[test]
    fn an_epoll_set_watching_descriptor_0_is_seen() {
        let watching = "pos:\t0\nflags:\t02000002\nmnt_id:\t15\nino:\t1057\n\
                        tfd:        0 events:       19 data:                0  pos:0 ino:2a0c sdev:e\n\
                        tfd:       11 events:       19 data:                b  pos:0 ino:2a0d sdev:e\n";
        assert!(watches_stdin(watching));
        let not =
            "pos:\t0\ntfd:       10 events:       19 data:                a  pos:0 ino:1 sdev:e\n";
        assert!(!watches_stdin(not));
        assert!(!watches_stdin(""));
    }
}
