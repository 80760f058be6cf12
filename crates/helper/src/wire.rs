//! The plan's byte encoding, from the host to the helper.
//!
//! A flat, length-prefixed little format rather than JSON: paths and
//! environment values are arbitrary bytes (not necessarily UTF-8), and the
//! helper should decode without pulling in a serialisation framework. The
//! host id maps are not encoded: the host writes them itself.

use std::ffi::CString;
use std::fmt;

use crate::launch::{Isolation, Launch, MountStep, NetBroker, SockFilter};

const MAGIC: &[u8; 4] = b"SCP1";

/// A plan that could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError(pub &'static str);

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "malformed launch plan: {}", self.0)
    }
}

impl std::error::Error for DecodeError {}

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn bytes(&mut self, b: &[u8]) {
        self.u32(b.len() as u32);
        self.0.extend_from_slice(b);
    }
    fn cstr(&mut self, c: &CString) {
        self.bytes(c.as_bytes());
    }
    fn opt_cstr(&mut self, c: &Option<CString>) {
        match c {
            Some(c) => {
                self.u8(1);
                self.cstr(c);
            }
            None => self.u8(0),
        }
    }
    fn opt_ids(&mut self, ids: Option<(u32, u32)>) {
        match ids {
            Some((u, g)) => {
                self.u8(1);
                self.u32(u);
                self.u32(g);
            }
            None => self.u8(0),
        }
    }
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if self.0.len() < n {
            return Err(DecodeError("truncated"));
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Ok(a)
    }
    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.take(1)?[0])
    }
    fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.u8()? {
            0 => Ok(false),
            1 => Ok(true),
            _ => Err(DecodeError("bad flag")),
        }
    }
    fn u32(&mut self) -> Result<u32, DecodeError> {
        Ok(u32::from_le_bytes(self.take(4)?.try_into().unwrap()))
    }
    fn u64(&mut self) -> Result<u64, DecodeError> {
        Ok(u64::from_le_bytes(self.take(8)?.try_into().unwrap()))
    }
    fn cstr(&mut self) -> Result<CString, DecodeError> {
        let n = self.u32()? as usize;
        CString::new(self.take(n)?).map_err(|_| DecodeError("NUL inside a string"))
    }
    fn opt_cstr(&mut self) -> Result<Option<CString>, DecodeError> {
        Ok(if self.bool()? {
            Some(self.cstr()?)
        } else {
            None
        })
    }
    fn opt_ids(&mut self) -> Result<Option<(u32, u32)>, DecodeError> {
        Ok(if self.bool()? {
            Some((self.u32()?, self.u32()?))
        } else {
            None
        })
    }
    fn insn(&mut self) -> Result<SockFilter, DecodeError> {
        let code = u16::try_from(self.u32()?).map_err(|_| DecodeError("bad BPF opcode"))?;
        Ok(SockFilter {
            code,
            jt: self.u8()?,
            jf: self.u8()?,
            k: self.u32()?,
        })
    }
    fn list<T>(
        &mut self,
        mut f: impl FnMut(&mut Self) -> Result<T, DecodeError>,
    ) -> Result<Vec<T>, DecodeError> {
        let n = self.u32()? as usize;
        // Every element takes at least one byte: a bogus count cannot make
        // us reserve more than the input's size.
        if n > self.0.len() {
            return Err(DecodeError("bad count"));
        }
        let mut v = Vec::with_capacity(n);
        for _ in 0..n {
            v.push(f(self)?);
        }
        Ok(v)
    }
}

/// Encodes everything the helper needs of `launch`.
pub fn encode(launch: &Launch) -> Vec<u8> {
    let mut w = Writer(Vec::with_capacity(4096));
    w.0.extend_from_slice(MAGIC);
    w.cstr(&launch.exe);
    w.u32(launch.argv().len() as u32);
    for a in launch.argv() {
        w.cstr(a);
    }
    w.u32(launch.envp().len() as u32);
    for e in launch.envp() {
        w.cstr(e);
    }
    w.opt_cstr(&launch.cwd);
    w.u8(launch.stdin_pipe as u8);
    let iso = &launch.isolation;
    w.u32(iso.clone_flags as u32);
    w.u32(iso.mounts.len() as u32);
    for m in &iso.mounts {
        match m {
            MountStep::Dir(p) => {
                w.u8(1);
                w.cstr(p);
            }
            MountStep::File(p) => {
                w.u8(2);
                w.cstr(p);
            }
            MountStep::Symlink { target, path } => {
                w.u8(3);
                w.cstr(target);
                w.cstr(path);
            }
            MountStep::Tmpfs { target, data } => {
                w.u8(4);
                w.cstr(target);
                w.cstr(data);
            }
            MountStep::Bind {
                source,
                target,
                readonly,
                recursive,
            } => {
                w.u8(5);
                w.cstr(source);
                w.cstr(target);
                w.u8(*readonly as u8);
                w.u8(*recursive as u8);
            }
            MountStep::Proc(p) => {
                w.u8(6);
                w.cstr(p);
            }
        }
    }
    w.opt_cstr(&iso.new_root);
    w.u8(iso.loopback_up as u8);
    w.u32(iso.rlimits.len() as u32);
    for &(res, soft, hard) in &iso.rlimits {
        w.u32(res as u32);
        w.u64(soft);
        w.u64(hard);
    }
    w.opt_ids(iso.ids);
    w.opt_ids(iso.init_ids);
    w.u8(iso.no_new_privs as u8);
    w.u32(iso.seccomp.len() as u32);
    for prog in &iso.seccomp {
        w.u32(prog.len() as u32);
        for i in prog {
            w.u32(u32::from(i.code));
            w.u8(i.jt);
            w.u8(i.jf);
            w.u32(i.k);
        }
    }
    w.u8(iso.deny_nested_userns as u8);
    match &iso.net {
        None => w.u8(0),
        Some(n) => {
            w.u8(1);
            w.u32(n.notify.len() as u32);
            for i in &n.notify {
                w.u32(u32::from(i.code));
                w.u8(i.jt);
                w.u8(i.jf);
                w.u32(i.k);
            }
            w.u32(n.dns.len() as u32);
            for a in &n.dns {
                w.0.extend_from_slice(a);
            }
        }
    }
    w.0
}

/// Decodes a plan made by [`encode`].
pub fn decode(bytes: &[u8]) -> Result<Launch, DecodeError> {
    let mut r = Reader(bytes);
    if r.take(4)? != MAGIC {
        return Err(DecodeError("bad magic"));
    }
    let exe = r.cstr()?;
    let argv = r.list(|r| r.cstr())?;
    let envp = r.list(|r| r.cstr())?;
    let cwd = r.opt_cstr()?;
    let stdin_pipe = r.bool()?;
    let clone_flags = r.u32()? as libc::c_int;
    let mounts = r.list(|r| {
        Ok(match r.u8()? {
            1 => MountStep::Dir(r.cstr()?),
            2 => MountStep::File(r.cstr()?),
            3 => MountStep::Symlink {
                target: r.cstr()?,
                path: r.cstr()?,
            },
            4 => MountStep::Tmpfs {
                target: r.cstr()?,
                data: r.cstr()?,
            },
            5 => MountStep::Bind {
                source: r.cstr()?,
                target: r.cstr()?,
                readonly: r.bool()?,
                recursive: r.bool()?,
            },
            6 => MountStep::Proc(r.cstr()?),
            _ => return Err(DecodeError("unknown mount step")),
        })
    })?;
    let new_root = r.opt_cstr()?;
    let loopback_up = r.bool()?;
    let rlimits = r.list(|r| Ok((r.u32()? as libc::c_int, r.u64()?, r.u64()?)))?;
    let ids = r.opt_ids()?;
    let init_ids = r.opt_ids()?;
    let no_new_privs = r.bool()?;
    let seccomp = r.list(|r| r.list(Reader::insn))?;
    let deny_nested_userns = r.bool()?;
    let net = if r.bool()? {
        Some(NetBroker {
            notify: r.list(Reader::insn)?,
            dns: r.list(|r| Ok(r.take(4)?.try_into().unwrap()))?,
        })
    } else {
        None
    };
    if !r.0.is_empty() {
        return Err(DecodeError("trailing bytes"));
    }
    if argv.is_empty() {
        return Err(DecodeError("empty argv"));
    }
    let isolation = Isolation {
        clone_flags,
        id_maps: None,
        mounts,
        new_root,
        loopback_up,
        rlimits,
        ids,
        init_ids,
        no_new_privs,
        seccomp,
        deny_nested_userns,
        net,
    };
    Ok(Launch::from_parts(
        exe, argv, envp, cwd, isolation, stdin_pipe,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::launch::IdMaps;
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    use std::path::Path;

    fn sample() -> Launch {
        let iso = Isolation {
            clone_flags: libc::CLONE_NEWUSER | libc::CLONE_NEWPID,
            id_maps: Some(IdMaps {
                uid_map: "0 0 1\n".into(),
                gid_map: "0 0 1\n".into(),
                deny_setgroups: true,
            }),
            mounts: vec![
                MountStep::Dir(c"/r/usr".into()),
                MountStep::File(c"/r/f".into()),
                MountStep::Symlink {
                    target: c"usr/bin".into(),
                    path: c"/r/bin".into(),
                },
                MountStep::Tmpfs {
                    target: c"/r/tmp".into(),
                    data: c"mode=1777,size=10".into(),
                },
                MountStep::Bind {
                    source: c"/usr".into(),
                    target: c"/r/usr".into(),
                    readonly: true,
                    recursive: false,
                },
                MountStep::Proc(c"/r/proc".into()),
            ],
            new_root: Some(c"/r".into()),
            loopback_up: true,
            rlimits: vec![(libc::RLIMIT_CPU as i32, 3, 4), (7, u64::MAX, u64::MAX)],
            ids: Some((65534, 65534)),
            init_ids: None,
            no_new_privs: true,
            seccomp: vec![vec![
                SockFilter {
                    code: 0x20,
                    jt: 0,
                    jf: 0,
                    k: 4,
                },
                SockFilter {
                    code: 0x06,
                    jt: 1,
                    jf: 2,
                    k: 0x7fff_0000,
                },
            ]],
            deny_nested_userns: true,
            net: Some(NetBroker {
                notify: vec![SockFilter {
                    code: 0x06,
                    jt: 0,
                    jf: 0,
                    k: 0x7fc0_0000,
                }],
                dns: vec![[10, 0, 0, 2], [127, 0, 0, 53]],
            }),
        };
        let odd = OsStr::from_bytes(b"\xff\xfe-not-utf8");
        let mut l = Launch::new(
            Path::new("/usr/bin/node"),
            &[OsStr::new("runner.mjs"), odd],
            &[("A".into(), "1".into()), ("EMPTY".into(), String::new())],
            Some(Path::new("/work dir")),
            iso,
        )
        .unwrap();
        l.stdin_pipe = true;
        l
    }

    #[test]
    fn round_trip_keeps_everything_but_the_host_maps() {
        let l = sample();
        let d = decode(&encode(&l)).unwrap();
        assert_eq!(d.exe, l.exe);
        assert_eq!(d.argv(), l.argv());
        assert_eq!(d.envp(), l.envp());
        assert_eq!(d.cwd, l.cwd);
        assert!(d.stdin_pipe);
        let mut expect = l.isolation.clone();
        expect.id_maps = None;
        assert_eq!(d.isolation, expect);
    }

    #[test]
    fn pointer_arrays_are_null_terminated() {
        let d = decode(&encode(&sample())).unwrap();
        // SAFETY: argv_ptrs points at argv().len() + 1 valid pointers.
        unsafe {
            assert!(!(*d.argv_ptrs()).is_null());
            assert!((*d.argv_ptrs().add(d.argv().len())).is_null());
            assert!((*d.envp_ptrs().add(d.envp().len())).is_null());
        }
    }

    #[test]
    fn every_truncation_and_corruption_is_an_error() {
        let bytes = encode(&sample());
        for n in 0..bytes.len() {
            assert!(decode(&bytes[..n]).is_err(), "prefix {n} decoded");
        }
        let mut extra = bytes.clone();
        extra.push(0);
        assert_eq!(decode(&extra).unwrap_err(), DecodeError("trailing bytes"));
        let mut bad = bytes.clone();
        bad[0] = b'X';
        assert_eq!(decode(&bad).unwrap_err(), DecodeError("bad magic"));
    }
}
