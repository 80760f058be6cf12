//! The runtime that executes scripts: the host's own executable (node or
//! bun), and how to start it.

use std::ffi::OsString;
use std::path::PathBuf;

/// The host runtime.
#[derive(Debug, Clone)]
pub struct Runtime {
    /// Absolute path of the executable.
    pub exe: PathBuf,
    /// The host is Bun.
    pub is_bun: bool,
}

impl Runtime {
    /// The current process's executable; `is_bun` comes from the JavaScript
    /// layer (`process.versions.bun`).
    pub fn host(is_bun: bool) -> std::io::Result<Self> {
        let exe = std::env::current_exe()?;
        Ok(Runtime { exe, is_bun })
    }

    /// Arguments that run `module` (an absolute path).
    pub fn module_args(&self, module: &std::path::Path) -> Vec<OsString> {
        let mut args = Vec::new();
        if self.is_bun {
            // Bun would otherwise fetch missing packages from a registry.
            args.push(OsString::from("--no-install"));
        }
        args.push(module.as_os_str().to_owned());
        args
    }

    /// Writable address space the runtime reserves at start-up: Bun maps
    /// 256 MiB that count against `RLIMIT_DATA` before any script runs (it
    /// does not start under 262 MiB); Node reserves nothing that counts.
    pub fn data_headroom(&self) -> u64 {
        if self.is_bun {
            256 << 20
        } else {
            0
        }
    }

    /// Extra environment the runtime needs: an app built with
    /// `bun build --compile` is its own executable and would run itself
    /// instead of the module unless told to behave as plain `bun`.
    pub fn extra_env(&self) -> Option<(String, String)> {
        let name = self.exe.file_name().and_then(|n| n.to_str()).unwrap_or("");
        (self.is_bun && !name.starts_with("bun")).then(|| ("BUN_BE_BUN".to_owned(), "1".to_owned()))
    }
}

/// A `file://` URL for an absolute path, percent-encoding what a URL path
/// cannot hold.
pub fn file_url(path: &std::path::Path) -> String {
    use std::os::unix::ffi::OsStrExt;
    let mut out = String::from("file://");
    for &b in path.as_os_str().as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls_are_encoded() {
        assert_eq!(
            file_url(std::path::Path::new("/tmp/a b/é#?.mjs")),
            "file:///tmp/a%20b/%C3%A9%23%3F.mjs"
        );
    }

    #[test]
    fn compiled_bun_apps_get_bun_be_bun() {
        let rt = |exe: &str, is_bun| Runtime {
            exe: exe.into(),
            is_bun,
        };
        assert_eq!(rt("/x/bun", true).extra_env(), None);
        assert_eq!(rt("/x/bun.exe", true).extra_env(), None);
        assert!(rt("/x/my-app", true).extra_env().is_some());
        assert_eq!(rt("/usr/bin/node", false).extra_env(), None);
    }
}
