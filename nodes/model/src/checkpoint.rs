//! Training checkpoints: everything a resumed run needs, in one
//! safetensors file written atomically (temporary file in the same
//! directory, fsync, rename, fsync of the directory), so a killed run leaves
//! either the previous checkpoint or the new one, never a torn file.
//!
//! Tensors: `current/param/NAME`, `current/first/NAME`,
//! `current/second/NAME` (parameters and Adam moments now), the same under
//! `best/` (the state with the best dev CCC so far), and `progress`: the
//! UTF-8 JSON of [`Progress`] as a byte tensor.

use std::collections::HashMap;
use std::fs::{self, File};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tch::{Device, Kind, TchError, Tensor};

use crate::Error;
use crate::adam::{Adam, Moments};
use crate::train::EpochLog;

/// Parameters and Adam state at one point of training.
#[derive(Debug)]
pub struct Snapshot {
    pub parameters: Vec<Tensor>,
    pub moments: Moments,
}

impl Snapshot {
    /// A copy of the optimiser's parameters and moments.
    pub fn capture(adam: &Adam) -> Snapshot {
        Snapshot {
            parameters: adam.parameters().iter().map(Tensor::copy).collect(),
            moments: adam.moments().deep_copy(),
        }
    }

    /// Writes this state back into the live parameters (in place, so the
    /// model's tensors, and cuDNN's flat weight buffer, stay the same
    /// objects) and the optimiser.
    pub fn restore(&self, adam: &mut Adam) -> Result<(), TchError> {
        tch::no_grad(|| {
            for (live, saved) in adam.parameters().iter().zip(&self.parameters) {
                live.shallow_clone().f_copy_(saved)?;
            }
            Ok::<(), TchError>(())
        })?;
        adam.set_moments(self.moments.deep_copy())
    }
}

/// The best state so far.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Best {
    pub epoch: usize,
    pub dev_ccc: f64,
    /// Adam steps taken when this state was reached.
    pub steps: i64,
}

/// Scalar training state.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Progress {
    /// Hash of configuration and data; a checkpoint of another run is refused.
    pub config_hash: String,
    pub epochs_done: usize,
    /// Learning rate of the next epoch.
    pub lr: f64,
    /// Adam steps taken so far.
    pub steps: i64,
    pub best: Option<Best>,
    /// Training has stopped; `best` is the final model.
    pub finished: bool,
    pub log: Vec<EpochLog>,
}

/// A checkpoint read back.
#[derive(Debug)]
pub struct Loaded {
    pub progress: Progress,
    pub current: Snapshot,
    pub best: Option<Snapshot>,
}

fn checkpoint_error(path: &Path, message: impl std::fmt::Display) -> Error {
    Error::Checkpoint {
        path: path.to_path_buf(),
        message: message.to_string(),
    }
}

fn section(
    prefix: &str,
    names: &[String],
    snapshot: (&[Tensor], &Moments),
) -> Vec<(String, Tensor)> {
    let (parameters, moments) = snapshot;
    let parts = [
        ("param", parameters),
        ("first", &moments.first[..]),
        ("second", &moments.second[..]),
    ];
    parts
        .into_iter()
        .flat_map(|(part, tensors)| {
            names.iter().zip(tensors).map(move |(name, tensor)| {
                (
                    format!("{prefix}/{part}/{name}"),
                    tensor.to_device(Device::Cpu).contiguous(),
                )
            })
        })
        .collect()
}

/// Writes a checkpoint of `adam`'s current state, `best` and `progress`.
pub fn write(
    path: &Path,
    adam: &Adam,
    best: Option<&Snapshot>,
    progress: &Progress,
) -> Result<(), Error> {
    let names = adam.names();
    let mut tensors = section("current", names, (adam.parameters(), adam.moments()));
    if let Some(best) = best {
        tensors.extend(section("best", names, (&best.parameters, &best.moments)));
    }
    let json = serde_json::to_vec(progress).map_err(|e| checkpoint_error(path, e))?;
    tensors.push(("progress".into(), Tensor::from_slice(&json)));

    write_atomically(path, |temporary| {
        Ok(Tensor::write_safetensors(&tensors, temporary)?)
    })
}

/// Writes `path` through `write` into `path.tmp` in the same directory,
/// then fsync, rename and fsync of the directory: readers see the old file
/// or the complete new one. The directory is created when missing.
pub fn write_atomically(
    path: &Path,
    write: impl FnOnce(&Path) -> Result<(), Error>,
) -> Result<(), Error> {
    let directory = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let io_error = |source| Error::Io {
        path: path.to_path_buf(),
        source,
    };
    fs::create_dir_all(directory).map_err(io_error)?;
    let mut temporary = PathBuf::from(path);
    temporary.as_mut_os_string().push(".tmp");
    write(&temporary)?;
    File::open(&temporary)
        .and_then(|file| file.sync_all())
        .map_err(io_error)?;
    fs::rename(&temporary, path).map_err(io_error)?;
    File::open(directory)
        .and_then(|dir| dir.sync_all())
        .map_err(io_error)
}

/// Reads the checkpoint at `path` onto `device`, if there is one.
pub fn read(path: &Path, names: &[String], device: Device) -> Result<Option<Loaded>, Error> {
    if !path.exists() {
        return Ok(None);
    }
    let mut tensors: HashMap<String, Tensor> = Tensor::read_safetensors(path)
        .map_err(|e| checkpoint_error(path, e))?
        .into_iter()
        .collect();
    let progress_bytes = tensors
        .remove("progress")
        .filter(|t| t.kind() == Kind::Uint8)
        .ok_or_else(|| checkpoint_error(path, "no progress record"))?;
    let progress_bytes = Vec::<u8>::try_from(progress_bytes)?;
    let progress: Progress =
        serde_json::from_slice(&progress_bytes).map_err(|e| checkpoint_error(path, e))?;
    let mut take = |prefix: &str, part: &str| -> Result<Vec<Tensor>, Error> {
        names
            .iter()
            .map(|name| {
                let key = format!("{prefix}/{part}/{name}");
                let tensor = tensors
                    .remove(&key)
                    .ok_or_else(|| checkpoint_error(path, format!("missing {key}")))?;
                Ok(tensor.to_device(device))
            })
            .collect()
    };
    let mut snapshot = |prefix: &str, steps: i64| -> Result<Snapshot, Error> {
        let parameters = take(prefix, "param")?;
        let first = take(prefix, "first")?;
        let second = take(prefix, "second")?;
        Ok(Snapshot {
            parameters,
            moments: Moments {
                first,
                second,
                steps,
            },
        })
    };
    let current = snapshot("current", progress.steps)?;
    let best = progress
        .best
        .map(|best| snapshot("best", best.steps))
        .transpose()?;
    Ok(Some(Loaded {
        progress,
        current,
        best,
    }))
}
