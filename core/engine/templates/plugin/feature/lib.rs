//! `{{kind}}`: a feature transform, per-utterance mean subtraction (each
//! feature dimension minus its mean over the utterance's frames). Replace
//! [`transform`] with your own idea; the node reads the `features` input
//! whole, one `FeatureRow` per utterance (frames x D, row-major), and
//! writes the same layout.

use emoflow_sdk::prelude::*;
use schemars::JsonSchema;
use serde::Deserialize;

/// Parameters of `{{kind}}`.
#[derive(Debug, Clone, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Params {
    /// Also divide each dimension by its standard deviation over the
    /// utterance (a constant dimension is left at 0).
    #[serde(default)]
    pub scale: bool,
}

struct Transform(Params);

impl Node for Transform {
    fn run(&mut self, ctx: &Context, mut inputs: Inputs) -> Result<Outputs> {
        let mut rows = FeatureRow::read_all(&inputs.batches("features")?)?;
        for (i, row) in rows.iter_mut().enumerate() {
            ctx.check_cancelled()?;
            ctx.progress(i as u64, 0, "normalising");
            transform(row, self.0.scale);
        }
        Ok(Outputs::new().with_batch("features", FeatureRow::write(&rows)?))
    }
}

pub fn spec() -> KindSpec {
    KindSpec::new("{{kind}}", file!())
        .doc("Per-utterance mean subtraction of the features (optionally variance scaling).")
        .input("features", port::FEATURES, "feature frames, one row per utterance")
        .output("features", port::FEATURES, "the frames normalised per utterance")
        .create(|p: Params| Ok(Transform(p)))
}

/// Subtracts each dimension's mean over the utterance's frames (and divides
/// by its standard deviation when `scale`).
pub fn transform(row: &mut FeatureRow, scale: bool) {
    let (frames, dims) = (row.num_frames(), row.dims);
    if frames == 0 {
        return;
    }
    for d in 0..dims {
        let column = || (0..frames).map(|t| f64::from(row.frames[t * dims + d]));
        let mean = column().sum::<f64>() / frames as f64;
        let sd = (column().map(|v| (v - mean).powi(2)).sum::<f64>() / frames as f64).sqrt();
        let divisor = if scale && sd > 0.0 { sd } else { 1.0 };
        for t in 0..frames {
            let v = &mut row.frames[t * dims + d];
            *v = ((f64::from(*v) - mean) / divisor) as f32;
        }
    }
}

emoflow_sdk::export_plugin!(spec);

#[cfg(test)]
mod tests {
    use super::*;
    use emoflow_sdk::harness::Harness;

    #[test]
    fn every_dimension_loses_its_utterance_mean() {
        let row = FeatureRow {
            utt_id: "train_1".into(),
            split: Split::Train,
            dims: 2,
            frame_period: 0.01,
            frames: vec![1.0, 10.0, 3.0, 30.0],
        };
        let out = Harness::new(crate::emoflow_plugin(), "{{kind}}").rows("features", &[row]).run().unwrap();
        let rows: Vec<FeatureRow> = out.rows("features").unwrap();
        assert_eq!(rows[0].frames, vec![-1.0, -10.0, 1.0, 10.0]);
        assert_eq!((rows[0].dims, rows[0].frame_period), (2, 0.01));
    }

    #[test]
    fn with_scale_each_dimension_has_unit_deviation() {
        let mut row = FeatureRow {
            utt_id: "dev_1".into(),
            split: Split::Dev,
            dims: 1,
            frame_period: 0.01,
            frames: vec![2.0, 4.0, 2.0, 4.0],
        };
        transform(&mut row, true);
        assert_eq!(row.frames, vec![-1.0, 1.0, -1.0, 1.0]);
    }
}
