//! Sweeps of trainings in parallel: each training runs in a worker process
//! with the threads its graph fixes, so `--jobs` changes how fast a sweep
//! runs and never what it computes; Ctrl-C stops every worker and keeps
//! the checkpoints; a killed worker fails its node alone.

use std::collections::BTreeMap;
use std::time::Duration;

use emoflow_faults::{
    Scratch, alive, entries_ending, graph, run, run_command, signal, status, stderr, wait_for,
    worker_pids,
};

/// Every metric value, by node, dim and split.
fn metrics(report: &serde_json::Value) -> BTreeMap<String, f64> {
    report["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                format!("{} {} {}", m["node"], m["dim"], m["split"]),
                m["value"].as_f64().unwrap(),
            )
        })
        .collect()
}

/// The model nodes of a report with the bytes of their `values` output.
fn model_values(report: &serde_json::Value) -> BTreeMap<String, Vec<u8>> {
    models(report)
        .map(|(name, node)| {
            let dir = std::path::Path::new(
                node["outputs"]
                    .as_str()
                    .expect("a model that ran has outputs"),
            );
            (
                name.clone(),
                std::fs::read(dir.join("values.arrow")).unwrap(),
            )
        })
        .collect()
}

fn models(report: &serde_json::Value) -> impl Iterator<Item = (&String, &serde_json::Value)> {
    report["nodes"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, n)| n["kind"] == "model.blstm")
}

/// Each model node's (start, end) in seconds since its run began.
fn spans(report: &serde_json::Value) -> Vec<(f64, f64)> {
    models(report)
        .map(|(_, n)| {
            let start = n["started"].as_f64().unwrap();
            (start, start + n["seconds"].as_f64().unwrap())
        })
        .collect()
}

fn overlapping(spans: &[(f64, f64)]) -> bool {
    spans
        .iter()
        .enumerate()
        .any(|(i, a)| spans[i + 1..].iter().any(|b| a.0 < b.1 && b.0 < a.1))
}

#[test]
fn jobs_1_and_jobs_2_train_bit_identical_models_and_tables() {
    let (one, two) = (
        Scratch::new("sched", "jobs1"),
        Scratch::new("sched", "jobs2"),
    );
    let (out1, r1) = run(&graph("train_sweep.toml"), &one, &["--jobs", "1"]);
    assert!(out1.status.success(), "{}", stderr(&out1));
    let (out2, r2) = run(&graph("train_sweep.toml"), &two, &["--jobs", "2"]);
    assert!(out2.status.success(), "{}", stderr(&out2));

    assert_eq!(model_values(&r1).len(), 4, "four trainings");
    assert_eq!(
        model_values(&r1),
        model_values(&r2),
        "the same predictions, byte for byte"
    );
    assert_eq!(metrics(&r1), metrics(&r2));
    assert_eq!(r1["sweep"]["selected"], r2["sweep"]["selected"]);
    let table = |dir: &Scratch| std::fs::read(dir.join("out/table/table.md")).unwrap();
    assert_eq!(table(&one), table(&two), "the same table, byte for byte");

    // Each training ran in a worker process on the one thread its graph fixes.
    for report in [&r1, &r2] {
        for (name, node) in models(report) {
            assert_eq!(node["threads"], 1, "{name}");
            assert!(
                node["worker"]["peak_rss_bytes"].as_u64().unwrap() > 0,
                "{name}: {node}"
            );
            assert!(
                node["worker"]["cpu_seconds"].as_f64().unwrap() > 0.0,
                "{name}: {node}"
            );
        }
        assert!(report["utilisation"]["busy_core_seconds"].as_f64().unwrap() > 0.0);
    }
    assert!(
        !overlapping(&spans(&r1)),
        "--jobs 1 runs one training at a time: {:?}",
        spans(&r1)
    );
    // Longest work first: every training starts before the first metric.
    let starts = |kind: &str| -> Vec<f64> {
        r1["nodes"]
            .as_object()
            .unwrap()
            .values()
            .filter(|n| n["kind"] == kind)
            .map(|n| n["started"].as_f64().unwrap())
            .collect()
    };
    let last_training = starts("model.blstm").into_iter().fold(0.0, f64::max);
    let first_metric = starts("metric.ccc")
        .into_iter()
        .fold(f64::INFINITY, f64::min);
    assert!(
        last_training < first_metric,
        "trainings start first: {last_training} vs {first_metric}"
    );
    assert!(
        overlapping(&spans(&r2)),
        "--jobs 2 runs two trainings at once: {:?}",
        spans(&r2)
    );
    assert_eq!(r2["utilisation"]["jobs"], 2);
}

/// A sweep made long enough to be stopped part-way.
const LONG: [&str; 4] = [
    "--set",
    "model.stage1_epochs=1000",
    "--set",
    "model.max_epochs=1000",
];

#[test]
fn ctrl_c_stops_every_worker_keeps_the_checkpoints_and_cancels_what_never_started() {
    let dir = Scratch::new("sched", "ctrl-c");
    let mut child = run_command(&graph("train_sweep.toml"), &dir)
        .args(["--jobs", "2"])
        .args(LONG)
        .spawn()
        .unwrap();
    let workers = wait_for(
        Duration::from_secs(120),
        "two trainings in worker processes",
        || Some(worker_pids(child.id())).filter(|w| w.len() == 2),
    );
    let checkpoints = || {
        entries_ending(&dir.join("cache"), ".partial")
            .into_iter()
            .flat_map(|p| entries_ending(&p.join("artifacts"), ".safetensors"))
            .filter(|c| {
                c.file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .starts_with("checkpoint-")
            })
            .count()
    };
    wait_for(
        Duration::from_secs(120),
        "both trainings' first checkpoints",
        || (checkpoints() == 2).then_some(()),
    );

    // Only the parent gets the signal, as from `kill -INT`: it stops the workers.
    signal(child.id(), "INT");
    let exited = wait_for(Duration::from_secs(60), "the run to stop", || {
        child.try_wait().unwrap()
    });
    assert_eq!(exited.code(), Some(1));
    for pid in workers {
        assert!(!alive(pid), "worker {pid} still runs after the run stopped");
    }
    assert_eq!(
        checkpoints(),
        2,
        "the checkpoints a rerun resumes from are kept"
    );
    let report = emoflow_faults::report(&dir);
    assert_eq!(report["status"], "cancelled");
    let statuses: Vec<&str> = models(&report)
        .map(|(name, _)| status(&report, name))
        .collect();
    assert_eq!(statuses, ["cancelled"; 4], "two stopped, two never started");
    assert_eq!(status(&report, "table"), "cancelled");
    assert_eq!(status(&report, "corpus"), "ran");
}

#[test]
fn a_killed_worker_fails_its_node_alone_naming_it() {
    let dir = Scratch::new("sched", "killed");
    let mut child = run_command(&graph("train_sweep.toml"), &dir)
        .args(["--jobs", "1"])
        .spawn()
        .unwrap();
    let worker = wait_for(
        Duration::from_secs(120),
        "a training in a worker process",
        || worker_pids(child.id()).first().copied(),
    );
    signal(worker, "KILL");
    let exited = wait_for(Duration::from_secs(120), "the run to end", || {
        child.try_wait().unwrap()
    });
    assert_eq!(exited.code(), Some(1), "a node failed");

    let report = emoflow_faults::report(&dir);
    let failed: Vec<(&String, &serde_json::Value)> = models(&report)
        .filter(|(_, n)| n["status"] == "failed")
        .collect();
    assert_eq!(
        failed.len(),
        1,
        "only the killed worker's node failed: {report}"
    );
    let (name, node) = failed[0];
    let error = node["error"].as_str().unwrap();
    assert!(
        error.contains(&format!(
            "the worker process of node `{name}` (pid {worker}) was killed by signal 9"
        )),
        "{error}"
    );
    assert_eq!(
        models(&report)
            .filter(|(_, n)| n["status"] == "ran")
            .count(),
        3,
        "the other trainings ran"
    );
    assert_eq!(
        status(&report, "table"),
        "ran",
        "the selection took the trials that finished"
    );
}

#[test]
fn a_rule_that_selects_nothing_fails_only_the_nodes_that_read_it() {
    let dir = Scratch::new("sched", "rules");
    let (out, report) = run(&graph("rules.toml"), &dir, &[]);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert_eq!(
        status(&report, "total"),
        "ran",
        "reads only the rule that selected: {err}"
    );
    assert_eq!(report["sweep"]["selected"]["sum"]["arousal"], "offset=-1.0");
    assert_eq!(status(&report, "broken_total"), "failed");
    let error = report["nodes"]["broken_total"]["error"].as_str().unwrap();
    assert!(
        error.contains("no trial produced metric `sum` on split `train` at node `broken_sum`"),
        "{error}"
    );
}
