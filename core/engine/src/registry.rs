//! Plugin discovery: which library provides which node kind.
//!
//! Search order (the first provider of a kind wins): every `--plugin-path
//! DIR`, then each directory of `EMOFLOW_PLUGIN_PATH` (`:`-separated), then
//! the standard node libraries (`libemoflow_*`) in the directory of the
//! `emoflow` executable, where cargo builds them. Only that last directory
//! is filtered by name: it also holds libraries that are not node plugins.
//! The directories searched are also published to the plugins in
//! `EMOFLOW_PLUGIN_DIRS` ([`SEARCH_PATH_VAR`]): the Python plugin finds its
//! kinds' modules there.

use std::collections::HashMap;
use std::ffi::c_void;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use emoflow_sdk::describe::KindDescription;
use emoflow_sdk::foreign::ForeignPlugin;
use emoflow_sdk::{Error, Result};

use crate::libtorch::{self, Libtorch};

/// A provider of a kind.
#[derive(Clone)]
pub struct Provider {
    pub plugin: Arc<ForeignPlugin>,
    pub kind: KindDescription,
}

#[derive(Default)]
pub struct Registry {
    /// The `--plugin-path` directories it was discovered with (a worker
    /// process discovers the same plugins from them).
    pub plugin_paths: Vec<PathBuf>,
    pub plugins: Vec<Arc<ForeignPlugin>>,
    kinds: HashMap<String, Provider>,
    /// Order in which kinds were found (for listings).
    order: Vec<String>,
    /// Libraries that looked like plugins but failed to load, with why.
    pub problems: Vec<String>,
    /// Libraries in the plugin path without an emoflow entry point: silent,
    /// as a shared directory may hold any library, but named when a kind is
    /// missing (a plugin built without `export_plugin!` lands here).
    pub not_plugins: Vec<PathBuf>,
    /// Every plugin library loaded, with the seconds its loading took (its
    /// initialisers included: libtorch registers its operators on load).
    pub loads: Vec<(PathBuf, f64)>,
    /// Set once a plugin could not find libtorch by itself: the
    /// installation the host then found and loaded, or why none was.
    pub libtorch: Option<std::result::Result<Libtorch, String>>,
    hashes: Mutex<HashMap<PathBuf, String>>,
}

fn is_library(path: &Path) -> bool {
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    let ext = path.extension().and_then(|e| e.to_str()).unwrap_or("");
    matches!(ext, "so" | "dylib" | "dll") && (name.starts_with("lib") || ext == "dll")
}

/// The variable telling plugins that find their kinds in files (the Python
/// plugin, nodes/python) which directories the host searches: every
/// `--plugin-path` and `EMOFLOW_PLUGIN_PATH` directory, in order.
pub const SEARCH_PATH_VAR: &str = "EMOFLOW_PLUGIN_DIRS";

/// Sets [`SEARCH_PATH_VAR`] before the plugins load (their `describe` reads
/// it), unless it already holds the same directories.
fn publish_search_path<'a>(dirs: impl Iterator<Item = &'a PathBuf>) {
    let Ok(joined) = std::env::join_paths(dirs) else {
        return;
    };
    if std::env::var_os(SEARCH_PATH_VAR).as_deref() != Some(joined.as_os_str()) {
        // SAFETY: discovery runs when a command starts, before the engine
        // starts threads that read the environment; a worker process, which
        // has a thread reading its stdin, inherits the variable from its
        // parent with these same directories and does not set it again.
        unsafe { std::env::set_var(SEARCH_PATH_VAR, joined) };
    }
}

impl Registry {
    /// Discovers plugins in the search path.
    pub fn discover(plugin_paths: &[PathBuf]) -> Self {
        let mut dirs: Vec<(PathBuf, bool)> =
            plugin_paths.iter().map(|p| (p.clone(), false)).collect();
        if let Some(env) = std::env::var_os("EMOFLOW_PLUGIN_PATH") {
            dirs.extend(
                std::env::split_paths(&env)
                    .filter(|p| !p.as_os_str().is_empty())
                    .map(|p| (p, false)),
            );
        }
        publish_search_path(dirs.iter().map(|(dir, _)| dir));
        if let Some(dir) = std::env::current_exe()
            .ok()
            .and_then(|e| e.parent().map(Path::to_path_buf))
        {
            dirs.push((dir, true));
        }
        let mut registry = Registry {
            plugin_paths: plugin_paths.to_vec(),
            ..Registry::default()
        };
        let mut seen = Vec::new();
        for (dir, standard_only) in dirs {
            let canonical = dir.canonicalize().unwrap_or(dir.clone());
            if seen.contains(&canonical) {
                continue;
            }
            seen.push(canonical);
            registry.scan(&dir, standard_only);
        }
        registry
    }

    fn scan(&mut self, dir: &Path, standard_only: bool) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            self.problems
                .push(format!("plugin directory {} cannot be read", dir.display()));
            return;
        };
        let mut libs: Vec<PathBuf> = entries
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| is_library(p))
            .collect();
        if standard_only {
            libs.retain(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("libemoflow_"))
            });
        }
        libs.sort();
        for lib in libs {
            self.add_library(&lib);
        }
    }

    /// Loads one library; problems are recorded, not fatal: a directory may
    /// hold other libraries.
    pub fn add_library(&mut self, path: &Path) {
        let started = std::time::Instant::now();
        let mut loaded = ForeignPlugin::load(path);
        // A plugin whose runpath does not lead to libtorch (a bundle, a
        // copied tree): find libtorch once, load it, and try again.
        if let Err(e) = &loaded
            && libtorch::is_missing(&e.message)
            && self.libtorch.is_none()
        {
            let found = libtorch::locate().and_then(|l| libtorch::preload(&l).map(|()| l));
            let retry = found.is_ok();
            self.libtorch = Some(found);
            if retry {
                loaded = ForeignPlugin::load(path);
            }
        }
        match loaded {
            Ok(plugin) => {
                self.loads
                    .push((path.to_path_buf(), started.elapsed().as_secs_f64()));
                self.add(Arc::new(plugin));
            }
            Err(e) if e.message.contains("is not an emoflow plugin") => {
                self.not_plugins.push(path.to_path_buf())
            }
            Err(e) => {
                let hint = match &self.libtorch {
                    Some(Err(why)) if libtorch::is_missing(&e.message) => {
                        format!(" (libtorch: {why})")
                    }
                    _ => String::new(),
                };
                self.problems.push(format!("{}{hint}", e.message));
            }
        }
    }

    pub fn add(&mut self, plugin: Arc<ForeignPlugin>) {
        for kind in &plugin.description().kinds {
            if self.kinds.contains_key(&kind.kind) {
                continue;
            }
            self.order.push(kind.kind.clone());
            self.kinds.insert(
                kind.kind.clone(),
                Provider {
                    plugin: plugin.clone(),
                    kind: kind.clone(),
                },
            );
        }
        self.plugins.push(plugin);
    }

    pub fn get(&self, kind: &str) -> Option<&Provider> {
        self.kinds.get(kind)
    }

    pub fn kinds(&self) -> impl Iterator<Item = &Provider> {
        self.order.iter().map(|k| &self.kinds[k])
    }

    pub fn kind_names(&self) -> impl Iterator<Item = &str> {
        self.order.iter().map(String::as_str)
    }

    /// Routes a node's call of the tensor function `kind` to its provider.
    ///
    /// # Safety
    /// As [`ForeignPlugin::call_tensor_fn`].
    pub unsafe fn call_tensor_fn(
        &self,
        kind: &str,
        params: &str,
        inputs: &[*mut c_void],
    ) -> Result<*mut c_void> {
        let provider = self.get(kind).filter(|p| p.kind.tensor_fn).ok_or_else(|| {
            Error::invalid(format!("no plugin provides the tensor function `{kind}`"))
        })?;
        // SAFETY: guaranteed by the caller.
        unsafe { provider.plugin.call_tensor_fn(kind, params, inputs) }
    }

    /// The blake3 hash of a plugin file, memoised: part of every cache key.
    pub fn file_hash(&self, path: &Path) -> String {
        let mut hashes = self.hashes.lock().unwrap();
        hashes
            .entry(path.to_path_buf())
            .or_insert_with(|| match std::fs::read(path) {
                Ok(bytes) => blake3::hash(&bytes).to_hex().to_string(),
                // In-process plugins have no file; their origin names them.
                Err(_) => blake3::hash(path.to_string_lossy().as_bytes())
                    .to_hex()
                    .to_string(),
            })
            .clone()
    }
}
