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
