//! The Slurm executor against a single-node Slurm on 127.0.0.1
//! (`scripts/slurm-local.sh start`, which installs and starts it; needs
//! root or sudo): a sweep run through Slurm ends with the same trials,
//! selection and metrics as the local executor.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn start_slurm() {
    let started = Command::new(root().join("scripts/slurm-local.sh"))
        .arg("start")
        .status()
        .unwrap();
    assert!(
        started.success(),
        "could not start the local Slurm (scripts/slurm-local.sh start)"
    );
}

/// Runs emoflow, stopping it (and cancelling its jobs) after four minutes,
/// so that a Slurm that cannot run jobs fails the test with its state
/// instead of hanging it.
fn emoflow_run(graph: &Path, executor: &str, dir: &Path) -> std::process::Output {
    let exe = Path::new(env!("CARGO_BIN_EXE_emoflow"));
    std::fs::create_dir_all(dir).unwrap();
    let (stdout, stderr) = (dir.join("stdout"), dir.join("stderr"));
    let mut child = Command::new(exe)
        .arg("--plugin-path")
        .arg(exe.parent().unwrap())
        .arg("run")
        .arg(graph)
        .args(["--executor", executor, "--out"])
        .arg(dir.join("out"))
        .arg("--cache")
        .arg(dir.join("cache"))
        .stdout(std::fs::File::create(&stdout).unwrap())
        .stderr(std::fs::File::create(&stderr).unwrap())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(240);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > deadline {
            child.kill().unwrap();
            child.wait().unwrap();
            let jobs = Command::new("squeue")
                .args(["-h", "-o", "%i %j %T %r"])
                .output();
            // The jobs are named after the graph, which is named after its file.
            let name = graph.file_stem().unwrap().to_str().unwrap();
            for job in [format!("emoflow-{name}"), format!("emoflow-{name}-trials")] {
                let _ = Command::new("scancel")
                    .arg(format!("--name={job}"))
                    .status();
            }
            panic!(
                "emoflow run --executor {executor} did not finish within 240 s; stderr:\n{}\nsqueue:\n{}",
                std::fs::read_to_string(&stderr).unwrap_or_default(),
                jobs.map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                    .unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    std::process::Output {
        status,
        stdout: std::fs::read(&stdout).unwrap(),
        stderr: std::fs::read(&stderr).unwrap(),
    }
}

/// A graph of the engine's tests.
fn graph(name: &str) -> PathBuf {
    root().join("core/engine/tests/graphs").join(name)
}

fn run(graph: &Path, executor: &str, dir: &Path) -> serde_json::Value {
    let out = emoflow_run(graph, executor, dir);
    assert!(
        out.status.success(),
        "{executor}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&std::fs::read(dir.join("out/run.json")).unwrap()).unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("emoflow-slurm-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

/// Metrics as (node, name, dim, split, value), sorted.
fn metrics(report: &serde_json::Value) -> Vec<String> {
    let mut all: Vec<String> = report["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            format!(
                "{} {} {} {} {}",
                m["node"], m["name"], m["dim"], m["split"], m["value"]
            )
        })
        .collect();
    all.sort();
    all
}

#[test]
fn a_sweep_on_slurm_selects_the_same_trial_with_the_same_metrics_as_locally() {
    start_slurm();
    let base = scratch("same");

    let local = run(&graph("sweep.toml"), "local", &base.join("local"));
    let slurm = run(&graph("sweep.toml"), "slurm", &base.join("slurm"));

    assert_eq!(slurm["sweep"]["selected"], local["sweep"]["selected"]);
    assert_eq!(slurm["sweep"]["trials"], local["sweep"]["trials"]);
    assert_eq!(metrics(&slurm), metrics(&local));
    // The trials ran as array tasks: one log and one run.json each.
    for t in 0..local["sweep"]["trials"].as_array().unwrap().len() {
        assert!(base.join(format!("slurm/out/slurm/trial-{t}.log")).exists());
        let trial: serde_json::Value = serde_json::from_slice(
            &std::fs::read(base.join(format!("slurm/out/trials/{t}/run.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(trial["status"], "ok");
    }
    // The final job found every trial node in the shared cache.
    for (name, node) in slurm["nodes"].as_object().unwrap() {
        if name != "total" {
            assert_eq!(node["status"], "cached", "{name}");
        }
    }
    std::fs::remove_dir_all(&base).unwrap();
}

#[test]
fn failed_trials_on_slurm_are_named_with_their_logs_and_the_run_exits_1() {
    start_slurm();
    let dir = scratch("failed");
    let out = emoflow_run(&graph("fail_sweep.toml"), "slurm", &dir);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    for (t, id) in [(0, "offset=1.0"), (1, "offset=2.0")] {
        assert!(err.contains(&format!("trial {t} ({id}) failed")), "{err}");
        assert!(err.contains(&format!("trial-{t}.log")), "{err}");
    }
    assert!(
        err.contains("utterance `train_3` has no frames"),
        "the log's error is shown: {err}"
    );
    assert!(
        !dir.join("out/run.json").exists(),
        "no final report without the trials"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

/// Trainings give the same models wherever they run: the fault suite's
/// training sweep (four trainings, one thread each as its graph fixes) on
/// Slurm array tasks and locally in worker processes.
#[test]
fn trainings_on_slurm_give_the_same_models_and_table_as_locally() {
    start_slurm();
    let base = scratch("train");
    let sweep = root().join("tests/faults/graphs/train_sweep.toml");

    let local = run(&sweep, "local", &base.join("local"));
    let slurm = run(&sweep, "slurm", &base.join("slurm"));

    assert_eq!(metrics(&slurm), metrics(&local));
    assert_eq!(slurm["sweep"]["selected"], local["sweep"]["selected"]);
    let table = |run: &str| std::fs::read(base.join(run).join("out/table/table.md")).unwrap();
    assert_eq!(
        table("slurm"),
        table("local"),
        "the same table, byte for byte"
    );
    std::fs::remove_dir_all(&base).unwrap();
}
