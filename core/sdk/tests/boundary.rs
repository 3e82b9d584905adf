//! The plugin boundary, exercised in-process through the real shims: what
//! crosses, what is checked, and what a misbehaving node can and cannot do.

use emoflow_sdk::arrow::array::{Array, AsArray};
use emoflow_sdk::ffi::{ABI_MAJOR, ABI_MINOR, FFI_Plugin};
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
    KindSpec::new("t.panic", file!())
        .output("out", port::SERIES, "never")
        .create(|_: None_| Ok(Panics))
}

/// Panics only while the host pulls its lazily computed output.
struct PanicsLater;

impl Node for PanicsLater {
    fn run(&mut self, _: &Context, _: Inputs) -> Result<Outputs> {
        let schema = SeriesRow::write(&[])?.schema();
        let lazy = (0..1).map(
            |_| -> std::result::Result<_, emoflow_sdk::arrow::error::ArrowError> {
                panic!("boom while streaming")
            },
        );
        let reader = emoflow_sdk::arrow::record_batch::RecordBatchIterator::new(lazy, schema);
        Ok(Outputs::new().with_stream("out", Box::new(reader)))
    }
}

fn panics_later() -> KindSpec {
    KindSpec::new("t.panic_later", file!())
        .output("out", port::SERIES, "never")
        .create(|_: None_| Ok(PanicsLater))
}

/// Fails while the host pulls its lazily computed output, as a source does
/// on a truncated file.
struct FailsLater;

impl Node for FailsLater {
    fn run(&mut self, _: &Context, _: Inputs) -> Result<Outputs> {
        let schema = SeriesRow::write(&[])?.schema();
        let lazy = (0..1).map(|_| Err(Error::data("dev_1.wav: truncated WAV").into()));
        let reader = emoflow_sdk::arrow::record_batch::RecordBatchIterator::new(lazy, schema);
        Ok(Outputs::new().with_stream("out", Box::new(reader)))
    }
}

fn fails_later() -> KindSpec {
    KindSpec::new("t.fails_later", file!())
        .output("out", port::SERIES, "never")
        .create(|_: None_| Ok(FailsLater))
}

/// Declares a series but emits a metrics table.
struct Liar;

impl Node for Liar {
    fn run(&mut self, _: &Context, _: Inputs) -> Result<Outputs> {
        Ok(Outputs::new().with_batch(
            "out",
            MetricRow::write(&[MetricRow::new("x", "d", "dev", 1.0)])?,
        ))
    }
}

fn liar() -> KindSpec {
    KindSpec::new("t.liar", file!())
        .output("out", port::SERIES, "claims a series")
        .create(|_: None_| Ok(Liar))
}

#[derive(serde::Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
struct DirParams {
    dir: std::path::PathBuf,
}

/// Reads every file of a directory, as a corpus source does.
struct ReadsDir(std::path::PathBuf);

impl Node for ReadsDir {
    fn run(&mut self, _: &Context, _: Inputs) -> Result<Outputs> {
        Ok(Outputs::new())
    }

    fn input_files(&self) -> Result<Vec<std::path::PathBuf>> {
        let entries = std::fs::read_dir(&self.0).map_err(|e| Error::io(&self.0, e))?;
        let mut files = entries
            .map(|e| e.map(|e| e.path()).map_err(|e| Error::io(&self.0, e)))
            .collect::<Result<Vec<_>>>()?;
        files.sort();
        Ok(files)
    }
}

fn reads_dir() -> KindSpec {
    KindSpec::new("t.reads_dir", file!()).create(|p: DirParams| Ok(ReadsDir(p.dir)))
}

/// Panics while listing its files.
struct ListsBadly;

impl Node for ListsBadly {
    fn run(&mut self, _: &Context, _: Inputs) -> Result<Outputs> {
        Ok(Outputs::new())
    }

    fn input_files(&self) -> Result<Vec<std::path::PathBuf>> {
        panic!("boom while listing")
    }
}

fn lists_badly() -> KindSpec {
    KindSpec::new("t.lists_badly", file!()).create(|_: None_| Ok(ListsBadly))
}

emoflow_sdk::export_plugin!(
    scale,
    pass,
    panics,
    panics_later,
    liar,
    fails_later,
    reads_dir,
    lists_badly
);

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
    let out = Harness::new(emoflow_plugin(), "t.scale")
        .param("factor", 2.0)
        .rows("in", &series(2))
        .run()
        .unwrap();
    let rows: Vec<SeriesRow> = out.rows("out").unwrap();
    assert_eq!(rows[1].values, vec![2.0, 4.0, 6.0]);
    assert!(
        out.logged("scaled rows=2"),
        "tracing events reach the host: {:?}",
        out.logs
    );
    assert_eq!(out.progress, vec![(1, 0), (2, 0)]);
}

#[test]
fn the_description_carries_ports_and_the_parameter_schema() {
    let plugin = ForeignPlugin::from_table(emoflow_plugin(), "test").unwrap();
    let kind = plugin.kind("t.scale").unwrap();
    assert_eq!(kind.inputs[0].port_type, "series");
    assert_eq!(kind.params["properties"]["factor"]["minimum"], 0.0);
    assert_eq!(
        kind.params["properties"]["factor"]["description"],
        "Factor applied to every value."
    );
    assert!(kind.source_file.ends_with("boundary.rs"));
}

#[test]
fn bad_parameters_are_refused_by_name() {
    let err = Harness::new(emoflow_plugin(), "t.scale")
        .param("factr", 2.0)
        .rows("in", &series(1))
        .run()
        .unwrap_err();
    assert!(err.message.contains("unknown field `factr`"), "{err}");
}

#[test]
fn arrow_buffers_cross_the_boundary_without_copies() {
    let batch = SeriesRow::write(&series(3)).unwrap();
    let address = |b: &emoflow_sdk::arrow::record_batch::RecordBatch| {
        b.column_by_name("values")
            .unwrap()
            .as_list::<i32>()
            .values()
            .to_data()
            .buffers()[0]
            .as_ptr()
    };
    let before = address(&batch);
    let out = Harness::new(emoflow_plugin(), "t.pass")
        .input("in", vec![batch])
        .run()
        .unwrap();
    assert_eq!(
        address(&out.batches("out")[0]),
        before,
        "host -> plugin -> host kept the buffer"
    );
}

#[test]
fn a_panic_becomes_an_error_naming_the_kind() {
    let err = Harness::new(emoflow_plugin(), "t.panic").run().unwrap_err();
    assert_eq!(err.code, ErrorCode::Panic);
    assert!(
        err.message.contains("`t.panic` panicked: boom in the node"),
        "{err}"
    );
}

#[test]
fn a_panic_while_streaming_an_output_is_caught_too() {
    let err = Harness::new(emoflow_plugin(), "t.panic_later")
        .run()
        .unwrap_err();
    assert!(err.message.contains("boom while streaming"), "{err}");
}

#[test]
fn an_error_while_streaming_an_output_reaches_the_host_in_the_nodes_own_words() {
    let err = Harness::new(emoflow_plugin(), "t.fails_later")
        .run()
        .unwrap_err();
    assert_eq!(
        err.message,
        "node `test_t_fails_later`, output `out`: dev_1.wav: truncated WAV"
    );
}

#[test]
fn an_output_that_breaks_its_port_type_is_named() {
    let err = Harness::new(emoflow_plugin(), "t.liar").run().unwrap_err();
    assert!(
        err.message.contains("output `out` (port type `series`)"),
        "{err}"
    );
    assert!(err.message.contains("missing column `utt_id`"), "{err}");
}

#[test]
fn a_cancelled_run_stops_with_cancelled() {
    let err = Harness::new(emoflow_plugin(), "t.scale")
        .param("factor", 1.0)
        .rows("in", &series(1))
        .cancelled()
        .run()
        .unwrap_err();
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
    static FUTURE: Head = Head {
        abi_major: ABI_MAJOR + 1,
        struct_size: 8,
    };
    let table = (&FUTURE as *const Head).cast::<FFI_Plugin>();
    // SAFETY: the memory starts with the two leading fields, which are all a
    // host reads from a table of another major.
    let err = unsafe { ForeignPlugin::from_raw(table, std::path::Path::new("libfuture.so")) }
        .unwrap_err();
    let expected = format!(
        "speaks emoflow plugin ABI {}, this emoflow speaks ABI {ABI_MAJOR}",
        ABI_MAJOR + 1
    );
    assert!(
        err.message.contains(&expected) && err.message.contains("libfuture.so"),
        "{err}"
    );
}

/// A fresh directory holding `names`, removed on drop.
struct Dir(std::path::PathBuf);

impl Dir {
    fn with(test: &str, names: &[&str]) -> Dir {
        let dir =
            std::env::temp_dir().join(format!("emoflow-boundary-{}-{test}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        for name in names {
            std::fs::write(dir.join(name), name).unwrap();
        }
        Dir(dir)
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn reads_dir_node(
    plugin: ForeignPlugin,
    dir: &std::path::Path,
) -> emoflow_sdk::foreign::ForeignNode {
    std::sync::Arc::new(plugin)
        .create("t.reads_dir", &serde_json::json!({ "dir": dir }))
        .unwrap()
}

#[test]
fn a_node_declares_the_files_it_will_read_before_it_runs() {
    let dir = Dir::with("declares", &["b.wav", "a.arff", "é ü.wav"]);
    let node = reads_dir_node(
        ForeignPlugin::from_table(emoflow_plugin(), "test").unwrap(),
        &dir.0,
    );
    let expected: Vec<_> = ["a.arff", "b.wav", "é ü.wav"]
        .iter()
        .map(|n| dir.0.join(n))
        .collect();
    assert_eq!(node.input_files().unwrap(), expected);
    // Asked again after a recording is added, the node lists what is there now.
    std::fs::write(dir.0.join("c.wav"), "c").unwrap();
    assert_eq!(node.input_files().unwrap().len(), 4);
}

#[test]
fn a_node_that_declares_nothing_reads_no_files() {
    let plugin = std::sync::Arc::new(ForeignPlugin::from_table(emoflow_plugin(), "test").unwrap());
    let node = plugin
        .create("t.scale", &serde_json::json!({ "factor": 1.0 }))
        .unwrap();
    assert_eq!(
        node.input_files().unwrap(),
        Vec::<std::path::PathBuf>::new()
    );
}

#[test]
fn an_error_or_a_panic_while_listing_files_reaches_the_host_named() {
    let missing = std::env::temp_dir().join("emoflow-boundary-no-such-dir");
    let node = reads_dir_node(
        ForeignPlugin::from_table(emoflow_plugin(), "test").unwrap(),
        &missing,
    );
    let err = node.input_files().unwrap_err();
    assert_eq!(err.code, ErrorCode::Io);
    assert!(
        err.message.starts_with(&missing.display().to_string()),
        "{err}"
    );

    let plugin = std::sync::Arc::new(ForeignPlugin::from_table(emoflow_plugin(), "test").unwrap());
    let err = plugin
        .create("t.lists_badly", &serde_json::json!({}))
        .unwrap()
        .input_files()
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::Panic);
    assert!(
        err.message
            .contains("`t.lists_badly` panicked: boom while listing"),
        "{err}"
    );
}

#[test]
fn a_plugin_of_abi_minor_0_declares_no_files() {
    // The same plugin as a minor-0 build would export it: its table ends
    // before `input_files` and says so in `struct_size`.
    let size = std::mem::offset_of!(FFI_Plugin, input_files);
    let words: &'static mut [u64] = Box::leak(vec![0u64; size / 8].into_boxed_slice());
    let old = words.as_mut_ptr().cast::<u8>();
    // SAFETY: both regions are `size` bytes; the copy is the leading fields of
    // a real table, bytes 4..8 are its `struct_size`, and `abi_minor` lies
    // within the minor-0 fields.
    let table = unsafe {
        std::ptr::copy_nonoverlapping(
            (emoflow_plugin() as *const FFI_Plugin).cast::<u8>(),
            old,
            size,
        );
        old.add(4).cast::<u32>().write(size as u32);
        old.add(std::mem::offset_of!(FFI_Plugin, abi_minor))
            .cast::<u32>()
            .write(0);
        ForeignPlugin::from_raw(
            old.cast::<FFI_Plugin>(),
            std::path::Path::new("libminor0.so"),
        )
        .unwrap()
    };
    let dir = Dir::with("minor0", &["a.wav"]);
    let node = reads_dir_node(table, &dir.0);
    assert_eq!(
        node.input_files().unwrap(),
        Vec::<std::path::PathBuf>::new(),
        "the host never calls a field the table lacks"
    );
}

/// This file's plugin table as a build for ABI minor `minor` would export
/// it, `struct_size` bytes long, leaked for the `'static` a host needs.
fn table_of_minor<T>(
    minor: u32,
    struct_size: usize,
    wrap: impl FnOnce(FFI_Plugin) -> T,
) -> &'static T {
    // SAFETY: the table is plain data (numbers, a static string, function
    // pointers), so a bitwise copy is as valid as the original.
    let mut table = unsafe { std::ptr::read(emoflow_plugin()) };
    table.abi_minor = minor;
    table.struct_size = struct_size as u32;
    Box::leak(Box::new(wrap(table)))
}

/// A table of the next minor: the fields this host knows, then one it does
/// not (a host reads only what it knows).
#[repr(C)]
struct NextMinor {
    known: FFI_Plugin,
    appended: unsafe extern "C" fn() -> u32,
}

unsafe extern "C" fn appended() -> u32 {
    ABI_MINOR + 1
}

#[test]
fn a_plugin_of_a_newer_or_an_older_abi_minor_loads_and_runs() {
    let next = table_of_minor(ABI_MINOR + 1, std::mem::size_of::<NextMinor>(), |known| {
        NextMinor { known, appended }
    });
    let out = Harness::new(&next.known, "t.scale")
        .param("factor", 2.0)
        .rows("in", &series(1))
        .run()
        .unwrap();
    assert_eq!(
        out.rows::<SeriesRow>("out").unwrap()[0].values,
        vec![2.0, 4.0, 6.0]
    );

    // Minor 0: `struct_size` ends before `input_files`, and the host must not
    // call what lies beyond it (here a function that would say so).
    static CALLED: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    unsafe extern "C" fn beyond_the_table(
        _: *mut std::ffi::c_void,
        _: *mut std::ffi::c_void,
        _: emoflow_sdk::ffi::FFI_PushPath,
        _: *mut emoflow_sdk::ffi::FFI_Error,
    ) -> i32 {
        CALLED.store(true, std::sync::atomic::Ordering::SeqCst);
        0
    }
    let old = table_of_minor(
        0,
        std::mem::offset_of!(FFI_Plugin, input_files),
        |mut table| {
            table.input_files = beyond_the_table;
            table
        },
    );
    let out = Harness::new(old, "t.scale")
        .param("factor", 3.0)
        .rows("in", &series(1))
        .run()
        .unwrap();
    assert_eq!(
        out.rows::<SeriesRow>("out").unwrap()[0].values,
        vec![3.0, 6.0, 9.0]
    );
    let dir = Dir::with("minor0-runs", &["a.wav"]);
    let node = reads_dir_node(
        ForeignPlugin::from_table(old, "libminor0.so").unwrap(),
        &dir.0,
    );
    assert_eq!(
        node.input_files().unwrap(),
        Vec::<std::path::PathBuf>::new()
    );
    assert!(
        !CALLED.load(std::sync::atomic::Ordering::SeqCst),
        "the host read past the table's struct_size"
    );
}

#[test]
fn a_table_shorter_than_its_claimed_minor_is_refused_naming_both() {
    // Claims minor 1 (input_files) but ends where minor 0 ends.
    let cut = table_of_minor(1, std::mem::offset_of!(FFI_Plugin, input_files), |t| t);
    let err = ForeignPlugin::from_table(cut, "libcut.so").unwrap_err();
    assert_eq!(err.code, emoflow_sdk::ErrorCode::Invalid);
    assert!(
        err.message.contains("libcut.so")
            && err.message.contains("claims ABI 1.1")
            && err.message.contains("fill in every field"),
        "{}",
        err.message
    );
}
