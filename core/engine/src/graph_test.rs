//! `emoflow test`: every graph validated, its `[test]` preset run, its
//! `[[expect]]` assertions checked.
//!
//! ```toml
//! [[expect]]                  # a metric within bounds
//! metric = "ccc"
//! dim = "arousal"             # any other key filters on a metric column
//! split = "dev"               #   or label (node, system, task, ...)
//! min = 0.2
//! max = 1.0
//!
//! [[expect]]                  # a file the run wrote (relative to --out)
//! file = "report/table.md"
//! ```

use std::path::{Path, PathBuf};

use crate::graph::{Expect, Sv, V};
use crate::run::RunReport;

/// The graph files under each path (directories recursively, `.toml`).
pub fn collect(paths: &[PathBuf]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut entries: Vec<PathBuf> = match std::fs::read_dir(path) {
                Ok(e) => e.filter_map(|e| e.ok().map(|e| e.path())).collect(),
                Err(_) => continue,
            };
            entries.sort();
            let (dirs, rest): (Vec<_>, Vec<_>) = entries.into_iter().partition(|p| p.is_dir());
            files.extend(
                rest.into_iter()
                    .filter(|p| p.extension().is_some_and(|e| e == "toml")),
            );
            files.extend(collect(&dirs));
        } else {
            files.push(path.clone());
        }
    }
    files
}

/// Checks one expectation against a finished run; `Err` says what broke.
pub fn check(expect: &Expect, report: &RunReport, out: &Path) -> Result<String, String> {
    let field = |name: &str| {
        expect
            .fields
            .iter()
            .find(|(k, _)| k.name == name)
            .map(|(_, v)| v)
    };
    let number = |sv: &Sv| match sv.v {
        V::Int(i) => Some(i as f64),
        V::Float(f) => Some(f),
        _ => None,
    };
    if let Some(file) = field("file").and_then(Sv::as_str) {
        let path = out.join(file);
        let written = report
            .files
            .iter()
            .any(|f| Path::new(&f.path) == path || f.path.ends_with(file));
        return if path.is_file() || written {
            Ok(format!("file {file} written"))
        } else {
            Err(format!(
                "file {file} was not written under {}",
                out.display()
            ))
        };
    }
    let Some(metric) = field("metric").and_then(Sv::as_str) else {
        return Err("an [[expect]] needs `metric = \"...\"` or `file = \"...\"`".into());
    };
    let (min, max) = (field("min").and_then(number), field("max").and_then(number));
    let filters: Vec<(&str, String)> = expect
        .fields
        .iter()
        .filter(|(k, _)| !["metric", "min", "max"].contains(&k.name.as_str()))
        .map(|(k, v)| {
            (
                k.name.as_str(),
                v.as_str().map_or_else(|| v.canonical(), str::to_string),
            )
        })
        .collect();
    let matching: Vec<_> = report
        .metrics
        .iter()
        .filter(|m| m.name == metric)
        .filter(|m| {
            filters.iter().all(|(key, want)| {
                let have = match *key {
                    "node" => Some(m.node.as_str()),
                    "dim" => Some(m.dim.as_str()),
                    "split" => Some(m.split.as_str()),
                    other => m.labels.get(other).map(String::as_str),
                };
                have == Some(want.as_str())
            })
        })
        .collect();
    let what = std::iter::once(metric.to_string())
        .chain(filters.iter().map(|(k, v)| format!("{k}={v}")))
        .collect::<Vec<_>>()
        .join(" ");
    if matching.is_empty() {
        return Err(format!("no metric {what} was computed"));
    }
    for m in &matching {
        // NaN is outside every range.
        let outside = m.value.is_nan()
            || min.is_some_and(|lo| m.value < lo)
            || max.is_some_and(|hi| m.value > hi);
        if outside {
            return Err(format!(
                "{what} = {:.4} (node `{}`), expected within [{}, {}]",
                m.value,
                m.node,
                min.map_or("-inf".into(), |v| v.to_string()),
                max.map_or("inf".into(), |v| v.to_string())
            ));
        }
    }
    Ok(format!(
        "{what} = {}",
        matching
            .iter()
            .map(|m| format!("{:.4}", m.value))
            .collect::<Vec<_>>()
            .join(", ")
    ))
}
