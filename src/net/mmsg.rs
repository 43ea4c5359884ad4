//! Linux's `recvmmsg` and `sendmmsg`: up to [`BATCH`] datagrams per system call.
//!
//! Per-datagram system calls were the largest cost of a busy server (and of `load`), so the real network
//! moves whole batches. The unsafe code is filling the kernel's message headers.

use std::io;
use std::mem;
use std::os::fd::RawFd;
use std::ptr;

use libc::{c_uint, c_void, iovec, mmsghdr};
use socket2::{SockAddr, SockAddrStorage};

use super::batch::{RecvBatch, SendBatch, BATCH};

/// Takes the datagrams already waiting on `fd` into `batch`'s free slots, without blocking.
pub fn recv(fd: RawFd, batch: &mut RecvBatch) -> io::Result<()> {
    let mut names: [SockAddrStorage; BATCH] = std::array::from_fn(|_| SockAddrStorage::zeroed());
    // SAFETY: all-zero is a valid iovec and mmsghdr (null pointers, zero lengths).
    let mut iovs: [iovec; BATCH] = unsafe { mem::zeroed() };
    let mut hdrs: [mmsghdr; BATCH] = unsafe { mem::zeroed() };
    let mut count = 0;
    for (slot, (iov, (hdr, name))) in batch
        .free_slots()
        .zip(iovs.iter_mut().zip(hdrs.iter_mut().zip(names.iter_mut())))
    {
        iov.iov_base = slot.as_mut_ptr().cast::<c_void>();
        iov.iov_len = slot.len();
        hdr.msg_hdr.msg_name = ptr::from_mut(name).cast::<c_void>();
        hdr.msg_hdr.msg_namelen = name.size_of();
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
    for (hdr, name) in hdrs.iter().zip(names.iter_mut()).take(n) {
        let storage = mem::replace(name, SockAddrStorage::zeroed());
        // SAFETY: the kernel wrote a socket address of `msg_namelen` bytes into this storage.
        let addr = unsafe { SockAddr::new(storage, hdr.msg_hdr.msg_namelen) };
        let peer = addr.as_socket().ok_or_else(|| {
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
    let names: [Option<SockAddr>; BATCH] =
        std::array::from_fn(|i| (i < count).then(|| SockAddr::from(batch.get(from + i).1)));
    // SAFETY: all-zero is a valid iovec and mmsghdr (null pointers, zero lengths).
    let mut iovs: [iovec; BATCH] = unsafe { mem::zeroed() };
    let mut hdrs: [mmsghdr; BATCH] = unsafe { mem::zeroed() };
    for (i, (iov, (hdr, name))) in iovs
        .iter_mut()
        .zip(hdrs.iter_mut().zip(names.iter().flatten()))
        .enumerate()
    {
        let bytes = batch.get(from + i).0;
        // The kernel only reads through these pointers when sending.
        iov.iov_base = bytes.as_ptr().cast_mut().cast::<c_void>();
        iov.iov_len = bytes.len();
        hdr.msg_hdr.msg_name = name.as_ptr().cast_mut().cast::<c_void>();
        hdr.msg_hdr.msg_namelen = name.len();
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
