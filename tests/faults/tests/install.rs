//! Installing elsewhere: a built tree moved to another directory, and the
//! standard plugins copied where their runpath cannot reach libtorch (the
//! release bundle's layout), find libtorch and train; `emoflow doctor` says
//! what it found or what is missing.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use emoflow_faults::{Scratch, bin_dir, graph, repo_root, stderr};

/// Copies the `emoflow` binary and the standard plugins into `to`.
fn copy_build(to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(bin_dir()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_str().unwrap();
        if name == "emoflow" || (name.starts_with("libemoflow_") && name.ends_with(".so")) {
            std::fs::copy(&path, to.join(name)).unwrap();
        }
    }
}

/// `DIR/emoflow` with nothing in the environment that would find libtorch
/// for it (cargo's test runner puts it on LD_LIBRARY_PATH).
fn emoflow_in(dir: &Path) -> Command {
    let mut command = Command::new(dir.join("emoflow"));
    command
        .env_remove("LD_LIBRARY_PATH")
        .env_remove("EMOFLOW_LIBTORCH")
        .env_remove("EMOFLOW_PLUGIN_PATH")
        .env("EMOFLOW_PYTHON", "/nonexistent/python3");
    command
}

fn train(command: &mut Command, dir: &Scratch) -> Output {
    command
        .arg("run")
        .arg(graph("train.toml"))
        .arg("--out")
        .arg(dir.join("out"))
        .arg("--cache")
        .arg(dir.join("cache"))
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn venv() -> PathBuf {
    repo_root()
        .join(".venv")
        .canonicalize()
        .expect("the project's .venv (scripts/setup-venv.sh)")
}

#[test]
fn a_moved_tree_still_finds_libtorch_and_trains() {
    let dir = Scratch::new("install", "moved");
    let bin = dir.join("elsewhere/target/release");
    copy_build(&bin);
    // The clone moved with its venv.
    std::os::unix::fs::symlink(venv(), dir.join("elsewhere/.venv")).unwrap();

    let out = train(&mut emoflow_in(&bin), &dir);
    assert!(out.status.success(), "{}", stderr(&out));
    let report = emoflow_faults::report(&dir);
    assert_eq!(emoflow_faults::status(&report, "model"), "ran");

    let doctor = emoflow_in(&bin).arg("doctor").output().unwrap();
    let text = stdout(&doctor);
    assert!(doctor.status.success(), "{text}");
    assert!(
        text.contains("ok   libtorch  2.11.0") && text.contains("(the plugins' runpath)"),
        "{text}"
    );
    // Without a GPU, the CUDA runtime's reason; with one, the devices.
    assert!(
        text.contains("ok   cuda      no CUDA device: ") || text.contains(" device(s); cuda:0 "),
        "{text}"
    );
}

#[test]
fn plugins_away_from_libtorch_use_the_one_they_are_pointed_at() {
    let dir = Scratch::new("install", "bundle");
    let bin = dir.join("bundle/bin");
    copy_build(&bin);

    // Nothing points at libtorch: doctor names what is missing, and a
    // graph with a model fails before running, pointing at doctor.
    let doctor = emoflow_in(&bin).arg("doctor").output().unwrap();
    let text = stdout(&doctor);
    assert_eq!(doctor.status.code(), Some(1), "{text}");
    assert!(
        text.contains("FAIL libtorch") && text.contains("libtorch_cpu.so"),
        "{text}"
    );
    assert!(
        text.contains("EMOFLOW_PYTHON=/nonexistent/python3 cannot run"),
        "{text}"
    );
    let out = train(&mut emoflow_in(&bin), &dir);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("unknown node kind `model.blstm`")
            && stderr(&out).contains("emoflow doctor"),
        "{}",
        stderr(&out)
    );

    // Pointed at torch's directory, or at a Python that has torch: it trains.
    let torch = venv().join("lib/python3.11/site-packages/torch");
    let out = train(emoflow_in(&bin).env("EMOFLOW_LIBTORCH", &torch), &dir);
    assert!(out.status.success(), "{}", stderr(&out));
    let doctor = emoflow_in(&bin)
        .env("EMOFLOW_PYTHON", venv().join("bin/python3"))
        .arg("doctor")
        .output()
        .unwrap();
    assert!(doctor.status.success(), "{}", stdout(&doctor));
    assert!(stdout(&doctor).contains("2.11.0"), "{}", stdout(&doctor));
}
