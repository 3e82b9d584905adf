//! Finding libtorch for the plugins that link it (`model`, `loss`) when their
//! own runpath does not: a release bundle, or a build copied to another
//! machine. A built tree finds it by itself (the plugins' runpath is
//! relative to them, see nodes/loss/build.rs); elsewhere the host looks, in
//! order, at
//!
//! 1. `EMOFLOW_LIBTORCH`: libtorch's `lib` directory, or the `torch` Python
//!    package directory holding it;
//! 2. the `torch` package of `EMOFLOW_PYTHON` (an interpreter), else of
//!    `python3` on the PATH;
//!
//! and loads its libraries globally before the plugins, so that the
//! plugins' dependencies on `libtorch_cpu.so` and friends resolve to them
//! (the loader matches a needed library by name against those loaded).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The libtorch version tch 0.24.0 binds; another may fail to load or run.
pub const EXPECTED_VERSION: &str = "2.11.0";

/// A libtorch installation.
#[derive(Debug, Clone)]
pub struct Libtorch {
    /// Its `lib` directory.
    pub lib: PathBuf,
    /// How it was found (the variable or interpreter).
    pub found_by: String,
    /// `torch.__version__`, read from the package's `version.py`.
    pub version: Option<String>,
}

impl Libtorch {
    /// The installation whose `lib` directory is `lib`; its version from
    /// the `torch` package's `version.py` beside it, when there is one.
    pub fn at(lib: PathBuf, found_by: &str) -> Libtorch {
        let version = lib
            .parent()
            .and_then(|torch| std::fs::read_to_string(torch.join("version.py")).ok())
            .and_then(|text| {
                let line = text.lines().find(|l| l.starts_with("__version__"))?;
                Some(line.split(['\'', '"']).nth(1)?.to_string())
            });
        Libtorch {
            lib,
            found_by: found_by.to_string(),
            version,
        }
    }

    /// Whether it is the version the plugins were built for (a local
    /// suffix like `+cu130` aside).
    pub fn matches(&self) -> bool {
        self.version
            .as_deref()
            .is_some_and(|v| v.split('+').next() == Some(EXPECTED_VERSION))
    }
}

/// Whether a plugin's load error says libtorch was not found.
pub fn is_missing(error: &str) -> bool {
    ["libtorch", "libc10"].iter().any(|lib| error.contains(lib))
        && error.contains("cannot open shared object file")
}

/// Looks for libtorch as the module documentation says.
pub fn locate() -> Result<Libtorch, String> {
    if let Some(dir) = std::env::var_os("EMOFLOW_LIBTORCH") {
        let dir = PathBuf::from(dir);
        return from_dir(&dir, "EMOFLOW_LIBTORCH").ok_or_else(|| {
            format!(
                "EMOFLOW_LIBTORCH={} holds no libtorch_cpu.so (give torch's `lib` directory)",
                dir.display()
            )
        });
    }
    let (python, found_by) = match std::env::var("EMOFLOW_PYTHON") {
        Ok(python) => (python.clone(), format!("EMOFLOW_PYTHON={python}")),
        Err(_) => ("python3".to_string(), "python3 on the PATH".to_string()),
    };
    let output = Command::new(&python)
        .args([
            "-c",
            "import os, torch; print(os.path.dirname(torch.__file__))",
        ])
        .output()
        .map_err(|e| format!("no EMOFLOW_LIBTORCH, and {found_by} cannot run: {e}"))?;
    if !output.status.success() {
        return Err(format!(
            "no EMOFLOW_LIBTORCH, and {found_by} has no torch: `pip install torch=={EXPECTED_VERSION}` there, \
             or set EMOFLOW_PYTHON to an interpreter that has it"
        ));
    }
    let package = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    from_dir(&package, &found_by).ok_or_else(|| {
        format!(
            "{found_by}: torch at {} has no lib/libtorch_cpu.so",
            package.display()
        )
    })
}

/// `dir` as libtorch's `lib` directory or the `torch` package holding it.
fn from_dir(dir: &Path, found_by: &str) -> Option<Libtorch> {
    let lib = [dir.join("lib"), dir.to_path_buf()]
        .into_iter()
        .find(|d| d.join("libtorch_cpu.so").exists())?;
    Some(Libtorch::at(lib, found_by))
}

/// Loads libtorch's libraries for the whole process (never unloaded).
pub fn preload(libtorch: &Libtorch) -> Result<(), String> {
    use libloading::os::unix::{Library, RTLD_GLOBAL, RTLD_NOW};
    // libtorch_cuda.so first where present: it pulls in the CUDA runtime
    // and libtorch_cpu.so; libtorch.so is what torch-sys links.
    for name in ["libtorch_cuda.so", "libtorch_cpu.so", "libtorch.so"] {
        let path = libtorch.lib.join(name);
        if !path.exists() {
            continue;
        }
        // SAFETY: loading runs libtorch's initialisers, the same that run
        // when a plugin loads it as a dependency; the user chose it.
        let library =
            unsafe { Library::open(Some(&path), RTLD_NOW | RTLD_GLOBAL) }.map_err(|e| {
                format!(
                    "cannot load {}: {}",
                    path.display(),
                    std::error::Error::source(&e).map_or(e.to_string(), |s| s.to_string())
                )
            })?;
        // Plugins that link it are never unloaded either.
        std::mem::forget(library);
    }
    Ok(())
}
