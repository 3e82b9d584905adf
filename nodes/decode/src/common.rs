//! What the decode crate's nodes share. The decoder helpers (codebook
//! lookup, prior scaling, reconstruction and the average over tasks) are the
//! SDK's, [`emoflow_sdk::families::decode`], so that plugin decoders use the
//! same rules; the smoothing nodes' helpers are here.

use emoflow_sdk::conventions::{PortRows, SeriesRow};
use emoflow_sdk::{Context, Inputs, Outputs};

pub use emoflow_sdk::families::decode::{
    Codebooks, OnRow, TaskKey, decode_and_average, node_progress, predictions_output,
    read_decoder_inputs,
};

use crate::error::{Error, Result};

/// The body of every smoothing node: reads the `series` input, applies
/// `filter` to each utterance's values, writes the `smoothed` output.
pub fn smooth_series(
    ctx: &Context,
    inputs: &mut Inputs,
    filter: impl Fn(&[f32]) -> Result<Vec<f32>>,
) -> Result<Outputs> {
    let mut rows = SeriesRow::read_all(&inputs.batches("series")?)?;
    check_finite(&rows, "series")?;
    for row in &mut rows {
        ctx.check_cancelled()?;
        row.values = filter(&row.values)?;
    }
    Ok(Outputs::new().with_batch("smoothed", SeriesRow::write(&rows)?))
}

/// Rejects series with values that are not finite, naming the utterance.
pub fn check_finite(rows: &[SeriesRow], port: &str) -> Result<()> {
    for row in rows {
        if let Some(t) = row.values.iter().position(|v| !v.is_finite()) {
            return Err(Error::data(format!(
                "input `{port}`, utterance {} ({}): frame {t} is {}",
                row.utt_id, row.dim, row.values[t]
            )));
        }
    }
    Ok(())
}
