//! Giving freed memory back. glibc's malloc returns a heap's free pages to the system only from the
//! heap's top (`main.rs` tunes the threshold); pages freed in the middle of a heap — a 50,000-pod
//! list's answer, decoded and dropped, or a metrics poll's 17 MB answer — stay resident until
//! `malloc_trim` releases them. Called after such a burst, never per message.

/// Release the free pages of every malloc arena (no effect off glibc).
pub fn release_freed() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free pages to the system; it is thread-safe and takes no
    // pointer of ours.
    unsafe {
        libc::malloc_trim(0);
    }
}
