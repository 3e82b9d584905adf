//! `decode.emotion_lm`: the emotion decoder of paper step 3, transitions plus
//! an n-gram language model over region labels weighted by `alpha` (see
//! [`crate::search`] for the objective, the states and the two searches).
//! The LM's order is the one its ARPA text declares.

use std::collections::BTreeMap;

use emoflow_sdk::conventions::{ClassesRow, PortRows, PosteriorsRow, SeriesRow, Split, port};
use emoflow_sdk::{Context, Error, Inputs, KindSpec, Node, Outputs};
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::arpa::NgramLm;
use crate::common::{
    Codebooks, OnRow, TaskKey, node_progress, predictions_output, read_decoder_inputs,
};
use crate::error::Result;
use crate::ngram::LmRow;
use crate::search::{Scorer, Search, decode_series};
use crate::transitions::{default_fit_splits, default_smoothing, fit_transitions};

/// How `decode.emotion_lm` searches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum SearchKind {
    /// Viterbi over every state: the true maximum (K (K-1)^(n-2) states).
    #[default]
    Exact,
    /// Keeps the `beam_width` best states per frame; for large K or order.
    Beam,
}

fn default_beam_width() -> usize {
    64
}

/// Parameters of `decode.emotion_lm`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Weight of the language model: the objective adds alpha times its
    /// natural-log probability of the region sequence (the paper sweeps 0, 2,
    /// ..., 14; 0 is plain HMM decoding).
    #[schemars(range(min = 0.0))]
    pub alpha: f64,
    /// `exact` or `beam`.
    #[serde(default)]
    pub search: SearchKind,
    /// States kept per frame by the beam search.
    #[serde(default = "default_beam_width")]
    #[schemars(range(min = 1))]
    pub beam_width: usize,
    /// Splits whose class sequences estimate the transition probabilities.
    #[serde(default = "default_fit_splits")]
    pub fit_splits: Vec<Split>,
    /// Additive smoothing of the transition counts.
    #[serde(default = "default_smoothing")]
    #[schemars(range(min = 0.0))]
    pub smoothing: f64,
}

/// Parses every model of `lm` for the classes of its dimension/task.
pub fn parse_models(lm: &[LmRow], codebooks: &Codebooks) -> Result<BTreeMap<TaskKey, NgramLm>> {
    let mut models = BTreeMap::new();
    for row in lm {
        let source = format!("language model {}/{}", row.dim, row.task);
        let k = codebooks.get(&row.dim, &row.task)?.num_classes();
        let model = NgramLm::parse_arpa(&row.arpa, k, &source)?;
        if model.order() != row.order as usize {
            return Err(Error::data(format!(
                "{source}: the table says order {} but the ARPA text has order {}",
                row.order,
                model.order()
            )));
        }
        if models
            .insert((row.dim.clone(), row.task.clone()), model)
            .is_some()
        {
            return Err(Error::data(format!("{source}: listed twice")));
        }
    }
    Ok(models)
}

pub fn decode_emotion_lm(
    posteriors: &[PosteriorsRow],
    codebooks: &Codebooks,
    classes: &[ClassesRow],
    lm: &[LmRow],
    params: &Params,
    on_row: OnRow,
) -> Result<Vec<SeriesRow>> {
    let transitions = fit_transitions(classes, &params.fit_splits, params.smoothing)?;
    let models = parse_models(lm, codebooks)?;
    let mut scorers = BTreeMap::new();
    for (key, t) in &transitions {
        let what = format!("{}/{}", key.0, key.1);
        let Some(model) = models.get(key) else {
            return Err(Error::data(format!(
                "{what}: the lm input has no model for it"
            )));
        };
        scorers.insert(
            key.clone(),
            Scorer::new(t, Some(model), params.alpha, &what)?,
        );
    }
    let search = match params.search {
        SearchKind::Exact => Search::Exact,
        SearchKind::Beam => Search::Beam {
            width: params.beam_width,
        },
    };
    decode_series(posteriors, codebooks, &scorers, search, on_row)
}

struct EmotionLm(Params);

impl Node for EmotionLm {
    fn run(&mut self, ctx: &Context, mut inputs: Inputs) -> Result<Outputs> {
        let (posteriors, codebooks) = read_decoder_inputs(&mut inputs)?;
        let classes = ClassesRow::read_all(&inputs.batches("classes")?)?;
        let lm = LmRow::read_all(&inputs.batches("lm")?)?;
        let out = decode_emotion_lm(
            &posteriors,
            &codebooks,
            &classes,
            &lm,
            &self.0,
            &mut node_progress(ctx),
        )?;
        predictions_output(&out)
    }
}

pub fn spec() -> KindSpec {
    KindSpec::new("decode.emotion_lm", file!())
        .doc(
            "Emotion decoding (paper step 3): per task the class sequence maximising \
             sum ln(prior-scaled posterior) + sum ln P(transition) + alpha ln P_LM(regions), \
             exactly (Viterbi over LM-history states) or by beam search; then cluster means \
             averaged over tasks.",
        )
        .input("posteriors", port::POSTERIORS, "class posteriors per task")
        .input(
            "codebook",
            port::CODEBOOK,
            "class means and priors per dimension and task",
        )
        .input(
            "classes",
            port::CLASSES,
            "label class sequences; those of `fit_splits` give the transitions",
        )
        .input(
            "lm",
            port::TABLE,
            "language models from lm.ngram (dim, task, order, arpa)",
        )
        .output(
            "predictions",
            port::SERIES,
            "one series per utterance and dimension",
        )
        .create(|params: Params| {
            if !(params.alpha.is_finite() && params.alpha >= 0.0) {
                return Err(Error::invalid(format!(
                    "alpha = {} must be finite and >= 0",
                    params.alpha
                )));
            }
            if params.beam_width == 0 {
                return Err(Error::invalid("beam_width must be at least 1"));
            }
            Ok(EmotionLm(params))
        })
}
