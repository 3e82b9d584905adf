//! Checks node parameters against the JSON Schema a plugin declares, with
//! each error at the offending value. Covers what `schemars` derives from a
//! parameter struct: types, `enum`/`const`, numeric bounds, `items`,
//! `properties`/`required`/`additionalProperties`, and `anyOf`/`oneOf`.

use serde_json::Value;

use crate::diag::{Diagnostic, Span};
use crate::graph::{Key, Sv, V};

/// Checks a node's parameter table; `node_span` is where to report missing
/// required parameters.
pub fn check_params(
    schema: &Value,
    params: &[(Key, Sv)],
    node: &str,
    node_span: &Span,
) -> Vec<Diagnostic> {
    let mut diags = Vec::new();
    let table = Sv {
        v: V::Table(params.to_vec()),
        span: node_span.clone(),
    };
    check(schema, &table, &format!("node `{node}`"), &mut diags);
    diags
}

fn json_type(sv: &Sv) -> &'static str {
    match sv.v {
        V::Str(_) => "string",
        V::Int(_) => "integer",
        V::Float(_) => "number",
        V::Bool(_) => "boolean",
        V::Array(_) => "array",
        V::Table(_) => "object",
    }
}

fn type_matches(want: &str, sv: &Sv) -> bool {
    match (want, &sv.v) {
        ("number", V::Int(_) | V::Float(_)) => true,
        ("integer", V::Float(f)) => f.fract() == 0.0,
        (w, _) => w == json_type(sv),
    }
}

fn number(sv: &Sv) -> Option<f64> {
    match sv.v {
        V::Int(i) => Some(i as f64),
        V::Float(f) => Some(f),
        _ => None,
    }
}

fn check(schema: &Value, sv: &Sv, what: &str, diags: &mut Vec<Diagnostic>) {
    let Some(schema) = schema.as_object() else {
        return;
    };
    if !check_allowed(schema, sv, what, diags) {
        return;
    }
    check_range(schema, sv, what, diags);
    if let V::Array(items) = &sv.v {
        check_items(schema, sv, items, what, diags);
    }
    if let V::Table(fields) = &sv.v {
        check_fields(schema, sv, fields, what, diags);
    }
    check_branches(schema, sv, what, diags);
}

type Schema = serde_json::Map<String, Value>;

/// The value's type, and its value against `enum` and `const`; whether it
/// passed (the checks after it would only repeat the complaint).
fn check_allowed(schema: &Schema, sv: &Sv, what: &str, diags: &mut Vec<Diagnostic>) -> bool {
    if let Some(t) = schema.get("type") {
        let wanted: Vec<&str> = match t {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().filter_map(Value::as_str).collect(),
            _ => vec![],
        };
        let wanted: Vec<&str> = wanted.into_iter().filter(|w| *w != "null").collect();
        if !wanted.is_empty() && !wanted.iter().any(|w| type_matches(w, sv)) {
            diags.push(
                Diagnostic::at(
                    &sv.span,
                    format!(
                        "{what} must be {}, not {}",
                        wanted.join(" or "),
                        sv.type_name()
                    ),
                )
                .label(format!("expected {}", wanted.join(" or "))),
            );
            return false;
        }
    }
    if let Some(options) = schema.get("enum").and_then(Value::as_array) {
        let value = sv.to_json();
        if !options.contains(&value) {
            let names: Vec<String> = options.iter().map(|o| o.to_string()).collect();
            let mut d = Diagnostic::at(
                &sv.span,
                format!("{what} must be one of {}", names.join(", ")),
            )
            .label("not an allowed value");
            if let Some(s) = sv.as_str() {
                let strs: Vec<&str> = options.iter().filter_map(Value::as_str).collect();
                d = d.suggest(s, strs.iter().copied());
            }
            diags.push(d);
            return false;
        }
    }
    if let Some(c) = schema.get("const")
        && &sv.to_json() != c
    {
        diags.push(Diagnostic::at(&sv.span, format!("{what} must be {c}")));
        return false;
    }
    true
}

/// A number's bounds.
fn check_range(schema: &Schema, sv: &Sv, what: &str, diags: &mut Vec<Diagnostic>) {
    if let Some(x) = number(sv) {
        let bound = |key: &str| schema.get(key).and_then(Value::as_f64);
        let checks = [
            ("minimum", bound("minimum").filter(|m| x < *m), "at least"),
            ("maximum", bound("maximum").filter(|m| x > *m), "at most"),
            (
                "exclusiveMinimum",
                bound("exclusiveMinimum").filter(|m| x <= *m),
                "above",
            ),
            (
                "exclusiveMaximum",
                bound("exclusiveMaximum").filter(|m| x >= *m),
                "below",
            ),
        ];
        for (_, broken, words) in checks {
            if let Some(limit) = broken {
                diags.push(
                    Diagnostic::at(&sv.span, format!("{what} must be {words} {limit}"))
                        .label("out of range"),
                );
            }
        }
    }
}

/// An array's length and items.
fn check_items(schema: &Schema, sv: &Sv, items: &[Sv], what: &str, diags: &mut Vec<Diagnostic>) {
    if let Some(min) = schema.get("minItems").and_then(Value::as_u64)
        && (items.len() as u64) < min
    {
        diags.push(Diagnostic::at(
            &sv.span,
            format!("{what} needs at least {min} items"),
        ));
    }
    if let Some(max) = schema.get("maxItems").and_then(Value::as_u64)
        && (items.len() as u64) > max
    {
        diags.push(Diagnostic::at(
            &sv.span,
            format!("{what} takes at most {max} items"),
        ));
    }
    if let Some(item_schema) = schema.get("items") {
        for (i, item) in items.iter().enumerate() {
            check(item_schema, item, &format!("{what}[{i}]"), diags);
        }
    }
}

/// A table's fields: known (or renamed) names, each field's value, the
/// required ones present.
fn check_fields(
    schema: &Schema,
    sv: &Sv,
    fields: &[(Key, Sv)],
    what: &str,
    diags: &mut Vec<Diagnostic>,
) {
    let properties = schema.get("properties").and_then(Value::as_object);
    for (key, value) in fields {
        match properties.and_then(|p| p.get(&key.name)) {
            Some(sub) => check(
                sub,
                value,
                &format!("parameter `{}` of {what}", key.name),
                diags,
            ),
            None => match schema.get("additionalProperties") {
                Some(Value::Bool(false)) => {
                    // A plugin names a parameter's old names in `x-renamed-from`.
                    let renamed = properties.and_then(|p| {
                        p.iter().find(|(_, s)| {
                            s.get("x-renamed-from")
                                .and_then(Value::as_array)
                                .is_some_and(|old| old.iter().any(|o| o == key.name.as_str()))
                        })
                    });
                    if let Some((new, _)) = renamed {
                        diags.push(
                            Diagnostic::at(
                                &key.span,
                                format!("parameter `{}` of {what} is now called `{new}`", key.name),
                            )
                            .label("the old name")
                            .help(format!("rename it: {new} = ...")),
                        );
                        continue;
                    }
                    let known: Vec<&str> = properties
                        .map(|p| p.keys().map(String::as_str).collect())
                        .unwrap_or_default();
                    let mut d = Diagnostic::at(
                        &key.span,
                        format!("{what} has no parameter `{}`", key.name),
                    )
                    .label("unknown parameter")
                    .suggest(&key.name, known.iter().copied());
                    if d.help.is_none() {
                        d = d.help(if known.is_empty() {
                            "this kind takes no parameters".to_string()
                        } else {
                            format!("parameters: {}", known.join(", "))
                        });
                    }
                    diags.push(d);
                }
                Some(sub @ Value::Object(_)) => check(
                    sub,
                    value,
                    &format!("parameter `{}` of {what}", key.name),
                    diags,
                ),
                _ => {}
            },
        }
    }
    if let Some(required) = schema.get("required").and_then(Value::as_array) {
        for name in required.iter().filter_map(Value::as_str) {
            if !fields.iter().any(|(k, _)| k.name == name) {
                diags.push(
                    Diagnostic::at(&sv.span, format!("{what} needs the parameter `{name}`"))
                        .help(format!("add `{name} = ...` to the node's table")),
                );
            }
        }
    }
}

/// `anyOf`/`oneOf` (the closest branch's problems when none fits) and `allOf`.
fn check_branches(schema: &Schema, sv: &Sv, what: &str, diags: &mut Vec<Diagnostic>) {
    for key in ["anyOf", "oneOf"] {
        if let Some(branches) = schema.get(key).and_then(Value::as_array) {
            let attempts: Vec<Vec<Diagnostic>> = branches
                .iter()
                .map(|b| {
                    let mut d = Vec::new();
                    check(b, sv, what, &mut d);
                    d
                })
                .collect();
            if !attempts.iter().any(Vec::is_empty) {
                // Report the branch that came closest.
                let best = attempts
                    .into_iter()
                    .min_by_key(Vec::len)
                    .unwrap_or_default();
                diags.extend(best);
            }
        }
    }
    if let Some(all) = schema.get("allOf").and_then(Value::as_array) {
        for sub in all {
            check(sub, sv, what, diags);
        }
    }
}
