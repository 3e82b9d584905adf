//! A reader for Weka ARFF files, as the AVEC 2016 gold standard uses them.
//!
//! What it accepts: `@relation` (any name, quoted or not), `@attribute NAME
//! TYPE` with NAME bare, 'single' or "double" quoted and TYPE one of
//! numeric / real / integer / string / date [format] / {nominal, values}
//! (keywords in any case), then `@data` and one row per line. Fields are
//! separated by commas and may be quoted; `?` is a missing value. `%` starts
//! a comment (outside quotes), blank lines are skipped anywhere. Columns are
//! found by attribute name, never by position, so the header decides the
//! order.
//!
//! What it rejects, with the file and the 1-based line: an unknown
//! `@keyword`, text before `@relation`, a missing `@data`, a row with a
//! different number of fields than attributes, a numeric field that is not
//! a number, an unterminated quote, sparse rows (`{...}`) and relational
//! attributes (neither occurs in the corpora this crate reads).

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

#[derive(Debug, Clone, PartialEq)]
pub enum AttributeType {
    Numeric,
    String,
    Date,
    Nominal(Vec<String>),
}

#[derive(Debug, Clone, PartialEq)]
pub struct Attribute {
    pub name: String,
    pub kind: AttributeType,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// A numeric attribute's value; NaN and infinities are kept as written
    /// (the caller decides whether they are acceptable).
    Number(f64),
    Text(String),
    Missing,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// 1-based line number in the file, for error messages.
    pub line: usize,
    pub values: Vec<Value>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Arff {
    pub path: PathBuf,
    pub relation: String,
    pub attributes: Vec<Attribute>,
    pub rows: Vec<Row>,
}

impl Arff {
    pub fn read(path: &Path) -> Result<Arff> {
        let bytes = std::fs::read(path).map_err(|e| Error::io(path, e))?;
        let text = String::from_utf8(bytes)
            .map_err(|e| Error::file(path, format!("not UTF-8 text: {e}")))?;
        Arff::parse(&text, path)
    }

    /// Parses ARFF text; `path` only names the source in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Arff> {
        let mut relation = None;
        let mut attributes = Vec::new();
        let mut rows = Vec::new();
        let mut in_data = false;
        // Editors on Windows save UTF-8 with a byte order mark.
        for (index, raw) in text.trim_start_matches('\u{feff}').lines().enumerate() {
            let line = index + 1;
            let err = |message: String| Error::line(path, line, message);
            let tokens = tokenize(raw).map_err(err)?;
            let Some(first) = tokens.first() else {
                continue;
            };
            if in_data {
                rows.push(parse_row(&tokens, &attributes, path, line)?);
                continue;
            }
            let keyword = first.text.to_ascii_lowercase();
            match keyword.as_str() {
                "@relation" if !first.quoted => {
                    if relation.is_some() {
                        return Err(err("a second @relation".into()));
                    }
                    let name = words(&tokens[1..]);
                    relation = Some(name);
                }
                "@attribute" if !first.quoted => {
                    if relation.is_none() {
                        return Err(err("@attribute before @relation".into()));
                    }
                    attributes.push(parse_attribute(&tokens[1..]).map_err(err)?);
                }
                "@data" if !first.quoted => {
                    if relation.is_none() {
                        return Err(err("@data before @relation".into()));
                    }
                    if attributes.is_empty() {
                        return Err(err("@data without any @attribute".into()));
                    }
                    if tokens.len() > 1 {
                        return Err(err("unexpected text after @data".into()));
                    }
                    in_data = true;
                }
                _ => {
                    return Err(err(format!(
                        "expected @relation, @attribute or @data in the header, found '{}'",
                        raw.trim()
                    )));
                }
            }
        }
        if !in_data {
            return Err(Error::file(path, "no @data section"));
        }
        Ok(Arff {
            path: path.to_path_buf(),
            relation: relation.unwrap_or_default(),
            attributes,
            rows,
        })
    }

    /// Index of the attribute named `name` (ASCII case-insensitive).
    pub fn attribute_index(&self, name: &str) -> Option<usize> {
        self.attributes
            .iter()
            .position(|a| a.name.eq_ignore_ascii_case(name))
    }
}

/// One lexical unit of a line: a bare word, a quoted string (quotes removed,
/// backslash escapes resolved), a comma, or a nominal list `{...}`.
#[derive(Debug, Clone, PartialEq)]
struct Token {
    text: String,
    quoted: bool,
    kind: TokenKind,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum TokenKind {
    Word,
    Comma,
    Braces,
}

fn tokenize(line: &str) -> std::result::Result<Vec<Token>, String> {
    let mut tokens = Vec::new();
    let mut chars = line.chars().peekable();
    while let Some(&c) = chars.peek() {
        match c {
            '%' => break,
            c if c.is_whitespace() => {
                chars.next();
            }
            ',' => {
                chars.next();
                tokens.push(Token {
                    text: ",".into(),
                    quoted: false,
                    kind: TokenKind::Comma,
                });
            }
            '\'' | '"' => {
                chars.next();
                let mut text = String::new();
                let mut closed = false;
                while let Some(ch) = chars.next() {
                    match ch {
                        '\\' => match chars.next() {
                            Some(escaped) => text.push(escaped),
                            None => break,
                        },
                        ch if ch == c => {
                            closed = true;
                            break;
                        }
                        ch => text.push(ch),
                    }
                }
                if !closed {
                    return Err(format!("unterminated {c}quoted{c} string"));
                }
                tokens.push(Token {
                    text,
                    quoted: true,
                    kind: TokenKind::Word,
                });
            }
            '{' => {
                chars.next();
                let mut text = String::new();
                let mut closed = false;
                for ch in chars.by_ref() {
                    if ch == '}' {
                        closed = true;
                        break;
                    }
                    text.push(ch);
                }
                if !closed {
                    return Err("unterminated '{' list".into());
                }
                tokens.push(Token {
                    text,
                    quoted: false,
                    kind: TokenKind::Braces,
                });
            }
            _ => {
                let mut text = String::new();
                while let Some(&ch) = chars.peek() {
                    if ch.is_whitespace() || matches!(ch, ',' | '%' | '{' | '\'' | '"') {
                        break;
                    }
                    text.push(ch);
                    chars.next();
                }
                tokens.push(Token {
                    text,
                    quoted: false,
                    kind: TokenKind::Word,
                });
            }
        }
    }
    Ok(tokens)
}

/// Joins the tokens of a relation name (an unquoted name may contain spaces
/// in files written by hand).
fn words(tokens: &[Token]) -> String {
    tokens
        .iter()
        .map(|t| t.text.as_str())
        .collect::<Vec<_>>()
        .join(" ")
}

fn parse_attribute(tokens: &[Token]) -> std::result::Result<Attribute, String> {
    let (name, rest) = tokens
        .split_first()
        .ok_or_else(|| "@attribute without a name".to_string())?;
    if name.kind != TokenKind::Word {
        return Err("@attribute without a name".into());
    }
    let kind_token = rest
        .first()
        .ok_or_else(|| format!("@attribute {} without a type", name.text))?;
    let kind = match kind_token.kind {
        TokenKind::Braces => AttributeType::Nominal(
            kind_token
                .text
                .split(',')
                .map(|v| v.trim().trim_matches(['\'', '"']).to_string())
                .collect(),
        ),
        _ => match kind_token.text.to_ascii_lowercase().as_str() {
            "numeric" | "real" | "integer" => AttributeType::Numeric,
            "string" => AttributeType::String,
            "date" => AttributeType::Date,
            other => {
                return Err(format!(
                    "@attribute {}: unsupported type '{other}'",
                    name.text
                ));
            }
        },
    };
    let extra_allowed = matches!(kind, AttributeType::Date) && rest.len() <= 2;
    if rest.len() > 1 && !extra_allowed {
        return Err(format!(
            "@attribute {}: unexpected text after the type",
            name.text
        ));
    }
    Ok(Attribute {
        name: name.text.clone(),
        kind,
    })
}

fn parse_row(tokens: &[Token], attributes: &[Attribute], path: &Path, line: usize) -> Result<Row> {
    if tokens[0].kind == TokenKind::Braces {
        return Err(Error::line(
            path,
            line,
            "sparse ARFF rows are not supported",
        ));
    }
    // Split on commas; an empty field (two commas in a row) is an error.
    let mut fields: Vec<&Token> = Vec::with_capacity(attributes.len());
    let mut expect_field = true;
    for token in tokens {
        match (token.kind, expect_field) {
            (TokenKind::Comma, true) => {
                return Err(Error::line(
                    path,
                    line,
                    format!("empty field {}", fields.len() + 1),
                ));
            }
            (TokenKind::Comma, false) => expect_field = true,
            (_, true) => {
                fields.push(token);
                expect_field = false;
            }
            (_, false) => {
                return Err(Error::line(
                    path,
                    line,
                    format!("missing comma before '{}'", token.text),
                ));
            }
        }
    }
    if expect_field {
        return Err(Error::line(path, line, "the row ends with a comma"));
    }
    if fields.len() != attributes.len() {
        let names: Vec<&str> = attributes.iter().map(|a| a.name.as_str()).collect();
        return Err(Error::line(
            path,
            line,
            format!(
                "expected {} fields ({}), found {}",
                attributes.len(),
                names.join(", "),
                fields.len()
            ),
        ));
    }
    let values = fields
        .iter()
        .zip(attributes)
        .map(|(field, attribute)| {
            if !field.quoted && field.text == "?" {
                return Ok(Value::Missing);
            }
            match &attribute.kind {
                AttributeType::Numeric => {
                    field.text.parse::<f64>().map(Value::Number).map_err(|_| {
                        Error::line(
                            path,
                            line,
                            format!("{}: '{}' is not a number", attribute.name, field.text),
                        )
                    })
                }
                AttributeType::Nominal(allowed) if !allowed.contains(&field.text) => {
                    Err(Error::line(
                        path,
                        line,
                        format!(
                            "{}: '{}' is not one of {{{}}}",
                            attribute.name,
                            field.text,
                            allowed.join(",")
                        ),
                    ))
                }
                _ => Ok(Value::Text(field.text.clone())),
            }
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(Row { line, values })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Arff> {
        Arff::parse(text, Path::new("x.arff"))
    }

    #[test]
    fn a_byte_order_mark_before_the_relation_is_skipped() {
        let arff = parse("\u{feff}@relation r\n@attribute x numeric\n@data\n1\n").unwrap();
        assert_eq!((arff.relation.as_str(), arff.rows.len()), ("r", 1));
    }

    const RELEASE: &str = "@relation GOLDSTANDARD_AROUSAL\n\n\
        @attribute Instance_name string\n@attribute frameTime numeric\n\
        @attribute GoldStandard numeric\n\n\n@data\n\n\
        dev_1,0,-0.022925\ndev_1,0.04,-0.0079248\ndev_1,1.04,4.085e-04\n";

    #[test]
    fn reads_the_release_header_and_number_forms() {
        let arff = parse(RELEASE).unwrap();
        assert_eq!(arff.relation, "GOLDSTANDARD_AROUSAL");
        let names: Vec<&str> = arff.attributes.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["Instance_name", "frameTime", "GoldStandard"]);
        assert_eq!(arff.rows.len(), 3);
        assert_eq!(arff.rows[0].line, 10);
        assert_eq!(
            arff.rows[2].values,
            vec![
                Value::Text("dev_1".into()),
                Value::Number(1.04),
                Value::Number(4.085e-4)
            ]
        );
        assert_eq!(arff.rows[1].values[2], Value::Number(-0.0079248));
    }

    #[test]
    fn quotes_comments_case_and_attribute_order() {
        let text = "% written by hand\n@RELATION 'gold standard'\n\
            @ATTRIBUTE \"frame Time\" REAL\n@attribute 'Instance_name' STRING % comment\n\
            @attribute GoldStandard numeric\n@attribute mood {low,'high'}\n@DATA\n\
            % a comment line\n  0.08 , 'dev_1' , -1e-3, high  % trailing comment\n\
            0.12,\"dev \\\"1\\\"\",?,low\n";
        let arff = parse(text).unwrap();
        assert_eq!(arff.relation, "gold standard");
        assert_eq!(arff.attribute_index("FRAME TIME"), Some(0));
        assert_eq!(arff.attribute_index("instance_name"), Some(1));
        assert_eq!(
            arff.attributes[3].kind,
            AttributeType::Nominal(vec!["low".into(), "high".into()])
        );
        assert_eq!(arff.rows[0].line, 9);
        assert_eq!(
            arff.rows[0].values,
            vec![
                Value::Number(0.08),
                Value::Text("dev_1".into()),
                Value::Number(-1e-3),
                Value::Text("high".into())
            ]
        );
        assert_eq!(arff.rows[1].values[1], Value::Text("dev \"1\"".into()));
        assert_eq!(arff.rows[1].values[2], Value::Missing);
    }

    #[test]
    fn a_row_with_too_few_fields_names_file_line_and_attributes() {
        let text = RELEASE.replace("dev_1,0.04,-0.0079248", "dev_1,0.04");
        let msg = parse(&text).unwrap_err().to_string();
        assert_eq!(
            msg,
            "x.arff:11: expected 3 fields (Instance_name, frameTime, GoldStandard), found 2"
        );
    }

    #[test]
    fn a_non_numeric_field_names_file_line_and_attribute() {
        let text = RELEASE.replace("4.085e-04", "high");
        let msg = parse(&text).unwrap_err().to_string();
        assert_eq!(msg, "x.arff:12: GoldStandard: 'high' is not a number");
    }

    #[test]
    fn nan_is_read_as_a_number_for_the_caller_to_judge() {
        let text = RELEASE.replace("4.085e-04", "NaN");
        let arff = parse(&text).unwrap();
        assert!(matches!(arff.rows[2].values[2], Value::Number(v) if v.is_nan()));
    }

    #[test]
    fn header_mistakes_are_rejected_with_their_line() {
        let cases = [
            (
                "@attribute a numeric\n@data\n",
                "x.arff:1: @attribute before @relation",
            ),
            (
                "@relation r\n@attribute a numeric\n",
                "x.arff: no @data section",
            ),
            (
                "@relation r\n@attribute a numeric\nbogus\n@data\n",
                "x.arff:3: expected @relation",
            ),
            (
                "@relation r\n@attribute a relational\n@data\n",
                "x.arff:2: @attribute a: unsupported type 'relational'",
            ),
            (
                "@relation r\n@attribute 'a numeric\n@data\n",
                "x.arff:2: unterminated 'quoted' string",
            ),
            (
                "@relation r\n@attribute a numeric\n@data\n{0 1}\n",
                "x.arff:4: sparse ARFF rows are not supported",
            ),
            (
                "@relation r\n@attribute a numeric\n@attribute b numeric\n@data\n1,,2\n",
                "x.arff:5: empty field 2",
            ),
        ];
        for (text, expected) in cases {
            let msg = parse(text).unwrap_err().to_string();
            assert!(msg.starts_with(expected), "{text:?}: got {msg}");
        }
    }
}
