//! Secrets planted in every source type that reads local input (23 kinds: provider tokens,
//! private keys, passwords in URLs, DSNs and argv, high-entropy values under token names,
//! known sensitive fields), ingested through the real binary: no plaintext in any stored file
//! (raw bytes, Delta logs, and every Parquet column decoded), in any query result over the
//! wire, or in the logs; the key lives beside the configuration with mode 0600, and rotating it
//! records every marker as changed.

use std::path::Path;
use std::process::{Command, Stdio};

use arrow::util::display::{ArrayFormatter, FormatOptions};
use groundtruth_tests::{binary, connect, files_under, free_port, rows, write_config, Server};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;

/// (kind of secret, the plaintext that must never be found).
const PLANTED: &[(&str, &str)] = &[
    ("AWS access key id", "AKIAQ7PLANTEDKEY0001"),
    (
        "AWS secret access key",
        "wJalrXUtnFEMIK7MDENGbPxRfiCYPLANTED00002",
    ),
    (
        "RSA private key",
        "MIIEpAIBAAKCAQEAplantedRSAkeymaterial0003",
    ),
    (
        "OpenSSH private key",
        "b3BlbnNzaC1rZXktdjEAplantedOpenSSH0004",
    ),
    ("JWT", "PlantedJwtSignature0005xyz"),
    (
        "GitHub classic token",
        "ghp_PlantedGithubToken000600000000000000",
    ),
    (
        "GitHub fine-grained token",
        "github_pat_11PLANTED0007_abcdefghijklmnopqrstuv",
    ),
    ("Slack bot token", "xoxb-000000000008-PlantedSlackBot"),
    ("Slack webhook", "PlantedWebhook0009"),
    ("Stripe key", "sk_live_PlantedStripe0010abcd"),
    ("Google API key", "AIzaSyPlantedGoogleKey0011abcdefghijklm"),
    ("npm token", "npm_PlantedNpmToken0012abcdefghijklmnopq"),
    (
        "SendGrid key",
        "SG.PlantedSendGrid0013.abcdefghijklmnopqrstu",
    ),
    ("URL password", "PlantedUrlPw0014"),
    ("DSN password", "PlantedDsnPw0015"),
    ("high-entropy API token", "Xk9fQ2mZ7rTp4LwB0016vNc8"),
    ("weak password under a password key", "hunter2-0017"),
    ("Terraform sensitive output", "PlantedTfSensitive0018"),
    ("Kubernetes Secret value", "PlantedK8sSecret0019"),
    ("compose environment value", "PlantedComposeEnv0020"),
    ("bearer token in an error", "PlantedBearerToken0021xyz"),
    ("password in a process argument", "PlantedHostPw0022"),
    (
        "Slack user token in a column default",
        "xoxp-000000000023-PlantedSlackUser",
    ),
];

fn secret(index: usize) -> &'static str {
    PLANTED[index - 1].1
}

/// Write each source's planted input under `inputs`; return the `[[sources]]` TOML.
fn plant(inputs: &Path) -> String {
    let write = |relative: &str, text: &str| {
        let path = inputs.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    };
    let tfstate = write(
        "tf/terraform.tfstate",
        &serde_json::json!({
            "version": 4, "terraform_version": "1.9.5", "serial": 1,
            "lineage": "0f0c9a7e-5b2d-4e61-8c1f-9d7a2b6e4c30",
            "outputs": {"signing_secret": {"value": secret(18), "type": "string", "sensitive": true}},
            "resources": [{
                "mode": "managed", "type": "aws_instance", "name": "worker",
                "provider": "provider[\"registry.terraform.io/hashicorp/aws\"]",
                "instances": [{"schema_version": 1, "sensitive_attributes": [], "attributes": {
                    "id": "i-0abc123def4567890", "instance_type": "t3.micro",
                    "user_data": format!("#!/bin/sh\nexport AWS_ACCESS_KEY_ID={}\nexport AWS_SECRET_ACCESS_KEY={}\n", secret(1), secret(2)),
                }}]
            }]
        })
        .to_string(),
    );
    let plan = write(
        "plan/plan.json",
        &serde_json::json!({
            "format_version": "1.2", "terraform_version": "1.9.5",
            "planned_values": {"root_module": {"resources": [{
                "address": "aws_ssm_parameter.app", "mode": "managed", "type": "aws_ssm_parameter",
                "name": "app", "provider_name": "registry.terraform.io/hashicorp/aws",
                "schema_version": 0, "sensitive_values": {},
                "values": {
                    "name": "/app/config",
                    "description": format!("session eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJwbGFudGVkIn0.{}", secret(5)),
                    "insecure_value": format!("postgres://orders:{}@db.internal:5432/orders", secret(14)),
                }
            }]}},
            "resource_changes": [], "configuration": {"root_module": {}},
            "applyable": true, "complete": true, "errored": false
        })
        .to_string(),
    );
    let hcl = write(
        "hcl/main.tf",
        &format!(
            "resource \"aws_instance\" \"ci\" {{\n  ami = \"ami-123\"\n  user_data = \"git clone https://x:{}@github.com/acme/app\"\n}}\n\n\
             resource \"aws_lambda_function\" \"notify\" {{\n  function_name = \"notify\"\n  environment {{\n    variables = {{\n      SLACK = \"{}\"\n    }}\n  }}\n}}\n",
            secret(6),
            secret(8)
        ),
    );
    let cfn = write(
        "cfn/notify.yaml",
        &format!(
            "Resources:\n  Notify:\n    Type: AWS::Lambda::Function\n    Properties:\n      Runtime: python3.12\n      Handler: index.handler\n      Code:\n        ZipFile: |\n          STRIPE = \"{}\"\n          KEY = \"\"\"-----BEGIN RSA PRIVATE KEY-----\n          {}\n          -----END RSA PRIVATE KEY-----\"\"\"\n",
            secret(10),
            secret(3)
        ),
    );
    let manifests = write(
        "k8s/app.yaml",
        &format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: app\n  namespace: shop\n  annotations:\n    deploy/auth: \"Bearer {}\"\ndata:\n  GOOGLE_MAPS: {}\n  DATABASE_DSN: \"host=db user=app password={} dbname=shop\"\n  id_ed25519: |\n    -----BEGIN OPENSSH PRIVATE KEY-----\n    {}\n    -----END OPENSSH PRIVATE KEY-----\n---\napiVersion: v1\nkind: Secret\nmetadata:\n  name: app\n  namespace: shop\nstringData:\n  token: {}\n",
            secret(21),
            secret(11),
            secret(15),
            secret(4),
            secret(19)
        ),
    );
    let compose = write(
        "compose/compose.yaml",
        &format!(
            "services:\n  web:\n    image: nginx:1.27\n    environment:\n      SESSION_KEY: {}\n    command: [\"npm\", \"publish\", \"--token\", \"{}\"]\n",
            secret(20),
            secret(12)
        ),
    );
    let command_output = write(
        "command/items.json",
        &serde_json::json!([
            {"id": "deploy-bot", "apiToken": secret(16), "pat": secret(7)},
        ])
        .to_string(),
    );
    let kubectl = write(
        "kubectl/cluster.json",
        &serde_json::json!({"apiVersion": "v1", "kind": "List", "items": [{
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": "mail", "namespace": "shop"},
            "data": {"SENDGRID": secret(13), "DB_PASSWORD": secret(17)}
        }]})
        .to_string(),
    );
    let flags = write(
        "flagd/flags.json",
        &serde_json::json!({"flags": {"alerts": {
            "state": "ENABLED", "defaultVariant": "slack",
            "variants": {"slack": format!("https://hooks.slack.com/services/T0000009/B0000009/{}", secret(9)), "off": "none"}
        }}})
        .to_string(),
    );
    let migrations = write(
        "migrations/V1__init.sql",
        &format!(
            "CREATE TABLE integrations (id bigint PRIMARY KEY, slack text NOT NULL DEFAULT '{}');\n",
            secret(23)
        ),
    );
    let entry = |kind: &str, name: &str, path: &str| {
        format!("[[sources]]\ntype = \"{kind}\"\nname = \"{name}\"\npath = {path:?}\ninterval = \"1h\"\n\n")
    };
    [
        entry("terraform_state", "tf_state", &tfstate),
        entry("terraform_plan", "tf_plan", &plan),
        entry("terraform_hcl", "tf_hcl", &hcl),
        entry("cloudformation", "cfn", &cfn),
        entry("kubernetes_manifests", "k8s", &manifests),
        entry("compose", "compose", &compose),
        entry("kubernetes_api", "cluster", &kubectl),
        entry("flagd", "flags", &flags),
        entry("sql_migrations", "schema", &migrations),
        format!(
            "[[sources]]\ntype = \"command\"\nname = \"bots\"\ncommand = [\"cat\", {command_output:?}]\nkind = \"bot\"\nid_pointer = \"/id\"\ninterval = \"1h\"\n\n\
             [[sources]]\ntype = \"command\"\nname = \"failing\"\ncommand = [\"sh\", \"-c\", \"echo 'upstream said: Authorization: Bearer {}' >&2; exit 3\"]\nkind = \"x\"\nid_pointer = \"/id\"\ninterval = \"1h\"\n\n\
             [[sources]]\ntype = \"host\"\nname = \"host\"\ninterval = \"1h\"\n\n",
            secret(21)
        ),
    ]
    .concat()
}

/// Every plaintext found in `text`, with where.
fn leaks(place: &str, text: &str) -> Vec<String> {
    PLANTED
        .iter()
        .filter(|(_, plaintext)| text.contains(plaintext))
        .map(|(kind, plaintext)| format!("{kind} ({plaintext}) in {place}"))
        .collect()
}

/// Every file under the store, raw (Delta logs, Parquet footers and statistics) and, for
/// Parquet, every column decoded (pages are compressed, so raw bytes alone prove nothing).
fn store_leaks(directory: &Path) -> (Vec<String>, usize) {
    let mut found = Vec::new();
    let mut parquet_files = 0;
    for entry in files_under(directory) {
        let bytes = std::fs::read(&entry).unwrap();
        let place = entry.display().to_string();
        found.extend(leaks(&place, &String::from_utf8_lossy(&bytes)));
        if entry
            .extension()
            .is_some_and(|extension| extension == "parquet")
        {
            parquet_files += 1;
            let reader =
                ParquetRecordBatchReaderBuilder::try_new(std::fs::File::open(&entry).unwrap())
                    .unwrap()
                    .build()
                    .unwrap();
            let mut decoded = String::new();
            for batch in reader {
                let batch = batch.unwrap();
                for column in batch.columns() {
                    let formatter =
                        ArrayFormatter::try_new(column.as_ref(), &FormatOptions::default())
                            .unwrap();
                    for row in 0..column.len() {
                        decoded.push_str(&formatter.value(row).to_string());
                        decoded.push('\n');
                    }
                }
            }
            found.extend(leaks(&format!("{place} (decoded)"), &decoded));
        }
    }
    (found, parquet_files)
}

fn ingest(config: &Path) -> (String, String) {
    let output = Command::new(binary())
        .arg("--config")
        .arg(config)
        .args(["ingest", "--once"])
        .env(
            "RUST_LOG",
            "debug,datafusion=info,deltalake=info,hyper=info,aws=info",
        )
        .env_remove("GROUNDTRUTH_SECRET_KEY")
        .output()
        .unwrap();
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn no_planted_secret_reaches_the_store_the_wire_or_the_logs() {
    let work = tempfile::tempdir().unwrap();
    let store = work.path().join("store");
    let sources = plant(&work.path().join("inputs"));
    let config = write_config(work.path(), &store, &sources).unwrap();
    // A process with secrets on its command line, for the host source (`; true` keeps the
    // shell from exec-ing sleep, so its argv stays visible).
    let mut holder = Command::new("sh")
        .args(["-c", "sleep 60; true", "secret-holder"])
        .arg(format!("--password={}", secret(22)))
        .stdout(Stdio::null())
        .spawn()
        .unwrap();

    let (stdout, stderr) = ingest(&config);
    // A `kubectl -o json` file proves only the kinds it holds, so its scrape is partial.
    for (name, status) in [
        ("tf_state", "ok"),
        ("tf_plan", "ok"),
        ("tf_hcl", "ok"),
        ("cfn", "ok"),
        ("k8s", "ok"),
        ("compose", "ok"),
        ("cluster", "partial"),
        ("flags", "ok"),
        ("schema", "ok"),
        ("bots", "ok"),
        ("host", "ok"),
    ] {
        assert!(
            stdout
                .lines()
                .any(|line| line.starts_with(&format!("{name}: {status} ("))),
            "{name} did not ingest: {stdout}\n{stderr}"
        );
    }
    assert!(stdout.contains("failing: failed"), "{stdout}");
    assert!(
        stdout.contains("Bearer <redacted:"),
        "the error keeps its shape: {stdout}"
    );

    // The key was created beside the configuration, not in the store, readable only by us.
    let key_file = work.path().join("groundtruth.secret-key");
    assert!(key_file.exists(), "{stderr}");
    assert!(stderr.contains("created a new secret key"), "{stderr}");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    let mut found = leaks("ingest stdout", &stdout);
    found.extend(leaks("ingest logs", &stderr));
    let (stored, parquet_files) = store_leaks(&store);
    assert!(
        parquet_files >= 2,
        "the versions and scrapes tables were read"
    );
    found.extend(stored);

    let port = free_port();
    let mut server = Server::serve(&config, port).await.unwrap();
    let client = connect(port).await.unwrap();
    for query in [
        "SELECT * FROM resource_versions",
        "SELECT * FROM resources",
        "SELECT * FROM scrapes",
        "SELECT * FROM sources",
        "SELECT * FROM changes(now() - INTERVAL '1 day', now() + INTERVAL '1 day')",
        "SELECT * FROM storage.versions",
    ] {
        let answer = rows(&client, query).await.unwrap();
        assert!(!answer.is_empty(), "{query} answered nothing");
        found.extend(leaks(query, &format!("{answer:?}")));
    }
    // The markers are keyed and name their key; nothing unkeyed is left.
    let markers = rows(
        &client,
        "SELECT count(*) FROM resource_versions WHERE attrs LIKE '%\"hmac\"%' \
         AND attrs NOT LIKE '%\"sha256\":%'",
    )
    .await
    .unwrap();
    assert_ne!(markers[0][0], "0", "no keyed markers stored");
    assert!(
        found.is_empty(),
        "plaintext secrets found:\n{}",
        found.join("\n")
    );

    // Rotation: the next scrape records every marker as changed.
    drop(client);
    server.stop().unwrap();
    let rotated = Command::new(binary())
        .arg("--config")
        .arg(&config)
        .arg("rotate-secret-key")
        .env_remove("GROUNDTRUTH_SECRET_KEY")
        .output()
        .unwrap();
    assert!(rotated.status.success(), "{rotated:?}");
    let (stdout, stderr) = ingest(&config);
    let rewritten = stdout
        .lines()
        .find(|line| line.starts_with("k8s: ok ("))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        !rewritten.contains(" 0 versions written"),
        "rotation changed nothing: {rewritten}"
    );
    let mut found = leaks("second ingest", &format!("{stdout}{stderr}"));
    found.extend(store_leaks(&store).0);
    assert!(
        found.is_empty(),
        "plaintext secrets found after rotation:\n{}",
        found.join("\n")
    );

    let _ = holder.kill();
    let _ = holder.wait();
}
