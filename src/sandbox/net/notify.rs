//! The seccomp user-notification program of a brokered run and the probe
//! that says whether this host can run the broker.
//!
//! The program is hand-written classic BPF (seccompiler has no
//! `USER_NOTIF` action): architecture check (any other architecture is
//! killed), on x86_64 `ENOSYS` for the x32 numbers, then `connect`, `bind`
//! and `listen` go to the listener; everything else is allowed (the other
//! programs of `super::super::seccomp` still apply: the kernel takes the
//! strictest answer of all filters).

use scriptcage_helper::launch::SockFilter;

const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JEQ_K: u16 = 0x15;
const BPF_JGE_K: u16 = 0x35;
const BPF_RET_K: u16 = 0x06;

const SECCOMP_RET_KILL_PROCESS: u32 = 0x8000_0000;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
const SECCOMP_RET_USER_NOTIF: u32 = 0x7fc0_0000;
const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;

#[cfg(target_arch = "x86_64")]
const AUDIT_ARCH: u32 = 0xc000_003e;
#[cfg(target_arch = "aarch64")]
const AUDIT_ARCH: u32 = 0xc000_00b7;

/// System calls that go to the broker.
pub fn trapped() -> [(&'static str, u32); 3] {
    [
        ("connect", libc::SYS_connect as u32),
        ("bind", libc::SYS_bind as u32),
        ("listen", libc::SYS_listen as u32),
    ]
}

fn insn(code: u16, jt: u8, jf: u8, k: u32) -> SockFilter {
    SockFilter { code, jt, jf, k }
}

/// The notification program.
pub fn program() -> Vec<SockFilter> {
    let mut p = vec![
        // seccomp_data.arch
        insn(BPF_LD_W_ABS, 0, 0, 4),
        insn(BPF_JEQ_K, 1, 0, AUDIT_ARCH),
        insn(BPF_RET_K, 0, 0, SECCOMP_RET_KILL_PROCESS),
        // seccomp_data.nr
        insn(BPF_LD_W_ABS, 0, 0, 0),
    ];
    if cfg!(target_arch = "x86_64") {
        p.push(insn(BPF_JGE_K, 0, 1, 0x4000_0000));
        p.push(insn(
            BPF_RET_K,
            0,
            0,
            SECCOMP_RET_ERRNO | libc::ENOSYS as u32,
        ));
    }
    let calls = trapped();
    let n = calls.len() as u8;
    for (i, (_, nr)) in calls.iter().enumerate() {
        // Jump to the USER_NOTIF return at the end of the list.
        p.push(insn(BPF_JEQ_K, n - i as u8, 0, *nr));
    }
    p.push(insn(BPF_RET_K, 0, 0, SECCOMP_RET_ALLOW));
    p.push(insn(BPF_RET_K, 0, 0, SECCOMP_RET_USER_NOTIF));
    p
}

/// Whether this host supports what the broker needs: a user-notification
/// listener (kernel 5.0), `SECCOMP_IOCTL_NOTIF_ADDFD` (5.9) and
/// `pidfd_getfd` (5.6). Tried once in a forked child, which installs the
/// program and reports the listener's ADDFD answer on a pipe. `Err` names
/// what is missing.
pub fn probe() -> Result<(), String> {
    static R: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    R.get_or_init(probe_now).clone()
}

fn probe_now() -> Result<(), String> {
    if let Ok(v) = std::env::var("SCRIPTCAGE_NET_BROKER") {
        if v == "0" || v == "off" {
            return Err("the network broker is switched off (SCRIPTCAGE_NET_BROKER=0)".into());
        }
    }
    if crate::process::spawn::mode() != crate::process::spawn::SpawnMode::Helper {
        return Err("the network broker needs the helper start (SCRIPTCAGE_SPAWN)".into());
    }
    // SAFETY: pidfd_getfd on our own pid with a bad descriptor only
    // reports whether the call exists.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_getfd, -1, 0, 0) };
    if r < 0 && std::io::Error::last_os_error().raw_os_error() == Some(libc::ENOSYS) {
        return Err("this kernel has no pidfd_getfd (Linux 5.6)".into());
    }
    let prog = program();
    let mut fds = [0i32; 2];
    // SAFETY: a pipe into a local array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } < 0 {
        return Err(format!("probe: {}", std::io::Error::last_os_error()));
    }
    // SAFETY: the child only makes raw system calls and `_exit`s; the
    // parent waits for it. A fork of a multi-threaded process may call
    // only async-signal-safe functions, which these are.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: child side, raw calls on stack memory.
        unsafe {
            let code: i32 = (|| {
                if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0 {
                    return 1;
                }
                let l = install_with_listener(&prog);
                if l < 0 {
                    return 2 + (*libc::__errno_location()).min(200);
                }
                // ADDFD with an id that is not pending: ENOENT when the
                // call exists, EINVAL/ENOTTY when it does not.
                let mut add: libc::seccomp_notif_addfd = std::mem::zeroed();
                add.id = 1;
                add.srcfd = 0;
                let r = libc::ioctl(l as i32, libc::SECCOMP_IOCTL_NOTIF_ADDFD, &mut add);
                if r < 0 && *libc::__errno_location() != libc::ENOENT {
                    return 250;
                }
                0
            })();
            let b = [code as u8];
            libc::write(fds[1], b.as_ptr().cast(), 1);
            libc::_exit(0);
        }
    }
    // SAFETY: closing our copy of the write end; reading one byte.
    let mut b = [255u8];
    unsafe {
        libc::close(fds[1]);
        if pid > 0 {
            libc::read(fds[0], b.as_mut_ptr().cast(), 1);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
        }
        libc::close(fds[0]);
    }
    match b[0] {
        0 => Ok(()),
        1 => Err("no_new_privs refused".into()),
        250 => Err("this kernel has no SECCOMP_IOCTL_NOTIF_ADDFD (Linux 5.9)".into()),
        255 => Err("the broker probe did not answer".into()),
        n if libc::EBUSY + 2 == n as i32 => {
            Err("a seccomp listener is already attached to this process".into())
        }
        n => Err(format!(
            "no seccomp user notification here: {}",
            std::io::Error::from_raw_os_error(n as i32 - 2)
        )),
    }
}

/// Installs `prog` on the calling thread with a new listener; returns the
/// listener descriptor or -1 (errno set). For forked children (the probe,
/// tests): raw calls only.
///
/// # Safety
/// Changes the calling thread's seccomp state for good.
unsafe fn install_with_listener(prog: &[scriptcage_helper::launch::SockFilter]) -> libc::c_long {
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_ptr() as *mut libc::sock_filter,
    };
    libc::syscall(
        libc::SYS_seccomp,
        libc::SECCOMP_SET_MODE_FILTER as libc::c_ulong,
        libc::SECCOMP_FILTER_FLAG_NEW_LISTENER,
        &fprog as *const libc::sock_fprog,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn program_checks_the_arch_first_and_notifies_the_trapped_calls() {
        let p = program();
        assert_eq!(p[0].k, 4);
        assert_eq!(p[1].k, AUDIT_ARCH);
        assert_eq!(p[2].k, SECCOMP_RET_KILL_PROCESS);
        let last = p.len() - 1;
        assert_eq!(p[last].k, SECCOMP_RET_USER_NOTIF);
        assert_eq!(p[last - 1].k, SECCOMP_RET_ALLOW);
        // Every JEQ on a trapped number lands on the USER_NOTIF return.
        for (_, nr) in trapped() {
            let i = p
                .iter()
                .position(|x| x.code == BPF_JEQ_K && x.k == nr)
                .unwrap();
            assert_eq!(i + 1 + p[i].jt as usize, last);
        }
    }

    /// Fail closed: with the listener gone (the broker dead), a trapped
    /// call returns ENOSYS; it never proceeds.
    #[test]
    fn a_dead_listener_answers_enosys() {
        if probe().is_err() {
            return;
        }
        let prog = program();
        let mut fds = [0i32; 2];
        // SAFETY: test-only fork; the child makes raw calls and `_exit`s.
        unsafe {
            assert_eq!(libc::pipe(fds.as_mut_ptr()), 0);
            let pid = libc::fork();
            if pid == 0 {
                libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                let l = install_with_listener(&prog);
                libc::close(l as i32);
                let s = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
                let sin = libc::sockaddr_in {
                    sin_family: libc::AF_INET as u16,
                    sin_port: 80u16.to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from_ne_bytes([169, 254, 169, 254]),
                    },
                    sin_zero: [0; 8],
                };
                let r = libc::connect(
                    s,
                    (&sin as *const libc::sockaddr_in).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as u32,
                );
                let e = if r < 0 { *libc::__errno_location() } else { 0 };
                libc::write(fds[1], (&e as *const i32).cast(), 4);
                libc::_exit(0);
            }
            libc::close(fds[1]);
            let mut e = -1i32;
            libc::read(fds[0], (&mut e as *mut i32).cast(), 4);
            libc::waitpid(pid, std::ptr::null_mut(), 0);
            libc::close(fds[0]);
            assert_eq!(e, libc::ENOSYS);
        }
    }

    #[test]
    fn probe_answers() {
        // Either way, it says why.
        match probe() {
            Ok(()) => {}
            Err(why) => assert!(!why.is_empty()),
        }
    }
}
