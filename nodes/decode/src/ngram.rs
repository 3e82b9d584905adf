//! The emotion language model of paper step 3: an n-gram model over region
//! labels `B(l)` (runs of identical frame labels collapsed), one per
//! dimension/task, with sentence boundaries `<s>` and `</s>`.
//!
//! Estimator: interpolated Witten-Bell (Chen & Goodman 1998), the estimator
//! of SRILM's `ngram-count -wbdiscount -interpolate`:
//!
//! ```text
//! p(w | h) = (c(h w) + T(h) p(w | h')) / (c(h) + T(h))
//! ```
//!
//! with `c(h) = sum_w c(h w)`, `T(h)` the number of distinct words seen after
//! `h`, `h'` = `h` without its first word, and the unigram level interpolated
//! with the uniform distribution over the `K` classes and `</s>`. For an
//! unseen `h w` this is `bow(h) p(w | h')` with `bow(h) = T(h) / (c(h) +
//! T(h))`, so the model is exactly an ARPA back-off model. Every n-gram seen
//! in training is kept (no count cut-offs; SRILM drops singleton 3-grams and
//! up by default: pass `-gt3min 1 -gt4min 1` to compare), and every class
//! is a unigram even when unseen (a closed vocabulary, SRILM's `-vocab`).

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch, StringArray, UInt32Array};
use arrow::datatypes::{DataType, Field, Schema, UInt32Type};
use emoflow_sdk::conventions::{ClassesRow, PortRows, Split, port};
use emoflow_sdk::{Context, Error, FittedExport, Inputs, KindSpec, Node, Outputs};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::arpa::{BOS_LOG10_PROB, Entry, MAX_ORDER, NgramLm, Token, Vocab, backoff_log10_prob};
use crate::common::TaskKey;
use crate::error::Result;

/// `B(l)`: the label of each run of identical frame labels.
pub fn regions(classes: &[u32]) -> Vec<u32> {
    let mut out = classes.to_vec();
    out.dedup();
    out
}

/// Trains an interpolated Witten-Bell model of `order` on `sentences` (class
/// tokens without boundaries; these are added).
pub fn train_witten_bell<'a>(
    sentences: impl IntoIterator<Item = &'a [Token]>,
    vocab: Vocab,
    order: usize,
) -> Result<NgramLm> {
    if !(1..=MAX_ORDER).contains(&order) {
        return Err(Error::invalid(format!(
            "n-gram order {order} is outside 1..={MAX_ORDER}"
        )));
    }
    let mut counts: HashMap<Vec<Token>, u64> = HashMap::new();
    let mut padded = Vec::new();
    for sentence in sentences {
        if let Some(&bad) = sentence
            .iter()
            .find(|&&t| t as usize >= vocab.num_classes())
        {
            return Err(Error::data(format!(
                "class {bad} out of range 0..{}",
                vocab.num_classes()
            )));
        }
        padded.clear();
        padded.push(vocab.bos());
        padded.extend_from_slice(sentence);
        padded.push(vocab.eos());
        // Every n-gram that ends in a predicted word (all but <s>).
        for end in 1..padded.len() {
            for n in 1..=order.min(end + 1) {
                *counts
                    .entry(padded[end + 1 - n..=end].to_vec())
                    .or_insert(0) += 1;
            }
        }
    }
    // c(h) and T(h) for every context h.
    let mut contexts: HashMap<&[Token], (u64, u64)> = HashMap::new();
    for (ngram, &count) in &counts {
        let stats = contexts.entry(&ngram[..ngram.len() - 1]).or_insert((0, 0));
        stats.0 += count;
        stats.1 += 1;
    }
    let Some(&(total, types)) = contexts.get([].as_slice()) else {
        return Err(Error::data("no training sentences"));
    };
    let log10_bow = |ngram: &[Token]| match contexts.get(ngram) {
        Some(&(count, types)) => (types as f64 / (count + types) as f64).log10(),
        None => 0.0,
    };

    let mut entries: HashMap<Vec<Token>, Entry> = HashMap::new();
    let uniform = 1.0 / (vocab.num_classes() + 1) as f64;
    for word in (0..vocab.num_classes() as Token).chain([vocab.eos()]) {
        let count = counts.get([word].as_slice()).copied().unwrap_or(0);
        let p = (count as f64 + types as f64 * uniform) / (total + types) as f64;
        entries.insert(
            vec![word],
            Entry {
                log10_prob: p.log10(),
                log10_bow: log10_bow(&[word]),
            },
        );
    }
    entries.insert(
        vec![vocab.bos()],
        Entry {
            log10_prob: BOS_LOG10_PROB,
            log10_bow: log10_bow(&[vocab.bos()]),
        },
    );

    // Order by order, so that p(w | h') is final when order n needs it.
    let mut ngrams: Vec<(&Vec<Token>, u64)> = counts.iter().map(|(g, &c)| (g, c)).collect();
    ngrams.sort_unstable_by_key(|(g, _)| (g.len(), (*g).clone()));
    for n in 2..=order {
        let computed: Vec<(Vec<Token>, Entry)> = ngrams
            .iter()
            .filter(|(g, _)| g.len() == n)
            .map(|&(ngram, count)| {
                let (history, word) = (&ngram[..n - 1], ngram[n - 1]);
                let (context_count, context_types) = contexts[history];
                let lower = 10f64.powf(backoff_log10_prob(&entries, n - 1, &history[1..], word));
                let p = (count as f64 + context_types as f64 * lower)
                    / (context_count + context_types) as f64;
                (
                    ngram.clone(),
                    Entry {
                        log10_prob: p.log10(),
                        log10_bow: log10_bow(ngram),
                    },
                )
            })
            .collect();
        entries.extend(computed);
    }
    NgramLm::new(vocab, order, entries)
}

/// One model per dimension/task of `classes`, trained on the region label
/// sequences of the rows whose split is in `splits`.
pub fn train_per_task(
    classes: &[ClassesRow],
    splits: &[Split],
    order: usize,
) -> Result<Vec<(TaskKey, NgramLm)>> {
    let mut grouped: BTreeMap<TaskKey, (usize, Vec<Vec<u32>>)> = BTreeMap::new();
    for row in classes {
        let (k, sentences) = grouped
            .entry((row.dim.clone(), row.task.clone()))
            .or_insert((row.num_classes as usize, Vec::new()));
        if *k != row.num_classes as usize {
            return Err(Error::data(format!(
                "classes of utterance {} ({}/{}): num_classes {} but other utterances have {k}",
                row.utt_id, row.dim, row.task, row.num_classes
            )));
        }
        if splits.contains(&row.split) {
            sentences.push(regions(&row.classes));
        }
    }
    grouped
        .into_iter()
        .map(|((dim, task), (k, sentences))| {
            let what = format!("language model of {dim}/{task}");
            if sentences.is_empty() {
                return Err(Error::data(format!(
                    "{what}: no utterance in the splits {splits:?}"
                )));
            }
            let lm = Vocab::new(k)
                .and_then(|vocab| {
                    train_witten_bell(sentences.iter().map(Vec::as_slice), vocab, order)
                })
                .map_err(|e| e.context(&what))?;
            Ok(((dim, task), lm))
        })
        .collect()
}

/// One row of the `lm` table: a dimension/task's model as ARPA text.
#[derive(Debug, Clone, PartialEq)]
pub struct LmRow {
    pub dim: String,
    pub task: String,
    pub order: u32,
    pub arpa: String,
}

impl LmRow {
    pub fn write(rows: &[LmRow]) -> Result<RecordBatch> {
        let utf8 = |name: &str| Field::new(name, DataType::Utf8, false);
        let schema = Schema::new(vec![
            utf8("dim"),
            utf8("task"),
            Field::new("order", DataType::UInt32, false),
            utf8("arpa"),
        ]);
        let strings = |f: fn(&LmRow) -> &str| {
            Arc::new(rows.iter().map(|r| Some(f(r))).collect::<StringArray>())
        };
        Ok(RecordBatch::try_new(
            Arc::new(schema),
            vec![
                strings(|r| &r.dim),
                strings(|r| &r.task),
                Arc::new(rows.iter().map(|r| r.order).collect::<UInt32Array>()),
                strings(|r| &r.arpa),
            ],
        )?)
    }

    pub fn read_all(batches: &[RecordBatch]) -> Result<Vec<LmRow>> {
        let mut rows = Vec::new();
        for batch in batches {
            let column = |name: &str| {
                batch.column_by_name(name).ok_or_else(|| {
                    Error::data(format!(
                        "the lm table has no column `{name}` (wire it to an lm.ngram output)"
                    ))
                })
            };
            let text = |name: &str| -> Result<Vec<String>> {
                let array = column(name)?
                    .as_string_opt::<i32>()
                    .ok_or_else(|| Error::data(format!("lm table column `{name}` is not Utf8")))?;
                Ok(array
                    .iter()
                    .map(|v| v.unwrap_or_default().to_owned())
                    .collect())
            };
            let orders = column("order")?
                .as_primitive_opt::<UInt32Type>()
                .ok_or_else(|| Error::data("lm table column `order` is not UInt32"))?;
            if orders.null_count() > 0 {
                return Err(Error::data("lm table column `order` has nulls"));
            }
            let (dims, tasks, arpas) = (text("dim")?, text("task")?, text("arpa")?);
            for i in 0..batch.num_rows() {
                rows.push(LmRow {
                    dim: dims[i].clone(),
                    task: tasks[i].clone(),
                    order: orders.value(i),
                    arpa: arpas[i].clone(),
                });
            }
        }
        Ok(rows)
    }
}

/// Default of `lm.ngram`'s `order`.
fn trigram() -> usize {
    3
}

fn train_and_dev() -> Vec<Split> {
    vec![Split::Train, Split::Dev]
}

/// Parameters of `lm.ngram`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Order of the trained models (1 = unigram .. 4); not used with
    /// `arpa_dir`, where each file says its order.
    #[serde(default = "trigram")]
    #[schemars(range(min = 1, max = 4))]
    pub order: usize,
    /// Splits whose class sequences train the models.
    #[serde(default = "train_and_dev")]
    pub splits: Vec<Split>,
    /// Load `<arpa_dir>/<dim>_<task>.arpa` (ARPA from SRILM, KenLM or an
    /// earlier run; words are the class indices) instead of training. A
    /// relative path is taken from the working directory.
    #[serde(default)]
    pub arpa_dir: Option<String>,
}

/// The model file of a dimension/task in an ARPA directory.
pub fn arpa_file_name(dim: &str, task: &str) -> String {
    format!("{dim}_{task}.arpa")
}

/// The `lm` table: trained from `classes`, or loaded from `params.arpa_dir`
/// for every dimension/task of `classes` (whose class counts they must fit).
pub fn language_models(classes: &[ClassesRow], params: &Params) -> Result<Vec<LmRow>> {
    let models: Vec<(TaskKey, NgramLm)> = match &params.arpa_dir {
        None => train_per_task(classes, &params.splits, params.order)?,
        Some(dir) => {
            let mut tasks: BTreeMap<TaskKey, usize> = BTreeMap::new();
            for row in classes {
                tasks.insert(
                    (row.dim.clone(), row.task.clone()),
                    row.num_classes as usize,
                );
            }
            tasks
                .into_iter()
                .map(|((dim, task), k)| {
                    let path = Path::new(dir).join(arpa_file_name(&dim, &task));
                    let text = std::fs::read_to_string(&path).map_err(|e| Error::io(&path, e))?;
                    let lm = NgramLm::parse_arpa(&text, k, &path.display().to_string())?;
                    Ok(((dim, task), lm))
                })
                .collect::<Result<_>>()?
        }
    };
    Ok(models
        .into_iter()
        .map(|((dim, task), lm)| LmRow {
            dim,
            task,
            order: lm.order() as u32,
            arpa: lm.to_arpa(),
        })
        .collect())
}

struct Ngram(Params);

impl Node for Ngram {
    fn run(&mut self, ctx: &Context, mut inputs: Inputs) -> Result<Outputs> {
        let classes = ClassesRow::read_all(&inputs.batches("classes")?)?;
        let rows = language_models(&classes, &self.0)?;
        // The same text as files, for SRILM, KenLM or a later `arpa_dir`.
        let dir = ctx.artifact_dir();
        for row in &rows {
            let path = dir.join(arpa_file_name(&row.dim, &row.task));
            std::fs::write(&path, &row.arpa).map_err(|e| Error::io(&path, e))?;
        }
        tracing::info!(
            "{} language models, ARPA files in {}",
            rows.len(),
            dir.display()
        );
        Ok(Outputs::new().with_batch("lm", LmRow::write(&rows)?))
    }

    /// With `arpa_dir`, its `*.arpa` files: which of them a run loads
    /// depends on the dimensions and tasks of its `classes` input, unknown
    /// before it runs, so all are declared.
    fn input_files(&self) -> Result<Vec<PathBuf>> {
        let Some(dir) = &self.0.arpa_dir else {
            return Ok(Vec::new());
        };
        let dir = Path::new(dir);
        let mut files = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(|e| Error::io(dir, e))? {
            let path = entry.map_err(|e| Error::io(dir, e))?.path();
            if path.extension().is_some_and(|e| e == "arpa") {
                files.push(path);
            }
        }
        files.sort();
        Ok(files)
    }
}

pub fn spec() -> KindSpec {
    KindSpec::new("lm.ngram", file!())
        .doc(
            "Emotion language model: an interpolated Witten-Bell n-gram model (SRILM's -wbdiscount \
             -interpolate) over region labels (runs of identical classes collapsed), with <s> and \
             </s>, one per dimension and task; or ARPA files loaded from `arpa_dir`. Also writes \
             the models as <dim>_<task>.arpa into its artifact directory.",
        )
        .input(
            "classes",
            port::CLASSES,
            "label class sequences; those of `splits` train the models",
        )
        .output(
            "lm",
            port::TABLE,
            "columns dim, task, order UInt32, arpa Utf8 (the model as ARPA text)",
        )
        .export(FittedExport::new(
            "it trains its language models on the class sequences it reads",
            true,
        ))
        .create(|params: Params| Ok(Ngram(params)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn regions_collapse_runs() {
        assert_eq!(regions(&[2, 2, 0, 0, 0, 2, 1, 1]), vec![2, 0, 2, 1]);
        assert_eq!(regions(&[]), Vec::<u32>::new());
    }

    /// Hand-computed: sentences "0 1" and "0", K = 2, bigram.
    #[test]
    fn witten_bell_matches_the_formula_on_a_hand_example() {
        let vocab = Vocab::new(2).unwrap();
        let sentences: [&[Token]; 2] = [&[0, 1], &[0]];
        let lm = train_witten_bell(sentences, vocab, 2).unwrap();
        let (bos, eos) = (vocab.bos(), vocab.eos());
        let expect = [
            // Unigrams: counts 0:2 1:1 </s>:2, N = 5, T = 3, uniform 1/3.
            (vec![], 0, 3.0 / 8.0),
            (vec![], 1, 2.0 / 8.0),
            (vec![], eos, 3.0 / 8.0),
            // After <s>: c = 2, T = 1.
            (vec![bos], 0, (2.0 + 3.0 / 8.0) / 3.0),
            (vec![bos], 1, (2.0 / 8.0) / 3.0),
            // After 0: c = 2, T = 2; "0 0" unseen backs off with 2/4.
            (vec![0], 1, (1.0 + 2.0 * 2.0 / 8.0) / 4.0),
            (vec![0], eos, (1.0 + 2.0 * 3.0 / 8.0) / 4.0),
            (vec![0], 0, 0.5 * 3.0 / 8.0),
            // After 1: c = 1, T = 1.
            (vec![1], eos, (1.0 + 3.0 / 8.0) / 2.0),
            (vec![1], 1, 0.5 * 2.0 / 8.0),
        ];
        for (context, word, p) in expect {
            let got = 10f64.powf(lm.log10_prob(&context, word));
            assert!(
                (got - p).abs() < 1e-12,
                "p({word} | {context:?}) = {got}, want {p}"
            );
        }
    }

    #[test]
    fn unseen_classes_get_unigram_mass_and_empty_training_is_an_error() {
        let vocab = Vocab::new(3).unwrap();
        let sentences: [&[Token]; 1] = [&[0, 1]];
        let lm = train_witten_bell(sentences, vocab, 3).unwrap();
        assert!(lm.log10_prob(&[], 2).is_finite());
        assert!(train_witten_bell(std::iter::empty(), vocab, 2).is_err());
        let sentences: [&[Token]; 1] = [&[0, 3]];
        assert!(
            train_witten_bell(sentences, vocab, 2)
                .unwrap_err()
                .message
                .contains("class 3")
        );
    }

    #[test]
    fn per_task_training_names_a_task_without_training_data() {
        let row = |split: Split, task: &str| ClassesRow {
            utt_id: format!("{split}_1"),
            split,
            dim: "arousal".into(),
            task: task.into(),
            num_classes: 2,
            classes: vec![0, 0, 1, 1, 0],
        };
        let rows = [row(Split::Train, "k2"), row(Split::Test, "k2b")];
        let err = train_per_task(&rows, &[Split::Train], 2).unwrap_err();
        assert!(err.message.contains("arousal/k2b"), "{err}");
        let models = train_per_task(&rows[..1], &[Split::Train], 2).unwrap();
        // Trained on regions 0 1 0: the bigram "0 0" is never seen.
        let lm = &models[0].1;
        assert!(lm.log10_prob(&[1], 0) > lm.log10_prob(&[1], 1));
    }

    fn sentences(max_class: u32) -> impl Strategy<Value = Vec<Vec<Token>>> {
        prop::collection::vec(prop::collection::vec(0..max_class, 0..8), 1..6)
    }

    proptest! {
        /// The back-off weights make every conditional distribution sum to 1
        /// over the classes and </s>, for seen and unseen contexts alike.
        #[test]
        fn every_context_is_normalised(
            k in 1usize..5,
            order in 1usize..=4,
            data in sentences(4),
            context in prop::collection::vec(0u32..4, 0..4),
            starts_with_bos in any::<bool>(),
        ) {
            let vocab = Vocab::new(k).unwrap();
            let k32 = k as u32;
            let data: Vec<Vec<Token>> = data.into_iter().map(|s| s.into_iter().map(|t| t % k32).collect()).collect();
            let lm = train_witten_bell(data.iter().map(Vec::as_slice), vocab, order).unwrap();
            let mut context: Vec<Token> = context.into_iter().map(|t| t % k32).collect();
            if starts_with_bos {
                context.insert(0, vocab.bos());
            }
            let total: f64 = (0..k32).chain([vocab.eos()]).map(|w| 10f64.powf(lm.log10_prob(&context, w))).sum();
            prop_assert!((total - 1.0).abs() < 1e-9, "sum {total} for context {context:?}");
            // And the model survives its own ARPA text unchanged.
            prop_assert_eq!(&NgramLm::parse_arpa(&lm.to_arpa(), k, "rt").unwrap(), &lm);
        }
    }
}
