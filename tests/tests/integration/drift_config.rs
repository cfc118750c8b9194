//! Drift rules from configuration, through the real binary: a declared and a live source (both
//! `command` sources printing fixed JSON) whose ids only a `[[drift.link]]` rule can pair
//! (the declared id is a short name, the live id a URL built from a label, an attribute and a
//! literal with a quote in it). Without the rule nothing links (missing and unmanaged); with
//! it `identity_links` shows `config:<name>` and `drift` says changed / in_sync / missing /
//! unmanaged; a `[[drift.ignore]]` rule then removes one difference. A config with an unknown
//! placeholder or an unknown field is refused with an error naming it.

use std::path::{Path, PathBuf};

use groundtruth_tests::{cli, connect, free_port, rows, Server};
use serde_json::json;

const URL: &str = "https://queue.example/shop/it's/";

const LINK: &str = r#"
[[drift.link]]
name = "queue-by-url"
declared_kind = "app/queue"
live_kind = "app/queue"
live_id = "https://queue.example/{labels.team}/it's/{attrs.spec.queue_name}"
"#;

const IGNORE: &str = r#"
[[drift.ignore]]
kind = "app/queue"
path = "spec.max_size"
"#;

fn declared_queue(id: &str, visibility_timeout: u32, max_size: u32) -> serde_json::Value {
    json!({
        "id": id,
        "name": id,
        "labels": {"team": "shop"},
        "attrs": {"spec": {"queue_name": id, "visibility_timeout": visibility_timeout,
                           "max_size": max_size}},
    })
}

fn live_queue(name: &str, visibility_timeout: u32, max_size: u32) -> serde_json::Value {
    json!({
        "id": format!("{URL}{name}"),
        "name": name,
        "labels": {},
        "attrs": {"spec": {"queue_name": name, "visibility_timeout": visibility_timeout,
                           "max_size": max_size}},
    })
}

/// A config over the two sources, plus `drift_toml`.
fn config(work: &Path, name: &str, drift_toml: &str) -> PathBuf {
    let source = |source: &str, layer: &str, file: &str| {
        format!(
            "[[sources]]\ntype = \"command\"\nname = \"{source}\"\ncommand = [\"cat\", {path:?}]\n\
             layer = \"{layer}\"\nkind = \"app/queue\"\nid_pointer = \"/id\"\n\
             name_pointer = \"/name\"\nlabels_pointer = \"/labels\"\nattrs_pointer = \"/attrs\"\n\
             interval = \"1h\"\n\n",
            path = work.join(file).display().to_string(),
        )
    };
    let path = work.join(name);
    std::fs::write(
        &path,
        format!(
            "store = {:?}\n\n{}{}{drift_toml}",
            work.join("store").display().to_string(),
            source("declared-queues", "declared", "declared.json"),
            source("live-queues", "live", "live.json"),
        ),
    )
    .unwrap();
    path
}

async fn drift_rows(config: &Path) -> (Vec<Vec<String>>, Vec<Vec<String>>) {
    let port = free_port();
    let mut server = Server::serve(config, port).await.unwrap();
    let client = connect(port).await.unwrap();
    let links = rows(
        &client,
        "SELECT declared_id, live_id, rule FROM identity_links ORDER BY declared_id",
    )
    .await
    .unwrap();
    let drift = rows(
        &client,
        "SELECT status, id, declared_id, link_rule, differences FROM drift ORDER BY status, id",
    )
    .await
    .unwrap();
    drop(client);
    server.stop().unwrap();
    (links, drift)
}

fn strings(rows: &[&[&str]]) -> Vec<Vec<String>> {
    rows.iter()
        .map(|row| row.iter().map(|cell| cell.to_string()).collect())
        .collect()
}

#[tokio::test]
async fn configured_link_rule_links_and_configured_ignore_rule_removes_a_difference() {
    let work = tempfile::tempdir().unwrap();
    let write = |file: &str, items: serde_json::Value| {
        std::fs::write(work.path().join(file), items.to_string()).unwrap();
    };
    // billing: visibility timeout changed by hand; orders: only max_size differs; emails:
    // declared, not running; audit: running, declared by nobody.
    write(
        "declared.json",
        json!([
            declared_queue("billing", 60, 10),
            declared_queue("emails", 30, 10),
            declared_queue("orders", 30, 10),
        ]),
    );
    write(
        "live.json",
        json!([
            live_queue("audit", 30, 10),
            live_queue("billing", 45, 10),
            live_queue("orders", 30, 99),
        ]),
    );

    let without_rules = config(work.path(), "plain.toml", "");
    let output = cli(&without_rules, &["ingest", "--once"]).unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        printed.contains("declared-queues: ok (") && printed.contains("live-queues: ok ("),
        "{printed}{}",
        String::from_utf8_lossy(&output.stderr)
    );

    // Built-in rules alone: the ids differ, so nothing links.
    let (links, drift) = drift_rows(&without_rules).await;
    assert_eq!(links, Vec::<Vec<String>>::new());
    let statuses: Vec<(String, String)> = drift
        .iter()
        .map(|row| (row[0].clone(), row[1].clone()))
        .collect();
    assert_eq!(
        statuses,
        vec![
            ("missing".into(), "billing".into()),
            ("missing".into(), "emails".into()),
            ("missing".into(), "orders".into()),
            ("unmanaged".into(), format!("{URL}audit")),
            ("unmanaged".into(), format!("{URL}billing")),
            ("unmanaged".into(), format!("{URL}orders")),
        ]
    );

    // The link rule pairs them; orders differs only in max_size.
    let with_link = config(work.path(), "link.toml", LINK);
    let (links, drift) = drift_rows(&with_link).await;
    let billing = format!("{URL}billing");
    let orders = format!("{URL}orders");
    let emails = format!("{URL}emails");
    let audit = format!("{URL}audit");
    assert_eq!(
        links,
        strings(&[
            &["billing", &billing, "config:queue-by-url"],
            &["orders", &orders, "config:queue-by-url"],
        ])
    );
    let billing_difference =
        r#"[{"path":"spec.visibility_timeout","declared":60,"live":45}]"#.to_string();
    let orders_difference = r#"[{"path":"spec.max_size","declared":10,"live":99}]"#.to_string();
    assert_eq!(
        drift,
        strings(&[
            &[
                "changed",
                &billing,
                "billing",
                "config:queue-by-url",
                &billing_difference
            ],
            &[
                "changed",
                &orders,
                "orders",
                "config:queue-by-url",
                &orders_difference
            ],
            // A missing resource is reported under the id the rule would link it to.
            &["missing", &emails, "emails", "NULL", "NULL"],
            &["unmanaged", &audit, "NULL", "NULL", "NULL"],
        ])
    );

    // The ignore rule removes the max_size difference: orders is in sync.
    let with_ignore = config(work.path(), "ignore.toml", &format!("{LINK}{IGNORE}"));
    let (_, drift) = drift_rows(&with_ignore).await;
    assert_eq!(
        drift,
        strings(&[
            &[
                "changed",
                &billing,
                "billing",
                "config:queue-by-url",
                &billing_difference
            ],
            &["in_sync", &orders, "orders", "config:queue-by-url", "NULL"],
            &["missing", &emails, "emails", "NULL", "NULL"],
            &["unmanaged", &audit, "NULL", "NULL", "NULL"],
        ])
    );

    // `groundtruth sql` and `query` open the engine with the same rules.
    let output = cli(
        &with_ignore,
        &[
            "sql",
            "SELECT rule FROM identity_links WHERE declared_id = 'orders'",
        ],
    )
    .unwrap();
    assert!(
        String::from_utf8_lossy(&output.stdout).contains("config:queue-by-url"),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

#[test]
fn bad_drift_rules_are_refused_naming_the_rule_or_field() {
    let work = tempfile::tempdir().unwrap();
    for (name, drift_toml, expected) in [
        (
            "placeholder.toml",
            LINK.replace("{attrs.spec.queue_name}", "{queue}"),
            vec![
                "drift link rule 'queue-by-url'",
                "unknown placeholder '{queue}'",
            ],
        ),
        (
            "field.toml",
            format!("{LINK}priority = 1\n"),
            vec!["unknown field", "priority"],
        ),
        (
            "ignore.toml",
            "[[drift.ignore]]\nkind = \"app/queue\"\nglob = \"spec\"\n".to_string(),
            vec!["unknown field", "glob"],
        ),
    ] {
        let config = config(work.path(), name, &drift_toml);
        let output = cli(&config, &["sql", "SELECT 1"]).unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(!output.status.success(), "{name}: {stderr}");
        for part in expected {
            assert!(stderr.contains(part), "{name}: {stderr}");
        }
    }
}
