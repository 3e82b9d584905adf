//! Sweeps: node parameters given as lists expand into trials, selected on a
//! metric.
//!
//! ```toml
//! [sweep]
//! # Every combination is a trial.
//! grid = { "model.layers" = [3, 4, 5], "decode.alpha" = "${alphas}" }
//! # Several parameters tied to one list, its copies labelled `l2=...`:
//! #   l2 = { params = ["cls.l2", "reg.l2"], values = [0.0, 2e-5] }
//! # (the older comma-joined key "cls.l2,reg.l2" = [...] still works)
//! # The trial kept: the best `ccc` on dev that node `ccc` computed, chosen
//! # for each dimension on its own (per = "dim", the default) or overall
//! # (per = "all"). A list of rules selects for each system on its own.
//! select = { node = "ccc", metric = "ccc", split = "dev", goal = "max" }
//! # Nodes that run once, on the selected trial's outputs (reports).
//! on_selected = ["table", "figure"]
//! ```
//!
//! An `on_selected` node reading a swept node gets that node's copy from
//! the trial its rule selected: the first rule whose node is, or reads
//! (directly or not) from, the swept node.
//!
//! Expansion happens on the graph, before validation: a node is copied once
//! per distinct assignment of the swept parameters it depends on (its own
//! and its inputs'), so what a parameter does not reach is shared and runs
//! once; every copy is cached on its own. Copies are named
//! `node[param=value,...]`. The selection itself happens while the graph
//! runs (see `run.rs`), once every trial's selection metric is known.

use std::collections::{BTreeMap, BTreeSet, HashMap};

use serde::Serialize;

use crate::diag::{Diagnostic, Span};
use crate::graph::{Graph, InputDecl, Key, NodeDecl, Sv, V};
use crate::validate::Plan;

/// How trials are compared.
#[derive(Debug, Clone, Serialize)]
pub struct Select {
    pub node: String,
    pub metric: String,
    pub split: String,
    pub maximize: bool,
    /// Select for each dimension on its own (`dim`) or overall (`all`).
    pub per: String,
}

/// One combination of the swept values.
#[derive(Debug, Clone, Serialize)]
pub struct Trial {
    pub id: String,
    /// `node.param` → value.
    pub params: BTreeMap<String, serde_json::Value>,
}

/// A sweep after expansion, its nodes resolved to plan positions.
#[derive(Debug, Clone)]
pub struct Sweep {
    pub trials: Vec<Trial>,
    pub rules: Vec<Select>,
    /// For each rule and trial, the plan position of its select node's copy.
    pub select_nodes: Vec<Vec<usize>>,
    /// Inputs of `on_selected` nodes read from the selected trial.
    pub selected_inputs: Vec<SelectedInput>,
    /// Plan position → the trial label of a copied node.
    pub labels: HashMap<usize, String>,
}

/// Source `source` of input `slot` of node `node` reads `producers[t]`,
/// for the trial t that rule `rule` selected.
#[derive(Debug, Clone)]
pub struct SelectedInput {
    pub node: usize,
    pub slot: usize,
    pub source: usize,
    pub rule: usize,
    pub producers: Vec<usize>,
}

/// The sweep as expanded, by node names (plan positions come later).
pub struct Expanded {
    trials: Vec<Trial>,
    rules: Vec<Select>,
    select_nodes: Vec<Vec<String>>,
    selected_inputs: Vec<ExpandedInput>,
    labels: HashMap<String, String>,
}

struct ExpandedInput {
    node: String,
    port: String,
    /// Position among the port's sources.
    source: usize,
    rule: usize,
    producers: Vec<String>,
}

/// One swept list, set on every `(node, param)` it names.
struct Dim {
    targets: Vec<(String, String)>,
    values: Vec<Sv>,
    /// How copies name it: the parameter, or `node.param` when two swept
    /// parameters share a name.
    label: String,
}

/// One `grid` entry: either `"NODE.PARAM" = VALUES`, `NAME = { params =
/// ["A.P", "B.P"], values = VALUES }` tying several to one list, or the
/// older comma-joined key `"A.P,B.P" = VALUES`.
struct GridEntry<'a> {
    /// The `NODE.PARAM`s it sets, each with its place.
    names: Vec<(String, Span)>,
    values: &'a Sv,
    /// What its copies are labelled by, when the entry names it.
    label: Option<String>,
}

fn grid_entry<'a>(key: &Key, value: &'a Sv, diags: &mut Vec<Diagnostic>) -> Option<GridEntry<'a>> {
    let Some(table) = value.as_table() else {
        let names = key
            .name
            .split(',')
            .map(|t| (t.trim().to_string(), key.span.clone()))
            .collect();
        return Some(GridEntry {
            names,
            values: value,
            label: None,
        });
    };
    let field = |name: &str| table.iter().find(|(k, _)| k.name == name).map(|(_, v)| v);
    let form = format!(
        "{} = {{ params = [\"NODE.PARAM\", ...], values = [...] }} ties parameters to one list",
        key.name
    );
    let names: Option<Vec<(String, Span)>> = match field("params").map(|p| &p.v) {
        Some(V::Array(items)) if !items.is_empty() => items
            .iter()
            .map(|i| i.as_str().map(|s| (s.to_string(), i.span.clone())))
            .collect(),
        _ => None,
    };
    let unknown = table
        .iter()
        .find(|(k, _)| k.name != "params" && k.name != "values");
    match (names, field("values"), unknown) {
        (Some(names), Some(values), None) => Some(GridEntry {
            names,
            values,
            label: Some(key.name.clone()),
        }),
        (_, _, Some((k, _))) => {
            diags.push(
                Diagnostic::at(
                    &k.span,
                    format!("unknown key `{}` in a tied sweep entry", k.name),
                )
                .help(form),
            );
            None
        }
        _ => {
            diags.push(
                Diagnostic::at(
                    &value.span,
                    format!(
                        "`{}` needs `params` (a list of \"NODE.PARAM\") and `values`",
                        key.name
                    ),
                )
                .help(form),
            );
            None
        }
    }
}

/// Expands `graph.sweep`, if any, into copies of the nodes it reaches.
pub fn expand(graph: &mut Graph) -> Result<Option<Expanded>, Vec<Diagnostic>> {
    let Some(sweep) = graph.sweep.clone() else {
        return Ok(None);
    };
    let names: Vec<String> = graph.nodes.iter().map(|n| n.name.name.clone()).collect();
    let (mut dims, rules, on_selected) = read_table(&sweep, &names)?;
    unique_labels(&mut dims);

    // The swept parameters each node depends on, through its inputs.
    let mut diags = Vec::new();
    let index: HashMap<&str, usize> = names
        .iter()
        .enumerate()
        .map(|(i, n)| (n.as_str(), i))
        .collect();
    let mut deps: Vec<Option<BTreeSet<usize>>> = vec![None; names.len()];
    let mut after_selection = vec![false; names.len()];
    for i in 0..names.len() {
        dependencies(
            graph,
            &index,
            &dims,
            &on_selected,
            i,
            &mut deps,
            &mut after_selection,
            &mut Vec::new(),
        );
    }
    let rule_nodes: Vec<usize> = rules.iter().map(|r| index[r.node.as_str()]).collect();
    check_selection(
        &rules,
        &rule_nodes,
        &after_selection,
        &dims,
        &on_selected,
        &mut diags,
    );
    // What each rule's node reads from, directly or not, and itself.
    let upstream: Vec<BTreeSet<usize>> = rule_nodes
        .iter()
        .map(|&n| ancestors(graph, &index, n))
        .collect();
    if !diags.is_empty() {
        return Err(diags);
    }

    let trials = product(&dims);
    let copies = Copies {
        names: &names,
        index,
        dims: &dims,
        trials,
        deps,
        after_selection,
        upstream,
    };
    let mut nodes = Vec::new();
    let mut labels = HashMap::new();
    let mut selected_inputs = Vec::new();
    for (i, decl) in graph.nodes.iter().enumerate() {
        let mut done = BTreeSet::new();
        for t in 0..copies.trials.len() {
            let name = copies.name(i, t);
            if !done.insert(name.clone()) {
                continue;
            }
            nodes.push(copies.copy(decl, i, t, &mut selected_inputs, &mut diags));
            let of = copies.deps[i].as_ref().unwrap();
            if !of.is_empty() {
                labels.insert(name, copies.label(t, of));
            }
        }
    }
    if !diags.is_empty() {
        return Err(diags);
    }
    graph.nodes = nodes;

    let all: BTreeSet<usize> = (0..dims.len()).collect();
    let select_nodes = rule_nodes
        .iter()
        .map(|&node| {
            (0..copies.trials.len())
                .map(|t| copies.name(node, t))
                .collect()
        })
        .collect();
    Ok(Some(Expanded {
        trials: copies.trial_table(&all),
        rules,
        select_nodes,
        selected_inputs,
        labels,
    }))
}

/// Two swept parameters of one name are labelled `node.param` in copies'
/// names, so that the names stay apart.
fn unique_labels(dims: &mut [Dim]) {
    for i in 0..dims.len() {
        if dims
            .iter()
            .enumerate()
            .any(|(j, d)| j != i && d.label == dims[i].label)
        {
            dims[i].label = format!("{}.{}", dims[i].targets[0].0, dims[i].targets[0].1);
        }
    }
}

/// A rule cannot select on a node that runs after the selection, and a node
/// that runs once after it cannot be swept.
fn check_selection(
    rules: &[Select],
    rule_nodes: &[usize],
    after_selection: &[bool],
    dims: &[Dim],
    on_selected: &[String],
    diags: &mut Vec<Diagnostic>,
) {
    for (rule, &node) in rules.iter().zip(rule_nodes) {
        if after_selection[node] {
            diags.push(Diagnostic::nowhere(format!(
                "[sweep] selects on node `{}`, which runs after the selection (it is, or reads from, an `on_selected` node)",
                rule.node
            )));
        }
    }
    for name in on_selected {
        if let Some((node, param)) = dims
            .iter()
            .flat_map(|d| &d.targets)
            .find(|(node, _)| node == name)
        {
            diags.push(Diagnostic::nowhere(format!(
                "node `{name}` is swept (`{node}.{param}`) and also in `on_selected`, which runs once"
            )));
        }
    }
}

/// Whether the graph has node `name`; if not, says so at `span`.
fn node_exists(names: &[String], name: &str, span: &Span, diags: &mut Vec<Diagnostic>) -> bool {
    let ok = names.iter().any(|n| n == name);
    if !ok {
        diags.push(
            Diagnostic::at(
                span,
                format!("[sweep] names node `{name}`, which the graph lacks"),
            )
            .suggest(name, names.iter().map(String::as_str)),
        );
    }
    ok
}

/// A `[sweep]` table read: the grid's dimensions, the select rules and the
/// `on_selected` nodes.
type SweepTable = (Vec<Dim>, Vec<Select>, Vec<String>);

/// The `[sweep]` table, with every problem.
fn read_table(sweep: &Sv, names: &[String]) -> Result<SweepTable, Vec<Diagnostic>> {
    let Some(table) = sweep.as_table() else {
        return Err(vec![Diagnostic::at(&sweep.span, "[sweep] must be a table")]);
    };
    let mut diags = Vec::new();
    let exists = |name: &str, span: &Span, diags: &mut Vec<Diagnostic>| {
        node_exists(names, name, span, diags)
    };
    let mut dims = Vec::new();
    let mut rules = Vec::new();
    let mut on_selected: Vec<String> = Vec::new();
    for (key, value) in table {
        match key.name.as_str() {
            "grid" => match value.as_table() {
                Some(grid) => {
                    for (k, v) in grid {
                        dims.extend(read_grid_entry(k, v, names, &mut diags));
                    }
                }
                None => diags.push(Diagnostic::at(
                    &value.span,
                    "`grid` must be a table of \"NODE.PARAM\" = [values]",
                )),
            },
            "select" => match &value.v {
                V::Array(items) => {
                    for item in items {
                        rules.extend(read_select(item, &mut diags, &exists));
                    }
                }
                _ => rules.extend(read_select(value, &mut diags, &exists)),
            },
            "on_selected" => match &value.v {
                V::Array(items) => {
                    for item in items {
                        match item.as_str() {
                            Some(name) if exists(name, &item.span, &mut diags) => {
                                on_selected.push(name.to_string())
                            }
                            Some(_) => {}
                            None => diags
                                .push(Diagnostic::at(&item.span, "`on_selected` lists node names")),
                        }
                    }
                }
                _ => diags.push(Diagnostic::at(
                    &value.span,
                    "`on_selected` must be an array of node names",
                )),
            },
            other => diags.push(
                Diagnostic::at(&key.span, format!("unknown key `{other}` in [sweep]"))
                    .suggest(other, ["grid", "select", "on_selected"])
                    .help("[sweep] takes `grid`, `select` and `on_selected`"),
            ),
        }
    }
    if dims.is_empty() && diags.is_empty() {
        diags.push(Diagnostic::at(
            &sweep.span,
            "[sweep] has no `grid` to sweep",
        ));
    }
    if rules.is_empty() && diags.is_empty() {
        diags.push(Diagnostic::at(&sweep.span, "[sweep] needs `select`").help(
            "select = { node = \"ccc\", metric = \"ccc\", split = \"dev\", goal = \"max\" }",
        ));
    }
    if diags.is_empty() {
        Ok((dims, rules, on_selected))
    } else {
        Err(diags)
    }
}

/// One `grid` entry as a dimension; `None` when it has a problem (reported).
fn read_grid_entry(k: &Key, v: &Sv, names: &[String], diags: &mut Vec<Diagnostic>) -> Option<Dim> {
    let GridEntry {
        names: targets_named,
        values,
        label,
    } = grid_entry(k, v, diags)?;
    let mut targets = Vec::new();
    for (target, span) in targets_named {
        match target.split_once('.') {
            Some((node, param)) if !param.is_empty() => {
                if node_exists(names, node, &span, diags) {
                    targets.push((node.to_string(), param.to_string()));
                }
            }
            _ => diags.push(
                Diagnostic::at(&span, format!("sweep key `{target}` must be \"NODE.PARAM\""))
                    .help("for example \"model.layers\" = [3, 4, 5], or l2 = { params = [\"a.l2\", \"b.l2\"], values = [0.0, 2e-5] } to tie two"),
            ),
        }
    }
    if targets.is_empty() {
        return None;
    }
    match &values.v {
        V::Array(items) if !items.is_empty() => Some(Dim {
            label: label.unwrap_or_else(|| targets[0].1.clone()),
            targets,
            values: items.clone(),
        }),
        _ => {
            diags.push(
                Diagnostic::at(
                    &values.span,
                    format!("`{}` must list the values to sweep", k.name),
                )
                .label(format!("{} here", values.type_name()))
                .help("a non-empty array, such as [0, 2, 4], or \"${param}\" naming one"),
            );
            None
        }
    }
}

/// What copying the graph's nodes once per trial reads.
struct Copies<'a> {
    names: &'a [String],
    index: HashMap<&'a str, usize>,
    dims: &'a [Dim],
    /// Per trial, the index of each dimension's value.
    trials: Vec<Vec<usize>>,
    /// The dimensions each node depends on.
    deps: Vec<Option<BTreeSet<usize>>>,
    /// Whether each node runs after the selection (`on_selected`).
    after_selection: Vec<bool>,
    /// What each rule's node reads from, and itself.
    upstream: Vec<BTreeSet<usize>>,
}

impl Copies<'_> {
    /// Every trial: its label over the dimensions `all` and its parameters.
    fn trial_table(&self, all: &BTreeSet<usize>) -> Vec<Trial> {
        (0..self.trials.len())
            .map(|t| Trial {
                id: self.label(t, all),
                params: self
                    .dims
                    .iter()
                    .enumerate()
                    .flat_map(|(d, dim)| {
                        let value = dim.values[self.trials[t][d]].to_json();
                        dim.targets
                            .iter()
                            .map(move |(node, param)| (format!("{node}.{param}"), value.clone()))
                    })
                    .collect(),
            })
            .collect()
    }

    /// `param=value,...` of trial `trial` over the dimensions `of`.
    fn label(&self, trial: usize, of: &BTreeSet<usize>) -> String {
        of.iter()
            .map(|&d| {
                format!(
                    "{}={}",
                    self.dims[d].label,
                    self.dims[d].values[self.trials[trial][d]].canonical()
                )
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// The name of node `node`'s copy in trial `trial`: its own when it
    /// depends on no swept parameter.
    fn name(&self, node: usize, trial: usize) -> String {
        let of = self.deps[node].as_ref().unwrap();
        if of.is_empty() {
            self.names[node].clone()
        } else {
            format!("{}[{}]", self.names[node], self.label(trial, of))
        }
    }

    /// Node `i`'s copy for trial `t`: its swept parameters set, its inputs
    /// read from the same trial's copies, or (after the selection) from
    /// the copy the select rule chooses, recorded in `selected_inputs`.
    fn copy(
        &self,
        decl: &NodeDecl,
        i: usize,
        t: usize,
        selected_inputs: &mut Vec<ExpandedInput>,
        diags: &mut Vec<Diagnostic>,
    ) -> NodeDecl {
        let name = self.name(i, t);
        let mut copy: NodeDecl = decl.clone();
        copy.name = Key {
            name: name.clone(),
            span: decl.name.span.clone(),
        };
        for (d, dim) in self.dims.iter().enumerate() {
            for (_, param) in dim
                .targets
                .iter()
                .filter(|(node, _)| *node == self.names[i])
            {
                let value = dim.values[self.trials[t][d]].clone();
                match copy.params.iter_mut().find(|(k, _)| &k.name == param) {
                    Some(slot) => slot.1 = value,
                    None => copy.params.push((
                        Key {
                            name: param.clone(),
                            span: value.span.clone(),
                        },
                        value,
                    )),
                }
            }
        }
        for (position, input) in copy.inputs.iter_mut().enumerate() {
            let Some(&from) = self.index.get(input.from_node.as_str()) else {
                continue;
            };
            if !(self.after_selection[i]
                && !self.after_selection[from]
                && !self.deps[from].as_ref().unwrap().is_empty())
            {
                input.from_node = self.name(from, t);
                continue;
            }
            let Some(rule) = self.upstream.iter().position(|u| u.contains(&from)) else {
                diags.push(
                    Diagnostic::at(&input.span, format!(
                        "`{}` runs on the selected trial but reads `{}`, which no select rule's node reads from",
                        self.names[i], self.names[from]
                    ))
                    .help("add a `select` rule on a metric computed from it"),
                );
                continue;
            };
            let producers = (0..self.trials.len())
                .map(|t| self.name(from, t))
                .collect::<Vec<_>>();
            input.from_node = producers[0].clone();
            let source = decl.inputs[..position]
                .iter()
                .filter(|d| d.port.name == input.port.name)
                .count();
            selected_inputs.push(ExpandedInput {
                node: name.clone(),
                port: input.port.name.clone(),
                source,
                rule,
                producers,
            });
        }
        copy
    }
}

fn read_select(
    value: &Sv,
    diags: &mut Vec<Diagnostic>,
    node_exists: &dyn Fn(&str, &Span, &mut Vec<Diagnostic>) -> bool,
) -> Option<Select> {
    let Some(table) = value.as_table() else {
        diags.push(Diagnostic::at(&value.span, "`select` must be a table"));
        return None;
    };
    let mut select = Select {
        node: String::new(),
        metric: String::new(),
        split: "dev".into(),
        maximize: true,
        per: "dim".into(),
    };
    for (k, v) in table {
        let Some(text) = v.as_str() else {
            diags.push(Diagnostic::at(
                &v.span,
                format!("`select.{}` must be a string", k.name),
            ));
            continue;
        };
        match k.name.as_str() {
            "node" => {
                if node_exists(text, &v.span, diags) {
                    select.node = text.into();
                }
            }
            "metric" => select.metric = text.into(),
            "split" => select.split = text.into(),
            "goal" => match text {
                "max" => select.maximize = true,
                "min" => select.maximize = false,
                _ => diags.push(Diagnostic::at(&v.span, "`goal` is \"max\" or \"min\"")),
            },
            "per" => match text {
                "dim" | "all" => select.per = text.into(),
                _ => diags.push(Diagnostic::at(
                    &v.span,
                    "`per` is \"dim\" (each dimension on its own) or \"all\"",
                )),
            },
            other => diags.push(
                Diagnostic::at(&k.span, format!("unknown key `{other}` in `select`"))
                    .suggest(other, ["node", "metric", "split", "goal", "per"]),
            ),
        }
    }
    for (field, given) in [("node", &select.node), ("metric", &select.metric)] {
        if given.is_empty() {
            diags.push(
                Diagnostic::at(&value.span, format!("`select` needs `{field}`"))
                    .help("select = { node = \"ccc\", metric = \"ccc\", split = \"dev\", goal = \"max\" }"),
            );
        }
    }
    Some(select)
}

/// Fills `deps[i]` (swept dimensions node `i` depends on) and
/// `after[i]` (node `i` runs on the selected trial).
#[allow(clippy::too_many_arguments)]
fn dependencies(
    graph: &Graph,
    index: &HashMap<&str, usize>,
    dims: &[Dim],
    on_selected: &[String],
    i: usize,
    deps: &mut Vec<Option<BTreeSet<usize>>>,
    after: &mut Vec<bool>,
    visiting: &mut Vec<usize>,
) {
    if deps[i].is_some() {
        return;
    }
    let node = &graph.nodes[i];
    let mut own: BTreeSet<usize> = dims
        .iter()
        .enumerate()
        .filter(|(_, d)| d.targets.iter().any(|(n, _)| *n == node.name.name))
        .map(|(j, _)| j)
        .collect();
    let mut is_after = on_selected.contains(&node.name.name);
    if visiting.contains(&i) {
        // A cycle: validation reports it.
        deps[i] = Some(own);
        return;
    }
    visiting.push(i);
    for InputDecl { from_node, .. } in &node.inputs {
        let Some(&from) = index.get(from_node.as_str()) else {
            continue;
        };
        dependencies(graph, index, dims, on_selected, from, deps, after, visiting);
        is_after |= after[from];
        if !on_selected.contains(&node.name.name) {
            own.extend(deps[from].as_ref().unwrap());
        }
    }
    visiting.pop();
    after[i] = is_after;
    deps[i] = Some(own);
}

/// Node `of` and every node it reads from, directly or not.
fn ancestors(graph: &Graph, index: &HashMap<&str, usize>, of: usize) -> BTreeSet<usize> {
    let mut seen = BTreeSet::from([of]);
    let mut stack = vec![of];
    while let Some(n) = stack.pop() {
        for input in &graph.nodes[n].inputs {
            if let Some(&from) = index.get(input.from_node.as_str())
                && seen.insert(from)
            {
                stack.push(from);
            }
        }
    }
    seen
}

/// Every combination of the dimensions' value indices, the first
/// dimension varying slowest.
fn product(dims: &[Dim]) -> Vec<Vec<usize>> {
    let mut trials = vec![Vec::new()];
    for dim in dims {
        trials = trials
            .into_iter()
            .flat_map(|prefix| {
                (0..dim.values.len()).map(move |v| {
                    let mut t = prefix.clone();
                    t.push(v);
                    t
                })
            })
            .collect();
    }
    trials
}

impl Expanded {
    /// Resolves node names to plan positions.
    pub fn resolve(self, plan: &Plan) -> Sweep {
        let position = |name: &str| {
            plan.nodes
                .iter()
                .position(|n| n.name == name)
                .expect("expanded nodes are planned")
        };
        let selected_inputs = self
            .selected_inputs
            .iter()
            .map(|input| {
                let node = position(&input.node);
                let slot = plan.nodes[node]
                    .provider
                    .kind
                    .inputs
                    .iter()
                    .position(|p| p.name == input.port)
                    .expect("validated ports exist");
                SelectedInput {
                    node,
                    slot,
                    source: input.source,
                    rule: input.rule,
                    producers: input.producers.iter().map(|p| position(p)).collect(),
                }
            })
            .collect();
        Sweep {
            trials: self.trials,
            rules: self.rules,
            select_nodes: self
                .select_nodes
                .iter()
                .map(|nodes| nodes.iter().map(|n| position(n)).collect())
                .collect(),
            selected_inputs,
            labels: self
                .labels
                .into_iter()
                .map(|(n, l)| (position(&n), l))
                .collect(),
        }
    }
}

impl Sweep {
    /// The nodes trial `t` needs: its select nodes' copies and everything
    /// they read from, directly or not (plan positions).
    pub fn trial_nodes(&self, plan: &Plan, t: usize) -> Vec<bool> {
        let mut keep = vec![false; plan.nodes.len()];
        let mut stack: Vec<usize> = self.select_nodes.iter().map(|nodes| nodes[t]).collect();
        while let Some(n) = stack.pop() {
            if !std::mem::replace(&mut keep[n], true) {
                stack.extend(plan.nodes[n].inputs.iter().flatten().map(|(from, _)| *from));
            }
        }
        keep
    }
}
