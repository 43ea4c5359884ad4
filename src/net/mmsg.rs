//! Linux's `recvmmsg` and `sendmmsg`: up to [`BATCH`] datagrams per system call.
//!
//! Per-datagram system calls were the largest cost of a busy server (and of `load`), so the real network
//! moves whole batches. The unsafe code is filling the kernel's message headers and socket addresses.
//!
//! Why not `quinn-udp` (issue 12 asked for the trial): measured against this module, the server
//! through `quinn-udp` 0.6.3 answered 2 to 32 % fewer requests per second in nine pairs of ten (6 % more
//! in the other; BENCHMARKS.md, with the patch that reproduces it). Its send side takes one destination per call,
//! so a batch of replies to many peers costs a system call each, and every receive parses control
//! messages we do not use. It also turns on UDP GRO, which on a real NIC may coalesce several requests
//! into one receive buffer: each of our 2 KiB slots would have to grow to 64 datagrams' worth, or
//! requests would be cut. So this code stays; what it costs is the unsafe blocks below, each with its
//! reason.

use std::io;
use std::mem;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;
use std::ptr;

use libc::{c_uint, c_void, iovec, mmsghdr, sa_family_t, sockaddr_in, sockaddr_in6, socklen_t};

use super::batch::{RecvBatch, SendBatch, BATCH};

/// Takes the datagrams already waiting on `fd` into `batch`'s free slots, without blocking.
pub fn recv(fd: RawFd, batch: &mut RecvBatch) -> io::Result<()> {
    let mut names = [RawAddr::zeroed(); BATCH];
    // SAFETY: all-zero is a valid iovec (a null pointer and a zero length).
    let mut iovs: [iovec; BATCH] = unsafe { mem::zeroed() };
    // SAFETY: all-zero is a valid mmsghdr (null pointers, zero lengths and flags).
    let mut hdrs: [mmsghdr; BATCH] = unsafe { mem::zeroed() };
    let mut count = 0;
    for (slot, (iov, (hdr, name))) in batch
        .free_slots()
        .zip(iovs.iter_mut().zip(hdrs.iter_mut().zip(names.iter_mut())))
    {
        iov.iov_base = slot.as_mut_ptr().cast::<c_void>();
        iov.iov_len = slot.len();
        hdr.msg_hdr.msg_name = ptr::from_mut(name).cast::<c_void>();
        hdr.msg_hdr.msg_namelen = RawAddr::LEN;
        hdr.msg_hdr.msg_iov = ptr::from_mut(iov);
        hdr.msg_hdr.msg_iovlen = 1;
        count += 1;
    }
    if count == 0 {
        return Ok(());
    }
    // SAFETY: the first `count` headers point at live buffers (the batch's free slots, `names`, `iovs`)
    // of the lengths given, none of which move or are touched elsewhere until the call returns.
    let n = unsafe {
        libc::recvmmsg(
            fd,
            hdrs.as_mut_ptr(),
            count as c_uint,
            // `as _`: the flags are an int on glibc and an unsigned int on musl.
            libc::MSG_DONTWAIT as _,
            ptr::null_mut(),
        )
    };
    let n = usize::try_from(n).map_err(|_| io::Error::last_os_error())?;
    for (hdr, name) in hdrs.iter().zip(names.iter()).take(n) {
        let peer = name.socket_addr(hdr.msg_hdr.msg_namelen).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidData, "datagram from a non-IP address")
        })?;
        batch.filled(hdr.msg_len as usize, peer);
    }
    Ok(())
}

/// Sends `batch`'s datagrams from index `from` (at most [`BATCH`] of them) without blocking: how many
/// went out, at least one, or the error of datagram `from`.
pub fn send(fd: RawFd, batch: &SendBatch, from: usize) -> io::Result<usize> {
    let count = batch.len().saturating_sub(from).min(BATCH);
    if count == 0 {
        return Ok(0);
    }
    let mut names = [RawAddr::zeroed(); BATCH];
    // SAFETY: all-zero is a valid iovec (a null pointer and a zero length).
    let mut iovs: [iovec; BATCH] = unsafe { mem::zeroed() };
    // SAFETY: all-zero is a valid mmsghdr (null pointers, zero lengths and flags).
    let mut hdrs: [mmsghdr; BATCH] = unsafe { mem::zeroed() };
    for (i, (iov, (hdr, name))) in iovs
        .iter_mut()
        .zip(hdrs.iter_mut().zip(names.iter_mut()))
        .take(count)
        .enumerate()
    {
        let (bytes, peer) = batch.get(from + i);
        // The kernel only reads through these pointers when sending.
        iov.iov_base = bytes.as_ptr().cast_mut().cast::<c_void>();
        iov.iov_len = bytes.len();
        hdr.msg_hdr.msg_name = ptr::from_mut(name).cast::<c_void>();
        hdr.msg_hdr.msg_namelen = name.set(peer);
        hdr.msg_hdr.msg_iov = ptr::from_mut(iov);
        hdr.msg_hdr.msg_iovlen = 1;
    }
    // SAFETY: the first `count` headers point at live buffers (the batch's bytes, `names`, `iovs`) of the
    // lengths given, which the kernel only reads, and which outlive the call.
    let n = unsafe {
        libc::sendmmsg(
            fd,
            hdrs.as_mut_ptr(),
            count as c_uint,
            libc::MSG_DONTWAIT as _,
        )
    };
    usize::try_from(n).map_err(|_| io::Error::last_os_error())
}

/// A socket address as the kernel reads and writes it, IPv4 or IPv6: 28 bytes, where a general socket
/// address storage is 128 (copying and zeroing 32 of those per call was a tenth of the server's time in
/// user space).
#[repr(C)]
#[derive(Clone, Copy)]
union RawAddr {
    v4: sockaddr_in,
    v6: sockaddr_in6,
}

impl RawAddr {
    /// The room for an address, as told to the kernel.
    const LEN: socklen_t = mem::size_of::<RawAddr>() as socklen_t;

    fn zeroed() -> Self {
        // SAFETY: all-zero is a valid `sockaddr_in` and `sockaddr_in6` (integers and byte arrays).
        unsafe { mem::zeroed() }
    }

    /// Writes `addr` in the kernel's form; returns its length.
    fn set(&mut self, addr: SocketAddr) -> socklen_t {
        match addr {
            SocketAddr::V4(a) => {
                // SAFETY: as in `zeroed`.
                let mut v4: sockaddr_in = unsafe { mem::zeroed() };
                v4.sin_family = libc::AF_INET as sa_family_t;
                v4.sin_port = a.port().to_be();
                v4.sin_addr.s_addr = u32::from(*a.ip()).to_be();
                self.v4 = v4;
                mem::size_of::<sockaddr_in>() as socklen_t
            }
            SocketAddr::V6(a) => {
                // SAFETY: as in `zeroed`.
                let mut v6: sockaddr_in6 = unsafe { mem::zeroed() };
                v6.sin6_family = libc::AF_INET6 as sa_family_t;
                v6.sin6_port = a.port().to_be();
                v6.sin6_flowinfo = a.flowinfo();
                v6.sin6_addr.s6_addr = a.ip().octets();
                v6.sin6_scope_id = a.scope_id();
                self.v6 = v6;
                mem::size_of::<sockaddr_in6>() as socklen_t
            }
        }
    }

    /// The address the kernel wrote, `len` bytes of it; `None` if it is not IPv4 or IPv6.
    fn socket_addr(&self, len: socklen_t) -> Option<SocketAddr> {
        let len = len as usize;
        // SAFETY: every byte is initialized (a `RawAddr` starts zeroed, then only whole variants and the
        // kernel write to it); both variants are plain integers and byte arrays, valid for any bytes,
        // and both start with the address family.
        let (family, v4, v6) = unsafe { (self.v4.sin_family, self.v4, self.v6) };
        match i32::from(family) {
            libc::AF_INET if len >= mem::size_of::<sockaddr_in>() => {
                Some(SocketAddr::V4(SocketAddrV4::new(
                    Ipv4Addr::from(u32::from_be(v4.sin_addr.s_addr)),
                    u16::from_be(v4.sin_port),
                )))
            }
            libc::AF_INET6 if len >= mem::size_of::<sockaddr_in6>() => {
                Some(SocketAddr::V6(SocketAddrV6::new(
                    Ipv6Addr::from(v6.sin6_addr.s6_addr),
                    u16::from_be(v6.sin6_port),
                    v6.sin6_flowinfo,
                    v6.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_survive_the_kernel_form() {
        for addr in [
            "127.0.0.1:47000",
            "0.0.0.0:0",
            "255.255.255.255:65535",
            "[::1]:9",
            "[fe80::1%3]:65535",
            "[::ffff:1.2.3.4]:80",
        ] {
            let addr: SocketAddr = addr.parse().unwrap();
            let mut raw = RawAddr::zeroed();
            let len = raw.set(addr);
            assert_eq!(raw.socket_addr(len), Some(addr));
            assert_eq!(raw.socket_addr(len - 1), None, "a cut address is refused");
        }
        assert_eq!(
            RawAddr::zeroed().socket_addr(RawAddr::LEN),
            None,
            "no family"
        );
    }
}
