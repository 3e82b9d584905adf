//! `{{kind}}`: a decoder. Like `decode.argmax` it takes each frame's most
//! likely class after prior scaling, but a class that was chosen on the
//! previous frame gets a head start of `stickiness` (in log probability), so
//! short blips are ignored. Replace [`decode_task`] with your own idea; the
//! SDK's decoder helpers ([`emoflow_sdk::families::decode`]) read the
//! codebook, scale the posteriors by the priors, map classes to their means
//! and average the tasks.

use emoflow_sdk::families::decode::{self, decode_and_average, node_progress};
use emoflow_sdk::prelude::*;
use schemars::JsonSchema;
use serde::Deserialize;

/// Parameters of `{{kind}}`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Log-probability bonus of the previous frame's class; 0 is argmax.
    #[serde(default)]
    #[schemars(range(min = 0.0))]
    pub stickiness: f64,
}

struct Decoder(Params);

impl Node for Decoder {
    fn run(&mut self, ctx: &Context, mut inputs: Inputs) -> Result<Outputs> {
        let (posteriors, codebooks) = decode::read_decoder_inputs(&mut inputs)?;
        let predictions =
            decode_and_average(&posteriors, &codebooks, &mut node_progress(ctx), |row, scores| {
                Ok(decode_task(scores, row.num_classes as usize, self.0.stickiness))
            })?;
        decode::predictions_output(&predictions)
    }
}

pub fn spec() -> KindSpec {
    decode::kind_spec(
        "{{kind}}",
        file!(),
        "Argmax decoding after prior scaling, with a head start for the previous frame's class.",
    )
    .create(|p: Params| {
        if !(p.stickiness >= 0.0 && p.stickiness.is_finite()) {
            return Err(Error::invalid(format!(
                "{{kind}}: `stickiness` must be a finite number >= 0, got {}",
                p.stickiness
            )));
        }
        Ok(Decoder(p))
    })
}

/// One class per frame of `scores` (frames x `num_classes`, row-major, log
/// prior-scaled posteriors).
pub fn decode_task(scores: &[f64], num_classes: usize, stickiness: f64) -> Vec<u32> {
    let mut classes: Vec<u32> = Vec::with_capacity(scores.len() / num_classes.max(1));
    for frame in scores.chunks_exact(num_classes) {
        let previous = classes.last().map(|&c| c as usize);
        let score = |c: usize| frame[c] + if Some(c) == previous { stickiness } else { 0.0 };
        // The first best class wins a tie, as in argmax.
        let best = (1..num_classes).fold(0, |best, c| if score(c) > score(best) { c } else { best });
        classes.push(best as u32);
    }
    classes
}

emoflow_sdk::export_plugin!(spec);

#[cfg(test)]
mod tests {
    use super::*;
    use emoflow_sdk::harness::Harness;

    /// Two classes, means -1 and +1, equal priors.
    fn codebook() -> Vec<CodebookRow> {
        (0..2)
            .map(|c| CodebookRow {
                dim: "arousal".into(),
                task: "k2".into(),
                num_classes: 2,
                class: c,
                mean: if c == 0 { -1.0 } else { 1.0 },
                lower: 0.0,
                upper: 0.0,
                prior: 0.5,
            })
            .collect()
    }

    /// Decodes frames whose class-1 probabilities are `p1`.
    fn decode(p1: &[f32], stickiness: f64) -> Vec<f32> {
        let posteriors = PosteriorsRow {
            utt_id: "dev_1".into(),
            split: Split::Dev,
            dim: "arousal".into(),
            task: "k2".into(),
            num_classes: 2,
            frame_period: 0.04,
            posteriors: p1.iter().flat_map(|&p| [1.0 - p, p]).collect(),
        };
        let out = Harness::new(crate::emoflow_plugin(), "{{kind}}")
            .param("stickiness", stickiness)
            .rows("posteriors", &[posteriors])
            .rows("codebook", &codebook())
            .run()
            .unwrap();
        let rows: Vec<SeriesRow> = out.rows("predictions").unwrap();
        assert_eq!((rows.len(), rows[0].frame_period), (1, 0.04));
        rows[0].values.clone()
    }

    #[test]
    fn without_stickiness_it_is_argmax() {
        assert_eq!(decode(&[0.2, 0.9, 0.3], 0.0), vec![-1.0, 1.0, -1.0]);
    }

    #[test]
    fn stickiness_ignores_a_weak_blip() {
        // ln(0.6 / 0.4) = 0.41 < 1: the blip does not beat the head start.
        assert_eq!(decode(&[0.2, 0.6, 0.3], 1.0), vec![-1.0, -1.0, -1.0]);
        // ln(0.9 / 0.1) = 2.2 > 1: a clear win does.
        assert_eq!(decode(&[0.2, 0.9, 0.9], 1.0), vec![-1.0, 1.0, 1.0]);
    }

    #[test]
    fn a_negative_stickiness_is_refused_naming_the_parameter() {
        let err = Harness::new(crate::emoflow_plugin(), "{{kind}}")
            .param("stickiness", -1.0)
            .rows("codebook", &codebook())
            .run()
            .unwrap_err();
        assert!(err.message.contains("`stickiness`"), "{err}");
    }
}
