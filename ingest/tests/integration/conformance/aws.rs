//! Conformance of the `aws` source, against a moto server seeded by
//! `tests/fixtures/aws/seed.py` (whose Lambda environment holds a planted secret).

use std::time::Duration;

use super::*;
use groundtruth_ingest::source::live::aws::{AwsConfig, AwsSource};

use crate::support::moto;

#[tokio::test]
async fn aws_conforms() {
    let server = moto::MotoServer::start();
    server.seed("seed");
    let endpoint = server.endpoint();
    let make = || -> Box<dyn Source> {
        let mut config = AwsConfig::new(&["us-east-1", "eu-west-1"]);
        config.endpoint_url = Some(endpoint.clone());
        config.max_attempts = Some(2);
        config.call_timeout = Some(Duration::from_secs(20));
        Box::new(AwsSource::new("aws", config))
    };
    check_conformance(make, Some(moto::LAMBDA_SECRET)).await;
}
