//! Drift settings from configuration: link rules that say which live resource a declared one
//! is, and ignore rules that keep paths out of attribute comparison.
//!
//! In the server's TOML these are the `[drift]` section:
//!
//! ```toml
//! [[drift.link]]
//! name = "queue-by-url"                 # shown as rule `config:queue-by-url`
//! declared_kind = "aws_sqs_queue"       # kinds compared exactly
//! live_kind = "aws_sqs_queue"
//! live_id = "https://sqs.{attrs.region}.amazonaws.com/{labels.account}/{name}"
//!
//! [[drift.ignore]]
//! kind = "k8s/apps/Deployment"          # exact, a prefix ending in `*`, or `*`
//! path = "spec.replicas"                # glob: `*` one segment, `**` any number
//! ```
//!
//! # Id templates
//!
//! `live_id` is text with placeholders in braces, filled from the **declared** resource:
//!
//! * `{id}`, `{name}`: its id and name;
//! * `{attrs.PATH}`: an attribute, PATH being keys separated by dots with `[N]` for a list
//!   element (`{attrs.spec.ports[0].name}`); strings are used as they are, numbers and
//!   booleans as their JSON text;
//! * `{labels.KEY}`: a label; KEY is everything after `labels.`, dots included
//!   (`{labels.app.kubernetes.io/name}`);
//! * `{{` and `}}` stand for literal braces.
//!
//! When a placeholder has no value (a missing attribute or label), the rule yields no id and
//! links nothing. Anything else in braces is a configuration error naming the rule.
//!
//! Templates become SQL expressions ([`IdTemplate::sql`]): literals are SQL string literals
//! with quotes doubled, keys are passed to `json_as_text` as literals too, so no configured
//! text is ever spliced into SQL unquoted.

use std::collections::HashSet;
use std::fmt;

use serde::Deserialize;

use super::IgnoreRule;

/// A mistake in drift settings; the message names the rule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingsError(pub String);

impl fmt::Display for SettingsError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(&self.0)
    }
}

impl std::error::Error for SettingsError {}

/// The `[drift]` section: configured link rules and ignore rules (both optional).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawDriftSettings")]
pub struct DriftSettings {
    /// `[[drift.link]]`: extra declared-to-live link rules, tried in order after the
    /// `live.id` label and before every other built-in rule.
    pub links: Vec<LinkRule>,
    /// `[[drift.ignore]]`: paths never reported as drift, in addition to
    /// [`super::BUILT_IN_IGNORES`].
    pub ignores: Vec<IgnoreRule>,
}

#[derive(Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
struct RawDriftSettings {
    link: Vec<LinkRule>,
    ignore: Vec<IgnoreRule>,
}

impl TryFrom<RawDriftSettings> for DriftSettings {
    type Error = SettingsError;

    fn try_from(raw: RawDriftSettings) -> Result<Self, SettingsError> {
        let settings = Self {
            links: raw.link,
            ignores: raw.ignore,
        };
        settings.validate()?;
        Ok(settings)
    }
}

impl DriftSettings {
    /// A digest of the settings (SHA-256 of every rule in order, hex), equal in two processes
    /// exactly when their `[drift]` sections mean the same. Processes that answer one query
    /// together compare it: rules are compiled into each process's views and UDFs, so a
    /// mismatch would silently give different drift answers.
    pub fn fingerprint(&self) -> String {
        let links: Vec<[&str; 4]> = self
            .links
            .iter()
            .map(|rule| {
                [
                    rule.name(),
                    rule.declared_kind(),
                    rule.live_kind(),
                    rule.live_id().text(),
                ]
            })
            .collect();
        let ignores: Vec<[&str; 2]> = self
            .ignores
            .iter()
            .map(|rule| [rule.kind.as_str(), rule.path.as_str()])
            .collect();
        // Arrays of strings: unambiguous whatever the rules contain.
        crate::canonical::hash_value(&serde_json::json!({ "link": links, "ignore": ignores }))
    }

    /// Check what deserialization cannot: link rule names are unique and ignore rules are
    /// not empty. (Each link rule checks its own template when it is built.)
    pub fn validate(&self) -> Result<(), SettingsError> {
        let mut names = HashSet::new();
        for rule in &self.links {
            if !names.insert(rule.name()) {
                return Err(SettingsError(format!(
                    "drift link rule '{}' is defined twice",
                    rule.name()
                )));
            }
        }
        for rule in &self.ignores {
            if rule.kind.is_empty() || rule.path.is_empty() {
                return Err(SettingsError(format!(
                    "drift ignore rule (kind '{}', path '{}'): kind and path must not be empty",
                    rule.kind, rule.path
                )));
            }
        }
        Ok(())
    }
}

/// A configured link rule: a declared resource of `declared_kind` is the live resource of
/// `live_kind` whose id is the template filled from the declared resource.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "RawLinkRule")]
pub struct LinkRule {
    name: String,
    declared_kind: String,
    live_kind: String,
    live_id: IdTemplate,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLinkRule {
    name: String,
    declared_kind: String,
    live_kind: String,
    live_id: String,
}

impl TryFrom<RawLinkRule> for LinkRule {
    type Error = SettingsError;

    fn try_from(raw: RawLinkRule) -> Result<Self, SettingsError> {
        Self::new(raw.name, raw.declared_kind, raw.live_kind, &raw.live_id)
    }
}

impl LinkRule {
    /// A rule; errors (naming the rule) for an empty name or kind and a bad template.
    pub fn new(
        name: impl Into<String>,
        declared_kind: impl Into<String>,
        live_kind: impl Into<String>,
        live_id: &str,
    ) -> Result<Self, SettingsError> {
        let name = name.into();
        if name.trim().is_empty() {
            return Err(SettingsError("a drift link rule needs a name".into()));
        }
        let declared_kind = declared_kind.into();
        let live_kind = live_kind.into();
        if declared_kind.is_empty() || live_kind.is_empty() {
            return Err(SettingsError(format!(
                "drift link rule '{name}': declared_kind and live_kind must not be empty"
            )));
        }
        let live_id = IdTemplate::parse(live_id)
            .map_err(|reason| SettingsError(format!("drift link rule '{name}': {reason}")))?;
        Ok(Self {
            name,
            declared_kind,
            live_kind,
            live_id,
        })
    }

    /// The configured name (the link's rule is `config:<name>`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The rule name `identity_links` shows.
    pub fn rule_name(&self) -> String {
        format!("config:{}", self.name)
    }

    /// Kind of the declared resources the rule applies to.
    pub fn declared_kind(&self) -> &str {
        &self.declared_kind
    }

    /// Kind of the live resource it links them to.
    pub fn live_kind(&self) -> &str {
        &self.live_kind
    }

    /// The live id template.
    pub fn live_id(&self) -> &IdTemplate {
        &self.live_id
    }
}

/// A parsed `live_id` template (syntax in the module docs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdTemplate {
    text: String,
    parts: Vec<TemplatePart>,
}

/// One piece of a template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TemplatePart {
    /// Literal text.
    Literal(String),
    /// `{id}`.
    Id,
    /// `{name}`.
    Name,
    /// `{attrs.PATH}`: keys and list indexes.
    Attribute(Vec<PathStep>),
    /// `{labels.KEY}`.
    Label(String),
}

/// A step of an attribute path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    /// An object key.
    Key(String),
    /// A list index.
    Index(u64),
}

const PLACEHOLDERS: &str = "{id}, {name}, {attrs.PATH} or {labels.KEY}";

impl IdTemplate {
    /// Parse a template; the error says what is wrong and where.
    pub fn parse(text: &str) -> Result<Self, String> {
        if text.is_empty() {
            return Err("live_id template is empty".into());
        }
        let mut parts = Vec::new();
        let mut literal = String::new();
        let mut characters = text.chars().peekable();
        while let Some(character) = characters.next() {
            match character {
                '{' if characters.peek() == Some(&'{') => {
                    characters.next();
                    literal.push('{');
                }
                '}' if characters.peek() == Some(&'}') => {
                    characters.next();
                    literal.push('}');
                }
                '}' => {
                    return Err(format!(
                    "live_id template '{text}': unmatched '}}' (write '}}}}' for a literal brace)"
                ))
                }
                '{' => {
                    let mut placeholder = String::new();
                    let mut closed = false;
                    for inner in characters.by_ref() {
                        if inner == '}' {
                            closed = true;
                            break;
                        }
                        placeholder.push(inner);
                    }
                    if !closed {
                        return Err(format!(
                            "live_id template '{text}': '{{' is not closed (write '{{{{' for a literal brace)"
                        ));
                    }
                    if !literal.is_empty() {
                        parts.push(TemplatePart::Literal(std::mem::take(&mut literal)));
                    }
                    parts.push(
                        parse_placeholder(&placeholder)
                            .map_err(|reason| format!("live_id template '{text}': {reason}"))?,
                    );
                }
                other => literal.push(other),
            }
        }
        if !literal.is_empty() {
            parts.push(TemplatePart::Literal(literal));
        }
        Ok(Self {
            text: text.to_string(),
            parts,
        })
    }

    /// The template as configured.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// Its pieces.
    pub fn parts(&self) -> &[TemplatePart] {
        &self.parts
    }

    /// A SQL expression computing the id from the declared resource's row under `alias`
    /// (columns `id`, `name`, `attrs`, `labels`). NULL when a placeholder has no value.
    pub fn sql(&self, alias: &str) -> String {
        let pieces: Vec<String> = self
            .parts
            .iter()
            .map(|part| match part {
                TemplatePart::Literal(text) => sql_literal(text),
                TemplatePart::Id => format!("{alias}.id"),
                TemplatePart::Name => format!("{alias}.name"),
                TemplatePart::Attribute(steps) => {
                    let mut call = format!("json_as_text({alias}.attrs");
                    for step in steps {
                        call.push_str(", ");
                        match step {
                            PathStep::Key(key) => call.push_str(&sql_literal(key)),
                            PathStep::Index(index) => call.push_str(&index.to_string()),
                        }
                    }
                    call.push(')');
                    call
                }
                TemplatePart::Label(key) => {
                    format!("json_as_text({alias}.labels, {})", sql_literal(key))
                }
            })
            .collect();
        // `||` (unlike concat) is NULL when any piece is: no value, no id, no link.
        format!("CAST(({}) AS VARCHAR)", pieces.join(" || "))
    }
}

fn parse_placeholder(placeholder: &str) -> Result<TemplatePart, String> {
    match placeholder {
        "id" => return Ok(TemplatePart::Id),
        "name" => return Ok(TemplatePart::Name),
        _ => {}
    }
    if let Some(key) = placeholder.strip_prefix("labels.") {
        if key.is_empty() {
            return Err("placeholder '{labels.}' names no label".into());
        }
        return Ok(TemplatePart::Label(key.to_string()));
    }
    if let Some(path) = placeholder.strip_prefix("attrs.") {
        return parse_path(path)
            .map(TemplatePart::Attribute)
            .ok_or_else(|| {
                format!(
                    "placeholder '{{{placeholder}}}': bad attribute path (keys separated by \
                     dots, [N] for a list element)"
                )
            });
    }
    Err(format!(
        "unknown placeholder '{{{placeholder}}}' (use {PLACEHOLDERS})"
    ))
}

/// `a.b[0].c` into steps; None when a key is empty or an index is not a number.
fn parse_path(path: &str) -> Option<Vec<PathStep>> {
    let mut steps = Vec::new();
    for segment in path.split('.') {
        let (key, mut indexes) = match segment.find('[') {
            Some(position) => segment.split_at(position),
            None => (segment, ""),
        };
        if key.is_empty() && (steps.is_empty() || indexes.is_empty()) {
            return None;
        }
        if !key.is_empty() {
            if key.contains(']') {
                return None;
            }
            steps.push(PathStep::Key(key.to_string()));
        }
        while !indexes.is_empty() {
            let rest = indexes.strip_prefix('[')?;
            let end = rest.find(']')?;
            let index = rest[..end].parse().ok()?;
            steps.push(PathStep::Index(index));
            indexes = &rest[end + 1..];
        }
    }
    (!steps.is_empty()).then_some(steps)
}

/// `text` as a SQL string literal: in single quotes, quotes doubled (the PostgreSQL dialect
/// treats backslashes in such literals as ordinary characters).
pub fn sql_literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_fingerprint_changes_with_every_rule_and_only_with_rules() {
        let link = |name: &str, template: &str| {
            LinkRule::new(name, "aws_sqs_queue", "aws_sqs_queue", template).unwrap()
        };
        let base = DriftSettings {
            links: vec![link("by-url", "https://{attrs.region}/{name}")],
            ignores: vec![IgnoreRule::new("k8s/*", "spec.replicas")],
        };
        assert_eq!(base.fingerprint(), base.clone().fingerprint());
        assert_eq!(base.fingerprint().len(), 64);
        let variants = [
            DriftSettings::default(),
            DriftSettings {
                links: vec![link("by-url", "https://{attrs.region}/{id}")],
                ..base.clone()
            },
            DriftSettings {
                links: vec![link("by-name", "https://{attrs.region}/{name}")],
                ..base.clone()
            },
            DriftSettings {
                ignores: vec![IgnoreRule::new("k8s/*", "spec.replicas.*")],
                ..base.clone()
            },
            DriftSettings {
                ignores: vec![],
                ..base.clone()
            },
        ];
        for variant in variants {
            assert_ne!(variant.fingerprint(), base.fingerprint(), "{variant:?}");
        }
    }

    #[test]
    fn templates_parse_into_literals_and_placeholders() {
        let template = IdTemplate::parse(
            "q/{id}-{name}/{attrs.spec.ports[0].port}/{labels.app.kubernetes.io/name}{{x}}",
        )
        .unwrap();
        assert_eq!(
            template.parts(),
            &[
                TemplatePart::Literal("q/".into()),
                TemplatePart::Id,
                TemplatePart::Literal("-".into()),
                TemplatePart::Name,
                TemplatePart::Literal("/".into()),
                TemplatePart::Attribute(vec![
                    PathStep::Key("spec".into()),
                    PathStep::Key("ports".into()),
                    PathStep::Index(0),
                    PathStep::Key("port".into()),
                ]),
                TemplatePart::Literal("/".into()),
                TemplatePart::Label("app.kubernetes.io/name".into()),
                TemplatePart::Literal("{x}".into()),
            ]
        );
    }

    #[test]
    fn bad_templates_are_refused_with_the_reason() {
        for (template, expected) in [
            ("{ids}", "unknown placeholder '{ids}'"),
            ("x/{attrs}", "unknown placeholder '{attrs}'"),
            ("{labels.}", "names no label"),
            ("{attrs.a..b}", "bad attribute path"),
            ("{attrs.a[x]}", "bad attribute path"),
            ("{attrs.[0]}", "bad attribute path"),
            ("{id", "is not closed"),
            ("id}", "unmatched '}'"),
            ("", "empty"),
        ] {
            let error = IdTemplate::parse(template).unwrap_err();
            assert!(error.contains(expected), "{template}: {error}");
        }
    }

    #[test]
    fn a_rule_error_names_the_rule() {
        let error = LinkRule::new("queue-by-url", "a", "b", "{url}").unwrap_err();
        assert!(
            error.0.contains("queue-by-url") && error.0.contains("{url}"),
            "{error}"
        );
    }

    #[test]
    fn sql_quotes_every_literal() {
        let template =
            IdTemplate::parse("it's/{attrs.o'k}/{labels.x'); DROP TABLE t; --}/{id}").unwrap();
        assert_eq!(
            template.sql("d"),
            "CAST(('it''s/' || json_as_text(d.attrs, 'o''k') || '/' || \
             json_as_text(d.labels, 'x''); DROP TABLE t; --') || '/' || d.id) AS VARCHAR)"
        );
        assert_eq!(sql_literal("a'b''c\\"), "'a''b''''c\\'");

        // The hostile text stays inside literals: one statement, one select item, and the
        // label key comes back intact.
        let statement = format!("SELECT {} FROM d", template.sql("d"));
        let parsed = sqlparser::parser::Parser::parse_sql(
            &sqlparser::dialect::PostgreSqlDialect {},
            &statement,
        )
        .unwrap();
        assert_eq!(parsed.len(), 1);
        let sqlparser::ast::Statement::Query(query) = &parsed[0] else {
            panic!("not a query: {statement}");
        };
        let sqlparser::ast::SetExpr::Select(select) = query.body.as_ref() else {
            panic!("not a select: {statement}");
        };
        assert_eq!(select.projection.len(), 1);
        assert!(
            select.projection[0]
                .to_string()
                .contains("'x''); DROP TABLE t; --'"),
            "{statement}"
        );
    }

    #[test]
    fn settings_deserialize_with_unknown_fields_refused() {
        let settings: DriftSettings = serde_json::from_value(serde_json::json!({
            "link": [{"name": "n", "declared_kind": "a", "live_kind": "b", "live_id": "{id}"}],
            "ignore": [{"kind": "k8s/*", "path": "spec.replicas"}]
        }))
        .unwrap();
        assert_eq!(settings.links[0].rule_name(), "config:n");
        assert_eq!(
            settings.ignores,
            vec![IgnoreRule::new("k8s/*", "spec.replicas")]
        );
        let empty: DriftSettings = serde_json::from_value(serde_json::json!({})).unwrap();
        assert_eq!(empty, DriftSettings::default());
        for bad in [
            serde_json::json!({"links": []}),
            serde_json::json!({"link": [{"name": "n", "declared_kind": "a", "live_kind": "b",
                                         "live_id": "{id}", "priority": 1}]}),
            serde_json::json!({"ignore": [{"kind": "a", "path": "b", "paths": "c"}]}),
        ] {
            let error = serde_json::from_value::<DriftSettings>(bad.clone()).unwrap_err();
            assert!(
                error.to_string().contains("unknown field"),
                "{bad}: {error}"
            );
        }
        let twice = serde_json::json!({"link": [
            {"name": "n", "declared_kind": "a", "live_kind": "b", "live_id": "{id}"},
            {"name": "n", "declared_kind": "c", "live_kind": "d", "live_id": "{id}"}]});
        let error = serde_json::from_value::<DriftSettings>(twice).unwrap_err();
        assert!(
            error.to_string().contains("'n' is defined twice"),
            "{error}"
        );
    }
}
