//! Per-run staging directories: created with an owner marker, tracked while
//! they exist, removed when the run ends, when the host exits, and — when a
//! host died without the chance (SIGKILL, a crash) — by the next host that
//! stages in the same parent directory.
//!
//! Every directory holds a marker file, [`MARKER`], naming the host that
//! created it: pid, the process start time (field 22 of `/proc/<pid>/stat`,
//! in clock ticks since boot), the boot id and the PID namespace. A later
//! host removes a directory only when the marker proves that its owner is
//! dead: another boot, or the same PID namespace and no process with that
//! pid and start time. A directory without a readable marker, owned by
//! another uid, or whose owner lives in another PID namespace (which this
//! host cannot see into) is never touched.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

/// Name of the marker file inside every staging directory.
pub const MARKER: &str = ".scriptcage-owner";

/// Age from which an empty, unmarked staging directory counts as
/// abandoned (see [`sweep`]).
pub const EMPTY_DIR_MIN_AGE: std::time::Duration = std::time::Duration::from_secs(2);

/// Name prefixes of staging directories (`.scriptcage-` is used under a
/// `resolutionRoot`, `scriptcage-sh-` by the shell runner).
pub const PREFIXES: &[&str] = &["scriptcage-", ".scriptcage-"];

/// The identity of a process, as recorded in a marker.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// Process id (in `pid_ns`).
    pub pid: u32,
    /// Start time in clock ticks since boot.
    pub start: u64,
    /// `/proc/sys/kernel/random/boot_id`.
    pub boot: String,
    /// `readlink /proc/self/ns/pid`, e.g. `pid:[4026531836]`.
    pub pid_ns: String,
}

impl Owner {
    /// The marker's text.
    pub fn to_marker(&self) -> String {
        format!(
            "scriptcage staging v1\npid {}\nstart {}\nboot {}\npidns {}\n",
            self.pid, self.start, self.boot, self.pid_ns
        )
    }

    /// Parses a marker; `None` when it is not one.
    pub fn from_marker(text: &str) -> Option<Owner> {
        let mut lines = text.lines();
        if lines.next()? != "scriptcage staging v1" {
            return None;
        }
        let (mut pid, mut start, mut boot, mut pid_ns) = (None, None, None, None);
        for line in lines {
            let (k, v) = line.split_once(' ')?;
            match k {
                "pid" => pid = v.parse().ok(),
                "start" => start = v.parse().ok(),
                "boot" => boot = Some(v.to_owned()),
                "pidns" => pid_ns = Some(v.to_owned()),
                _ => {}
            }
        }
        Some(Owner {
            pid: pid?,
            start: start?,
            boot: boot.filter(|b| !b.is_empty())?,
            pid_ns: pid_ns.filter(|n| !n.is_empty())?,
        })
    }
}

/// Field 22 (`starttime`) of a `/proc/<pid>/stat` line. The command name
/// (field 2) may hold spaces and parentheses, so fields are counted from
/// the last `)`.
pub fn start_time_from_stat(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    // After ")" come fields 3, 4, …: field 22 is the 20th.
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Start time of process `pid`, or `None` when there is no such process.
fn start_time_of(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    start_time_from_stat(&stat)
}

fn boot_id() -> String {
    std::fs::read_to_string("/proc/sys/kernel/random/boot_id")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

fn pid_ns() -> String {
    std::fs::read_link("/proc/self/ns/pid")
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// This host's identity (computed once).
pub fn this_host() -> &'static Owner {
    static ME: OnceLock<Owner> = OnceLock::new();
    ME.get_or_init(|| {
        let pid = std::process::id();
        Owner {
            pid,
            start: start_time_of(pid).unwrap_or(0),
            boot: boot_id(),
            pid_ns: pid_ns(),
        }
    })
}

/// Whether the owner recorded in a marker is certainly dead, seen from a
/// host with identity `me`; `alive(pid, start)` says whether that process
/// exists now.
pub fn owner_is_dead(owner: &Owner, me: &Owner, alive: impl Fn(u32, u64) -> bool) -> bool {
    if owner.boot != me.boot {
        // Written before the last reboot: every process of then is gone.
        return !me.boot.is_empty();
    }
    if owner.pid_ns != me.pid_ns {
        // Its pids mean nothing here.
        return false;
    }
    if owner == me {
        return false;
    }
    !alive(owner.pid, owner.start)
}

/// This host's staging directories, and whether the host is exiting.
#[derive(Default)]
struct Registry {
    dirs: HashSet<PathBuf>,
    /// Set by [`remove_all`]: no directory is created after it.
    closed: bool,
}

fn registry() -> &'static Mutex<Registry> {
    static R: OnceLock<Mutex<Registry>> = OnceLock::new();
    R.get_or_init(|| Mutex::new(Registry::default()))
}

fn swept() -> &'static Mutex<HashSet<PathBuf>> {
    static S: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    S.get_or_init(|| Mutex::new(HashSet::new()))
}

fn lock<T>(m: &'static Mutex<T>) -> std::sync::MutexGuard<'static, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A staging directory of this host: removed on drop (and by [`remove_all`]
/// at exit).
pub struct Dir {
    inner: Option<tempfile::TempDir>,
    path: PathBuf,
}

impl Dir {
    /// The directory's path (as created, not canonicalised).
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        lock(registry()).dirs.remove(&self.path);
        drop(self.inner.take());
    }
}

/// Creates a staging directory named `<prefix>XXXXXX` in `parent`, with this
/// host's marker in it. The first time a parent is used, directories of
/// dead hosts in it are removed first.
pub fn create(parent: &Path, prefix: &str) -> io::Result<Dir> {
    sweep_once(parent);
    // Created and registered under the lock that `remove_all` takes: a
    // directory made while the host exits (a pooled process still being
    // prepared on another thread) is either removed or never made.
    let mut reg = lock(registry());
    if reg.closed {
        return Err(io::Error::other("the host is exiting"));
    }
    let dir = tempfile::Builder::new().prefix(prefix).tempdir_in(parent)?;
    let path = dir.path().to_path_buf();
    reg.dirs.insert(path.clone());
    drop(reg);
    let staged = Dir {
        inner: Some(dir),
        path,
    };
    std::fs::write(staged.path.join(MARKER), this_host().to_marker())?;
    Ok(staged)
}

/// Sweeps `parent` unless this host already did.
pub fn sweep_once(parent: &Path) {
    if !lock(swept()).insert(parent.to_path_buf()) {
        return;
    }
    sweep(parent, this_host(), |pid, start| {
        start_time_of(pid) == Some(start)
    });
}

/// Removes, from `parent`, the staging directories whose owners are dead
/// (see the module comment); returns how many were removed.
pub fn sweep(parent: &Path, me: &Owner, alive: impl Fn(u32, u64) -> bool) -> usize {
    use std::os::unix::fs::MetadataExt;
    let Ok(entries) = std::fs::read_dir(parent) else {
        return 0;
    };
    // SAFETY: geteuid has no preconditions.
    let euid = unsafe { libc::geteuid() };
    let mut removed = 0;
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        if !PREFIXES.iter().any(|p| name.starts_with(p)) {
            continue;
        }
        let path = entry.path();
        // Never follows a symlink.
        let Ok(meta) = std::fs::symlink_metadata(&path) else {
            continue;
        };
        if !meta.is_dir() {
            continue;
        }
        // The marker is a regular file of this uid (a root host gives the
        // directory itself to the sandbox uid, never the marker): nobody
        // else can forge one that makes this host remove their directory.
        let marker = path.join(MARKER);
        match std::fs::symlink_metadata(&marker) {
            Ok(m) if m.is_file() && m.uid() == euid => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                // An empty directory of this uid, older than any creation
                // in progress (a host writes its marker right after the
                // mkdir): left by a host that died in between. `rmdir`
                // removes it only while it is still empty.
                let old = meta
                    .modified()
                    .ok()
                    .and_then(|t| t.elapsed().ok())
                    .is_some_and(|age| age >= EMPTY_DIR_MIN_AGE);
                if meta.uid() == euid && old && std::fs::remove_dir(&path).is_ok() {
                    removed += 1;
                }
                continue;
            }
            _ => continue,
        }
        let Some(owner) = std::fs::read_to_string(&marker)
            .ok()
            .and_then(|t| Owner::from_marker(&t))
        else {
            continue;
        };
        if owner_is_dead(&owner, me, &alive) && std::fs::remove_dir_all(&path).is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Removes every staging directory of this host that still exists (the
/// host is exiting: runs in flight are being killed with it); no directory
/// is created afterwards. Returns how many were removed.
pub fn remove_all() -> usize {
    let paths: Vec<PathBuf> = {
        let mut reg = lock(registry());
        reg.closed = true;
        reg.dirs.drain().collect()
    };
    paths.iter().filter(|p| remove_while_in_use(p)).count()
}

/// Removes a staging directory that another thread of this host may still
/// be writing into (a pooled process being prepared while the host exits).
/// It is first renamed, so that later writes through its path fail, then
/// emptied and removed, with the marker last: whatever a write in progress
/// still adds is retried, and a remnant left by the end of the process is
/// still marked, for the next host's sweep.
fn remove_while_in_use(path: &Path) -> bool {
    let gone = match path.file_name().and_then(|n| n.to_str()) {
        Some(name) => path.with_file_name(format!("{name}-gone")),
        None => return false,
    };
    let target = if std::fs::rename(path, &gone).is_ok() {
        gone
    } else {
        path.to_path_buf()
    };
    for _ in 0..50 {
        if let Ok(entries) = std::fs::read_dir(&target) {
            for e in entries.flatten() {
                if e.file_name() == MARKER {
                    continue;
                }
                let p = e.path();
                match e.file_type() {
                    Ok(t) if t.is_dir() => drop(std::fs::remove_dir_all(&p)),
                    _ => drop(std::fs::remove_file(&p)),
                }
            }
        }
        let _ = std::fs::remove_file(target.join(MARKER));
        match std::fs::remove_dir(&target) {
            Ok(()) => return true,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return true,
            Err(_) => std::thread::sleep(std::time::Duration::from_millis(2)),
        }
    }
    false
}

/// Number of staging directories of this host that exist now.
pub fn live_count() -> usize {
    lock(registry()).dirs.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn me() -> Owner {
        Owner {
            pid: 100,
            start: 5000,
            boot: "b1".into(),
            pid_ns: "pid:[1]".into(),
        }
    }

    #[test]
    fn start_time_is_field_22_even_with_odd_command_names() {
        let stat = "4242 (we) ird (x)) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(start_time_from_stat(stat), Some(987654));
        assert_eq!(start_time_from_stat("garbage"), None);
        let own = std::fs::read_to_string("/proc/self/stat").unwrap();
        assert!(start_time_from_stat(&own).is_some());
    }

    #[test]
    fn markers_round_trip_and_reject_junk() {
        let o = me();
        assert_eq!(Owner::from_marker(&o.to_marker()), Some(o));
        assert_eq!(Owner::from_marker("hello"), None);
        assert_eq!(Owner::from_marker("scriptcage staging v1\npid 1\n"), None);
    }

    #[test]
    fn only_provably_dead_owners_are_dead() {
        let m = me();
        let other = |pid, start, boot: &str, ns: &str| Owner {
            pid,
            start,
            boot: boot.into(),
            pid_ns: ns.into(),
        };
        let none_alive = |_, _| false;
        let all_alive = |_, _| true;
        // Another boot: dead.
        assert!(owner_is_dead(&other(7, 1, "b0", "pid:[1]"), &m, all_alive));
        // Another PID namespace: cannot tell, so alive.
        assert!(!owner_is_dead(
            &other(7, 1, "b1", "pid:[2]"),
            &m,
            none_alive
        ));
        // Itself: alive.
        assert!(!owner_is_dead(&m, &m, none_alive));
        // Same namespace: dead exactly when no process has that pid and start.
        assert!(owner_is_dead(&other(7, 1, "b1", "pid:[1]"), &m, none_alive));
        assert!(!owner_is_dead(&other(7, 1, "b1", "pid:[1]"), &m, all_alive));
        // A pid reused by a later process (other start time) is not the owner.
        assert!(owner_is_dead(&other(7, 1, "b1", "pid:[1]"), &m, |p, s| p
            == 7
            && s == 2));
    }

    #[test]
    fn sweep_removes_dead_hosts_directories_only() {
        let parent = tempfile::tempdir().unwrap();
        let m = me();
        let mk = |name: &str, marker: Option<String>| {
            let d = parent.path().join(name);
            std::fs::create_dir(&d).unwrap();
            std::fs::create_dir(d.join("work")).unwrap();
            if let Some(t) = marker {
                std::fs::write(d.join(MARKER), t).unwrap();
            }
            d
        };
        let dead = Owner {
            pid: 7,
            ..m.clone()
        };
        let live = Owner {
            pid: 8,
            ..m.clone()
        };
        let d_dead = mk("scriptcage-dead", Some(dead.to_marker()));
        let d_dead_rr = mk(".scriptcage-dead", Some(dead.to_marker()));
        let d_live = mk("scriptcage-live", Some(live.to_marker()));
        let d_mine = mk("scriptcage-sh-mine", Some(m.to_marker()));
        let d_unmarked = mk("scriptcage-unmarked", None);
        // Empty and unmarked: removed once old enough, never when fresh.
        let d_empty_fresh = parent.path().join("scriptcage-empty");
        std::fs::create_dir(&d_empty_fresh).unwrap();
        let d_empty_old = parent.path().join("scriptcage-empty-old");
        std::fs::create_dir(&d_empty_old).unwrap();
        let hour_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(3600);
        std::fs::File::open(&d_empty_old)
            .unwrap()
            .set_modified(hour_ago)
            .unwrap();
        let d_junk = mk("scriptcage-junk", Some("not a marker".into()));
        let d_other_name = mk("other-dead", Some(dead.to_marker()));
        // A symlink named like a staging directory is not followed.
        let target = mk("target", Some(dead.to_marker()));
        std::os::unix::fs::symlink(&target, parent.path().join("scriptcage-link")).unwrap();
        let n = sweep(parent.path(), &m, |pid, start| pid == 8 && start == m.start);
        assert_eq!(n, 3);
        assert!(!d_dead.exists() && !d_dead_rr.exists() && !d_empty_old.exists());
        for d in [
            &d_live,
            &d_mine,
            &d_unmarked,
            &d_junk,
            &d_other_name,
            &target,
        ] {
            assert!(d.exists(), "{d:?} was removed");
        }
    }

    #[test]
    fn created_directories_carry_the_marker_and_are_tracked() {
        let parent = tempfile::tempdir().unwrap();
        let d = create(parent.path(), "scriptcage-t-").unwrap();
        let text = std::fs::read_to_string(d.path().join(MARKER)).unwrap();
        assert_eq!(Owner::from_marker(&text).as_ref(), Some(this_host()));
        assert!(lock(registry()).dirs.contains(d.path()));
        let p = d.path().to_path_buf();
        drop(d);
        assert!(!p.exists());
        assert!(!lock(registry()).dirs.contains(&p));
    }
}
