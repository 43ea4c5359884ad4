//! A standard output closed under a program (`sim run ... | head`). The batch tools (`sim`, `load`,
//! `conform`) then stop at once and quietly, as the shell's own tools do: the process ends by
//! SIGPIPE (status 141 in a shell), with no panic message. The client and the server do not use this:
//! their console ignores a closed output and they finish their protocol with their usual exit code.

use std::io::{self, Write};

/// Lets the next write to a closed standard output end the process by SIGPIPE, quietly, like `cat` or
/// `yes`. Rust ignores SIGPIPE by default, so `println!` would panic instead. For a program with no
/// child processes to clean up (a program that has them writes with [`write_out`] and stops itself).
pub fn end_quietly_when_closed() {
    #[cfg(target_os = "linux")]
    // SAFETY: setting a signal's disposition to its default has no preconditions; no handler runs.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Writes `text` to standard output and flushes it; `Err` only when standard output is closed (or
/// cannot be written), so that the caller can stop its work and then [`die_of_closed_pipe`].
pub fn write_out(text: &str) -> io::Result<()> {
    let mut out = io::stdout().lock();
    out.write_all(text.as_bytes())?;
    out.flush()
}

/// Ends the process as a write to a closed pipe ends `cat`: by SIGPIPE, quietly. Call it once
/// children and open work are cleaned up. Elsewhere than on Linux: exit status 141.
pub fn die_of_closed_pipe() -> ! {
    #[cfg(target_os = "linux")]
    // SAFETY: restoring SIGPIPE's default disposition and raising it have no preconditions; the
    // default action ends the process.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
        libc::raise(libc::SIGPIPE);
    }
    std::process::exit(141)
}

/// A pipe whose reading end is already closed, to hand a child process as its standard output: what
/// `prog | head` looks like to `prog` once `head` has exited. The tests of every binary use it.
#[cfg(target_os = "linux")]
pub fn closed_pipe() -> io::Result<std::process::Stdio> {
    use std::os::fd::{FromRawFd, OwnedFd};
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid array of two ints for pipe(2) to fill.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: pipe2 succeeded, so both are open descriptors that nothing else owns.
    let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    drop(read);
    Ok(std::process::Stdio::from(write))
}
