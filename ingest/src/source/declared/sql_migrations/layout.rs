//! Finding the migrations of a directory and the order they apply in, for each layout.

use std::cmp::Ordering;

use super::MigrationLayout;

/// A migration to apply: which file, and its version as the tool names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PlannedMigration {
    /// Index into the files read.
    pub file: usize,
    /// The version label (`1.1`, `0003`, `R` for a Flyway repeatable, the path for plain files).
    pub version: String,
}

/// The migrations to apply, in order, and warnings about files left out.
#[derive(Debug, Default)]
pub(crate) struct Plan {
    pub migrations: Vec<PlannedMigration>,
    pub warnings: Vec<String>,
}

/// Pick the layout from the file names: diesel (`<version>/up.sql`), Flyway (`V1__x.sql`),
/// golang-migrate (`1_x.up.sql`), sqlx (`1_x.sql`), else plain.
pub(crate) fn detect(relatives: &[&str]) -> MigrationLayout {
    let names: Vec<&str> = relatives
        .iter()
        .map(|relative| file_name(relative))
        .collect();
    if relatives.iter().any(|relative| {
        relative.contains('/') && matches!(file_name(relative), "up.sql" | "down.sql")
    }) {
        MigrationLayout::Diesel
    } else if names.iter().any(|name| flyway_name(name).is_some()) {
        MigrationLayout::Flyway
    } else if names
        .iter()
        .any(|name| numbered(name).is_some_and(|(_, rest)| rest.ends_with(".up.sql")))
    {
        MigrationLayout::GolangMigrate
    } else if !names.is_empty() && names.iter().all(|name| numbered(name).is_some()) {
        MigrationLayout::Sqlx
    } else {
        MigrationLayout::Plain
    }
}

/// The migrations of `relatives` (sorted `.sql` paths) under `layout`, in application order.
pub(crate) fn plan(layout: MigrationLayout, relatives: &[&str]) -> Plan {
    let layout = match layout {
        MigrationLayout::Auto => detect(relatives),
        other => other,
    };
    let mut plan = Plan::default();
    // (sort key, migration); the key orders, ties keep path order.
    let mut versioned: Vec<(Vec<String>, PlannedMigration)> = Vec::new();
    let mut repeatable: Vec<(String, PlannedMigration)> = Vec::new();
    for (file, relative) in relatives.iter().enumerate() {
        let name = file_name(relative);
        let skipped = |plan: &mut Plan, why: &str| {
            plan.warnings.push(format!("{relative}: ignored: {why}"));
        };
        match layout {
            MigrationLayout::Flyway => match flyway_name(name) {
                Some(('V', version)) => {
                    let parts: Vec<String> = version
                        .split(['.', '_'])
                        .map(|part| part.to_string())
                        .collect();
                    let version = parts.join(".");
                    versioned.push((parts, PlannedMigration { file, version }));
                }
                Some(('R', description)) => repeatable.push((
                    description.to_string(),
                    PlannedMigration {
                        file,
                        version: "R".to_string(),
                    },
                )),
                Some(_) => {} // undo migrations never run forward
                None => skipped(
                    &mut plan,
                    "not a Flyway migration name (V<version>__<description>.sql)",
                ),
            },
            MigrationLayout::GolangMigrate | MigrationLayout::Sqlx => match numbered(name) {
                Some((_, rest)) if rest.ends_with(".down.sql") => {}
                Some((version, _)) => versioned.push((
                    vec![version.to_string()],
                    PlannedMigration {
                        file,
                        version: version.to_string(),
                    },
                )),
                None => skipped(
                    &mut plan,
                    "not a numbered migration (<version>_<name>.up.sql)",
                ),
            },
            MigrationLayout::Diesel => match relative.rsplit_once('/') {
                Some((directory, "up.sql")) => {
                    let directory = file_name(directory);
                    let version = directory.split('_').next().unwrap_or(directory);
                    // diesel orders by the version string as written.
                    versioned.push((
                        vec![version.to_string()],
                        PlannedMigration {
                            file,
                            version: version.to_string(),
                        },
                    ));
                }
                Some((_, "down.sql")) => {}
                _ => skipped(
                    &mut plan,
                    "not a diesel migration (<version>_<name>/up.sql)",
                ),
            },
            MigrationLayout::Plain | MigrationLayout::Auto => {
                plan.migrations.push(PlannedMigration {
                    file,
                    version: relative.to_string(),
                });
            }
        }
    }
    let numeric = !matches!(layout, MigrationLayout::Diesel);
    versioned.sort_by(|(left, _), (right, _)| {
        if numeric {
            compare_versions(left, right)
        } else {
            left.cmp(right)
        }
    });
    for pair in versioned.windows(2) {
        let same = if numeric {
            compare_versions(&pair[0].0, &pair[1].0) == Ordering::Equal
        } else {
            pair[0].0 == pair[1].0
        };
        if same {
            plan.warnings.push(format!(
                "{}: version {} is also used by {}; both applied in path order",
                relatives[pair[1].1.file], pair[1].1.version, relatives[pair[0].1.file]
            ));
        }
    }
    plan.migrations
        .extend(versioned.into_iter().map(|(_, migration)| migration));
    // Flyway applies repeatables after all versioned migrations, ordered by description.
    repeatable.sort_by(|(left, _), (right, _)| left.cmp(right));
    plan.migrations
        .extend(repeatable.into_iter().map(|(_, migration)| migration));
    plan
}

fn file_name(relative: &str) -> &str {
    relative.rsplit('/').next().unwrap_or(relative)
}

/// `V1.2__x.sql` → ('V', "1.2"); `R__x.sql` → ('R', "x"); `U3__x.sql` → ('U', "3").
fn flyway_name(name: &str) -> Option<(char, &str)> {
    let stem = name.strip_suffix(".sql")?;
    let (head, description) = stem.split_once("__")?;
    let prefix = head.chars().next()?;
    let version = &head[prefix.len_utf8()..];
    match prefix {
        'R' if version.is_empty() => Some(('R', description)),
        'V' | 'U'
            if !version.is_empty()
                && version
                    .split(['.', '_'])
                    .all(|part| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit())) =>
        {
            Some((prefix, version))
        }
        _ => None,
    }
}

/// `0003_add_users.up.sql` → ("0003", "add_users.up.sql").
fn numbered(name: &str) -> Option<(&str, &str)> {
    let (version, rest) = name.split_once('_')?;
    (!version.is_empty() && version.bytes().all(|b| b.is_ascii_digit()) && name.ends_with(".sql"))
        .then_some((version, rest))
}

/// Versions compare part by part as unbounded integers: 1 < 1.1 < 2 < 10, and 01 == 1.
fn compare_versions(left: &[String], right: &[String]) -> Ordering {
    for index in 0..left.len().max(right.len()) {
        let ordering = match (left.get(index), right.get(index)) {
            (Some(a), Some(b)) => compare_numbers(a, b),
            (Some(_), None) => Ordering::Greater,
            (None, Some(_)) => Ordering::Less,
            (None, None) => Ordering::Equal,
        };
        if ordering != Ordering::Equal {
            return ordering;
        }
    }
    Ordering::Equal
}

fn compare_numbers(left: &str, right: &str) -> Ordering {
    let left = left.trim_start_matches('0');
    let right = right.trim_start_matches('0');
    left.len().cmp(&right.len()).then_with(|| left.cmp(right))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ordered(layout: MigrationLayout, relatives: &[&str]) -> Vec<String> {
        plan(layout, relatives)
            .migrations
            .iter()
            .map(|migration| format!("{}@{}", relatives[migration.file], migration.version))
            .collect()
    }

    #[test]
    fn flyway_versions_compare_numerically_and_repeatables_come_last() {
        let files = [
            "R__views.sql",
            "U2__undo.sql",
            "V10__ten.sql",
            "V1_1__one_one.sql",
            "V1__one.sql",
            "V2__two.sql",
            "notes.sql",
            "R__a_functions.sql",
        ];
        assert_eq!(detect(&files), MigrationLayout::Flyway);
        assert_eq!(
            ordered(MigrationLayout::Auto, &files),
            vec![
                "V1__one.sql@1",
                "V1_1__one_one.sql@1.1",
                "V2__two.sql@2",
                "V10__ten.sql@10",
                "R__a_functions.sql@R",
                "R__views.sql@R",
            ]
        );
        assert_eq!(
            plan(MigrationLayout::Auto, &files).warnings,
            vec!["notes.sql: ignored: not a Flyway migration name (V<version>__<description>.sql)"]
        );
    }

    #[test]
    fn golang_migrate_skips_down_files_and_orders_numerically() {
        let files = [
            "10_c.down.sql",
            "10_c.up.sql",
            "2_b.down.sql",
            "2_b.up.sql",
            "0001_a.up.sql",
        ];
        assert_eq!(detect(&files), MigrationLayout::GolangMigrate);
        assert_eq!(
            ordered(MigrationLayout::Auto, &files),
            vec!["0001_a.up.sql@0001", "2_b.up.sql@2", "10_c.up.sql@10"]
        );
    }

    #[test]
    fn diesel_uses_up_sql_in_version_directories() {
        let files = [
            "00000000000000_diesel_initial_setup/down.sql",
            "00000000000000_diesel_initial_setup/up.sql",
            "2024-02-01-120000_add_posts/up.sql",
            "2024-01-15-090000_create_users/down.sql",
            "2024-01-15-090000_create_users/up.sql",
        ];
        assert_eq!(detect(&files), MigrationLayout::Diesel);
        assert_eq!(
            ordered(MigrationLayout::Auto, &files),
            vec![
                "00000000000000_diesel_initial_setup/up.sql@00000000000000",
                "2024-01-15-090000_create_users/up.sql@2024-01-15-090000",
                "2024-02-01-120000_add_posts/up.sql@2024-02-01-120000",
            ]
        );
    }

    #[test]
    fn sqlx_orders_by_numeric_version() {
        let files = [
            "20240301000000_orders.sql",
            "20240115000000_users.sql",
            "9_first.sql",
        ];
        assert_eq!(detect(&files), MigrationLayout::Sqlx);
        assert_eq!(
            ordered(MigrationLayout::Auto, &files),
            vec![
                "9_first.sql@9",
                "20240115000000_users.sql@20240115000000",
                "20240301000000_orders.sql@20240301000000",
            ]
        );
    }

    #[test]
    fn plain_files_apply_in_lexical_order() {
        let files = ["001-schema.sql", "002-data.sql", "later/extra.sql"];
        assert_eq!(detect(&files), MigrationLayout::Plain);
        assert_eq!(
            ordered(MigrationLayout::Auto, &files),
            vec![
                "001-schema.sql@001-schema.sql",
                "002-data.sql@002-data.sql",
                "later/extra.sql@later/extra.sql",
            ]
        );
    }
}
