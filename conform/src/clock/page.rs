//! The page `conform` shares with the program under test (its layout is the preload library's own
//! `layout.rs`, included here so the two cannot disagree), and the preload library itself, embedded
//! in the binary at build time and written out once per user and build.

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering;

#[allow(dead_code)]
mod layout {
    include!("../../preload/src/layout.rs");
}

pub use layout::{Shared, NO_DEADLINE};
pub use layout::{
    UNSUPPORTED_ALARM, UNSUPPORTED_POSIX_TIMER, UNSUPPORTED_SLOTS, UNSUPPORTED_SOCKET_TIMEOUT,
    UNSUPPORTED_TIMERFD,
};

/// The preload library, compiled by the build script (empty where the clock is not supported).
static LIBRARY: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/libconform_preload.so"));

/// The preload library on disk, written on first use (`None`: not supported here, or it could not
/// be written).
pub fn library() -> Option<&'static Path> {
    static WRITTEN: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    WRITTEN
        .get_or_init(|| {
            if LIBRARY.is_empty() {
                return None;
            }
            // Named by its content, so builds never overwrite each other's library in use.
            let hash = LIBRARY.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                (h ^ u64::from(*b)).wrapping_mul(0x100_0000_01b3)
            });
            // SAFETY: getuid has no preconditions.
            let uid = unsafe { libc::getuid() };
            let dir = super::page_dir().join(format!("conform-{uid}"));
            let path = dir.join(format!("libconform_preload-{hash:016x}.so"));
            // Only a library with exactly our bytes is preloaded: on a shared machine another user
            // could have put a file of that name there first.
            if std::fs::read(&path).is_ok_and(|bytes| bytes == LIBRARY) {
                return Some(path);
            }
            use std::os::unix::fs::DirBuilderExt;
            let _ = std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir);
            let partial = dir.join(format!(".{}-{}.so", std::process::id(), hash));
            std::fs::write(&partial, LIBRARY).ok()?;
            if std::fs::rename(&partial, &path).is_ok()
                && std::fs::read(&path).is_ok_and(|bytes| bytes == LIBRARY)
            {
                return Some(path);
            }
            // A name we cannot own: this run's own copy, under its own name.
            let own = dir.join(format!(
                "libconform_preload-{hash:016x}-{}.so",
                std::process::id()
            ));
            std::fs::rename(&partial, &own).ok()?;
            Some(own)
        })
        .as_deref()
}

/// One case's shared page: a file mapped by `conform` and by every process of the program.
pub struct Page {
    path: PathBuf,
    shared: *mut Shared,
}

// SAFETY: the mapping is only ever used through the atomics of `Shared`.
unsafe impl Send for Page {}
// SAFETY: as above.
unsafe impl Sync for Page {}

impl Page {
    /// A new page, every slot free, offset zero (fails where the clock is not supported).
    pub fn create() -> std::io::Result<Page> {
        if library().is_none() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::Unsupported,
                "the virtual clock is not supported on this platform",
            ));
        }
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = super::page_dir().join(format!("conform-clock-{}-{n}", std::process::id()));
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(true)
            .open(&path)?;
        let size = std::mem::size_of::<Shared>();
        file.set_len(size as u64)?;
        use std::os::fd::AsRawFd;
        // SAFETY: a fresh file of `size` bytes, mapped shared for reading and writing.
        let map = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                size,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_SHARED,
                file.as_raw_fd(),
                0,
            )
        };
        if map == libc::MAP_FAILED {
            let _ = std::fs::remove_file(&path);
            return Err(std::io::Error::last_os_error());
        }
        let page = Page {
            path,
            shared: map.cast(),
        };
        for slot in &page.shared().slots {
            slot.deadline_ns.store(NO_DEADLINE, Ordering::Relaxed);
        }
        page.shared().magic.store(layout::MAGIC, Ordering::Release);
        Ok(page)
    }

    pub fn shared(&self) -> &Shared {
        // SAFETY: mapped for the page's whole life, zeroed by the file, used through atomics only.
        unsafe { &*self.shared }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Virtual time minus real time, in nanoseconds.
    pub fn offset(&self) -> i64 {
        self.shared().offset_ns.load(Ordering::Acquire)
    }

    /// Moves virtual time `ns` forward.
    pub fn advance(&self, ns: i64) {
        self.shared().offset_ns.fetch_add(ns, Ordering::AcqRel);
    }

    /// Counts a jump and wakes every sleep waiting on the counter (in every process of the program).
    pub fn wake_sleepers(&self) {
        let word = &self.shared().generation;
        word.fetch_add(1, Ordering::AcqRel);
        // SAFETY: FUTEX_WAKE (shared) on a live word of the mapping; it reads nothing else.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                word as *const std::sync::atomic::AtomicU32,
                libc::FUTEX_WAKE,
                i32::MAX,
            )
        };
    }

    /// Where the program last sent or connected (the page keeps the latest [`layout::SENDS`]), oldest
    /// first, each once.
    pub fn sends(&self) -> Vec<Sent> {
        let shared = self.shared();
        let total = shared.sent.load(Ordering::Acquire) as usize;
        let kept = total.min(layout::SENDS);
        let mut found: Vec<Sent> = Vec::new();
        for i in total - kept..total {
            let slot = &shared.sends[i % layout::SENDS];
            let kind = slot.kind.load(Ordering::Acquire);
            let transport = match kind & (layout::SENT_UDP | layout::SENT_TCP) {
                layout::SENT_UDP => connid::Transport::Udp,
                layout::SENT_TCP => connid::Transport::Tcp,
                _ => continue,
            };
            let ip = (kind & layout::SENT_IPV6 == 0)
                .then(|| std::net::Ipv4Addr::from(u32::from_be(slot.ipv4.load(Ordering::Relaxed))));
            let port = slot.port.load(Ordering::Relaxed) as u16;
            let sent = Sent {
                transport,
                ip,
                port,
            };
            if !found.contains(&sent) {
                found.push(sent);
            }
        }
        found
    }

    /// Every thread in a timed wait, with its deadline.
    pub fn waits(&self) -> Vec<(i32, i64)> {
        self.shared()
            .slots
            .iter()
            .filter_map(|s| {
                let deadline = s.deadline_ns.load(Ordering::Acquire);
                let tid = s.tid.load(Ordering::Acquire);
                (tid != 0 && deadline != NO_DEADLINE).then_some((tid, deadline))
            })
            .collect()
    }
}

/// Where the program sent a datagram or connected, as the preload library saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sent {
    pub transport: connid::Transport,
    /// The IPv4 address (`None`: an IPv6 one).
    pub ip: Option<std::net::Ipv4Addr>,
    pub port: u16,
}

impl std::fmt::Display for Sent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.ip {
            Some(ip) => write!(f, "{} {ip}:{}", self.transport, self.port),
            None => write!(f, "{} port {} (IPv6)", self.transport, self.port),
        }
    }
}

impl Drop for Page {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `create`, no longer used.
        unsafe { libc::munmap(self.shared.cast(), std::mem::size_of::<Shared>()) };
        let _ = std::fs::remove_file(&self.path);
    }
}
