//! The sandbox policy: its shape (compatible with upstream's
//! `SandboxPolicy`), the named profiles, and merging a partial input over a
//! base with validation that names the offending field.

use serde_json::{json, Map, Value};

use crate::error::Error;
use crate::sandbox::net::rules;

/// What happens when a requested layer cannot be enforced on this host.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OnUnavailable {
    /// Run with what can be enforced; list the downgrades in the report.
    Degrade,
    /// Refuse the run before anything is written or spawned.
    Fail,
}

/// Filesystem view of a sandboxed run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FsMode {
    /// The host filesystem as is.
    Off,
    /// Scratch directories plus the system directories and the runtime.
    ScratchOnly,
    /// As `ScratchOnly`, plus `<resolutionRoot>/node_modules` read-only.
    ScratchPlusRo,
}

/// Network access of a sandboxed run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NetMode {
    /// The host's network.
    Unrestricted,
    /// A private network namespace with only loopback.
    Deny,
    /// Only the listed addresses (not enforced yet: reported as a
    /// downgrade to `Deny`).
    Allowlist,
}

/// Privilege of the script process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrivMode {
    /// Keep the host's uid.
    Inherit,
    /// When the host is root, run as an unprivileged uid.
    DropToUid,
}

/// Resource limits; `None` leaves a limit unset.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Resources {
    /// RLIMIT_CPU in seconds.
    pub cpu_seconds: Option<u64>,
    /// Memory (RLIMIT_DATA) in bytes.
    pub memory_bytes: Option<u64>,
    /// RLIMIT_NOFILE.
    pub max_open_files: Option<u64>,
    /// RLIMIT_NPROC (counted per run: each run has its own user namespace).
    pub max_processes: Option<u64>,
    /// stdout + stderr budget.
    pub max_output_bytes: Option<u64>,
    /// RLIMIT_FSIZE, and the size of each scratch tmpfs.
    pub max_file_size_bytes: Option<u64>,
}

/// A resolved sandbox policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    /// Whether any layer is applied.
    pub enabled: bool,
    /// Degrade or fail when a layer is unavailable.
    pub on_unavailable: OnUnavailable,
    /// Resource limits.
    pub resources: Resources,
    /// Filesystem view.
    pub filesystem: FsMode,
    /// Network mode.
    pub network: NetMode,
    /// `network.allow` entries as written (validated by
    /// [`rules::parse_entry`]: `host`, `*.suffix`, an address or CIDR, each
    /// with an optional `:port`).
    pub allow: Vec<String>,
    /// Block the always-blocked classes ([`rules::always_blocked`]:
    /// link-local and cloud metadata, the host's loopback, ...).
    pub deny_link_local_and_metadata: bool,
    /// Block the private ranges too ([`rules::is_private`]);
    /// `network.denyPrivate`, default false.
    pub deny_private: bool,
    /// Privilege mode.
    pub privilege: PrivMode,
    /// Uid used by `DropToUid`.
    pub uid: Option<u32>,
    /// Gid used by `DropToUid`.
    pub gid: Option<u32>,
}

/// Default output budget: 5 MiB for stdout and stderr together.
pub const DEFAULT_MAX_OUTPUT: u64 = 5 * 1024 * 1024;

const MIB: u64 = 1024 * 1024;

/// Names of the profiles.
pub const PROFILES: &[&str] = &["off", "standard", "strict"];

/// The named profile, or `None` for an unknown name.
pub fn profile(name: &str) -> Option<Policy> {
    let standard = Policy {
        enabled: true,
        on_unavailable: OnUnavailable::Degrade,
        resources: Resources {
            cpu_seconds: Some(60),
            memory_bytes: Some(512 * MIB),
            max_open_files: Some(1024),
            max_processes: Some(256),
            max_output_bytes: Some(DEFAULT_MAX_OUTPUT),
            max_file_size_bytes: Some(256 * MIB),
        },
        filesystem: FsMode::ScratchPlusRo,
        network: NetMode::Unrestricted,
        allow: Vec::new(),
        deny_link_local_and_metadata: true,
        deny_private: false,
        privilege: PrivMode::DropToUid,
        uid: None,
        gid: None,
    };
    match name {
        "standard" => Some(standard),
        "strict" => Some(Policy {
            network: NetMode::Deny,
            on_unavailable: OnUnavailable::Fail,
            ..standard
        }),
        "off" => Some(Policy {
            enabled: false,
            resources: Resources {
                max_output_bytes: Some(DEFAULT_MAX_OUTPUT),
                ..Resources::default()
            },
            filesystem: FsMode::Off,
            privilege: PrivMode::Inherit,
            ..standard
        }),
        _ => None,
    }
}

impl Policy {
    /// The policy as the JSON object JavaScript sees.
    pub fn to_json(&self) -> Value {
        let r = &self.resources;
        let mut res = Map::new();
        for (k, v) in [
            ("cpuSeconds", r.cpu_seconds),
            ("memoryBytes", r.memory_bytes),
            ("maxOpenFiles", r.max_open_files),
            ("maxProcesses", r.max_processes),
            ("maxOutputBytes", r.max_output_bytes),
            ("maxFileSizeBytes", r.max_file_size_bytes),
        ] {
            if let Some(v) = v {
                res.insert(k.into(), json!(v));
            }
        }
        let mut privilege = json!({ "mode": match self.privilege { PrivMode::Inherit => "inherit", PrivMode::DropToUid => "drop-to-uid" } });
        if let Some(u) = self.uid {
            privilege["uid"] = json!(u);
        }
        if let Some(g) = self.gid {
            privilege["gid"] = json!(g);
        }
        json!({
            "enabled": self.enabled,
            "onUnavailable": match self.on_unavailable { OnUnavailable::Degrade => "degrade", OnUnavailable::Fail => "fail" },
            "resources": res,
            "filesystem": { "mode": match self.filesystem { FsMode::Off => "off", FsMode::ScratchOnly => "scratch-only", FsMode::ScratchPlusRo => "scratch-plus-ro" } },
            "network": {
                "mode": match self.network { NetMode::Unrestricted => "unrestricted", NetMode::Deny => "deny", NetMode::Allowlist => "allowlist" },
                "allow": self.allow,
                "denyLinkLocalAndMetadata": self.deny_link_local_and_metadata,
                "denyPrivate": self.deny_private,
            },
            "privilege": privilege,
        })
    }

    /// The network rules of this policy.
    /// `Err((index, why))` for a bad `allow` entry, which [`Policy::merged`]
    /// never lets through.
    pub fn net_rules(&self) -> Result<rules::Rules, (usize, String)> {
        let mode = match self.network {
            NetMode::Unrestricted => rules::Mode::Unrestricted,
            NetMode::Allowlist => rules::Mode::Allowlist,
            NetMode::Deny => rules::Mode::Deny,
        };
        rules::Rules::new(
            mode,
            &self.allow,
            self.deny_link_local_and_metadata,
            self.deny_private,
        )
    }

    /// Applies a partial input (a JSON object) over `self`. An optional
    /// `profile` key first replaces the base with that profile. Unknown keys
    /// and bad values are errors naming the field; on error nothing changes.
    pub fn merged(&self, input: &Value) -> Result<Policy, Error> {
        let obj = as_object(input, "policy")?;
        let mut p = self.clone();
        if let Some(v) = obj.get("profile") {
            let name = v
                .as_str()
                .ok_or_else(|| Error::invalid("profile", "must be a string"))?;
            p = profile(name).ok_or_else(|| {
                Error::invalid("profile", format!("must be one of {}", PROFILES.join(", ")))
            })?;
        }
        for (key, v) in obj {
            match key.as_str() {
                "profile" => {}
                "enabled" => p.enabled = as_bool(v, "enabled")?,
                "onUnavailable" => {
                    p.on_unavailable = match as_str(v, "onUnavailable")? {
                        "degrade" => OnUnavailable::Degrade,
                        "fail" => OnUnavailable::Fail,
                        _ => {
                            return Err(Error::invalid(
                                "onUnavailable",
                                "must be \"degrade\" or \"fail\"",
                            ))
                        }
                    }
                }
                "resources" => {
                    for (rk, rv) in as_object(v, "resources")? {
                        let field = format!("resources.{rk}");
                        let slot = match rk.as_str() {
                            "cpuSeconds" => &mut p.resources.cpu_seconds,
                            "memoryBytes" => &mut p.resources.memory_bytes,
                            "maxOpenFiles" => &mut p.resources.max_open_files,
                            "maxProcesses" => &mut p.resources.max_processes,
                            "maxOutputBytes" => &mut p.resources.max_output_bytes,
                            "maxFileSizeBytes" => &mut p.resources.max_file_size_bytes,
                            _ => {
                                return Err(Error::invalid(field, "is not a known resource limit"))
                            }
                        };
                        *slot = if rv.is_null() {
                            None
                        } else {
                            Some(positive_int(rv, &field)?)
                        };
                    }
                    if p.resources.max_output_bytes.is_none() {
                        // The output budget is always on.
                        p.resources.max_output_bytes = Some(DEFAULT_MAX_OUTPUT);
                    }
                }
                "filesystem" => {
                    for (fk, fv) in as_object(v, "filesystem")? {
                        match fk.as_str() {
                            "mode" => {
                                p.filesystem = match as_str(fv, "filesystem.mode")? {
                                    "off" => FsMode::Off,
                                    "scratch-only" => FsMode::ScratchOnly,
                                    "scratch-plus-ro" => FsMode::ScratchPlusRo,
                                    _ => return Err(Error::invalid(
                                        "filesystem.mode",
                                        "must be \"off\", \"scratch-only\" or \"scratch-plus-ro\"",
                                    )),
                                }
                            }
                            _ => {
                                return Err(Error::invalid(
                                    format!("filesystem.{fk}"),
                                    "is not a known option",
                                ))
                            }
                        }
                    }
                }
                "network" => {
                    for (nk, nv) in as_object(v, "network")? {
                        match nk.as_str() {
                            "mode" => {
                                p.network =
                                    match as_str(nv, "network.mode")? {
                                        "unrestricted" => NetMode::Unrestricted,
                                        "deny" => NetMode::Deny,
                                        "allowlist" => NetMode::Allowlist,
                                        _ => return Err(Error::invalid(
                                            "network.mode",
                                            "must be \"unrestricted\", \"deny\" or \"allowlist\"",
                                        )),
                                    }
                            }
                            "allow" => {
                                let arr = nv.as_array().ok_or_else(|| {
                                    Error::invalid("network.allow", "must be an array of strings")
                                })?;
                                let mut out = Vec::new();
                                for (i, e) in arr.iter().enumerate() {
                                    let s = e.as_str().ok_or_else(|| {
                                        Error::invalid(
                                            format!("network.allow[{i}]"),
                                            "must be a string",
                                        )
                                    })?;
                                    if let Err(why) = rules::parse_entry(s) {
                                        return Err(Error::invalid(allow_field(i, s), why));
                                    }
                                    out.push(s.to_owned());
                                }
                                p.allow = out;
                            }
                            "denyLinkLocalAndMetadata" => {
                                p.deny_link_local_and_metadata =
                                    as_bool(nv, "network.denyLinkLocalAndMetadata")?
                            }
                            "denyPrivate" => p.deny_private = as_bool(nv, "network.denyPrivate")?,
                            _ => {
                                return Err(Error::invalid(
                                    format!("network.{nk}"),
                                    "is not a known option",
                                ))
                            }
                        }
                    }
                }
                "privilege" => {
                    for (pk, pv) in as_object(v, "privilege")? {
                        match pk.as_str() {
                            "mode" => {
                                p.privilege = match as_str(pv, "privilege.mode")? {
                                    "inherit" => PrivMode::Inherit,
                                    "drop-to-uid" => PrivMode::DropToUid,
                                    _ => {
                                        return Err(Error::invalid(
                                            "privilege.mode",
                                            "must be \"inherit\" or \"drop-to-uid\"",
                                        ))
                                    }
                                }
                            }
                            "uid" => {
                                p.uid = if pv.is_null() {
                                    None
                                } else {
                                    Some(id(pv, "privilege.uid")?)
                                }
                            }
                            "gid" => {
                                p.gid = if pv.is_null() {
                                    None
                                } else {
                                    Some(id(pv, "privilege.gid")?)
                                }
                            }
                            _ => {
                                return Err(Error::invalid(
                                    format!("privilege.{pk}"),
                                    "is not a known option",
                                ))
                            }
                        }
                    }
                }
                _ => return Err(Error::invalid(key.clone(), "is not a known sandbox option")),
            }
        }
        Ok(p)
    }
}

fn as_object<'a>(v: &'a Value, field: &str) -> Result<&'a Map<String, Value>, Error> {
    v.as_object()
        .ok_or_else(|| Error::invalid(field, "must be an object"))
}

fn as_bool(v: &Value, field: &str) -> Result<bool, Error> {
    v.as_bool()
        .ok_or_else(|| Error::invalid(field, "must be a boolean"))
}

fn as_str<'a>(v: &'a Value, field: &str) -> Result<&'a str, Error> {
    v.as_str()
        .ok_or_else(|| Error::invalid(field, "must be a string"))
}

fn positive_int(v: &Value, field: &str) -> Result<u64, Error> {
    match v.as_f64() {
        Some(f)
            if f.is_finite() && f >= 1.0 && f.fract() == 0.0 && f <= 9.007_199_254_740_991e15 =>
        {
            Ok(f as u64)
        }
        _ => Err(Error::invalid(field, "must be a positive integer")),
    }
}

fn id(v: &Value, field: &str) -> Result<u32, Error> {
    match v.as_f64() {
        Some(f) if f.is_finite() && f >= 1.0 && f.fract() == 0.0 && f < 4_294_967_295.0 => {
            Ok(f as u32)
        }
        _ => Err(Error::invalid(
            field,
            "must be an integer from 1 to 4294967294 (never root)",
        )),
    }
}

/// `network.allow[i] ("entry")`, the entry JSON-quoted and cut at 80
/// characters.
fn allow_field(i: usize, entry: &str) -> String {
    let shown: String = if entry.chars().count() > 80 {
        entry.chars().take(80).chain(std::iter::once('…')).collect()
    } else {
        entry.to_owned()
    };
    format!("network.allow[{i}] ({})", Value::from(shown))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_allow_entries_and_deny_private() {
        let p = profile("standard")
            .unwrap()
            .merged(&json!({ "network": { "mode": "allowlist", "denyPrivate": true,
                "allow": ["api.example.com", "*.example.org:443", "10.0.0.0/8", "[2001:db8::1]:8443"] } }))
            .unwrap();
        assert!(p.deny_private);
        assert_eq!(p.allow.len(), 4);
        assert_eq!(p.to_json()["network"]["denyPrivate"], json!(true));
        let e = profile("standard")
            .unwrap()
            .merged(&json!({ "network": { "allow": ["ok.example", "*."] } }))
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("network.allow[1]") && e.contains("\"*.\""),
            "{e}"
        );
        assert!(profile("standard")
            .unwrap()
            .merged(&json!({ "network": { "denyPrivate": "yes" } }))
            .is_err());
    }

    #[test]
    fn profiles_have_the_documented_values() {
        let s = profile("standard").unwrap();
        assert!(s.enabled);
        assert_eq!(s.resources.memory_bytes, Some(512 * MIB));
        assert_eq!(s.network, NetMode::Unrestricted);
        let st = profile("strict").unwrap();
        assert_eq!(st.network, NetMode::Deny);
        assert_eq!(st.on_unavailable, OnUnavailable::Fail);
        assert!(!profile("off").unwrap().enabled);
        assert!(profile("nope").is_none());
    }

    #[test]
    fn merge_is_deep_and_validated() {
        let base = profile("standard").unwrap();
        let p = base
            .merged(&json!({ "resources": { "cpuSeconds": 5 }, "network": { "mode": "deny" } }))
            .unwrap();
        assert_eq!(p.resources.cpu_seconds, Some(5));
        assert_eq!(p.resources.memory_bytes, base.resources.memory_bytes);
        assert_eq!(p.network, NetMode::Deny);
        for (bad, field) in [
            (
                json!({ "resources": { "cpuSeconds": -1 } }),
                "resources.cpuSeconds",
            ),
            (json!({ "resources": { "bogus": 1 } }), "resources.bogus"),
            (json!({ "nope": 1 }), "nope"),
            (
                json!({ "network": { "allow": ["ok.example", "10.0.0.0/33"] } }),
                "network.allow[1] (\"10.0.0.0/33\")",
            ),
            (json!({ "network": { "allow": [1] } }), "network.allow[0]"),
            (json!({ "network": { "allow": "x" } }), "network.allow"),
            (
                json!({ "network": { "denyPrivate": "yes" } }),
                "network.denyPrivate",
            ),
            (json!({ "privilege": { "uid": 0 } }), "privilege.uid"),
            (
                json!({ "filesystem": { "mode": "all" } }),
                "filesystem.mode",
            ),
        ] {
            match base.merged(&bad) {
                Err(Error::InvalidInput { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{bad} gave {other:?}"),
            }
        }
    }

    #[test]
    fn allow_entries_are_validated_by_the_rules_parser() {
        let base = profile("standard").unwrap();
        let allow = json!([
            "public.test",
            "*.allowed.test:443",
            "10.0.0.0/8:5432",
            "[2001:db8::1]:443",
            "203.0.113.10"
        ]);
        let p = base
            .merged(
                &json!({ "network": { "mode": "allowlist", "allow": allow, "denyPrivate": true } }),
            )
            .unwrap();
        assert_eq!(p.to_json()["network"]["allow"], allow);
        assert_eq!(p.to_json()["network"]["denyPrivate"], json!(true));
        let r = p.net_rules().unwrap();
        assert_eq!(r.mode(), rules::Mode::Allowlist);
        assert_eq!(r.entries().len(), 5);
        assert!(r.deny_private() && r.deny_link_local_and_metadata());
        assert!(!base.deny_private);
        let e = base
            .merged(&json!({ "network": { "allow": ["a.test", "b.test", "10.0.0.0/33"] } }))
            .unwrap_err()
            .to_string();
        assert_eq!(
            e,
            "network.allow[2] (\"10.0.0.0/33\"): prefix longer than 32"
        );
        let e = base
            .merged(&json!({ "network": { "allow": ["x\"y".repeat(50)] } }))
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("network.allow[0] (\"x\\\"yx"), "{e}");
        assert!(e.contains("…\"): "), "{e}");
    }

    #[test]
    fn json_round_trip() {
        for name in PROFILES {
            let p = profile(name).unwrap();
            assert_eq!(
                profile("off").unwrap().merged(&p.to_json()).unwrap(),
                p,
                "{name}"
            );
        }
    }
}
