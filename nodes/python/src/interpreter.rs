//! Starting the embedded interpreter once per process, with the packages of
//! the environment the user names.

use std::ffi::c_void;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;

use emoflow_sdk::Error;
use pyo3::prelude::*;
use pyo3::types::PyModule;

/// The SDK's directory in the source tree the plugin was built from; a
/// bundle or an installed SDK (scripts/setup-python-plugins.sh adds it to
/// the venv) is found through the environment's `sys.path` instead.
const SDK_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../python");

/// What installs the packages the plugin needs.
const SETUP_HINT: &str = "run scripts/setup-python-plugins.sh (a venv with python/requirements.txt in \
     .venv-python) and set EMOFLOW_PYTHON=.venv-python/bin/python, or `pip install -r python/requirements.txt` \
     into the environment EMOFLOW_PYTHON names";

/// Asks the user's interpreter for its version and package directories.
const PROBE: &str = "import json, site, sys; print(json.dumps({'version': list(sys.version_info[:2]), \
     'site': site.getsitepackages(), 'executable': sys.executable}))";

/// The running interpreter and the SDK's host module in it.
pub struct Interpreter {
    host: Py<PyModule>,
}

impl Interpreter {
    /// The interpreter, started on first use; why it cannot start, every
    /// time it is asked for.
    pub fn get() -> Result<&'static Interpreter, Error> {
        static ONE: OnceLock<Result<Interpreter, String>> = OnceLock::new();
        ONE.get_or_init(start)
            .as_ref()
            .map_err(|e| Error::invalid(e.clone()))
    }

    /// `emoflow_sdk._host`.
    pub fn host<'py>(&self, py: Python<'py>) -> &Bound<'py, PyModule> {
        self.host.bind(py)
    }
}

fn start() -> Result<Interpreter, String> {
    let (python, found_by) = match std::env::var("EMOFLOW_PYTHON") {
        Ok(python) => (python.clone(), format!("EMOFLOW_PYTHON={python}")),
        Err(_) => ("python3".to_string(), "python3 on the PATH".to_string()),
    };
    let output = Command::new(&python)
        .args(["-c", PROBE])
        .output()
        .map_err(|e| format!("Python kinds need a Python interpreter with pyarrow, and {found_by} cannot run ({e}): {SETUP_HINT}"))?;
    if !output.status.success() {
        return Err(format!(
            "{found_by} failed: {}",
            String::from_utf8_lossy(&output.stderr).trim()
        ));
    }
    let probe: serde_json::Value = serde_json::from_slice(&output.stdout).map_err(|e| {
        format!(
            "{found_by} answered what is not JSON ({e}): {}",
            String::from_utf8_lossy(&output.stdout)
        )
    })?;
    let version: Vec<u64> = probe["version"]
        .as_array()
        .map(|v| v.iter().filter_map(|n| n.as_u64()).collect())
        .unwrap_or_default();
    let site: Vec<String> = probe["site"]
        .as_array()
        .map(|s| {
            s.iter()
                .filter_map(|p| p.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let executable = probe["executable"].as_str().unwrap_or(&python).to_string();
    promote_libpython()?;
    Python::initialize();
    Python::attach(|py| {
        let embedded = py.version_info();
        if version != [u64::from(embedded.major), u64::from(embedded.minor)] {
            return Err(format!(
                "{found_by} ({executable}) is Python {}, but the plugin embeds Python {}.{}: set EMOFLOW_PYTHON to the \
                 python of a Python {}.{} environment ({SETUP_HINT})",
                version
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join("."),
                embedded.major,
                embedded.minor,
                embedded.major,
                embedded.minor
            ));
        }
        add_packages(py, &site).map_err(|e| format!("adding {found_by}'s packages: {e}"))?;
        let host = py.import("emoflow_sdk._host").map_err(|e| {
            let missing = e.value(py).getattr("name").ok().and_then(|n| n.extract::<String>().ok());
            match missing.as_deref() {
                Some("emoflow_sdk") => format!(
                    "the Python SDK `emoflow_sdk` is neither in {found_by}'s packages nor at {SDK_DIR}: {SETUP_HINT}"
                ),
                Some(package) => format!("Python kinds need `{package}`, which {found_by} ({executable}) lacks: {SETUP_HINT}"),
                None => format!("importing the Python SDK failed: {e}"),
            }
        })?;
        host.setattr("python", &executable)
            .map_err(|e| e.to_string())?;
        Ok(Interpreter {
            host: host.unbind(),
        })
    })
}

/// Puts the user's package directories (and what their `.pth` files add)
/// first on `sys.path`, ahead of the system's, and the SDK's source
/// directory last.
fn add_packages(py: Python<'_>, site_dirs: &[String]) -> PyResult<()> {
    let sys = py.import("sys")?;
    let site = py.import("site")?;
    let before: Vec<String> = sys.getattr("path")?.extract()?;
    for dir in site_dirs {
        site.call_method1("addsitedir", (dir,))?;
    }
    let after: Vec<String> = sys.getattr("path")?.extract()?;
    let mut path: Vec<String> = after
        .iter()
        .filter(|p| !before.contains(p))
        .cloned()
        .collect();
    path.extend(before);
    if Path::new(SDK_DIR).is_dir() {
        path.push(SDK_DIR.to_string());
    }
    sys.setattr("path", path)
}

/// Makes libpython's symbols global. The host loads this plugin with
/// `RTLD_LOCAL`, so libpython, loaded as its dependency, is local too; and
/// extension modules (NumPy's, pyarrow's) do not link libpython but expect
/// its symbols to be global, as in the `python` executable.
fn promote_libpython() -> Result<(), String> {
    // SAFETY: an all-zero `Dl_info` is a valid value (null pointers) for
    // dladdr to fill.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: dladdr only looks the address up among the loaded objects.
    let found = unsafe { libc::dladdr(pyo3::ffi::Py_IsInitialized as *const c_void, &mut info) };
    if found == 0 || info.dli_fname.is_null() {
        return Err("cannot find the libpython the Python plugin is linked with".to_string());
    }
    // SAFETY: `dli_fname` is the NUL-terminated path of an object already
    // loaded; RTLD_NOLOAD reopens it (promoting it to global) and never
    // loads anything new. The handle is kept open for the process's life.
    let handle = unsafe {
        libc::dlopen(
            info.dli_fname,
            libc::RTLD_NOW | libc::RTLD_GLOBAL | libc::RTLD_NOLOAD,
        )
    };
    if handle.is_null() {
        return Err("cannot make libpython's symbols global for extension modules".to_string());
    }
    Ok(())
}
