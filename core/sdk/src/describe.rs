//! The description a plugin gives of itself (`describe`), as JSON, so the
//! host can validate a whole graph before anything runs.

use serde::{Deserialize, Serialize};

use crate::node::{KindSpec, PluginSpec, PortSpec};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PluginDescription {
    /// The plugin crate's name and version.
    pub name: String,
    pub version: String,
    pub sdk_version: String,
    pub kinds: Vec<KindDescription>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KindDescription {
    pub kind: String,
    pub doc: String,
    pub source_file: String,
    pub inputs: Vec<PortDescription>,
    pub outputs: Vec<PortDescription>,
    /// JSON Schema of the parameters.
    pub params: serde_json::Value,
    pub cacheable: bool,
    /// Whether the kind is a tensor function (a loss) callable by other nodes.
    pub tensor_fn: bool,
    /// Each node runs in a worker process of its own (`KindSpec::own_process`).
    /// Absent in descriptions from older plugins: in process.
    #[serde(default)]
    pub own_process: bool,
    /// The parameter fixing the node's thread count (`KindSpec::threads_param`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub threads_param: Option<String>,
    /// What `emoflow export` does with a node of the kind (`KindSpec::export`).
    /// Absent in descriptions from older plugins: [`ExportRole::Applied`].
    #[serde(default, skip_serializing_if = "ExportRole::is_applied")]
    pub export: ExportRole,
    /// Nodes `emoflow export` adds over a bundle's predictions
    /// (`KindSpec::bundle_output`). Absent in older descriptions: none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub bundle_outputs: Vec<BundleOutput>,
}

/// The role a kind takes in a bundle written by `emoflow export`: what the
/// engine needs to know to carry a trained system over to new recordings,
/// declared by the kind so that the engine knows no kind by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "role")]
pub enum ExportRole {
    /// Its outputs follow from its inputs and parameters alone: fed by the
    /// recordings, it runs again on the new ones; fed by none (it read only
    /// the training labels), its stored outputs are kept as they are.
    #[default]
    Applied,
    /// Reads a corpus's recordings.
    Source(SourceExport),
    /// Trained: its saved weights are copied into the bundle, which runs it
    /// with them instead of training.
    Model(ModelExport),
    /// Fits state on the corpus it reads when it runs (the training split's
    /// statistics, a calibration on dev). Fed by no recordings, its stored
    /// outputs are kept; fed by them, it cannot be exported: on the new
    /// recordings it would fit again.
    Fitted(FittedExport),
}

impl ExportRole {
    pub fn is_applied(&self) -> bool {
        *self == ExportRole::Applied
    }
}

/// A corpus reader: a bundle reads the recordings given to `emoflow
/// predict` with `reader` (this kind, when it reads recording files
/// itself), whose parameter `paths` takes their paths; the reader's
/// [`crate::Node::input_files`] lists the recordings the paths name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SourceExport {
    pub reader: String,
    pub paths: String,
    /// The kind (one audio input, one audio output) that brings the new
    /// recordings to the training recordings' sample rate, and its rate
    /// parameter; none: new recordings are read at their own rate.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resampler: Option<Resampler>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Resampler {
    pub kind: String,
    pub rate: String,
}

impl SourceExport {
    pub fn new(reader: &str, paths: &str) -> Self {
        Self {
            reader: reader.into(),
            paths: paths.into(),
            resampler: None,
        }
    }

    /// See [`SourceExport::resampler`].
    pub fn resampler(mut self, kind: &str, rate: &str) -> Self {
        self.resampler = Some(Resampler {
            kind: kind.into(),
            rate: rate.into(),
        });
        self
    }
}

/// A trained kind: the parameter `weights` takes the directory of its saved
/// models, the artifact files matching `artifacts` (`*`: any text;
/// `{dim}`: a dimension's name). With `dim`, the parameter selecting one
/// dimension: a bundle whose dimensions come from different trials keeps
/// one node per dimension, each with only its dimension's files.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelExport {
    pub weights: String,
    pub artifacts: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dim: Option<String>,
}

impl ModelExport {
    pub fn new(weights: &str, artifacts: &[&str]) -> Self {
        Self {
            weights: weights.into(),
            artifacts: artifacts.iter().map(|a| a.to_string()).collect(),
            dim: None,
        }
    }

    /// See [`ModelExport::dim`].
    pub fn dim(mut self, param: &str) -> Self {
        self.dim = Some(param.into());
        self
    }
}

/// A kind that fits state on the corpus it reads. `why` completes "cannot
/// be exported: ..."; `state_is_output`: whether the fitted state is one of
/// its outputs (a codebook), which a bundle keeps when the node reads no
/// recordings. With `when`, only nodes whose parameter has that value fit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FittedExport {
    pub why: String,
    pub state_is_output: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub when: Option<ParamIs>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ParamIs {
    pub param: String,
    pub value: serde_json::Value,
}

impl FittedExport {
    pub fn new(why: &str, state_is_output: bool) -> Self {
        Self {
            why: why.into(),
            state_is_output,
            when: None,
        }
    }

    /// See [`FittedExport::when`].
    pub fn when(mut self, param: &str, value: impl Into<serde_json::Value>) -> Self {
        self.when = Some(ParamIs {
            param: param.into(),
            value: value.into(),
        });
        self
    }

    /// Whether a node with these (defaulted) parameters fits.
    pub fn fits(&self, params: &serde_json::Value) -> bool {
        self.when
            .as_ref()
            .is_none_or(|w| params.get(&w.param) == Some(&w.value))
    }
}

/// A node `emoflow export` puts over a bundle's predictions: named `name`,
/// with the predictions wired to `input` and these parameters, in which the
/// text `${title}` is the bundle's title.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BundleOutput {
    pub name: String,
    pub input: String,
    pub params: serde_json::Map<String, serde_json::Value>,
}

impl From<SourceExport> for ExportRole {
    fn from(role: SourceExport) -> Self {
        ExportRole::Source(role)
    }
}

impl From<ModelExport> for ExportRole {
    fn from(role: ModelExport) -> Self {
        ExportRole::Model(role)
    }
}

impl From<FittedExport> for ExportRole {
    fn from(role: FittedExport) -> Self {
        ExportRole::Fitted(role)
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PortDescription {
    pub name: String,
    #[serde(rename = "type")]
    pub port_type: String,
    pub doc: String,
    #[serde(default)]
    pub optional: bool,
    /// How a run's report presents the output (`KindSpec::shows`). Absent in
    /// descriptions from older plugins: shown as a plain output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shows: Option<String>,
}

impl KindDescription {
    pub fn input(&self, name: &str) -> Option<&PortDescription> {
        self.inputs.iter().find(|p| p.name == name)
    }
    pub fn output(&self, name: &str) -> Option<&PortDescription> {
        self.outputs.iter().find(|p| p.name == name)
    }
}

fn port(p: &PortSpec) -> PortDescription {
    PortDescription {
        name: p.name.to_string(),
        port_type: p.port_type.to_string(),
        doc: p.doc.to_string(),
        optional: p.optional,
        shows: p.shows.map(str::to_string),
    }
}

fn kind(k: &KindSpec) -> KindDescription {
    KindDescription {
        kind: k.kind.to_string(),
        doc: k.doc.to_string(),
        source_file: k.source_file.to_string(),
        inputs: k.inputs.iter().map(port).collect(),
        outputs: k.outputs.iter().map(port).collect(),
        params: k.params_schema.clone(),
        cacheable: k.cacheable,
        tensor_fn: k.tensor_fn.is_some(),
        own_process: k.own_process,
        threads_param: k.threads_param.map(str::to_string),
        export: k.export.clone(),
        bundle_outputs: k.bundle_outputs.clone(),
    }
}

pub(crate) fn to_json(spec: &PluginSpec) -> String {
    let description = PluginDescription {
        name: spec.name.to_string(),
        version: spec.version.to_string(),
        sdk_version: env!("CARGO_PKG_VERSION").to_string(),
        kinds: spec.kinds.iter().map(kind).collect(),
    };
    serde_json::to_string(&description).expect("descriptions are plain JSON values")
}
