//! `emoflow run --executor slurm`: a sweep's trials as one Slurm job array,
//! then the whole graph as a job that depends on it (`afterok`).
//!
//! Every job is `emoflow run` against one shared cache directory: array
//! task I runs trial I (`--trial I`) and caches its nodes; the final job
//! runs the whole graph, finds every trial in the cache, selects and runs
//! the reports, and writes `OUT/run.json` as a local run would. A rerun
//! submits the same jobs, which find finished trials in the cache.
//! The cache and the output directory must be on a filesystem every node
//! sees.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::error::{Error, Result};
use crate::graph::{Sv, V};
use crate::validate::Plan;

/// What the jobs run and where.
pub struct SlurmJob<'a> {
    pub plan: &'a Plan,
    /// `emoflow [--plugin-path DIR]... run GRAPH [--set ...] [--preset-test]
    /// --cache DIR --device D --jobs N`, absolute paths.
    pub run_args: Vec<String>,
    pub out: PathBuf,
    /// sbatch options from the command line, after the graph's `[slurm]`.
    pub sbatch: Vec<String>,
}

/// sbatch options from a graph's `[slurm]` table.
pub fn graph_options(slurm: Option<&Sv>) -> Result<Vec<String>> {
    let Some(slurm) = slurm else {
        return Ok(Vec::new());
    };
    let table = slurm
        .as_table()
        .ok_or_else(|| Error::Usage("[slurm] must be a table".into()))?;
    let mut options = Vec::new();
    for (key, value) in table {
        let text = |v: &Sv| match &v.v {
            V::Str(s) => Ok(s.clone()),
            V::Int(i) => Ok(i.to_string()),
            _ => Err(Error::Usage(format!(
                "[slurm] `{}` must be a string or an integer",
                key.name
            ))),
        };
        let flag = match key.name.as_str() {
            "partition" | "account" | "time" | "mem" | "gres" | "qos" | "constraint" => {
                key.name.clone()
            }
            "cpus_per_task" => "cpus-per-task".into(),
            "options" => {
                let V::Array(items) = &value.v else {
                    return Err(Error::Usage(
                        "[slurm] `options` must be a list of sbatch options".into(),
                    ));
                };
                for item in items {
                    options.push(text(item)?);
                }
                continue;
            }
            other => {
                return Err(Error::Usage(format!(
                    "unknown key `{other}` in [slurm]: partition, account, time, mem, gres, qos, \
                     constraint, cpus_per_task, or options = [\"--raw-sbatch-option\"]"
                )));
            }
        };
        options.push(format!("--{flag}={}", text(value)?));
    }
    Ok(options)
}

/// Submits and waits; true when the final job wrote an `ok` run.json.
pub fn run(job: &SlurmJob) -> Result<bool> {
    let dir = job.out.join("slurm");
    std::fs::create_dir_all(&dir)
        .map_err(|e| Error::Slurm(format!("cannot create {}: {e}", dir.display())))?;
    // The final job's run.json is the verdict (`sbatch --wait` exits 0 for
    // a job cancelled before it started), so an old one must not linger.
    let report = job.out.join("run.json");
    if report.exists() {
        std::fs::remove_file(&report)
            .map_err(|e| Error::Slurm(format!("cannot replace {}: {e}", report.display())))?;
    }
    let trials = job.plan.sweep.as_ref().map_or(0, |s| s.trials.len());
    let command = job
        .run_args
        .iter()
        .map(|a| quote(a))
        .collect::<Vec<_>>()
        .join(" ");
    let name = format!("emoflow-{}", job.plan.graph.name);

    let mut dependency = Vec::new();
    if trials > 0 {
        let script = write_script(
            &dir.join("trials.sh"),
            &format!(
                "exec {command} --out {}/\"$SLURM_ARRAY_TASK_ID\" --trial \"$SLURM_ARRAY_TASK_ID\"",
                quote(&job.out.join("trials").display().to_string())
            ),
        )?;
        let id = sbatch(
            &[
                format!("--job-name={name}-trials"),
                format!("--array=0-{}", trials - 1),
                format!("--output={}", dir.join("trial-%a.log").display()),
            ],
            &job.sbatch,
            &script,
        )?;
        eprintln!("submitted {trials} trials as job array {id}");
        dependency = vec![
            format!("--dependency=afterok:{id}"),
            "--kill-on-invalid-dep=yes".into(),
        ];
    }
    let script = write_script(
        &dir.join("final.sh"),
        &format!(
            "exec {command} --out {}",
            quote(&job.out.display().to_string())
        ),
    )?;
    let mut args = vec![
        format!("--job-name={name}"),
        format!("--output={}", dir.join("final.log").display()),
        "--wait".into(),
    ];
    args.extend(dependency);
    eprintln!("submitted the selection and reports; waiting for the jobs");
    sbatch_wait(&args, &job.sbatch, &script)?;
    let ok = status_of(&report).as_deref() == Some("ok");
    if !ok {
        report_failures(job, trials, &dir);
    }
    Ok(ok)
}

/// The `status` of a run.json, if it was written.
fn status_of(report: &Path) -> Option<String> {
    let json: serde_json::Value = serde_json::from_slice(&std::fs::read(report).ok()?).ok()?;
    json["status"].as_str().map(str::to_string)
}

fn write_script(path: &Path, body: &str) -> Result<PathBuf> {
    let text = format!("#!/bin/sh\n# Written by `emoflow run --executor slurm`.\n{body}\n");
    emoflow_sdk::files::write_atomic(path, text.as_bytes())
        .map_err(|e| Error::Slurm(format!("cannot write {}: {e}", path.display())))?;
    Ok(path.to_path_buf())
}

fn sbatch(args: &[String], extra: &[String], script: &Path) -> Result<String> {
    let out = Command::new("sbatch")
        .arg("--parsable")
        .args(args)
        .args(extra)
        .arg(script)
        .output()
        .map_err(|e| {
            Error::Slurm(format!(
                "cannot run sbatch ({e}): is Slurm installed and on PATH?"
            ))
        })?;
    if !out.status.success() {
        return Err(Error::Slurm(format!(
            "sbatch refused the job: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    // `--parsable` prints `ID` or `ID;CLUSTER`.
    let text = String::from_utf8_lossy(&out.stdout);
    Ok(text
        .trim()
        .split(';')
        .next()
        .unwrap_or_default()
        .to_string())
}

fn sbatch_wait(args: &[String], extra: &[String], script: &Path) -> Result<()> {
    Command::new("sbatch")
        .arg("--parsable")
        .args(args)
        .args(extra)
        .arg(script)
        .stdout(std::process::Stdio::null())
        .status()
        .map_err(|e| {
            Error::Slurm(format!(
                "cannot run sbatch ({e}): is Slurm installed and on PATH?"
            ))
        })?;
    Ok(())
}

/// Names the trials that failed, with their logs.
fn report_failures(job: &SlurmJob, trials: usize, dir: &Path) {
    for t in 0..trials {
        let status = status_of(&job.out.join("trials").join(t.to_string()).join("run.json"));
        if status.as_deref() == Some("ok") {
            continue;
        }
        let id = &job.plan.sweep.as_ref().unwrap().trials[t].id;
        let log = dir.join(format!("trial-{t}.log"));
        eprintln!(
            "error: trial {t} ({id}) {}; its log, {}:",
            status.as_deref().unwrap_or("did not finish"),
            log.display()
        );
        eprintln!("{}", tail(&log, 20));
    }
    let log = dir.join("final.log");
    if log.exists() {
        eprintln!(
            "the final job's log, {}:\n{}",
            log.display(),
            tail(&log, 20)
        );
    } else {
        eprintln!("the final job did not run (a trial failed, so its dependency could not be met)");
    }
}

fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| format!("(cannot read: {e})"));
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..]
        .iter()
        .map(|l| format!("    {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Single-quoted for sh.
fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}
