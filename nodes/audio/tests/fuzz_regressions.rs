//! Regression tests for inputs the fuzz targets (`fuzz/`, `scripts/fuzz.sh`)
//! found: each feeds the input to the reader and asserts a clean error.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::path::Path;

use emoflow_audio::wav::read_wav;

// ---- the largest allocation a test made --------------------------------------

/// The system allocator, recording per thread the largest single request (each
/// test runs on its own thread), so that a test can assert that a reader did
/// not reserve memory a header merely claims.
struct Watch;

thread_local! {
    static LARGEST: Cell<usize> = const { Cell::new(0) };
}

fn note(size: usize) {
    let _ = LARGEST.try_with(|l| l.set(l.get().max(size)));
}

// SAFETY: forwards every call to `System` unchanged.
unsafe impl GlobalAlloc for Watch {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: the caller's contract for this method is `System`'s.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        note(layout.size());
        // SAFETY: the caller's contract for this method is `System`'s.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract for this method is `System`'s.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        note(new_size);
        // SAFETY: the caller's contract for this method is `System`'s.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Watch = Watch;

/// Runs `f` and returns its result with the largest allocation it made.
fn largest_allocation<T>(f: impl FnOnce() -> T) -> (T, usize) {
    LARGEST.with(|l| l.set(0));
    let out = f();
    (out, LARGEST.with(Cell::get))
}

// ---- WAV --------------------------------------------------------------------

/// A RIFF/WAVE file whose `data` chunk declares `data_len` bytes but holds
/// only `held` zero bytes.
fn wav_with_declared_data(format: u16, bits: u16, data_len: u32, held: usize) -> Vec<u8> {
    let channels: u16 = 1;
    let rate: u32 = 8000;
    let block = channels * bits / 8;
    let mut fmt = Vec::new();
    fmt.extend_from_slice(&format.to_le_bytes());
    fmt.extend_from_slice(&channels.to_le_bytes());
    fmt.extend_from_slice(&rate.to_le_bytes());
    fmt.extend_from_slice(&(rate * u32::from(block)).to_le_bytes());
    fmt.extend_from_slice(&block.to_le_bytes());
    fmt.extend_from_slice(&bits.to_le_bytes());
    let mut out = Vec::new();
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&data_len.saturating_add(36).to_le_bytes());
    out.extend_from_slice(b"WAVE");
    out.extend_from_slice(b"fmt ");
    out.extend_from_slice(&(fmt.len() as u32).to_le_bytes());
    out.extend_from_slice(&fmt);
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    out.extend(std::iter::repeat_n(0u8, held));
    out
}

/// `read_wav` must refuse a WAV whose header declares far more samples than
/// the file holds, without first reserving memory for all of them: found by
/// the `wav` fuzz target, `Vec::with_capacity(declared)` in `wav::collect`
/// reserves 4 bytes per declared sample (16 GiB for a 60-byte file), which
/// aborts the whole process ("memory allocation of 17179869120 bytes failed")
/// wherever the kernel does not overcommit that much, and no `catch_unwind`
/// in a plugin shim can turn an abort into an error.
fn assert_refused_without_reserving(name: &str, bytes: &[u8]) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join(name);
    std::fs::write(&path, bytes).unwrap();
    let (result, largest) = largest_allocation(|| read_wav(&path));
    let err = result.expect_err("the file cannot hold the samples its header declares");
    let message = err.to_string();
    assert!(
        message.starts_with(&format!("{}: truncated WAV", path.display())),
        "unexpected error: {message}"
    );
    let file_len = bytes.len();
    assert!(
        largest <= 64 * 1024 * 1024,
        "read_wav reserved {largest} bytes at once for a {file_len}-byte file \
         (its header declares more samples than the file holds)"
    );
}

#[test]
fn wav_8bit_header_declaring_4g_samples_is_refused_without_reserving_16_gib() {
    let bytes = wav_with_declared_data(1, 8, 0xFFFF_FFF0, 16);
    assert_eq!(bytes.len(), 60);
    assert_refused_without_reserving("huge_8bit.wav", &bytes);
}

#[test]
fn wav_float_header_declaring_1g_samples_is_refused_without_reserving_4_gib() {
    let bytes = wav_with_declared_data(3, 32, 0xFFFF_FFF0, 16);
    assert_refused_without_reserving("huge_float.wav", &bytes);
}

#[test]
fn an_honest_small_wav_still_reads() {
    // The guard above must not cost the normal path: 4 samples, all there.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ok.wav");
    std::fs::write(&path, wav_with_declared_data(1, 16, 8, 8)).unwrap();
    let audio = read_wav(Path::new(&path)).unwrap();
    assert_eq!(audio.samples, vec![0.0; 4]);
}

#[test]
fn the_allocation_watch_sees_a_large_reservation() {
    // The guard in the tests above is only as good as the watch.
    let (v, largest) = largest_allocation(|| Vec::<u8>::with_capacity(100 << 20));
    drop(v);
    assert!(largest >= 100 << 20, "largest allocation seen: {largest}");
}
