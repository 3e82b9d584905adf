//! Decoders: class posteriors and a codebook in, one predicted series per
//! utterance and dimension out.
//!
//! A decoder kind has two inputs, `posteriors` and `codebook`, and one
//! output, `predictions` (port type `series`); [`kind_spec`] declares them.
//! What every decoder shares (the paper's steps 2 and 3) is here:
//!
//! * **Codebook lookup** ([`Codebooks`]): the `codebook` rows by dimension
//!   and task, checked (every class `0..num_classes` once, finite means,
//!   finite positive priors).
//! * **Prior scaling** ([`log_scaled_posteriors`]): each frame's posteriors
//!   divided by the class priors and renormalised, in the log domain.
//! * **Reconstruction and the average over tasks** ([`decode_and_average`]):
//!   the class of each frame replaced by its cluster mean, and the tasks of
//!   each (utterance, dimension) averaged with equal weight.
//!
//! A decoder itself only maps one task's log prior-scaled posteriors
//! (frames x classes, row-major) to a class per frame:
//!
//! ```
//! use emoflow_sdk::families::decode::{Codebooks, decode_and_average};
//! use emoflow_sdk::prelude::{CodebookRow, PosteriorsRow, Split};
//!
//! let class = |class: u32, mean: f64| CodebookRow {
//!     dim: "arousal".into(), task: "k2".into(), num_classes: 2, class,
//!     mean, lower: mean - 0.5, upper: mean + 0.5, prior: 0.5,
//! };
//! let codebooks = Codebooks::from_rows(&[class(0, -1.0), class(1, 1.0)])?;
//! let posteriors = [PosteriorsRow {
//!     utt_id: "dev_1".into(), split: Split::Dev, dim: "arousal".into(),
//!     task: "k2".into(), num_classes: 2, frame_period: 0.04,
//!     posteriors: vec![0.9, 0.1, 0.2, 0.8], // 2 frames x 2 classes
//! }];
//! // A decoder: the most likely of the two classes on each frame.
//! let predictions = decode_and_average(&posteriors, &codebooks, &mut |_, _| Ok(()), |row, scores| {
//!     Ok(scores.chunks_exact(row.num_classes as usize).map(|f| u32::from(f[1] > f[0])).collect())
//! })?;
//! assert_eq!(predictions[0].values, vec![-1.0, 1.0]);
//! # Ok::<(), emoflow_sdk::Error>(())
//! ```

use std::collections::{BTreeMap, HashMap};

use crate::conventions::{CodebookRow, PortRows, PosteriorsRow, SeriesRow, port};
use crate::{Context, Error, Inputs, KindSpec, Outputs, Result};

/// A (dimension, task) pair: what codebooks, transitions and models are
/// per.
pub type TaskKey = (String, String);

/// Called before each task row with (row index, row count): the nodes check
/// for cancellation and report progress there.
pub type OnRow<'a> = &'a mut dyn FnMut(usize, usize) -> Result<()>;

/// An [`OnRow`] for a running node.
pub fn node_progress<'c>(ctx: &'c Context<'c>) -> impl FnMut(usize, usize) -> Result<()> + 'c {
    move |row, rows| {
        ctx.check_cancelled()?;
        ctx.progress(row as u64, rows as u64, "decoding");
        Ok(())
    }
}

/// Reads the `posteriors` and `codebook` inputs every decoder has.
pub fn read_decoder_inputs(inputs: &mut Inputs) -> Result<(Vec<PosteriorsRow>, Codebooks)> {
    let codebooks = Codebooks::from_rows(&CodebookRow::read_all(&inputs.batches("codebook")?)?)?;
    Ok((
        PosteriorsRow::read_all(&inputs.batches("posteriors")?)?,
        codebooks,
    ))
}

/// The kind's name, source file and documentation, with the ports every
/// decoder has (`posteriors`, `codebook` in; `predictions` out); add more
/// inputs or `.create(...)`.
pub fn kind_spec(kind: &'static str, source_file: &'static str, doc: &'static str) -> KindSpec {
    KindSpec::new(kind, source_file)
        .doc(doc)
        .input("posteriors", port::POSTERIORS, "class posteriors per task")
        .input(
            "codebook",
            port::CODEBOOK,
            "class means and priors per dimension and task",
        )
        .output(
            "predictions",
            port::SERIES,
            "one series per utterance and dimension",
        )
}

/// The `predictions` output every decoder has.
pub fn predictions_output(rows: &[SeriesRow]) -> Result<Outputs> {
    Ok(Outputs::new().with_batch("predictions", SeriesRow::write(rows)?))
}

/// The classes of one dimension/task, indexed by class.
#[derive(Debug, Clone, PartialEq)]
pub struct Codebook {
    pub means: Vec<f64>,
    pub priors: Vec<f64>,
}

impl Codebook {
    pub fn num_classes(&self) -> usize {
        self.means.len()
    }
}

/// Codebooks by (dimension, task).
#[derive(Debug, Clone, Default)]
pub struct Codebooks {
    by_task: BTreeMap<TaskKey, Codebook>,
}

impl Codebooks {
    /// Checks that every dimension/task lists each class `0..num_classes`
    /// exactly once, with a finite mean and a finite positive prior (prior
    /// scaling divides by it).
    pub fn from_rows(rows: &[CodebookRow]) -> Result<Self> {
        // (mean, prior) per class slot.
        type Slots = Vec<Option<(f64, f64)>>;
        let mut slots: BTreeMap<TaskKey, Slots> = BTreeMap::new();
        for row in rows {
            let what = format!("codebook {}/{} class {}", row.dim, row.task, row.class);
            let slot = slots
                .entry((row.dim.clone(), row.task.clone()))
                .or_insert_with(|| vec![None; row.num_classes as usize]);
            if slot.len() != row.num_classes as usize {
                return Err(Error::data(format!(
                    "{what}: num_classes {} disagrees with {} in an earlier row",
                    row.num_classes,
                    slot.len()
                )));
            }
            let Some(entry) = slot.get_mut(row.class as usize) else {
                return Err(Error::data(format!(
                    "{what}: class index out of range 0..{}",
                    row.num_classes
                )));
            };
            if entry.is_some() {
                return Err(Error::data(format!("{what}: listed twice")));
            }
            if !row.mean.is_finite() {
                return Err(Error::data(format!(
                    "{what}: mean {} is not finite",
                    row.mean
                )));
            }
            if !(row.prior.is_finite() && row.prior > 0.0) {
                return Err(Error::data(format!(
                    "{what}: prior {} must be finite and > 0 (prior scaling divides by it)",
                    row.prior
                )));
            }
            *entry = Some((row.mean, row.prior));
        }
        let mut by_task = BTreeMap::new();
        for ((dim, task), slot) in slots {
            let mut means = Vec::with_capacity(slot.len());
            let mut priors = Vec::with_capacity(slot.len());
            for (class, entry) in slot.into_iter().enumerate() {
                let Some((mean, prior)) = entry else {
                    return Err(Error::data(format!(
                        "codebook {dim}/{task}: class {class} is missing"
                    )));
                };
                means.push(mean);
                priors.push(prior);
            }
            by_task.insert((dim, task), Codebook { means, priors });
        }
        Ok(Self { by_task })
    }

    pub fn get(&self, dim: &str, task: &str) -> Result<&Codebook> {
        match self.by_task.get(&(dim.to_owned(), task.to_owned())) {
            Some(codebook) => Ok(codebook),
            None => Err(Error::data(format!(
                "the codebook has no entry for {dim}/{task}"
            ))),
        }
    }
}

/// Prior scaling in the log domain: `ln(y_f(c) / prior(c) / sum_c' y_f(c') /
/// prior(c'))`, row-major frames x classes. Zero posteriors give `-inf`.
pub fn log_scaled_posteriors(row: &PosteriorsRow, priors: &[f64]) -> Result<Vec<f64>> {
    let k = priors.len();
    let what = || {
        format!(
            "posteriors of utterance {} ({}/{})",
            row.utt_id, row.dim, row.task
        )
    };
    if row.num_classes as usize != k {
        return Err(Error::data(format!(
            "{}: num_classes {} but the codebook has {k} classes",
            what(),
            row.num_classes
        )));
    }
    if k == 0 || !row.posteriors.len().is_multiple_of(k) {
        return Err(Error::data(format!(
            "{}: {} values is not a whole number of frames of {k} classes",
            what(),
            row.posteriors.len()
        )));
    }
    let mut out = Vec::with_capacity(row.posteriors.len());
    for (frame, ys) in row.posteriors.chunks_exact(k).enumerate() {
        let mut total = 0.0;
        for (&y, &prior) in ys.iter().zip(priors) {
            if !(y >= 0.0 && y.is_finite()) {
                return Err(Error::data(format!(
                    "{}: frame {frame} has posterior {y}, not a probability",
                    what()
                )));
            }
            total += f64::from(y) / prior;
        }
        if total <= 0.0 {
            return Err(Error::data(format!(
                "{}: frame {frame} has no probability mass",
                what()
            )));
        }
        let log_total = total.ln();
        out.extend(
            ys.iter()
                .zip(priors)
                .map(|(&y, &prior)| (f64::from(y) / prior).ln() - log_total),
        );
    }
    Ok(out)
}

/// Decodes every task row with `decode` (log prior-scaled posteriors in, one
/// class per frame out), maps classes to their cluster means and averages the
/// tasks of each (utterance, dimension) with equal weight. Output rows follow
/// the first appearance of each (utterance, dimension) in the input.
pub fn decode_and_average(
    posteriors: &[PosteriorsRow],
    codebooks: &Codebooks,
    on_row: OnRow,
    mut decode: impl FnMut(&PosteriorsRow, &[f64]) -> Result<Vec<u32>>,
) -> Result<Vec<SeriesRow>> {
    struct Group {
        series: SeriesRow,
        sum: Vec<f64>,
        tasks: usize,
    }
    let mut groups: Vec<Group> = Vec::new();
    let mut index: HashMap<(&str, &str), usize> = HashMap::new();
    for (i, row) in posteriors.iter().enumerate() {
        on_row(i, posteriors.len())?;
        let codebook = codebooks.get(&row.dim, &row.task)?;
        let emissions = log_scaled_posteriors(row, &codebook.priors)?;
        let classes = decode(row, &emissions)?;
        let frames = emissions.len() / codebook.num_classes();
        debug_assert_eq!(
            classes.len(),
            frames,
            "a decoder returns one class per frame"
        );
        let slot = *index.entry((&row.utt_id, &row.dim)).or_insert_with(|| {
            groups.push(Group {
                series: SeriesRow {
                    utt_id: row.utt_id.clone(),
                    split: row.split,
                    dim: row.dim.clone(),
                    frame_period: row.frame_period,
                    values: Vec::new(),
                },
                sum: vec![0.0; frames],
                tasks: 0,
            });
            groups.len() - 1
        });
        let group = &mut groups[slot];
        if group.series.split != row.split {
            return Err(Error::data(format!(
                "utterance {} ({}): task {} is in split {} but an earlier task is in {}",
                row.utt_id, row.dim, row.task, row.split, group.series.split
            )));
        }
        if group.sum.len() != frames {
            return Err(Error::data(format!(
                "utterance {} ({}): task {} has {frames} frames but an earlier task has {}",
                row.utt_id,
                row.dim,
                row.task,
                group.sum.len()
            )));
        }
        for (acc, &class) in group.sum.iter_mut().zip(&classes) {
            *acc += codebook.means[class as usize];
        }
        group.tasks += 1;
    }
    Ok(groups
        .into_iter()
        .map(|mut group| {
            let tasks = group.tasks as f64;
            group.series.values = group.sum.iter().map(|&s| (s / tasks) as f32).collect();
            group.series
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::conventions::Split;

    fn codebook_rows(dim: &str, task: &str, means: &[f64], priors: &[f64]) -> Vec<CodebookRow> {
        means
            .iter()
            .zip(priors)
            .enumerate()
            .map(|(class, (&mean, &prior))| CodebookRow {
                dim: dim.into(),
                task: task.into(),
                num_classes: means.len() as u32,
                class: class as u32,
                mean,
                lower: mean - 0.1,
                upper: mean + 0.1,
                prior,
            })
            .collect()
    }

    fn posteriors(utt: &str, dim: &str, task: &str, k: u32, values: Vec<f32>) -> PosteriorsRow {
        PosteriorsRow {
            utt_id: utt.into(),
            split: Split::Dev,
            dim: dim.into(),
            task: task.into(),
            num_classes: k,
            frame_period: 0.04,
            posteriors: values,
        }
    }

    #[test]
    fn prior_scaling_divides_by_priors_and_renormalises() {
        let row = posteriors("u", "arousal", "k2", 2, vec![0.6, 0.4]);
        let out = log_scaled_posteriors(&row, &[0.75, 0.25]).unwrap();
        // 0.6/0.75 = 0.8 and 0.4/0.25 = 1.6, renormalised: 1/3 and 2/3.
        assert!((out[0] - (1.0f64 / 3.0).ln()).abs() < 1e-7);
        assert!((out[1] - (2.0f64 / 3.0).ln()).abs() < 1e-7);
    }

    #[test]
    fn prior_scaling_rejects_non_probabilities_naming_the_frame() {
        let row = posteriors("dev_3", "valence", "k2", 2, vec![0.5, 0.5, f32::NAN, 1.0]);
        let err = log_scaled_posteriors(&row, &[0.5, 0.5]).unwrap_err();
        assert!(
            err.message.contains("dev_3") && err.message.contains("frame 1"),
            "{err}"
        );
        let row = posteriors("dev_3", "valence", "k2", 2, vec![0.5, 0.5, 0.5]);
        assert!(log_scaled_posteriors(&row, &[0.5, 0.5]).is_err());
    }

    #[test]
    fn codebook_rejects_missing_duplicate_and_zero_prior_classes() {
        let mut rows = codebook_rows("arousal", "k3", &[-0.1, 0.0, 0.1], &[0.2, 0.5, 0.3]);
        assert!(Codebooks::from_rows(&rows).is_ok());
        let missing = Codebooks::from_rows(&rows[..2]).unwrap_err();
        assert!(missing.message.contains("class 2 is missing"), "{missing}");
        rows[2].class = 1;
        assert!(
            Codebooks::from_rows(&rows)
                .unwrap_err()
                .message
                .contains("twice")
        );
        rows[2].class = 2;
        rows[0].prior = 0.0;
        assert!(
            Codebooks::from_rows(&rows)
                .unwrap_err()
                .message
                .contains("prior")
        );
    }

    #[test]
    fn tasks_are_reconstructed_with_means_and_averaged() {
        let mut rows = codebook_rows("arousal", "k2", &[-1.0, 1.0], &[0.5, 0.5]);
        rows.extend(codebook_rows(
            "arousal",
            "k3",
            &[-0.5, 0.0, 0.5],
            &[0.2, 0.6, 0.2],
        ));
        let codebooks = Codebooks::from_rows(&rows).unwrap();
        let input = vec![
            posteriors("u1", "arousal", "k2", 2, vec![0.9, 0.1, 0.2, 0.8]),
            posteriors("u1", "arousal", "k3", 3, vec![0.1, 0.1, 0.8, 0.7, 0.2, 0.1]),
        ];
        // A decoder that picks the most likely class per frame.
        let out = decode_and_average(&input, &codebooks, &mut |_, _| Ok(()), |row, em| {
            Ok(em
                .chunks_exact(row.num_classes as usize)
                .map(|frame| {
                    (0..frame.len())
                        .max_by(|&a, &b| frame[a].total_cmp(&frame[b]))
                        .unwrap() as u32
                })
                .collect())
        })
        .unwrap();
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].utt_id, "u1");
        assert_eq!(out[0].frame_period, 0.04);
        // Frame 0: k2 -> -1, k3 -> 0.5; frame 1: k2 -> 1, k3 -> -0.5.
        assert_eq!(out[0].values, vec![-0.25, 0.25]);
    }

    #[test]
    fn tasks_of_different_lengths_are_an_error_naming_the_utterance() {
        let mut rows = codebook_rows("valence", "a", &[0.0, 1.0], &[0.5, 0.5]);
        rows.extend(codebook_rows("valence", "b", &[0.0, 1.0], &[0.5, 0.5]));
        let codebooks = Codebooks::from_rows(&rows).unwrap();
        let input = vec![
            posteriors("test_2", "valence", "a", 2, vec![0.5; 4]),
            posteriors("test_2", "valence", "b", 2, vec![0.5; 6]),
        ];
        let err = decode_and_average(&input, &codebooks, &mut |_, _| Ok(()), |_, em| {
            Ok(vec![0; em.len() / 2])
        })
        .unwrap_err();
        assert!(
            err.message.contains("test_2") && err.message.contains("3 frames"),
            "{err}"
        );
    }
}
