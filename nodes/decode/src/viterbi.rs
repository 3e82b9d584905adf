//! `decode.viterbi`: each class an HMM state, transitions estimated from
//! training class sequences, log-domain Viterbi with the log prior-scaled
//! posteriors as emissions (the emotion decoder of [`crate::emotion_lm`]
//! without a language model).

use std::collections::BTreeMap;

use emoflow_sdk::conventions::{ClassesRow, PortRows, PosteriorsRow, SeriesRow, Split, port};
use emoflow_sdk::{Context, Inputs, KindSpec, Node, Outputs};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::common::{Codebooks, OnRow, node_progress, predictions_output, read_decoder_inputs};
use crate::error::Result;
use crate::search::{Scorer, Search, decode_series};
use crate::transitions::{default_fit_splits, default_smoothing, fit_transitions};

/// Parameters of `decode.viterbi`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Splits whose class sequences estimate the transition probabilities.
    #[serde(default = "default_fit_splits")]
    pub fit_splits: Vec<Split>,
    /// Additive smoothing of the transition counts: P(j|i) = (n(i,j) + s) /
    /// (n(i) + s K).
    #[serde(default = "default_smoothing")]
    #[schemars(range(min = 0.0))]
    pub smoothing: f64,
}

pub fn decode_viterbi(
    posteriors: &[PosteriorsRow],
    codebooks: &Codebooks,
    classes: &[ClassesRow],
    params: &Params,
    on_row: OnRow,
) -> Result<Vec<SeriesRow>> {
    let transitions = fit_transitions(classes, &params.fit_splits, params.smoothing)?;
    let scorers = transitions
        .iter()
        .map(|(key, t)| {
            Ok((
                key.clone(),
                Scorer::new(t, None, 0.0, &format!("{}/{}", key.0, key.1))?,
            ))
        })
        .collect::<Result<BTreeMap<_, _>>>()?;
    decode_series(posteriors, codebooks, &scorers, Search::Exact, on_row)
}

struct Viterbi(Params);

impl Node for Viterbi {
    fn run(&mut self, ctx: &Context, mut inputs: Inputs) -> Result<Outputs> {
        let (posteriors, codebooks) = read_decoder_inputs(&mut inputs)?;
        let classes = ClassesRow::read_all(&inputs.batches("classes")?)?;
        predictions_output(&decode_viterbi(
            &posteriors,
            &codebooks,
            &classes,
            &self.0,
            &mut node_progress(ctx),
        )?)
    }
}

pub fn spec() -> KindSpec {
    KindSpec::new("decode.viterbi", file!())
        .doc(
            "HMM decoding: each class a state, transitions estimated from the class sequences of \
             `fit_splits`, Viterbi over the log prior-scaled posteriors; then cluster means \
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
        .output(
            "predictions",
            port::SERIES,
            "one series per utterance and dimension",
        )
        .create(|params: Params| Ok(Viterbi(params)))
}
