use serde_json::json;

use super::*;

fn paths(drifts: &[AttributeDrift]) -> Vec<&str> {
    drifts.iter().map(|drift| drift.path.as_str()).collect()
}

#[test]
fn only_what_the_declared_side_states_is_compared() {
    let declared = json!({"spec": {"replicas": 3, "template": {"spec": {"containers": [
        {"name": "web", "image": "shop/web:1.4", "resources": {"limits": {"cpu": "500m", "memory": "1Gi"}}}
    ]}}}});
    let live = json!({"spec": {"replicas": 3, "revisionHistoryLimit": 10, "template": {"spec": {
    "dnsPolicy": "ClusterFirst",
    "containers": [
        {"name": "web", "image": "shop/web:1.4", "imagePullPolicy": "IfNotPresent",
         "resources": {"limits": {"cpu": "0.5", "memory": "1024Mi"}}}
    ]}}}});
    assert!(compare("k8s/apps/Deployment", &declared, &live, &[]).is_empty());
}

#[test]
fn a_changed_attribute_reports_both_values() {
    let declared = json!({"visibility_timeout_seconds": 30, "name": "orders"});
    let live = json!({"visibility_timeout_seconds": 45, "name": "orders"});
    let drifts = compare("aws_sqs_queue", &declared, &live, &[]);
    assert_eq!(
        drifts,
        vec![AttributeDrift {
            path: "visibility_timeout_seconds".into(),
            declared: json!(30),
            live: json!(45),
        }]
    );
}

#[test]
fn missing_live_paths_are_drift_only_where_live_objects_are_complete() {
    let declared = json!({"metadata": {"labels": {"team": "shop"}}, "arn_suffix": "x"});
    let live = json!({"metadata": {"labels": {}}});
    let kubernetes = compare("k8s/core/ConfigMap", &declared, &live, &[]);
    assert_eq!(
        paths(&kubernetes),
        vec!["arn_suffix", "metadata.labels.team"]
    );
    assert_eq!(kubernetes[1].live, Value::Null);
    // A cloud live source maps a subset of the provider's attributes: absent is not comparable.
    assert!(compare("aws_sqs_queue", &declared, &live, &[]).is_empty());
}

#[test]
fn named_lists_match_by_name_and_report_missing_elements() {
    let declared = json!({"containers": [
        {"name": "web", "image": "web:2"},
        {"name": "sidecar", "image": "envoy:1"}
    ]});
    let live = json!({"containers": [{"name": "web", "image": "web:1"}]});
    let drifts = compare("k8s/core/Pod", &declared, &live, &[]);
    assert_eq!(
        paths(&drifts),
        vec!["containers[name=web].image", "containers[name=sidecar]"]
    );
    assert_eq!(drifts[0].declared, json!("web:2"));
    assert_eq!(drifts[0].live, json!("web:1"));
}

#[test]
fn scalar_lists_compare_as_sets_and_lists_of_objects_by_position() {
    let declared = json!({"cidr_blocks": ["10.0.0.0/8", "192.168.0.0/16"], "rules": [{"port": 80}, {"port": 443}]});
    let live = json!({"cidr_blocks": ["192.168.0.0/16", "10.0.0.0/8"], "rules": [{"port": 80}, {"port": 8443}]});
    let drifts = compare("aws_security_group", &declared, &live, &[]);
    assert_eq!(paths(&drifts), vec!["rules[1].port"]);
    let shorter = json!({"cidr_blocks": ["10.0.0.0/8"]});
    assert_eq!(
        paths(&compare("aws_security_group", &declared, &shorter, &[])),
        vec!["cidr_blocks"]
    );
}

#[test]
fn spellings_of_the_same_value_are_equivalent() {
    let declared = json!({"delay_seconds": "0", "fifo_queue": "false", "role": "worker",
                          "policy": "{\"Version\":\"2012-10-17\",\"Statement\":{\"Effect\":\"Allow\",\"Action\":\"sqs:SendMessage\",\"Resource\":\"*\"}}"});
    let live = json!({"delay_seconds": 0, "fifo_queue": false, "role": "arn:aws:iam::123456789012:role/worker",
                      "policy": {"Statement": [{"Action": ["sqs:SendMessage"], "Effect": "Allow", "Resource": ["*"]}], "Version": "2012-10-17"}});
    assert!(compare("aws_sqs_queue", &declared, &live, &[]).is_empty());
    let other_role = json!({"role": "arn:aws:iam::123456789012:role/worker-2"});
    assert_eq!(
        paths(&compare(
            "aws_sqs_queue",
            &json!({"role": "worker"}),
            &other_role,
            &[]
        )),
        vec!["role"]
    );
}

#[test]
fn kubernetes_quantities_compare_by_value() {
    for (left, right) in [
        ("500m", "0.5"),
        ("1Gi", "1024Mi"),
        ("2", "2000m"),
        ("1k", "1000"),
    ] {
        assert!(
            normalize::equivalent("k8s/core/Pod", &[], &json!(left), &json!(right)),
            "{left} = {right}"
        );
    }
    assert!(!normalize::equivalent(
        "k8s/core/Pod",
        &[],
        &json!("1G"),
        &json!("1Gi")
    ));
    // Outside Kubernetes, `1k` is just text.
    assert!(!normalize::equivalent(
        "aws_instance",
        &[],
        &json!("1k"),
        &json!("1000")
    ));
}

#[test]
fn postgres_type_aliases_and_definition_spacing_are_equivalent() {
    let path = |attribute: &str| vec![attribute.to_string()];
    for (left, right) in [
        ("int4", "integer"),
        ("varchar(20)", "character varying(20)"),
        ("TIMESTAMPTZ", "timestamp with time zone"),
        ("bool", "boolean"),
        ("float8", "double precision"),
    ] {
        assert!(
            normalize::equivalent(
                "postgres/column",
                &path("type"),
                &json!(left),
                &json!(right)
            ),
            "{left} = {right}"
        );
    }
    assert!(!normalize::equivalent(
        "postgres/column",
        &path("type"),
        &json!("varchar(20)"),
        &json!("character varying(40)")
    ));
    assert!(normalize::equivalent(
        "postgres/index",
        &path("definition"),
        &json!("CREATE INDEX orders_customer_idx ON public.orders USING btree ( customer_id )"),
        &json!("CREATE INDEX orders_customer_idx ON public.orders USING btree (customer_id)")
    ));
}

#[test]
fn ignore_rules_match_kinds_and_path_globs_including_dotted_keys() {
    let declared = json!({"metadata": {"annotations": {"deployment.kubernetes.io/revision": "3", "team": "a"}},
                          "spec": {"containers": [{"name": "web", "image": "web:2", "env": [{"name": "A", "value": "1"}]}]}});
    let live = json!({"metadata": {"annotations": {"deployment.kubernetes.io/revision": "4", "team": "b"}},
                      "spec": {"containers": [{"name": "web", "image": "web:1", "env": [{"name": "A", "value": "2"}]}]}});
    let all = compare("k8s/apps/Deployment", &declared, &live, &[]);
    // The revision annotation is a built-in ignore.
    assert_eq!(
        paths(&all),
        vec![
            "metadata.annotations.team",
            "spec.containers[name=web].env[name=A].value",
            "spec.containers[name=web].image"
        ]
    );
    let rules = [
        IgnoreRule::new("k8s/*", "metadata.annotations.*"),
        IgnoreRule::new("k8s/apps/Deployment", "**.env"),
        IgnoreRule::new("aws_*", "spec"),
    ];
    assert_eq!(
        paths(&compare("k8s/apps/Deployment", &declared, &live, &rules)),
        vec!["spec.containers[name=web].image"]
    );
    let by_element = [IgnoreRule::new("k8s/*", "spec.containers[*].image")];
    assert_eq!(
        paths(&compare(
            "k8s/apps/Deployment",
            &declared,
            &live,
            &by_element
        )),
        vec![
            "metadata.annotations.team",
            "spec.containers[name=web].env[name=A].value"
        ]
    );
}

#[test]
fn redacted_values_compare_by_hash() {
    let secret = crate::canonical::redacted(&json!("hunter2"));
    let rotated = crate::canonical::redacted(&json!("hunter3"));
    let declared = json!({"data": {"password": secret.clone()}});
    assert!(compare(
        "k8s/core/Secret",
        &declared,
        &json!({"data": {"password": secret}}),
        &[]
    )
    .is_empty());
    let drifts = compare(
        "k8s/core/Secret",
        &declared,
        &json!({"data": {"password": rotated}}),
        &[],
    );
    assert_eq!(paths(&drifts), vec!["data.password"]);
}

#[test]
fn a_declared_null_or_empty_value_states_nothing() {
    let declared = json!({"tags": {}, "layers": [], "description": null, "memory_size": 128});
    let live = json!({"tags": {"owner": "x"}, "layers": ["arn:aws:lambda:::layer:a:1"], "memory_size": 128});
    assert!(compare("aws_lambda_function", &declared, &live, &[]).is_empty());
}

#[test]
fn postgres_expressions_compare_after_catalog_spellings_are_removed() {
    let path = |attribute: &str| vec![attribute.to_string()];
    for (attribute, declared, live) in [
        ("check", "price_cents >= 0", "(price_cents >= 0)"),
        ("check", "unit_cents >= 0 OR quantity = 0", "((unit_cents >= 0) OR (quantity = 0))"),
        (
            "check",
            "status IN ('pending', 'paid')",
            "((status)::text = ANY ((ARRAY['pending'::character varying, 'paid'::character varying])::text[]))",
        ),
        ("predicate", "tracking_code IS NOT NULL", "(tracking_code IS NOT NULL)"),
        (
            "definition",
            "SELECT o.id FROM orders o WHERE o.status <> 'shipped'",
            " SELECT o.id\n   FROM orders o\n  WHERE o.status::text <> 'shipped'::text;",
        ),
    ] {
        assert!(
            normalize::equivalent("postgres/constraint", &path(attribute), &json!(declared), &json!(live)),
            "{declared} = {live}"
        );
    }
    assert!(!normalize::equivalent(
        "postgres/constraint",
        &path("check"),
        &json!("price_cents >= 0"),
        &json!("(price_cents > 0)")
    ));
    // Index keys: expressions compared the same way, and order matters.
    let declared = json!({"columns": ["lower(email)", "id"]});
    assert!(compare(
        "postgres/index",
        &declared,
        &json!({"columns": ["lower(email::text)", "id"]}),
        &[]
    )
    .is_empty());
    assert_eq!(
        paths(&compare(
            "postgres/index",
            &declared,
            &json!({"columns": ["id", "lower(email::text)"]}),
            &[]
        )),
        vec!["columns"]
    );
}

#[test]
fn a_dumped_schema_and_its_catalog_spell_names_and_views_alike() {
    // pagila's dump qualifies every name (search_path is cleared); the catalog does not.
    let column = |path: &str, declared: &str, live: &str| {
        normalize::equivalent(
            "postgres/column",
            &[path.to_string()],
            &json!(declared),
            &json!(live),
        )
    };
    assert!(column("type", "public.mpaa_rating", "mpaa_rating"));
    assert!(column(
        "default",
        "nextval('public.actor_actor_id_seq'::REGCLASS)",
        "nextval('actor_actor_id_seq'::regclass)"
    ));
    assert!(column(
        "default",
        "'G'::public.mpaa_rating",
        "'G'::mpaa_rating"
    ));
    assert!(!column("type", "public.mpaa_rating", "other.mpaa_rating"));
    assert!(!column("type", "notpublic.year", "year"));
    // staff_list as the dump folds it, and as pg_get_viewdef prints it.
    let declared = "SELECT s.staff_id AS id, ((s.first_name || ' '::TEXT) || s.last_name) AS name, a.address, a.postal_code AS \"zip code\", a.phone, city.city, country.country, s.store_id AS sid FROM (((public.staff s JOIN public.address a ON ((s.address_id = a.address_id))) JOIN public.city ON ((a.city_id = city.city_id))) JOIN public.country ON ((city.country_id = country.country_id)))";
    let live = " SELECT s.staff_id AS id,\n    (s.first_name || ' '::text) || s.last_name AS name,\n    a.address,\n    a.postal_code AS \"zip code\",\n    a.phone,\n    city.city,\n    country.country,\n    s.store_id AS sid\n   FROM staff s\n     JOIN address a ON s.address_id = a.address_id\n     JOIN city ON a.city_id = city.city_id\n     JOIN country ON city.country_id = country.country_id;";
    let view = |declared: &str, live: &str| {
        normalize::equivalent(
            "postgres/view",
            &["definition".to_string()],
            &json!(declared),
            &json!(live),
        )
    };
    assert!(view(declared, live));
    assert!(!view(
        &declared.replace("s.store_id AS sid", "s.staff_id AS sid"),
        live
    ));
}
