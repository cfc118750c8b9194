//! The folded catalog as resources of the declared layer.

use super::*;

impl Catalog {
    /// The schema as resources, sorted by (kind, id).
    pub(crate) fn resources(&self) -> Vec<ObservedResource> {
        let mut resources = Vec::new();
        let labelled =
            |resource: ObservedResource, provenance: Option<&Provenance>| match provenance {
                Some(provenance) => resource
                    .with_label("migration.file", provenance.file.clone())
                    .with_label("migration.version", provenance.version.clone()),
                None => resource.with_label("builtin", "true"),
            };
        for (schema, provenance) in &self.schemas {
            resources.push(labelled(
                ObservedResource::new(postgres::SCHEMA, schema.clone(), Layer::Declared, json!({}))
                    .with_name(schema.clone()),
                provenance.as_ref(),
            ));
        }
        for ((schema, name), table) in &self.tables {
            let qualified_table = format!("{schema}.{name}");
            resources.push(labelled(
                ObservedResource::new(
                    postgres::TABLE,
                    qualified_table.clone(),
                    Layer::Declared,
                    json!({ "schema": schema }),
                )
                .with_name(name.clone()),
                Some(&table.provenance),
            ));
            for column in &table.columns {
                let mut attrs = json!({
                    "table": qualified_table,
                    "type": column.data_type,
                    "not_null": column.not_null,
                    "default": column.default,
                    "position": column.position,
                });
                if let Some(identity) = column.identity {
                    attrs["identity"] = json!(identity);
                }
                if let Some(generated) = &column.generated {
                    attrs["generated"] = json!(generated);
                }
                resources.push(labelled(
                    ObservedResource::new(
                        postgres::COLUMN,
                        format!("{qualified_table}.{}", column.name),
                        Layer::Declared,
                        attrs,
                    )
                    .with_name(column.name.clone()),
                    Some(&column.provenance),
                ));
            }
            for constraint in &table.constraints {
                let mut attrs = json!({
                    "table": qualified_table,
                    "type": constraint.kind.as_str(),
                    "columns": constraint.columns,
                });
                if let Some(reference) = &constraint.references {
                    attrs["references"] = json!({
                        "table": format!("{}.{}", reference.schema, reference.table),
                        "columns": reference.columns,
                        "on_delete": reference.on_delete,
                        "on_update": reference.on_update,
                    });
                }
                if let Some(check) = &constraint.check {
                    attrs["check"] = json!(check.to_string());
                }
                resources.push(labelled(
                    ObservedResource::new(
                        postgres::CONSTRAINT,
                        format!("{qualified_table}.{}", constraint.name),
                        Layer::Declared,
                        attrs,
                    )
                    .with_name(constraint.name.clone()),
                    Some(&constraint.provenance),
                ));
            }
        }
        for ((schema, name), index) in &self.indexes {
            let columns: Vec<Value> = index
                .keys
                .iter()
                .map(|key| match key {
                    IndexKey::Column(name) => json!(name),
                    IndexKey::Expression(expr) => json!(expr.to_string()),
                })
                .collect();
            let expressions: Vec<bool> = index
                .keys
                .iter()
                .map(|key| matches!(key, IndexKey::Expression(_)))
                .collect();
            resources.push(labelled(
                ObservedResource::new(
                    postgres::INDEX,
                    format!("{schema}.{name}"),
                    Layer::Declared,
                    json!({
                        "table": format!("{schema}.{}", index.table),
                        "columns": columns,
                        "expressions": expressions,
                        "unique": index.unique,
                        "predicate": index.predicate.as_ref().map(Expr::to_string),
                        "method": index.method,
                    }),
                )
                .with_name(name.clone()),
                Some(&index.provenance),
            ));
        }
        for ((schema, name), view) in &self.views {
            resources.push(labelled(
                ObservedResource::new(
                    postgres::VIEW,
                    format!("{schema}.{name}"),
                    Layer::Declared,
                    json!({
                        "definition": view.query.to_string(),
                        "materialized": view.materialized,
                    }),
                )
                .with_name(name.clone()),
                Some(&view.provenance),
            ));
        }
        for ((schema, name), sequence) in &self.sequences {
            resources.push(labelled(
                ObservedResource::new(
                    postgres::SEQUENCE,
                    format!("{schema}.{name}"),
                    Layer::Declared,
                    json!({
                        "data_type": sequence.data_type,
                        "owned_by": sequence
                            .owned_by
                            .as_ref()
                            .map(|(table, column)| format!("{schema}.{table}.{column}")),
                    }),
                )
                .with_name(name.clone()),
                Some(&sequence.provenance),
            ));
        }
        for ((schema, name), user_type) in &self.types {
            let attrs = match &user_type.definition {
                TypeDefinition::Enum(labels) => json!({ "category": "enum", "labels": labels }),
                TypeDefinition::Composite(attributes) => json!({
                    "category": "composite",
                    "attributes": attributes.iter().map(|(name, _)| name).collect::<Vec<_>>(),
                    "attribute_types": attributes.iter().map(|(_, t)| t).collect::<Vec<_>>(),
                }),
            };
            resources.push(labelled(
                ObservedResource::new(
                    postgres::TYPE,
                    format!("{schema}.{name}"),
                    Layer::Declared,
                    attrs,
                )
                .with_name(name.clone()),
                Some(&user_type.provenance),
            ));
        }
        for ((schema, name), domain) in &self.domains {
            resources.push(labelled(
                ObservedResource::new(
                    postgres::DOMAIN,
                    format!("{schema}.{name}"),
                    Layer::Declared,
                    json!({
                        "data_type": domain.base_type,
                        "not_null": domain.not_null,
                        "default": domain.default,
                        "constraints": domain.checks.iter().map(|(name, _)| name).collect::<Vec<_>>(),
                        "check": domain.checks.iter().map(|(_, expr)| expr.to_string()).collect::<Vec<_>>(),
                    }),
                )
                .with_name(name.clone()),
                Some(&domain.provenance),
            ));
        }
        for (name, extension) in &self.extensions {
            resources.push(labelled(
                ObservedResource::new(
                    postgres::EXTENSION,
                    name.clone(),
                    Layer::Declared,
                    json!({ "schema": extension.schema, "version": extension.version }),
                )
                .with_name(name.clone()),
                extension.provenance.as_ref(),
            ));
        }
        resources.sort_by_key(ObservedResource::key);
        resources
    }
}
