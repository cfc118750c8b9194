//! The declared layer end to end, through the real binary: every declared source type on its
//! fixture in one store, a bad input beside them that fails alone, no fixture secret in any
//! stored byte, and the server answering about all of it.

use std::path::Path;

use groundtruth_tests::{cli, connect, fixture, free_port, rows, write_config, Server};

/// Plaintext secrets planted in the fixtures; none may reach the store.
const FIXTURE_SECRETS: &[&str] = &[
    "s3cr3t-fixture-password-v1",
    "plan-fixture-db-password",
    "plan-fixture-api-token",
    "hcl-fixture-default-password",
    "hcl-fixture-literal-token",
    "sk_live_fixture_51HxQ2",
    "whsec_fixture_9f8e7d",
    "redis-fixture-pw-42",
    "compose-fixture-pg-5521",
    "cfn-fixture-db-password-1",
    "tok-fixture-payments-9f3a",
    "sk-fixture-stripe-7c1e",
];

fn source(kind: &str, name: &str, path: &Path) -> String {
    format!(
        "[[sources]]\ntype = \"{kind}\"\nname = \"{name}\"\npath = {:?}\ninterval = \"1h\"\n\n",
        path.display().to_string()
    )
}

fn stored_bytes(directory: &Path) -> Vec<(String, Vec<u8>)> {
    let mut found = Vec::new();
    let mut pending = vec![directory.to_path_buf()];
    while let Some(path) = pending.pop() {
        for entry in std::fs::read_dir(&path).unwrap() {
            let entry = entry.unwrap().path();
            if entry.is_dir() {
                pending.push(entry);
            } else {
                found.push((entry.display().to_string(), std::fs::read(&entry).unwrap()));
            }
        }
    }
    found
}

#[tokio::test(flavor = "multi_thread")]
async fn every_declared_source_ingests_its_fixture_and_bad_input_fails_alone() {
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    // A billion-laughs manifest: its source must fail, quickly, and nothing else may.
    let bomb_directory = work.path().join("bomb");
    std::fs::create_dir_all(&bomb_directory).unwrap();
    let mut bomb = String::from(
        "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n",
    );
    let mut previous = "a";
    for name in ["b", "c", "d", "e", "f", "g", "h", "i"] {
        bomb.push_str(&format!(
            "{name}: &{name} [{}]\n",
            vec![format!("*{previous}"); 9].join(",")
        ));
        previous = name;
    }
    let bomb_file = bomb_directory.join("bomb.yaml");
    std::fs::write(&bomb_file, bomb).unwrap();

    let sources = [
        source(
            "terraform_state",
            "tf_state",
            &fixture("terraform/v1.tfstate"),
        ),
        source(
            "terraform_plan",
            "tf_plan",
            &fixture("terraform/plan/plan.json"),
        ),
        source("terraform_hcl", "tf_hcl", &fixture("terraform/hcl")),
        source("kubernetes_manifests", "k8s", &fixture("kubernetes/shop")),
        source("sql_migrations", "schema", &fixture("migrations/flyway")),
        source("compose", "compose", &fixture("compose/shop")),
        source("cloudformation", "cfn", &fixture("cloudformation")),
        source("flagd", "flags", &fixture("flagd/shop")),
        source("kubernetes_manifests", "bomb", &bomb_directory),
    ]
    .concat();
    let config = write_config(work.path(), &store, &sources).unwrap();

    let started = std::time::Instant::now();
    let output = cli(&config, &["ingest", "--once"]).unwrap();
    let printed = String::from_utf8_lossy(&output.stdout);
    assert_eq!(
        output.status.code(),
        Some(2),
        "a failed source makes the exit code 2: {printed}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "bounded time"
    );
    for name in [
        "tf_state", "tf_plan", "tf_hcl", "k8s", "schema", "compose", "flags",
    ] {
        assert!(
            printed
                .lines()
                .any(|line| line.starts_with(&format!("{name}: ok ("))),
            "{name} did not ingest: {printed}"
        );
    }
    let bomb_line = printed
        .lines()
        .find(|line| line.starts_with("bomb: failed"))
        .unwrap_or_else(|| panic!("bomb source did not fail: {printed}"));
    assert!(
        bomb_line.contains(&bomb_file.display().to_string()),
        "{bomb_line}"
    );

    for (path, bytes) in stored_bytes(&store) {
        for secret in FIXTURE_SECRETS {
            assert!(
                !bytes
                    .windows(secret.len())
                    .any(|window| window == secret.as_bytes()),
                "secret {secret} stored in {path}"
            );
        }
    }

    let port = free_port();
    let mut server = Server::serve(&config, port).await.unwrap();
    let client = connect(port).await.unwrap();
    let kinds = rows(
        &client,
        "SELECT source, kind, count(*) AS resources FROM resources WHERE layer = 'declared' \
         GROUP BY source, kind ORDER BY source, kind",
    )
    .await
    .unwrap();
    let has = |source: &str, kind: &str| {
        kinds
            .iter()
            .any(|row| row[0] == source && row[1] == kind && row[2] != "0")
    };
    for (source, kind) in [
        ("tf_state", "aws_sqs_queue"),
        ("tf_plan", "terraform_drift"),
        ("tf_hcl", "aws_lambda_function"),
        ("k8s", "k8s/apps/Deployment"),
        ("k8s", "k8s/core/Secret"),
        ("schema", "postgres/table"),
        ("schema", "postgres/index"),
        ("compose", "compose/service"),
        ("flags", "flagd/flag"),
        ("cfn", "AWS::SQS::Queue"),
        ("cfn", "cloudformation_parameter"),
    ] {
        assert!(has(source, kind), "no {kind} from {source}: {kinds:?}");
    }
    assert!(!kinds.iter().any(|row| row[0] == "bomb"), "{kinds:?}");

    let failed = rows(
        &client,
        "SELECT last_status, last_error FROM sources WHERE source = 'bomb'",
    )
    .await
    .unwrap();
    assert_eq!(failed[0][0], "failed");
    assert!(failed[0][1].contains("bomb.yaml"), "{failed:?}");

    // Identities line up across declared sources: the state's queue names the ARN the live
    // side will report.
    let queue = rows(
        &client,
        "SELECT labels->>'live.kind', labels->>'live.id' FROM resources \
         WHERE source = 'tf_state' AND id = 'aws_sqs_queue.orders'",
    )
    .await
    .unwrap();
    assert_eq!(queue[0][0], "aws_sqs_queue");
    assert!(queue[0][1].starts_with("arn:aws:sqs:"), "{queue:?}");

    drop(client);
    server.stop().unwrap();
}
