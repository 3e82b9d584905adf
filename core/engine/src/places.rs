//! The directories a command writes to, checked before anything runs: a
//! mistyped `--out` or `--cache` is an error naming the flag and the path,
//! not a failure after hours of compute. `--out` must be a directory this
//! process can write; the cache a directory, which may be read-only (it
//! then serves its entries and builds nothing).

use std::path::Path;

use crate::error::{Error, Result};

/// `--out`: created if missing, then written to once as a probe.
pub fn check_out(path: &Path, flag: &str) -> Result<()> {
    check_directory(path, flag)?;
    let probe = path.join(format!(".emoflow-probe-{}", std::process::id()));
    std::fs::File::create_new(&probe).map_err(|e| {
        Error::Usage(format!(
            "{flag} {}: not writable: {e}; name a directory you can write",
            path.display()
        ))
    })?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// The cache: created if missing; an existing one may be read-only.
pub fn check_cache(path: &Path, flag: &str) -> Result<()> {
    check_directory(path, flag)
}

fn check_directory(path: &Path, flag: &str) -> Result<()> {
    if path.exists() && !path.is_dir() {
        return Err(Error::Usage(format!(
            "{flag} {}: a file, not a directory; name a directory (it is created when missing)",
            path.display()
        )));
    }
    std::fs::create_dir_all(path).map_err(|e| {
        Error::Usage(format!(
            "{flag} {}: cannot create this directory: {e}; name a directory you can write",
            path.display()
        ))
    })
}
