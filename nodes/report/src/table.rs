//! `report.table`: metrics pivoted into a table, written as Markdown and CSV
//! (the paper's Table 1 and Table 2).
//!
//! Rows are the distinct values of the `rows` keys, columns those of the
//! `columns` keys, in order of first appearance; a key is a metric column
//! (`name`, `dim`, `split`) or label (`system`, `task`, ...).

use emoflow_sdk::files::write_atomic;
use emoflow_sdk::prelude::*;

#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Heading of the table.
    #[serde(default)]
    pub title: String,
    /// Keys whose values label the rows.
    #[serde(default = "default_rows")]
    pub rows: Vec<String>,
    /// Keys whose values label the columns.
    #[serde(default = "default_columns")]
    pub columns: Vec<String>,
    /// Digits after the decimal point.
    #[serde(default = "three")]
    #[schemars(range(max = 12))]
    pub digits: u32,
    /// File name stem (default: the node's name).
    #[serde(default)]
    pub name: String,
}

fn default_rows() -> Vec<String> {
    vec!["task".into()]
}
fn default_columns() -> Vec<String> {
    vec!["dim".into(), "name".into()]
}
fn three() -> u32 {
    3
}

fn key_of(m: &MetricRow, key: &str) -> String {
    match key {
        "name" => m.name.clone(),
        "dim" => m.dim.clone(),
        "split" => m.split.clone(),
        other => m.get_label(other).unwrap_or("").to_string(),
    }
}

/// A pivoted table: row labels, column labels, and cells.
pub struct Pivot {
    pub row_keys: Vec<String>,
    pub rows: Vec<Vec<String>>,
    pub columns: Vec<Vec<String>>,
    pub cells: Vec<Vec<Option<f64>>>,
}

pub fn pivot(metrics: &[MetricRow], rows: &[String], columns: &[String]) -> Pivot {
    let label =
        |m: &MetricRow, keys: &[String]| keys.iter().map(|k| key_of(m, k)).collect::<Vec<_>>();
    let mut row_labels: Vec<Vec<String>> = Vec::new();
    let mut col_labels: Vec<Vec<String>> = Vec::new();
    for m in metrics {
        let (r, c) = (label(m, rows), label(m, columns));
        if !row_labels.contains(&r) {
            row_labels.push(r);
        }
        if !col_labels.contains(&c) {
            col_labels.push(c);
        }
    }
    let mut cells = vec![vec![None; col_labels.len()]; row_labels.len()];
    for m in metrics {
        let r = row_labels
            .iter()
            .position(|x| *x == label(m, rows))
            .unwrap();
        let c = col_labels
            .iter()
            .position(|x| *x == label(m, columns))
            .unwrap();
        cells[r][c] = Some(m.value);
    }
    Pivot {
        row_keys: rows.to_vec(),
        rows: row_labels,
        columns: col_labels,
        cells,
    }
}

impl Pivot {
    fn cell(&self, v: Option<f64>, digits: usize) -> String {
        v.map_or_else(|| "–".into(), |v| format!("{v:.digits$}"))
    }

    pub fn markdown(&self, title: &str, digits: usize) -> String {
        let mut out = String::new();
        if !title.is_empty() {
            out += &format!("### {title}\n\n");
        }
        let head: Vec<String> = self.columns.iter().map(|c| c.join(" ")).collect();
        out += &format!("| {} | {} |\n", self.row_keys.join(" "), head.join(" | "));
        out += &format!("|{}|\n", vec!["---"; head.len() + 1].join("|"));
        for (label, cells) in self.rows.iter().zip(&self.cells) {
            let values: Vec<String> = cells.iter().map(|v| self.cell(*v, digits)).collect();
            out += &format!("| {} | {} |\n", label.join(" "), values.join(" | "));
        }
        out
    }

    pub fn csv(&self, digits: usize) -> String {
        let quote = |s: &str| {
            if s.contains([',', '"', '\n']) {
                format!("\"{}\"", s.replace('"', "\"\""))
            } else {
                s.to_string()
            }
        };
        let head: Vec<String> = self.columns.iter().map(|c| quote(&c.join("_"))).collect();
        let mut out = format!("{},{}\n", quote(&self.row_keys.join("_")), head.join(","));
        for (label, cells) in self.rows.iter().zip(&self.cells) {
            let values: Vec<String> = cells
                .iter()
                .map(|v| v.map_or(String::new(), |v| format!("{v:.digits$}")))
                .collect();
            out += &format!("{},{}\n", quote(&label.join(" ")), values.join(","));
        }
        out
    }
}

struct Table(Params);

impl Node for Table {
    fn run(&mut self, ctx: &Context, mut inputs: Inputs) -> Result<Outputs> {
        let metrics = MetricRow::read_all(&inputs.batches("metrics")?)?;
        if metrics.is_empty() {
            return Err(Error::data(
                "no metrics to tabulate: the `metrics` input is empty",
            ));
        }
        let p = &self.0;
        let table = pivot(&metrics, &p.rows, &p.columns);
        let stem = if p.name.is_empty() {
            ctx.node_name().to_string()
        } else {
            p.name.clone()
        };
        let dir = ctx.artifact_dir();
        let (md, csv) = (
            dir.join(format!("{stem}.md")),
            dir.join(format!("{stem}.csv")),
        );
        write_atomic(&md, table.markdown(&p.title, p.digits as usize).as_bytes())?;
        write_atomic(&csv, table.csv(p.digits as usize).as_bytes())?;
        let files = [
            FileRow {
                path: md.display().to_string(),
                format: "md".into(),
            },
            FileRow {
                path: csv.display().to_string(),
                format: "csv".into(),
            },
        ];
        Ok(Outputs::new().with_batch("files", FileRow::write(&files)?))
    }
}

pub fn spec() -> KindSpec {
    KindSpec::new("report.table", file!())
        .doc("Pivots metrics into a table (rows x columns of metric keys) and writes it as Markdown and CSV; `emoflow run` prints the Markdown.")
        .input("metrics", port::METRICS, "the values to tabulate")
        .output("files", port::FILES, "the Markdown and CSV files")
        .not_cacheable()
        .create(|p: Params| Ok(Table(p)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use emoflow_sdk::harness::Harness;

    fn table1() -> Vec<MetricRow> {
        let mut rows = Vec::new();
        for (k, a, v) in [("k4", 0.953, 0.934), ("k6", 0.978, 0.970)] {
            rows.push(MetricRow::new("ccc", "arousal", "train+dev", a).label("task", k));
            rows.push(MetricRow::new("ccc", "valence", "train+dev", v).label("task", k));
        }
        rows
    }

    #[test]
    fn pivots_tasks_into_rows_and_dimensions_into_columns() {
        let out = Harness::new(crate::emoflow_plugin(), "report.table")
            .param("title", "Table 1")
            .rows("metrics", &table1())
            .run()
            .unwrap();
        let files: Vec<FileRow> = out.rows("files").unwrap();
        let md = std::fs::read_to_string(&files[0].path).unwrap();
        assert_eq!(
            md,
            "### Table 1\n\n| task | arousal ccc | valence ccc |\n|---|---|---|\n| k4 | 0.953 | 0.934 |\n| k6 | 0.978 | 0.970 |\n"
        );
        let csv = std::fs::read_to_string(&files[1].path).unwrap();
        assert_eq!(csv.lines().next().unwrap(), "task,arousal_ccc,valence_ccc");
    }

    #[test]
    fn a_missing_cell_is_marked_not_invented() {
        let mut rows = table1();
        rows.pop();
        let t = pivot(&rows, &["task".into()], &["dim".into()]);
        assert!(t.markdown("", 2).contains("| k6 | 0.98 | – |"));
    }
}
