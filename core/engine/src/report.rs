//! The run's page, `OUT/index.html`: one self-contained file (inline SVG,
//! CSS and a little script; nothing fetched) drawn from `OUT/run.json` and
//! the outputs it points to, so that `emoflow report OUT` redraws exactly
//! the page the run wrote.
//!
//! What it draws comes from run.json and declarations, never from kind
//! names: training curves are the `table` outputs a kind declared with
//! `KindSpec::shows(shows::CURVES)` (run.json's `shows`).

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use arrow::array::{Array, AsArray};
use arrow::datatypes::{DataType, Float64Type};
use arrow::record_batch::RecordBatch;
use serde::Deserialize;

use emoflow_sdk::conventions::shows;
use emoflow_sdk::{Error, Result};

use crate::cache::{self, Entry};

/// The parts of run.json the page and `emoflow compare` read. Fields absent
/// from an older run.json default to empty.
#[derive(Debug, Deserialize)]
pub struct RunView {
    #[serde(default)]
    pub graph: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub status: String,
    #[serde(default)]
    pub seconds: f64,
    #[serde(default)]
    pub params: BTreeMap<String, serde_json::Value>,
    #[serde(default)]
    pub nodes: BTreeMap<String, NodeView>,
    #[serde(default)]
    pub metrics: Vec<MetricView>,
    #[serde(default)]
    pub files: Vec<FileView>,
    #[serde(default)]
    pub sweep: Option<SweepView>,
}

#[derive(Debug, Deserialize)]
pub struct NodeView {
    pub kind: String,
    pub status: String,
    #[serde(default)]
    pub started: f64,
    #[serde(default)]
    pub seconds: f64,
    #[serde(default)]
    pub threads: u32,
    #[serde(default)]
    pub cache_key: String,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub outputs: Option<PathBuf>,
    #[serde(default)]
    pub worker: Option<WorkerView>,
    #[serde(default)]
    pub inputs: Vec<String>,
    #[serde(default)]
    pub shows: BTreeMap<String, String>,
}

#[derive(Debug, Deserialize)]
pub struct WorkerView {
    pub cpu_seconds: f64,
    pub peak_rss_bytes: u64,
}

#[derive(Debug, Deserialize)]
pub struct MetricView {
    pub node: String,
    pub name: String,
    pub dim: String,
    pub split: String,
    pub value: f64,
    /// Every other field: the metric's labels (`system`, `trial`, ...).
    #[serde(flatten)]
    pub labels: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Deserialize)]
pub struct FileView {
    pub node: String,
    pub path: String,
    pub format: String,
}

#[derive(Debug, Deserialize)]
pub struct SweepView {
    pub trials: Vec<TrialView>,
    /// Rule (its node) → group → the selected trial's id.
    #[serde(default)]
    pub selected: BTreeMap<String, BTreeMap<String, String>>,
}

#[derive(Debug, Deserialize)]
pub struct TrialView {
    pub id: String,
    pub params: BTreeMap<String, serde_json::Value>,
    /// Rule → group → the selection metric's value.
    #[serde(default)]
    pub values: BTreeMap<String, BTreeMap<String, f64>>,
}

/// Reads `OUT/run.json`; errors name the file.
pub fn load(out: &Path) -> Result<RunView> {
    let path = out.join("run.json");
    let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| Error::data(format!("{}: not an emoflow run.json: {e}", path.display())))
}

/// Draws `OUT/index.html` from `OUT/run.json`, atomically.
pub fn write(out: &Path) -> Result<PathBuf> {
    let run = load(out)?;
    let path = out.join("index.html");
    cache::write_atomic(&path, render(&run, out).as_bytes())?;
    Ok(path)
}

/// The page of one run.
pub fn render(run: &RunView, out: &Path) -> String {
    let mut body = String::new();
    let _ = write!(
        body,
        "<h1>{} <span class=\"st {}\">{}</span></h1><p class=\"sub\">{} · {:.1} s · {} nodes</p>",
        esc(&run.name),
        esc(&run.status),
        esc(&run.status),
        esc(&run.graph),
        run.seconds,
        run.nodes.len()
    );
    body += "<nav><a href=\"#graph\">graph</a> <a href=\"#nodes\">nodes</a> <a href=\"#sweep\">sweep</a> \
             <a href=\"#curves\">curves</a> <a href=\"#reports\">reports</a> <a href=\"#files\">files</a></nav>";
    body += &graph_section(run);
    body += &node_table(run, out);
    if let Some(sweep) = &run.sweep {
        body += &sweep_table(sweep);
    }
    body += &curves_section(run);
    body += &reports_section(run, out);
    page(&format!("{} · emoflow", run.name), &body)
}

/// A complete page around `body`: the shared style and the sorting script.
pub(crate) fn page(title: &str, body: &str) -> String {
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{STYLE}</style></head>\n\
         <body>{body}<script>{SORT_SCRIPT}</script></body></html>\n",
        esc(title)
    )
}

const STYLE: &str = "body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}h2{margin-top:1.6em;border-bottom:1px solid #ccc}\
.sub{color:#666}nav a{margin-right:1em}table{border-collapse:collapse;margin:.5em 0}\
td,th{border:1px solid #ddd;padding:2px 6px;text-align:left;vertical-align:top}th{background:#f4f4f4}\
table.sortable th{cursor:pointer}td.n{text-align:right;font-variant-numeric:tabular-nums}\
pre{white-space:pre-wrap;margin:0;max-width:60em}.scroll{overflow:auto;max-width:100%}\
.st{padding:0 .4em;border-radius:3px;color:#fff}.ran,.ok{background:#2e7d32;fill:#2e7d32}.cached{background:#1565c0;fill:#1565c0}\
.frozen{background:#6a1b9a;fill:#6a1b9a}.failed{background:#c62828;fill:#c62828}.skipped{background:#9e9e9e;fill:#9e9e9e}\
.cancelled{background:#ef6c00;fill:#ef6c00}tr.changed td:first-child{font-weight:600}\
tr.sel td,td.sel{background:#fff3c4;font-weight:600}tr:target td{outline:2px solid #1565c0}\
.charts{display:flex;flex-wrap:wrap;gap:.5em}.up{color:#2e7d32}.down{color:#c62828}img{max-width:100%}";

/// Click a header of a `sortable` table to sort by it (numbers as numbers).
const SORT_SCRIPT: &str = "document.querySelectorAll('table.sortable th').forEach(function(th){th.addEventListener('click',function(){\
var t=th.closest('table'),b=t.tBodies[0],i=Array.prototype.indexOf.call(th.parentNode.children,th),d=th.dataset.dir==='a'?'d':'a';\
th.dataset.dir=d;var v=function(r){var c=r.children[i],s=c?(c.dataset.v!==undefined?c.dataset.v:c.textContent):'',x=parseFloat(s);return isNaN(x)?s:x};\
Array.from(b.rows).sort(function(p,q){var a=v(p),c=v(q),r=(typeof a==='number'&&typeof c==='number')?a-c:String(a).localeCompare(String(c));return d==='a'?r:-r})\
.forEach(function(r){b.appendChild(r)})})});";

/// HTML-escapes text for element content and quoted attributes.
pub(crate) fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A node's anchor on the page.
fn anchor(node: &str) -> String {
    format!("node-{}", esc(node))
}

/// The nodes (by their inputs) in layers: a node's layer is its longest
/// path from a source; inside a layer nodes follow their inputs' mean
/// position.
fn layer_rows(inputs: &[Vec<usize>]) -> Vec<Vec<usize>> {
    let mut layer = vec![0usize; inputs.len()];
    // Longest path by relaxation: at most one pass per node for a DAG.
    for _ in 0..inputs.len() {
        let mut changed = false;
        for (i, ins) in inputs.iter().enumerate() {
            let l = ins.iter().map(|&j| layer[j] + 1).max().unwrap_or(0);
            if l > layer[i] {
                layer[i] = l;
                changed = true;
            }
        }
        if !changed {
            break;
        }
    }
    let layers = layer.iter().max().map_or(0, |m| m + 1);
    let mut position = vec![0f64; inputs.len()];
    let mut rows: Vec<Vec<usize>> = vec![Vec::new(); layers];
    for (l, row) in rows.iter_mut().enumerate() {
        let mut members: Vec<(f64, usize)> = (0..inputs.len())
            .filter(|&i| layer[i] == l)
            .map(|i| {
                let mean = inputs[i].iter().map(|&j| position[j]).sum::<f64>()
                    / inputs[i].len().max(1) as f64;
                (mean, i)
            })
            .collect();
        members.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
        for (k, &(_, i)) in members.iter().enumerate() {
            position[i] = k as f64;
        }
        *row = members.into_iter().map(|(_, i)| i).collect();
    }
    rows
}

/// The graph as a layered drawing ([`layer_rows`]). About 90 lines: the
/// box geometry and the two drawing loops (edges, then boxes) that use it
/// read best in one place.
fn graph_section(run: &RunView) -> String {
    let names: Vec<&String> = run.nodes.keys().collect();
    let index: BTreeMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let inputs: Vec<Vec<usize>> = run
        .nodes
        .values()
        .map(|n| {
            n.inputs
                .iter()
                .filter_map(|i| index.get(i.as_str()).copied())
                .collect()
        })
        .collect();
    let rows = layer_rows(&inputs);
    // A wide layer (a sweep's copies) wraps onto several bands of at most
    // WRAP boxes, so that the drawing stays about a screen wide.
    const WRAP: usize = 8;
    let bands: Vec<&[usize]> = rows.iter().flat_map(|row| row.chunks(WRAP)).collect();
    let mut place = vec![(0usize, 0usize); names.len()];
    for (band, members) in bands.iter().enumerate() {
        for (column, &i) in members.iter().enumerate() {
            place[i] = (band, column);
        }
    }
    let (w, h, gap_x, gap_y) = (170.0, 38.0, 14.0, 50.0);
    let widest = bands.iter().map(|b| b.len()).max().unwrap_or(0) as f64;
    let width = (widest * (w + gap_x)).max(w) + gap_x;
    let height = bands.len() as f64 * (h + gap_y) + gap_y;
    let xy = |i: usize| {
        let (band, column) = place[i];
        let offset = (width - bands[band].len() as f64 * (w + gap_x)) / 2.0;
        (
            offset + column as f64 * (w + gap_x) + gap_x / 2.0,
            gap_y / 2.0 + band as f64 * (h + gap_y),
        )
    };
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" id=\"graph-svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\" font-size=\"11\">"
    );
    for (i, ins) in inputs.iter().enumerate() {
        let (x1, y1) = xy(i);
        for &j in ins {
            let (x0, y0) = xy(j);
            let (x0, y0, x1, y1) = (x0 + w / 2.0, y0 + h, x1 + w / 2.0, y1);
            let m = (y0 + y1) / 2.0;
            let _ = write!(
                svg,
                "<path d=\"M{x0:.1},{y0:.1} C{x0:.1},{m:.1} {x1:.1},{m:.1} {x1:.1},{y1:.1}\" fill=\"none\" stroke=\"#aaa\"/>"
            );
        }
    }
    for (i, (name, node)) in run.nodes.iter().enumerate() {
        let (x, y) = xy(i);
        let label: String = if name.chars().count() > 26 {
            name.chars().take(25).chain(['…']).collect()
        } else {
            name.clone()
        };
        let _ = write!(
            svg,
            "<a href=\"#{}\"><g class=\"gnode\"><title>{} ({}): {}, {:.2} s</title>\
             <rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{w}\" height=\"{h}\" rx=\"5\" class=\"{}\"/>\
             <text x=\"{:.1}\" y=\"{:.1}\" fill=\"#fff\" text-anchor=\"middle\">{}</text>\
             <text x=\"{:.1}\" y=\"{:.1}\" fill=\"#fff\" text-anchor=\"middle\">{} · {:.2} s</text></g></a>",
            anchor(name),
            esc(name),
            esc(&node.kind),
            esc(&node.status),
            node.seconds,
            esc(&node.status),
            x + w / 2.0,
            y + 15.0,
            esc(&label),
            x + w / 2.0,
            y + 30.0,
            esc(&node.status),
            node.seconds,
        );
    }
    svg += "</svg>";
    let legend: String = ["ran", "cached", "frozen", "failed", "skipped", "cancelled"]
        .iter()
        .map(|s| format!("<span class=\"st {s}\">{s}</span> "))
        .collect();
    format!(
        "<h2 id=\"graph\">Graph</h2><p>{legend}· click a node for its row</p><div class=\"scroll\">{svg}</div>"
    )
}

/// Where a written file is linked from the page: relative to OUT when
/// inside it, so the directory can move.
fn link(out: &Path, path: &str) -> String {
    let p = Path::new(path);
    let absolute_out = std::path::absolute(out).unwrap_or_else(|_| out.to_path_buf());
    let relative = p
        .strip_prefix(out)
        .or_else(|_| p.strip_prefix(&absolute_out));
    esc(&relative.map_or_else(|_| path.to_string(), |r| r.display().to_string()))
}

fn node_table(run: &RunView, out: &Path) -> String {
    let mut files: BTreeMap<&str, Vec<&FileView>> = BTreeMap::new();
    for f in &run.files {
        files.entry(f.node.as_str()).or_default().push(f);
    }
    let mut html = String::from(
        "<h2 id=\"nodes\">Nodes</h2><table class=\"sortable\" id=\"node-table\"><thead><tr><th>node</th><th>kind</th>\
         <th>status</th><th>started (s)</th><th>seconds</th><th>threads</th><th>worker CPU (s)</th><th>peak memory (MiB)</th>\
         <th>files written</th><th>error</th><th>cache key</th></tr></thead><tbody>",
    );
    for (name, node) in &run.nodes {
        let (cpu, rss) = node
            .worker
            .as_ref()
            .map_or((String::new(), String::new()), |w| {
                (
                    format!("{:.2}", w.cpu_seconds),
                    format!("{:.0}", w.peak_rss_bytes as f64 / 1048576.0),
                )
            });
        let written: String = files.get(name.as_str()).map_or(String::new(), |fs| {
            fs.iter()
                .map(|f| {
                    format!(
                        "<a href=\"{}\">{}</a>",
                        link(out, &f.path),
                        esc(file_name(&f.path))
                    )
                })
                .collect::<Vec<_>>()
                .join("<br>")
        });
        // A sink's many files fold away behind their count.
        let written = match files.get(name.as_str()).map_or(0, Vec::len) {
            0 => written,
            n => format!("<details><summary>{n} files</summary>{written}</details>"),
        };
        let _ = write!(
            html,
            "<tr id=\"{}\"><td>{}</td><td>{}</td><td><span class=\"st {}\">{}</span></td><td class=\"n\">{:.2}</td>\
             <td class=\"n\">{:.3}</td><td class=\"n\">{}</td><td class=\"n\">{cpu}</td><td class=\"n\">{rss}</td>\
             <td>{written}</td><td><pre>{}</pre></td><td><code>{}</code></td></tr>",
            anchor(name),
            esc(name),
            esc(&node.kind),
            esc(&node.status),
            esc(&node.status),
            node.started,
            node.seconds,
            node.threads,
            esc(node.error.as_deref().unwrap_or("")),
            esc(&node.cache_key),
        );
    }
    html + "</tbody></table>"
}

fn file_name(path: &str) -> &str {
    Path::new(path)
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or(path)
}

/// A JSON value as a cell's text (strings without quotes).
pub(crate) fn value_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => s.clone(),
        v => v.to_string(),
    }
}

/// Every trial, its parameters and each rule's value per group; the trial a
/// rule selected for a group is marked in that column (★, class `sel`).
fn sweep_table(sweep: &SweepView) -> String {
    let params: BTreeSet<&String> = sweep.trials.iter().flat_map(|t| t.params.keys()).collect();
    let columns: BTreeSet<(&String, &String)> = sweep
        .trials
        .iter()
        .flat_map(|t| {
            t.values
                .iter()
                .flat_map(|(rule, groups)| groups.keys().map(move |g| (rule, g)))
        })
        .collect();
    let mut html = format!(
        "<h2 id=\"sweep\">Sweep</h2><p>{} trials; ★ marks the trial each rule selected per group. Click a header to sort.</p>\
         <div class=\"scroll\"><table class=\"sortable\" id=\"trials\"><thead><tr><th>trial</th>",
        sweep.trials.len()
    );
    for p in &params {
        let _ = write!(html, "<th>{}</th>", esc(p));
    }
    for (rule, group) in &columns {
        let _ = write!(html, "<th>{} ({})</th>", esc(rule), esc(group));
    }
    html += "</tr></thead><tbody>";
    for trial in &sweep.trials {
        let _ = write!(html, "<tr class=\"trial\"><td>{}</td>", esc(&trial.id));
        for p in &params {
            let _ = write!(
                html,
                "<td>{}</td>",
                trial
                    .params
                    .get(*p)
                    .map_or(String::new(), |v| esc(&value_text(v)))
            );
        }
        for (rule, group) in &columns {
            let value = trial.values.get(*rule).and_then(|g| g.get(*group));
            let selected = sweep.selected.get(*rule).and_then(|g| g.get(*group)) == Some(&trial.id);
            let text = value.map_or(String::new(), |v| format!("{v:.4}"));
            let data = value.map_or(String::new(), |v| format!(" data-v=\"{v}\""));
            if selected {
                let _ = write!(
                    html,
                    "<td class=\"n sel\"{data} title=\"selected by {}\">★ {text}</td>",
                    esc(rule)
                );
            } else {
                let _ = write!(html, "<td class=\"n\"{data}>{text}</td>");
            }
        }
        html += "</tr>";
    }
    html + "</tbody></table></div>"
}

/// A chart's lines: seed → (epoch, value) points.
type Lines = BTreeMap<String, Vec<(f64, f64)>>;

/// One curve table's numbers: x = `epoch`, lines keyed by (`dim`, `seed`).
struct Curves {
    /// Column name → (dim → seed → (epoch, value) points).
    columns: BTreeMap<String, BTreeMap<String, Lines>>,
    /// The columns in the table's order (the charts' order).
    order: Vec<String>,
}

/// Columns a curve table carries that are not curves of their own.
const NOT_CURVES: [&str; 4] = ["epoch", "dim", "seed", "seconds"];

fn read_curves(batches: &[RecordBatch]) -> Result<Curves> {
    let mut columns: BTreeMap<String, BTreeMap<String, Lines>> = BTreeMap::new();
    let mut order = Vec::new();
    for batch in batches {
        let numbers = |name: &str| -> Option<Vec<f64>> {
            let column = batch.column_by_name(name)?;
            let cast = arrow::compute::cast(column, &DataType::Float64).ok()?;
            let array = cast.as_primitive::<Float64Type>();
            Some(
                (0..array.len())
                    .map(|i| {
                        if array.is_null(i) {
                            f64::NAN
                        } else {
                            array.value(i)
                        }
                    })
                    .collect(),
            )
        };
        let text = |name: &str| -> Vec<String> {
            let cast = batch
                .column_by_name(name)
                .and_then(|c| arrow::compute::cast(c, &DataType::Utf8).ok());
            let array = cast.as_ref().map(|c| c.as_string::<i32>());
            (0..batch.num_rows())
                .map(|i| {
                    array
                        .filter(|a| !a.is_null(i))
                        .map_or(String::new(), |a| a.value(i).to_string())
                })
                .collect()
        };
        let epochs = numbers("epoch")
            .ok_or_else(|| Error::data("a curve table without an `epoch` column"))?;
        let (dims, seeds) = (text("dim"), text("seed"));
        for field in batch.schema().fields() {
            if NOT_CURVES.contains(&field.name().as_str()) || !field.data_type().is_numeric() {
                continue;
            }
            let values = numbers(field.name()).expect("numeric columns cast to f64");
            if !order.contains(field.name()) {
                order.push(field.name().clone());
            }
            let by_dim = columns.entry(field.name().clone()).or_default();
            for row in 0..batch.num_rows() {
                by_dim
                    .entry(dims[row].clone())
                    .or_default()
                    .entry(seeds[row].clone())
                    .or_default()
                    .push((epochs[row], values[row]));
            }
        }
    }
    Ok(Curves { columns, order })
}

const PALETTE: [&str; 8] = [
    "#1565c0", "#c62828", "#2e7d32", "#6a1b9a", "#ef6c00", "#00838f", "#ad1457", "#5d4037",
];

/// A line chart: one polyline per series in its colour (an index into
/// PALETTE), a ring at each series' marked point.
fn line_chart(
    title: &str,
    series: &Lines,
    colour: &BTreeMap<&String, usize>,
    marks: &BTreeMap<&String, (f64, f64)>,
) -> String {
    let colour = |name: &String| PALETTE[colour.get(name).copied().unwrap_or(0) % PALETTE.len()];
    let (w, h, left, bottom, top, right) = (300.0, 170.0, 48.0, 22.0, 18.0, 8.0);
    let points = series
        .values()
        .flatten()
        .filter(|(x, y)| x.is_finite() && y.is_finite());
    let (mut x0, mut x1, mut y0, mut y1) = (
        f64::INFINITY,
        f64::NEG_INFINITY,
        f64::INFINITY,
        f64::NEG_INFINITY,
    );
    for &(x, y) in points {
        (x0, x1, y0, y1) = (x0.min(x), x1.max(x), y0.min(y), y1.max(y));
    }
    if !x0.is_finite() {
        return format!("<p>{}: no finite values</p>", esc(title));
    }
    if x1 == x0 {
        x1 = x0 + 1.0;
    }
    if y1 == y0 {
        y1 = y0 + 1.0;
    }
    let sx = |x: f64| left + (x - x0) / (x1 - x0) * (w - left - right);
    let sy = |y: f64| top + (y1 - y) / (y1 - y0) * (h - top - bottom);
    let mut svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" class=\"curve\" width=\"{w}\" height=\"{h}\" viewBox=\"0 0 {w} {h}\" font-size=\"10\">\
         <text x=\"{left}\" y=\"12\" font-weight=\"600\">{}</text>\
         <rect x=\"{left}\" y=\"{top}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#ccc\"/>\
         <text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>\
         <text x=\"{left}\" y=\"{}\">{}</text><text x=\"{}\" y=\"{}\" text-anchor=\"end\">epoch {}</text>",
        esc(title),
        w - left - right,
        h - top - bottom,
        left - 3.0,
        top + 8.0,
        short(y1),
        left - 3.0,
        h - bottom,
        short(y0),
        h - 6.0,
        short(x0),
        w - right,
        h - 6.0,
        short(x1),
    );
    for (name, points) in series {
        let path: Vec<String> = points
            .iter()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
            .map(|&(x, y)| format!("{:.1},{:.1}", sx(x), sy(y)))
            .collect();
        let _ = write!(
            svg,
            "<polyline fill=\"none\" stroke=\"{}\" stroke-width=\"1.5\" points=\"{}\"><title>seed {}</title></polyline>",
            colour(name),
            path.join(" "),
            esc(name)
        );
    }
    for (name, &(x, y)) in marks {
        let _ = write!(
            svg,
            "<circle class=\"best\" cx=\"{:.1}\" cy=\"{:.1}\" r=\"4\" fill=\"none\" stroke=\"{}\" stroke-width=\"2\"><title>best dev-CCC epoch {x}: {y:.4}</title></circle>",
            sx(x),
            sy(y),
            colour(name)
        );
    }
    svg + "</svg>"
}

/// A number short enough for an axis label.
fn short(v: f64) -> String {
    if v.fract() == 0.0 && v.abs() < 1e4 {
        format!("{v:.0}")
    } else if v != 0.0 && (v.abs() < 1e-2 || v.abs() >= 1e4) {
        format!("{v:.1e}")
    } else {
        format!("{v:.3}")
    }
}

/// The best epoch of each line by the `dev_ccc` column, when there is one:
/// where early stopping kept the model.
fn best_epochs(curves: &Curves, dim: &str) -> BTreeMap<String, (f64, f64)> {
    let Some(seeds) = curves.columns.get("dev_ccc").and_then(|d| d.get(dim)) else {
        return BTreeMap::new();
    };
    seeds
        .iter()
        .filter_map(|(seed, points)| {
            let best = points
                .iter()
                .filter(|p| p.1.is_finite())
                .max_by(|a, b| a.1.total_cmp(&b.1))?;
            Some((seed.clone(), *best))
        })
        .collect()
}

/// Training curves: every `table` output declared `shows = "curves"`.
fn curves_section(run: &RunView) -> String {
    let mut html = String::from("<h2 id=\"curves\">Training curves</h2>");
    let mut any = false;
    for (name, node) in &run.nodes {
        for (output, _) in node
            .shows
            .iter()
            .filter(|(_, view)| view.as_str() == shows::CURVES)
        {
            any = true;
            let _ = write!(
                html,
                "<h3 class=\"model\" id=\"curves-{}\">{} · {}</h3>",
                esc(name),
                esc(name),
                esc(output)
            );
            let curves = node
                .outputs
                .as_ref()
                .ok_or_else(|| Error::data(format!("no outputs (the node {})", node.status)))
                .and_then(|dir| Entry::read(dir))
                .and_then(|entry| {
                    Ok(entry
                        .open(output)?
                        .collect::<std::result::Result<Vec<_>, _>>()?)
                })
                .and_then(|batches| read_curves(&batches));
            match curves {
                Err(e) => {
                    let _ = write!(html, "<p>no curves: {}</p>", esc(&e.to_string()));
                }
                Ok(curves) => html += &curve_charts(&curves),
            }
        }
    }
    if !any {
        html += "<p>No node declared a curve output.</p>";
    }
    html
}

/// One row of charts per dimension, one chart per column.
fn curve_charts(curves: &Curves) -> String {
    let dims: BTreeSet<&String> = curves.columns.values().flat_map(|d| d.keys()).collect();
    // A seed keeps its colour across charts and in the legend.
    let seeds: BTreeSet<&String> = curves
        .columns
        .values()
        .flat_map(|d| d.values())
        .flat_map(|s| s.keys())
        .collect();
    let colour: BTreeMap<&String, usize> = seeds.iter().enumerate().map(|(k, s)| (*s, k)).collect();
    let mut html = String::new();
    for dim in dims {
        let best = best_epochs(curves, dim);
        html += "<div class=\"charts\">";
        for column in &curves.order {
            let Some(series) = curves.columns[column].get(dim) else {
                continue;
            };
            let marks: BTreeMap<&String, (f64, f64)> = series
                .iter()
                .filter_map(|(seed, points)| {
                    let (epoch, _) = best.get(seed)?;
                    let y = points.iter().find(|p| p.0 == *epoch)?.1;
                    Some((seed, (*epoch, y)))
                })
                .collect();
            let title = if dim.is_empty() {
                column.clone()
            } else {
                format!("{dim}: {column}")
            };
            html += &line_chart(&title, series, &colour, &marks);
        }
        html += "</div>";
    }
    if !curves.columns.is_empty() {
        let legend: Vec<String> = colour
            .iter()
            .map(|(seed, k)| {
                format!(
                    "<span style=\"color:{}\">━ seed {}</span>",
                    PALETTE[k % PALETTE.len()],
                    esc(seed)
                )
            })
            .collect();
        let _ = write!(
            html,
            "<p class=\"sub\">{}; ○ marks each seed's best dev-CCC epoch.</p>",
            legend.join(" ")
        );
    }
    html
}

/// Files larger than this are linked, not inlined (the page stays small).
const INLINE_LIMIT: u64 = 2 << 20;

/// The reports the graph wrote: Markdown tables as tables, figures inline;
/// then a link to every written file.
fn reports_section(run: &RunView, out: &Path) -> String {
    let mut html = String::from("<h2 id=\"reports\">Reports</h2>");
    for f in &run.files {
        let small = std::fs::metadata(&f.path).is_ok_and(|m| m.len() <= INLINE_LIMIT);
        let shown = match f.format.as_str() {
            "md" if small => std::fs::read_to_string(&f.path)
                .ok()
                .map(|text| markdown(&text)),
            "png" | "svg" if small => std::fs::read(&f.path).ok().map(|bytes| {
                let mime = if f.format == "png" {
                    "image/png"
                } else {
                    "image/svg+xml"
                };
                format!(
                    "<img alt=\"{}\" src=\"data:{mime};base64,{}\">",
                    esc(file_name(&f.path)),
                    base64(&bytes)
                )
            }),
            _ => None,
        };
        if let Some(shown) = shown {
            let _ = write!(
                html,
                "<h3><a href=\"{}\">{}</a> <span class=\"sub\">({})</span></h3>{shown}",
                link(out, &f.path),
                esc(&f.path),
                esc(&f.node)
            );
        }
    }
    html += "<h2 id=\"files\">Files written</h2><table class=\"sortable\"><thead><tr><th>node</th><th>format</th><th>file</th></tr></thead><tbody>";
    for f in &run.files {
        let _ = write!(
            html,
            "<tr><td><a href=\"#{}\">{}</a></td><td>{}</td><td><a href=\"{}\">{}</a></td></tr>",
            anchor(&f.node),
            esc(&f.node),
            esc(&f.format),
            link(out, &f.path),
            esc(&f.path)
        );
    }
    html + "</tbody></table>"
}

/// The Markdown a report node writes: pipe tables become tables, headings
/// headings, other lines paragraphs (all text escaped).
fn markdown(text: &str) -> String {
    let mut html = String::new();
    let mut table: Vec<Vec<String>> = Vec::new();
    let flush = |table: &mut Vec<Vec<String>>, html: &mut String| {
        if table.is_empty() {
            return;
        }
        // The second row of a pipe table is the `|---|` separator.
        let body = table
            .iter()
            .skip(1)
            .filter(|r| !r.iter().all(|c| c.chars().all(|ch| "-: ".contains(ch))));
        *html += "<table class=\"md\"><thead><tr>";
        for c in &table[0] {
            let _ = write!(html, "<th>{}</th>", esc(c));
        }
        *html += "</tr></thead><tbody>";
        for row in body {
            *html += "<tr>";
            for c in row {
                let numeric = c.parse::<f64>().is_ok();
                let _ = write!(
                    html,
                    "<td{}>{}</td>",
                    if numeric { " class=\"n\"" } else { "" },
                    esc(c)
                );
            }
            *html += "</tr>";
        }
        *html += "</tbody></table>";
        table.clear();
    };
    for line in text.lines().map(str::trim) {
        if let Some(cells) = line.strip_prefix('|') {
            table.push(
                cells
                    .trim_end_matches('|')
                    .split('|')
                    .map(|c| c.trim().to_string())
                    .collect(),
            );
            continue;
        }
        flush(&mut table, &mut html);
        if line.is_empty() {
            continue;
        }
        let level = line.chars().take_while(|&c| c == '#').count();
        if (1..=6).contains(&level) {
            let _ = write!(
                html,
                "<h{0}>{1}</h{0}>",
                (level + 2).min(6),
                esc(line[level..].trim())
            );
        } else {
            let _ = write!(html, "<p>{}</p>", esc(line));
        }
    }
    flush(&mut table, &mut html);
    html
}

/// Standard base64 (RFC 4648, padded), for inline `data:` figures.
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for k in 0..4 {
            if k <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * k) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_rfc4648_vectors() {
        for (plain, encoded) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(plain.as_bytes()), encoded);
        }
    }

    #[test]
    fn markdown_tables_become_html_tables_with_text_escaped() {
        let html = markdown("# T\n\n| a | b |\n|---|---|\n| <x> | 0.5 |\n");
        assert_eq!(
            html,
            "<h3>T</h3><table class=\"md\"><thead><tr><th>a</th><th>b</th></tr></thead><tbody><tr><td>&lt;x&gt;</td><td class=\"n\">0.5</td></tr></tbody></table>"
        );
    }
}
