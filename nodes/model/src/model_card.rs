//! `model.blstm`'s saved models: the weights (`model-<tag>.safetensors`)
//! and the card beside them (`model-<tag>.json`) that weights mode rebuilds
//! the network from.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use emoflow_sdk::prelude::*;
use serde::{Deserialize, Serialize};
use tch::nn::VarStore;
use tch::{Device, Tensor};

use crate::blstm::Params;
use crate::checkpoint::write_atomically;
use crate::network::{Blstm, BlstmConfig};
use crate::problem::Problem;
use crate::train::Trained;

/// The artifact files of a dimension's models, as the kind declares them to
/// `emoflow export` (`{dim}`: the dimension): the weights and card
/// (`model-<tag>.safetensors`, `model-<tag>.json`) whose tag is the
/// dimension, or `<dim>-seed<N>` in an ensemble ([`model_tag`]).
pub(crate) const ARTIFACTS: [&str; 2] = ["model-{dim}.*", "model-{dim}-seed*.*"];

/// What `model-<tag>.json` records beside the weights; weights mode
/// rebuilds the network from it.
#[derive(Serialize, Deserialize)]
pub(crate) struct ModelCard {
    pub(crate) dim: String,
    pub(crate) seed: u64,
    pub(crate) network: BlstmConfig,
    pub(crate) tasks: Vec<String>,
    pub(crate) params: Params,
    pub(crate) best_epoch: usize,
    pub(crate) best_dev_ccc: f64,
}

/// The cards in `dir` (only those of `dim` when given) with their paths,
/// grouped by dimension (sorted, as training goes) and in the order the
/// dimension's seeds were trained, so the ensemble sums as training did.
pub(crate) fn saved_models(
    dir: &Path,
    dim: Option<&str>,
) -> Result<BTreeMap<String, Vec<(PathBuf, ModelCard)>>> {
    let context = || format!("`weights` directory {}", dir.display());
    let mut paths = Vec::new();
    for entry in
        std::fs::read_dir(dir).map_err(|e| Error::io(dir, e).context("the `weights` directory"))?
    {
        let path = entry.map_err(|e| Error::io(dir, e))?.path();
        let name = path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default();
        if name.starts_with("model-") && name.ends_with(".json") {
            paths.push(path);
        }
    }
    if paths.is_empty() {
        return Err(Error::data(format!(
            "{} holds no model cards (model-*.json)",
            context()
        )));
    }
    paths.sort();
    let mut by_dim: BTreeMap<String, Vec<(PathBuf, ModelCard)>> = BTreeMap::new();
    for path in paths {
        let json = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
        let card: ModelCard = serde_json::from_slice(&json).map_err(|e| {
            Error::data(format!(
                "{}: not a model card of model.blstm: {e}",
                path.display()
            ))
        })?;
        by_dim
            .entry(card.dim.clone())
            .or_default()
            .push((path, card));
    }
    if let Some(dim) = dim {
        let cards = by_dim.remove(dim).ok_or_else(|| {
            Error::data(format!(
                "{} holds no model of dimension `{dim}` (its cards are of {:?})",
                context(),
                by_dim.keys().collect::<Vec<_>>()
            ))
        })?;
        by_dim = BTreeMap::from([(dim.to_string(), cards)]);
    }
    for (dim, cards) in &mut by_dim {
        let (first, card) = &cards[0];
        let seeds = card.params.seed_list();
        if let Some((path, card)) = cards
            .iter()
            .find(|(_, c)| c.params.seed_list() != seeds || !seeds.contains(&c.seed))
        {
            return Err(Error::data(format!(
                "{}: seed {} of seeds {:?}, but {} was trained with seeds {seeds:?}; the \
                 directory mixes runs of dimension `{dim}`",
                path.display(),
                card.seed,
                card.params.seed_list(),
                first.display()
            )));
        }
        let mut ordered = Vec::with_capacity(seeds.len());
        for &seed in &seeds {
            let at = cards.iter().position(|(_, c)| c.seed == seed).ok_or_else(|| {
                Error::data(format!(
                    "{}: model-{}.json is missing (dimension `{dim}` was trained with seeds {seeds:?})",
                    context(),
                    model_tag(dim, &seeds, seed)
                ))
            })?;
            ordered.push(cards.swap_remove(at));
        }
        *cards = ordered;
    }
    Ok(by_dim)
}

/// The weights file saved beside a model card.
pub(crate) fn weights_beside(card_path: &Path) -> PathBuf {
    card_path.with_extension("safetensors")
}

/// The network of a card (`card_path`) with the weights saved beside it.
pub(crate) fn load_model(card_path: &Path, config: &BlstmConfig, device: Device) -> Result<Blstm> {
    let path = weights_beside(card_path);
    let bad = |message: String| Error::data(format!("{}: {message}", path.display()));
    std::fs::metadata(&path).map_err(|e| Error::io(&path, e))?;
    let mut saved: HashMap<String, Tensor> = Tensor::read_safetensors(&path)
        .map_err(|e| bad(e.to_string()))?
        .into_iter()
        .collect();
    let store = VarStore::new(device);
    let model = Blstm::new(&store.root(), config.clone())
        .map_err(|e| Error::data(format!("{}: {e}", card_path.display())))?;
    let mut variables: Vec<(String, Tensor)> = store.variables().into_iter().collect();
    variables.sort_by(|a, b| a.0.cmp(&b.0));
    tch::no_grad(|| {
        for (name, mut variable) in variables {
            let tensor = saved
                .remove(&name)
                .ok_or_else(|| bad(format!("no tensor `{name}`, which the card's network has")))?;
            if tensor.size() != variable.size() {
                return Err(bad(format!(
                    "tensor `{name}` is {:?}, the card's network needs {:?}",
                    tensor.size(),
                    variable.size()
                )));
            }
            variable.f_copy_(&tensor).map_err(|e| bad(e.to_string()))?;
        }
        Ok(())
    })?;
    // Weights the card does not describe mean the two do not belong together.
    if let Some(name) = saved.keys().min() {
        return Err(bad(format!(
            "tensor `{name}` is not part of the card's network"
        )));
    }
    Ok(model)
}

/// Saves the best model (PyTorch parameter names) and its description.
pub(crate) fn save_model(
    ctx: &Context,
    tag: &str,
    seed: u64,
    problem: &Problem,
    trained: &Trained,
    params: &Params,
) -> std::result::Result<(), crate::Error> {
    let dir = ctx.artifact_dir();
    let weights = dir.join(format!("model-{tag}.safetensors"));
    let named: Vec<(String, Tensor)> = trained
        .store
        .variables()
        .into_iter()
        .map(|(name, t)| (name, t.to_device(Device::Cpu)))
        .collect();
    write_atomically(&weights, |path| {
        Ok(Tensor::write_safetensors(&named, path)?)
    })?;
    let card = ModelCard {
        dim: problem.dim.clone(),
        seed,
        network: problem.config.clone(),
        tasks: problem.tasks.clone(),
        params: params.clone(),
        best_epoch: trained.best.epoch,
        best_dev_ccc: trained.best.dev_ccc,
    };
    let json = serde_json::to_vec_pretty(&card).map_err(|e| crate::Error::Data(e.to_string()))?;
    let card_path = dir.join(format!("model-{tag}.json"));
    write_atomically(&card_path, |path| {
        std::fs::write(path, &json).map_err(|source| crate::Error::Io {
            path: path.to_path_buf(),
            source,
        })
    })
}

/// Artifacts are named by dimension, and by seed in an ensemble.
pub(crate) fn model_tag(dim: &str, seeds: &[u64], seed: u64) -> String {
    if seeds.len() == 1 {
        dim.to_string()
    } else {
        format!("{dim}-seed{seed}")
    }
}
