//! The graph loader of the engine (`emoflow_engine::graph::load`) and the
//! steps after it that need no plugins: the `[test]` preset, `${param}`
//! substitution, sweep expansion, and the rendering of every diagnostic.
//! Errors (diagnostics) are fine; a panic is a bug.
//!
//! Each input is written to `<scratch>/paper/fuzz.toml`, where `<scratch>` is
//! a per-process directory holding a copy of the repository's
//! `graphs/common/`, so that `extends = "../common/frontend.toml"` (as the
//! paper graphs write it) composes with real fragments.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use emoflow_engine::diag::{self, Diagnostic, Sources};
use emoflow_engine::{graph, sweep};
use libfuzzer_sys::fuzz_target;

// A single allocation above 2 GiB is a crash (see fuzz/src/lib.rs).
#[global_allocator]
static ALLOC: emoflow_fuzz::LimitedAlloc = emoflow_fuzz::LimitedAlloc;

fn scratch() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("emoflow-fuzz-graph-{}", std::process::id()));
        let common = dir.join("common");
        std::fs::create_dir_all(&common).expect("create the scratch dir");
        std::fs::create_dir_all(dir.join("paper")).expect("create the scratch dir");
        let repo_common = Path::new(env!("CARGO_MANIFEST_DIR")).join("../graphs/common");
        if let Ok(entries) = std::fs::read_dir(&repo_common) {
            for entry in entries.flatten() {
                let _ = std::fs::copy(entry.path(), common.join(entry.file_name()));
            }
        }
        dir.join("paper/fuzz.toml")
    })
}

fn render(sources: &Sources, diags: &[Diagnostic]) {
    if !diags.is_empty() {
        let _ = diag::render(sources, diags, false);
    }
}

fuzz_target!(|data: &[u8]| {
    // `extends` may name any path; keep the fuzzer off device and kernel
    // files (reading /dev/zero or /dev/stdin would hang, not crash).
    let lower = data.to_ascii_lowercase();
    if [&b"/dev"[..], b"/proc", b"/sys"].iter().any(|p| lower.windows(p.len()).any(|w| w == *p)) {
        return;
    }
    let path = scratch();
    std::fs::write(path, data).expect("write the scratch file");
    let mut sources = Sources::default();
    let mut graph = match graph::load(path, &mut sources) {
        Ok(g) => g,
        Err(diags) => return render(&sources, &diags),
    };
    let mut diags = graph::apply_test_preset(&mut graph);
    diags.extend(graph::substitute_params(&mut graph));
    if let Some(node) = graph.nodes.first() {
        let _ = graph::suggest_node(&graph, &format!("{}x", node.name.name));
    }
    match sweep::expand(&mut graph) {
        Ok(_) => {}
        Err(d) => diags.extend(d),
    }
    render(&sources, &diags);
});
