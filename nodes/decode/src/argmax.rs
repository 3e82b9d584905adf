//! `decode.argmax`: CLS-Raw of the paper. Per frame the most likely class
//! after prior scaling, mapped to its cluster mean, averaged over tasks.

use emoflow_sdk::conventions::{PosteriorsRow, SeriesRow};
use emoflow_sdk::{Context, Inputs, KindSpec, Node, Outputs};
use schemars::JsonSchema;
use serde::Deserialize;

use crate::common::{
    Codebooks, OnRow, decode_and_average, node_progress, predictions_output, read_decoder_inputs,
};
use crate::error::Result;

/// `decode.argmax` has no parameters.
#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {}

/// The first most likely class of each frame.
pub fn decode_argmax(
    posteriors: &[PosteriorsRow],
    codebooks: &Codebooks,
    on_row: OnRow,
) -> Result<Vec<SeriesRow>> {
    decode_and_average(posteriors, codebooks, on_row, |row, emissions| {
        Ok(emissions
            .chunks_exact(row.num_classes as usize)
            .map(argmax)
            .collect())
    })
}

fn argmax(frame: &[f64]) -> u32 {
    let mut best = 0;
    for (class, &score) in frame.iter().enumerate() {
        if score > frame[best] {
            best = class;
        }
    }
    best as u32
}

struct Argmax;

impl Node for Argmax {
    fn run(&mut self, ctx: &Context, mut inputs: Inputs) -> Result<Outputs> {
        let (posteriors, codebooks) = read_decoder_inputs(&mut inputs)?;
        predictions_output(&decode_argmax(
            &posteriors,
            &codebooks,
            &mut node_progress(ctx),
        )?)
    }
}

pub fn spec() -> KindSpec {
    emoflow_sdk::families::decode::kind_spec(
        "decode.argmax",
        file!(),
        "CLS-Raw: divides the posteriors by the class priors, takes each frame's most likely \
         class, maps it to its cluster mean and averages the tasks of each utterance.",
    )
    .create(|_: Params| Ok(Argmax))
}

#[cfg(test)]
mod tests {
    use super::*;
    use emoflow_sdk::conventions::{CodebookRow, Split};

    #[test]
    fn prior_scaling_can_change_the_winner() {
        // Class 0 is common (prior 0.8): 0.6 vs 0.4 becomes 0.75 vs 2.0.
        let codebooks = Codebooks::from_rows(&[
            CodebookRow {
                dim: "valence".into(),
                task: "k2".into(),
                num_classes: 2,
                class: 0,
                mean: -0.2,
                lower: -1.0,
                upper: 0.0,
                prior: 0.8,
            },
            CodebookRow {
                dim: "valence".into(),
                task: "k2".into(),
                num_classes: 2,
                class: 1,
                mean: 0.3,
                lower: 0.0,
                upper: 1.0,
                prior: 0.2,
            },
        ])
        .unwrap();
        let row = PosteriorsRow {
            utt_id: "dev_1".into(),
            split: Split::Dev,
            dim: "valence".into(),
            task: "k2".into(),
            num_classes: 2,
            frame_period: 0.04,
            posteriors: vec![0.6, 0.4, 0.9, 0.1],
        };
        let out = decode_argmax(&[row], &codebooks, &mut |_, _| Ok(())).unwrap();
        // Frame 1: 0.9/0.8 = 1.125 vs 0.1/0.2 = 0.5, class 0 stays.
        assert_eq!(out[0].values, vec![0.3, -0.2]);
    }
}
