//! `emoflow doctor`: what this machine can do and what to fix. Every check
//! gives a verdict, what it found and, when it fails, the fix; the run
//! exits 0 when the demo can run (every plugin loaded, libtorch of the
//! version tch binds), 1 otherwise.

use std::ffi::{CStr, c_char, c_int, c_void};
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::libtorch::{EXPECTED_VERSION, Libtorch};
use crate::registry::Registry;

/// One line of the report.
pub struct Check {
    pub name: &'static str,
    /// Whether the demo can run as far as this check goes.
    pub ok: bool,
    pub found: String,
    pub fix: Option<String>,
}

pub struct Options {
    pub cache_dir: PathBuf,
    /// Also ask Slurm (`sinfo`), for `--executor slurm`.
    pub slurm: bool,
}

pub fn checks(registry: &Registry, opts: &Options) -> Vec<Check> {
    let mut checks = vec![plugins(registry), libtorch(registry)];
    checks.push(cuda());
    checks.push(cache_space(&opts.cache_dir));
    if opts.slurm {
        checks.push(slurm());
    }
    checks
}

fn plugins(registry: &Registry) -> Check {
    let loaded: Vec<String> = registry
        .loads
        .iter()
        .map(|(p, _)| p.display().to_string())
        .collect();
    let mut found = format!(
        "{} libraries, {} kinds",
        loaded.len(),
        registry.kind_names().count()
    );
    for dir in registry
        .plugin_paths
        .iter()
        .map(|d| d.display().to_string())
        .chain(std::env::var("EMOFLOW_PLUGIN_PATH"))
    {
        found += &format!("; searched {dir}");
    }
    for problem in &registry.problems {
        found += &format!("\n      failed: {problem}");
    }
    let ok = registry.problems.is_empty();
    Check {
        name: "plugins",
        ok,
        found,
        fix: (!ok).then(|| {
            "fix what each failed library's loader says (a missing library: see libtorch below)"
                .into()
        }),
    }
}

/// The libtorch in this process: loaded by the plugins' runpath, or by the
/// host's fallback (EMOFLOW_LIBTORCH, EMOFLOW_PYTHON).
fn libtorch(registry: &Registry) -> Check {
    let install = match &registry.libtorch {
        Some(Err(why)) => {
            return Check {
                name: "libtorch",
                ok: false,
                found: format!("not found: the model and loss plugins need libtorch_cpu.so; {why}"),
                fix: Some(format!(
                    "pip install torch=={EXPECTED_VERSION} and set EMOFLOW_PYTHON to that Python, \
                     or EMOFLOW_LIBTORCH to torch's lib directory"
                )),
            };
        }
        Some(Ok(found)) => Some(found.clone()),
        None => loaded_libtorch(),
    };
    match install {
        None => Check {
            name: "libtorch",
            ok: false,
            found: "not loaded: no plugin linking it was found".into(),
            fix: Some(
                "build the workspace (./scripts/demo.sh) or add the standard plugins' directory"
                    .into(),
            ),
        },
        Some(l) => {
            let version = l
                .version
                .clone()
                .unwrap_or_else(|| "unknown version".into());
            let ok = l.matches();
            Check {
                name: "libtorch",
                ok,
                found: format!("{version} at {} ({})", l.lib.display(), l.found_by),
                fix: (!ok).then(|| format!("tch 0.24.0 binds libtorch {EXPECTED_VERSION}: pip install torch=={EXPECTED_VERSION}")),
            }
        }
    }
}

/// The file of a library mapped into this process whose name starts with
/// `prefix`, from /proc/self/maps.
fn mapped(prefix: &str) -> Option<PathBuf> {
    let maps = std::fs::read_to_string("/proc/self/maps").ok()?;
    maps.lines()
        .filter_map(|l| l.split_whitespace().nth(5))
        .find(|p| {
            Path::new(p)
                .file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with(prefix))
        })
        .map(PathBuf::from)
}

/// The libtorch mapped into this process.
fn loaded_libtorch() -> Option<Libtorch> {
    let lib = mapped("libtorch_cpu.so")?.parent()?.to_path_buf();
    Some(Libtorch::at(lib, "the plugins' runpath"))
}

/// CUDA devices as the CUDA runtime that libtorch loaded sees them.
fn cuda() -> Check {
    let not = |found: String| Check {
        name: "cuda",
        ok: true,
        found,
        fix: None,
    };
    let Some(cudart) = mapped("libcudart.so") else {
        return not(
            "no CUDA device: libtorch was loaded without CUDA (no libtorch_cuda.so), or not at all"
                .into(),
        );
    };
    // SAFETY: the CUDA runtime is already loaded (by libtorch_cuda.so);
    // this only takes a handle to it.
    let runtime = match unsafe { libloading::Library::new(&cudart) } {
        Ok(runtime) => runtime,
        Err(e) => return not(format!("no CUDA device: {}: {e}", cudart.display())),
    };
    type Count = unsafe extern "C" fn(*mut c_int) -> c_int;
    type ErrorString = unsafe extern "C" fn(c_int) -> *const c_char;
    type Properties = unsafe extern "C" fn(*mut c_void, c_int) -> c_int;
    // SAFETY: the CUDA runtime's C functions, with the signatures its
    // header gives them; looked up in the libraries libtorch loaded.
    let symbols = unsafe {
        (
            runtime.get::<Count>(b"cudaGetDeviceCount"),
            runtime.get::<ErrorString>(b"cudaGetErrorString"),
            runtime.get::<Properties>(b"cudaGetDeviceProperties_v2"),
        )
    };
    let (Ok(count), Ok(error_string), properties) = symbols else {
        return not(format!(
            "no CUDA device: {} lacks the runtime's functions",
            cudart.display()
        ));
    };
    let mut devices: c_int = 0;
    // SAFETY: a valid out-pointer.
    let status = unsafe { count(&mut devices) };
    if status != 0 {
        // SAFETY: cudaGetErrorString returns a static C string for any code.
        let why = unsafe { CStr::from_ptr(error_string(status)) }
            .to_string_lossy()
            .into_owned();
        return not(format!(
            "no CUDA device: {why} (cudaGetDeviceCount error {status}); trainings run on the CPU"
        ));
    }
    let mut found = format!("{devices} device(s)");
    for device in 0..devices {
        // cudaDeviceProp: `char name[256]` first, then a 16-byte UUID, an
        // 8-byte LUID and a 4-byte mask, then `size_t totalGlobalMem` at
        // offset 288. 4 KiB holds the whole struct of every CUDA 11-13.
        let mut props = vec![0u8; 4096];
        let read = properties.as_ref().is_ok_and(|get| {
            // SAFETY: the buffer is larger than cudaDeviceProp.
            unsafe { get(props.as_mut_ptr().cast(), device) == 0 }
        });
        if read {
            let name = CStr::from_bytes_until_nul(&props[..256])
                .map_or("?".into(), |n| n.to_string_lossy().into_owned());
            let memory = u64::from_ne_bytes(props[288..296].try_into().expect("8 bytes"));
            found += &format!(
                "; cuda:{device} {name}, {:.1} GiB",
                memory as f64 / (1u64 << 30) as f64
            );
        } else {
            found += &format!("; cuda:{device} (properties unreadable)");
        }
    }
    Check {
        name: "cuda",
        ok: true,
        found,
        fix: None,
    }
}

fn cache_space(dir: &Path) -> Check {
    // The cache may not exist yet: its nearest existing ancestor.
    let existing = dir
        .ancestors()
        .find(|d| d.exists())
        .unwrap_or(Path::new("."));
    match nix::sys::statvfs::statvfs(existing) {
        Ok(s) => {
            let free = s.blocks_available() as f64 * s.fragment_size() as f64;
            let ok = free > 1e9;
            Check {
                name: "cache",
                ok,
                found: format!(
                    "{} ({:.1} GiB free)",
                    dir.display(),
                    free / (1u64 << 30) as f64
                ),
                fix: (!ok).then(|| {
                    "free disk space, `emoflow cache gc`, or --cache on a larger disk".into()
                }),
            }
        }
        Err(e) => Check {
            name: "cache",
            ok: false,
            found: format!("{}: {e}", existing.display()),
            fix: Some("--cache DIR (or EMOFLOW_CACHE) on a writable disk".into()),
        },
    }
}

fn slurm() -> Check {
    match Command::new("sinfo")
        .args(["-h", "-o", "%P %a %D %t"])
        .output()
    {
        Ok(out) if out.status.success() => {
            let text = String::from_utf8_lossy(&out.stdout).trim().to_string();
            Check {
                name: "slurm",
                ok: true,
                found: format!("sinfo: {}", text.replace('\n', "; ")),
                fix: None,
            }
        }
        Ok(out) => Check {
            name: "slurm",
            ok: false,
            found: format!(
                "sinfo failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            fix: Some(
                "start slurmctld and slurmd (scripts/slurm-local.sh start for a local one)".into(),
            ),
        },
        Err(e) => Check {
            name: "slurm",
            ok: false,
            found: format!("sinfo cannot run: {e}"),
            fix: Some("install Slurm's client tools, or run with --executor local".into()),
        },
    }
}
