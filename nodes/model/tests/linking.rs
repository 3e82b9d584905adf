//! The library finds libtorch without LD_LIBRARY_PATH and keeps CUDA
//! support: build.rs adds an rpath and links libtorch_cuda.so past the
//! linker's --as-needed. (Shared with nodes/loss, whose build.rs this is.)

use std::path::{Path, PathBuf};
use std::process::Command;

/// The libtorch lib directory the build linked (build.rs reports it).
fn libtorch_lib() -> PathBuf {
    Path::new(env!("EMOFLOW_LIBTORCH_LIB")).canonicalize().expect("libtorch lib directory")
}

/// `readelf -d` of the given ELF file.
fn dynamic_section(file: &Path) -> String {
    let output = Command::new("readelf").arg("-d").arg(file).output().expect("readelf");
    assert!(output.status.success(), "readelf -d {}", file.display());
    String::from_utf8(output.stdout).unwrap()
}

/// The cdylib plugin cargo built beside this test binary.
fn plugin_library() -> PathBuf {
    let deps = std::env::current_exe().unwrap().parent().unwrap().to_path_buf();
    [deps.join("libemoflow_model.so"), deps.join("../libemoflow_model.so")]
        .into_iter()
        .find(|p| p.exists())
        .expect("libemoflow_model.so next to the test binary")
}

#[test]
fn plugin_needs_libtorch_cuda_and_has_an_rpath_to_libtorch() {
    let elf = dynamic_section(&plugin_library());
    if libtorch_lib().join("libtorch_cuda.so").exists() {
        assert!(elf.contains("Shared library: [libtorch_cuda.so]"), "{elf}");
    }
    let lib = libtorch_lib();
    let has_rpath = elf
        .lines()
        .filter(|l| l.contains("(RUNPATH)") || l.contains("(RPATH)"))
        .any(|l| l.split(['[', ']', ':']).any(|p| Path::new(p).canonicalize().is_ok_and(|p| p == lib)));
    assert!(has_rpath, "no rpath to {}:\n{elf}", lib.display());
}

#[test]
fn libtorch_cuda_is_loaded_in_a_process_without_ld_library_path() {
    if !libtorch_lib().join("libtorch_cuda.so").exists() {
        return; // a CPU-only libtorch has nothing to keep
    }
    let search_path = std::env::var("LD_LIBRARY_PATH").unwrap_or_default();
    assert!(!search_path.contains("torch"), "run without LD_LIBRARY_PATH pointing at libtorch");
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    assert!(maps.contains("libtorch_cuda.so"), "libtorch_cuda.so not loaded");
    // Touch libtorch so the test fails if the library were not usable.
    assert_eq!(tch::Tensor::from_slice(&[1f32, 2.]).sum(tch::Kind::Float).double_value(&[]), 3.0);
}
