//! The environment a script process gets: a curated subset of the host's
//! plus the run's own injection, minus variables that would let a script
//! (or whoever writes its `env`) change how the runtime itself loads.

/// Host variables passed through when set.
pub const SAFE_HOST_KEYS: &[&str] = &[
    "PATH", "HOME", "USER", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "HOSTNAME", "SHELL",
];

/// Injected keys that are always dropped.
pub const FORBIDDEN_KEYS: &[&str] = &[
    "LD_PRELOAD",
    "LD_LIBRARY_PATH",
    "LD_AUDIT",
    "DYLD_INSERT_LIBRARIES",
    "DYLD_LIBRARY_PATH",
    "NODE_OPTIONS",
    "BUN_INSTALL",
    "PATH",
];

/// True when an injected key must not reach the script.
pub fn is_forbidden(key: &str) -> bool {
    FORBIDDEN_KEYS.contains(&key) || key.starts_with("BUN_CONFIG_")
}

/// The final environment: `host` (already filtered to [`SAFE_HOST_KEYS`])
/// overlaid with `injected`, and the list of injected keys that were
/// dropped.
pub fn build(
    host: &[(String, String)],
    injected: &[(String, String)],
) -> (Vec<(String, String)>, Vec<String>) {
    let mut env: Vec<(String, String)> = host
        .iter()
        .filter(|(k, _)| SAFE_HOST_KEYS.contains(&k.as_str()))
        .cloned()
        .collect();
    let mut dropped = Vec::new();
    for (k, v) in injected {
        if is_forbidden(k) {
            dropped.push(k.clone());
            continue;
        }
        match env.iter_mut().find(|(hk, _)| hk == k) {
            Some(slot) => slot.1 = v.clone(),
            None => env.push((k.clone(), v.clone())),
        }
    }
    (env, dropped)
}

/// Where per-run directories go: the host's `TMPDIR` (as `os.tmpdir()`
/// reads it), else `/tmp`.
pub fn temp_dir(host: &[(String, String)]) -> std::path::PathBuf {
    host.iter()
        .find(|(k, v)| k == "TMPDIR" && !v.is_empty())
        .map(|(_, v)| std::path::PathBuf::from(v))
        .unwrap_or_else(|| std::path::PathBuf::from("/tmp"))
}

/// Checks one injected variable; names and values are passed to `execve`,
/// so they cannot hold NUL, and a name cannot be empty or hold `=`.
pub fn validate_entry(key: &str, value: &str) -> Result<(), crate::error::Error> {
    if key.is_empty() || key.contains('=') || key.contains('\0') {
        return Err(crate::error::Error::invalid(
            format!("env.{key}"),
            "variable names must be non-empty and contain neither '=' nor NUL",
        ));
    }
    if value.contains('\0') {
        return Err(crate::error::Error::invalid(
            format!("env.{key}"),
            "values cannot contain NUL",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kv(k: &str, v: &str) -> (String, String) {
        (k.into(), v.into())
    }

    #[test]
    fn host_is_filtered_and_injection_wins() {
        let host = vec![kv("PATH", "/bin"), kv("SECRET", "x"), kv("TZ", "UTC")];
        let (env, dropped) = build(&host, &[kv("TZ", "Europe/Paris"), kv("API", "1")]);
        assert_eq!(
            env,
            vec![kv("PATH", "/bin"), kv("TZ", "Europe/Paris"), kv("API", "1")]
        );
        assert!(dropped.is_empty());
    }

    #[test]
    fn forbidden_keys_are_dropped_and_listed() {
        let inj = vec![
            kv("LD_PRELOAD", "x"),
            kv("PATH", "/evil"),
            kv("BUN_CONFIG_REGISTRY", "r"),
            kv("OK", "1"),
        ];
        let (env, dropped) = build(&[kv("PATH", "/bin")], &inj);
        assert_eq!(env, vec![kv("PATH", "/bin"), kv("OK", "1")]);
        assert_eq!(dropped, vec!["LD_PRELOAD", "PATH", "BUN_CONFIG_REGISTRY"]);
    }

    #[test]
    fn entries_are_validated() {
        assert!(validate_entry("A", "b").is_ok());
        assert!(validate_entry("", "b").is_err());
        assert!(validate_entry("A=B", "b").is_err());
        assert!(validate_entry("A", "b\0").is_err());
    }
}
