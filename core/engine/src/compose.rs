//! The part of composition that needs the plugins: what a node redefined
//! with another kind keeps of its wiring and parameters, and whether the
//! graph gives the fragments it extends the nodes they need.

use crate::diag::{Diagnostic, Sources, Span};
use crate::graph::Graph;
use crate::registry::Registry;

/// What a kind swap kept and dropped, for `check` and `run` to list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwapReport {
    pub node: String,
    pub from_kind: String,
    pub to_kind: String,
    pub at: Span,
    pub kept_inputs: Vec<String>,
    pub dropped_inputs: Vec<String>,
    pub kept_params: Vec<String>,
    pub dropped_params: Vec<String>,
}

impl SwapReport {
    /// One line: `FILE:LINE:COL: node `x` is now K (was J): kept ...; dropped ...`.
    pub fn describe(&self, sources: &Sources) -> String {
        let list = |what: &str, names: &[String]| {
            (!names.is_empty()).then(|| {
                format!(
                    "{what} {}",
                    names
                        .iter()
                        .map(|n| format!("`{n}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            })
        };
        let kept: Vec<String> = [
            list("inputs", &self.kept_inputs),
            list("parameters", &self.kept_params),
        ]
        .into_iter()
        .flatten()
        .collect();
        let dropped: Vec<String> = [
            list("inputs", &self.dropped_inputs),
            list("parameters", &self.dropped_params),
        ]
        .into_iter()
        .flatten()
        .collect();
        let or_nothing = |parts: Vec<String>| {
            if parts.is_empty() {
                "nothing".to_string()
            } else {
                parts.join(", ")
            }
        };
        format!(
            "{}: node `{}` is now {} (was {}): kept {}; dropped {}",
            sources.location(&self.at),
            self.node,
            self.to_kind,
            self.from_kind,
            or_nothing(kept),
            or_nothing(dropped)
        )
    }
}

/// Gives each swapped node the inherited inputs whose port its new kind
/// has and the inherited parameters its schema names; drops the rest. What
/// the redefining file (or `--set`) sets itself was never inherited.
pub fn resolve_swaps(graph: &mut Graph, registry: &Registry) -> Vec<SwapReport> {
    let mut reports = Vec::new();
    for node in &mut graph.nodes {
        let Some(swap) = node.swap.take() else {
            continue;
        };
        // An unknown kind is reported by validation; nothing to sort here.
        let Some(provider) = node.kind.as_ref().and_then(|(k, _)| registry.get(k)) else {
            continue;
        };
        let kind = &provider.kind;
        let accepts = |name: &str| {
            kind.params
                .get("properties")
                .and_then(|p| p.get(name))
                .is_some()
        };
        let mut report = SwapReport {
            node: node.name.name.clone(),
            from_kind: swap.from_kind,
            to_kind: kind.kind.clone(),
            at: swap.at,
            kept_inputs: Vec::new(),
            dropped_inputs: Vec::new(),
            kept_params: Vec::new(),
            dropped_params: Vec::new(),
        };
        for input in swap.inputs {
            let port = input.port.name.clone();
            if node.inputs.iter().any(|i| i.port.name == port) {
                continue;
            }
            let (list, keep) = if kind.inputs.iter().any(|p| p.name == port) {
                (&mut report.kept_inputs, true)
            } else {
                (&mut report.dropped_inputs, false)
            };
            // A fan-in port inherits several sources under one name.
            if !list.contains(&port) {
                list.push(port);
            }
            if keep {
                node.inputs.push(input);
            }
        }
        for (key, value) in swap.params {
            if node.params.iter().any(|(k, _)| k.name == key.name) {
                continue;
            }
            if accepts(&key.name) {
                report.kept_params.push(key.name.clone());
                node.params.push((key, value));
            } else {
                report.dropped_params.push(key.name);
            }
        }
        reports.push(report);
    }
    reports
}

/// Checks that the graph has the nodes, with the outputs, that the
/// fragments it extends declare in `requires`; each problem at the
/// `extends` entry that brought the fragment in.
pub fn check_requirements(graph: &Graph, registry: &Registry) -> Vec<Diagnostic> {
    if graph.fragment {
        return Vec::new();
    }
    let mut diags = Vec::new();
    let mut seen: Vec<(&str, &str)> = Vec::new();
    for need in &graph.requires {
        // A fragment reached along several `extends` paths is checked once.
        if seen.contains(&(need.fragment.as_str(), need.node.name.as_str())) {
            continue;
        }
        seen.push((need.fragment.as_str(), need.node.name.as_str()));
        let outputs = need
            .outputs
            .iter()
            .map(|o| format!("`{o}`"))
            .collect::<Vec<_>>()
            .join(", ");
        let Some(node) = graph.nodes.iter().find(|n| n.name.name == need.node.name) else {
            let fitting: Vec<&str> = registry
                .kinds()
                .filter(|p| {
                    p.kind.inputs.is_empty()
                        && need.outputs.iter().all(|o| p.kind.output(o).is_some())
                })
                .map(|p| p.kind.kind.as_str())
                .collect();
            let mut d = Diagnostic::at(
                &need.extended_at,
                format!(
                    "{} needs a node `{}` with outputs {outputs}",
                    need.fragment, need.node.name
                ),
            )
            .label(format!(
                "extends a fragment that reads `{}`",
                need.node.name
            ));
            d = d.help(match fitting.as_slice() {
                [] => format!(
                    "add [nodes.{}] of a kind with outputs {outputs}",
                    need.node.name
                ),
                kinds => format!(
                    "add [nodes.{}] with a kind such as {}",
                    need.node.name,
                    kinds.join(", ")
                ),
            });
            diags.push(d);
            continue;
        };
        let Some((kind, span)) = &node.kind else {
            continue;
        };
        let Some(provider) = registry.get(kind) else {
            continue;
        };
        let missing: Vec<&str> = need
            .outputs
            .iter()
            .filter(|o| provider.kind.output(o).is_none())
            .map(String::as_str)
            .collect();
        if !missing.is_empty() {
            diags.push(
                Diagnostic::at(
                    span,
                    format!(
                        "{} reads output{} {} of node `{}`, which `{kind}` lacks",
                        need.fragment,
                        if missing.len() == 1 { "" } else { "s" },
                        missing
                            .iter()
                            .map(|o| format!("`{o}`"))
                            .collect::<Vec<_>>()
                            .join(", "),
                        need.node.name
                    ),
                )
                .label(format!("`{}` needs outputs {outputs}", need.node.name)),
            );
        }
    }
    diags
}
