//! A fully prepared process launch. Every string, path and pointer array
//! the child needs is allocated here, before any `clone`: a child of a
//! multi-threaded host may not allocate (another thread could have held the
//! allocator's lock at the moment of the clone).

use std::ffi::{CString, OsStr};
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use libc::c_char;

/// One step of building the sandbox's filesystem view, run by the init
/// inside its new mount namespace. Paths are absolute and already carry the
/// new root's prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MountStep {
    /// `mkdir(path, 0755)`; an existing directory is fine.
    Dir(CString),
    /// Creates an empty file to bind a file onto.
    File(CString),
    /// `symlink(target, path)`, mirroring a host symlink such as `/bin`.
    Symlink {
        /// Link text.
        target: CString,
        /// Where the link is created.
        path: CString,
    },
    /// A fresh tmpfs with mount `data` such as `mode=1777,size=...`.
    Tmpfs {
        /// Mount point.
        target: CString,
        /// tmpfs options.
        data: CString,
    },
    /// A recursive bind mount, optionally made read-only.
    Bind {
        /// Host path.
        source: CString,
        /// Mount point.
        target: CString,
        /// Remount read-only after binding.
        readonly: bool,
        /// Include submounts (`MS_REC`).
        recursive: bool,
    },
    /// A new procfs for the run's PID namespace.
    Proc(CString),
}

/// One classic-BPF instruction, laid out as the kernel's `struct
/// sock_filter`.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SockFilter {
    /// Opcode.
    pub code: u16,
    /// Jump offset when true.
    pub jt: u8,
    /// Jump offset when false.
    pub jf: u8,
    /// Operand.
    pub k: u32,
}

/// User-namespace id maps, written by the host into `/proc/<pid>/...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdMaps {
    /// Content of `uid_map`.
    pub uid_map: String,
    /// Content of `gid_map`.
    pub gid_map: String,
    /// Write `deny` to `setgroups` first (required for an unprivileged
    /// parent).
    pub deny_setgroups: bool,
}

/// Everything the init and the runtime process do, decided in advance.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Isolation {
    /// Extra `clone` flags (`CLONE_NEW*`).
    pub clone_flags: libc::c_int,
    /// Id maps for a new user namespace (host side only: never encoded).
    pub id_maps: Option<IdMaps>,
    /// Filesystem construction, then `pivot_root` into `new_root`.
    pub mounts: Vec<MountStep>,
    /// The directory that becomes `/`.
    pub new_root: Option<CString>,
    /// Bring the loopback interface up (new network namespace).
    pub loopback_up: bool,
    /// `setrlimit` triples (resource, soft, hard) applied to the script
    /// process.
    pub rlimits: Vec<(libc::c_int, libc::rlim_t, libc::rlim_t)>,
    /// Switch to these ids before `exec`.
    pub ids: Option<(libc::uid_t, libc::gid_t)>,
    /// Switch the init to these ids (inside its user namespace) before it
    /// builds the filesystem, so that what it creates is owned by a mapped
    /// id.
    pub init_ids: Option<(libc::uid_t, libc::gid_t)>,
    /// Set `no_new_privs` before `exec`.
    pub no_new_privs: bool,
    /// seccomp programs installed, in order, right before the runtime's
    /// `execve` (compiled by the host before any clone).
    pub seccomp: Vec<Vec<SockFilter>>,
    /// Set `user.max_user_namespaces` to 0 inside the run's user namespace
    /// (best effort; the seccomp filter closes the same door).
    pub deny_nested_userns: bool,
    /// The network broker's part of the run (docs/network.md), when the
    /// run's connections go through the host's broker.
    pub net: Option<NetBroker>,
}

/// What the init and the runtime process do for the host's network broker.
/// Both talk to the host over [`crate::fds::NET`], a unix seqpacket socket.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct NetBroker {
    /// Program installed last, with `SECCOMP_FILTER_FLAG_NEW_LISTENER`;
    /// the listener goes to the host (message tag [`NET_TAG_LISTENER`])
    /// and is closed before `execve`.
    pub notify: Vec<SockFilter>,
    /// IPv4 addresses (in network byte order) of the host's name servers:
    /// the init makes each exist inside the run's network namespace (a
    /// `lo` alias unless it is in 127.0.0.0/8), binds a UDP socket to
    /// `<address>:53` and sends the sockets to the host (tag
    /// [`NET_TAG_DNS`]), where the DNS stub answers.
    pub dns: Vec<[u8; 4]>,
}

/// Tag of the message carrying the seccomp listener.
pub const NET_TAG_LISTENER: u8 = b'L';
/// Tag of the message carrying the DNS stub's sockets.
pub const NET_TAG_DNS: u8 = b'D';

/// A string that cannot cross into C because it holds a NUL byte.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NulError {
    /// The environment variable's name, when the string was an env value.
    pub env_key: Option<String>,
    /// A printable form of the offending string.
    pub text: String,
}

impl fmt::Display for NulError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.env_key {
            Some(k) => write!(f, "env.{k}: contains NUL"),
            None => write!(f, "{} contains NUL", self.text),
        }
    }
}

impl std::error::Error for NulError {}

/// The complete launch description of one run.
pub struct Launch {
    /// The runtime executable.
    pub exe: CString,
    argv: Vec<CString>,
    argv_ptrs: Vec<*const c_char>,
    envp: Vec<CString>,
    envp_ptrs: Vec<*const c_char>,
    /// Working directory of the script process.
    pub cwd: Option<CString>,
    /// What the init and the runtime process apply.
    pub isolation: Isolation,
    /// Give the script a pipe as stdin (its write end is returned to the
    /// host) instead of `/dev/null`.
    pub stdin_pipe: bool,
    /// Give the runtime the signal pipe on descriptor 63 (implied by
    /// `stdin_pipe`): a pooled runner says "booted" and "accepted" there,
    /// and every ESM runner says "done" once nothing more can come out.
    /// Host side only.
    pub ready_pipe: bool,
}

// SAFETY: the raw pointers point into the `CString`s owned by the same
// value, which are never mutated after construction.
unsafe impl Send for Launch {}
// SAFETY: as above; shared access only reads.
unsafe impl Sync for Launch {}

impl fmt::Debug for Launch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Launch")
            .field("exe", &self.exe)
            .field("argv", &self.argv)
            .field("env_len", &self.envp.len())
            .field("cwd", &self.cwd)
            .field("isolation", &self.isolation)
            .field("stdin_pipe", &self.stdin_pipe)
            .finish()
    }
}

/// Converts a path to a C string.
pub fn cpath(p: &Path) -> Result<CString, NulError> {
    cstr(p.as_os_str())
}

fn cstr(s: &OsStr) -> Result<CString, NulError> {
    CString::new(s.as_bytes()).map_err(|_| NulError {
        env_key: None,
        text: format!("{s:?}"),
    })
}

fn null_terminated(v: &[CString]) -> Vec<*const c_char> {
    v.iter()
        .map(|c| c.as_ptr())
        .chain(std::iter::once(std::ptr::null()))
        .collect()
}

impl Launch {
    /// Prepares a launch of `exe` with `args` (without argv\[0\]), the
    /// exact environment `env`, working directory `cwd` and `isolation`.
    pub fn new(
        exe: &Path,
        args: &[&OsStr],
        env: &[(String, String)],
        cwd: Option<&Path>,
        isolation: Isolation,
    ) -> Result<Self, NulError> {
        let exe_c = cpath(exe)?;
        let mut argv = vec![exe_c.clone()];
        for a in args {
            argv.push(cstr(a)?);
        }
        let mut envp = Vec::with_capacity(env.len());
        for (k, v) in env {
            envp.push(CString::new(format!("{k}={v}")).map_err(|_| NulError {
                env_key: Some(k.clone()),
                text: k.clone(),
            })?);
        }
        Ok(Self::from_parts(
            exe_c,
            argv,
            envp,
            cwd.map(cpath).transpose()?,
            isolation,
            false,
        ))
    }

    /// Assembles a launch from already converted parts (`argv` includes
    /// argv\[0\]; `envp` entries are `KEY=value`).
    pub fn from_parts(
        exe: CString,
        argv: Vec<CString>,
        envp: Vec<CString>,
        cwd: Option<CString>,
        isolation: Isolation,
        stdin_pipe: bool,
    ) -> Self {
        let argv_ptrs = null_terminated(&argv);
        let envp_ptrs = null_terminated(&envp);
        Launch {
            exe,
            argv,
            argv_ptrs,
            envp,
            envp_ptrs,
            cwd,
            isolation,
            stdin_pipe,
            ready_pipe: stdin_pipe,
        }
    }

    /// The argument vector, argv\[0\] first.
    pub fn argv(&self) -> &[CString] {
        &self.argv
    }

    /// The environment, as `KEY=value` entries.
    pub fn envp(&self) -> &[CString] {
        &self.envp
    }

    /// NULL-terminated pointers into [`Launch::argv`], for `execve`.
    pub fn argv_ptrs(&self) -> *const *const c_char {
        self.argv_ptrs.as_ptr()
    }

    /// NULL-terminated pointers into [`Launch::envp`], for `execve`.
    pub fn envp_ptrs(&self) -> *const *const c_char {
        self.envp_ptrs.as_ptr()
    }
}
