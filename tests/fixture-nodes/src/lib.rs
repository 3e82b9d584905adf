//! Fixture nodes for the engine's end-to-end tests: a counting source, a
//! pass-through that reports buffer addresses, a sum, a trained model that
//! is not `model.blstm` (for `emoflow export`), and nodes that panic, fail,
//! break their schema or stream slowly.

#![forbid(unsafe_code)]

use std::time::Duration;

use emoflow_sdk::arrow::array::{Array, AsArray};
use emoflow_sdk::prelude::*;

#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct SourceParams {
    /// Rows (utterances) to emit, one batch each.
    #[schemars(range(min = 1, max = 100000), example = 3)]
    rows: u32,
    /// Values per row.
    #[serde(default = "ten")]
    values: u32,
    /// Pause before each batch, in milliseconds (to be killed mid-write).
    #[serde(default)]
    delay_ms: u64,
    /// Added to every value, so that parameter changes change outputs.
    #[serde(default)]
    offset: f32,
}

fn ten() -> u32 {
    10
}

struct Source(SourceParams);

impl Node for Source {
    fn run(&mut self, _ctx: &Context, _inputs: Inputs) -> Result<Outputs> {
        let p = &self.0;
        let (rows, values, delay, offset) = (p.rows, p.values, p.delay_ms, p.offset);
        let schema = SeriesRow::write(&[])?.schema();
        let batches = (0..rows).map(move |i| {
            std::thread::sleep(Duration::from_millis(delay));
            let row = SeriesRow {
                utt_id: format!("train_{i}"),
                split: Split::Train,
                dim: "arousal".into(),
                frame_period: 0.04,
                values: (0..values).map(|v| v as f32 + offset).collect(),
            };
            SeriesRow::write(&[row]).map_err(Into::into)
        });
        let reader = emoflow_sdk::arrow::record_batch::RecordBatchIterator::new(batches, schema);
        Ok(Outputs::new().with_stream("out", Box::new(reader)))
    }
}

fn source() -> KindSpec {
    KindSpec::new("test.source", file!())
        .doc("Emits `rows` series rows, optionally slowly.")
        .output("out", port::SERIES, "the rows")
        .create(|p: SourceParams| Ok(Source(p)))
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct NoParams {}

/// Passes batches through untouched, logging the address of each values
/// buffer so a test can show that nothing was copied.
struct Pass;

impl Node for Pass {
    fn run(&mut self, _ctx: &Context, mut inputs: Inputs) -> Result<Outputs> {
        let batches = inputs.batches("in")?;
        for batch in &batches {
            let values = batch
                .column_by_name("values")
                .unwrap()
                .as_list::<i32>()
                .values()
                .clone();
            let ptr = values.to_data().buffers()[0].as_ptr() as usize;
            emoflow_sdk::tracing::info!("values buffer at {ptr:#x}");
        }
        let schema = batches
            .first()
            .map(|b| b.schema())
            .unwrap_or(SeriesRow::write(&[])?.schema());
        Ok(Outputs::new().with_batches("out", schema, batches))
    }
}

fn pass() -> KindSpec {
    KindSpec::new("test.pass", file!())
        .doc("Passes a series through unchanged.")
        .input("in", port::SERIES, "any series")
        .output("out", port::SERIES, "the same batches")
        .create(|_: NoParams| Ok(Pass))
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct SumParams {
    /// Multiplies the sum (a parameter to sweep downstream of the source).
    #[serde(default = "one")]
    scale: f64,
}

fn one() -> f64 {
    1.0
}

struct Sum(SumParams);

impl Node for Sum {
    fn run(&mut self, _ctx: &Context, mut inputs: Inputs) -> Result<Outputs> {
        let rows = SeriesRow::read_all(&inputs.batches("in")?)?;
        let total: f64 = self.0.scale
            * rows
                .iter()
                .flat_map(|r| &r.values)
                .map(|&v| v as f64)
                .sum::<f64>();
        let metric = MetricRow::new("sum", "arousal", "train", total);
        Ok(Outputs::new().with_batch("metrics", MetricRow::write(&[metric])?))
    }
}

fn sum() -> KindSpec {
    KindSpec::new("test.sum", file!())
        .doc("The sum of all values, as a metric.")
        .input("in", port::SERIES, "any series")
        .output("metrics", port::METRICS, "`sum`")
        .create(|p: SumParams| Ok(Sum(p)))
}

struct Panics;

impl Node for Panics {
    fn run(&mut self, _ctx: &Context, _inputs: Inputs) -> Result<Outputs> {
        panic!("this node always panics");
    }
}

fn panics() -> KindSpec {
    KindSpec::new("test.panic", file!())
        .doc("Panics when run.")
        .input("in", port::SERIES, "ignored")
        .output("out", port::SERIES, "never produced")
        .create(|_: NoParams| Ok(Panics))
}

struct Fails;

impl Node for Fails {
    fn run(&mut self, _ctx: &Context, _inputs: Inputs) -> Result<Outputs> {
        Err(Error::data("utterance `train_3` has no frames"))
    }
}

fn fails() -> KindSpec {
    KindSpec::new("test.fail", file!())
        .doc("Returns an error when run.")
        .input("in", port::SERIES, "ignored")
        .output("out", port::SERIES, "never produced")
        .create(|_: NoParams| Ok(Fails))
}

/// Declares a `series` output but emits a `files` table.
struct BadSchema;

impl Node for BadSchema {
    fn run(&mut self, _ctx: &Context, _inputs: Inputs) -> Result<Outputs> {
        let row = FileRow {
            path: "x".into(),
            format: "csv".into(),
        };
        Ok(Outputs::new().with_batch("out", FileRow::write(&[row])?))
    }
}

fn bad_schema() -> KindSpec {
    KindSpec::new("test.bad_schema", file!())
        .doc("Breaks its declared output schema.")
        .output("out", port::SERIES, "claims to be a series")
        .create(|_: NoParams| Ok(BadSchema))
}

/// Reads an input port it does not declare (an author's mistake).
struct ReadsUndeclared;

impl Node for ReadsUndeclared {
    fn run(&mut self, _ctx: &Context, mut inputs: Inputs) -> Result<Outputs> {
        let batches = inputs.batches("labels")?;
        Ok(Outputs::new().with_batches("out", SeriesRow::write(&[])?.schema(), batches))
    }
}

fn reads_undeclared() -> KindSpec {
    KindSpec::new("test.reads_undeclared", file!())
        .doc("Reads input `labels`, which it does not declare.")
        .input("in", port::SERIES, "declared, not read")
        .output("out", port::SERIES, "never produced")
        .create(|_: NoParams| Ok(ReadsUndeclared))
}

/// Writes an output port it does not declare (an author's mistake).
struct WritesUndeclared;

impl Node for WritesUndeclared {
    fn run(&mut self, _ctx: &Context, _inputs: Inputs) -> Result<Outputs> {
        let empty = SeriesRow::write(&[])?;
        Ok(Outputs::new()
            .with_batch("out", empty.clone())
            .with_batch("extra", empty))
    }
}

fn writes_undeclared() -> KindSpec {
    KindSpec::new("test.writes_undeclared", file!())
        .doc("Writes output `extra`, which it does not declare.")
        .output("out", port::SERIES, "declared")
        .create(|_: NoParams| Ok(WritesUndeclared))
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct WindowParams {
    /// Required, with neither a default nor an example.
    window: u32,
}

/// A kind with a required parameter `plugin check` cannot guess.
fn needs_param() -> KindSpec {
    KindSpec::new("test.needs_param", file!())
        .doc("Passes its input through; `window` is required.")
        .input("in", port::SERIES, "any series")
        .output("out", port::SERIES, "the same batches")
        .create(|p: WindowParams| {
            if p.window == 0 {
                Err(Error::invalid("`window` must be at least 1"))
            } else {
                Ok(Pass)
            }
        })
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct MeanModelParams {
    /// A directory of `mean-<dim>.txt` files saved by training: predict
    /// with them instead of training.
    #[serde(default)]
    weights: Option<String>,
    /// Only this dimension.
    #[serde(default)]
    dim: Option<String>,
}

/// A model with one number per dimension: training saves the mean of the
/// train labels (`mean-<dim>.txt`); it predicts, for every feature frame,
/// that mean plus a thousandth of the frame's first feature, so that its
/// predictions depend on the recording.
struct MeanModel(MeanModelParams);

impl MeanModel {
    /// The train labels' mean per dimension, saved as artifacts.
    fn train(&self, ctx: &Context, labels: &[SeriesRow]) -> Result<Vec<(String, f64)>> {
        let mut sums: std::collections::BTreeMap<&str, (f64, usize)> = Default::default();
        for row in labels
            .iter()
            .filter(|r| r.split == Split::Train && self.0.dim.as_ref().is_none_or(|d| *d == r.dim))
        {
            let sum = sums.entry(&row.dim).or_default();
            sum.0 += row.values.iter().map(|&v| v as f64).sum::<f64>();
            sum.1 += row.values.len();
        }
        let mut means = Vec::new();
        for (dim, (sum, n)) in sums {
            let mean = sum / n.max(1) as f64;
            let path = ctx.artifact_dir().join(format!("mean-{dim}.txt"));
            std::fs::write(&path, mean.to_string()).map_err(|e| Error::io(&path, e))?;
            means.push((dim.to_string(), mean));
        }
        Ok(means)
    }

    /// The means saved in `dir` (only `dim`'s when set).
    fn saved(&self, dir: &std::path::Path) -> Result<Vec<(String, f64)>> {
        let mut means = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
            let path = entry.map_err(|e| Error::io(dir, e))?.path();
            let name = path
                .file_name()
                .and_then(|n| n.to_str())
                .unwrap_or_default();
            let Some(dim) = name
                .strip_prefix("mean-")
                .and_then(|n| n.strip_suffix(".txt"))
            else {
                continue;
            };
            if self.0.dim.as_ref().is_some_and(|d| d != dim) {
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
            let mean = text
                .trim()
                .parse()
                .map_err(|e| Error::data(format!("{}: {e}", path.display())))?;
            means.push((dim.to_string(), mean));
        }
        means.sort_by(|a, b| a.0.cmp(&b.0));
        if means.is_empty() {
            return Err(Error::data(format!(
                "{} holds no mean-*.txt",
                dir.display()
            )));
        }
        Ok(means)
    }
}

impl Node for MeanModel {
    fn run(&mut self, ctx: &Context, mut inputs: Inputs) -> Result<Outputs> {
        let features = FeatureRow::read_all(&inputs.batches("features")?)?;
        let means = match &self.0.weights {
            Some(dir) => self.saved(std::path::Path::new(dir))?,
            None => {
                let labels = inputs
                    .optional_batches("labels")?
                    .ok_or_else(|| Error::invalid("training needs `labels`"))?;
                self.train(ctx, &SeriesRow::read_all(&labels)?)?
            }
        };
        let rows: Vec<SeriesRow> = means
            .iter()
            .flat_map(|(dim, mean)| {
                features.iter().map(move |f| SeriesRow {
                    utt_id: f.utt_id.clone(),
                    split: f.split,
                    dim: dim.clone(),
                    frame_period: f.frame_period,
                    values: f
                        .frames
                        .chunks(f.dims.max(1))
                        .map(|frame| (mean + 0.001 * frame[0] as f64) as f32)
                        .collect(),
                })
            })
            .collect();
        Ok(Outputs::new().with_batch("predictions", SeriesRow::write(&rows)?))
    }
}

fn mean_model() -> KindSpec {
    KindSpec::new("test.mean_model", file!())
        .doc("Trains one mean per dimension on the train labels; with `weights`, predicts with saved means.")
        .input("features", port::FEATURES, "frames of every utterance")
        .optional_input("labels", port::SERIES, "training targets (ignored with `weights`)")
        .output("predictions", port::SERIES, "per frame: the mean plus a thousandth of the first feature")
        .export(ModelExport::new("weights", &["mean-{dim}.txt"]).dim("dim"))
        .create(|p: MeanModelParams| Ok(MeanModel(p)))
}

emoflow_sdk::export_plugin!(
    source,
    pass,
    sum,
    panics,
    fails,
    bad_schema,
    reads_undeclared,
    writes_undeclared,
    needs_param,
    mean_model
);
