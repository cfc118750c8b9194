//! The `aws` live source: what runs in one AWS account, read through the AWS APIs with the
//! standard credential chain (environment, profile, SSO, web identity, container or instance
//! role), in every configured region: SQS queues, Lambda functions and event source mappings,
//! EC2 instances and security groups, S3 buckets, DynamoDB tables, RDS instances, IAM roles
//! and CloudFormation stacks with their stack resources.
//!
//! **Identity** follows [`crate::identity`]: the kind is the Terraform type
//! (`aws_sqs_queue`, `aws_lambda_function`, `aws_lambda_event_source_mapping`, `aws_instance`,
//! `aws_security_group`, `aws_s3_bucket`, `aws_dynamodb_table`, `aws_db_instance`,
//! `aws_iam_role`, `aws_cloudformation_stack`) and the id is the ARN, built where the API
//! returns none (`arn:aws:ec2:<region>:<owner>:instance/<id>`,
//! `arn:aws:ec2:<region>:<owner>:security-group/<id>`, `arn:aws:s3:::<bucket>`), so a declared
//! resource's `live.id` label joins it. Stack resources are `aws_cloudformation_stack_resource`
//! with id `<stack name>/<LogicalId>`, the id the declared `cloudformation` source gives the
//! same template's resource, and attrs `resource_type`, `physical_id` and `status`; their
//! `live.kind` label names the Terraform kind of what they created. The name is what the
//! console shows (queue, function, bucket, table, DB identifier, role or stack name; an
//! instance's `Name` tag or its id). Labels: `region`, `account` and `tag.<key>` per tag.
//!
//! **Attributes** use the Terraform attribute names wherever one exists
//! (`visibility_timeout_seconds`, `redrive_policy`, `runtime`, `memory_size`, `hash_key`,
//! `global_secondary_index`, `instance_type`, `ami`, `instance_class`, `assume_role_policy`,
//! `ingress`/`egress`, `tags`, ...) so drift can compare declared and live attributes path by
//! path; nested blocks are plain objects (`versioning.enabled`) rather than Terraform's
//! one-element lists, and JSON documents (`redrive_policy`, `assume_role_policy`, queue
//! policies) are parsed. Counters and timestamps that move without a configuration change
//! (message counts, item counts, last-modified times, statuses in progress) are left out.
//!
//! **Redaction**: Lambda environment variable values and CloudFormation parameter and output
//! values whose key names a secret (password, secret, token, private key) are replaced by
//! [`canonical::redacted`]; variable and key names are kept. Credentials are never stored or
//! logged. An S3 bucket policy is kept as text (`policy`) plus `policy_sha256`.
//!
//! **Fan-out and failures**: every (service, region) pair is a unit; S3 and IAM are global
//! and read once, in the first region (a bucket's region comes from GetBucketLocation). Units
//! run concurrently, every API call waits for one of `max_in_flight` permits, every list is
//! paginated, and the SDK's standard retry mode retries throttling with exponential backoff
//! up to `max_attempts`; `call_timeout` bounds each call. The account comes from
//! `sts:GetCallerIdentity`: if that fails (wrong credentials, unreachable endpoint), the scrape
//! fails and deletes nothing. A failed unit makes the scrape `partial`: only the scopes of the
//! units that succeeded (`kind` + ARN prefix `arn:aws:sqs:<region>:`, or the whole kind for a
//! global service) can lose resources; if every unit fails the scrape fails. Details that fail
//! on one resource (its tags, its policy) become warnings and the resource is kept without
//! them; a stack whose resources cannot be listed leaves stack resources uncovered. Duplicate
//! (kind, id) pairs (the same stack name in two regions) keep the first, with a warning.

mod cloudformation;
mod dynamodb;
mod ec2;
mod iam;
mod lambda;
mod rds;
mod s3;
mod sqs;

use std::collections::BTreeMap;
use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};
use groundtruth_engine::canonical;
use groundtruth_engine::model::{Coverage, Layer, Observation, ObservedResource, Scope};
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::sync::Semaphore;

use crate::error::{IngestError, Result};
use crate::source::{ScrapeContext, Source};

/// Default bound on concurrent API calls across all services and regions.
pub const DEFAULT_MAX_IN_FLIGHT: usize = 8;
/// Default number of attempts per call (throttling and transient errors are retried).
pub const DEFAULT_MAX_ATTEMPTS: u32 = 5;
/// Default bound on one call, retries included.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Kind of a stack's resource: id `<stack name>/<LogicalId>`.
pub const STACK_RESOURCE_KIND: &str = "aws_cloudformation_stack_resource";

/// Settings of the `aws` source (`type = "aws"` in `[[sources]]`).
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AwsConfig {
    /// Regions to read, e.g. `["us-east-1", "eu-west-1"]`; global services use the first.
    pub regions: Vec<String>,
    /// Services to read (default: all of sqs, lambda, ec2, s3, dynamodb, rds, iam,
    /// cloudformation).
    #[serde(default)]
    pub services: Option<Vec<String>>,
    /// Endpoint override for every service (LocalStack, moto); the SDK also honours
    /// `AWS_ENDPOINT_URL`.
    #[serde(default)]
    pub endpoint_url: Option<String>,
    /// Named profile of the shared config files (default: the standard chain's choice).
    #[serde(default)]
    pub profile: Option<String>,
    /// Most API calls in flight at once (default 8).
    #[serde(default)]
    pub max_in_flight: Option<usize>,
    /// Attempts per call, throttling retried with exponential backoff (default 5).
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// Bound on one call including its retries, and on connecting (default 30s).
    #[serde(default, deserialize_with = "crate::duration::optional_duration")]
    pub call_timeout: Option<Duration>,
}

impl AwsConfig {
    /// A configuration reading every service in `regions`, with default limits.
    pub fn new(regions: &[&str]) -> Self {
        Self {
            regions: regions.iter().map(|region| region.to_string()).collect(),
            services: None,
            endpoint_url: None,
            profile: None,
            max_in_flight: None,
            max_attempts: None,
            call_timeout: None,
        }
    }

    /// Refuse an empty region list, unknown service names and zero limits.
    pub fn validate(&self, source_name: &str) -> Result<()> {
        let refuse = |message: String| {
            Err(IngestError::Config(format!(
                "source '{source_name}': {message}"
            )))
        };
        if self.regions.is_empty() {
            return refuse("regions must list at least one region".into());
        }
        if let Some(region) = self.regions.iter().find(|region| region.trim().is_empty()) {
            return refuse(format!("invalid region '{region}'"));
        }
        if let Some((index, region)) = self
            .regions
            .iter()
            .enumerate()
            .find(|(index, region)| self.regions[..*index].contains(region))
        {
            return refuse(format!(
                "region '{region}' is listed twice (entry {})",
                index + 1
            ));
        }
        // An empty list would read nothing and, scrape after scrape, mark everything deleted.
        if self.services.as_ref().is_some_and(Vec::is_empty) {
            return refuse("services must list at least one service (or be left out)".into());
        }
        if self.max_in_flight == Some(0) {
            return refuse("max_in_flight must be positive".into());
        }
        if self.max_attempts == Some(0) {
            return refuse("max_attempts must be positive".into());
        }
        if self.call_timeout.is_some_and(|timeout| timeout.is_zero()) {
            return refuse("call_timeout must be positive".into());
        }
        self.service_list().map(|_| ()).or_else(|unknown| {
            refuse(format!(
                "unknown services {} (known: {})",
                unknown.join(", "),
                Service::ALL.map(Service::as_str).join(", ")
            ))
        })
    }

    /// The services to read, in the fixed order of [`Service::ALL`]; `Err` holds the names
    /// that are not services.
    fn service_list(&self) -> std::result::Result<Vec<Service>, Vec<String>> {
        let Some(names) = &self.services else {
            return Ok(Service::ALL.to_vec());
        };
        let unknown: Vec<String> = names
            .iter()
            .filter(|name| Service::parse(name).is_none())
            .map(|name| format!("'{name}'"))
            .collect();
        if !unknown.is_empty() {
            return Err(unknown);
        }
        Ok(Service::ALL
            .into_iter()
            .filter(|service| names.iter().any(|name| name == service.as_str()))
            .collect())
    }
}

/// One AWS service the source reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Service {
    /// SQS queues.
    Sqs,
    /// Lambda functions and event source mappings.
    Lambda,
    /// EC2 instances and security groups.
    Ec2,
    /// S3 buckets (global).
    S3,
    /// DynamoDB tables.
    Dynamodb,
    /// RDS DB instances.
    Rds,
    /// IAM roles (global).
    Iam,
    /// CloudFormation stacks and their resources.
    Cloudformation,
}

impl Service {
    /// Every service, in the order units run and report.
    pub const ALL: [Service; 8] = [
        Service::Sqs,
        Service::Lambda,
        Service::Ec2,
        Service::S3,
        Service::Dynamodb,
        Service::Rds,
        Service::Iam,
        Service::Cloudformation,
    ];

    /// The configured spelling, which is also the service's ARN namespace.
    pub fn as_str(self) -> &'static str {
        match self {
            Service::Sqs => "sqs",
            Service::Lambda => "lambda",
            Service::Ec2 => "ec2",
            Service::S3 => "s3",
            Service::Dynamodb => "dynamodb",
            Service::Rds => "rds",
            Service::Iam => "iam",
            Service::Cloudformation => "cloudformation",
        }
    }

    /// Parse the configured spelling.
    pub fn parse(name: &str) -> Option<Self> {
        Service::ALL
            .into_iter()
            .find(|service| service.as_str() == name)
    }

    /// Global services are listed once, in the first region.
    fn is_global(self) -> bool {
        matches!(self, Service::S3 | Service::Iam)
    }

    /// The kinds a unit of this service produces.
    fn kinds(self) -> &'static [&'static str] {
        match self {
            Service::Sqs => &[sqs::QUEUE_KIND],
            Service::Lambda => &[lambda::FUNCTION_KIND, lambda::EVENT_SOURCE_MAPPING_KIND],
            Service::Ec2 => &[
                ec2::INSTANCE_KIND,
                ec2::SECURITY_GROUP_KIND,
                ec2::NETWORK_INTERFACE_KIND,
            ],
            Service::S3 => &[s3::BUCKET_KIND],
            Service::Dynamodb => &[dynamodb::TABLE_KIND],
            Service::Rds => &[rds::INSTANCE_KIND],
            Service::Iam => &[iam::ROLE_KIND],
            Service::Cloudformation => &[cloudformation::STACK_KIND, STACK_RESOURCE_KIND],
        }
    }
}

/// The `aws` source.
#[derive(Debug)]
pub struct AwsSource {
    name: String,
    config: AwsConfig,
}

impl AwsSource {
    /// A source reading what `config` describes ([`AwsConfig::validate`] it first: unknown
    /// service names are skipped here).
    pub fn new(name: impl Into<String>, config: AwsConfig) -> Self {
        Self {
            name: name.into(),
            config,
        }
    }

    /// Where errors say the scrape went: the endpoint override, or AWS itself.
    fn location(&self) -> PathBuf {
        PathBuf::from(match &self.config.endpoint_url {
            Some(endpoint) => format!("aws {endpoint}"),
            None => "aws".to_string(),
        })
    }

    fn endpoint_text(&self) -> String {
        self.config
            .endpoint_url
            .clone()
            .unwrap_or_else(|| "the default endpoint".to_string())
    }

    fn failure(&self, message: String) -> IngestError {
        IngestError::Invalid {
            path: self.location(),
            message,
        }
    }

    /// The shared SDK configuration, for the first region: credentials are resolved lazily
    /// and cached by the SDK, and never pass through this source.
    async fn load_sdk_config(&self, region: &str) -> SdkConfig {
        let call_timeout = self.config.call_timeout.unwrap_or(DEFAULT_CALL_TIMEOUT);
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(self.config.max_attempts.unwrap_or(DEFAULT_MAX_ATTEMPTS)),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(call_timeout)
                    .read_timeout(call_timeout)
                    .operation_attempt_timeout(call_timeout)
                    .operation_timeout(call_timeout)
                    .build(),
            );
        if let Some(endpoint) = &self.config.endpoint_url {
            loader = loader.endpoint_url(endpoint);
        }
        if let Some(profile) = &self.config.profile {
            loader = loader.profile_name(profile);
        }
        loader.load().await
    }

    async fn scrape_units(&self) -> Result<Observation> {
        let services = self
            .config
            .service_list()
            .map_err(|unknown| IngestError::Config(format!("unknown services {unknown:?}")))?;
        let Some(first_region) = self.config.regions.first() else {
            return Err(IngestError::Config(format!(
                "source '{}': regions must list at least one region",
                self.name
            )));
        };
        let limiter = Arc::new(Semaphore::new(
            self.config.max_in_flight.unwrap_or(DEFAULT_MAX_IN_FLIGHT),
        ));
        let base = self.load_sdk_config(first_region).await;
        let account = {
            let _permit = limiter.acquire().await;
            aws_sdk_sts::Client::new(&base)
                .get_caller_identity()
                .send()
                .await
                .map_err(|error| {
                    self.failure(format!(
                        "cannot identify the account (sts GetCallerIdentity in {first_region} \
                         via {}): {}",
                        self.endpoint_text(),
                        describe_error(&error)
                    ))
                })?
                .account()
                .map(str::to_string)
                .ok_or_else(|| {
                    self.failure("sts GetCallerIdentity returned no account".to_string())
                })?
        };

        let mut units = Vec::new();
        for (index, region) in self.config.regions.iter().enumerate() {
            let sdk = base
                .to_builder()
                .region(Region::new(region.clone()))
                .build();
            for service in &services {
                if service.is_global() && index > 0 {
                    continue;
                }
                units.push(Unit {
                    service: *service,
                    region: region.clone(),
                    account: account.clone(),
                    partition: partition_of(region),
                    sdk: sdk.clone(),
                    limiter: Arc::clone(&limiter),
                    path_style: self.config.endpoint_url.is_some(),
                    endpoint: self.endpoint_text(),
                    fan_out: self.config.max_in_flight.unwrap_or(DEFAULT_MAX_IN_FLIGHT),
                });
            }
        }
        let outcomes = futures::future::join_all(units.iter().map(Unit::scrape)).await;
        self.assemble(&units, outcomes)
    }

    /// Merge the units' outcomes into one observation with the coverage they earned.
    fn assemble(
        &self,
        units: &[Unit],
        outcomes: Vec<std::result::Result<UnitOutput, CallError>>,
    ) -> Result<Observation> {
        let mut resources = Vec::new();
        let mut warnings = Vec::new();
        let mut covered = Vec::new();
        let mut failures = Vec::new();
        let mut succeeded = 0;
        // Stack resource ids carry no region, so they are covered only when every
        // CloudFormation unit read all of them.
        let mut stack_resources_complete = true;
        for (unit, outcome) in units.iter().zip(outcomes) {
            match outcome {
                Ok(output) => {
                    succeeded += 1;
                    resources.extend(output.resources);
                    warnings.extend(output.warnings);
                    for kind in unit.service.kinds() {
                        if let Some((_, reason)) = output
                            .incomplete
                            .iter()
                            .find(|(incomplete, _)| incomplete == kind)
                        {
                            failures.push(format!("{}: {reason}", unit.describe()));
                            if *kind == STACK_RESOURCE_KIND {
                                stack_resources_complete = false;
                            }
                        } else if *kind != STACK_RESOURCE_KIND {
                            covered.push(unit.scope(kind));
                        }
                    }
                }
                Err(error) => {
                    if unit.service == Service::Cloudformation {
                        stack_resources_complete = false;
                    }
                    failures.push(format!("{}: {error}", unit.describe()));
                }
            }
        }
        if units.is_empty() {
            // Only an unvalidated configuration gets here; reading nothing must not read as
            // "everything was deleted".
            return Err(IngestError::Config(format!(
                "source '{}': no services to read",
                self.name
            )));
        }
        if succeeded == 0 {
            return Err(self.failure(format!("every service failed: {}", failures.join("; "))));
        }
        if stack_resources_complete
            && units
                .iter()
                .any(|unit| unit.service == Service::Cloudformation)
        {
            covered.push(Scope::kind(STACK_RESOURCE_KIND));
        }
        let resources = sorted_unique(resources, &mut warnings);
        let coverage = if failures.is_empty() {
            Coverage::Complete
        } else {
            Coverage::Partial { covered, failures }
        };
        Ok(Observation {
            resources,
            coverage,
            warnings,
        })
    }
}

#[async_trait::async_trait]
impl Source for AwsSource {
    fn name(&self) -> &str {
        &self.name
    }

    fn source_type(&self) -> &'static str {
        "aws"
    }

    async fn scrape(&self, context: &ScrapeContext) -> Result<Observation> {
        tokio::select! {
            observation = self.scrape_units() => observation,
            () = context.cancel.cancelled() => Err(IngestError::Cancelled {
                source_name: self.name.clone(),
            }),
        }
    }
}

/// Sort by identity and keep the first of any duplicate, with a warning.
fn sorted_unique(
    mut resources: Vec<ObservedResource>,
    warnings: &mut Vec<String>,
) -> Vec<ObservedResource> {
    // Stable: among duplicates the first unit's (the first region's) resource stays first.
    resources.sort_by(|left, right| (&left.kind, &left.id).cmp(&(&right.kind, &right.id)));
    let mut unique: Vec<ObservedResource> = Vec::with_capacity(resources.len());
    for resource in resources {
        if let Some(previous) = unique.last() {
            if previous.kind == resource.kind && previous.id == resource.id {
                warnings.push(format!(
                    "duplicate {} '{}' (region {}) ignored: the one in region {} is kept",
                    resource.kind,
                    resource.id,
                    resource.labels.get("region").map_or("?", String::as_str),
                    previous.labels.get("region").map_or("?", String::as_str),
                ));
                continue;
            }
        }
        unique.push(resource);
    }
    unique
}

/// The ARN partition a region belongs to.
fn partition_of(region: &str) -> &'static str {
    if region.starts_with("cn-") {
        "aws-cn"
    } else if region.starts_with("us-gov-") {
        "aws-us-gov"
    } else {
        "aws"
    }
}

/// Run per-resource requests a bounded number at a time (the limiter bounds the calls),
/// returning their results in input order. The futures are collected first: a lazily mapped
/// stream would not be provably `Send` for the scrape's future.
async fn in_order<F: Future>(requests: Vec<F>, fan_out: usize) -> Vec<F::Output> {
    futures::StreamExt::collect(futures::StreamExt::buffered(
        futures::stream::iter(requests),
        fan_out.max(1),
    ))
    .await
}

/// Longest error text quoted from the SDK: its debug form can hold a whole response body.
const MAX_ERROR_CHARS: usize = 400;
/// Longest part of an unreadable response body quoted in an error.
const MAX_BODY_CHARS: usize = 160;

/// An SDK error as one readable line: the service's code and message when it answered with
/// a recognisable error; the HTTP status and the start of the body when it answered with
/// something else; otherwise the SDK's error chain (connection refused, timeout, unparseable
/// response). Shortened, and never holding credentials: requests are signed, never quoted.
fn describe_error<E>(error: &SdkError<E>) -> String
where
    E: std::error::Error + ProvideErrorMetadata + 'static,
{
    if let (Some(code), message) = (error.code(), error.message()) {
        return match message {
            Some(message) => shortened(&format!("{code}: {message}"), MAX_ERROR_CHARS),
            None => code.to_string(),
        };
    }
    let response = error.raw_response().map(|response| {
        let body = response
            .body()
            .bytes()
            .map(|bytes| {
                String::from_utf8_lossy(bytes)
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .unwrap_or_default();
        (response.status(), body)
    });
    if let Some((status, body)) = &response {
        if !status.is_success() {
            return shortened(
                &format!("HTTP {}: {body}", status.as_u16()),
                MAX_ERROR_CHARS,
            );
        }
    }
    // The chain's messages, not DisplayErrorContext's debug dump of the raw response
    // (request ids and dates would make warnings differ between scrapes).
    let mut text = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    let text = shortened(&text, MAX_ERROR_CHARS);
    match &response {
        // A successful status with a body the SDK could not read: show what came back.
        Some((status, body)) => format!(
            "{text} (HTTP {}: {})",
            status.as_u16(),
            shortened(body, MAX_BODY_CHARS)
        ),
        None => text,
    }
}

fn shortened(text: &str, limit: usize) -> String {
    match text.char_indices().nth(limit) {
        Some((cut, _)) => format!("{}...", &text[..cut]),
        None => text.to_string(),
    }
}

/// Tags as a sorted map.
type Tags = BTreeMap<String, String>;

/// A failed API call, described without credentials: operation, error code and the SDK's
/// error chain (which names the connection or timeout problem).
#[derive(Debug, Clone)]
struct CallError {
    code: Option<String>,
    message: String,
}

impl CallError {
    /// Whether the service answered with this error code.
    fn is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }
}

impl std::fmt::Display for CallError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter.write_str(&self.message)
    }
}

/// What one unit read.
#[derive(Debug, Default)]
struct UnitOutput {
    resources: Vec<ObservedResource>,
    warnings: Vec<String>,
    /// Kinds the unit could not read completely, with why: they stay uncovered.
    incomplete: Vec<(&'static str, String)>,
}

/// One (service, region) pair and what its calls need.
struct Unit {
    service: Service,
    region: String,
    account: String,
    partition: &'static str,
    sdk: SdkConfig,
    limiter: Arc<Semaphore>,
    /// Custom endpoints (moto, LocalStack, MinIO) only serve path-style S3 addresses.
    path_style: bool,
    endpoint: String,
    /// How many per-resource detail requests a unit keeps queued (the limiter bounds them).
    fan_out: usize,
}

impl Unit {
    async fn scrape(&self) -> std::result::Result<UnitOutput, CallError> {
        match self.service {
            Service::Sqs => sqs::scrape(self).await,
            Service::Lambda => lambda::scrape(self).await,
            Service::Ec2 => ec2::scrape(self).await,
            Service::S3 => s3::scrape(self).await,
            Service::Dynamodb => dynamodb::scrape(self).await,
            Service::Rds => rds::scrape(self).await,
            Service::Iam => iam::scrape(self).await,
            Service::Cloudformation => cloudformation::scrape(self).await,
        }
    }

    fn describe(&self) -> String {
        if self.service.is_global() {
            format!("{} (global, via {})", self.service.as_str(), self.region)
        } else {
            format!("{} in {}", self.service.as_str(), self.region)
        }
    }

    /// The scope a successful read of `kind` by this unit covers.
    fn scope(&self, kind: &str) -> Scope {
        if self.service.is_global() {
            Scope::kind(kind)
        } else {
            Scope {
                kind: Some(kind.to_string()),
                id_prefix: Some(self.arn_prefix()),
            }
        }
    }

    /// `arn:<partition>:<service>:<region>:`, the start of every ARN this unit produces.
    fn arn_prefix(&self) -> String {
        format!(
            "arn:{}:{}:{}:",
            self.partition,
            self.service.as_str(),
            self.region
        )
    }

    /// One call, once a permit is free.
    async fn call<T, E>(
        &self,
        operation: &str,
        request: impl Future<Output = std::result::Result<T, SdkError<E>>>,
    ) -> std::result::Result<T, CallError>
    where
        E: std::error::Error + ProvideErrorMetadata + 'static,
    {
        let _permit = self.permit(operation).await?;
        request.await.map_err(|error| self.error(operation, &error))
    }

    /// The next page of a paginator, once a permit is free.
    async fn page<T, E>(
        &self,
        operation: &str,
        next: impl Future<Output = Option<std::result::Result<T, SdkError<E>>>>,
    ) -> std::result::Result<Option<T>, CallError>
    where
        E: std::error::Error + ProvideErrorMetadata + 'static,
    {
        let _permit = self.permit(operation).await?;
        next.await
            .transpose()
            .map_err(|error| self.error(operation, &error))
    }

    async fn permit(
        &self,
        operation: &str,
    ) -> std::result::Result<tokio::sync::SemaphorePermit<'_>, CallError> {
        // The semaphore is never closed; this only guards the impossible.
        self.limiter.acquire().await.map_err(|error| CallError {
            code: None,
            message: format!("{operation}: {error}"),
        })
    }

    fn error<E>(&self, operation: &str, error: &SdkError<E>) -> CallError
    where
        E: std::error::Error + ProvideErrorMetadata + 'static,
    {
        CallError {
            code: error.code().map(str::to_string),
            message: format!(
                "{operation} via {} failed: {}",
                self.endpoint,
                describe_error(error)
            ),
        }
    }

    /// A warning about one resource's detail that could not be read.
    fn detail_warning(&self, what: &str, error: &CallError) -> String {
        format!("{}: {what} not read: {error}", self.describe())
    }

    /// A live resource with the `region`, `account` and `tag.<key>` labels; `tags` are also
    /// kept as the `tags` attribute, as Terraform has them.
    fn resource(
        &self,
        kind: &str,
        id: String,
        name: &str,
        mut attrs: Map<String, Value>,
        tags: Option<&Tags>,
    ) -> ObservedResource {
        self.resource_in(
            &self.region,
            kind,
            id,
            name,
            attrs_with_tags(&mut attrs, tags),
            tags,
        )
    }

    /// [`Unit::resource`] for a resource whose region is not the unit's (S3 buckets).
    fn resource_in(
        &self,
        region: &str,
        kind: &str,
        id: String,
        name: &str,
        attrs: Value,
        tags: Option<&Tags>,
    ) -> ObservedResource {
        let mut resource = ObservedResource::new(kind, id, Layer::Live, attrs)
            .with_name(name)
            .with_label("region", region)
            .with_label("account", self.account.clone());
        for (key, value) in tags.into_iter().flatten() {
            resource = resource.with_label(format!("tag.{key}"), value.clone());
        }
        resource
    }
}

fn attrs_with_tags(attrs: &mut Map<String, Value>, tags: Option<&Tags>) -> Value {
    if let Some(tags) = tags {
        attrs.insert(
            "tags".to_string(),
            Value::Object(
                tags.iter()
                    .map(|(key, value)| (key.clone(), Value::String(value.clone())))
                    .collect(),
            ),
        );
    }
    Value::Object(std::mem::take(attrs))
}

/// A JSON document the API returns as text (policies), parsed so formatting differences do
/// not read as changes; kept as text when it is not JSON.
fn json_document(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|_| Value::String(text.to_string()))
}

/// Whether a key names a secret (used for CloudFormation parameters and outputs).
fn names_secret(key: &str) -> bool {
    let key = key.to_ascii_lowercase();
    [
        "password",
        "passwd",
        "secret",
        "token",
        "privatekey",
        "private_key",
        "apikey",
        "api_key",
    ]
    .iter()
    .any(|word| key.contains(word))
}

/// A value, redacted when its key names a secret.
fn value_unless_secret(key: &str, value: Option<&str>) -> Value {
    match value {
        Some(value) if names_secret(key) => canonical::redacted(&Value::String(value.into())),
        Some(value) => Value::String(value.into()),
        None => Value::Null,
    }
}

/// Shorthand for an optional string attribute.
fn text(value: Option<&str>) -> Value {
    value.map_or(Value::Null, |value| Value::String(value.to_string()))
}

/// Sorted, de-duplicated strings as a JSON array.
fn sorted_strings<'a>(values: impl IntoIterator<Item = &'a str>) -> Value {
    let set: std::collections::BTreeSet<&str> = values.into_iter().collect();
    Value::Array(
        set.into_iter()
            .map(|value| Value::String(value.into()))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn configuration_is_validated() {
        let mut config = AwsConfig::new(&["us-east-1"]);
        config.validate("prod").unwrap();
        config.services = Some(vec!["sqs".into(), "ec3".into(), "iam".into(), "s4".into()]);
        let error = config.validate("prod").unwrap_err().to_string();
        assert!(error.contains("'ec3', 's4'"), "{error}");
        config.services = Some(vec!["iam".into(), "sqs".into()]);
        assert_eq!(
            config.service_list().unwrap(),
            vec![Service::Sqs, Service::Iam]
        );
        config.services = Some(Vec::new());
        assert!(config
            .validate("prod")
            .unwrap_err()
            .to_string()
            .contains("at least one service"));
        config.services = None;
        config.regions = vec!["eu-west-1".into(), "us-east-1".into(), "eu-west-1".into()];
        assert!(config
            .validate("prod")
            .unwrap_err()
            .to_string()
            .contains("'eu-west-1' is listed twice"));
        config.regions.clear();
        assert!(config
            .validate("prod")
            .unwrap_err()
            .to_string()
            .contains("regions"));
        let mut config = AwsConfig::new(&["us-east-1"]);
        config.max_in_flight = Some(0);
        assert!(config
            .validate("prod")
            .unwrap_err()
            .to_string()
            .contains("max_in_flight"));
    }

    #[test]
    fn partitions_and_secret_names() {
        assert_eq!(partition_of("eu-west-1"), "aws");
        assert_eq!(partition_of("cn-north-1"), "aws-cn");
        assert_eq!(partition_of("us-gov-west-1"), "aws-us-gov");
        assert!(names_secret("DbPassword"));
        assert!(names_secret("GithubToken"));
        assert!(!names_secret("QueueName"));
        assert!(canonical::is_redacted(&value_unless_secret(
            "MasterPassword",
            Some("hunter2")
        )));
        assert_eq!(value_unless_secret("Env", Some("prod")), "prod");
    }

    #[test]
    fn duplicates_keep_the_first_with_a_warning() {
        let make = |region: &str| {
            ObservedResource::new(STACK_RESOURCE_KIND, "app/Queue", Layer::Live, Value::Null)
                .with_label("region", region)
        };
        let mut warnings = Vec::new();
        let unique = sorted_unique(vec![make("us-east-1"), make("eu-west-1")], &mut warnings);
        assert_eq!(unique.len(), 1);
        assert_eq!(unique[0].labels["region"], "us-east-1");
        assert!(warnings[0].contains("eu-west-1"), "{warnings:?}");
    }
}
