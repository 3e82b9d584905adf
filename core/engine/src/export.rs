//! `emoflow export`: a trained system as a bundle directory that
//! `emoflow predict` applies to new recordings.
//!
//! The system is one node of a graph that has run (e.g. `decoded`), with
//! everything upstream of it; after a sweep, the copy in the trial its
//! select rule chose, for each dimension on its own. Each upstream node
//! takes one of four roles in the bundle's `graph.toml`, from the
//! [`ExportRole`] its kind declares and from the wiring, never from its
//! kind's name:
//!
//! - **source**: a corpus reader ([`ExportRole::Source`]) becomes the
//!   reader it names, reading the recordings given to `predict` (graph
//!   parameter `audio`), resampled to the training recordings' rate by the
//!   resampler it names when they shared one;
//! - **applied**: a node fed (directly or not) by the audio runs again on
//!   the new recordings with the same parameters. An output named like one
//!   of its node's inputs carries that input on, so the labels a stacking
//!   node passes on are not "fed";
//! - **model**: an applied node of a trained kind ([`ExportRole::Model`])
//!   loads the artifact files its training run left that its kind declares
//!   (copied to `models/NODE/`, only the dimension's when the kind has a
//!   dimension parameter, which is then set) through its weights parameter;
//! - **frozen**: a node not fed by the audio was fitted on the training
//!   corpus (codebooks, class sequences, language models): its stored
//!   outputs are copied to `frozen/NODE/` and read back as they are.
//!
//! Nodes that the model feeds are copied once per dimension, so that the
//! predictions of each dimension come from the trial selected for it. The
//! bundle ends with the nodes installed kinds declare as bundle outputs
//! (`KindSpec::bundle_output`: CSV, ARFF, a plot per recording) over the
//! system's predictions. `manifest.json` records the emoflow version, the
//! source graph and selection, every node's kind and plugin hash, and every
//! file's size and BLAKE3 hash. The bundle is written beside its final
//! path and renamed into place.
//!
//! Not exportable (refused with the reason): an applied node whose kind
//! fits on the corpus it reads ([`ExportRole::Fitted`]), such as a
//! normalisation with the training split's statistics or a calibration
//! fitted on dev: on new recordings it would fit again.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use emoflow_sdk::conventions::port;
use emoflow_sdk::describe::{ExportRole, ModelExport, SourceExport};

use crate::cache;
use crate::error::{Error, Result};
use crate::registry::Registry;
use crate::run::RunReport;
use crate::validate::Plan;

/// The bundle layout version `predict` understands.
pub const BUNDLE_FORMAT: u32 = 1;
pub const MANIFEST: &str = "manifest.json";
pub const GRAPH: &str = "graph.toml";

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BundleManifest {
    pub format: u32,
    pub emoflow_version: String,
    pub abi: String,
    /// Seconds since the Unix epoch.
    pub created: u64,
    pub graph: String,
    pub graph_name: String,
    pub sets: Vec<String>,
    pub preset_test: bool,
    pub system: String,
    /// The training recordings' sample rate, when they shared one: the
    /// bundle resamples other recordings to it before the features.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sample_rate: Option<u32>,
    /// Per dimension (or `all`): the trial whose system was taken.
    pub selection: Vec<Selected>,
    pub nodes: Vec<BundleNode>,
    pub files: Vec<BundleFile>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Selected {
    pub group: String,
    pub node: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trial: Option<String>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub params: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BundleNode {
    pub name: String,
    pub kind: String,
    pub role: Role,
    /// The node of the trained graph it comes from.
    pub from: String,
    pub plugin: String,
    pub plugin_hash: String,
    /// The source's parameter taking the recordings, through which
    /// `predict` asks its kind which recordings the given paths name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub paths: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Source,
    Applied,
    Model,
    Frozen,
    Output,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BundleFile {
    pub path: String,
    pub bytes: u64,
    pub blake3: String,
}

/// What to export, and where.
pub struct ExportRequest<'a> {
    pub system: &'a str,
    pub bundle: &'a Path,
    pub graph_path: &'a Path,
    pub sets: &'a [String],
    pub preset_test: bool,
}

/// A node of the bundle: a node of the plan, per dimension when the model
/// feeds it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Id {
    node: usize,
    group: Option<String>,
}

/// Writes the bundle of `request.system` from a finished run of `plan`.
pub fn export(
    plan: &Plan,
    registry: &Registry,
    report: &RunReport,
    request: &ExportRequest,
) -> Result<BundleManifest> {
    if !report.succeeded() {
        return Err(Error::Export(format!(
            "the run {}: export needs every node of the system to have run",
            report.status
        )));
    }
    if request.bundle.exists() && !request.bundle.join(MANIFEST).is_file() {
        return Err(Error::Export(format!(
            "{} exists and is not a bundle; choose another path",
            request.bundle.display()
        )));
    }
    let groups = systems(plan, report, request.system)?;
    let ids = roles(plan, &groups)?;
    let names = bundle_names(plan, &ids, groups.len());
    let resample = resampling(plan, registry, report, &ids, &names)?;
    let tmp = staging_dir(request.bundle)?;
    let bundle = Bundle {
        plan,
        registry,
        report,
        ids: &ids,
        names: &names,
        resample: resample.as_ref(),
        dir: &tmp,
    };
    let result = (|| {
        let title = format!("{} / {}", plan.graph.name, request.system);
        let mut graph = format!(
            "# Bundle of `{}` from {} (emoflow {}), written by `emoflow export`.\n\
             # Run it with `emoflow predict BUNDLE AUDIO...`; it reads the recordings\n\
             # named by the parameter `audio` and finds its files through `bundle`.\n\
             [graph]\nname = \"{}-{}\"\n\n[params]\naudio = []\nbundle = \".\"\ntitle = {}\n",
            request.system,
            request.graph_path.display(),
            env!("CARGO_PKG_VERSION"),
            plan.graph.name,
            request.system,
            toml::Value::from(title),
        );
        let mut nodes = Vec::new();
        let mut ordered: Vec<(&Id, &Role)> = ids.iter().collect();
        ordered.sort_by_key(|(id, _)| (id.node, id.group.clone()));
        for (id, role) in ordered {
            graph += &bundle.node(id, *role, &mut nodes)?;
        }
        graph += &outputs(
            plan,
            &groups,
            &ids,
            &names,
            request.system,
            &mut nodes,
            registry,
        )?;
        std::fs::write(tmp.join(GRAPH), &graph).map_err(|e| Error::io(tmp.join(GRAPH), e))?;
        let manifest = BundleManifest {
            format: BUNDLE_FORMAT,
            emoflow_version: env!("CARGO_PKG_VERSION").into(),
            abi: format!(
                "{}.{}",
                emoflow_sdk::ffi::ABI_MAJOR,
                emoflow_sdk::ffi::ABI_MINOR
            ),
            created: std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs()),
            graph: request.graph_path.display().to_string(),
            graph_name: plan.graph.name.clone(),
            sets: request.sets.to_vec(),
            preset_test: request.preset_test,
            system: request.system.into(),
            sample_rate: resample.as_ref().map(|r| r.rate),
            selection: selection(plan, &groups),
            nodes,
            files: hash_files(&tmp)?,
        };
        let json = serde_json::to_vec_pretty(&manifest).expect("manifests serialize");
        cache::write_atomic(&tmp.join(MANIFEST), &json)?;
        publish(&tmp, request.bundle)?;
        Ok(manifest)
    })();
    if result.is_err() {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    result
}

/// The bundle's nodes with their roles: every node upstream of each
/// group's system, per group where the model feeds it. Refuses a node fed by
/// the audio whose kind fits on the corpus it reads.
fn roles(plan: &Plan, groups: &[System]) -> Result<BTreeMap<Id, Role>> {
    let per_dim = groups.iter().any(|s| s.group != "all");
    let mut ids: BTreeMap<Id, Role> = BTreeMap::new();
    for System {
        group,
        node: system,
        ..
    } in groups
    {
        let closure = ancestors(plan, *system);
        let mut fed = vec![false; plan.nodes.len()];
        let mut per_group = vec![false; plan.nodes.len()];
        for &n in &closure {
            let node = &plan.nodes[n];
            fed[n] = source_export(plan, n).is_some()
                || node
                    .inputs
                    .iter()
                    .flatten()
                    .any(|(from, port)| carries_audio(plan, &fed, *from, port));
            let role = role(plan, n, fed[n])?;
            let inputs = node.inputs.iter().flatten().map(|(from, _)| *from);
            per_group[n] = per_dim && (role == Role::Model || inputs.clone().any(|f| per_group[f]));
            let id = Id {
                node: n,
                group: per_group[n].then(|| group.clone()),
            };
            ids.insert(id, role);
        }
    }
    for (id, role) in &ids {
        let node = &plan.nodes[id.node];
        if *role == Role::Applied
            && let ExportRole::Fitted(fitted) = &node.provider.kind.export
            && fitted.fits(&node.params)
        {
            return Err(Error::Export(format!(
                "node `{}` ({}) cannot be exported: {}",
                node.name, node.provider.kind.kind, fitted.why
            )));
        }
    }
    Ok(ids)
}

/// What writing the bundle's nodes reads.
struct Bundle<'a> {
    plan: &'a Plan,
    registry: &'a Registry,
    report: &'a RunReport,
    ids: &'a BTreeMap<Id, Role>,
    names: &'a BTreeMap<Id, String>,
    resample: Option<&'a Resample>,
    /// The staging directory.
    dir: &'a Path,
}

impl Bundle<'_> {
    /// The `[nodes.NAME]` table(s) of one node, copying the files it needs;
    /// adds it (and a source's resampler) to `nodes`.
    fn node(&self, id: &Id, role: Role, nodes: &mut Vec<BundleNode>) -> Result<String> {
        let node = &self.plan.nodes[id.node];
        let name = &self.names[id];
        let mut table = NodeToml::new(name);
        let mut kind = node.provider.kind.kind.as_str();
        let mut paths = None;
        match role {
            Role::Source => {
                let source =
                    source_export(self.plan, id.node).expect("sources declare their reader");
                kind = &source.reader;
                paths = Some(source.paths.clone());
                table.kind(kind);
                table.raw(&source.paths, "\"${audio}\"");
            }
            Role::Frozen => {
                let entry = entry_of(self.report, &node.name)?;
                copy_entry(&entry, &self.dir.join("frozen").join(name))?;
                table.kind(kind);
                table.value("frozen", &serde_json::Value::from(format!("frozen/{name}")));
                table.params(&node.params, &[]);
            }
            Role::Applied | Role::Model => self.applied(id, role, &mut table)?,
            Role::Output => unreachable!("outputs are added by `outputs`"),
        }
        let from = node.name.clone();
        if let (Role::Source, Some(r)) = (role, self.resample) {
            table.text += &r.table(name);
            let (plugin, plugin_hash) = (
                plugin_name(self.registry, &r.kind),
                plugin_hash(self.registry, &r.kind),
            );
            nodes.push(BundleNode {
                name: r.name.clone(),
                kind: r.kind.clone(),
                role: Role::Applied,
                from: from.clone(),
                plugin,
                plugin_hash,
                paths: None,
            });
        }
        let (plugin, plugin_hash) = (
            plugin_name(self.registry, kind),
            plugin_hash(self.registry, kind),
        );
        nodes.push(BundleNode {
            name: name.clone(),
            kind: kind.into(),
            role,
            from,
            plugin,
            plugin_hash,
            paths,
        });
        Ok(table.text)
    }

    /// An applied node, wired to the bundle's copies of its inputs; a model
    /// also gets its saved weights (and its dimension).
    fn applied(&self, id: &Id, role: Role, table: &mut NodeToml) -> Result<()> {
        let node = &self.plan.nodes[id.node];
        let name = &self.names[id];
        let mut set = Vec::new();
        if role == Role::Model {
            let ExportRole::Model(model) = &node.provider.kind.export else {
                unreachable!("models declare ExportRole::Model")
            };
            let dim = match (&id.group, &model.dim) {
                (Some(group), Some(param)) => {
                    set.push((param.as_str(), serde_json::Value::from(group.clone())));
                    Some(group.as_str())
                }
                (Some(_), None) => {
                    return Err(Error::Export(format!(
                        "node `{}` ({}) declares no dimension parameter, so its dimensions cannot come from different trials",
                        node.name, node.provider.kind.kind
                    )));
                }
                (None, _) => None,
            };
            let entry = entry_of(self.report, &node.name)?;
            copy_models(
                &entry.join("artifacts"),
                &self.dir.join("models").join(name),
                model,
                dim,
                &node.name,
            )?;
            set.push((
                model.weights.as_str(),
                serde_json::Value::from(format!("${{bundle}}/models/{name}")),
            ));
        }
        table.kind(&node.provider.kind.kind);
        for (port, sources) in node.provider.kind.inputs.iter().zip(&node.inputs) {
            let wired: Vec<String> = sources
                .iter()
                .map(|(from, from_port)| match self.resample {
                    Some(r) if r.source == *from && r.port == *from_port => {
                        format!("{}.{}", r.name, r.output)
                    }
                    _ => format!(
                        "{}.{from_port}",
                        self.names[&upstream(self.ids, *from, id.group.as_ref())]
                    ),
                })
                .collect();
            table.input(&port.name, &wired);
        }
        table.params(&node.params, &set);
        Ok(())
    }
}

/// The copy of the system a group (a dimension, or `all`) takes.
struct System {
    group: String,
    node: usize,
    /// The selected trial, after a sweep.
    trial: Option<usize>,
}

fn systems(plan: &Plan, report: &RunReport, system: &str) -> Result<Vec<System>> {
    let copies: Vec<usize> = (0..plan.nodes.len())
        .filter(|&n| base_name(&plan.nodes[n].name) == system)
        .collect();
    match copies.as_slice() {
        [] => {
            let names: BTreeSet<&str> = plan.nodes.iter().map(|n| base_name(&n.name)).collect();
            let hint = crate::diag::did_you_mean(system, names.iter().copied())
                .map_or_else(String::new, |best| format!(" (did you mean `{best}`?)"));
            return Err(Error::Export(format!(
                "the graph has no node `{system}`{hint}; --system takes the node whose predictions to export, e.g. `decoded`"
            )));
        }
        [one] => {
            return Ok(vec![System {
                group: "all".into(),
                node: *one,
                trial: None,
            }]);
        }
        _ => {}
    }
    let sweep = plan.sweep.as_ref().expect("only a sweep copies nodes");
    let selected = report
        .sweep
        .as_ref()
        .map(|s| &s.selected)
        .ok_or_else(|| Error::Export("the run made no selection".into()))?;
    // The rule whose select node reads the system most directly.
    let rule = (0..sweep.rules.len())
        .filter_map(|r| {
            let depth = distance(plan, sweep.select_nodes[r][0], system)?;
            Some((depth, r))
        })
        .min()
        .map(|(_, r)| r)
        .ok_or_else(|| Error::Export(format!("`{system}` is swept, but no [sweep] select rule reads it, so no trial of it is selected")))?;
    let rule_node = &sweep.rules[rule].node;
    let chosen = selected
        .get(rule_node)
        .ok_or_else(|| Error::Export(format!("the run selected nothing for `{rule_node}`")))?;
    chosen
        .iter()
        .map(|(group, trial_id)| {
            let t = sweep
                .trials
                .iter()
                .position(|t| &t.id == trial_id)
                .ok_or_else(|| Error::Export(format!("unknown trial `{trial_id}`")))?;
            let copy = ancestors(plan, sweep.select_nodes[rule][t])
                .into_iter()
                .find(|&n| base_name(&plan.nodes[n].name) == system)
                .ok_or_else(|| {
                    Error::Export(format!("trial `{trial_id}` has no copy of `{system}`"))
                })?;
            Ok(System {
                group: group.clone(),
                node: copy,
                trial: Some(t),
            })
        })
        .collect()
}

fn selection(plan: &Plan, groups: &[System]) -> Vec<Selected> {
    groups
        .iter()
        .map(|system| {
            let trial = system
                .trial
                .and_then(|t| plan.sweep.as_ref().map(|s| &s.trials[t]));
            Selected {
                group: system.group.clone(),
                node: plan.nodes[system.node].name.clone(),
                trial: trial.map(|t| t.id.clone()),
                params: trial.map(|t| t.params.clone()).unwrap_or_default(),
            }
        })
        .collect()
}

/// The resampler the bundle puts after its source (the kind its source
/// declares): to the rate all training recordings had, unless the graph
/// resamples them itself.
struct Resample {
    source: usize,
    port: String,
    name: String,
    kind: String,
    /// Its audio input and output ports and its rate parameter.
    input: String,
    output: String,
    rate_param: String,
    rate: u32,
}

impl Resample {
    /// Its `[nodes.NAME]` table, reading the bundle's source `source`.
    fn table(&self, source: &str) -> String {
        let mut node = NodeToml::new(&self.name);
        node.kind(&self.kind);
        node.input(&self.input, &[format!("{source}.{}", self.port)]);
        node.value(&self.rate_param, &serde_json::Value::from(self.rate));
        node.text
    }
}

fn resampling(
    plan: &Plan,
    registry: &Registry,
    report: &RunReport,
    ids: &BTreeMap<Id, Role>,
    names: &BTreeMap<Id, String>,
) -> Result<Option<Resample>> {
    let mut sources = ids.iter().filter(|(_, role)| **role == Role::Source);
    let (Some((id, _)), None) = (sources.next(), sources.next()) else {
        return Ok(None);
    };
    let Some(resampler) = source_export(plan, id.node).and_then(|s| s.resampler.as_ref()) else {
        return Ok(None);
    };
    let kind = &plan.nodes[id.node].provider.kind;
    let port = kind
        .outputs
        .iter()
        .find(|o| o.port_type == port::AUDIO)
        .expect("sources have audio")
        .name
        .clone();
    let resampled_already = ids.keys().any(|reader| {
        let node = &plan.nodes[reader.node];
        node.provider.kind.kind == resampler.kind
            && node
                .inputs
                .iter()
                .flatten()
                .any(|(from, _)| *from == id.node)
    });
    if resampled_already {
        return Ok(None);
    }
    let audio_port = |ports: &[emoflow_sdk::describe::PortDescription]| {
        ports
            .iter()
            .find(|p| p.port_type == port::AUDIO)
            .map(|p| p.name.clone())
    };
    let declared = registry
        .get(&resampler.kind)
        .map(|p| (audio_port(&p.kind.inputs), audio_port(&p.kind.outputs)));
    let Some((Some(input), Some(output))) = declared else {
        return Err(Error::Export(format!(
            "the source `{}` ({}) names the resampler `{}`, which is not installed with an audio input and output",
            plan.nodes[id.node].name, kind.kind, resampler.kind
        )));
    };
    let rates = sample_rates(&entry_of(report, &plan.nodes[id.node].name)?, &port)?;
    let [rate] = rates.as_slice() else {
        return Ok(None);
    };
    let mut name = format!("{}_resample", names[id]);
    while names.values().any(|n| *n == name) {
        name.push('_');
    }
    let (kind, rate_param) = (resampler.kind.clone(), resampler.rate.clone());
    Ok(Some(Resample {
        source: id.node,
        port,
        name,
        kind,
        input,
        output,
        rate_param,
        rate: *rate,
    }))
}

/// The distinct sample rates of a stored `audio` output, reading only that
/// column (the samples of a corpus can run to gigabytes).
fn sample_rates(entry: &Path, port: &str) -> Result<Vec<u32>> {
    use arrow::array::{Array, UInt32Array};
    use arrow::ipc::reader::FileReader;
    let stored = cache::Entry::read(entry)?;
    let path = stored
        .port_path(port)
        .ok_or_else(|| Error::Export(format!("{}: no `{port}` output", entry.display())))?;
    let open = |projection| {
        let file = std::fs::File::open(&path).map_err(|e| Error::io(&path, e))?;
        FileReader::try_new(std::io::BufReader::new(file), projection)
            .map_err(|e| Error::Export(format!("{}: {e}", path.display())))
    };
    let column = open(None)?
        .schema()
        .index_of(emoflow_sdk::conventions::column::SAMPLE_RATE)
        .map_err(|e| Error::Export(format!("{}: {e}", path.display())))?;
    let mut rates = BTreeSet::new();
    for batch in open(Some(vec![column]))? {
        let batch = batch.map_err(|e| Error::Export(format!("{}: {e}", path.display())))?;
        let column = batch
            .column(0)
            .as_any()
            .downcast_ref::<UInt32Array>()
            .ok_or_else(|| Error::Export("sample_rate is not UInt32".into()))?;
        rates.extend(column.iter().flatten());
    }
    Ok(rates.into_iter().collect())
}

/// A node's name without its sweep copy's `[param=value,...]`.
fn base_name(name: &str) -> &str {
    name.split('[').next().unwrap_or(name)
}

/// `node` and every node it reads from, in plan (topological) order.
fn ancestors(plan: &Plan, node: usize) -> Vec<usize> {
    let mut keep = vec![false; plan.nodes.len()];
    let mut stack = vec![node];
    while let Some(n) = stack.pop() {
        if !std::mem::replace(&mut keep[n], true) {
            stack.extend(plan.nodes[n].inputs.iter().flatten().map(|(from, _)| *from));
        }
    }
    (0..plan.nodes.len()).filter(|&n| keep[n]).collect()
}

/// Edges from a copy of `system` down to `node`, if `node` reads it.
fn distance(plan: &Plan, node: usize, system: &str) -> Option<usize> {
    if base_name(&plan.nodes[node].name) == system {
        return Some(0);
    }
    plan.nodes[node]
        .inputs
        .iter()
        .flatten()
        .filter_map(|(from, _)| distance(plan, *from, system))
        .min()
        .map(|d| d + 1)
}

/// Whether output `port` of node `n` carries data derived from the audio.
/// An output named like one of the node's inputs passes that input on (a
/// stacking node trims its `labels` to the features, but they stay the
/// corpus's labels); any other output of a node fed by the audio carries it.
/// A source's only audio is its audio outputs.
fn carries_audio(plan: &Plan, fed: &[bool], n: usize, port: &str) -> bool {
    let node = &plan.nodes[n];
    if source_export(plan, n).is_some() {
        return node
            .provider
            .kind
            .output(port)
            .is_some_and(|o| o.port_type == port::AUDIO);
    }
    match node
        .provider
        .kind
        .inputs
        .iter()
        .position(|p| p.name == port)
    {
        Some(slot) => node.inputs[slot]
            .iter()
            .any(|(from, p)| carries_audio(plan, fed, *from, p)),
        None => fed[n],
    }
}

/// A corpus reader's declaration.
fn source_export(plan: &Plan, n: usize) -> Option<&SourceExport> {
    match &plan.nodes[n].provider.kind.export {
        ExportRole::Source(source) => Some(source),
        _ => None,
    }
}

fn role(plan: &Plan, n: usize, fed: bool) -> Result<Role> {
    let node = &plan.nodes[n];
    let kind = &node.provider.kind;
    Ok(match &kind.export {
        ExportRole::Source(_) => Role::Source,
        // Read as it is, the training corpus would stand in for the new
        // recordings.
        _ if kind.inputs.is_empty() && kind.outputs.iter().any(|o| o.port_type == port::AUDIO) => {
            return Err(Error::Export(format!(
                "node `{}` ({}) reads recordings, but its kind declares no reader for new ones (ExportRole::Source)",
                node.name, kind.kind
            )));
        }
        _ if !fed => Role::Frozen,
        ExportRole::Model(_) => Role::Model,
        _ => Role::Applied,
    })
}

/// The bundle node an input of a node of `group` reads: the per-group copy
/// when there is one.
fn upstream(ids: &BTreeMap<Id, Role>, from: usize, group: Option<&String>) -> Id {
    let grouped = Id {
        node: from,
        group: group.cloned(),
    };
    if ids.contains_key(&grouped) {
        grouped
    } else {
        Id {
            node: from,
            group: None,
        }
    }
}

/// Names: the node's own (without its trial), with the dimension for
/// per-dimension copies, numbered when two trials' copies would clash.
fn bundle_names(plan: &Plan, ids: &BTreeMap<Id, Role>, groups: usize) -> BTreeMap<Id, String> {
    let mut taken = BTreeSet::new();
    let mut names = BTreeMap::new();
    for id in ids.keys() {
        let base = base_name(&plan.nodes[id.node].name);
        let mut name = match &id.group {
            Some(group) if groups > 1 => format!("{base}_{group}"),
            _ => base.to_string(),
        };
        let stem = name.clone();
        let mut n = 2;
        while !taken.insert(name.clone()) {
            name = format!("{stem}_{n}");
            n += 1;
        }
        names.insert(id.clone(), name);
    }
    names
}

/// The nodes installed kinds declare as bundle outputs, over the system's
/// predictions (its `series` output).
fn outputs(
    plan: &Plan,
    groups: &[System],
    ids: &BTreeMap<Id, Role>,
    names: &BTreeMap<Id, String>,
    system: &str,
    nodes: &mut Vec<BundleNode>,
    registry: &Registry,
) -> Result<String> {
    let mut sources = Vec::new();
    for System { group, node, .. } in groups {
        let kind = &plan.nodes[*node].provider.kind;
        let port = kind
            .outputs
            .iter()
            .find(|o| o.port_type == port::SERIES)
            .ok_or_else(|| {
                Error::Export(format!(
                    "`{system}` ({}) has no `series` output: export a node that predicts values",
                    kind.kind
                ))
            })?;
        let id = upstream(ids, *node, Some(group));
        let wire = format!("{}.{}", names[&id], port.name);
        if !sources.contains(&wire) {
            sources.push(wire);
        }
    }
    let declared: Vec<_> = registry
        .kinds()
        .flat_map(|p| p.kind.bundle_outputs.iter().map(move |o| (&p.kind.kind, o)))
        .collect();
    if declared.is_empty() {
        return Err(Error::Export("no installed kind declares a bundle output (KindSpec::bundle_output) to write the predictions".into()));
    }
    let mut text = String::new();
    for (kind, output) in declared {
        let name = &output.name;
        if names.values().any(|n| n == name) {
            return Err(Error::Export(format!(
                "the system has a node named `{name}`, which the bundle's outputs use; rename it"
            )));
        }
        let mut table = NodeToml::new(name);
        table.kind(kind);
        table.input(&output.input, &sources);
        table.params(&serde_json::Value::Object(output.params.clone()), &[]);
        text += &table.text;
        nodes.push(BundleNode {
            name: name.clone(),
            kind: kind.clone(),
            role: Role::Output,
            from: String::new(),
            plugin: plugin_name(registry, kind),
            plugin_hash: plugin_hash(registry, kind),
            paths: None,
        });
    }
    Ok(text)
}

fn plugin_hash(registry: &Registry, kind: &str) -> String {
    registry
        .get(kind)
        .map(|p| registry.file_hash(p.plugin.path()))
        .unwrap_or_default()
}

fn plugin_name(registry: &Registry, kind: &str) -> String {
    registry
        .get(kind)
        .and_then(|p| {
            p.plugin
                .path()
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
        })
        .unwrap_or_default()
}

/// One `[nodes.NAME]` table of the bundle's graph.
struct NodeToml {
    text: String,
}

impl NodeToml {
    fn new(name: &str) -> Self {
        Self {
            text: format!("\n[nodes.{}]\n", toml_key(name)),
        }
    }

    fn kind(&mut self, kind: &str) {
        self.value("kind", &serde_json::Value::from(kind));
    }

    fn raw(&mut self, key: &str, toml: &str) {
        let _ = writeln!(self.text, "{} = {toml}", toml_key(key));
    }

    fn value(&mut self, key: &str, value: &serde_json::Value) {
        if let Some(v) = to_toml(value) {
            self.raw(key, &v.to_string());
        }
    }

    fn input(&mut self, port: &str, sources: &[String]) {
        let wiring = match sources {
            [] => return,
            [one] => toml::Value::from(one.as_str()),
            many => {
                toml::Value::Array(many.iter().map(|s| toml::Value::from(s.as_str())).collect())
            }
        };
        let _ = writeln!(self.text, "inputs.{} = {wiring}", toml_key(port));
    }

    /// The node's parameters, with `set` replacing or adding some.
    fn params(&mut self, params: &serde_json::Value, set: &[(&str, serde_json::Value)]) {
        let mut all: BTreeMap<&str, &serde_json::Value> = params
            .as_object()
            .into_iter()
            .flatten()
            .map(|(k, v)| (k.as_str(), v))
            .collect();
        for (k, v) in set {
            all.insert(k, v);
        }
        for (k, v) in all {
            self.value(k, v);
        }
    }
}

fn toml_key(key: &str) -> String {
    if !key.is_empty()
        && key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        key.to_string()
    } else {
        toml::Value::from(key).to_string()
    }
}

/// JSON as TOML; `None` for a null, which TOML cannot hold (and the graph
/// never had: its parameters came from TOML).
fn to_toml(value: &serde_json::Value) -> Option<toml::Value> {
    use serde_json::Value as J;
    Some(match value {
        J::Null => return None,
        J::Bool(b) => toml::Value::Boolean(*b),
        J::Number(n) => match n.as_i64() {
            Some(i) => toml::Value::Integer(i),
            None => toml::Value::Float(n.as_f64()?),
        },
        J::String(s) => toml::Value::String(s.clone()),
        J::Array(items) => toml::Value::Array(items.iter().filter_map(to_toml).collect()),
        J::Object(map) => toml::Value::Table(
            map.iter()
                .filter_map(|(k, v)| Some((k.clone(), to_toml(v)?)))
                .collect(),
        ),
    })
}

fn entry_of(report: &RunReport, node: &str) -> Result<PathBuf> {
    report
        .nodes
        .get(node)
        .and_then(|r| r.outputs.clone())
        .ok_or_else(|| Error::Export(format!("node `{node}` has no stored outputs in this run")))
}

/// A stored entry's manifest and port files (not its artifacts).
fn copy_entry(entry: &Path, to: &Path) -> Result<()> {
    let stored = cache::Entry::read(entry)?;
    std::fs::create_dir_all(to).map_err(|e| Error::io(to, e))?;
    let files = stored
        .manifest
        .ports
        .iter()
        .map(|p| p.file.as_str())
        .chain([cache::MANIFEST]);
    for file in files {
        std::fs::copy(entry.join(file), to.join(file))
            .map_err(|e| Error::Export(format!("copying {}: {e}", entry.join(file).display())))?;
    }
    Ok(())
}

/// The weights a model node saved: its artifacts matching what its kind
/// declares, only those of `dim` when given.
fn copy_models(
    artifacts: &Path,
    to: &Path,
    model: &ModelExport,
    dim: Option<&str>,
    node: &str,
) -> Result<()> {
    let entries = std::fs::read_dir(artifacts)
        .map_err(|e| Error::Export(format!("node `{node}`: {}: {e}", artifacts.display())))?;
    std::fs::create_dir_all(to).map_err(|e| Error::io(to, e))?;
    let patterns: Vec<String> = model
        .artifacts
        .iter()
        .map(|p| p.replace("{dim}", dim.unwrap_or("*")))
        .collect();
    let mut copied = 0;
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !patterns.iter().any(|p| glob_match(p, &name)) {
            continue;
        }
        std::fs::copy(entry.path(), to.join(&name))
            .map_err(|e| Error::Export(format!("copying {}: {e}", entry.path().display())))?;
        copied += 1;
    }
    if copied == 0 {
        return Err(Error::Export(format!(
            "node `{node}` saved no model{} in {} (its kind's artifacts: {})",
            dim.map_or_else(String::new, |d| format!(" of dimension `{d}`")),
            artifacts.display(),
            model.artifacts.join(", ")
        )));
    }
    Ok(())
}

/// Whether `name` matches `pattern`, in which `*` stands for any text.
fn glob_match(pattern: &str, name: &str) -> bool {
    match pattern.split_once('*') {
        None => pattern == name,
        Some((head, tail)) => {
            let Some(rest) = name.strip_prefix(head) else {
                return false;
            };
            (0..=rest.len())
                .filter(|&i| rest.is_char_boundary(i))
                .any(|i| glob_match(tail, &rest[i..]))
        }
    }
}

/// Every file under `dir` (the manifest aside), with its size and hash.
pub fn hash_files(dir: &Path) -> Result<Vec<BundleFile>> {
    let mut files = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d).map_err(|e| Error::io(&d, e))?;
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            let rel = path
                .strip_prefix(dir)
                .expect("under dir")
                .to_string_lossy()
                .replace('\\', "/");
            if rel == MANIFEST {
                continue;
            }
            let bytes = std::fs::read(&path).map_err(|e| Error::io(&path, e))?;
            files.push(BundleFile {
                path: rel,
                bytes: bytes.len() as u64,
                blake3: blake3::hash(&bytes).to_hex().to_string(),
            });
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// `BUNDLE.partial` beside the bundle, empty.
fn staging_dir(bundle: &Path) -> Result<PathBuf> {
    let name = bundle
        .file_name()
        .ok_or_else(|| Error::Export(format!("{} is not a directory name", bundle.display())))?;
    let tmp = bundle.with_file_name(format!("{}.partial", name.to_string_lossy()));
    if tmp.exists() {
        std::fs::remove_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    }
    std::fs::create_dir_all(&tmp).map_err(|e| Error::io(&tmp, e))?;
    Ok(tmp)
}

/// Renames the finished bundle into place, replacing an earlier bundle
/// (`export` refused anything else there).
fn publish(tmp: &Path, bundle: &Path) -> Result<()> {
    if bundle.exists() {
        std::fs::remove_dir_all(bundle).map_err(|e| Error::io(bundle, e))?;
    }
    std::fs::rename(tmp, bundle).map_err(|e| Error::io(bundle, e))
}
