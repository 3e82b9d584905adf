// The plugin library finds libtorch without LD_LIBRARY_PATH and keeps CUDA
// support: build.rs adds an rpath and links libtorch_cuda.so past the
// linker's --as-needed. nodes/loss and nodes/model share build.rs and this
// test (nodes/model/tests/linking.rs includes it).

use std::path::{Path, PathBuf};
use std::process::Command;

/// The libtorch lib directory the build linked (build.rs reports it).
fn libtorch_lib() -> PathBuf {
    Path::new(env!("EMOFLOW_LIBTORCH_LIB"))
        .canonicalize()
        .expect("libtorch lib directory")
}

/// `readelf -d` of the given ELF file.
fn dynamic_section(file: &Path) -> String {
    let output = Command::new("readelf")
        .arg("-d")
        .arg(file)
        .output()
        .expect("readelf");
    assert!(output.status.success(), "readelf -d {}", file.display());
    String::from_utf8(output.stdout).unwrap()
}

/// The cdylib plugin of this package, which cargo built beside this test
/// binary.
fn plugin_library() -> PathBuf {
    let file = format!("lib{}.so", env!("CARGO_PKG_NAME").replace('-', "_"));
    let deps = std::env::current_exe()
        .unwrap()
        .parent()
        .unwrap()
        .to_path_buf();
    let library = deps.join(&file);
    assert!(library.exists(), "{file} next to the test binary");
    library
}

#[test]
fn plugin_needs_libtorch_cuda_and_has_a_relative_rpath_to_libtorch() {
    let elf = dynamic_section(&plugin_library());
    if libtorch_lib().join("libtorch_cuda.so").exists() {
        assert!(elf.contains("Shared library: [libtorch_cuda.so]"), "{elf}");
    }
    let lib = libtorch_lib();
    let origin = plugin_library().parent().unwrap().to_path_buf();
    let runpaths: Vec<&str> = elf
        .lines()
        .filter(|l| l.contains("(RUNPATH)") || l.contains("(RPATH)"))
        .flat_map(|l| l.split(['[', ']', ':']).filter(|p| p.contains('/')))
        .collect();
    assert!(
        runpaths.iter().all(|p| p.starts_with("$ORIGIN/")),
        "only paths relative to the library, so that a moved tree still finds libtorch: {runpaths:?}"
    );
    let resolves = runpaths.iter().any(|p| {
        let path = origin.join(p.trim_start_matches("$ORIGIN/"));
        path.canonicalize().is_ok_and(|p| p == lib)
    });
    assert!(resolves, "no runpath leads to {}:\n{elf}", lib.display());
}

/// Set in the child process of the test below.
const CHILD: &str = "EMOFLOW_LINKING_CHILD";

#[test]
fn libtorch_cuda_is_loaded_in_a_process_without_ld_library_path() {
    if !libtorch_lib().join("libtorch_cuda.so").exists() {
        return; // a CPU-only libtorch has nothing to keep
    }
    if std::env::var_os(CHILD).is_none() {
        // cargo test puts libtorch on LD_LIBRARY_PATH; rerun this test in a
        // process without it, so only the rpath can find libtorch.
        let name = "libtorch_cuda_is_loaded_in_a_process_without_ld_library_path";
        let output = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", name, "--test-threads=1"])
            .env_remove("LD_LIBRARY_PATH")
            .env(CHILD, "1")
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("1 passed"),
            "child without LD_LIBRARY_PATH failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
        return;
    }
    let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
    assert!(
        maps.contains("libtorch_cuda.so"),
        "libtorch_cuda.so not loaded"
    );
    // libtorch works in this process.
    assert_eq!(
        tch::Tensor::from_slice(&[1f32, 2.])
            .sum(tch::Kind::Float)
            .double_value(&[]),
        3.0
    );
}
