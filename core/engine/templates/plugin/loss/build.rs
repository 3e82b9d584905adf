// Makes the plugin (and the test binaries) find libtorch without
// LD_LIBRARY_PATH, wherever the library is copied on this machine: torch-sys
// links the libtorch that LIBTORCH names (.cargo/config.toml) but emits no
// runpath, so we add its directory as an absolute one. On another machine,
// emoflow finds libtorch itself (EMOFLOW_LIBTORCH, or the torch of
// EMOFLOW_PYTHON / python3) and loads it before the plugin. libtorch_cuda.so
// is linked past the linker's --as-needed, which would drop it (nothing here
// names a symbol of it), so that CUDA stays available.
// (The checkout's nodes/loss/build.rs does the same with a relative runpath.)

fn main() {
    // torch-sys (links = "tch") publishes the directory it linked against
    // to its direct dependents; hence the torch-sys line in Cargo.toml.
    println!("cargo:rerun-if-env-changed=DEP_TCH_LIBTORCH_LIB");
    let lib = std::env::var("DEP_TCH_LIBTORCH_LIB")
        .expect("torch-sys reports its libtorch directory (DEP_TCH_LIBTORCH_LIB)");
    if std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux") {
        println!("cargo:rustc-link-arg=-Wl,-rpath,{lib}");
        if std::path::Path::new(&lib).join("libtorch_cuda.so").exists() {
            println!("cargo:rustc-link-arg=-Wl,--no-as-needed,-ltorch_cuda,--as-needed");
        }
    }
}
