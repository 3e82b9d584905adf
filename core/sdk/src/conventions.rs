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
//! The [`port`] module tables the columns of each port type, and each
//! port type's row type (such as [`SeriesRow`]) reads and writes them: both,
//! and the columns the host checks, are generated from one declaration
//! (`port_types!` below). Columns beyond those listed are allowed and
//! carried along.

use std::collections::HashMap;
use std::sync::Arc;

use arrow::array::{
    Array, ArrayRef, AsArray, FixedSizeListArray, Float32Array, ListArray, PrimitiveArray,
    StringArray,
};
use arrow::buffer::OffsetBuffer;
use arrow::datatypes::{
    ArrowNativeType, ArrowPrimitiveType, DataType, Field, Float32Type, Float64Type, Schema,
    SchemaRef, UInt32Type,
};
use arrow::record_batch::RecordBatch;

use crate::arrow;
use crate::{Error, Result};

/// The Arrow type of a column kind ([`Col`]) as the docs spell it.
macro_rules! describe {
    (Utf8) => {
        "Utf8"
    };
    (UInt32) => {
        "UInt32"
    };
    (Float64) => {
        "Float64"
    };
    (ListF32) => {
        "List<Float32>"
    };
    (ListU32) => {
        "List<UInt32>"
    };
    (ListVectorsF32) => {
        "List<FixedSizeList<Float32, D>>"
    };
}

/// `" (+ frame period)"` after a time series' column, in the docs.
macro_rules! timed_doc {
    () => {
        ""
    };
    ($period:ident) => {
        " (+ frame period)"
    };
}

/// Whether a column carries a frame period.
macro_rules! is_timed {
    () => {
        false
    };
    ($period:ident) => {
        true
    };
}

/// One row of the columns of a port type, for the docs: `` `name: Type` ``
/// for each column.
macro_rules! doc_columns {
    ($($column:ident $codec:ident $($period:ident)?),*) => {
        concat!($("`", stringify!($column), ": ", describe!($codec), "`", timed_doc!($($period)?), " ",)*)
    };
}

/// Declares the port types. `rows` entries name a port type, its row type
/// and the row's fields, one per column (named after the field), each with
/// its Rust type and column kind; `timed by frame_period` adds that field,
/// the column's frame period; `+ labels` collects the Utf8 columns beyond
/// the declared ones. From them come the [`port`] constants and their
/// table, the columns the host checks, the row structs and their
/// [`PortRows`] impls. `by_hand` entries declare only the columns: their
/// row types, whose fields are not one per column, are written below.
macro_rules! port_types {
    (
        rows {$(
            $(#[$meta:meta])*
            $CONST:ident = $name:literal => $Row:ident {
                $($(#[$fmeta:meta])* $field:ident: $ty:ty as $codec:ident $(timed by $period:ident)?),* $(,)?
            } $(+ $labels:ident)?
        )*}
        by_hand {$(
            $HCONST:ident = $hname:literal => $HRow:ident {
                $($hcolumn:ident as $hcodec:ident $(timed by $hperiod:ident)?),* $(,)?
            }
        )*}
    ) => {
        /// Port type names, and the columns each one requires:
        ///
        #[doc = concat!(
            "| port type | rows | columns |\n|---|---|---|\n",
            $("| `", $name, "` | [`", stringify!($Row), "`](crate::conventions::", stringify!($Row), ") | ",
                doc_columns!($($field $codec $($period)?),*), $("and further Utf8 columns (", stringify!($labels), ")",)? "|\n",)*
            $("| `", $hname, "` | [`", stringify!($HRow), "`](crate::conventions::", stringify!($HRow), ") | ",
                doc_columns!($($hcolumn $hcodec $($hperiod)?),*), "|\n",)*
            "| `table` | | any |\n",
        )]
        pub mod port {
            $(pub const $CONST: &str = $name;)*
            $(pub const $HCONST: &str = $hname;)*
            pub const TABLE: &str = "table";
            /// For inputs only: accepts every port type.
            pub const ANY: &str = "any";
        }

        /// Required columns of each port type; the last flag says whether
        /// the column carries a frame period.
        fn columns(port_type: &str) -> Option<&'static [(&'static str, Col, bool)]> {
            Some(match port_type {
                $(port::$CONST => &[$((stringify!($field), Col::$codec, is_timed!($($period)?))),*],)*
                $(port::$HCONST => &[$((stringify!($hcolumn), Col::$hcodec, is_timed!($($hperiod)?))),*],)*
                _ => return None,
            })
        }

        $(
            $(#[$meta])*
            ///
            #[doc = concat!("Port type [`", $name, "`](port::", stringify!($CONST), "): ",
                doc_columns!($($field $codec $($period)?),*))]
            #[derive(Debug, Clone, PartialEq)]
            pub struct $Row {
                $(
                    $(
                        /// Frame period in seconds.
                        pub $period: f64,
                    )?
                    $(#[$fmeta])*
                    pub $field: $ty,
                )*
                $(
                    /// The Utf8 columns beyond the declared ones, as
                    /// (column, value): `system`, `task`, ...
                    pub $labels: Vec<(String, String)>,
                )?
            }

            // Each field's Rust type writes the column kind declared for it.
            const _: () = {$(assert!(matches!(<$ty as Column>::COL, Col::$codec));)*};

            impl PortRows for $Row {
                const PORT_TYPE: &'static str = port::$CONST;

                fn read(batch: &RecordBatch) -> Result<Vec<Self>> {
                    $(
                        $(let $period = period_at(batch, stringify!($field))?;)?
                        let mut $field = <$ty as Column>::read(batch, stringify!($field))?.into_iter();
                    )*
                    $(let mut $labels = labels(batch, Self::PORT_TYPE)?.into_iter();)?
                    Ok((0..batch.num_rows())
                        .map(|_| Self {
                            $($($period,)? $field: next(&mut $field),)*
                            $($labels: next(&mut $labels),)?
                        })
                        .collect())
                }

                fn write(rows: &[Self]) -> Result<RecordBatch> {
                    let mut columns = Vec::new();
                    $(
                        let array = <$ty as Column>::array(rows.iter().map(|r| &r.$field));
                        let field = Field::new(stringify!($field), array.data_type().clone(), false);
                        $(let field = with_period(field, common_period(rows.iter().map(|r| r.$period))?);)?
                        columns.push((field, array));
                    )*
                    $(columns.extend(label_columns(rows.iter().map(|r| r.$labels.as_slice())));)?
                    batch(columns)
                }
            }
        )*
    };
}

port_types! {
    rows {
        /// One recording's audio.
        AUDIO = "audio" => AudioRow {
            utt_id: String as Utf8,
            split: Split as Utf8,
            sample_rate: u32 as UInt32,
            /// Mono samples in [-1, 1].
            samples: Vec<f32> as ListF32,
        }
        /// One utterance's values of one dimension: labels or predictions.
        SERIES = "series" => SeriesRow {
            utt_id: String as Utf8,
            split: Split as Utf8,
            dim: String as Utf8,
            values: Vec<f32> as ListF32 timed by frame_period,
        }
        /// One utterance's class sequence for one dimension and task.
        CLASSES = "classes" => ClassesRow {
            utt_id: String as Utf8,
            split: Split as Utf8,
            dim: String as Utf8,
            task: String as Utf8,
            num_classes: u32 as UInt32,
            classes: Vec<u32> as ListU32,
        }
        /// One utterance's class posteriors for one dimension and task.
        POSTERIORS = "posteriors" => PosteriorsRow {
            utt_id: String as Utf8,
            split: Split as Utf8,
            dim: String as Utf8,
            task: String as Utf8,
            num_classes: u32 as UInt32,
            /// Frames x classes, row-major.
            posteriors: Vec<f32> as ListF32 timed by frame_period,
        }
        /// One class of a discretizer's codebook. Classes are numbered in
        /// increasing order of their mean.
        CODEBOOK = "codebook" => CodebookRow {
            dim: String as Utf8,
            task: String as Utf8,
            num_classes: u32 as UInt32,
            class: u32 as UInt32,
            /// The value a class maps back to.
            mean: f64 as Float64,
            /// The class covers [lower, upper).
            lower: f64 as Float64,
            upper: f64 as Float64,
            /// Its frequency in the training labels.
            prior: f64 as Float64,
        }
        /// One metric value. `split` may name several splits (`train+dev`).
        METRICS = "metrics" => MetricRow {
            name: String as Utf8,
            dim: String as Utf8,
            split: String as Utf8,
            value: f64 as Float64,
        } + labels
        /// A file a sink wrote.
        FILES = "files" => FileRow {
            path: String as Utf8,
            /// `csv`, `md`, `png`, `arff`, ...
            format: String as Utf8,
        }
        /// A tensor function and its parameters: what a loss node hands a
        /// trainer, which calls it through [`Context::tensor_fn`](crate::Context).
        LOSS = "loss" => LossRow {
            kind: String as Utf8,
            /// The parameters as a JSON object.
            params: String as Utf8,
        }
    }
    by_hand {
        FEATURES = "features" => FeatureRow {
            utt_id as Utf8,
            split as Utf8,
            features as ListVectorsF32 timed by frame_period,
        }
    }
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

/// The kinds of conventional columns.
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
            Col::Utf8 => describe!(Utf8),
            Col::UInt32 => describe!(UInt32),
            Col::Float64 => describe!(Float64),
            Col::ListF32 => describe!(ListF32),
            Col::ListU32 => describe!(ListU32),
            Col::ListVectorsF32 => describe!(ListVectorsF32),
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

/// Checks a stream's schema against its port type; the message says which
/// column is missing or mistyped. Unknown port types (a plugin's own) and
/// `table` accept any schema.
pub fn check_schema(port_type: &str, schema: &Schema) -> std::result::Result<(), String> {
    let Some(cols) = columns(port_type) else {
        return Ok(());
    };
    for &(name, col, timed) in cols {
        let field = schema.field_with_name(name).map_err(|_| {
            format!(
                "missing column `{name}` ({}) of port type `{port_type}`",
                col.describe()
            )
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
    let Some(cols) = columns(port_type) else {
        return Ok(());
    };
    for &(name, _, _) in cols {
        let col = batch.column_by_name(name).expect("checked by check_schema");
        if col.null_count() > 0 {
            return Err(format!(
                "column `{name}` has {} null values",
                col.null_count()
            ));
        }
    }
    if let Some(split) = batch
        .column_by_name(c::SPLIT)
        .filter(|_| port_type != port::METRICS)
    {
        for s in split.as_string::<i32>().iter().flatten() {
            Split::parse(s).map_err(|e| e.message)?;
        }
    }
    match port_type {
        port::POSTERIORS => {
            let k = batch
                .column_by_name(c::NUM_CLASSES)
                .unwrap()
                .as_primitive::<UInt32Type>();
            let lists = batch
                .column_by_name(c::POSTERIORS)
                .unwrap()
                .as_list::<i32>();
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
            let k = batch
                .column_by_name(c::NUM_CLASSES)
                .unwrap()
                .as_primitive::<UInt32Type>();
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
        Error::data(format!(
            "column `{}` lacks its `{FRAME_PERIOD_KEY}` metadata",
            field.name()
        ))
    })?;
    raw.parse::<f64>()
        .ok()
        .filter(|p| p.is_finite() && *p >= 0.0)
        .ok_or_else(|| {
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

/// A row field's Rust type, stored in one column of kind `COL`.
trait Column: Sized {
    const COL: Col;

    /// Each row's value of column `name`.
    fn read(batch: &RecordBatch, name: &str) -> Result<Vec<Self>>;

    /// The column of these values, one per row.
    fn array<'a>(values: impl Iterator<Item = &'a Self>) -> ArrayRef
    where
        Self: 'a;
}

impl Column for String {
    const COL: Col = Col::Utf8;
    fn read(batch: &RecordBatch, name: &str) -> Result<Vec<Self>> {
        Ok(strings(batch, name)?
            .iter()
            .map(|s| s.unwrap_or_default().to_string())
            .collect())
    }
    fn array<'a>(values: impl Iterator<Item = &'a Self>) -> ArrayRef {
        Arc::new(values.map(|v| Some(v.as_str())).collect::<StringArray>())
    }
}

impl Column for Split {
    const COL: Col = Col::Utf8;
    fn read(batch: &RecordBatch, name: &str) -> Result<Vec<Self>> {
        strings(batch, name)?
            .iter()
            .map(|s| Split::parse(s.unwrap_or_default()))
            .collect()
    }
    fn array<'a>(values: impl Iterator<Item = &'a Self>) -> ArrayRef {
        Arc::new(values.map(|v| Some(v.as_str())).collect::<StringArray>())
    }
}

/// A number stored alone in a column of kind `COL`.
trait Scalar: ArrowNativeType {
    type Arrow: ArrowPrimitiveType<Native = Self>;
    const COL: Col;
}

impl Scalar for u32 {
    type Arrow = UInt32Type;
    const COL: Col = Col::UInt32;
}

impl Scalar for f64 {
    type Arrow = Float64Type;
    const COL: Col = Col::Float64;
}

impl<T: Scalar> Column for T {
    const COL: Col = T::COL;
    fn read(batch: &RecordBatch, name: &str) -> Result<Vec<Self>> {
        let array = col(batch, name)?
            .as_primitive_opt::<T::Arrow>()
            .ok_or_else(|| Error::data(format!("column `{name}` is not {}", T::COL.describe())))?;
        Ok(array.values().to_vec())
    }
    fn array<'a>(values: impl Iterator<Item = &'a Self>) -> ArrayRef {
        Arc::new(PrimitiveArray::<T::Arrow>::from_iter_values(
            values.copied(),
        ))
    }
}

/// A number stored in list columns of kind `LIST`.
trait ListItem: ArrowNativeType {
    type Arrow: ArrowPrimitiveType<Native = Self>;
    const LIST: Col;
}

impl ListItem for f32 {
    type Arrow = Float32Type;
    const LIST: Col = Col::ListF32;
}

impl ListItem for u32 {
    type Arrow = UInt32Type;
    const LIST: Col = Col::ListU32;
}

impl<T: ListItem> Column for Vec<T> {
    const COL: Col = T::LIST;
    fn read(batch: &RecordBatch, name: &str) -> Result<Vec<Self>> {
        Ok(lists::<T::Arrow>(batch, name)?
            .into_iter()
            .map(<[T]>::to_vec)
            .collect())
    }
    fn array<'a>(values: impl Iterator<Item = &'a Self>) -> ArrayRef {
        list_array::<T::Arrow>(&values.map(Vec::as_slice).collect::<Vec<_>>())
    }
}

/// The next row's value of a column read whole.
fn next<T>(column: &mut impl Iterator<Item = T>) -> T {
    column.next().expect("a column holds one value per row")
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

/// Each row's slice of a list column.
fn lists<'a, T: ArrowPrimitiveType>(
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
    Ok((0..list.len())
        .map(|i| &values[offsets[i] as usize..offsets[i + 1] as usize])
        .collect())
}

/// The frame period of time-series column `name`.
fn period_at(batch: &RecordBatch, name: &str) -> Result<f64> {
    frame_period_of(batch.schema().field_with_name(name).map_err(Error::from)?)
}

fn with_period(field: Field, period: f64) -> Field {
    field.with_metadata(HashMap::from([(
        FRAME_PERIOD_KEY.to_string(),
        period.to_string(),
    )]))
}

/// A list column from each row's values, flattened without copies beyond one.
fn list_array<T: ArrowPrimitiveType>(rows: &[&[T::Native]]) -> ArrayRef {
    let item = Arc::new(Field::new("item", T::DATA_TYPE, false));
    let flat: Vec<T::Native> = rows.iter().flat_map(|r| r.iter().copied()).collect();
    let offsets = OffsetBuffer::from_lengths(rows.iter().map(|r| r.len()));
    let values = PrimitiveArray::<T>::from_iter_values(flat);
    Arc::new(ListArray::new(item, offsets, Arc::new(values), None))
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

/// Each row's values of the Utf8 columns its port type does not declare,
/// as (column, value).
fn labels(batch: &RecordBatch, port_type: &str) -> Result<Vec<Vec<(String, String)>>> {
    let declared: Vec<&str> = columns(port_type)
        .unwrap_or_default()
        .iter()
        .map(|c| c.0)
        .collect();
    let schema = batch.schema();
    let extra: Vec<(String, Vec<String>)> = schema
        .fields()
        .iter()
        .filter(|f| f.data_type() == &DataType::Utf8 && !declared.contains(&f.name().as_str()))
        .map(|f| Ok((f.name().clone(), String::read(batch, f.name())?)))
        .collect::<Result<_>>()?;
    Ok((0..batch.num_rows())
        .map(|i| {
            extra
                .iter()
                .map(|(k, v)| (k.clone(), v[i].clone()))
                .collect()
        })
        .collect())
}

/// One Utf8 column per label key, in order of first appearance; a row
/// without a key has an empty value there.
fn label_columns<'a>(
    rows: impl Iterator<Item = &'a [(String, String)]> + Clone,
) -> Vec<(Field, ArrayRef)> {
    let mut keys: Vec<&str> = Vec::new();
    for (k, _) in rows.clone().flatten() {
        if !keys.contains(&k.as_str()) {
            keys.push(k);
        }
    }
    keys.into_iter()
        .map(|key| {
            let values = rows.clone().map(|labels| {
                labels
                    .iter()
                    .find(|(k, _)| k == key)
                    .map_or("", |(_, v)| v.as_str())
            });
            let array: ArrayRef = Arc::new(values.map(Some).collect::<StringArray>());
            (Field::new(key, DataType::Utf8, false), array)
        })
        .collect()
}

impl MetricRow {
    pub fn new(name: &str, dim: &str, split: &str, value: f64) -> Self {
        Self {
            name: name.into(),
            dim: dim.into(),
            split: split.into(),
            value,
            labels: Vec::new(),
        }
    }

    pub fn label(mut self, key: &str, value: impl Into<String>) -> Self {
        self.labels.push((key.to_string(), value.into()));
        self
    }

    pub fn get_label(&self, key: &str) -> Option<&str> {
        self.labels
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }
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
        let (fields, _): (Vec<_>, Vec<_>) =
            Self::columns(&[], dims, frame_period).into_iter().unzip();
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
            (
                Field::new(c::UTT_ID, DataType::Utf8, false),
                String::array(rows.iter().map(|r| &r.utt_id)),
            ),
            (
                Field::new(c::SPLIT, DataType::Utf8, false),
                Split::array(rows.iter().map(|r| &r.split)),
            ),
            (
                with_period(
                    Field::new(c::FEATURES, DataType::List(vector_field), false),
                    frame_period,
                ),
                Arc::new(list),
            ),
        ]
    }
}

impl PortRows for FeatureRow {
    const PORT_TYPE: &'static str = port::FEATURES;

    fn read(batch: &RecordBatch) -> Result<Vec<Self>> {
        let ids = String::read(batch, c::UTT_ID)?;
        let splits = Split::read(batch, c::SPLIT)?;
        let period = period_at(batch, c::FEATURES)?;
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
        if let Some(r) = rows
            .iter()
            .find(|r| r.dims != dims || r.frames.len() % dims.max(1) != 0)
        {
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

    /// The declared columns, which the host checks, and the columns each
    /// row type writes come from one declaration; this holds them together.
    #[test]
    fn every_row_type_writes_the_columns_its_port_type_checks() {
        fn check<R: PortRows>() {
            let batch = empty::<R>().unwrap();
            check_batch(R::PORT_TYPE, &batch).unwrap();
            let declared = columns(R::PORT_TYPE).unwrap();
            assert_eq!(batch.num_columns(), declared.len(), "{}", R::PORT_TYPE);
        }
        check::<AudioRow>();
        check::<FeatureRow>();
        check::<SeriesRow>();
        check::<ClassesRow>();
        check::<PosteriorsRow>();
        check::<CodebookRow>();
        check::<MetricRow>();
        check::<FileRow>();
        check::<LossRow>();
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
        let err = check_batch(
            port::POSTERIORS,
            &PosteriorsRow::write(&[row.clone()]).unwrap(),
        );
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
        let mut row = AudioRow {
            utt_id: "x".into(),
            split: Split::Dev,
            sample_rate: 16000,
            samples: vec![],
        };
        let batch = AudioRow::write(std::slice::from_ref(&row)).unwrap();
        check_batch(port::AUDIO, &batch).unwrap();
        row.split = Split::Test;
        let mut columns = AudioRow::write(&[row]).unwrap().columns().to_vec();
        columns[1] = Arc::new(StringArray::from(vec!["developement"]));
        let bad = RecordBatch::try_new(batch.schema(), columns).unwrap();
        assert!(
            check_batch(port::AUDIO, &bad)
                .unwrap_err()
                .contains("developement")
        );
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
