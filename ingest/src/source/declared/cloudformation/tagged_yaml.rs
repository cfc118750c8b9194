//! A YAML reader that understands CloudFormation's short-form intrinsic tags.
//!
//! serde-saphyr drops or refuses application tags (`!Ref`, `!Sub`, ...) when it builds
//! `serde_json::Value`s, so this module builds values straight from the event stream of
//! `granit_parser`, turning each short form into its long form (`!Ref X` → `{"Ref": "X"}`,
//! `!GetAtt A.B` → `{"Fn::GetAtt": ["A", "B"]}`, `!Sub s` → `{"Fn::Sub": s}`).
//!
//! Scalars follow the YAML 1.2 core schema: `true`/`false` (any case form the schema allows)
//! are booleans, `null`/`~`/empty are null, numbers are numbers, and quoted or block scalars
//! stay strings. Decimal integers with a leading zero (`012345678901`, an AWS account id) stay
//! strings, since reading them as numbers would lose the digits that matter.
//!
//! Aliases are expanded, but every expansion is charged its node count against a per-file
//! budget, so a "billion laughs" file is refused before anything large is built.

use std::collections::HashMap;

use serde_json::{Map, Number, Value};
use serde_saphyr::granit_parser::{Event, Parser, ScalarStyle, Span, Tag};

use crate::error::{IngestError, Result};
use crate::input::InputFile;

/// Most nodes a template may expand to, aliases included. CloudFormation caps templates at
/// 1 MB, far below this, and the cap keeps a crafted file's expansion to tens of megabytes.
const MAX_NODES: usize = 1_000_000;
/// Deepest nesting accepted; real templates stay far below.
const MAX_DEPTH: usize = 128;

/// The short-form tags and the long-form key each becomes.
const SHORT_FORMS: &[(&str, &str)] = &[
    ("Ref", "Ref"),
    ("Condition", "Condition"),
    ("GetAtt", "Fn::GetAtt"),
    ("Sub", "Fn::Sub"),
    ("Join", "Fn::Join"),
    ("If", "Fn::If"),
    ("Select", "Fn::Select"),
    ("Split", "Fn::Split"),
    ("FindInMap", "Fn::FindInMap"),
    ("Base64", "Fn::Base64"),
    ("Cidr", "Fn::Cidr"),
    ("ImportValue", "Fn::ImportValue"),
    ("GetAZs", "Fn::GetAZs"),
    ("Equals", "Fn::Equals"),
    ("And", "Fn::And"),
    ("Or", "Fn::Or"),
    ("Not", "Fn::Not"),
    ("Transform", "Fn::Transform"),
    ("ToJsonString", "Fn::ToJsonString"),
    ("Length", "Fn::Length"),
    // Rule functions, valid in a template's `Rules` section (real templates use them to
    // validate parameters).
    ("Contains", "Fn::Contains"),
    ("EachMemberEquals", "Fn::EachMemberEquals"),
    ("EachMemberIn", "Fn::EachMemberIn"),
    ("RefAll", "Fn::RefAll"),
    ("ValueOf", "Fn::ValueOf"),
    ("ValueOfAll", "Fn::ValueOfAll"),
];

const CORE_SCHEMA: &str = "tag:yaml.org,2002:";

/// The single document of a YAML template, short-form tags in long form.
pub fn parse_template(file: &InputFile) -> Result<Value> {
    let text = file.text()?;
    let mut reader = Reader {
        file,
        parser: Parser::new_from_str(text),
        anchors: HashMap::new(),
        nodes: 0,
    };
    let mut document = None;
    loop {
        let Some((event, span)) = reader.next()? else {
            break;
        };
        match event {
            Event::DocumentStart(..) => {
                let value = reader.node(0)?;
                if document.is_some() {
                    return Err(reader.error_at(
                        &span,
                        "expected one YAML document in a template, found several",
                    ));
                }
                document = Some(value.value);
                reader.anchors.clear();
            }
            Event::StreamEnd => break,
            _ => {}
        }
    }
    document.ok_or_else(|| IngestError::Invalid {
        path: file.path.clone(),
        message: "empty YAML document".to_string(),
    })
}

/// A built value and how many nodes it holds (what re-using it through an alias costs).
#[derive(Clone)]
struct Built {
    value: Value,
    nodes: usize,
}

struct Reader<'text> {
    file: &'text InputFile,
    parser: Parser<'text, serde_saphyr::granit_parser::StrInput<'text>>,
    anchors: HashMap<usize, Built>,
    nodes: usize,
}

impl<'text> Reader<'text> {
    /// The next event that matters, or `None` at the end of input.
    fn next(&mut self) -> Result<Option<(Event<'text>, Span)>> {
        loop {
            match self.parser.next() {
                None => return Ok(None),
                Some(Err(error)) => {
                    let line = Some(error.marker().line()).filter(|line| *line > 0);
                    return Err(IngestError::Parse {
                        path: self.file.path.clone(),
                        line,
                        message: format!("invalid YAML: {}", error.info()),
                    });
                }
                Some(Ok((event, span))) => match event {
                    Event::StreamStart | Event::DocumentEnd => continue,
                    #[allow(unreachable_patterns)]
                    Event::Scalar(..)
                    | Event::SequenceStart(..)
                    | Event::SequenceEnd
                    | Event::MappingStart(..)
                    | Event::MappingEnd
                    | Event::Alias(..)
                    | Event::DocumentStart(..)
                    | Event::StreamEnd => return Ok(Some((event, span))),
                    // Comments and anchor metadata are presentation, not data.
                    _ => continue,
                },
            }
        }
    }

    fn error_at(&self, span: &Span, message: impl Into<String>) -> IngestError {
        IngestError::Parse {
            path: self.file.path.clone(),
            line: Some(span.start.line()).filter(|line| *line > 0),
            message: message.into(),
        }
    }

    fn charge(&mut self, nodes: usize, span: &Span) -> Result<()> {
        self.nodes = self.nodes.saturating_add(nodes);
        if self.nodes > MAX_NODES {
            return Err(self.error_at(
                span,
                format!("YAML expands to more than {MAX_NODES} nodes (alias bomb?); refused"),
            ));
        }
        Ok(())
    }

    /// The node starting at the next event.
    fn node(&mut self, depth: usize) -> Result<Built> {
        let Some((event, span)) = self.next()? else {
            return Err(IngestError::Parse {
                path: self.file.path.clone(),
                line: None,
                message: "invalid YAML: unexpected end of input".to_string(),
            });
        };
        self.node_from(event, span, depth)
    }

    fn node_from(&mut self, event: Event<'text>, span: Span, depth: usize) -> Result<Built> {
        if depth > MAX_DEPTH {
            return Err(self.error_at(&span, format!("YAML nested deeper than {MAX_DEPTH}")));
        }
        let (built, anchor, tag) = match event {
            Event::Alias(anchor) => {
                let Some(target) = self.anchors.get(&anchor) else {
                    return Err(self.error_at(&span, "alias to an unknown anchor"));
                };
                let nodes = target.nodes;
                // Charge before cloning, so an alias bomb is refused without being built.
                self.charge(nodes, &span)?;
                return Ok(self.anchors.get(&anchor).cloned().unwrap_or(Built {
                    value: Value::Null,
                    nodes: 1,
                }));
            }
            Event::Scalar(text, style, anchor, tag) => {
                self.charge(1, &span)?;
                let tag = tag.map(|tag| tag.into_owned());
                let value = match &tag {
                    Some(tag) if tag.handle() == CORE_SCHEMA => {
                        core_tagged_scalar(&text, tag.suffix())
                    }
                    // A short-form tag's scalar operand is always text (`!Ref Name`).
                    Some(_) => Value::String(text.into_owned()),
                    None => plain_or_quoted(&text, style),
                };
                (Built { value, nodes: 1 }, anchor, tag)
            }
            Event::SequenceStart(_, anchor, tag) => {
                self.charge(1, &span)?;
                let tag = tag.map(|tag| tag.into_owned());
                let mut items = Vec::new();
                let mut nodes = 1usize;
                loop {
                    let Some((event, span)) = self.next()? else {
                        return Err(self.error_at(&span, "invalid YAML: unterminated sequence"));
                    };
                    if matches!(event, Event::SequenceEnd) {
                        break;
                    }
                    let item = self.node_from(event, span, depth + 1)?;
                    nodes = nodes.saturating_add(item.nodes);
                    items.push(item.value);
                }
                let value = Value::Array(items);
                (Built { value, nodes }, anchor, tag)
            }
            Event::MappingStart(_, anchor, tag) => {
                self.charge(1, &span)?;
                let tag = tag.map(|tag| tag.into_owned());
                let mut map = Map::new();
                let mut nodes = 1usize;
                loop {
                    let Some((event, key_span)) = self.next()? else {
                        return Err(self.error_at(&span, "invalid YAML: unterminated mapping"));
                    };
                    if matches!(event, Event::MappingEnd) {
                        break;
                    }
                    let key = match self.node_from(event, key_span, depth + 1)?.value {
                        Value::String(key) => key,
                        Value::Number(number) => number.to_string(),
                        Value::Bool(flag) => flag.to_string(),
                        Value::Null => "null".to_string(),
                        _ => return Err(self.error_at(&key_span, "mapping keys must be scalars")),
                    };
                    let item = self.node(depth + 1)?;
                    nodes = nodes.saturating_add(item.nodes);
                    // CloudFormation refuses duplicate keys; silently keeping one would hide
                    // which definition is deployed.
                    if map.insert(key.clone(), item.value).is_some() {
                        return Err(
                            self.error_at(&key_span, format!("duplicate mapping key '{key}'"))
                        );
                    }
                }
                (
                    Built {
                        value: Value::Object(map),
                        nodes,
                    },
                    anchor,
                    tag,
                )
            }
            _ => return Err(self.error_at(&span, "invalid YAML: unexpected event")),
        };
        let built = match tag {
            None => built,
            Some(tag) => self.apply_tag(&tag, built, &span)?,
        };
        if anchor != 0 {
            self.anchors.insert(anchor, built.clone());
        }
        Ok(built)
    }

    /// The long form of a short-form intrinsic; core-schema tags were applied to scalars
    /// already and leave collections as they are.
    fn apply_tag(&self, tag: &Tag, built: Built, span: &Span) -> Result<Built> {
        if tag.handle() == CORE_SCHEMA {
            return Ok(built);
        }
        let name = tag.suffix();
        let long = SHORT_FORMS
            .iter()
            .find(|(short, _)| tag.handle() == "!" && *short == name)
            .map(|(_, long)| *long);
        let Some(long) = long else {
            return Err(self.error_at(
                span,
                format!(
                    "unsupported YAML tag '{}{}'; expected a CloudFormation short form (!Ref, !Sub, ...)",
                    tag.handle(),
                    name
                ),
            ));
        };
        let operand = match (long, built.value) {
            // `!GetAtt Resource.Attribute` splits at the first dot; the attribute may hold more.
            ("Fn::GetAtt", Value::String(text)) => match text.split_once('.') {
                Some((resource, attribute)) => Value::Array(vec![
                    Value::String(resource.to_string()),
                    Value::String(attribute.to_string()),
                ]),
                None => Value::String(text),
            },
            (_, operand) => operand,
        };
        let mut map = Map::new();
        map.insert(long.to_string(), operand);
        Ok(Built {
            value: Value::Object(map),
            nodes: built.nodes.saturating_add(1),
        })
    }
}

/// A scalar with an explicit `!!` tag.
fn core_tagged_scalar(text: &str, suffix: &str) -> Value {
    match suffix {
        "str" => Value::String(text.to_string()),
        "null" => Value::Null,
        "bool" | "int" | "float" => plain_or_quoted(text, ScalarStyle::Plain),
        _ => Value::String(text.to_string()),
    }
}

/// A scalar as the YAML 1.2 core schema reads it: only plain scalars are resolved.
fn plain_or_quoted(text: &str, style: ScalarStyle) -> Value {
    if style != ScalarStyle::Plain {
        return Value::String(text.to_string());
    }
    match text {
        "" | "~" | "null" | "Null" | "NULL" => return Value::Null,
        "true" | "True" | "TRUE" => return Value::Bool(true),
        "false" | "False" | "FALSE" => return Value::Bool(false),
        _ => {}
    }
    number(text).unwrap_or_else(|| Value::String(text.to_string()))
}

fn number(text: &str) -> Option<Value> {
    let unsigned = text.strip_prefix(['-', '+']).unwrap_or(text);
    if let Some(hex) = text.strip_prefix("0x") {
        return i64::from_str_radix(hex, 16).ok().map(Value::from);
    }
    if let Some(octal) = text.strip_prefix("0o") {
        return i64::from_str_radix(octal, 8).ok().map(Value::from);
    }
    if unsigned.is_empty() || !unsigned.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return None;
    }
    if unsigned.bytes().all(|byte| byte.is_ascii_digit()) {
        // Leading zeros carry meaning in CloudFormation (account ids): keep them as text.
        if unsigned.len() > 1 && unsigned.starts_with('0') {
            return None;
        }
        return text
            .parse::<i64>()
            .ok()
            .map(Value::from)
            .or_else(|| text.parse::<u64>().ok().map(Value::from));
    }
    let looks_float = unsigned
        .bytes()
        .all(|byte| byte.is_ascii_digit() || matches!(byte, b'.' | b'e' | b'E' | b'-' | b'+'))
        && unsigned.bytes().any(|byte| byte.is_ascii_digit());
    if !looks_float {
        return None;
    }
    text.parse::<f64>()
        .ok()
        .and_then(Number::from_f64)
        .map(Value::Number)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::PathBuf;

    fn file(text: &str) -> InputFile {
        InputFile {
            path: PathBuf::from("/repo/stack.yaml"),
            relative: "stack.yaml".into(),
            bytes: text.as_bytes().to_vec(),
        }
    }

    #[test]
    fn short_forms_become_long_forms() {
        let value = parse_template(&file(
            "a: !Ref Bucket\n\
             b: !GetAtt Queue.Arn\n\
             c: !GetAtt [Queue, Arn]\n\
             d: !Join ['', [!Sub '${AWS::StackName}-x', !Select [0, !GetAZs '']]]\n\
             e: !If [IsProd, !Ref AWS::NoValue, 3]\n\
             f: !Not [!Equals [!Ref Env, prod]]\n\
             g: !Condition IsProd\n",
        ))
        .unwrap();
        assert_eq!(
            value,
            json!({
                "a": {"Ref": "Bucket"},
                "b": {"Fn::GetAtt": ["Queue", "Arn"]},
                "c": {"Fn::GetAtt": ["Queue", "Arn"]},
                "d": {"Fn::Join": ["", [{"Fn::Sub": "${AWS::StackName}-x"},
                    {"Fn::Select": [0, {"Fn::GetAZs": ""}]}]]},
                "e": {"Fn::If": ["IsProd", {"Ref": "AWS::NoValue"}, 3]},
                "f": {"Fn::Not": [{"Fn::Equals": [{"Ref": "Env"}, "prod"]}]},
                "g": {"Condition": "IsProd"},
            })
        );
    }

    #[test]
    fn yaml_1_2_scalars() {
        let value = parse_template(&file(
            "a: yes\nb: true\nc: '42'\nd: 42\ne: ~\nf: 1.5\ng: 012345678901\nh: \"true\"\ni: off\n",
        ))
        .unwrap();
        assert_eq!(
            value,
            json!({"a": "yes", "b": true, "c": "42", "d": 42, "e": null, "f": 1.5,
                   "g": "012345678901", "h": "true", "i": "off"})
        );
    }

    #[test]
    fn errors_name_file_and_line() {
        let error = parse_template(&file("a: 1\nb: [unclosed\nc: 2\n"))
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("/repo/stack.yaml:"), "{error}");
        let error = parse_template(&file("a: 1\nb: !Bogus x\n"))
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("/repo/stack.yaml:2:"), "{error}");
        let error = parse_template(&file("a: 1\na: 2\n"))
            .unwrap_err()
            .to_string();
        assert!(error.starts_with("/repo/stack.yaml:2:"), "{error}");
    }

    #[test]
    fn aliases_expand_within_budget() {
        let value = parse_template(&file("a: &x [1, 2]\nb: *x\n")).unwrap();
        assert_eq!(value, json!({"a": [1, 2], "b": [1, 2]}));
        let mut text = String::from("a: &a [lol,lol,lol,lol,lol,lol,lol,lol,lol]\n");
        let mut previous = "a";
        for name in ["b", "c", "d", "e", "f", "g", "h", "i"] {
            let aliases = vec![format!("*{previous}"); 9].join(",");
            text.push_str(&format!("{name}: &{name} [{aliases}]\n"));
            previous = name;
        }
        let started = std::time::Instant::now();
        let error = parse_template(&file(&text)).unwrap_err().to_string();
        assert!(error.contains("alias bomb"), "{error}");
        assert!(started.elapsed() < std::time::Duration::from_secs(60));
    }
}
