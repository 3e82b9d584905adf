//! `decode.emotion_lm`: the emotion decoder of paper step 3, transitions plus
//! an n-gram language model over region labels weighted by `alpha` (see
//! [`crate::search`] for the objective, the states and the two searches).

use std::collections::BTreeMap;

use crate::arpa::NgramLm;
use crate::common::{ClassSequence, Codebooks, Series, TaskPosteriors};
use crate::error::{Result, bail};
use crate::search::{Scorer, Search, decode_series};
use crate::transitions::fit_transitions;

/// One row of an `lm.ngram` table.
#[derive(Debug, Clone, PartialEq)]
pub struct LmRow {
    pub dim: String,
    pub task: String,
    pub order: u32,
    pub arpa: String,
}

/// Parses every model of `lm` for the classes of its dimension/task.
pub fn parse_models(lm: &[LmRow], codebooks: &Codebooks) -> Result<BTreeMap<(String, String), NgramLm>> {
    let mut models = BTreeMap::new();
    for row in lm {
        let source = format!("language model {}/{}", row.dim, row.task);
        let k = codebooks.get(&row.dim, &row.task)?.num_classes();
        let model = NgramLm::parse_arpa(&row.arpa, k, &source)?;
        if model.order() != row.order as usize {
            bail!("{source}: the table says order {} but the ARPA text has order {}", row.order, model.order());
        }
        if models.insert((row.dim.clone(), row.task.clone()), model).is_some() {
            bail!("{source}: listed twice");
        }
    }
    Ok(models)
}

#[allow(clippy::too_many_arguments)]
pub fn decode_emotion_lm(
    posteriors: &[TaskPosteriors],
    codebooks: &Codebooks,
    classes: &[ClassSequence],
    lm: &[LmRow],
    fit_splits: &[String],
    smoothing: f64,
    alpha: f64,
    search: Search,
) -> Result<Vec<Series>> {
    let transitions = fit_transitions(classes, fit_splits, smoothing)?;
    let models = parse_models(lm, codebooks)?;
    let mut scorers = BTreeMap::new();
    for (key, t) in &transitions {
        let what = format!("{}/{}", key.0, key.1);
        let Some(model) = models.get(key) else {
            bail!("{what}: the lm input has no model for it");
        };
        scorers.insert(key.clone(), Scorer::new(t, Some(model), alpha, &what)?);
    }
    decode_series(posteriors, codebooks, &scorers, search)
}
