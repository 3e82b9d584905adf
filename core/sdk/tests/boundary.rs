//! The plugin boundary, exercised in-process through the real shims: what
//! crosses, what is checked, and what a misbehaving node can and cannot do.

use emoflow_sdk::arrow::array::{Array, AsArray};
use emoflow_sdk::ffi::{ABI_MAJOR, FFI_Plugin};
use emoflow_sdk::foreign::ForeignPlugin;
use emoflow_sdk::harness::Harness;
use emoflow_sdk::prelude::*;

#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct ScaleParams {
    /// Factor applied to every value.
    #[schemars(range(min = 0.0))]
    factor: f32,
}

struct Scale(f32);

impl Node for Scale {
    fn run(&mut self, ctx: &Context, mut inputs: Inputs) -> Result<Outputs> {
        let mut rows = SeriesRow::read_all(&inputs.batches("in")?)?;
        for (i, row) in rows.iter_mut().enumerate() {
            ctx.check_cancelled()?;
            row.values.iter_mut().for_each(|v| *v *= self.0);
            ctx.progress(i as u64 + 1, 0, &row.utt_id);
        }
        tracing::info!(rows = rows.len(), "scaled");
        Ok(Outputs::new().with_batch("out", SeriesRow::write(&rows)?))
    }
}

fn scale() -> KindSpec {
    KindSpec::new("t.scale", file!())
        .doc("Multiplies a series by a factor.")
        .input("in", port::SERIES, "a series")
        .output("out", port::SERIES, "the scaled series")
        .create(|p: ScaleParams| Ok(Scale(p.factor)))
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct None_ {}

/// Returns its input batches as they came.
struct Pass;

impl Node for Pass {
    fn run(&mut self, _: &Context, mut inputs: Inputs) -> Result<Outputs> {
        let batches = inputs.batches("in")?;
        Ok(Outputs::new().with_batches("out", batches[0].schema(), batches))
    }
}

fn pass() -> KindSpec {
    KindSpec::new("t.pass", file!())
        .input("in", port::SERIES, "a series")
        .output("out", port::SERIES, "the same batches")
        .create(|_: None_| Ok(Pass))
}

struct Panics;

impl Node for Panics {
    fn run(&mut self, _: &Context, _: Inputs) -> Result<Outputs> {
        panic!("boom in the node");
    }
}

fn panics() -> KindSpec {
    KindSpec::new("t.panic", file!()).output("out", port::SERIES, "never").create(|_: None_| Ok(Panics))
}

/// Panics only while the host pulls its lazily computed output.
struct PanicsLater;

impl Node for PanicsLater {
    fn run(&mut self, _: &Context, _: Inputs) -> Result<Outputs> {
        let schema = SeriesRow::write(&[])?.schema();
        let lazy = (0..1).map(|_| -> std::result::Result<_, emoflow_sdk::arrow::error::ArrowError> {
            panic!("boom while streaming")
        });
        let reader = emoflow_sdk::arrow::record_batch::RecordBatchIterator::new(lazy, schema);
        Ok(Outputs::new().with_stream("out", Box::new(reader)))
    }
}

fn panics_later() -> KindSpec {
    KindSpec::new("t.panic_later", file!()).output("out", port::SERIES, "never").create(|_: None_| Ok(PanicsLater))
}

/// Declares a series but emits a metrics table.
struct Liar;

impl Node for Liar {
    fn run(&mut self, _: &Context, _: Inputs) -> Result<Outputs> {
        Ok(Outputs::new().with_batch("out", MetricRow::write(&[MetricRow::new("x", "d", "dev", 1.0)])?))
    }
}

fn liar() -> KindSpec {
    KindSpec::new("t.liar", file!()).output("out", port::SERIES, "claims a series").create(|_: None_| Ok(Liar))
}

emoflow_sdk::export_plugin!(scale, pass, panics, panics_later, liar);

fn series(n: usize) -> Vec<SeriesRow> {
    (0..n)
        .map(|i| SeriesRow {
            utt_id: format!("dev_{i}"),
            split: Split::Dev,
            dim: "arousal".into(),
            frame_period: 0.04,
            values: vec![1.0, 2.0, 3.0],
        })
        .collect()
}

#[test]
fn a_node_runs_through_the_abi_with_parameters_logs_and_progress() {
    let out = Harness::new(emoflow_plugin(), "t.scale").param("factor", 2.0).rows("in", &series(2)).run().unwrap();
    let rows: Vec<SeriesRow> = out.rows("out").unwrap();
    assert_eq!(rows[1].values, vec![2.0, 4.0, 6.0]);
    assert!(out.logged("scaled rows=2"), "tracing events reach the host: {:?}", out.logs);
    assert_eq!(out.progress, vec![(1, 0), (2, 0)]);
}

#[test]
fn the_description_carries_ports_and_the_parameter_schema() {
    let plugin = ForeignPlugin::from_table(emoflow_plugin(), "test").unwrap();
    let kind = plugin.kind("t.scale").unwrap();
    assert_eq!(kind.inputs[0].port_type, "series");
    assert_eq!(kind.params["properties"]["factor"]["minimum"], 0.0);
    assert_eq!(kind.params["properties"]["factor"]["description"], "Factor applied to every value.");
    assert!(kind.source_file.ends_with("boundary.rs"));
}

#[test]
fn bad_parameters_are_refused_by_name() {
    let err = Harness::new(emoflow_plugin(), "t.scale").param("factr", 2.0).rows("in", &series(1)).run().unwrap_err();
    assert!(err.message.contains("unknown field `factr`"), "{err}");
}

#[test]
fn arrow_buffers_cross_the_boundary_without_copies() {
    let batch = SeriesRow::write(&series(3)).unwrap();
    let address = |b: &emoflow_sdk::arrow::record_batch::RecordBatch| {
        b.column_by_name("values").unwrap().as_list::<i32>().values().to_data().buffers()[0].as_ptr()
    };
    let before = address(&batch);
    let out = Harness::new(emoflow_plugin(), "t.pass").input("in", vec![batch]).run().unwrap();
    assert_eq!(address(&out.batches("out")[0]), before, "host -> plugin -> host kept the buffer");
}

#[test]
fn a_panic_becomes_an_error_naming_the_kind() {
    let err = Harness::new(emoflow_plugin(), "t.panic").run().unwrap_err();
    assert_eq!(err.code, ErrorCode::Panic);
    assert!(err.message.contains("`t.panic` panicked: boom in the node"), "{err}");
}

#[test]
fn a_panic_while_streaming_an_output_is_caught_too() {
    let err = Harness::new(emoflow_plugin(), "t.panic_later").run().unwrap_err();
    assert!(err.message.contains("boom while streaming"), "{err}");
}

#[test]
fn an_output_that_breaks_its_port_type_is_named() {
    let err = Harness::new(emoflow_plugin(), "t.liar").run().unwrap_err();
    assert!(err.message.contains("output `out` (port type `series`)"), "{err}");
    assert!(err.message.contains("missing column `utt_id`"), "{err}");
}

#[test]
fn a_cancelled_run_stops_with_cancelled() {
    let err = Harness::new(emoflow_plugin(), "t.scale").param("factor", 1.0).rows("in", &series(1)).cancelled().run().unwrap_err();
    assert_eq!(err.code, ErrorCode::Cancelled);
}

#[test]
fn a_table_of_another_abi_major_is_refused_before_any_call() {
    // A table from the future: only the two leading fields are meaningful.
    #[repr(C)]
    struct Head {
        abi_major: u32,
        struct_size: u32,
    }
    static FUTURE: Head = Head { abi_major: ABI_MAJOR + 1, struct_size: 8 };
    let table = (&FUTURE as *const Head).cast::<FFI_Plugin>();
    // SAFETY: the memory starts with the two leading fields, which are all a
    // host reads from a table of another major.
    let err = unsafe { ForeignPlugin::from_raw(table, std::path::Path::new("libfuture.so")) }.unwrap_err();
    let expected = format!("speaks emoflow plugin ABI {}, this emoflow speaks ABI {ABI_MAJOR}", ABI_MAJOR + 1);
    assert!(err.message.contains(&expected) && err.message.contains("libfuture.so"), "{err}");
}
