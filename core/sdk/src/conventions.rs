//! The column conventions: port types, their columns, and typed rows.
//!
//! Defined once here and checked by the host on every edge
//! ([`check_schema`], [`check_batch`]), so a node can rely on them.
//!
//! Data flows as one row per utterance (per dimension and task where those
//! apply); a batch holds one utterance or a chunk of them. Identifiers are
//! `utt_id` (the recording's name, e.g. `train_1`), `split` (`train`, `dev`
//! or `test`), `dim` (`arousal`, `valence`, ...) and `task` (a discretizer
//! task such as `k4`). Time series are lists, one element (or one
//! fixed-size vector) per frame; their frame period in seconds is stored in
//! the list field's metadata under [`FRAME_PERIOD_KEY`].
//!
//! | port type | columns |
//! |---|---|
//! | `audio` | utt_id, split, sample_rate UInt32, samples `List<Float32>` (mono, in [-1, 1]) |
//! | `features` | utt_id, split, features `List<FixedSizeList<Float32, D>>` (+ frame period) |
//! | `series` | utt_id, split, dim, values `List<Float32>` (+ frame period): labels and predictions |
//! | `classes` | utt_id, split, dim, task, num_classes UInt32, classes `List<UInt32>` |
//! | `posteriors` | utt_id, split, dim, task, num_classes UInt32, posteriors `List<Float32>` (frames x classes, row-major; + frame period) |
//! | `codebook` | dim, task, num_classes UInt32, class UInt32, mean, lower, upper, prior Float64 |
//! | `metrics` | name, dim, split, value Float64; more Utf8 columns allowed (system, task, ...) |
//! | `files` | path, format: what a sink wrote |
//! | `loss` | kind, params: a tensor function and its parameters (JSON) |
//! | `table` | anything |
//!
//! Columns beyond those listed are allowed and carried along.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, FixedSizeListArray, Float32Array, Float64Array, ListArray,
    StringArray, UInt32Array,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{DataType, Field, Float32Type, Schema, SchemaRef, UInt32Type};
use arrow::record_batch::RecordBatch;

use crate::arrow;
use crate::{Error, Result};

/// Port type names.
pub mod port {
    pub const AUDIO: &str = "audio";
    pub const FEATURES: &str = "features";
    pub const SERIES: &str = "series";
    pub const CLASSES: &str = "classes";
    pub const POSTERIORS: &str = "posteriors";
    pub const CODEBOOK: &str = "codebook";
    pub const METRICS: &str = "metrics";
    pub const FILES: &str = "files";
    pub const LOSS: &str = "loss";
    pub const TABLE: &str = "table";
    /// For inputs only: accepts every port type.
    pub const ANY: &str = "any";
}

/// How a run's report presents an output (`KindSpec::shows`).
pub mod shows {
    /// A `table` of training curves: an `epoch` column for x, one line per
    /// (`dim`, `seed`) where present, one chart per other numeric column
    /// (`seconds` aside); the best `dev_ccc` epoch is marked when there is one.
    pub const CURVES: &str = "curves";
}

/// Column names.
pub mod column {
    pub const UTT_ID: &str = "utt_id";
    pub const SPLIT: &str = "split";
    pub const DIM: &str = "dim";
    pub const TASK: &str = "task";
    pub const NUM_CLASSES: &str = "num_classes";
    pub const SAMPLE_RATE: &str = "sample_rate";
    pub const SAMPLES: &str = "samples";
    pub const FEATURES: &str = "features";
    pub const VALUES: &str = "values";
    pub const CLASSES: &str = "classes";
    pub const POSTERIORS: &str = "posteriors";
    pub const CLASS: &str = "class";
    pub const MEAN: &str = "mean";
    pub const LOWER: &str = "lower";
    pub const UPPER: &str = "upper";
    pub const PRIOR: &str = "prior";
    pub const NAME: &str = "name";
    pub const VALUE: &str = "value";
    pub const PATH: &str = "path";
    pub const FORMAT: &str = "format";
    pub const KIND: &str = "kind";
    pub const PARAMS: &str = "params";
}

/// Field metadata key holding a time series' frame period in seconds.
pub const FRAME_PERIOD_KEY: &str = "emoflow.frame_period";

/// The partitions of a corpus.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Split {
    Train,
    Dev,
    Test,
}

impl Split {
    pub const ALL: [Split; 3] = [Split::Train, Split::Dev, Split::Test];

    pub fn as_str(self) -> &'static str {
        match self {
            Split::Train => "train",
            Split::Dev => "dev",
            Split::Test => "test",
        }
    }

    pub fn parse(s: &str) -> Result<Split> {
        match s {
            "train" => Ok(Split::Train),
            "dev" => Ok(Split::Dev),
            "test" => Ok(Split::Test),
            other => Err(Error::data(format!(
                "split `{other}` is not one of `train`, `dev`, `test`"
            ))),
        }
    }
}

impl std::fmt::Display for Split {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl serde::Serialize for Split {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for Split {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Split::parse(&s).map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for Split {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "Split".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({ "type": "string", "enum": ["train", "dev", "test"] })
    }
}

/// Whether an output of type `output` may feed an input of type `input`.
pub fn accepts(input: &str, output: &str) -> bool {
    input == port::ANY || input == output
}

#[derive(Clone, Copy, PartialEq)]
enum Col {
    Utf8,
    UInt32,
    Float64,
    ListF32,
    ListU32,
    ListVectorsF32,
}

impl Col {
    fn describe(self) -> &'static str {
        match self {
            Col::Utf8 => "Utf8",
            Col::UInt32 => "UInt32",
            Col::Float64 => "Float64",
            Col::ListF32 => "List<Float32>",
            Col::ListU32 => "List<UInt32>",
            Col::ListVectorsF32 => "List<FixedSizeList<Float32, D>>",
        }
    }

    fn matches(self, t: &DataType) -> bool {
        match (self, t) {
            (Col::Utf8, DataType::Utf8) => true,
            (Col::UInt32, DataType::UInt32) => true,
            (Col::Float64, DataType::Float64) => true,
            (Col::ListF32, DataType::List(f)) => f.data_type() == &DataType::Float32,
            (Col::ListU32, DataType::List(f)) => f.data_type() == &DataType::UInt32,
            (Col::ListVectorsF32, DataType::List(f)) => matches!(
                f.data_type(),
                DataType::FixedSizeList(g, _) if g.data_type() == &DataType::Float32
            ),
            _ => false,
        }
    }
}

use column as c;

/// Required columns of each port type; the last flag says whether the
/// column carries a frame period.
fn columns(port_type: &str) -> Option<&'static [(&'static str, Col, bool)]> {
    use Col::*;
    Some(match port_type {
        port::AUDIO => {
            &[(c::UTT_ID, Utf8, false), (c::SPLIT, Utf8, false), (c::SAMPLE_RATE, UInt32, false), (c::SAMPLES, ListF32, false)]
        }
        port::FEATURES => {
            &[(c::UTT_ID, Utf8, false), (c::SPLIT, Utf8, false), (c::FEATURES, ListVectorsF32, true)]
        }
        port::SERIES => &[
            (c::UTT_ID, Utf8, false),
            (c::SPLIT, Utf8, false),
            (c::DIM, Utf8, false),
            (c::VALUES, ListF32, true),
        ],
        port::CLASSES => &[
            (c::UTT_ID, Utf8, false),
            (c::SPLIT, Utf8, false),
            (c::DIM, Utf8, false),
            (c::TASK, Utf8, false),
            (c::NUM_CLASSES, UInt32, false),
            (c::CLASSES, ListU32, false),
        ],
        port::POSTERIORS => &[
            (c::UTT_ID, Utf8, false),
            (c::SPLIT, Utf8, false),
            (c::DIM, Utf8, false),
            (c::TASK, Utf8, false),
            (c::NUM_CLASSES, UInt32, false),
            (c::POSTERIORS, ListF32, true),
        ],
        port::CODEBOOK => &[
            (c::DIM, Utf8, false),
            (c::TASK, Utf8, false),
            (c::NUM_CLASSES, UInt32, false),
            (c::CLASS, UInt32, false),
            (c::MEAN, Float64, false),
            (c::LOWER, Float64, false),
            (c::UPPER, Float64, false),
            (c::PRIOR, Float64, false),
        ],
        port::METRICS => &[
            (c::NAME, Utf8, false),
            (c::DIM, Utf8, false),
            (c::SPLIT, Utf8, false),
            (c::VALUE, Float64, false),
        ],
        port::FILES => &[(c::PATH, Utf8, false), (c::FORMAT, Utf8, false)],
        port::LOSS => &[(c::KIND, Utf8, false), (c::PARAMS, Utf8, false)],
        _ => return None,
    })
}

/// Checks a stream's schema against its port type; the message says which
/// column is missing or mistyped. Unknown port types (a plugin's own) and
/// `table` accept any schema.
pub fn check_schema(port_type: &str, schema: &Schema) -> std::result::Result<(), String> {
    let Some(cols) = columns(port_type) else { return Ok(()) };
    for &(name, col, timed) in cols {
        let field = schema.field_with_name(name).map_err(|_| {
            format!("missing column `{name}` ({}) of port type `{port_type}`", col.describe())
        })?;
        if !col.matches(field.data_type()) {
            return Err(format!(
                "column `{name}` is {}, port type `{port_type}` wants {}",
                field.data_type(),
                col.describe()
            ));
        }
        if timed {
            frame_period_of(field).map_err(|e| e.message)?;
        }
    }
    Ok(())
}

/// Checks one batch's values: no nulls in the conventional columns, splits
/// spelled as conventions say, posteriors a whole number of frames, classes
/// below their count.
pub fn check_batch(port_type: &str, batch: &RecordBatch) -> std::result::Result<(), String> {
    check_schema(port_type, batch.schema().as_ref())?;
    let Some(cols) = columns(port_type) else { return Ok(()) };
    for &(name, _, _) in cols {
        let col = batch.column_by_name(name).expect("checked by check_schema");
        if col.null_count() > 0 {
            return Err(format!("column `{name}` has {} null values", col.null_count()));
        }
    }
    if let Some(split) = batch.column_by_name(c::SPLIT).filter(|_| port_type != port::METRICS) {
        for s in split.as_string::<i32>().iter().flatten() {
            Split::parse(s).map_err(|e| e.message)?;
        }
    }
    match port_type {
        port::POSTERIORS => {
            let k = batch.column_by_name(c::NUM_CLASSES).unwrap().as_primitive::<UInt32Type>();
            let lists = batch.column_by_name(c::POSTERIORS).unwrap().as_list::<i32>();
            for i in 0..batch.num_rows() {
                let (k, len) = (k.value(i) as usize, lists.value_length(i) as usize);
                if k == 0 || len % k != 0 {
                    return Err(format!(
                        "row {i}: {len} posteriors are not a whole number of frames of {k} classes"
                    ));
                }
            }
        }
        port::CLASSES => {
            let k = batch.column_by_name(c::NUM_CLASSES).unwrap().as_primitive::<UInt32Type>();
            let lists = batch.column_by_name(c::CLASSES).unwrap().as_list::<i32>();
            for i in 0..batch.num_rows() {
                let values = lists.value(i);
                let classes = values.as_primitive::<UInt32Type>();
                if let Some(bad) = classes.values().iter().find(|&&l| l >= k.value(i)) {
                    return Err(format!(
                        "row {i}: class {bad} is not below num_classes {}",
                        k.value(i)
                    ));
                }
            }
        }
        _ => {}
    }
    Ok(())
}

/// The frame period (seconds) stored on a time-series field.
pub fn frame_period_of(field: &Field) -> Result<f64> {
    let raw = field.metadata().get(FRAME_PERIOD_KEY).ok_or_else(|| {
        Error::data(format!("column `{}` lacks its `{FRAME_PERIOD_KEY}` metadata", field.name()))
    })?;
    raw.parse::<f64>().ok().filter(|p| p.is_finite() && *p >= 0.0).ok_or_else(|| {
        Error::data(format!(
            "column `{}`: `{FRAME_PERIOD_KEY}` = `{raw}` is not a duration in seconds",
            field.name()
        ))
    })
}

// ---- typed rows -------------------------------------------------------------

/// Typed access to the rows of a port type.
pub trait PortRows: Sized {
    const PORT_TYPE: &'static str;

    /// The rows of one batch.
    fn read(batch: &RecordBatch) -> Result<Vec<Self>>;

    /// One batch of rows.
    fn write(rows: &[Self]) -> Result<RecordBatch>;

    /// The rows of several batches, in order.
    fn read_all(batches: &[RecordBatch]) -> Result<Vec<Self>> {
        let mut rows = Vec::new();
        for batch in batches {
            rows.extend(Self::read(batch)?);
        }
        Ok(rows)
    }
}

fn col<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a ArrayRef> {
    batch
        .column_by_name(name)
        .ok_or_else(|| Error::data(format!("missing column `{name}`")))
}

fn strings<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a StringArray> {
    col(batch, name)?
        .as_string_opt::<i32>()
        .ok_or_else(|| Error::data(format!("column `{name}` is not Utf8")))
}

fn string_at(batch: &RecordBatch, name: &str) -> Result<Vec<String>> {
    Ok(strings(batch, name)?.iter().map(|s| s.unwrap_or_default().to_string()).collect())
}

fn u32s<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a [u32]> {
    Ok(col(batch, name)?
        .as_primitive_opt::<UInt32Type>()
        .ok_or_else(|| Error::data(format!("column `{name}` is not UInt32")))?
        .values())
}

fn f64s<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a [f64]> {
    Ok(col(batch, name)?
        .as_any()
        .downcast_ref::<Float64Array>()
        .ok_or_else(|| Error::data(format!("column `{name}` is not Float64")))?
        .values())
}

/// Each row's slice of a list column.
fn lists<'a, T: arrow::datatypes::ArrowPrimitiveType>(
    batch: &'a RecordBatch,
    name: &str,
) -> Result<Vec<&'a [T::Native]>> {
    let list = col(batch, name)?
        .as_list_opt::<i32>()
        .ok_or_else(|| Error::data(format!("column `{name}` is not a List")))?;
    let values = list
        .values()
        .as_primitive_opt::<T>()
        .ok_or_else(|| Error::data(format!("column `{name}` has the wrong element type")))?
        .values();
    let offsets = list.value_offsets();
    Ok((0..list.len()).map(|i| &values[offsets[i] as usize..offsets[i + 1] as usize]).collect())
}

fn frame_period(batch: &RecordBatch, name: &str) -> Result<f64> {
    frame_period_of(batch.schema().field_with_name(name).map_err(Error::from)?)
}

fn splits(batch: &RecordBatch) -> Result<Vec<Split>> {
    strings(batch, c::SPLIT)?.iter().map(|s| Split::parse(s.unwrap_or_default())).collect()
}

fn utf8(name: &str, values: impl IntoIterator<Item = impl AsRef<str>>) -> (Field, ArrayRef) {
    let array: StringArray = values.into_iter().map(|v| Some(v.as_ref().to_string())).collect();
    (Field::new(name, DataType::Utf8, false), Arc::new(array))
}

fn u32_column(name: &str, values: Vec<u32>) -> (Field, ArrayRef) {
    (Field::new(name, DataType::UInt32, false), Arc::new(UInt32Array::from(values)))
}

fn f64_column(name: &str, values: Vec<f64>) -> (Field, ArrayRef) {
    (Field::new(name, DataType::Float64, false), Arc::new(Float64Array::from(values)))
}

fn with_period(field: Field, period: Option<f64>) -> Field {
    match period {
        Some(p) => field.with_metadata(HashMap::from([(FRAME_PERIOD_KEY.to_string(), p.to_string())])),
        None => field,
    }
}

/// A list column from each row's values, flattened without copies beyond one.
fn list_column<T: arrow::datatypes::ArrowPrimitiveType>(
    name: &str,
    rows: &[&[T::Native]],
    period: Option<f64>,
) -> (Field, ArrayRef) {
    let item = Arc::new(Field::new("item", T::DATA_TYPE, false));
    let flat: Vec<T::Native> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    let offsets = OffsetBuffer::from_lengths(rows.iter().map(|r| r.len()));
    let values = arrow::array::PrimitiveArray::<T>::from_iter_values(flat);
    let list = ListArray::new(item.clone(), offsets, Arc::new(values), None);
    (with_period(Field::new(name, DataType::List(item), false), period), Arc::new(list))
}

fn batch(columns: Vec<(Field, ArrayRef)>) -> Result<RecordBatch> {
    let (fields, arrays): (Vec<_>, Vec<_>) = columns.into_iter().unzip();
    Ok(RecordBatch::try_new(Arc::new(Schema::new(fields)), arrays)?)
}

/// All rows must share one frame period; an empty slice has period 0.
fn common_period(periods: impl Iterator<Item = f64>) -> Result<f64> {
    let mut common = None;
    for p in periods {
        match common {
            None => common = Some(p),
            Some(q) if (q - p).abs() > 1e-12 => {
                return Err(Error::data(format!(
                    "rows have different frame periods ({q} s and {p} s) in one batch"
                )));
            }
            _ => {}
        }
    }
    Ok(common.unwrap_or(0.0))
}

/// One recording's audio (`audio`).
#[derive(Debug, Clone, PartialEq)]
pub struct AudioRow {
    pub utt_id: String,
    pub split: Split,
    pub sample_rate: u32,
    /// Mono samples in [-1, 1].
    pub samples: Vec<f32>,
}

impl PortRows for AudioRow {
    const PORT_TYPE: &'static str = port::AUDIO;

    fn read(batch: &RecordBatch) -> Result<Vec<Self>> {
        let ids = string_at(batch, c::UTT_ID)?;
        let splits = splits(batch)?;
        let rates = u32s(batch, c::SAMPLE_RATE)?;
        let samples = lists::<Float32Type>(batch, c::SAMPLES)?;
        Ok((0..batch.num_rows())
            .map(|i| AudioRow {
                utt_id: ids[i].clone(),
                split: splits[i],
                sample_rate: rates[i],
                samples: samples[i].to_vec(),
            })
            .collect())
    }

    fn write(rows: &[Self]) -> Result<RecordBatch> {
        batch(vec![
            utf8(c::UTT_ID, rows.iter().map(|r| &r.utt_id)),
            utf8(c::SPLIT, rows.iter().map(|r| r.split.as_str())),
            u32_column(c::SAMPLE_RATE, rows.iter().map(|r| r.sample_rate).collect()),
            list_column::<Float32Type>(
                c::SAMPLES,
                &rows.iter().map(|r| r.samples.as_slice()).collect::<Vec<_>>(),
                None,
            ),
        ])
    }
}

/// One recording's feature frames (`features`).
#[derive(Debug, Clone, PartialEq)]
pub struct FeatureRow {
    pub utt_id: String,
    pub split: Split,
    /// Feature dimension D.
    pub dims: usize,
    /// Frame period in seconds.
    pub frame_period: f64,
    /// Frames x D, row-major.
    pub frames: Vec<f32>,
}

impl FeatureRow {
    pub fn num_frames(&self) -> usize {
        self.frames.len().checked_div(self.dims).unwrap_or(0)
    }

    /// Frame `t` as a slice of D values.
    pub fn frame(&self, t: usize) -> &[f32] {
        &self.frames[t * self.dims..(t + 1) * self.dims]
    }

    /// The schema of a `features` stream of dimension `dims`.
    pub fn schema(dims: usize, frame_period: f64) -> SchemaRef {
        let (fields, _): (Vec<_>, Vec<_>) = Self::columns(&[], dims, frame_period).into_iter().unzip();
        Arc::new(Schema::new(fields))
    }

    fn columns(rows: &[Self], dims: usize, frame_period: f64) -> Vec<(Field, ArrayRef)> {
        let item = Arc::new(Field::new("item", DataType::Float32, false));
        let flat: Vec<f32> = rows.iter().flat_map(|r| r.frames.iter().copied()).collect();
        let vectors = FixedSizeListArray::new(
            item.clone(),
            dims as i32,
            Arc::new(Float32Array::from(flat)),
            None,
        );
        let vector_field = Arc::new(Field::new("item", vectors.data_type().clone(), false));
        let offsets = OffsetBuffer::from_lengths(rows.iter().map(|r| r.num_frames()));
        let list = ListArray::new(vector_field.clone(), offsets, Arc::new(vectors), None);
        vec![
            utf8(c::UTT_ID, rows.iter().map(|r| &r.utt_id)),
            utf8(c::SPLIT, rows.iter().map(|r| r.split.as_str())),
            (
                with_period(Field::new(c::FEATURES, DataType::List(vector_field), false), Some(frame_period)),
                Arc::new(list),
            ),
        ]
    }
}

impl PortRows for FeatureRow {
    const PORT_TYPE: &'static str = port::FEATURES;

    fn read(batch: &RecordBatch) -> Result<Vec<Self>> {
        let ids = string_at(batch, c::UTT_ID)?;
        let splits = splits(batch)?;
        let period = frame_period(batch, c::FEATURES)?;
        let list = col(batch, c::FEATURES)?
            .as_list_opt::<i32>()
            .ok_or_else(|| Error::data("column `features` is not a List"))?;
        let vectors = list
            .values()
            .as_fixed_size_list_opt()
            .ok_or_else(|| Error::data("column `features` is not a List of FixedSizeList"))?;
        let dims = vectors.value_length() as usize;
        let values = vectors
            .values()
            .as_primitive_opt::<Float32Type>()
            .ok_or_else(|| Error::data("column `features` does not hold Float32"))?
            .values();
        let offsets = list.value_offsets();
        Ok((0..batch.num_rows())
            .map(|i| {
                let (a, b) = (offsets[i] as usize * dims, offsets[i + 1] as usize * dims);
                FeatureRow {
                    utt_id: ids[i].clone(),
                    split: splits[i],
                    dims,
                    frame_period: period,
                    frames: values[a..b].to_vec(),
                }
            })
            .collect())
    }

    fn write(rows: &[Self]) -> Result<RecordBatch> {
        let dims = rows.first().map_or(0, |r| r.dims);
        if let Some(r) = rows.iter().find(|r| r.dims != dims || r.frames.len() % dims.max(1) != 0) {
            return Err(Error::data(format!(
                "utterance `{}`: {} values are not frames of dimension {dims}",
                r.utt_id,
                r.frames.len()
            )));
        }
        let period = common_period(rows.iter().map(|r| r.frame_period))?;
        batch(Self::columns(rows, dims, period))
    }
}

/// One utterance's values of one dimension (`series`): labels or predictions.
#[derive(Debug, Clone, PartialEq)]
pub struct SeriesRow {
    pub utt_id: String,
    pub split: Split,
    pub dim: String,
    pub frame_period: f64,
    pub values: Vec<f32>,
}

impl PortRows for SeriesRow {
    const PORT_TYPE: &'static str = port::SERIES;

    fn read(batch: &RecordBatch) -> Result<Vec<Self>> {
        let ids = string_at(batch, c::UTT_ID)?;
        let splits = splits(batch)?;
        let dims = string_at(batch, c::DIM)?;
        let period = frame_period(batch, c::VALUES)?;
        let values = lists::<Float32Type>(batch, c::VALUES)?;
        Ok((0..batch.num_rows())
            .map(|i| SeriesRow {
                utt_id: ids[i].clone(),
                split: splits[i],
                dim: dims[i].clone(),
                frame_period: period,
                values: values[i].to_vec(),
            })
            .collect())
    }

    fn write(rows: &[Self]) -> Result<RecordBatch> {
        let period = common_period(rows.iter().map(|r| r.frame_period))?;
        batch(vec![
            utf8(c::UTT_ID, rows.iter().map(|r| &r.utt_id)),
            utf8(c::SPLIT, rows.iter().map(|r| r.split.as_str())),
            utf8(c::DIM, rows.iter().map(|r| &r.dim)),
            list_column::<Float32Type>(
                c::VALUES,
                &rows.iter().map(|r| r.values.as_slice()).collect::<Vec<_>>(),
                Some(period),
            ),
        ])
    }
}

/// One utterance's class sequence for one dimension and task (`classes`).
#[derive(Debug, Clone, PartialEq)]
pub struct ClassesRow {
    pub utt_id: String,
    pub split: Split,
    pub dim: String,
    pub task: String,
    pub num_classes: u32,
    pub classes: Vec<u32>,
}

impl PortRows for ClassesRow {
    const PORT_TYPE: &'static str = port::CLASSES;

    fn read(batch: &RecordBatch) -> Result<Vec<Self>> {
        let ids = string_at(batch, c::UTT_ID)?;
        let splits = splits(batch)?;
        let dims = string_at(batch, c::DIM)?;
        let tasks = string_at(batch, c::TASK)?;
        let k = u32s(batch, c::NUM_CLASSES)?;
        let classes = lists::<UInt32Type>(batch, c::CLASSES)?;
        Ok((0..batch.num_rows())
            .map(|i| ClassesRow {
                utt_id: ids[i].clone(),
                split: splits[i],
                dim: dims[i].clone(),
                task: tasks[i].clone(),
                num_classes: k[i],
                classes: classes[i].to_vec(),
            })
            .collect())
    }

    fn write(rows: &[Self]) -> Result<RecordBatch> {
        batch(vec![
            utf8(c::UTT_ID, rows.iter().map(|r| &r.utt_id)),
            utf8(c::SPLIT, rows.iter().map(|r| r.split.as_str())),
            utf8(c::DIM, rows.iter().map(|r| &r.dim)),
            utf8(c::TASK, rows.iter().map(|r| &r.task)),
            u32_column(c::NUM_CLASSES, rows.iter().map(|r| r.num_classes).collect()),
            list_column::<UInt32Type>(
                c::CLASSES,
                &rows.iter().map(|r| r.classes.as_slice()).collect::<Vec<_>>(),
                None,
            ),
        ])
    }
}

/// One utterance's class posteriors for one dimension and task (`posteriors`).
#[derive(Debug, Clone, PartialEq)]
pub struct PosteriorsRow {
    pub utt_id: String,
    pub split: Split,
    pub dim: String,
    pub task: String,
    pub num_classes: u32,
    pub frame_period: f64,
    /// Frames x classes, row-major.
    pub posteriors: Vec<f32>,
}

impl PosteriorsRow {
    pub fn num_frames(&self) -> usize {
        self.posteriors.len() / self.num_classes.max(1) as usize
    }
    /// The posteriors of frame `t`.
    pub fn frame(&self, t: usize) -> &[f32] {
        let k = self.num_classes as usize;
        &self.posteriors[t * k..(t + 1) * k]
    }
}

impl PortRows for PosteriorsRow {
    const PORT_TYPE: &'static str = port::POSTERIORS;

    fn read(batch: &RecordBatch) -> Result<Vec<Self>> {
        let ids = string_at(batch, c::UTT_ID)?;
        let splits = splits(batch)?;
        let dims = string_at(batch, c::DIM)?;
        let tasks = string_at(batch, c::TASK)?;
        let k = u32s(batch, c::NUM_CLASSES)?;
        let period = frame_period(batch, c::POSTERIORS)?;
        let post = lists::<Float32Type>(batch, c::POSTERIORS)?;
        Ok((0..batch.num_rows())
            .map(|i| PosteriorsRow {
                utt_id: ids[i].clone(),
                split: splits[i],
                dim: dims[i].clone(),
                task: tasks[i].clone(),
                num_classes: k[i],
                frame_period: period,
                posteriors: post[i].to_vec(),
            })
            .collect())
    }

    fn write(rows: &[Self]) -> Result<RecordBatch> {
        let period = common_period(rows.iter().map(|r| r.frame_period))?;
        batch(vec![
            utf8(c::UTT_ID, rows.iter().map(|r| &r.utt_id)),
            utf8(c::SPLIT, rows.iter().map(|r| r.split.as_str())),
            utf8(c::DIM, rows.iter().map(|r| &r.dim)),
            utf8(c::TASK, rows.iter().map(|r| &r.task)),
            u32_column(c::NUM_CLASSES, rows.iter().map(|r| r.num_classes).collect()),
            list_column::<Float32Type>(
                c::POSTERIORS,
                &rows.iter().map(|r| r.posteriors.as_slice()).collect::<Vec<_>>(),
                Some(period),
            ),
        ])
    }
}

/// One class of a discretizer's codebook (`codebook`). Classes are numbered
/// in increasing order of their mean.
#[derive(Debug, Clone, PartialEq)]
pub struct CodebookRow {
    pub dim: String,
    pub task: String,
    pub num_classes: u32,
    pub class: u32,
    /// The value a class maps back to.
    pub mean: f64,
    /// The class covers [lower, upper).
    pub lower: f64,
    pub upper: f64,
    /// Its frequency in the training labels.
    pub prior: f64,
}

impl PortRows for CodebookRow {
    const PORT_TYPE: &'static str = port::CODEBOOK;

    fn read(batch: &RecordBatch) -> Result<Vec<Self>> {
        let dims = string_at(batch, c::DIM)?;
        let tasks = string_at(batch, c::TASK)?;
        let k = u32s(batch, c::NUM_CLASSES)?;
        let class = u32s(batch, c::CLASS)?;
        let (mean, lower) = (f64s(batch, c::MEAN)?, f64s(batch, c::LOWER)?);
        let (upper, prior) = (f64s(batch, c::UPPER)?, f64s(batch, c::PRIOR)?);
        Ok((0..batch.num_rows())
            .map(|i| CodebookRow {
                dim: dims[i].clone(),
                task: tasks[i].clone(),
                num_classes: k[i],
                class: class[i],
                mean: mean[i],
                lower: lower[i],
                upper: upper[i],
                prior: prior[i],
            })
            .collect())
    }

    fn write(rows: &[Self]) -> Result<RecordBatch> {
        batch(vec![
            utf8(c::DIM, rows.iter().map(|r| &r.dim)),
            utf8(c::TASK, rows.iter().map(|r| &r.task)),
            u32_column(c::NUM_CLASSES, rows.iter().map(|r| r.num_classes).collect()),
            u32_column(c::CLASS, rows.iter().map(|r| r.class).collect()),
            f64_column(c::MEAN, rows.iter().map(|r| r.mean).collect()),
            f64_column(c::LOWER, rows.iter().map(|r| r.lower).collect()),
            f64_column(c::UPPER, rows.iter().map(|r| r.upper).collect()),
            f64_column(c::PRIOR, rows.iter().map(|r| r.prior).collect()),
        ])
    }
}

/// One metric value (`metrics`). `split` may name several splits
/// (`train+dev`); `labels` are extra Utf8 columns such as `system` or `task`.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricRow {
    pub name: String,
    pub dim: String,
    pub split: String,
    pub value: f64,
    pub labels: Vec<(String, String)>,
}

impl MetricRow {
    pub fn new(name: &str, dim: &str, split: &str, value: f64) -> Self {
        Self { name: name.into(), dim: dim.into(), split: split.into(), value, labels: Vec::new() }
    }

    pub fn label(mut self, key: &str, value: impl Into<String>) -> Self {
        self.labels.push((key.to_string(), value.into()));
        self
    }

    pub fn get_label(&self, key: &str) -> Option<&str> {
        self.labels.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

impl PortRows for MetricRow {
    const PORT_TYPE: &'static str = port::METRICS;

    fn read(batch: &RecordBatch) -> Result<Vec<Self>> {
        let names = string_at(batch, c::NAME)?;
        let dims = string_at(batch, c::DIM)?;
        let splits = string_at(batch, c::SPLIT)?;
        let values = f64s(batch, c::VALUE)?;
        let schema = batch.schema();
        let extra: Vec<(String, Vec<String>)> = schema
            .fields()
            .iter()
            .filter(|f| {
                f.data_type() == &DataType::Utf8
                    && ![c::NAME, c::DIM, c::SPLIT].contains(&f.name().as_str())
            })
            .map(|f| Ok((f.name().clone(), string_at(batch, f.name())?)))
            .collect::<Result<_>>()?;
        Ok((0..batch.num_rows())
            .map(|i| MetricRow {
                name: names[i].clone(),
                dim: dims[i].clone(),
                split: splits[i].clone(),
                value: values[i],
                labels: extra.iter().map(|(k, v)| (k.clone(), v[i].clone())).collect(),
            })
            .collect())
    }

    fn write(rows: &[Self]) -> Result<RecordBatch> {
        let mut keys: Vec<&str> = Vec::new();
        for (k, _) in rows.iter().flat_map(|r| &r.labels) {
            if !keys.contains(&k.as_str()) {
                keys.push(k);
            }
        }
        let mut columns = vec![
            utf8(c::NAME, rows.iter().map(|r| &r.name)),
            utf8(c::DIM, rows.iter().map(|r| &r.dim)),
            utf8(c::SPLIT, rows.iter().map(|r| &r.split)),
            f64_column(c::VALUE, rows.iter().map(|r| r.value).collect()),
        ];
        for key in keys {
            columns.push(utf8(key, rows.iter().map(|r| r.get_label(key).unwrap_or(""))));
        }
        batch(columns)
    }
}

/// A file a sink wrote (`files`).
#[derive(Debug, Clone, PartialEq)]
pub struct FileRow {
    pub path: String,
    /// `csv`, `md`, `png`, `arff`, ...
    pub format: String,
}

impl PortRows for FileRow {
    const PORT_TYPE: &'static str = port::FILES;

    fn read(batch: &RecordBatch) -> Result<Vec<Self>> {
        let paths = string_at(batch, c::PATH)?;
        let formats = string_at(batch, c::FORMAT)?;
        Ok(paths.into_iter().zip(formats).map(|(path, format)| FileRow { path, format }).collect())
    }

    fn write(rows: &[Self]) -> Result<RecordBatch> {
        batch(vec![
            utf8(c::PATH, rows.iter().map(|r| &r.path)),
            utf8(c::FORMAT, rows.iter().map(|r| &r.format)),
        ])
    }
}

/// A tensor function and its parameters (`loss`): what a loss node hands a
/// trainer, which calls it through [`Context::tensor_fn`](crate::Context).
#[derive(Debug, Clone, PartialEq)]
pub struct LossRow {
    pub kind: String,
    /// The parameters as a JSON object.
    pub params: String,
}

impl PortRows for LossRow {
    const PORT_TYPE: &'static str = port::LOSS;

    fn read(batch: &RecordBatch) -> Result<Vec<Self>> {
        let kinds = string_at(batch, c::KIND)?;
        let params = string_at(batch, c::PARAMS)?;
        Ok(kinds.into_iter().zip(params).map(|(kind, params)| LossRow { kind, params }).collect())
    }

    fn write(rows: &[Self]) -> Result<RecordBatch> {
        batch(vec![
            utf8(c::KIND, rows.iter().map(|r| &r.kind)),
            utf8(c::PARAMS, rows.iter().map(|r| &r.params)),
        ])
    }
}

/// The empty batch's schema of a port type with fixed columns, for nodes
/// that produce no rows.
pub fn empty<R: PortRows>() -> Result<RecordBatch> {
    R::write(&[])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn series(values: Vec<f32>) -> SeriesRow {
        SeriesRow {
            utt_id: "dev_1".into(),
            split: Split::Dev,
            dim: "arousal".into(),
            frame_period: 0.04,
            values,
        }
    }

    #[test]
    fn series_rows_round_trip_and_pass_the_edge_check() {
        let rows = vec![series(vec![0.1, 0.2]), series(vec![])];
        let batch = SeriesRow::write(&rows).unwrap();
        check_batch(port::SERIES, &batch).unwrap();
        assert_eq!(SeriesRow::read(&batch).unwrap(), rows);
    }

    #[test]
    fn feature_rows_round_trip_with_their_dimension() {
        let row = FeatureRow {
            utt_id: "train_1".into(),
            split: Split::Train,
            dims: 3,
            frame_period: 0.01,
            frames: (0..12).map(|v| v as f32).collect(),
        };
        let batch = FeatureRow::write(std::slice::from_ref(&row)).unwrap();
        check_batch(port::FEATURES, &batch).unwrap();
        let back = FeatureRow::read(&batch).unwrap();
        assert_eq!(back, vec![row]);
        assert_eq!(back[0].frame(2), &[6.0, 7.0, 8.0]);
    }

    #[test]
    fn a_missing_column_is_named() {
        let batch = FileRow::write(&[]).unwrap();
        let err = check_schema(port::SERIES, &batch.schema()).unwrap_err();
        assert!(err.contains("missing column `utt_id`"), "{err}");
    }

    #[test]
    fn a_series_without_frame_period_is_refused() {
        let batch = SeriesRow::write(&[series(vec![1.0])]).unwrap();
        let fields: Vec<Field> = batch
            .schema()
            .fields()
            .iter()
            .map(|f| f.as_ref().clone().with_metadata(HashMap::new()))
            .collect();
        let stripped =
            RecordBatch::try_new(Arc::new(Schema::new(fields)), batch.columns().to_vec()).unwrap();
        let err = check_batch(port::SERIES, &stripped).unwrap_err();
        assert!(err.contains(FRAME_PERIOD_KEY), "{err}");
    }

    #[test]
    fn posteriors_must_be_whole_frames_and_classes_below_their_count() {
        let mut row = PosteriorsRow {
            utt_id: "u".into(),
            split: Split::Train,
            dim: "valence".into(),
            task: "k4".into(),
            num_classes: 4,
            frame_period: 0.04,
            posteriors: vec![0.25; 7],
        };
        let err = check_batch(port::POSTERIORS, &PosteriorsRow::write(&[row.clone()]).unwrap());
        assert!(err.unwrap_err().contains("not a whole number of frames"));
        row.posteriors = vec![0.25; 8];
        check_batch(port::POSTERIORS, &PosteriorsRow::write(&[row]).unwrap()).unwrap();

        let classes = ClassesRow {
            utt_id: "u".into(),
            split: Split::Train,
            dim: "valence".into(),
            task: "k4".into(),
            num_classes: 4,
            classes: vec![0, 3, 4],
        };
        let err = check_batch(port::CLASSES, &ClassesRow::write(&[classes]).unwrap()).unwrap_err();
        assert!(err.contains("class 4 is not below num_classes 4"), "{err}");
    }

    #[test]
    fn a_misspelt_split_is_refused() {
        let mut row = AudioRow { utt_id: "x".into(), split: Split::Dev, sample_rate: 16000, samples: vec![] };
        let batch = AudioRow::write(std::slice::from_ref(&row)).unwrap();
        check_batch(port::AUDIO, &batch).unwrap();
        row.split = Split::Test;
        let mut columns = AudioRow::write(&[row]).unwrap().columns().to_vec();
        columns[1] = Arc::new(StringArray::from(vec!["developement"]));
        let bad = RecordBatch::try_new(batch.schema(), columns).unwrap();
        assert!(check_batch(port::AUDIO, &bad).unwrap_err().contains("developement"));
    }

    #[test]
    fn metrics_keep_their_extra_labels() {
        let rows = vec![
            MetricRow::new("ccc", "arousal", "dev", 0.8).label("system", "CLS-Raw"),
            MetricRow::new("rmse", "arousal", "dev", 0.1).label("system", "CLS-Raw"),
        ];
        let batch = MetricRow::write(&rows).unwrap();
        check_batch(port::METRICS, &batch).unwrap();
        assert_eq!(MetricRow::read(&batch).unwrap(), rows);
    }
}
