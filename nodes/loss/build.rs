// Makes this crate's linked artifacts (cdylib plugin, tests, benches) find
// libtorch on their own and keep CUDA support.
//
// * rpath: torch-sys links against the libtorch it was pointed at (the
//   project's `.venv`, see `.cargo/config.toml`) but emits no rpath, so the
//   artifacts would need LD_LIBRARY_PATH. We add the same directory as a
//   runpath; a machine with libtorch elsewhere can still override it with
//   LD_LIBRARY_PATH.
// * CUDA: nothing of ours references a symbol of libtorch_cuda.so, so the
//   linker's default `--as-needed` drops it, and CUDA then reads as
//   unavailable at run time. We link it with `--no-as-needed` when the
//   libtorch build has it.
//
// nodes/model/build.rs includes this file, so both crates link alike.

use std::path::Path;

fn main() {
    // This file, from nodes/loss and from nodes/model (which includes it).
    println!("cargo:rerun-if-changed=../loss/build.rs");
    println!("cargo:rerun-if-changed=build.rs");
    // torch-sys (links = "tch") publishes the directory it linked against.
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let Ok(lib_dir) = std::env::var("DEP_TCH_LIBTORCH_LIB") else {
        panic!("torch-sys did not report its libtorch directory (DEP_TCH_LIBTORCH_LIB)");
    };
    if !std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux") {
        return;
    }
    println!("cargo:rustc-link-arg=-Wl,-rpath,{lib_dir}");
    // For the tests that check the linking (nodes/model/tests/linking.rs).
    println!("cargo:rustc-env=EMOFLOW_LIBTORCH_LIB={lib_dir}");
    if Path::new(&lib_dir).join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}
