//! A training run killed with SIGKILL part-way: the rerun resumes from the
//! last checkpoint and ends where an uninterrupted run ends.

use std::time::Duration;

use emoflow_faults::{Scratch, entries_ending, graph, run, run_command, status, stderr, wait_for};

fn metrics(report: &serde_json::Value) -> Vec<(String, String, f64)> {
    report["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["dim"].to_string(),
                m["split"].to_string(),
                m["value"].as_f64().unwrap(),
            )
        })
        .collect()
}

#[test]
fn training_killed_after_a_checkpoint_resumes_to_the_uninterrupted_result() {
    let whole = Scratch::new("faults", "train-whole");
    let (out, uninterrupted) = run(&graph("train.toml"), &whole, &[]);
    assert!(out.status.success(), "{}", stderr(&out));

    let dir = Scratch::new("faults", "train-killed");
    let mut child = run_command(&graph("train.toml"), &dir).spawn().unwrap();
    let checkpoint = wait_for(Duration::from_secs(120), "a training checkpoint", || {
        entries_ending(&dir.join("cache"), ".partial")
            .into_iter()
            .flat_map(|p| entries_ending(&p.join("artifacts"), ".safetensors"))
            .find(|c| {
                c.file_name()
                    .unwrap()
                    .to_str()
                    .unwrap()
                    .starts_with("checkpoint-")
            })
    });
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(checkpoint.exists(), "the checkpoint survives the kill");

    let (out, resumed) = run(&graph("train.toml"), &dir, &[]);
    let err = stderr(&out);
    assert!(out.status.success(), "{err}");
    assert_eq!(status(&resumed, "model"), "ran");
    assert!(
        err.contains("resuming after epoch"),
        "the rerun resumed rather than started over: {err}"
    );
    assert_eq!(
        metrics(&resumed),
        metrics(&uninterrupted),
        "resumed and uninterrupted training agree"
    );
}
