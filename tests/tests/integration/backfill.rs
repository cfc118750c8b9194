//! Git history of declared files: `groundtruth backfill` replays a repository built here, and
//! `resources_at(T)` between commits must equal what the source reads from each commit's
//! files; scheduled scrapes record the commit (and whether the work tree was dirty).

use std::path::Path;
use std::process::Command;

use groundtruth_engine::model::Observation;
use groundtruth_ingest::source::declared::terraform_state::TerraformStateSource;
use groundtruth_ingest::source::{ScrapeContext, Source};
use groundtruth_tests::{cli, connect, fixture, free_port, rows, write_config, Server};

fn git(repository: &Path, arguments: &[&str], date: &str) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(repository)
        .args(arguments)
        .env("GIT_AUTHOR_DATE", date)
        .env("GIT_COMMITTER_DATE", date)
        .env("GIT_AUTHOR_NAME", "Grace Hopper")
        .env("GIT_AUTHOR_EMAIL", "grace@example.com")
        .env("GIT_COMMITTER_NAME", "Grace Hopper")
        .env("GIT_COMMITTER_EMAIL", "grace@example.com")
        .output()
        .expect("run git");
    assert!(
        output.status.success(),
        "git {arguments:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

fn commit_state(repository: &Path, fixture_name: &str, date: &str, message: &str) -> String {
    std::fs::create_dir_all(repository.join("infra")).unwrap();
    std::fs::copy(
        fixture(&format!("terraform/{fixture_name}")),
        repository.join("infra/terraform.tfstate"),
    )
    .unwrap();
    git(repository, &["add", "-A"], date);
    git(repository, &["commit", "-qm", message], date);
    git(repository, &["rev-parse", "HEAD"], date)
}

/// What the source itself reads from a fixture: (kind, id, canonical attrs), sorted.
/// A secret marker without its digest: the source writes an unkeyed stand-in, the writer
/// seals it with the store's key, so only "a secret was here" compares across the two.
fn without_marker_digest(value: serde_json::Value) -> serde_json::Value {
    match value {
        serde_json::Value::Object(map)
            if map.get("redacted") == Some(&serde_json::Value::Bool(true)) =>
        {
            serde_json::json!({"redacted": true})
        }
        serde_json::Value::Object(map) => serde_json::Value::Object(
            map.into_iter()
                .map(|(key, value)| (key, without_marker_digest(value)))
                .collect(),
        ),
        serde_json::Value::Array(items) => {
            serde_json::Value::Array(items.into_iter().map(without_marker_digest).collect())
        }
        other => other,
    }
}

async fn expected(fixture_name: &str) -> Vec<(String, String, serde_json::Value)> {
    let observation: Observation =
        TerraformStateSource::new("tf", fixture(&format!("terraform/{fixture_name}")))
            .scrape(&ScrapeContext {
                started_at: chrono::Utc::now(),
                cancel: Default::default(),
            })
            .await
            .unwrap();
    let mut resources: Vec<_> = observation
        .resources
        .into_iter()
        .map(|resource| {
            (
                resource.kind,
                resource.id,
                without_marker_digest(resource.attrs),
            )
        })
        .collect();
    resources.sort_by(|left, right| (&left.0, &left.1).cmp(&(&right.0, &right.1)));
    resources
}

async fn declared_at(
    client: &tokio_postgres::Client,
    instant: &str,
) -> Vec<(String, String, serde_json::Value)> {
    let found = rows(
        client,
        &format!(
            "SELECT kind, id, attrs FROM resources_at('{instant}') WHERE source = 'tf' ORDER BY kind, id"
        ),
    )
    .await
    .unwrap();
    found
        .into_iter()
        .map(|row| {
            (
                row[0].clone(),
                row[1].clone(),
                without_marker_digest(serde_json::from_str(&row[2]).unwrap()),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn backfill_replays_each_commit_and_scrapes_record_provenance() {
    let work = tempfile::tempdir().unwrap();
    let repository = work.path().join("repo");
    std::fs::create_dir_all(&repository).unwrap();
    git(
        &repository,
        &["init", "-q", "-b", "main"],
        "2026-03-01T00:00:00Z",
    );
    let first = commit_state(
        &repository,
        "v1.tfstate",
        "2026-03-01T10:00:00Z",
        "initial infra",
    );
    std::fs::write(repository.join("README.md"), "not infrastructure\n").unwrap();
    git(&repository, &["add", "-A"], "2026-03-03T10:00:00Z");
    git(
        &repository,
        &["commit", "-qm", "docs"],
        "2026-03-03T10:00:00Z",
    );
    let second = commit_state(
        &repository,
        "v2.tfstate",
        "2026-03-05T10:00:00Z",
        "rotate and resize",
    );
    let broken = commit_state(
        &repository,
        "truncated.tfstate",
        "2026-03-07T10:00:00Z",
        "oops",
    );
    let fixed = commit_state(
        &repository,
        "v2.tfstate",
        "2026-03-09T10:00:00Z",
        "revert oops",
    );

    let store = work.path().join("store");
    let state = repository.join("infra/terraform.tfstate");
    let config = write_config(
        work.path(),
        &store,
        &format!(
            "[[sources]]\ntype = \"terraform_state\"\nname = \"tf\"\npath = {:?}\ninterval = \"1h\"\n",
            state.display().to_string()
        ),
    )
    .unwrap();

    let output = cli(&config, &["backfill", "--source", "tf"]).unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{printed}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        printed.contains("4 commits found, 4 replayed (1 failed to parse)"),
        "{printed}"
    );

    // Running it again replays nothing: the store already covers those times.
    let again = cli(&config, &["backfill", "--source", "tf"]).unwrap();
    let printed_again = String::from_utf8_lossy(&again.stdout);
    assert!(printed_again.contains("0 replayed"), "{printed_again}");
    assert!(
        printed_again.contains("4 commits skipped"),
        "{printed_again}"
    );

    // An unknown source and a bad date are refused clearly.
    let unknown = cli(&config, &["backfill", "--source", "nope"]).unwrap();
    assert!(!unknown.status.success());
    assert!(String::from_utf8_lossy(&unknown.stderr).contains("no source named 'nope'"));
    let bad_date = cli(
        &config,
        &["backfill", "--source", "tf", "--since", "last tuesday"],
    )
    .unwrap();
    assert!(String::from_utf8_lossy(&bad_date.stderr).contains("--since"));

    // Uncommitted edit: a scheduled scrape records the last commit and that the tree was dirty.
    std::fs::copy(fixture("terraform/v1.tfstate"), &state).unwrap();
    let scrape = cli(&config, &["ingest", "--once", "--source", "tf"]).unwrap();
    assert!(
        scrape.status.success(),
        "{}",
        String::from_utf8_lossy(&scrape.stderr)
    );

    let port = free_port();
    let mut server = Server::serve(&config, port).await.unwrap();
    let client = connect(port).await.unwrap();

    assert!(declared_at(&client, "2026-03-01T09:00:00Z")
        .await
        .is_empty());
    let v1 = expected("v1.tfstate").await;
    let v2 = expected("v2.tfstate").await;
    assert_ne!(v1, v2);
    assert_eq!(declared_at(&client, "2026-03-02T00:00:00Z").await, v1);
    assert_eq!(
        declared_at(&client, "2026-03-04T00:00:00Z").await,
        v1,
        "a docs-only commit changes nothing"
    );
    assert_eq!(declared_at(&client, "2026-03-06T00:00:00Z").await, v2);
    // The broken commit was a failed scrape: the previous declaration stands.
    assert_eq!(declared_at(&client, "2026-03-08T00:00:00Z").await, v2);
    assert_eq!(declared_at(&client, "2026-03-10T00:00:00Z").await, v2);

    let scrapes = rows(
        &client,
        "SELECT CAST(started_at AS VARCHAR) AS started, status FROM scrapes WHERE source = 'tf' ORDER BY started_at",
    )
    .await
    .unwrap();
    let statuses: Vec<&str> = scrapes.iter().map(|row| row[1].as_str()).collect();
    // Four replayed commits, then the scheduled scrapes (`ingest --once`, and `serve`'s first).
    assert_eq!(statuses[..4], ["ok", "ok", "failed", "ok"], "{scrapes:?}");
    assert!(
        statuses.len() >= 5 && statuses[4..].iter().all(|status| *status == "ok"),
        "{scrapes:?}"
    );
    assert!(
        scrapes[0][0].starts_with("2026-03-01T10:00:00"),
        "{scrapes:?}"
    );

    // Each version carries the commit it came from.
    let provenance = rows(
        &client,
        "SELECT provenance->'git'->>'commit', provenance->'git'->>'author', \
                CAST(provenance->'git'->>'dirty' AS VARCHAR), COUNT(*) \
         FROM resource_versions WHERE source = 'tf' \
         GROUP BY 1, 2, 3 ORDER BY MIN(valid_from)",
    )
    .await
    .unwrap();
    let commits: Vec<&str> = provenance.iter().map(|row| row[0].as_str()).collect();
    assert_eq!(
        commits,
        [first.as_str(), second.as_str(), fixed.as_str()],
        "{provenance:?}"
    );
    assert!(!commits.contains(&broken.as_str()));
    assert_eq!(provenance[0][1], "Grace Hopper <grace@example.com>");
    assert_eq!(provenance[1][2], "false");
    assert_eq!(
        provenance[2][2], "true",
        "the scheduled scrape saw uncommitted edits"
    );
    assert_eq!(declared_at(&client, "2099-01-01T00:00:00Z").await, v1);
    let current = rows(
        &client,
        "SELECT DISTINCT provenance->'git'->>'commit' FROM resources \
         WHERE source = 'tf' AND kind = 'aws_lambda_function'",
    )
    .await
    .unwrap();
    assert_eq!(
        current,
        [[fixed.clone()]],
        "resources carry the provenance of their version"
    );

    drop(client);
    server.stop().unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn backfill_of_a_directory_records_deleted_files_and_a_deleted_directory() {
    let work = tempfile::tempdir().unwrap();
    let repository = work.path().join("repo");
    let deploy = repository.join("deploy");
    std::fs::create_dir_all(&deploy).unwrap();
    git(
        &repository,
        &["init", "-q", "-b", "main"],
        "2026-04-01T00:00:00Z",
    );
    for file in ["web.yaml", "config.yaml"] {
        std::fs::copy(
            fixture(&format!("kubernetes/shop/{file}")),
            deploy.join(file),
        )
        .unwrap();
    }
    git(&repository, &["add", "-A"], "2026-04-01T10:00:00Z");
    git(
        &repository,
        &["commit", "-qm", "shop"],
        "2026-04-01T10:00:00Z",
    );
    git(
        &repository,
        &["rm", "-q", "deploy/config.yaml"],
        "2026-04-02T10:00:00Z",
    );
    git(
        &repository,
        &["commit", "-qm", "drop config"],
        "2026-04-02T10:00:00Z",
    );
    git(
        &repository,
        &["rm", "-q", "-r", "deploy"],
        "2026-04-03T10:00:00Z",
    );
    git(
        &repository,
        &["commit", "-qm", "decommission"],
        "2026-04-03T10:00:00Z",
    );
    std::fs::create_dir_all(&deploy).unwrap();

    let store = work.path().join("store");
    let config = write_config(
        work.path(),
        &store,
        &format!(
            "[[sources]]\ntype = \"kubernetes_manifests\"\nname = \"k8s\"\npath = {:?}\ninterval = \"1h\"\n",
            deploy.display().to_string()
        ),
    )
    .unwrap();
    let output = cli(
        &config,
        &["backfill", "--source", "k8s", "--since", "2026-04-01"],
    )
    .unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "{printed}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        printed.contains("3 commits found, 3 replayed (0 failed to parse)"),
        "{printed}"
    );

    let port = free_port();
    let mut server = Server::serve(&config, port).await.unwrap();
    let client = connect(port).await.unwrap();
    let at = |instant: &'static str| {
        let client = &client;
        async move {
            rows(
                client,
                &format!("SELECT kind || ' ' || id FROM resources_at('{instant}') WHERE source = 'k8s' ORDER BY 1"),
            )
            .await
            .unwrap()
            .into_iter()
            .map(|row| row[0].clone())
            .collect::<Vec<_>>()
        }
    };
    let first = at("2026-04-01T12:00:00Z").await;
    assert!(
        first.contains(&"k8s/apps/Deployment shop/web".to_string()),
        "{first:?}"
    );
    let config_maps: Vec<_> = first
        .iter()
        .filter(|entry| entry.starts_with("k8s/core/ConfigMap"))
        .collect();
    assert!(!config_maps.is_empty(), "{first:?}");
    let second = at("2026-04-02T12:00:00Z").await;
    assert!(second.contains(&"k8s/apps/Deployment shop/web".to_string()));
    assert!(
        second
            .iter()
            .all(|entry| !entry.starts_with("k8s/core/ConfigMap")),
        "the deleted file's objects are gone: {second:?}"
    );
    assert!(
        at("2026-04-03T12:00:00Z").await.is_empty(),
        "the deleted directory declares nothing"
    );
    drop(client);
    server.stop().unwrap();
}
