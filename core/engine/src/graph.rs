//! Graph files: TOML with a `[graph]` header, `[params]`, `[nodes.NAME]`
//! tables, composition by `extends`, a `[test]` preset and `[[expect]]`
//! assertions. Every value keeps the file and span it came from, so that
//! every later error can point at it.
//!
//! ```toml
//! [graph]
//! name = "demo"
//! extends = ["frontend.toml"]   # merged first; this file overrides
//!
//! [params]
//! seed = 1
//!
//! [nodes.model]
//! kind = "example.model"
//! inputs = { features = "znorm.features" }
//! seed = "${seed}"              # a graph parameter, typed
//! ```

use std::path::{Path, PathBuf};

use crate::diag::{Diagnostic, Sources, Span, did_you_mean};

/// A TOML value with its place.
#[derive(Debug, Clone)]
pub struct Sv {
    pub v: V,
    pub span: Span,
}

#[derive(Debug, Clone)]
pub enum V {
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Array(Vec<Sv>),
    Table(Vec<(Key, Sv)>),
}

/// A table key with its place.
#[derive(Debug, Clone)]
pub struct Key {
    pub name: String,
    pub span: Span,
}

impl Sv {
    pub fn type_name(&self) -> &'static str {
        match self.v {
            V::Str(_) => "a string",
            V::Int(_) => "an integer",
            V::Float(_) => "a float",
            V::Bool(_) => "a boolean",
            V::Array(_) => "an array",
            V::Table(_) => "a table",
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match &self.v {
            V::Str(s) => Some(s),
            _ => None,
        }
    }

    pub fn as_table(&self) -> Option<&[(Key, Sv)]> {
        match &self.v {
            V::Table(t) => Some(t),
            _ => None,
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        match &self.v {
            V::Str(s) => s.clone().into(),
            V::Int(i) => (*i).into(),
            V::Float(f) => {
                serde_json::Number::from_f64(*f).map_or(serde_json::Value::Null, Into::into)
            }
            V::Bool(b) => (*b).into(),
            V::Array(a) => a.iter().map(Sv::to_json).collect(),
            V::Table(t) => t
                .iter()
                .map(|(k, v)| (k.name.clone(), v.to_json()))
                .collect(),
        }
    }

    /// Canonical text of the value (sorted keys), for cache keys.
    pub fn canonical(&self) -> String {
        canonical_json(&self.to_json())
    }
}

/// JSON with object keys sorted, so equal values hash equally.
pub fn canonical_json(value: &serde_json::Value) -> String {
    match value {
        serde_json::Value::Object(map) => {
            let mut keys: Vec<_> = map.keys().collect();
            keys.sort();
            let inner: Vec<String> = keys
                .into_iter()
                .map(|k| {
                    format!(
                        "{}:{}",
                        serde_json::Value::from(k.as_str()),
                        canonical_json(&map[k])
                    )
                })
                .collect();
            format!("{{{}}}", inner.join(","))
        }
        serde_json::Value::Array(items) => {
            format!(
                "[{}]",
                items
                    .iter()
                    .map(canonical_json)
                    .collect::<Vec<_>>()
                    .join(",")
            )
        }
        other => other.to_string(),
    }
}

fn get<'a>(table: &'a [(Key, Sv)], name: &str) -> Option<&'a Sv> {
    table.iter().find(|(k, _)| k.name == name).map(|(_, v)| v)
}

/// Sets `name` in an ordered table, replacing an earlier value.
fn set(table: &mut Vec<(Key, Sv)>, key: Key, value: Sv) {
    match table.iter_mut().find(|(k, _)| k.name == key.name) {
        Some(slot) => *slot = (key, value),
        None => table.push((key, value)),
    }
}

/// A node as declared: its name, kind, input wiring and parameters.
#[derive(Debug, Clone)]
pub struct NodeDecl {
    pub name: Key,
    pub kind: Option<(String, Span)>,
    pub inputs: Vec<InputDecl>,
    pub params: Vec<(Key, Sv)>,
    /// `frozen = "DIR"`: the node does not run; its outputs are the stored
    /// entry in DIR (relative to the graph file), as an exported bundle
    /// keeps what was fitted on the training corpus.
    pub frozen: Option<(PathBuf, Span)>,
    /// Set when an extending file redefined the node with another kind.
    pub swap: Option<Swap>,
}

/// A node redefined with another kind keeps, of what it inherited, the
/// inputs and parameters the new kind also has; which those are is known
/// only from the plugins, so they wait here until [`crate::compose`].
#[derive(Debug, Clone)]
pub struct Swap {
    pub from_kind: String,
    /// The redefinition's `kind = ...`.
    pub at: Span,
    pub inputs: Vec<InputDecl>,
    pub params: Vec<(Key, Sv)>,
}

/// `port = "node.port"`; a port wired to a list has one per source.
#[derive(Debug, Clone)]
pub struct InputDecl {
    pub port: Key,
    pub from_node: String,
    pub from_port: String,
    pub span: Span,
}

/// A `[[expect]]` assertion for `emoflow test`.
#[derive(Debug, Clone)]
pub struct Expect {
    pub fields: Vec<(Key, Sv)>,
}

/// A graph after composition, before validation against plugins.
#[derive(Debug, Clone, Default)]
pub struct Graph {
    pub path: PathBuf,
    pub name: String,
    pub doc: String,
    pub params: Vec<(Key, Sv)>,
    pub nodes: Vec<NodeDecl>,
    /// The `[test]` preset: parameter and node overrides.
    pub test: Option<Sv>,
    pub expects: Vec<Expect>,
    /// `[sweep]`: how trials are selected and combined.
    pub sweep: Option<Sv>,
    /// `[slurm]`: sbatch options for `run --executor slurm`.
    pub slurm: Option<Sv>,
    /// A fragment (`fragment = true`) is only extended by other graphs:
    /// `emoflow test` validates it but does not run it.
    pub fragment: bool,
    /// `[defaults."KIND"]`: parameters for every node of a kind, each
    /// overridden by the node's own.
    pub defaults: Vec<(Key, Sv)>,
    /// What the fragments this graph extends need from it.
    pub requires: Vec<Requirement>,
}

/// A fragment's `requires = { NODE = ["PORT", ...] }`: a node it reads
/// from but leaves to the extending graph, with the outputs it reads.
#[derive(Debug, Clone)]
pub struct Requirement {
    pub node: Key,
    pub outputs: Vec<String>,
    /// The fragment, as named by the outermost file that extends it.
    pub extended_at: Span,
    pub fragment: String,
}

/// `[params] NAME = { required = "what it is" }`: a parameter without a
/// default, which a run must set.
pub fn required_description(value: &Sv) -> Option<&str> {
    match value.as_table()? {
        [(k, v)] if k.name == "required" => v.as_str(),
        _ => None,
    }
}

const TOP_KEYS: [&str; 8] = [
    "graph", "params", "nodes", "defaults", "test", "expect", "sweep", "slurm",
];
const GRAPH_KEYS: [&str; 5] = ["name", "doc", "extends", "fragment", "requires"];

/// Reads a graph file with everything it extends.
pub fn load(path: &Path, sources: &mut Sources) -> Result<Graph, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let graph = load_file(path, sources, &mut Vec::new(), &mut diags);
    if diags.is_empty() {
        Ok(graph)
    } else {
        Err(diags)
    }
}

/// Reads a graph given as text (one built into the executable), named
/// `path` in its diagnostics; what it extends is read from files.
pub fn load_text(path: &Path, text: &str, sources: &mut Sources) -> Result<Graph, Vec<Diagnostic>> {
    let mut diags = Vec::new();
    let graph = parse_file(path, text.to_string(), sources, &mut Vec::new(), &mut diags);
    if diags.is_empty() {
        Ok(graph)
    } else {
        Err(diags)
    }
}

fn load_file(
    path: &Path,
    sources: &mut Sources,
    stack: &mut Vec<PathBuf>,
    diags: &mut Vec<Diagnostic>,
) -> Graph {
    match std::fs::read_to_string(path) {
        Ok(text) => parse_file(path, text, sources, stack, diags),
        Err(e) => {
            diags.push(Diagnostic::nowhere(format!(
                "cannot read graph {}: {e}",
                path.display()
            )));
            Graph::default()
        }
    }
}

/// A graph file's sections, in the order a graph reads them (header,
/// extends, params, nodes, then the tables that refer to them); a little
/// over 80 lines, one short step per section.
fn parse_file(
    path: &Path,
    text: String,
    sources: &mut Sources,
    stack: &mut Vec<PathBuf>,
    diags: &mut Vec<Diagnostic>,
) -> Graph {
    let file = sources.add(path, text);
    let text = sources.file(file).text.clone();
    let root = match toml::de::DeTable::parse(&text) {
        Ok(table) => convert_table(table.into_inner(), file),
        Err(e) => {
            let range = e.span().unwrap_or(0..0);
            diags.push(
                Diagnostic::at(
                    &Span { file, range },
                    format!("invalid TOML: {}", e.message().trim()),
                )
                .label("here"),
            );
            return Graph::default();
        }
    };
    for (key, _) in &root {
        if !TOP_KEYS.contains(&key.name.as_str()) {
            diags.push(
                Diagnostic::at(&key.span, format!("unknown section `{}`", key.name))
                    .label("not a graph section")
                    .suggest(&key.name, TOP_KEYS),
            );
        }
    }
    let canonical = path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    stack.push(canonical);

    let mut graph = Graph {
        path: path.to_path_buf(),
        ..Graph::default()
    };
    let header = table_at(&root, "graph", diags);
    for (key, _) in header {
        if !GRAPH_KEYS.contains(&key.name.as_str()) {
            diags.push(
                Diagnostic::at(&key.span, format!("unknown key `{}` in [graph]", key.name))
                    .suggest(&key.name, GRAPH_KEYS),
            );
        }
    }
    if let Some(extends) = get(header, "extends") {
        let bases = match &extends.v {
            V::Str(_) => vec![extends.clone()],
            V::Array(items) => items.clone(),
            _ => {
                diags.push(Diagnostic::at(
                    &extends.span,
                    "`extends` takes a path or a list of paths",
                ));
                Vec::new()
            }
        };
        for base in bases {
            let Some(rel) = base.as_str() else {
                diags.push(Diagnostic::at(
                    &base.span,
                    "`extends` takes a path or a list of paths",
                ));
                continue;
            };
            // Lexically normal, so that messages say graphs/common/x.toml.
            let base_path = lexically_normal(&path.parent().unwrap_or(Path::new(".")).join(rel));
            let canonical = base_path
                .canonicalize()
                .unwrap_or_else(|_| base_path.clone());
            if stack.contains(&canonical) {
                diags.push(Diagnostic::at(
                    &base.span,
                    format!("`{rel}` extends itself (a cycle of extends)"),
                ));
                continue;
            }
            if !base_path.exists() {
                diags.push(
                    Diagnostic::at(&base.span, format!("no graph file {}", base_path.display()))
                        .label("extends a file that does not exist"),
                );
                continue;
            }
            let mut base_graph = load_file(&base_path, sources, stack, diags);
            // Reported where the graph being run names the fragment.
            for need in &mut base_graph.requires {
                need.extended_at = base.span.clone();
            }
            merge(&mut graph, base_graph);
        }
    }
    let mut own = read_own(&root, path.parent().unwrap_or(Path::new(".")), diags);
    for need in &mut own.requires {
        need.fragment = path.display().to_string();
    }
    merge(&mut graph, own);
    graph.path = path.to_path_buf();
    stack.pop();
    graph
}

/// `graphs/paper/../common/x.toml` as `graphs/common/x.toml`.
fn lexically_normal(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            std::path::Component::ParentDir if out.file_name().is_some() => {
                out.pop();
            }
            std::path::Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Overlays `top` on `base`: later files win key by key.
fn merge(base: &mut Graph, top: Graph) {
    if !top.name.is_empty() {
        base.name = top.name;
    }
    if !top.doc.is_empty() {
        base.doc = top.doc;
    }
    for (k, v) in top.params {
        set(&mut base.params, k, v);
    }
    overlay_defaults(&mut base.defaults, top.defaults);
    base.requires.extend(top.requires);
    for mut node in top.nodes {
        match base
            .nodes
            .iter_mut()
            .find(|n| n.name.name == node.name.name)
        {
            // Redefined with another kind: the new kind's node inherits what
            // this file does not set itself, to be sorted out against the
            // new kind's ports and schema.
            Some(existing) if matches!((&existing.kind, &node.kind), (Some((from, _)), Some((to, _))) if from != to) =>
            {
                let from_kind = existing.kind.take().map(|(k, _)| k).unwrap_or_default();
                let at = node
                    .kind
                    .as_ref()
                    .map(|(_, span)| span.clone())
                    .unwrap_or_default();
                let earlier = existing.swap.take();
                let mut inputs = existing.inputs.clone();
                let mut params = existing.params.clone();
                if let Some(earlier) = earlier {
                    inputs.extend(earlier.inputs);
                    params.extend(earlier.params);
                }
                inputs.retain(|i| !node.inputs.iter().any(|n| n.port.name == i.port.name));
                params.retain(|(k, _)| get(&node.params, &k.name).is_none());
                node.swap = Some(Swap {
                    from_kind,
                    at,
                    inputs,
                    params,
                });
                *existing = node;
            }
            Some(existing) => {
                // A port rewired here drops all its inherited sources.
                existing
                    .inputs
                    .retain(|i| !node.inputs.iter().any(|n| n.port.name == i.port.name));
                existing.inputs.extend(node.inputs);
                if node.kind.is_some() {
                    existing.kind = node.kind;
                }
                for (k, v) in node.params {
                    set(&mut existing.params, k, v);
                }
                if node.frozen.is_some() {
                    existing.frozen = node.frozen;
                }
            }
            None => base.nodes.push(node),
        }
    }
    // The [test] preset merges like the graph: a fragment's swaps the
    // corpus once for every graph extending it.
    match (&mut base.test, top.test) {
        (Some(base), Some(top)) => overlay(base, top),
        (base, top @ Some(_)) => *base = top,
        (_, None) => {}
    }
    base.expects.extend(top.expects);
    if top.sweep.is_some() {
        base.sweep = top.sweep;
    }
    if top.slurm.is_some() {
        base.slurm = top.slurm;
    }
    // Extending a fragment makes a whole graph.
    base.fragment = top.fragment;
}

/// Overlays one table on another key by key, tables within tables too.
fn overlay(base: &mut Sv, top: Sv) {
    match (&mut base.v, top.v) {
        (V::Table(base), V::Table(top)) => {
            for (k, v) in top {
                match base.iter_mut().find(|(b, _)| b.name == k.name) {
                    Some((_, existing)) => overlay(existing, v),
                    None => base.push((k, v)),
                }
            }
        }
        (_, v) => *base = Sv { v, span: top.span },
    }
}

/// Overlays defaults by kind, parameter by parameter.
fn overlay_defaults(base: &mut Vec<(Key, Sv)>, top: Vec<(Key, Sv)>) {
    for (kind, params) in top {
        match base.iter_mut().find(|(k, _)| k.name == kind.name) {
            Some((_, existing)) => {
                if let (V::Table(existing), V::Table(params)) = (&mut existing.v, params.v) {
                    for (k, v) in params {
                        set(existing, k, v);
                    }
                }
            }
            None => base.push((kind, params)),
        }
    }
}

/// Gives every node the `[defaults."KIND"]` parameters of its kind that it
/// does not set itself. Run after the kinds are final (swaps, [test]).
pub fn apply_defaults(graph: &mut Graph) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    for (kind, params) in &graph.defaults {
        let Some(params) = params.as_table() else {
            continue;
        };
        let mut used = false;
        for node in graph
            .nodes
            .iter_mut()
            .filter(|n| n.kind.as_ref().is_some_and(|(k, _)| *k == kind.name))
        {
            used = true;
            for (k, v) in params {
                if get(&node.params, &k.name).is_none() {
                    node.params.push((k.clone(), v.clone()));
                }
            }
        }
        if !used {
            let kinds: Vec<&str> = graph
                .nodes
                .iter()
                .filter_map(|n| n.kind.as_ref().map(|(k, _)| k.as_str()))
                .collect();
            diags.push(
                Diagnostic::at(
                    &kind.span,
                    format!("defaults for `{}`, but no node is of that kind", kind.name),
                )
                .label("sets nothing")
                .suggest(&kind.name, kinds),
            );
        }
    }
    diags
}

fn table_at<'a>(root: &'a [(Key, Sv)], name: &str, diags: &mut Vec<Diagnostic>) -> &'a [(Key, Sv)] {
    match get(root, name) {
        None => &[],
        Some(v) => v.as_table().unwrap_or_else(|| {
            diags.push(Diagnostic::at(&v.span, format!("`{name}` must be a table")));
            &[]
        }),
    }
}

fn read_own(root: &[(Key, Sv)], dir: &Path, diags: &mut Vec<Diagnostic>) -> Graph {
    let mut graph = Graph::default();
    let header = table_at(root, "graph", diags);
    if let Some(v) = get(header, "name") {
        graph.name = string_or(v, diags, "`name` must be a string");
    }
    if let Some(v) = get(header, "doc") {
        graph.doc = string_or(v, diags, "`doc` must be a string");
    }
    if let Some(v) = get(header, "fragment") {
        match v.v {
            V::Bool(b) => graph.fragment = b,
            _ => diags.push(Diagnostic::at(&v.span, "`fragment` must be true or false")),
        }
    }
    if let Some(v) = get(header, "requires") {
        graph.requires = read_requires(v, diags);
    }
    graph.params = table_at(root, "params", diags).to_vec();
    for (kind, params) in table_at(root, "defaults", diags) {
        match params.as_table() {
            Some(_) => graph.defaults.push((kind.clone(), params.clone())),
            None => diags.push(
                Diagnostic::at(
                    &params.span,
                    format!(
                        "defaults for `{}` must be a table of its parameters",
                        kind.name
                    ),
                )
                .help("for example [defaults.\"family.kind\"] with `param = value` lines below it"),
            ),
        }
    }
    for (name, node) in table_at(root, "nodes", diags) {
        let Some(table) = node.as_table() else {
            diags.push(Diagnostic::at(
                &node.span,
                format!("node `{}` must be a table", name.name),
            ));
            continue;
        };
        graph.nodes.push(read_node(name, table, dir, diags));
    }
    graph.test = get(root, "test").cloned();
    if let Some(expect) = get(root, "expect") {
        match &expect.v {
            V::Array(items) => {
                for item in items {
                    match item.as_table() {
                        Some(t) => graph.expects.push(Expect { fields: t.to_vec() }),
                        None => diags.push(Diagnostic::at(
                            &item.span,
                            "each [[expect]] must be a table",
                        )),
                    }
                }
            }
            _ => diags.push(Diagnostic::at(
                &expect.span,
                "`expect` must be an array of tables ([[expect]])",
            )),
        }
    }
    graph.sweep = get(root, "sweep").cloned();
    graph.slurm = get(root, "slurm").cloned();
    graph
}

/// `requires = { corpus = ["audio", "labels"] }` in a fragment's header.
fn read_requires(value: &Sv, diags: &mut Vec<Diagnostic>) -> Vec<Requirement> {
    let form =
        "`requires` takes { NODE = [\"OUTPUT\", ...] }, e.g. { corpus = [\"audio\", \"labels\"] }";
    let Some(table) = value.as_table() else {
        diags.push(Diagnostic::at(&value.span, form));
        return Vec::new();
    };
    table
        .iter()
        .filter_map(|(node, ports)| {
            let outputs = match &ports.v {
                V::Array(items) => items
                    .iter()
                    .map(|p| p.as_str().map(str::to_string))
                    .collect::<Option<Vec<_>>>(),
                _ => None,
            };
            if outputs.is_none() {
                diags.push(Diagnostic::at(&ports.span, form));
            }
            // The fragment's path is filled in by `load_file`.
            Some(Requirement {
                node: node.clone(),
                outputs: outputs?,
                extended_at: node.span.clone(),
                fragment: String::new(),
            })
        })
        .collect()
}

fn string_or(v: &Sv, diags: &mut Vec<Diagnostic>, message: &str) -> String {
    v.as_str().map(str::to_string).unwrap_or_else(|| {
        diags.push(Diagnostic::at(&v.span, message));
        String::new()
    })
}

fn read_node(name: &Key, table: &[(Key, Sv)], dir: &Path, diags: &mut Vec<Diagnostic>) -> NodeDecl {
    let mut node = NodeDecl {
        name: name.clone(),
        kind: None,
        inputs: Vec::new(),
        params: Vec::new(),
        frozen: None,
        swap: None,
    };
    for (key, value) in table {
        match key.name.as_str() {
            "kind" => match value.as_str() {
                Some(kind) => node.kind = Some((kind.to_string(), value.span.clone())),
                None => diags.push(Diagnostic::at(
                    &value.span,
                    "`kind` must be a string such as \"feature.fbank\"",
                )),
            },
            "frozen" => match value.as_str() {
                Some(rel) => node.frozen = Some((dir.join(rel), value.span.clone())),
                None => diags.push(Diagnostic::at(
                    &value.span,
                    "`frozen` must be the path of a stored node output directory",
                )),
            },
            "inputs" => match value.as_table() {
                Some(inputs) => {
                    for (port, wiring) in inputs {
                        // One source, or a list whose streams are concatenated.
                        let sources = match &wiring.v {
                            V::Array(items) => items.iter().collect(),
                            _ => vec![wiring],
                        };
                        for from in sources {
                            match from.as_str().and_then(|s| s.split_once('.')) {
                                Some((n, p)) if !n.is_empty() && !p.is_empty() => node.inputs.push(InputDecl {
                                    port: port.clone(),
                                    from_node: n.to_string(),
                                    from_port: p.to_string(),
                                    span: from.span.clone(),
                                }),
                                _ => diags.push(
                                    Diagnostic::at(&from.span, format!("input `{}` must be wired as \"node.port\"", port.name))
                                        .label("not of the form \"node.port\"")
                                        .help("or a list of them, [\"a.port\", \"b.port\"], read one after the other"),
                                ),
                            }
                        }
                    }
                }
                None => diags.push(Diagnostic::at(
                    &value.span,
                    "`inputs` must be a table such as { audio = \"corpus.audio\" }",
                )),
            },
            _ => node.params.push((key.clone(), value.clone())),
        }
    }
    node
}

fn convert_table(table: toml::de::DeTable<'_>, file: usize) -> Vec<(Key, Sv)> {
    table
        .into_iter()
        .map(|(k, v)| {
            let key = Key {
                name: k.get_ref().to_string(),
                span: Span {
                    file,
                    range: k.span(),
                },
            };
            (key, convert(v, file))
        })
        .collect()
}

fn convert(value: toml::Spanned<toml::de::DeValue<'_>>, file: usize) -> Sv {
    use toml::de::DeValue;
    let span = Span {
        file,
        range: value.span(),
    };
    let v = match value.into_inner() {
        DeValue::String(s) => V::Str(s.into_owned()),
        DeValue::Integer(i) => {
            let digits = i.as_str().replace('_', "");
            match i64::from_str_radix(digits.trim_start_matches('+'), i.radix()) {
                Ok(n) => V::Int(n),
                Err(_) => V::Str(digits),
            }
        }
        DeValue::Float(f) => {
            let text = f.as_str().replace('_', "");
            V::Float(match text.trim_start_matches('+') {
                "inf" => f64::INFINITY,
                "-inf" => f64::NEG_INFINITY,
                "nan" | "-nan" => f64::NAN,
                t => t.parse().unwrap_or(f64::NAN),
            })
        }
        DeValue::Boolean(b) => V::Bool(b),
        DeValue::Datetime(d) => V::Str(d.to_string()),
        DeValue::Array(items) => V::Array(items.into_iter().map(|v| convert(v, file)).collect()),
        DeValue::Table(t) => V::Table(convert_table(t, file)),
    };
    Sv { v, span }
}

/// Parses a `--set` value: TOML when it parses, a plain string otherwise;
/// a value that starts like a TOML array, table or quoted string must parse,
/// so that a typo is not taken as a string.
pub fn parse_cli_value(text: &str, file: usize, offset: usize) -> Result<Sv, Diagnostic> {
    let span = Span {
        file,
        range: offset..offset + text.len(),
    };
    match toml::de::DeValue::parse(text) {
        Ok(value) => {
            let mut sv = convert(value, file);
            shift(&mut sv, offset);
            Ok(sv)
        }
        Err(e) if text.trim_start().starts_with(['[', '{', '"', '\'']) => {
            let at = e.span().map_or(span.clone(), |r| Span {
                file,
                range: r.start + offset..r.end + offset,
            });
            Err(Diagnostic::at(
                &at,
                format!("`--set` value is not valid TOML: {}", e.message().trim()),
            )
            .label("here")
            .help("arrays are [1.0, 2.0], tables { a = 1 }, strings \"text\" or a plain word"))
        }
        Err(_) => Ok(Sv {
            v: V::Str(text.to_string()),
            span,
        }),
    }
}

fn shift(sv: &mut Sv, offset: usize) {
    sv.span.range = sv.span.range.start + offset..sv.span.range.end + offset;
    match &mut sv.v {
        V::Array(items) => items.iter_mut().for_each(|i| shift(i, offset)),
        V::Table(t) => t.iter_mut().for_each(|(k, v)| {
            k.span.range = k.span.range.start + offset..k.span.range.end + offset;
            shift(v, offset)
        }),
        _ => {}
    }
}

/// Applies `--set KEY=VALUE` overrides: a graph parameter, or `node.param`.
pub fn apply_sets(graph: &mut Graph, sets: &[String], sources: &mut Sources) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    for set_arg in sets {
        let file = sources.add(Path::new("--set"), set_arg.clone());
        let Some((key, value)) = set_arg.split_once('=') else {
            diags.push(
                Diagnostic::at(
                    &Span {
                        file,
                        range: 0..set_arg.len(),
                    },
                    "`--set` takes KEY=VALUE",
                )
                .help("for example --set seed=2 or --set model.layers=4"),
            );
            continue;
        };
        let key_span = Span {
            file,
            range: 0..key.len(),
        };
        let value = match parse_cli_value(value, file, key.len() + 1) {
            Ok(value) => value,
            Err(d) => {
                diags.push(d);
                continue;
            }
        };
        if let Some((node_name, param)) = key.split_once('.') {
            let names: Vec<String> = graph.nodes.iter().map(|n| n.name.name.clone()).collect();
            match graph.nodes.iter_mut().find(|n| n.name.name == node_name) {
                Some(node) => set(
                    &mut node.params,
                    Key {
                        name: param.to_string(),
                        span: key_span,
                    },
                    value,
                ),
                None => diags.push(
                    Diagnostic::at(
                        &key_span,
                        format!("no node `{node_name}` to set `{param}` on"),
                    )
                    .suggest(node_name, names.iter().map(String::as_str)),
                ),
            }
        } else if get(&graph.params, key).is_some() {
            set(
                &mut graph.params,
                Key {
                    name: key.to_string(),
                    span: key_span,
                },
                value,
            );
        } else {
            let names: Vec<&str> = graph.params.iter().map(|(k, _)| k.name.as_str()).collect();
            diags.push(
                Diagnostic::at(&key_span, format!("the graph has no parameter `{key}`"))
                    .suggest(key, names.iter().copied())
                    .help(format!(
                        "parameters: {}; to set a node parameter use NODE.PARAM=VALUE",
                        if names.is_empty() {
                            "none".to_string()
                        } else {
                            names.join(", ")
                        }
                    )),
            );
        }
    }
    diags
}

/// Applies the `[test]` preset: `params = {...}` and `nodes.NAME.param = v`.
pub fn apply_test_preset(graph: &mut Graph) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let Some(test) = graph.test.clone() else {
        return diags;
    };
    let Some(table) = test.as_table() else {
        diags.push(Diagnostic::at(&test.span, "[test] must be a table"));
        return diags;
    };
    for (key, value) in table {
        match (key.name.as_str(), value.as_table()) {
            ("params", Some(params)) => {
                for (k, v) in params {
                    if get(&graph.params, &k.name).is_none() {
                        let names: Vec<&str> = graph.params.iter().map(|(k, _)| k.name.as_str()).collect();
                        diags.push(
                            Diagnostic::at(&k.span, format!("[test] sets `{}`, which is not a graph parameter", k.name))
                                .suggest(&k.name, names.iter().copied()),
                        );
                    } else {
                        set(&mut graph.params, k.clone(), v.clone());
                    }
                }
            }
            ("defaults", Some(defaults)) => overlay_defaults(&mut graph.defaults, defaults.to_vec()),
            ("nodes", Some(nodes)) => {
                for (name, overrides) in nodes {
                    let names: Vec<String> = graph.nodes.iter().map(|n| n.name.name.clone()).collect();
                    match (graph.nodes.iter_mut().find(|n| n.name.name == name.name), overrides.as_table()) {
                        (Some(node), Some(o)) => {
                            // With a `kind`, the node is replaced (e.g. a corpus
                            // reader by the synthetic source); else its
                            // parameters are overridden.
                            if let Some(kind) = get(o, "kind") {
                                match kind.as_str() {
                                    Some(k) => node.kind = Some((k.to_string(), kind.span.clone())),
                                    None => diags.push(Diagnostic::at(&kind.span, "`kind` must be a string")),
                                }
                                node.params.clear();
                            }
                            for (k, v) in o.iter().filter(|(k, _)| k.name != "kind") {
                                set(&mut node.params, k.clone(), v.clone());
                            }
                        }
                        (None, _) => diags.push(
                            Diagnostic::at(&name.span, format!("[test] overrides node `{}`, which the graph lacks", name.name))
                                .suggest(&name.name, names.iter().map(String::as_str)),
                        ),
                        (_, None) => diags.push(Diagnostic::at(&overrides.span, "node overrides must be a table")),
                    }
                }
            }
            _ => diags.push(
                Diagnostic::at(&key.span, format!("unknown key `{}` in [test]", key.name))
                    .help("[test] takes `params = {...}`, `[test.defaults.\"KIND\"]` and `[test.nodes.NAME]` tables"),
            ),
        }
    }
    diags
}

/// Replaces `${param}` references in node parameters: a whole-string
/// reference takes the parameter's value and type, an embedded one is
/// interpolated as text. A reference to a required parameter left unset is
/// an error at its declaration; one nothing references is not (a [test]
/// preset may replace the node that reads it).
pub fn substitute_params(graph: &mut Graph) -> Vec<Diagnostic> {
    let mut refs = Refs {
        params: graph.params.clone(),
        diags: Vec::new(),
        unset: Vec::new(),
    };
    for node in &mut graph.nodes {
        for (_, value) in &mut node.params {
            substitute(value, &mut refs);
        }
    }
    // Swept values may name a graph parameter, so that [test] can shrink them.
    if let Some(sweep) = &mut graph.sweep {
        substitute(sweep, &mut refs);
    }
    for (key, value) in graph
        .params
        .iter()
        .filter(|(k, _)| refs.unset.contains(&k.name))
    {
        let name = &key.name;
        let what = required_description(value).unwrap_or_default();
        refs.diags.push(
            Diagnostic::at(
                &key.span,
                format!("set `{name}` ({what}): --set {name}=VALUE"),
            )
            .label("required, no default")
            .help(format!(
                "run with --set {name}=VALUE; the graph declares it without a value"
            )),
        );
    }
    refs.diags
}

struct Refs {
    params: Vec<(Key, Sv)>,
    diags: Vec<Diagnostic>,
    /// Required parameters referenced but not set, once each.
    unset: Vec<String>,
}

impl Refs {
    fn lookup(&mut self, name: &str, at: &Span) -> Option<Sv> {
        let Some(found) = get(&self.params, name) else {
            let names: Vec<&str> = self.params.iter().map(|(k, _)| k.name.as_str()).collect();
            self.diags.push(
                Diagnostic::at(at, format!("unknown graph parameter `{name}`"))
                    .label("referenced here")
                    .suggest(name, names.iter().copied()),
            );
            return None;
        };
        if required_description(found).is_some() {
            if !self.unset.iter().any(|n| n == name) {
                self.unset.push(name.to_string());
            }
            return None;
        }
        Some(found.clone())
    }
}

fn substitute(value: &mut Sv, refs: &mut Refs) {
    match &mut value.v {
        V::Str(s) if s.contains("${") => {
            if let Some(name) = s
                .strip_prefix("${")
                .and_then(|r| r.strip_suffix('}'))
                .filter(|n| !n.contains('}'))
            {
                if let Some(mut v) = refs.lookup(name, &value.span) {
                    v.span = value.span.clone();
                    *value = v;
                }
                return;
            }
            let mut out = String::new();
            let mut rest = s.as_str();
            while let Some(start) = rest.find("${") {
                out.push_str(&rest[..start]);
                let Some(end) = rest[start..].find('}') else {
                    refs.diags.push(Diagnostic::at(
                        &value.span,
                        "unclosed `${` in a parameter reference",
                    ));
                    return;
                };
                let name = &rest[start + 2..start + end];
                if let Some(v) = refs.lookup(name, &value.span) {
                    match &v.v {
                        V::Str(t) => out.push_str(t),
                        V::Int(i) => out.push_str(&i.to_string()),
                        V::Float(f) => out.push_str(&f.to_string()),
                        V::Bool(b) => out.push_str(&b.to_string()),
                        _ => refs.diags.push(Diagnostic::at(
                            &value.span,
                            format!(
                                "`{name}` is {} and cannot be put in a string",
                                v.type_name()
                            ),
                        )),
                    }
                }
                rest = &rest[start + end + 1..];
            }
            out.push_str(rest);
            *s = out;
        }
        V::Array(items) => items.iter_mut().for_each(|i| substitute(i, refs)),
        V::Table(t) => t.iter_mut().for_each(|(_, v)| substitute(v, refs)),
        _ => {}
    }
}

/// Suggests among node names; used by validation too.
pub fn suggest_node<'a>(graph: &'a Graph, wrong: &str) -> Option<&'a str> {
    did_you_mean(wrong, graph.nodes.iter().map(|n| n.name.name.as_str()))
}
