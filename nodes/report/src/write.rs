//! `io.write`: a node's output to files users hand on.
//!
//! * `arrow`: the batches as one Arrow IPC file (pandas, polars, DuckDB read it);
//! * `csv`: a `series` (labels or predictions) as one CSV per recording,
//!   `time,<dim>,<dim>...`, the layout `source.csv` reads;
//! * `arff`: a `series` as one ARFF per recording and dimension in the AVEC
//!   2016 gold-standard layout (`DIM/RECORDING.arff`: `Instance_name`,
//!   `frameTime`, `GoldStandard`), so the official scorers read predictions.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use arrow::ipc::writer::FileWriter;
use emoflow_sdk::conventions::{check_schema, port};
use emoflow_sdk::files::write_atomic;
use emoflow_sdk::prelude::*;

#[derive(serde::Deserialize, schemars::JsonSchema, Clone, Copy, PartialEq)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    Arrow,
    Csv,
    Arff,
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// `arrow`, `csv` (a series) or `arff` (a series, AVEC layout).
    pub format: Format,
    /// File or directory name (default: the node's name).
    #[serde(default)]
    pub name: String,
}

struct Write(Params);

fn arff(utt: &str, dim: &str, row: &SeriesRow) -> String {
    let mut out = format!(
        "@relation PREDICTION_{}\n\n@attribute Instance_name string\n@attribute frameTime numeric\n@attribute GoldStandard numeric\n\n@data\n\n",
        dim.to_uppercase()
    );
    for (t, v) in row.values.iter().enumerate() {
        let _ = writeln!(out, "{utt},{},{v}", fmt_time(t as f64 * row.frame_period));
    }
    out
}

/// Times as the release writes them: `0`, `0.04`, `1.2`.
fn fmt_time(t: f64) -> String {
    let s = format!("{:.6}", t);
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn csv(rows: &[&SeriesRow]) -> Result<String> {
    let frames = rows.iter().map(|r| r.values.len()).max().unwrap_or(0);
    if let Some(r) = rows.iter().find(|r| r.values.len() != frames) {
        return Err(Error::data(format!(
            "recording `{}`: dimension `{}` has {} frames, another has {frames}; CSV needs one time axis",
            r.utt_id,
            r.dim,
            r.values.len()
        )));
    }
    let period = rows.first().map_or(0.04, |r| r.frame_period);
    let mut out = format!(
        "time,{}\n",
        rows.iter()
            .map(|r| r.dim.as_str())
            .collect::<Vec<_>>()
            .join(",")
    );
    for t in 0..frames {
        let values: Vec<String> = rows.iter().map(|r| r.values[t].to_string()).collect();
        let _ = writeln!(out, "{},{}", fmt_time(t as f64 * period), values.join(","));
    }
    Ok(out)
}

impl Node for Write {
    fn run(&mut self, ctx: &Context, mut inputs: Inputs) -> Result<Outputs> {
        let batches = inputs.batches("data")?;
        let stem = if self.0.name.is_empty() {
            ctx.node_name().to_string()
        } else {
            self.0.name.clone()
        };
        let dir = ctx.artifact_dir();
        let mut files = Vec::new();
        if self.0.format == Format::Arrow {
            let path = dir.join(format!("{stem}.arrow"));
            let schema = batches
                .first()
                .map(|b| b.schema())
                .ok_or_else(|| Error::data("nothing to write: the input is empty"))?;
            let mut bytes = Vec::new();
            let mut writer = FileWriter::try_new(&mut bytes, &schema)?;
            for b in &batches {
                writer.write(b)?;
            }
            writer.finish()?;
            drop(writer);
            write_atomic(&path, &bytes)?;
            files.push(FileRow {
                path: path.display().to_string(),
                format: "arrow".into(),
            });
            return Ok(Outputs::new().with_batch("files", FileRow::write(&files)?));
        }
        if let Some(b) = batches.first() {
            check_schema(port::SERIES, &b.schema()).map_err(|e| {
                Error::invalid(format!(
                    "csv and arff write a `series` (labels or predictions): {e}"
                ))
            })?;
        }
        let rows = SeriesRow::read_all(&batches)?;
        let mut by_utt: BTreeMap<&str, Vec<&SeriesRow>> = BTreeMap::new();
        for r in &rows {
            by_utt.entry(&r.utt_id).or_default().push(r);
        }
        for (i, (utt, dims)) in by_utt.iter().enumerate() {
            ctx.check_cancelled()?;
            match self.0.format {
                Format::Csv => {
                    let path = dir.join(&stem).join(format!("{utt}.csv"));
                    write_atomic(&path, csv(dims)?.as_bytes())?;
                    files.push(FileRow {
                        path: path.display().to_string(),
                        format: "csv".into(),
                    });
                }
                Format::Arff => {
                    for r in dims {
                        let path = dir.join(&stem).join(&r.dim).join(format!("{utt}.arff"));
                        write_atomic(&path, arff(utt, &r.dim, r).as_bytes())?;
                        files.push(FileRow {
                            path: path.display().to_string(),
                            format: "arff".into(),
                        });
                    }
                }
                Format::Arrow => unreachable!("handled above"),
            }
            ctx.progress(i as u64 + 1, by_utt.len() as u64, utt);
        }
        Ok(Outputs::new().with_batch("files", FileRow::write(&files)?))
    }
}

pub fn spec() -> KindSpec {
    KindSpec::new("io.write", file!())
        .doc("Writes its input as Arrow IPC, or a series as per-recording CSV or AVEC-style ARFF files.")
        .input("data", port::ANY, "what to write (csv and arff need a series)")
        .output("files", port::FILES, "the files written")
        .not_cacheable()
        // `emoflow export` writes a bundle's predictions as CSV and ARFF.
        .bundle_output("csv", "data", serde_json::json!({"format": "csv", "name": "predictions"}))
        .bundle_output("arff", "data", serde_json::json!({"format": "arff", "name": "predictions"}))
        .create(|p: Params| Ok(Write(p)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use emoflow_sdk::harness::Harness;

    fn predictions() -> Vec<SeriesRow> {
        ["arousal", "valence"]
            .iter()
            .map(|dim| SeriesRow {
                utt_id: "test_1".into(),
                split: Split::Test,
                dim: dim.to_string(),
                frame_period: 0.04,
                values: vec![0.1, -0.25, 0.5],
            })
            .collect()
    }

    #[test]
    fn arff_follows_the_gold_standard_layout() {
        let out = Harness::new(crate::emoflow_plugin(), "io.write")
            .param("format", "arff")
            .param("name", "pred")
            .rows("data", &predictions())
            .run()
            .unwrap();
        let files: Vec<FileRow> = out.rows("files").unwrap();
        assert_eq!(files.len(), 2);
        assert!(
            files[0].path.ends_with("pred/arousal/test_1.arff"),
            "{}",
            files[0].path
        );
        let text = std::fs::read_to_string(&files[0].path).unwrap();
        assert!(text.starts_with("@relation PREDICTION_AROUSAL\n"));
        assert!(
            text.ends_with("@data\n\ntest_1,0,0.1\ntest_1,0.04,-0.25\ntest_1,0.08,0.5\n"),
            "{text}"
        );
    }

    #[test]
    fn csv_puts_the_dimensions_side_by_side() {
        let out = Harness::new(crate::emoflow_plugin(), "io.write")
            .param("format", "csv")
            .rows("data", &predictions())
            .run()
            .unwrap();
        let files: Vec<FileRow> = out.rows("files").unwrap();
        let text = std::fs::read_to_string(&files[0].path).unwrap();
        assert_eq!(
            text,
            "time,arousal,valence\n0,0.1,0.1\n0.04,-0.25,-0.25\n0.08,0.5,0.5\n"
        );
    }

    #[test]
    fn csv_of_something_that_is_not_a_series_is_refused() {
        let metrics = vec![MetricRow::new("ccc", "arousal", "dev", 0.5)];
        let err = Harness::new(crate::emoflow_plugin(), "io.write")
            .param("format", "csv")
            .rows("data", &metrics)
            .run()
            .unwrap_err();
        assert!(
            err.message.contains("need a `series`") || err.message.contains("write a `series`"),
            "{err}"
        );
    }
}
