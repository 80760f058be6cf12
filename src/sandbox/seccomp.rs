//! The syscall filter: compiled once in the host (before any clone) into
//! classic-BPF programs that the run's init installs right before the
//! runtime's `execve` (`scriptcage_helper::contain`).
//!
//! Three programs, each complete on its own (the kernel applies the
//! strictest answer of all installed filters):
//!
//! 1. `EPERM` for what a health-check script never needs and where kernel
//!    privilege escalations start: bpf, userfaultfd, perf_event_open, the
//!    keyring, ptrace and process_vm_*, kexec, kernel modules, the whole
//!    mount family (the new mount API too), pivot_root, chroot, unshare,
//!    setns, and `clone` with any `CLONE_NEW*` flag.
//! 2. `ENOSYS` for `clone3` (its flags sit in memory a filter cannot read;
//!    glibc and both runtimes fall back to `clone`, whereas `EPERM` aborts
//!    them) and `io_uring_*` (libuv falls back to its thread pool).
//! 3. On x86_64, `ENOSYS` for every x32 system call number (≥ 0x40000000):
//!    the x32 ABI shares the audit architecture of x86_64, so without this a
//!    script could reach the calls above under their x32 numbers.
//!
//! Every program starts with seccompiler's architecture check, which kills
//! the process on any other architecture (`int 0x80` on x86_64, say).
//! Programs are built with the `seccompiler` crate (Firecracker's), apart
//! from the x32 guard, which seccompiler has no rule form for.

use std::collections::BTreeMap;
use std::sync::OnceLock;

use scriptcage_helper::launch::SockFilter;
use seccompiler::{
    SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter, SeccompRule,
    TargetArch,
};

/// System calls refused with `EPERM` outright.
fn denied() -> Vec<(&'static str, i64)> {
    let mut v = vec![
        ("bpf", libc::SYS_bpf),
        ("userfaultfd", libc::SYS_userfaultfd),
        ("perf_event_open", libc::SYS_perf_event_open),
        ("keyctl", libc::SYS_keyctl),
        ("add_key", libc::SYS_add_key),
        ("request_key", libc::SYS_request_key),
        ("ptrace", libc::SYS_ptrace),
        ("process_vm_readv", libc::SYS_process_vm_readv),
        ("process_vm_writev", libc::SYS_process_vm_writev),
        ("kexec_load", libc::SYS_kexec_load),
        ("kexec_file_load", libc::SYS_kexec_file_load),
        ("init_module", libc::SYS_init_module),
        ("finit_module", libc::SYS_finit_module),
        ("delete_module", libc::SYS_delete_module),
        ("mount", libc::SYS_mount),
        ("umount2", libc::SYS_umount2),
        ("fsopen", libc::SYS_fsopen),
        ("fsconfig", libc::SYS_fsconfig),
        ("fsmount", libc::SYS_fsmount),
        ("fspick", libc::SYS_fspick),
        ("move_mount", libc::SYS_move_mount),
        ("open_tree", libc::SYS_open_tree),
        ("mount_setattr", libc::SYS_mount_setattr),
        ("pivot_root", libc::SYS_pivot_root),
        ("chroot", libc::SYS_chroot),
        ("unshare", libc::SYS_unshare),
        ("setns", libc::SYS_setns),
    ];
    v.sort_by_key(|(_, n)| *n);
    v.dedup_by_key(|(_, n)| *n);
    v
}

/// System calls answered with `ENOSYS`, so that callers fall back.
fn absent() -> Vec<(&'static str, i64)> {
    vec![
        ("clone3", libc::SYS_clone3),
        ("io_uring_setup", libc::SYS_io_uring_setup),
        ("io_uring_enter", libc::SYS_io_uring_enter),
        ("io_uring_register", libc::SYS_io_uring_register),
    ]
}

/// `clone` flags that create namespaces (`CLONE_NEWTIME` is only reachable
/// through `clone3` and `unshare`, both covered).
const CLONE_NEW: [i32; 6] = [
    libc::CLONE_NEWNS,
    libc::CLONE_NEWCGROUP,
    libc::CLONE_NEWUTS,
    libc::CLONE_NEWIPC,
    libc::CLONE_NEWUSER,
    libc::CLONE_NEWPID,
];

fn arch() -> Result<TargetArch, String> {
    TargetArch::try_from(std::env::consts::ARCH).map_err(|e| e.to_string())
}

fn convert(p: seccompiler::BpfProgram) -> Vec<SockFilter> {
    p.into_iter()
        .map(|i| SockFilter {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect()
}

fn compile(rules: BTreeMap<i64, Vec<SeccompRule>>, errno: i32) -> Result<Vec<SockFilter>, String> {
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(errno as u32),
        arch()?,
    )
    .map_err(|e| e.to_string())?;
    let prog: seccompiler::BpfProgram = filter
        .try_into()
        .map_err(|e: seccompiler::BackendError| e.to_string())?;
    Ok(convert(prog))
}

/// The x32 guard (x86_64 only): architecture check, then `ENOSYS` for
/// numbers with the x32 bit.
#[cfg(target_arch = "x86_64")]
fn x32_guard() -> Vec<SockFilter> {
    const LD_W_ABS: u16 = 0x20;
    const JEQ_K: u16 = 0x15;
    const JGE_K: u16 = 0x35;
    const RET_K: u16 = 0x06;
    const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
    const X32_SYSCALL_BIT: u32 = 0x4000_0000;
    let ins = |code, jt, jf, k| SockFilter { code, jt, jf, k };
    vec![
        ins(LD_W_ABS, 0, 0, 4), // seccomp_data.arch
        ins(JEQ_K, 1, 0, AUDIT_ARCH_X86_64),
        ins(RET_K, 0, 0, libc::SECCOMP_RET_KILL_PROCESS),
        ins(LD_W_ABS, 0, 0, 0), // seccomp_data.nr
        ins(JGE_K, 0, 1, X32_SYSCALL_BIT),
        ins(RET_K, 0, 0, libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32),
        ins(RET_K, 0, 0, libc::SECCOMP_RET_ALLOW),
    ]
}

/// (system call, index of its flags argument) of the calls that can carry
/// `MSG_FASTOPEN`.
fn fastopen_calls() -> [(i64, u8); 3] {
    [
        (libc::SYS_sendto, 3),
        (libc::SYS_sendmsg, 2),
        (libc::SYS_sendmmsg, 3),
    ]
}

fn build() -> Result<Vec<Vec<SockFilter>>, String> {
    let mut eperm: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for (_, nr) in denied() {
        eperm.insert(nr, Vec::new());
    }
    let clone_rules = CLONE_NEW
        .iter()
        .map(|&flag| {
            SeccompCondition::new(
                0,
                SeccompCmpArgLen::Qword,
                SeccompCmpOp::MaskedEq(flag as u64),
                flag as u64,
            )
            .and_then(|c| SeccompRule::new(vec![c]))
            .map_err(|e| e.to_string())
        })
        .collect::<Result<Vec<_>, _>>()?;
    eperm.insert(libc::SYS_clone, clone_rules);
    // TCP Fast Open connects inside sendto/sendmsg, out of the network
    // broker's sight (docs/network.md): refused, whatever the socket.
    for (nr, arg) in fastopen_calls() {
        let rule = SeccompCondition::new(
            arg,
            SeccompCmpArgLen::Dword,
            SeccompCmpOp::MaskedEq(libc::MSG_FASTOPEN as u64),
            libc::MSG_FASTOPEN as u64,
        )
        .and_then(|c| SeccompRule::new(vec![c]))
        .map_err(|e| e.to_string())?;
        eperm.insert(nr, vec![rule]);
    }
    let enosys = absent()
        .into_iter()
        .map(|(_, nr)| (nr, Vec::new()))
        .collect();
    let mut programs = vec![compile(eperm, libc::EPERM)?, compile(enosys, libc::ENOSYS)?];
    #[cfg(target_arch = "x86_64")]
    programs.push(x32_guard());
    Ok(programs)
}

/// The filter programs, compiled on first use; an error says why this
/// build cannot filter (an architecture seccompiler does not know).
pub fn programs() -> Result<&'static [Vec<SockFilter>], &'static str> {
    static P: OnceLock<Result<Vec<Vec<SockFilter>>, String>> = OnceLock::new();
    P.get_or_init(build)
        .as_ref()
        .map(|v| v.as_slice())
        .map_err(|e| e.as_str())
}

/// Names of the calls the filter refuses, for the report and the docs.
pub fn summary() -> String {
    let names: Vec<&str> = denied().iter().map(|(n, _)| *n).collect();
    format!(
        "syscall filter (seccomp): EPERM for {}, clone with CLONE_NEW*, sendto/sendmsg/sendmmsg with MSG_FASTOPEN; ENOSYS for clone3 and io_uring_*{}",
        names.join(", "),
        if cfg!(target_arch = "x86_64") {
            "; the x32 ABI refused"
        } else {
            ""
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn programs_compile_and_fit() {
        let p = programs().unwrap();
        assert!(p.len() >= 2);
        for prog in p {
            assert!(!prog.is_empty() && prog.len() < 4096);
            // Every program opens with the architecture check.
            assert_eq!(prog[0].code, 0x20);
            assert_eq!(prog[0].k, 4);
        }
    }

    /// Installs the filter on a fresh thread (a filter cannot be removed,
    /// and it only binds the thread that installs it) and probes it.
    #[test]
    fn the_filter_answers_as_documented() {
        let progs = programs().unwrap().to_vec();
        let r = std::thread::spawn(move || unsafe {
            assert_eq!(libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0);
            for prog in &progs {
                let fprog = libc::sock_fprog {
                    len: prog.len() as u16,
                    filter: prog.as_ptr() as *mut libc::sock_filter,
                };
                assert_eq!(
                    libc::prctl(libc::PR_SET_SECCOMP, libc::SECCOMP_MODE_FILTER, &fprog),
                    0
                );
            }
            let errno = || *libc::__errno_location();
            let mut out = Vec::new();
            let r = libc::syscall(libc::SYS_unshare, libc::CLONE_NEWUSER);
            out.push(("unshare", r, errno()));
            let r = libc::syscall(libc::SYS_io_uring_setup, 1, std::ptr::null_mut::<u8>());
            out.push(("io_uring_setup", r, errno()));
            let r = libc::syscall(libc::SYS_clone3, std::ptr::null_mut::<u8>(), 0);
            out.push(("clone3", r, errno()));
            let r = libc::syscall(libc::SYS_keyctl, 0, 0, 0, 0, 0);
            out.push(("keyctl", r, errno()));
            let r = libc::syscall(
                libc::SYS_clone,
                libc::CLONE_NEWNS | libc::SIGCHLD,
                0,
                0,
                0,
                0,
            );
            out.push(("clone(CLONE_NEWNS)", r, errno()));
            #[cfg(target_arch = "x86_64")]
            {
                let r = libc::syscall(0x4000_0000 | libc::SYS_getpid);
                out.push(("x32 getpid", r, errno()));
            }
            // Not filtered: still works.
            let r = libc::syscall(libc::SYS_getpid);
            out.push(("getpid", if r > 0 { 0 } else { r }, 0));
            out
        })
        .join()
        .unwrap();
        for (name, ret, errno) in r {
            let want = match name {
                "io_uring_setup" | "clone3" | "x32 getpid" => libc::ENOSYS,
                "getpid" => 0,
                _ => libc::EPERM,
            };
            if want == 0 {
                assert_eq!(ret, 0, "{name}");
            } else {
                assert_eq!((ret, errno), (-1, want), "{name}");
            }
        }
    }
}
