//! Glue between the algorithms and the SDK's port conventions, shared by the
//! node kinds of this crate.

use emoflow_sdk::arrow::datatypes::SchemaRef;
use emoflow_sdk::arrow::error::ArrowError;
use emoflow_sdk::arrow::record_batch::{RecordBatch, RecordBatchIterator, RecordBatchReader};
use emoflow_sdk::prelude::*;

use crate::corpus::LabelTrack;

/// A `series` batch of label rows. An empty batch still carries the frame
/// period (written from a placeholder row, then sliced away).
pub fn series_batch(rows: &[SeriesRow], frame_period: f64) -> Result<RecordBatch> {
    if !rows.is_empty() {
        return SeriesRow::write(rows);
    }
    let placeholder = SeriesRow {
        utt_id: String::new(),
        split: Split::Train,
        dim: String::new(),
        frame_period,
        values: Vec::new(),
    };
    Ok(SeriesRow::write(&[placeholder])?.slice(0, 0))
}

/// The `series` rows of one recording's label tracks.
pub fn series_rows(
    utt_id: &str,
    split: Split,
    tracks: Vec<LabelTrack>,
    frame_period: f64,
) -> Vec<SeriesRow> {
    tracks
        .into_iter()
        .map(|t| SeriesRow {
            utt_id: utt_id.to_string(),
            split,
            dim: t.dim,
            frame_period,
            values: t.values,
        })
        .collect()
}

/// A recording's WAV file as an `audio` row (what the file sources stream),
/// resampled on `threads` to `rate` when one is given and the file's differs.
pub fn wav_audio_row(
    utt_id: String,
    split: Split,
    path: &std::path::Path,
    rate: Option<u32>,
    threads: usize,
) -> crate::Result<AudioRow> {
    let audio = crate::wav::read_wav(path)?;
    let (sample_rate, samples) = match rate {
        Some(to) if to != audio.sample_rate => {
            let resampler = crate::resample::Resampler::new(audio.sample_rate, to)?;
            (to, resampler.process(&audio.samples, threads))
        }
        _ => (audio.sample_rate, audio.samples),
    };
    Ok(AudioRow {
        utt_id,
        split,
        sample_rate,
        samples,
    })
}

/// An output stream of `audio` batches, one per item, computed only when the
/// host pulls it, so a corpus never sits in memory whole.
pub fn lazy_audio<I, F>(items: Vec<I>, mut make: F) -> Result<Box<dyn RecordBatchReader + Send>>
where
    I: Send + 'static,
    F: FnMut(I) -> crate::Result<AudioRow> + Send + 'static,
{
    let schema = AudioRow::write(&[])?.schema();
    let batches = items.into_iter().map(
        move |item| -> std::result::Result<RecordBatch, ArrowError> {
            let row = make(item).map_err(Error::from)?;
            Ok(AudioRow::write(&[row])?)
        },
    );
    Ok(Box::new(RecordBatchIterator::new(batches, schema)))
}

/// A `features` output of `rows` as one batch; with no rows, an empty
/// output of `fallback` schema (the input's, when there was one).
pub fn features_output(
    outputs: Outputs,
    port: &str,
    rows: &[FeatureRow],
    fallback: Option<SchemaRef>,
) -> Result<Outputs> {
    if rows.is_empty() {
        let schema = fallback.unwrap_or_else(|| FeatureRow::schema(0, 0.0));
        return Ok(outputs.with_batches(port, schema, Vec::new()));
    }
    Ok(outputs.with_batch(port, FeatureRow::write(rows)?))
}
