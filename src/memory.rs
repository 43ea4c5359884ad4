//! Giving freed heap memory back to the system.
//!
//! After a burst of IDs expires, the allocator keeps the freed blocks for reuse, so the server's
//! resident memory stays near its peak. On glibc, `malloc_trim` returns the free pages; elsewhere this
//! does nothing.

/// Asks the allocator to return free memory to the system; called rarely (after the ID table shrinks).
pub fn give_back_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
}
