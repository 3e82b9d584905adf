// Makes this crate's linked artifacts (cdylib plugin, tests, benches) find
// libtorch on their own and keep CUDA support.
//
// * rpath: torch-sys links against the libtorch it was pointed at (the
//   project's `.venv`, see `.cargo/config.toml`) but emits no rpath, so the
//   artifacts would need LD_LIBRARY_PATH. We add that directory as a
//   runpath relative to the artifact (`$ORIGIN/...`), for the artifacts in
//   the profile directory and for those one level below it (deps/,
//   examples/): the built tree keeps working when the clone moves. No
//   absolute path is baked in; other layouts (a release bundle, a copy on
//   a cluster) point the host at a PyTorch installation instead
//   (EMOFLOW_LIBTORCH or EMOFLOW_PYTHON, see core/engine/src/libtorch.rs).
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
    // OUT_DIR is PROFILE/build/PKG-HASH/out.
    let out_dir = std::env::var("OUT_DIR").expect("cargo sets OUT_DIR");
    let profile = Path::new(&out_dir)
        .ancestors()
        .nth(3)
        .expect("OUT_DIR is inside the profile directory");
    let relative = relative_path(profile, Path::new(&lib_dir));
    println!(
        "cargo:rustc-link-arg=-Wl,-rpath,$ORIGIN/{0}:$ORIGIN/../{0}",
        relative.display()
    );
    // For the tests that check the linking (nodes/model/tests/linking.rs).
    println!("cargo:rustc-env=EMOFLOW_LIBTORCH_LIB={lib_dir}");
    if Path::new(&lib_dir).join("libtorch_cuda.so").exists() {
        println!("cargo:rustc-link-arg=-Wl,--no-as-needed");
        println!("cargo:rustc-link-arg=-ltorch_cuda");
        println!("cargo:rustc-link-arg=-Wl,--as-needed");
    }
}

/// `to` relative to the directory `from` (both made absolute and resolved).
fn relative_path(from: &Path, to: &Path) -> std::path::PathBuf {
    let (from, to) = (
        from.canonicalize().expect("the profile directory exists"),
        to.canonicalize().expect("libtorch's directory exists"),
    );
    let common = from
        .components()
        .zip(to.components())
        .take_while(|(a, b)| a == b)
        .count();
    let up = from
        .components()
        .skip(common)
        .map(|_| std::path::Component::ParentDir);
    up.chain(to.components().skip(common)).collect()
}
