//! The WAV reading path of nodes/audio: `emoflow_audio::wav::read_wav` (what
//! the file sources' `wav_audio_row` calls) and `read_wav_info`. Both take a
//! path, so each input is written to one scratch file per process. Errors are
//! fine; a panic is a bug.
#![no_main]

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use emoflow_audio::wav;
use libfuzzer_sys::fuzz_target;

// A single allocation above 2 GiB is a crash (see fuzz/src/lib.rs).
#[global_allocator]
static ALLOC: emoflow_fuzz::LimitedAlloc = emoflow_fuzz::LimitedAlloc;

fn scratch() -> &'static Path {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| std::env::temp_dir().join(format!("emoflow-fuzz-wav-{}.wav", std::process::id())))
}

fuzz_target!(|data: &[u8]| {
    std::fs::write(scratch(), data).expect("write the scratch file");
    let _ = wav::read_wav_info(scratch());
    if let Ok(audio) = wav::read_wav(scratch()) {
        let _ = audio.duration_seconds();
    }
});
