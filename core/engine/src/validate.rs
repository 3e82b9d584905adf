//! Checks a graph against the plugins before anything runs, collecting every
//! problem at once: an empty graph, unknown kinds, ports, nodes and
//! parameters, unwired inputs, port type mismatches, ill-typed or
//! out-of-range parameters, rules only a node knows (each node is created
//! through its plugin, not run), and cycles. Builds the petgraph DAG and its
//! topological order.

use petgraph::algo::{tarjan_scc, toposort};
use petgraph::graph::{DiGraph, NodeIndex};

use emoflow_sdk::conventions;

use crate::diag::{Diagnostic, Span};
use crate::graph::{Graph, NodeDecl, suggest_node};
use crate::registry::{Provider, Registry};
use crate::schema;
use emoflow_sdk::describe::KindDescription;

/// A node ready to run.
#[derive(Clone)]
pub struct PlannedNode {
    pub name: String,
    pub provider: Provider,
    /// Parameters as the plugin receives them.
    pub params: serde_json::Value,
    /// For each declared input: its sources, each a producing node (index
    /// into [`Plan::nodes`]) and its output port, read in order; empty when
    /// unwired (optional).
    pub inputs: Vec<Vec<(usize, String)>>,
    /// A frozen node's stored outputs (see [`crate::graph::NodeDecl::frozen`]).
    pub frozen: Option<std::path::PathBuf>,
}

/// A validated graph, its nodes in topological order.
pub struct Plan {
    pub graph: Graph,
    pub nodes: Vec<PlannedNode>,
    /// The sweep the graph was expanded from, if any.
    pub sweep: Option<crate::sweep::Sweep>,
}

impl Plan {
    /// Graphviz DOT of the DAG: nodes with their kinds, edges with ports.
    pub fn dot(&self) -> String {
        let mut out = format!(
            "digraph \"{}\" {{\n  rankdir=LR;\n  node [shape=box];\n",
            self.graph.name
        );
        for n in &self.nodes {
            out += &format!(
                "  \"{}\" [label=\"{}\\n{}\"];\n",
                n.name, n.name, n.provider.kind.kind
            );
        }
        for n in &self.nodes {
            for (port, sources) in n.provider.kind.inputs.iter().zip(&n.inputs) {
                for (from, from_port) in sources {
                    out += &format!(
                        "  \"{}\" -> \"{}\" [label=\"{} → {}\"];\n",
                        self.nodes[*from].name, n.name, from_port, port.name
                    );
                }
            }
        }
        out + "}\n"
    }
}

pub fn validate(graph: Graph, registry: &Registry) -> Result<Plan, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    if graph.nodes.is_empty() && !graph.fragment {
        // The top file is the first source the loader read.
        diags.push(
            Diagnostic::at(&Span { file: 0, range: 0..0 }, "the graph has no nodes: nothing to run")
                .help("add a node: `[nodes.NAME]` with `kind = \"...\"` (`emoflow plugins` lists the kinds)"),
        );
    }
    let providers = providers(&graph, registry, &mut diags);
    let mut dag: DiGraph<usize, ()> = DiGraph::new();
    let ids: Vec<NodeIndex> = (0..graph.nodes.len()).map(|i| dag.add_node(i)).collect();
    let mut wiring: Vec<Vec<Vec<(usize, String)>>> = Vec::new();
    for (i, node) in graph.nodes.iter().enumerate() {
        let Some(provider) = providers[i] else {
            wiring.push(Vec::new());
            continue;
        };
        let found_before = diags.len();
        let (inputs, edges) = wire(&graph, &providers, i, &mut diags);
        for from in edges {
            dag.add_edge(ids[from], ids[i], ());
        }
        check_frozen(node, &mut diags);
        check_unwired(node, &provider.kind, &inputs, &mut diags);
        diags.extend(schema::check_params(
            &provider.kind.params,
            &node.params,
            &node.name.name,
            &node.name.span,
        ));
        // Created only when nothing else is wrong with it: a constructor's
        // complaint about a value the schema already refused says nothing new.
        if diags.len() == found_before && node.frozen.is_none() {
            diags.extend(refused_by_constructor(provider, node));
        }
        wiring.push(inputs);
    }
    check_cycles(&graph, &dag, &mut diags);
    if !diags.is_empty() {
        return Err(diags);
    }
    let order =
        toposort(&dag, None).map_err(|_| vec![Diagnostic::nowhere("the graph has a cycle")])?;
    let position: Vec<usize> = {
        let mut pos = vec![0; graph.nodes.len()];
        for (p, ix) in order.iter().enumerate() {
            pos[dag[*ix]] = p;
        }
        pos
    };
    let nodes = order
        .iter()
        .map(|&ix| {
            let i = dag[ix];
            let decl = &graph.nodes[i];
            PlannedNode {
                name: decl.name.name.clone(),
                provider: providers[i].unwrap().clone(),
                params: params_json(decl),
                inputs: wiring[i]
                    .iter()
                    .map(|w| {
                        w.iter()
                            .map(|(from, port)| (position[*from], port.clone()))
                            .collect()
                    })
                    .collect(),
                frozen: decl.frozen.as_ref().map(|(dir, _)| dir.clone()),
            }
        })
        .collect();
    Ok(Plan {
        graph,
        nodes,
        sweep: None,
    })
}

/// The provider of each node's kind, by position; `None` where the node has
/// no kind or no plugin provides it (reported).
fn providers<'r>(
    graph: &Graph,
    registry: &'r Registry,
    diags: &mut Vec<Diagnostic>,
) -> Vec<Option<&'r Provider>> {
    let kind_names: Vec<&str> = registry.kind_names().collect();
    graph
        .nodes
        .iter()
        .map(|node| match &node.kind {
            None => {
                diags.push(
                    Diagnostic::at(&node.name.span, format!("node `{}` has no `kind`", node.name.name))
                        .help("add `kind = \"...\"`; `emoflow plugins` lists the kinds"),
                );
                None
            }
            Some((kind, span)) => {
                let provider = registry.get(kind);
                if provider.is_none() {
                    let mut d = Diagnostic::at(span, format!("unknown node kind `{kind}`"))
                        .label("no plugin provides this kind")
                        .suggest(kind, kind_names.iter().copied());
                    if d.help.is_none() {
                        d = d.help(match (registry.problems.len(), registry.not_plugins.as_slice()) {
                            (0, []) => "`emoflow plugins` lists the kinds; add plugins with --plugin-path DIR".to_string(),
                            (0, libs) => format!(
                                "{} in the plugin path export no emoflow entry point (built without \
                                 `emoflow_sdk::export_plugin!`?); `emoflow plugins` lists the kinds",
                                libs.iter().map(|l| l.display().to_string()).collect::<Vec<_>>().join(", ")
                            ),
                            (n, _) => format!(
                                "{n} plugin librar{} could not be loaded (see the warnings above); \
                                 `emoflow doctor` says why and what to fix",
                                if n == 1 { "y" } else { "ies" }
                            ),
                        });
                    }
                    diags.push(d);
                }
                provider
            }
        })
        .collect()
}

/// Node `i`'s inputs: each port's sources (node position, output port),
/// checked against the ports and port types of both ends; and the nodes it
/// reads, in the order written (the DAG's edges, whose order the plan's
/// topological order follows).
fn wire(
    graph: &Graph,
    providers: &[Option<&Provider>],
    i: usize,
    diags: &mut Vec<Diagnostic>,
) -> (Vec<Vec<(usize, String)>>, Vec<usize>) {
    let node = &graph.nodes[i];
    let kind = &providers[i].expect("wired only with a kind").kind;
    let mut inputs: Vec<Vec<(usize, String)>> = vec![Vec::new(); kind.inputs.len()];
    let mut edges = Vec::new();
    for input in &node.inputs {
        let slot = kind.inputs.iter().position(|p| p.name == input.port.name);
        if slot.is_none() {
            diags.push(
                Diagnostic::at(
                    &input.port.span,
                    format!("`{}` has no input port `{}`", kind.kind, input.port.name),
                )
                .label("unknown input port")
                .suggest(
                    &input.port.name,
                    kind.inputs.iter().map(|p| p.name.as_str()),
                )
                .help(ports_help("inputs", &kind.inputs)),
            );
        }
        let Some(from) = graph
            .nodes
            .iter()
            .position(|n| n.name.name == input.from_node)
        else {
            let mut d = Diagnostic::at(
                &input.span,
                format!("no node `{}` in the graph", input.from_node),
            )
            .label("wired from an unknown node");
            if let Some(best) = suggest_node(graph, &input.from_node) {
                d = d.help(format!("did you mean `{best}`?"));
            }
            diags.push(d);
            continue;
        };
        let Some(from_provider) = providers[from] else {
            continue;
        };
        let Some(out_port) = from_provider.kind.output(&input.from_port) else {
            diags.push(
                Diagnostic::at(
                    &input.span,
                    format!(
                        "node `{}` ({}) has no output port `{}`",
                        input.from_node, from_provider.kind.kind, input.from_port
                    ),
                )
                .label("unknown output port")
                .suggest(
                    &input.from_port,
                    from_provider.kind.outputs.iter().map(|p| p.name.as_str()),
                )
                .help(ports_help("outputs", &from_provider.kind.outputs)),
            );
            continue;
        };
        // An unknown input port is reported above; its source is still checked.
        let Some(slot) = slot else { continue };
        let in_port = &kind.inputs[slot];
        if !conventions::accepts(&in_port.port_type, &out_port.port_type) {
            diags.push(
                Diagnostic::at(
                    &input.span,
                    format!(
                        "port type mismatch: `{}.{}` is `{}`, input `{}` of `{}` wants `{}`",
                        input.from_node,
                        input.from_port,
                        out_port.port_type,
                        in_port.name,
                        node.name.name,
                        in_port.port_type
                    ),
                )
                .label(format!("`{}` here", out_port.port_type)),
            );
            continue;
        }
        edges.push(from);
        inputs[slot].push((from, input.from_port.clone()));
    }
    (inputs, edges)
}

/// A frozen node: no inputs, and stored outputs where it says.
fn check_frozen(node: &NodeDecl, diags: &mut Vec<Diagnostic>) {
    if let Some((dir, span)) = &node.frozen {
        if let Some(input) = node.inputs.first() {
            diags.push(
                Diagnostic::at(
                    &input.span,
                    format!("node `{}` is frozen and takes no inputs", node.name.name),
                )
                .help("its outputs are read from the `frozen` directory; remove `inputs`"),
            );
        }
        if !dir.join(crate::cache::MANIFEST).is_file() {
            diags.push(
                Diagnostic::at(span, format!("no stored node outputs in {}", dir.display()))
                    .label(format!("{} is missing", crate::cache::MANIFEST))
                    .help("`frozen` names a directory written by `emoflow export` (a bundle's frozen/NODE)"),
            );
        }
    }
}

/// Every required input wired (a frozen node reads none).
fn check_unwired(
    node: &NodeDecl,
    kind: &KindDescription,
    inputs: &[Vec<(usize, String)>],
    diags: &mut Vec<Diagnostic>,
) {
    for (port, wired) in kind.inputs.iter().zip(inputs) {
        if wired.is_empty()
            && !port.optional
            && node.frozen.is_none()
            && !node.inputs.iter().any(|d| d.port.name == port.name)
        {
            diags.push(
                Diagnostic::at(
                    &node.name.span,
                    format!(
                        "input `{}` of node `{}` is not wired",
                        port.name, node.name.name
                    ),
                )
                .label(format!("needs `{}` ({})", port.name, port.port_type))
                .help(format!(
                    "wire it: inputs.{} = \"NODE.PORT\" (a `{}` output)",
                    port.name, port.port_type
                )),
            );
        }
    }
}

/// Each cycle, reported at its first node by name.
fn check_cycles(graph: &Graph, dag: &DiGraph<usize, ()>, diags: &mut Vec<Diagnostic>) {
    for scc in tarjan_scc(dag) {
        let self_loop = scc.len() == 1 && dag.contains_edge(scc[0], scc[0]);
        if scc.len() > 1 || self_loop {
            let mut names: Vec<&str> = scc
                .iter()
                .map(|&ix| graph.nodes[dag[ix]].name.name.as_str())
                .collect();
            names.sort();
            let first = graph
                .nodes
                .iter()
                .find(|n| n.name.name == names[0])
                .unwrap();
            diags.push(
                Diagnostic::at(
                    &first.name.span,
                    format!(
                        "cycle between nodes {}",
                        names
                            .iter()
                            .map(|n| format!("`{n}`"))
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                )
                .label("part of a cycle")
                .help("a graph must be acyclic: remove one of the inputs that closes the loop"),
            );
        }
    }
}

/// Parameters as the plugin receives them.
fn params_json(node: &NodeDecl) -> serde_json::Value {
    serde_json::Value::Object(
        node.params
            .iter()
            .map(|(k, v)| (k.name.clone(), v.to_json()))
            .collect(),
    )
}

/// Creates the node through its plugin without running it (constructors are
/// cheap by convention), so that a rule only the node knows, such as an even
/// `smooth.median` window, is reported before any compute: at the parameter
/// the node's message names, else at its `kind`.
fn refused_by_constructor(provider: &Provider, node: &NodeDecl) -> Option<Diagnostic> {
    let error = provider
        .plugin
        .create(&provider.kind.kind, &params_json(node))
        .err()?;
    let named = node
        .params
        .iter()
        .filter(|(k, _)| mentions(&error.message, &k.name))
        .max_by_key(|(k, _)| k.name.len());
    let (span, label) = match named {
        Some((key, value)) => (&value.span, format!("`{}` refused by the node", key.name)),
        None => (
            node.kind.as_ref().map_or(&node.name.span, |(_, span)| span),
            "refused by the node".to_string(),
        ),
    };
    Some(
        Diagnostic::at(
            span,
            format!(
                "node `{}` ({}) refuses its parameters: {}",
                node.name.name, provider.kind.kind, error.message
            ),
        )
        .label(label)
        .help(format!(
            "the rule is the node's own; `emoflow plugins --json` documents `{}`'s parameters",
            provider.kind.kind
        )),
    )
}

/// Whether `message` names `word` as a whole word (`window`, not `windows`).
fn mentions(message: &str, word: &str) -> bool {
    let is_word = |c: char| c.is_alphanumeric() || c == '_';
    message.match_indices(word).any(|(at, _)| {
        let before = message[..at].chars().next_back();
        let after = message[at + word.len()..].chars().next();
        !before.is_some_and(is_word) && !after.is_some_and(is_word)
    })
}

fn ports_help(what: &str, ports: &[emoflow_sdk::describe::PortDescription]) -> String {
    if ports.is_empty() {
        format!("it has no {what}")
    } else {
        format!(
            "its {what}: {}",
            ports
                .iter()
                .map(|p| format!("{} ({})", p.name, p.port_type))
                .collect::<Vec<_>>()
                .join(", ")
        )
    }
}

#[cfg(test)]
mod tests {
    use super::mentions;

    #[test]
    fn a_message_names_a_parameter_only_as_a_whole_word() {
        assert!(mentions(
            "window = 4 must be odd, so that it is centred",
            "window"
        ));
        assert!(mentions("`seeds` must list at least one seed", "seeds"));
        assert!(!mentions("the windows overlap", "window"));
        assert!(!mentions("max_window is too large", "window"));
    }
}
