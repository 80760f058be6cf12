//! The launch description of one run. The types live in the helper crate
//! (`crates/helper`), which the helper executable shares; this module adds
//! the conversions into the addon's error type.

pub use scriptcage_helper::launch::{IdMaps, Isolation, Launch, MountStep, NetBroker, NulError};

use std::ffi::CString;
use std::path::Path;

/// Converts a path to a C string.
pub fn cpath(p: &Path) -> Result<CString, crate::error::Error> {
    Ok(scriptcage_helper::launch::cpath(p)?)
}

impl From<NulError> for crate::error::Error {
    fn from(e: NulError) -> Self {
        match e.env_key {
            Some(k) => crate::error::Error::invalid(format!("env.{k}"), "contains NUL"),
            None => crate::error::Error::Spawn(e.to_string()),
        }
    }
}
