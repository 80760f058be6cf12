//! A fully prepared process launch: every string, path and pointer array
//! the child needs is allocated here, before `clone`, because the child of
//! a multi-threaded host may not allocate (another thread could have held
//! the allocator's lock at the moment of the fork).

use std::ffi::{CString, OsStr};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use libc::c_char;

/// One step of building the sandbox's filesystem view, run by the child
/// inside its new mount namespace. Paths are absolute and already carry the
/// new root's prefix.
#[derive(Debug)]
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

/// User-namespace id maps, written by the parent into `/proc/<pid>/...`.
#[derive(Debug, Clone)]
pub struct IdMaps {
    /// Content of `uid_map`.
    pub uid_map: String,
    /// Content of `gid_map`.
    pub gid_map: String,
    /// Write `deny` to `setgroups` first (required for an unprivileged
    /// parent).
    pub deny_setgroups: bool,
}

/// Everything the forked child does, decided in advance.
#[derive(Debug, Default)]
pub struct Isolation {
    /// Extra `clone` flags (`CLONE_NEW*`).
    pub clone_flags: libc::c_int,
    /// Id maps for a new user namespace.
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
}

/// The complete launch description handed to the spawner thread.
pub struct Launch {
    pub(crate) exe: CString,
    _argv: Vec<CString>,
    pub(crate) argv_ptrs: Vec<*const c_char>,
    _envp: Vec<CString>,
    pub(crate) envp_ptrs: Vec<*const c_char>,
    pub(crate) cwd: Option<CString>,
    pub(crate) isolation: Isolation,
    /// Give the script a pipe as stdin (its write end is returned to the
    /// host) instead of `/dev/null`.
    pub stdin_pipe: bool,
}

// The raw pointers point into the `CString`s owned by the same value.
unsafe impl Send for Launch {}
unsafe impl Sync for Launch {}

/// Converts a path to a C string.
pub fn cpath(p: &Path) -> Result<CString, crate::error::Error> {
    cstr(p.as_os_str())
}

fn cstr(s: &OsStr) -> Result<CString, crate::error::Error> {
    CString::new(s.as_bytes())
        .map_err(|_| crate::error::Error::Spawn(format!("{s:?} contains NUL")))
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
    ) -> Result<Self, crate::error::Error> {
        let exe_c = cpath(exe)?;
        let mut argv = vec![exe_c.clone()];
        for a in args {
            argv.push(cstr(a)?);
        }
        let mut envp = Vec::with_capacity(env.len());
        for (k, v) in env {
            envp.push(
                CString::new(format!("{k}={v}")).map_err(|_| {
                    crate::error::Error::invalid(format!("env.{k}"), "contains NUL")
                })?,
            );
        }
        let argv_ptrs = argv
            .iter()
            .map(|c| c.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect();
        let envp_ptrs = envp
            .iter()
            .map(|c| c.as_ptr())
            .chain(std::iter::once(std::ptr::null()))
            .collect();
        Ok(Launch {
            exe: exe_c,
            _argv: argv,
            argv_ptrs,
            _envp: envp,
            envp_ptrs,
            cwd: cwd.map(cpath).transpose()?,
            isolation,
            stdin_pipe: false,
        })
    }
}
