//! `emoflow plugin check LIB`: conformance of a built plugin.
//!
//! Loads the library (the ABI handshake), checks its description, then runs
//! every kind on fixtures generated from its declared input port types and
//! parameter schema. Every output must match its port type; every input
//! buffer handed to the plugin must be released by the time the node is
//! destroyed (a plugin that keeps one leaks memory owned by the host). A
//! node bug fails the kind whatever the fixtures: a panic, an undeclared
//! port read or written, a declared output not produced. A node may refuse
//! the fixtures themselves (a source needs a real directory): that is a
//! note. Parameters come from the schema's defaults and declared examples,
//! or `--params`; a required parameter with neither is not invented: the
//! kind is skipped, saying which.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use arrow::array::{ArrayRef, make_array};
use arrow::buffer::Buffer;
use arrow::record_batch::{RecordBatch, RecordBatchIterator};
use serde_json::Value;

use emoflow_sdk::conventions::{
    AudioRow, ClassesRow, CodebookRow, FeatureRow, FileRow, LossRow, MetricRow, PortRows,
    PosteriorsRow, SeriesRow, Split, port,
};
use emoflow_sdk::describe::KindDescription;
use emoflow_sdk::foreign::{ForeignPlugin, Host, InputStream, RunSettings};
use emoflow_sdk::{ErrorCode, NODE_BUG};

/// One finding per kind: the problems (none: it passed), or why it could
/// not be run (`skipped`), and a note on what ran.
pub struct KindResult {
    pub kind: String,
    pub problems: Vec<String>,
    pub skipped: Option<String>,
    pub note: String,
}

/// Checks every kind of the plugin at `path`; `params` gives parameters
/// for kinds by name (over the schema's defaults and examples).
pub fn check(path: &Path, params: &BTreeMap<String, Value>) -> Result<Vec<KindResult>, String> {
    let plugin = Arc::new(ForeignPlugin::load(path).map_err(|e| e.message)?);
    let mut results = Vec::new();
    for kind in &plugin.description().kinds {
        let mut result = KindResult {
            kind: kind.kind.clone(),
            problems: describe_problems(kind),
            skipped: None,
            note: String::new(),
        };
        if kind.tensor_fn {
            result.note = "tensor function: described; call it from a trainer to test it".into();
        } else {
            match fixture_params(&kind.params, params.get(&kind.kind)) {
                Err(why) => result.skipped = Some(why),
                Ok(params) => match run_on_fixtures(&plugin, kind, &params) {
                    Ok(note) => result.note = note,
                    Err(problem) => result.problems.push(problem),
                },
            }
        }
        results.push(result);
    }
    Ok(results)
}

fn describe_problems(kind: &KindDescription) -> Vec<String> {
    let mut problems = Vec::new();
    if !kind.kind.contains('.') {
        problems.push(format!("kind `{}` should be FAMILY.NAME", kind.kind));
    }
    for (what, ports) in [("input", &kind.inputs), ("output", &kind.outputs)] {
        for (i, p) in ports.iter().enumerate() {
            if ports[..i].iter().any(|q| q.name == p.name) {
                problems.push(format!("{what} port `{}` is declared twice", p.name));
            }
            if what == "output" && p.port_type == port::ANY {
                problems.push(format!(
                    "output `{}` has type `any`, which only inputs may use",
                    p.name
                ));
            }
        }
    }
    if kind.params.get("type").and_then(Value::as_str) != Some("object") {
        problems.push("the parameter schema is not an object schema".into());
    }
    problems
}

/// Counts live fixture buffers: each input buffer owns a token that
/// decrements the count when the last reference to it is released.
struct Token(Arc<AtomicUsize>);

impl Drop for Token {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Rebuilds an array on buffers the checker tracks (copies of the data).
fn tracked(array: &ArrayRef, live: &Arc<AtomicUsize>) -> ArrayRef {
    let data = array.to_data();
    let buffers: Vec<Buffer> = data
        .buffers()
        .iter()
        .map(|b| {
            live.fetch_add(1, Ordering::SeqCst);
            let bytes = bytes_of(b);
            let owner = Arc::new((bytes, Token(live.clone())));
            let ptr = std::ptr::NonNull::new(owner.0.as_ptr() as *mut u8)
                .expect("a Vec's pointer is never null");
            // SAFETY: `owner` keeps the bytes alive and unmoved as long as the
            // buffer (and every slice of it) exists.
            unsafe { Buffer::from_custom_allocation(ptr, owner.0.len(), owner) }
        })
        .collect();
    let children: Vec<_> = data
        .child_data()
        .iter()
        .map(|c| tracked(&make_array(c.clone()), live).to_data())
        .collect();
    let rebuilt = data
        .into_builder()
        .buffers(buffers)
        .child_data(children)
        .build()
        .expect("same layout");
    make_array(rebuilt)
}

fn bytes_of(b: &Buffer) -> Vec<u8> {
    let mut v = b.as_slice().to_vec();
    // Keep an allocation even for empty buffers so the pointer is real.
    v.reserve(1);
    v
}

/// A small valid batch of a port type, or `None` for types without
/// conventions (a plugin's own, `table`, `any`). Long as a table is: one
/// arm per port type.
pub fn fixture(port_type: &str) -> Option<RecordBatch> {
    let utt = |i: usize| {
        (
            format!("{}_{}", ["train", "dev", "test"][i % 3], i / 3 + 1),
            Split::ALL[i % 3],
        )
    };
    let batch = match port_type {
        port::AUDIO => AudioRow::write(
            &(0..3)
                .map(|i| AudioRow {
                    utt_id: utt(i).0,
                    split: utt(i).1,
                    sample_rate: 16000,
                    samples: (0..16000).map(|t| (t as f32 * 0.05).sin() * 0.1).collect(),
                })
                .collect::<Vec<_>>(),
        ),
        port::FEATURES => FeatureRow::write(
            &(0..3)
                .map(|i| FeatureRow {
                    utt_id: utt(i).0,
                    split: utt(i).1,
                    dims: 4,
                    frame_period: 0.04,
                    frames: (0..100)
                        .map(|t| ((t * (i + 1)) as f32 * 0.1).sin())
                        .collect(),
                })
                .collect::<Vec<_>>(),
        ),
        port::SERIES => SeriesRow::write(
            &(0..6)
                .map(|i| SeriesRow {
                    utt_id: utt(i % 3).0,
                    split: utt(i % 3).1,
                    dim: ["arousal", "valence"][i / 3].into(),
                    frame_period: 0.04,
                    values: (0..25)
                        .map(|t| ((t + i) as f32 * 0.3).sin() * 0.5)
                        .collect(),
                })
                .collect::<Vec<_>>(),
        ),
        port::CLASSES => ClassesRow::write(
            &(0..3)
                .map(|i| ClassesRow {
                    utt_id: utt(i).0,
                    split: utt(i).1,
                    dim: "arousal".into(),
                    task: "k4".into(),
                    num_classes: 4,
                    classes: (0..25).map(|t| ((t / 5 + i) % 4) as u32).collect(),
                })
                .collect::<Vec<_>>(),
        ),
        port::POSTERIORS => PosteriorsRow::write(
            &(0..3)
                .map(|i| PosteriorsRow {
                    utt_id: utt(i).0,
                    split: utt(i).1,
                    dim: "arousal".into(),
                    task: "k4".into(),
                    num_classes: 4,
                    frame_period: 0.04,
                    posteriors: (0..100)
                        .map(|j| if j % 4 == (j / 20 + i) % 4 { 0.7 } else { 0.1 })
                        .collect(),
                })
                .collect::<Vec<_>>(),
        ),
        port::CODEBOOK => CodebookRow::write(
            &(0..4u32)
                .map(|c| CodebookRow {
                    dim: "arousal".into(),
                    task: "k4".into(),
                    num_classes: 4,
                    class: c,
                    mean: -0.3 + 0.2 * c as f64,
                    lower: if c == 0 {
                        f64::NEG_INFINITY
                    } else {
                        -0.4 + 0.2 * c as f64
                    },
                    upper: if c == 3 {
                        f64::INFINITY
                    } else {
                        -0.2 + 0.2 * c as f64
                    },
                    prior: 0.25,
                })
                .collect::<Vec<_>>(),
        ),
        port::METRICS => MetricRow::write(&[MetricRow::new("ccc", "arousal", "dev", 0.5)]),
        port::FILES => FileRow::write(&[FileRow {
            path: "fixture.csv".into(),
            format: "csv".into(),
        }]),
        port::LOSS => LossRow::write(&[LossRow {
            kind: "loss.mse".into(),
            params: "{}".into(),
        }]),
        _ => return None,
    };
    Some(batch.expect("fixtures follow the conventions"))
}

/// The parameters to run a kind with: `given` (from `--params`), then for
/// each required parameter not given, its declared default, example
/// (`#[schemars(example = ...)]`) or first allowed value. A required
/// parameter with none of these is an error naming it: an invented value
/// would test nothing the author meant.
fn fixture_params(schema: &Value, given: Option<&Value>) -> Result<Value, String> {
    let mut params = given
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let props = schema.get("properties").and_then(Value::as_object);
    for name in schema
        .get("required")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
    {
        if params.contains_key(name) {
            continue;
        }
        let declared = props.and_then(|p| p.get(name)).and_then(|sub| {
            sub.get("default")
                .or_else(|| sub.get("examples").and_then(|e| e.get(0)))
                .or_else(|| sub.get("enum").and_then(|e| e.get(0)))
        });
        let Some(value) = declared else {
            return Err(format!(
                "required parameter `{name}` has no default or example: declare one \
                 (#[schemars(example = ...)]) or pass --params KIND='{{\"{name}\": ...}}'"
            ));
        };
        params.insert(name.to_string(), value.clone());
    }
    Ok(Value::Object(params))
}

struct Quiet;

impl Host for Quiet {
    fn log(&self, _: tracing::Level, _: &str, _: &str) {}
    fn progress(&self, _: u64, _: u64, _: &str) {}
}

fn run_on_fixtures(
    plugin: &Arc<ForeignPlugin>,
    kind: &KindDescription,
    params: &Value,
) -> Result<String, String> {
    let live = Arc::new(AtomicUsize::new(0));
    let mut inputs: Vec<Option<InputStream>> = Vec::new();
    for p in &kind.inputs {
        match fixture(&p.port_type) {
            Some(batch) => {
                let columns = batch.columns().iter().map(|c| tracked(c, &live)).collect();
                let batch = RecordBatch::try_new(batch.schema(), columns).expect("same schema");
                let schema = batch.schema();
                inputs.push(Some(Box::new(RecordBatchIterator::new(
                    vec![Ok(batch)],
                    schema,
                ))));
            }
            None if p.optional => inputs.push(None),
            None => {
                return Ok(format!(
                    "not run: input `{}` has port type `{}`, for which there is no generic fixture",
                    p.name, p.port_type
                ));
            }
        }
    }
    let dir = std::env::temp_dir().join(format!(
        "emoflow-plugin-check-{}-{}",
        std::process::id(),
        kind.kind
    ));
    let _ = std::fs::create_dir_all(&dir);
    let settings = RunSettings {
        node_name: format!("check_{}", kind.kind.replace('.', "_")),
        device: "cpu".into(),
        threads: 1,
        artifact_dir: dir.clone(),
        cancel: Arc::new(AtomicBool::new(false)),
    };
    // A node may refuse generic fixtures (a source needs a real directory);
    // that is a note. A panic, a node bug or output that breaks its port
    // type fails.
    let refused = |stage: &str, e: emoflow_sdk::Error| {
        let bug = [emoflow_sdk::foreign::CONVENTIONS_BROKEN, NODE_BUG]
            .iter()
            .any(|m| e.message.contains(m));
        if e.code == ErrorCode::Panic || bug {
            Err(format!("{stage}: {e}"))
        } else {
            Ok(format!("refused the fixtures at {stage}: {e}"))
        }
    };
    let outcome = (|| {
        let mut node = match plugin.create(&kind.kind, params) {
            Ok(node) => node,
            Err(e) => return refused("create", e),
        };
        let outputs = match node.run(&Quiet, &settings, inputs) {
            Ok(outputs) => outputs,
            Err(e) => return refused("run", e),
        };
        let mut rows = Vec::new();
        for stream in outputs {
            let port = stream.port().to_string();
            let mut n = 0;
            for batch in stream {
                n += batch
                    .map_err(|e| format!("output `{port}`: {e}"))?
                    .num_rows();
            }
            rows.push(format!("{port}: {n} rows"));
        }
        drop(node);
        Ok(format!(
            "ran on fixtures with {params}: {}",
            rows.join(", ")
        ))
    })();
    let _ = std::fs::remove_dir_all(&dir);
    let note = outcome?;
    let leaked = live.load(Ordering::SeqCst);
    if leaked > 0 {
        return Err(format!(
            "{leaked} input Arrow buffers were never released after the node was destroyed"
        ));
    }
    Ok(note)
}
