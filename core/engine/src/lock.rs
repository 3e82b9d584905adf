//! Plugin pinning: a lock file beside a graph records the hash of every
//! plugin the graph uses, and `run --locked` refuses a plugin that changed.
//!
//! Plugins are matched by their crate name, not their path, so that a lock
//! written on one machine checks the same build on another.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::registry::Registry;
use crate::validate::Plan;

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct LockFile {
    plugin: Vec<LockedPlugin>,
}

#[derive(Debug, Serialize, Deserialize, PartialEq)]
struct LockedPlugin {
    name: String,
    version: String,
    /// The library's file name when locked (informational).
    file: String,
    blake3: String,
    /// The kinds of the graph this plugin provides.
    kinds: Vec<String>,
}

/// `graphs/demo.toml` → `graphs/demo.lock`.
pub fn path_for(graph: &Path) -> PathBuf {
    graph.with_extension("lock")
}

/// The plugins a plan uses, as the lock records them.
fn current(plan: &Plan, registry: &Registry) -> LockFile {
    let mut by_name: BTreeMap<String, LockedPlugin> = BTreeMap::new();
    for node in &plan.nodes {
        let plugin = &node.provider.plugin;
        let description = plugin.description();
        let entry = by_name
            .entry(description.name.clone())
            .or_insert_with(|| LockedPlugin {
                name: description.name.clone(),
                version: description.version.clone(),
                file: plugin
                    .path()
                    .file_name()
                    .map(|f| f.to_string_lossy().into_owned())
                    .unwrap_or_default(),
                blake3: registry.file_hash(plugin.path()),
                kinds: Vec::new(),
            });
        let kind = &node.provider.kind.kind;
        if !entry.kinds.contains(kind) {
            entry.kinds.push(kind.clone());
        }
    }
    let mut plugin: Vec<LockedPlugin> = by_name.into_values().collect();
    plugin.iter_mut().for_each(|p| p.kinds.sort());
    LockFile { plugin }
}

/// Writes (or rewrites) the lock file of `graph`; returns its path.
pub fn write(graph: &Path, plan: &Plan, registry: &Registry) -> Result<PathBuf> {
    let path = path_for(graph);
    let body = toml::to_string_pretty(&current(plan, registry))
        .map_err(|e| Error::Failed(e.to_string()))?;
    let text = format!(
        "# Plugins of {} pinned by `emoflow lock`; `emoflow run --locked` refuses\n\
         # a plugin whose file changed. Rerun `emoflow lock` to accept a new build.\n\n{body}",
        graph
            .file_name()
            .map(|f| f.to_string_lossy())
            .unwrap_or_default()
    );
    emoflow_sdk::files::write_atomic(&path, text.as_bytes())
        .map_err(|e| Error::Failed(format!("cannot write {}: {e}", path.display())))?;
    Ok(path)
}

/// Checks the plugins `plan` uses against the lock file of `graph`; every
/// difference is reported ([`Error::Locked`]).
pub fn check(graph: &Path, plan: &Plan, registry: &Registry) -> Result<()> {
    let path = path_for(graph);
    let accept = format!("`emoflow lock {}`", graph.display());
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::Locked(vec![format!(
            "--locked: cannot read the lock file {}: {e}; write it with {accept}",
            path.display()
        )])
    })?;
    let locked: LockFile = toml::from_str(&text).map_err(|e| {
        Error::Locked(vec![format!(
            "{}: not a valid lock file: {e}",
            path.display()
        )])
    })?;
    let mut problems = Vec::new();
    for now in current(plan, registry).plugin {
        let Some(then) = locked.plugin.iter().find(|p| p.name == now.name) else {
            problems.push(format!(
                "plugin `{}` (kinds {}) is not in {}; accept it with {accept}",
                now.name,
                now.kinds.join(", "),
                path.display()
            ));
            continue;
        };
        if then.blake3 != now.blake3 {
            problems.push(format!(
                "plugin `{}` ({}) changed since {} was written: blake3 {} locked, {} now \
                 (version {} then, {} now); use the locked build or accept this one with {accept}",
                now.name,
                now.file,
                path.display(),
                short(&then.blake3),
                short(&now.blake3),
                then.version,
                now.version
            ));
        }
        for kind in now.kinds.iter().filter(|k| !then.kinds.contains(k)) {
            let locked_provider = locked.plugin.iter().find(|p| p.kinds.contains(kind));
            problems.push(match locked_provider {
                Some(p) => format!(
                    "kind `{kind}` was locked from plugin `{}`, now `{}` provides it",
                    p.name, now.name
                ),
                None => format!(
                    "kind `{kind}` is not in {}; accept it with {accept}",
                    path.display()
                ),
            });
        }
    }
    if problems.is_empty() {
        Ok(())
    } else {
        Err(Error::Locked(problems))
    }
}

fn short(hash: &str) -> &str {
    &hash[..hash.len().min(12)]
}
