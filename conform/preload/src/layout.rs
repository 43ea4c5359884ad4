// The page `conform` shares with every process of the program under test (a file both map), defined
// once: `include!`d by the preload library and by `conform`'s controller, so the two cannot disagree.
// Every field is an atomic: the controller moves `offset_ns`; each thread of the program writes its
// own slot while it waits.

/// "confclk5": the file holds this layout.
pub const MAGIC: u64 = 0x636f_6e66_636c_6b35;

/// How many threads of the program can be in a timed wait at once. A thread that finds none free
/// waits at real time and sets [`UNSUPPORTED_SLOTS`].
pub const SLOTS: usize = 1024;

/// A slot's deadline when its thread is not in a timed wait.
pub const NO_DEADLINE: i64 = i64::MAX;

/// Timers the library does not make virtual (set in [`Shared::unsupported`] when the program arms
/// one): while any is set, virtual time must not jump.
pub const UNSUPPORTED_SOCKET_TIMEOUT: u32 = 1;
pub const UNSUPPORTED_TIMERFD: u32 = 2;
pub const UNSUPPORTED_ALARM: u32 = 4;
pub const UNSUPPORTED_POSIX_TIMER: u32 = 8;
pub const UNSUPPORTED_SLOTS: u32 = 16;

/// How many of the program's latest sends (and connects) the page keeps, in a ring.
pub const SENDS: usize = 32;

/// A [`Sent::kind`]: over UDP (a datagram, or a UDP socket connected), over TCP (a connect), and the
/// bit set when the address is IPv6 (then [`Sent::ipv4`] is 0).
pub const SENT_UDP: u32 = 1;
pub const SENT_TCP: u32 = 2;
pub const SENT_IPV6: u32 = 4;

/// Where the program sent something: what tells a client that sends to a port of its own choosing
/// from one that does not speak the transport at all.
#[repr(C)]
pub struct Sent {
    /// [`SENT_UDP`] or [`SENT_TCP`], maybe with [`SENT_IPV6`]; 0: empty. Written last.
    pub kind: core::sync::atomic::AtomicU32,
    /// The IPv4 address, in network byte order.
    pub ipv4: core::sync::atomic::AtomicU32,
    pub port: core::sync::atomic::AtomicU32,
}

/// One thread's timed wait.
#[repr(C)]
pub struct Slot {
    /// The thread's ID (0: free).
    pub tid: core::sync::atomic::AtomicI32,
    /// Its process's ID.
    pub pid: core::sync::atomic::AtomicI32,
    /// When its wait ends, in virtual `CLOCK_MONOTONIC` nanoseconds ([`NO_DEADLINE`]: not waiting).
    pub deadline_ns: core::sync::atomic::AtomicI64,
}

/// The shared page.
#[repr(C)]
pub struct Shared {
    pub magic: core::sync::atomic::AtomicU64,
    /// Virtual time minus real time, for every clock but the CPU-time ones; only ever grows.
    pub offset_ns: core::sync::atomic::AtomicI64,
    /// How many timed waits the program has made through the library (a probe: it is really there).
    pub waits_seen: core::sync::atomic::AtomicU64,
    /// How many times it has read the time through the library.
    pub reads_seen: core::sync::atomic::AtomicU64,
    /// The [`UNSUPPORTED_SOCKET_TIMEOUT`]... bits of timers armed that the library does not see expire.
    pub unsupported: core::sync::atomic::AtomicU32,
    /// Counts the jumps: a futex word the controller wakes after each, so sleeps end at once.
    pub generation: core::sync::atomic::AtomicU32,
    /// Counts the program's processes as they begin: each image the library is loaded into (the
    /// program itself first) and each `fork` (counted in the parent). Above one, the program may have
    /// left a process outside its tree, which the controller must look for before each jump.
    pub born: core::sync::atomic::AtomicU32,
    pub slots: [Slot; SLOTS],
    /// How many sends have been kept: the next goes to `sends[sent % SENDS]`.
    pub sent: core::sync::atomic::AtomicU32,
    pub sends: [Sent; SENDS],
}
