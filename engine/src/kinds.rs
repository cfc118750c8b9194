//! The kind vocabulary and identity scheme shared by declared and live sources, drift and
//! relations: drift joins the two layers on `(kind, id)` or on the `live.kind` / `live.id`
//! labels a declared resource carries, and relations match attributes by kind, so a kind is
//! spelled here once and imported everywhere (renaming one here renames it for all).
//!
//! - **Kubernetes**: kind `k8s/<group>/<Kind>` (`core` for the core group, so
//!   `k8s/core/ConfigMap`, `k8s/apps/Deployment`); id `<namespace>/<name>`, with namespace
//!   `default` when a manifest omits it, and just `<name>` for cluster-scoped kinds. A live
//!   object's `status` is its own resource: kind `k8s-status/<group>/<Kind>`, same id.
//! - **AWS**: kind is the Terraform resource type (`aws_sqs_queue`, `aws_lambda_function`,
//!   ...); id is the resource's ARN. Declared sources that know an ARN (Terraform state) put
//!   it in the `live.id` label; those that only know a name (HCL, plans before apply) put it in
//!   `live.name`.
//! - **CloudFormation**: declared resources keep their CloudFormation type as kind
//!   (`AWS::SQS::Queue`) and `<stack>/<LogicalId>` as id; [`cloudformation_live_kind`] gives
//!   the Terraform-named live kind they carry in `live.kind`.
//! - **PostgreSQL**: kinds `postgres/schema`, `postgres/table`, `postgres/column`,
//!   `postgres/index`, `postgres/constraint`, `postgres/view`, `postgres/sequence`,
//!   `postgres/extension`, `postgres/type`, `postgres/domain`; ids are qualified names:
//!   `schema`, `schema.table`, `schema.table.column`, `schema.index`,
//!   `schema.table.constraint`, `schema.view`, `schema.sequence`, `extension`, `schema.type`,
//!   `schema.domain`. Unquoted identifiers are folded to lower case, as
//!   PostgreSQL does.

/// Label naming the kind a declared resource has on the live side.
pub const LIVE_KIND_LABEL: &str = "live.kind";
/// Label naming the id a declared resource has on the live side, when it is known.
pub const LIVE_ID_LABEL: &str = "live.id";
/// Label naming the live resource's name, when only the name is known.
pub const LIVE_NAME_LABEL: &str = "live.name";

/// AWS kinds: Terraform resource types (the live sources name them the same way).
pub mod aws {
    /// An SQS queue.
    pub const SQS_QUEUE: &str = "aws_sqs_queue";
    /// A Lambda function.
    pub const LAMBDA_FUNCTION: &str = "aws_lambda_function";
    /// A Lambda event source mapping (a trigger: queue, stream or table to function).
    pub const LAMBDA_EVENT_SOURCE_MAPPING: &str = "aws_lambda_event_source_mapping";
    /// An EC2 instance.
    pub const INSTANCE: &str = "aws_instance";
    /// An RDS database instance.
    pub const DB_INSTANCE: &str = "aws_db_instance";
    /// An EC2 security group.
    pub const SECURITY_GROUP: &str = "aws_security_group";
    /// An IAM role.
    pub const IAM_ROLE: &str = "aws_iam_role";
    /// An S3 bucket.
    pub const S3_BUCKET: &str = "aws_s3_bucket";
    /// A DynamoDB table.
    pub const DYNAMODB_TABLE: &str = "aws_dynamodb_table";
    /// A Kinesis stream.
    pub const KINESIS_STREAM: &str = "aws_kinesis_stream";
    /// A CloudFormation stack.
    pub const CLOUDFORMATION_STACK: &str = "aws_cloudformation_stack";
    /// A resource of a live CloudFormation stack (logical id to physical id).
    pub const CLOUDFORMATION_STACK_RESOURCE: &str = "aws_cloudformation_stack_resource";
}

/// The prefix of declared CloudFormation kinds (`AWS::SQS::Queue`).
pub const CLOUDFORMATION_PREFIX: &str = "AWS::";

/// Kubernetes kinds (`k8s/<group>/<Kind>`, see [`kubernetes_kind`]) that drift and relations
/// treat specially.
pub mod k8s {
    /// The prefix of every Kubernetes kind.
    pub const PREFIX: &str = "k8s/";
    /// A Deployment.
    pub const DEPLOYMENT: &str = "k8s/apps/Deployment";
    /// A StatefulSet.
    pub const STATEFUL_SET: &str = "k8s/apps/StatefulSet";
    /// A DaemonSet.
    pub const DAEMON_SET: &str = "k8s/apps/DaemonSet";
    /// A ReplicaSet.
    pub const REPLICA_SET: &str = "k8s/apps/ReplicaSet";
    /// A Job.
    pub const JOB: &str = "k8s/batch/Job";
    /// A CronJob.
    pub const CRON_JOB: &str = "k8s/batch/CronJob";
    /// A Pod.
    pub const POD: &str = "k8s/core/Pod";
    /// A Service.
    pub const SERVICE: &str = "k8s/core/Service";
    /// A ConfigMap.
    pub const CONFIG_MAP: &str = "k8s/core/ConfigMap";
    /// A Secret.
    pub const SECRET: &str = "k8s/core/Secret";
    /// An Ingress.
    pub const INGRESS: &str = "k8s/networking.k8s.io/Ingress";
    /// A ServiceAccount.
    pub const SERVICE_ACCOUNT: &str = "k8s/core/ServiceAccount";
    /// A Namespace.
    pub const NAMESPACE: &str = "k8s/core/Namespace";

    /// Objects the control plane creates by itself, as `(kind, id)`; an id `*/name` stands for
    /// that name in every namespace. Nobody declares them, so they are never unmanaged: the
    /// namespaces a cluster starts with, the `default` ServiceAccount and the
    /// `kube-root-ca.crt` ConfigMap the controller manager puts in every namespace, and the
    /// API server's own Service.
    pub const CONTROL_PLANE_OBJECTS: &[(&str, &str)] = &[
        (NAMESPACE, "default"),
        (NAMESPACE, "kube-system"),
        (NAMESPACE, "kube-public"),
        (NAMESPACE, "kube-node-lease"),
        (SERVICE_ACCOUNT, "*/default"),
        (CONFIG_MAP, "*/kube-root-ca.crt"),
        (SERVICE, "default/kubernetes"),
    ];
}

/// PostgreSQL catalog kinds.
pub mod postgres {
    /// The prefix of every PostgreSQL kind.
    pub const PREFIX: &str = "postgres/";
    /// A schema (`public`).
    pub const SCHEMA: &str = "postgres/schema";
    /// A table (`public.orders`).
    pub const TABLE: &str = "postgres/table";
    /// A column (`public.orders.id`).
    pub const COLUMN: &str = "postgres/column";
    /// An index (`public.orders_pkey`): index names are unique per schema.
    pub const INDEX: &str = "postgres/index";
    /// A table constraint (`public.orders.orders_customer_fk`).
    pub const CONSTRAINT: &str = "postgres/constraint";
    /// A view or materialized view (`public.open_orders`).
    pub const VIEW: &str = "postgres/view";
    /// A sequence (`public.orders_id_seq`).
    pub const SEQUENCE: &str = "postgres/sequence";
    /// An extension (`pgcrypto`): extensions are database-wide.
    pub const EXTENSION: &str = "postgres/extension";
    /// A user-defined enum or composite type (`public.mood`).
    pub const TYPE: &str = "postgres/type";
    /// A domain over a base type (`public.year`).
    pub const DOMAIN: &str = "postgres/domain";
}

/// Kinds that are not namespaced. Custom resources are namespaced unless listed; the live
/// source learns the truth from discovery, manifests can only know the built-in kinds.
const CLUSTER_SCOPED_KINDS: &[&str] = &[
    "APIService",
    "CSIDriver",
    "CSINode",
    "CertificateSigningRequest",
    "ClusterIssuer",
    "ClusterRole",
    "ClusterRoleBinding",
    "ComponentStatus",
    "CustomResourceDefinition",
    "FlowSchema",
    "IngressClass",
    "MutatingWebhookConfiguration",
    "Namespace",
    "Node",
    "PersistentVolume",
    "PodSecurityPolicy",
    "PriorityClass",
    "PriorityLevelConfiguration",
    "RuntimeClass",
    "StorageClass",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "ValidatingWebhookConfiguration",
    "VolumeAttachment",
];

/// Whether a Kubernetes kind is cluster-scoped.
pub fn kubernetes_cluster_scoped(kind: &str) -> bool {
    CLUSTER_SCOPED_KINDS.contains(&kind)
}

/// The API group of an `apiVersion` (`apps/v1` → `apps`, `v1` → `core`).
pub fn kubernetes_group(api_version: &str) -> &str {
    match api_version.split_once('/') {
        Some((group, _version)) => group,
        None => "core",
    }
}

/// The resource kind for a Kubernetes object: `k8s/<group>/<Kind>`.
pub fn kubernetes_kind(api_version: &str, kind: &str) -> String {
    format!("k8s/{}/{kind}", kubernetes_group(api_version))
}

/// The kind of a live Kubernetes object's status: `k8s-status/<group>/<Kind>`.
pub fn kubernetes_status_kind(api_version: &str, kind: &str) -> String {
    format!("k8s-status/{}/{kind}", kubernetes_group(api_version))
}

/// The id of a Kubernetes object: `<namespace>/<name>`, namespace `default` when absent, or
/// `<name>` for cluster-scoped kinds.
pub fn kubernetes_id(kind: &str, namespace: Option<&str>, name: &str) -> String {
    kubernetes_scoped_id(kubernetes_cluster_scoped(kind), namespace, name)
}

/// [`kubernetes_id`] when the scope is known (from API discovery, so custom resources work).
pub fn kubernetes_scoped_id(cluster_scoped: bool, namespace: Option<&str>, name: &str) -> String {
    if cluster_scoped {
        name.to_string()
    } else {
        let namespace = namespace.filter(|namespace| !namespace.is_empty());
        format!("{}/{name}", namespace.unwrap_or("default"))
    }
}

/// Fold an SQL identifier the way PostgreSQL does: quoted identifiers keep their case,
/// unquoted ones become lower case.
pub fn postgres_identifier(name: &str, quoted: bool) -> String {
    if quoted {
        name.to_string()
    } else {
        name.to_lowercase()
    }
}

/// CloudFormation resource types whose live counterpart has a Terraform-named kind, with the
/// property holding the name the live resource is found by. A CloudFormation resource carries
/// `live.kind` (and `live.name` when that property is a literal) so drift can join it to the
/// live layer; mapping logical ids to physical ids is the live stack source's job.
const CLOUDFORMATION_LIVE_KINDS: &[(&str, &str, &str)] = &[
    ("AWS::SQS::Queue", aws::SQS_QUEUE, "QueueName"),
    (
        "AWS::Lambda::Function",
        aws::LAMBDA_FUNCTION,
        "FunctionName",
    ),
    (
        "AWS::Lambda::EventSourceMapping",
        aws::LAMBDA_EVENT_SOURCE_MAPPING,
        "",
    ),
    ("AWS::EC2::Instance", aws::INSTANCE, ""),
    ("AWS::EC2::SecurityGroup", aws::SECURITY_GROUP, "GroupName"),
    ("AWS::S3::Bucket", aws::S3_BUCKET, "BucketName"),
    ("AWS::DynamoDB::Table", aws::DYNAMODB_TABLE, "TableName"),
    (
        "AWS::RDS::DBInstance",
        aws::DB_INSTANCE,
        "DBInstanceIdentifier",
    ),
    ("AWS::IAM::Role", aws::IAM_ROLE, "RoleName"),
    // SAM (`Transform: AWS::Serverless-2016-10-31`) resources become these once deployed.
    (
        "AWS::Serverless::Function",
        aws::LAMBDA_FUNCTION,
        "FunctionName",
    ),
    (
        "AWS::Serverless::SimpleTable",
        aws::DYNAMODB_TABLE,
        "TableName",
    ),
];

/// The live kind (Terraform type) of a CloudFormation resource type, when one is mapped.
pub fn cloudformation_live_kind(cloudformation_type: &str) -> Option<&'static str> {
    CLOUDFORMATION_LIVE_KINDS
        .iter()
        .find(|(cfn, _, _)| *cfn == cloudformation_type)
        .map(|(_, live, _)| *live)
}

/// The property naming a CloudFormation resource on the live side (`QueueName`), if any.
pub fn cloudformation_name_property(cloudformation_type: &str) -> Option<&'static str> {
    CLOUDFORMATION_LIVE_KINDS
        .iter()
        .find(|(cfn, _, _)| *cfn == cloudformation_type)
        .map(|(_, _, property)| *property)
        .filter(|property| !property.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubernetes_identities() {
        assert_eq!(
            kubernetes_kind("apps/v1", "Deployment"),
            "k8s/apps/Deployment"
        );
        assert_eq!(kubernetes_kind("v1", "ConfigMap"), "k8s/core/ConfigMap");
        assert_eq!(
            kubernetes_kind("networking.k8s.io/v1", "Ingress"),
            "k8s/networking.k8s.io/Ingress"
        );
        assert_eq!(kubernetes_id("Deployment", None, "web"), "default/web");
        assert_eq!(kubernetes_id("Deployment", Some(""), "web"), "default/web");
        assert_eq!(kubernetes_id("Service", Some("shop"), "web"), "shop/web");
        assert_eq!(kubernetes_id("Namespace", Some("ignored"), "shop"), "shop");
        assert_eq!(kubernetes_id("ClusterRole", None, "reader"), "reader");
        assert_eq!(kubernetes_scoped_id(true, Some("x"), "gadget"), "gadget");
        assert_eq!(kubernetes_scoped_id(false, Some("shop"), "w"), "shop/w");
        assert_eq!(
            kubernetes_status_kind("apps/v1", "Deployment"),
            "k8s-status/apps/Deployment"
        );
    }

    #[test]
    fn postgres_identifiers_fold_like_postgres() {
        assert_eq!(postgres_identifier("Orders", false), "orders");
        assert_eq!(postgres_identifier("Orders", true), "Orders");
    }

    #[test]
    fn cloudformation_types_map_to_live_kinds() {
        assert_eq!(
            cloudformation_live_kind("AWS::SQS::Queue"),
            Some("aws_sqs_queue")
        );
        assert_eq!(
            cloudformation_name_property("AWS::SQS::Queue"),
            Some("QueueName")
        );
        assert_eq!(cloudformation_name_property("AWS::EC2::Instance"), None);
        assert_eq!(cloudformation_live_kind("AWS::SNS::Topic"), None);
    }
}
