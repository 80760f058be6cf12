//! The child side of a scriptcage run, shared by the addon and its helper
//! executable.
//!
//! - [`launch`]: the complete, pre-computed description of one run (paths,
//!   argv, environment, mounts, ids, limits).
//! - [`wire`]: the byte encoding that carries a [`launch::Launch`] from the
//!   host to the helper over a descriptor.
//! - [`contain`]: what the run's init does: build the sandbox, start the
//!   runtime, supervise it, and end everything the run started.
//!
//! The crate depends on `libc` only: the helper binary carries neither
//! napi nor tokio, so it starts in well under a millisecond.

pub mod contain;
pub mod launch;
pub mod wire;

/// Descriptor numbers of a freshly started helper (set up by the host's
/// spawning child before `execve`).
pub mod fds {
    /// The failure channel: an 8-byte (stage, errno) record, or EOF once the
    /// runtime has been executed.
    pub const REPORT: i32 = 3;
    /// The encoded launch plan (a memfd), read once and closed.
    pub const PLAN: i32 = 4;
    /// The network broker's channel (a unix seqpacket socket), present
    /// only when the plan has a [`crate::launch::NetBroker`].
    pub const NET: i32 = 5;
    /// Where a pooled runtime says it has booted.
    pub const READY: i32 = 63;
}
