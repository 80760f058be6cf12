//! The ESM runner: staging a run's files, running the module in a fresh
//! runtime process and reading its report.

pub mod helpers;
pub mod normalise;
pub mod result;
pub mod run;
pub mod runner_source;
pub mod typescript;
