//! The ARFF reader of nodes/audio (`emoflow_audio::arff::Arff::parse`) and,
//! for text that parses, the gold-standard reader on top of it
//! (`avec2016::read_gold_standard`, which takes a path). Errors are fine;
//! a panic is a bug.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use emoflow_audio::arff::Arff;
use libfuzzer_sys::fuzz_target;

// A single allocation above 2 GiB is a crash (see fuzz/src/lib.rs).
#[global_allocator]
static ALLOC: emoflow_fuzz::LimitedAlloc = emoflow_fuzz::LimitedAlloc;

/// One scratch file per fuzzing process.
fn scratch() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| std::env::temp_dir().join(format!("emoflow-fuzz-arff-{}.arff", std::process::id())))
}

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let parsed = Arff::parse(&text, Path::new("fuzz.arff"));
    if let Ok(arff) = &parsed {
        let _ = arff.attribute_index("frameTime");
    }
    // The file path on text that parses: the AVEC column, frame-time and
    // label-value checks.
    if parsed.is_ok() && std::str::from_utf8(data).is_ok() {
        std::fs::write(scratch(), data).expect("write the scratch file");
        let _ = emoflow_audio::avec2016::read_gold_standard(
            scratch(),
            emoflow_audio::corpus::DEFAULT_LABEL_RANGE,
        );
    }
});
