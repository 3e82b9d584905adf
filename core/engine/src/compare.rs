//! `emoflow compare OUT_A OUT_B [...]`: the graph parameters that differ
//! between runs and every metric side by side with its difference from the
//! first run, as text and as a page (like `dvc exp diff`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use emoflow_sdk::Result;

use crate::report::{self, esc, value_text};

/// Runs side by side.
pub struct Comparison {
    /// The run directories, first the one the others are compared with.
    pub runs: Vec<PathBuf>,
    /// Each graph parameter whose value differs, with its value per run
    /// (`None`: the run has no such parameter).
    pub params: Vec<(String, Vec<Option<serde_json::Value>>)>,
    pub metrics: Vec<MetricRow>,
}

/// One metric across the runs.
pub struct MetricRow {
    /// `node name dim split`, then its labels (`trial=...`).
    pub label: String,
    pub values: Vec<Option<f64>>,
}

impl MetricRow {
    /// Each later run's difference from the first (`None` where either lacks it).
    pub fn deltas(&self) -> Vec<Option<f64>> {
        self.values
            .iter()
            .skip(1)
            .map(|v| Some(v.as_ref()? - self.values[0]?))
            .collect()
    }

    /// Whether any run's value differs from the first's, or is missing in some.
    pub fn changed(&self) -> bool {
        self.values.iter().any(|v| v.is_none()) || self.deltas().iter().flatten().any(|d| *d != 0.0)
    }
}

/// Reads each run's run.json; errors name the file.
pub fn compare(runs: &[PathBuf]) -> Result<Comparison> {
    let views = runs
        .iter()
        .map(|r| report::load(r))
        .collect::<Result<Vec<_>>>()?;
    let names: BTreeSet<&String> = views.iter().flat_map(|v| v.params.keys()).collect();
    let params = names
        .into_iter()
        .map(|name| {
            (
                name.clone(),
                views
                    .iter()
                    .map(|v| v.params.get(name).cloned())
                    .collect::<Vec<_>>(),
            )
        })
        .filter(|(_, values)| values.iter().any(|v| v != &values[0]))
        .collect();
    let mut metrics: BTreeMap<String, Vec<Option<f64>>> = BTreeMap::new();
    for (k, view) in views.iter().enumerate() {
        for m in &view.metrics {
            let mut add = |node: &str, with_trial: bool| {
                let labels: Vec<String> = m
                    .labels
                    .iter()
                    .filter(|(key, _)| with_trial || key.as_str() != TRIAL)
                    .map(|(key, v)| format!("{key}={}", value_text(v)))
                    .collect();
                let label = format!(
                    "{node} {} {} {} {}",
                    m.name,
                    m.dim,
                    m.split,
                    labels.join(" ")
                );
                metrics
                    .entry(label.trim_end().to_string())
                    .or_insert_with(|| vec![None; views.len()])[k] = Some(m.value);
            };
            add(&m.node, true);
            if let Some(rule) = selected_by(view, m) {
                add(&format!("{rule} (selected)"), false);
            }
        }
    }
    Ok(Comparison {
        runs: runs.to_vec(),
        params,
        metrics: metrics
            .into_iter()
            .map(|(label, values)| MetricRow { label, values })
            .collect(),
    })
}

/// The label of the trial a metric belongs to.
const TRIAL: &str = "trial";

/// The select rule whose selected trial produced metric `m` for its
/// dimension, if one did. A node copy's `trial` label is the part of the
/// trial's assignment it depends on (`l2=0.0,layers=1` of
/// `l2=0.0,layers=1,alpha=4.0`), and its name the rule's node with it.
/// Runs with different sweeps are compared through these rows: the
/// selected results, whatever trial gave them.
fn selected_by<'v>(view: &'v report::RunView, m: &report::MetricView) -> Option<&'v str> {
    let (base, _) = m.node.split_once('[')?;
    let (rule, groups) = view.sweep.as_ref()?.selected.get_key_value(base)?;
    let chosen = groups.get(&m.dim).or_else(|| groups.get("all"))?;
    let label = m.labels.get(TRIAL)?.as_str()?;
    let assignment: BTreeSet<&str> = chosen.split(',').collect();
    label
        .split(',')
        .all(|pair| assignment.contains(pair))
        .then_some(rule.as_str())
}

fn number(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.4}"))
}

fn delta(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:+.4}"))
}

fn param(v: &Option<serde_json::Value>) -> String {
    v.as_ref().map_or("-".into(), value_text)
}

impl Comparison {
    fn rows(&self, changed_only: bool) -> impl Iterator<Item = &MetricRow> {
        self.metrics
            .iter()
            .filter(move |m| !changed_only || m.changed())
    }

    /// The comparison as aligned text columns.
    pub fn text(&self, changed_only: bool) -> String {
        let runs: Vec<String> = self.runs.iter().map(|r| r.display().to_string()).collect();
        let row = |first: &str, rest: &mut dyn Iterator<Item = String>| -> Vec<String> {
            std::iter::once(first.to_string()).chain(rest).collect()
        };
        let params = if self.params.is_empty() {
            "(no graph parameter differs)\n".to_string()
        } else {
            let mut table = vec![row("parameter", &mut runs.iter().cloned())];
            table.extend(
                self.params
                    .iter()
                    .map(|(name, values)| row(name, &mut values.iter().map(param))),
            );
            aligned(&table)
        };
        let deltas = runs.iter().skip(1).map(|r| format!("Δ {r}"));
        let mut table = vec![row("metric", &mut runs.iter().cloned().chain(deltas))];
        for m in self.rows(changed_only) {
            let mut cells = m
                .values
                .iter()
                .map(|v| number(*v))
                .chain(m.deltas().into_iter().map(delta));
            table.push(row(&m.label, &mut cells));
        }
        format!("{params}\n{}", aligned(&table))
    }

    /// The comparison as a self-contained page (sortable metric table).
    pub fn html(&self, changed_only: bool) -> String {
        let head: String = self
            .runs
            .iter()
            .map(|r| format!("<th>{}</th>", esc(&r.display().to_string())))
            .collect();
        let delta_head: String = self
            .runs
            .iter()
            .skip(1)
            .map(|r| format!("<th>Δ {}</th>", esc(&r.display().to_string())))
            .collect();
        let mut body = format!(
            "<h1>Runs compared</h1><h2>Parameters that differ</h2><table id=\"params\"><thead><tr><th>parameter</th>{head}</tr></thead><tbody>"
        );
        for (name, values) in &self.params {
            let cells: String = values
                .iter()
                .map(|v| format!("<td>{}</td>", esc(&param(v))))
                .collect();
            let _ = write!(body, "<tr><td>{}</td>{cells}</tr>", esc(name));
        }
        let _ = write!(
            body,
            "</tbody></table><h2>Metrics</h2><table class=\"sortable\" id=\"metrics\"><thead><tr><th>metric</th>{head}{delta_head}</tr></thead><tbody>"
        );
        for m in self.rows(changed_only) {
            let values: String = m
                .values
                .iter()
                .map(|v| format!("<td class=\"n\">{}</td>", number(*v)))
                .collect();
            let deltas: String = m
                .deltas()
                .into_iter()
                .map(|d| {
                    let class = match d {
                        Some(d) if d > 0.0 => " up",
                        Some(d) if d < 0.0 => " down",
                        _ => "",
                    };
                    format!("<td class=\"n{class}\">{}</td>", delta(d))
                })
                .collect();
            let class = if m.changed() {
                " class=\"changed\""
            } else {
                ""
            };
            let _ = write!(
                body,
                "<tr{class}><td>{}</td>{values}{deltas}</tr>",
                esc(&m.label)
            );
        }
        body += "</tbody></table>";
        report::page("emoflow compare", &body)
    }
}

/// Rows as left-aligned columns, two spaces apart.
fn aligned(table: &[Vec<String>]) -> String {
    let mut widths = Vec::new();
    for row in table {
        widths.resize(widths.len().max(row.len()), 0);
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut text = String::new();
    for row in table {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        text += cells.join("  ").trim_end();
        text.push('\n');
    }
    text
}

/// Where `compare` writes its page unless told: beside the first run's page.
pub fn default_html(first: &Path) -> PathBuf {
    first.join("compare.html")
}
