//! `scriptcage-helper`: the init of one sandboxed run.
//!
//! Started by the scriptcage addon from a `CLONE_VM` child (nothing of the
//! host is copied) already inside the run's new namespaces, with the id
//! maps written and these descriptors in place: 0–2 the script's streams,
//! 3 the failure channel, 4 the encoded launch plan, 5 the network
//! broker's channel (brokered runs only), 63 the readiness pipe of a pooled
//! process. It is not meant to be run by hand.

use std::io::Read;
use std::os::fd::FromRawFd;

use scriptcage_helper::contain::{self, Stage};
use scriptcage_helper::{fds, wire};

fn main() {
    // SAFETY: single-threaded, freshly executed process; these calls only
    // change this process's signal state and descriptors.
    unsafe {
        // The spawning child blocked every signal; keep only the ones the
        // init waits for blocked, with default handlers.
        contain::init_signals(libc::SIG_SETMASK);
        if libc::fcntl(fds::PLAN, libc::F_GETFD) < 0 || libc::fcntl(fds::REPORT, libc::F_GETFD) < 0
        {
            eprintln!("scriptcage-helper is started by the scriptcage addon, not by hand");
            std::process::exit(2);
        }
        // The failure channel must close when the runtime is executed: its
        // EOF tells the host that the start succeeded.
        libc::fcntl(fds::REPORT, libc::F_SETFD, libc::FD_CLOEXEC);
    }
    let mut bytes = Vec::new();
    // SAFETY: descriptor 4 was handed to this process for it alone.
    let mut plan = unsafe { std::fs::File::from_raw_fd(fds::PLAN) };
    let read = plan.read_to_end(&mut bytes);
    drop(plan);
    let launch = match read
        .map_err(|_| ())
        .and_then(|_| wire::decode(&bytes).map_err(|_| ()))
    {
        Ok(l) => l,
        Err(()) => {
            // SAFETY: ends the process after one write.
            unsafe {
                *libc::__errno_location() = libc::EINVAL;
                contain::fail(fds::REPORT, Stage::Plan)
            }
        }
    };
    drop(bytes);
    // SAFETY: fcntl only queries the descriptor.
    let ready = unsafe { libc::fcntl(fds::READY, libc::F_GETFD) } >= 0;
    // SAFETY: this process is the run's init; run_init never returns.
    unsafe { contain::run_init(&launch, ready) }
}
