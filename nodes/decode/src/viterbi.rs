//! `decode.viterbi`: each class an HMM state, transitions estimated from
//! training class sequences, log-domain Viterbi with the log prior-scaled
//! posteriors as emissions (the emotion decoder of [`crate::emotion_lm`]
//! with `alpha = 0`).

use std::collections::BTreeMap;

use crate::common::{ClassSequence, Codebooks, Series, TaskPosteriors};
use crate::error::Result;
use crate::search::{Scorer, Search, decode_series};
use crate::transitions::fit_transitions;

pub fn decode_viterbi(
    posteriors: &[TaskPosteriors],
    codebooks: &Codebooks,
    classes: &[ClassSequence],
    fit_splits: &[String],
    smoothing: f64,
) -> Result<Vec<Series>> {
    let transitions = fit_transitions(classes, fit_splits, smoothing)?;
    let scorers = transitions
        .iter()
        .map(|(key, t)| Ok((key.clone(), Scorer::new(t, None, 0.0, &format!("{}/{}", key.0, key.1))?)))
        .collect::<Result<BTreeMap<_, _>>>()?;
    decode_series(posteriors, codebooks, &scorers, Search::Exact)
}
