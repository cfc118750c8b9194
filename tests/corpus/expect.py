#!/usr/bin/env python3
"""Independent expectations for the real-world corpus (tests/corpus).

Groundtruth's sources are written in Rust (serde_yaml, serde_json, hcl-rs, sqlparser). This
script reads the same public files with other parsers (PyYAML, Python's json, python-hcl2,
and PostgreSQL itself for SQL schemas) and writes, per source type, what each input must
give: every (kind, id), a few key attributes (exact values at JSON pointers, and the key sets
of objects), and the JSON pointers that must be redaction markers. tests/tests/integration/corpus.rs
compares Groundtruth's resources with these files exactly.

The identity rules applied here are the documented ones (README "Real-world inputs" and each
source's module header); they are re-implemented, not imported.

Usage (the test virtualenv has every package, `bash tests/scripts/test_venv.sh`, but the SAM
translator: `pip install aws-sam-translator PyYAML python-hcl2 'psycopg[binary]'` in a venv of
your own works too):
    python expect.py [--pg postgres://postgres@127.0.0.1:PORT/postgres]
Without --pg the SQL expectations are left as they are (they need a PostgreSQL server).
"""

import argparse
import json
import os
import re
import sys

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
EXPECTED = os.path.join(HERE, "expected")


def rel(path):
    return os.path.relpath(path, HERE)


def files_under(path, extensions):
    if os.path.isfile(path):
        return [path]
    found = []
    for root, _dirs, names in os.walk(path):
        for name in names:
            if name.lower().endswith(tuple(extensions)):
                found.append(os.path.join(root, name))
    return sorted(found)


def pointer(*parts):
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in parts)


class Expectation:
    """What one input must give."""

    def __init__(self, source_type, path, options=None):
        self.source_type = source_type
        self.path = path
        self.options = options or {}
        self.resources = {}
        self.redacted = set()

    def add(self, kind, id_, name=None):
        key = (kind, id_)
        if key in self.resources:
            return None
        entry = {"kind": kind, "id": id_, "values": {}, "keys": {}}
        if name is not None:
            entry["name"] = name
        self.resources[key] = entry
        return entry

    def to_json(self):
        counts = {}
        for kind, _ in self.resources:
            counts[kind] = counts.get(kind, 0) + 1
        return {
            "source_type": self.source_type,
            "path": rel(self.path),
            "options": self.options,
            "counts": dict(sorted(counts.items())),
            "resources": [self.resources[key] for key in sorted(self.resources)],
            "redacted": sorted(self.redacted),
        }


# ---------------------------------------------------------------- Kubernetes

CLUSTER_SCOPED = {
    "APIService", "CSIDriver", "CSINode", "CertificateSigningRequest", "ClusterIssuer",
    "ClusterRole", "ClusterRoleBinding", "ComponentStatus", "CustomResourceDefinition",
    "FlowSchema", "IngressClass", "MutatingWebhookConfiguration", "Namespace", "Node",
    "PersistentVolume", "PodSecurityPolicy", "PriorityClass", "PriorityLevelConfiguration",
    "RuntimeClass", "StorageClass", "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding", "ValidatingWebhookConfiguration", "VolumeAttachment",
}
POD_TEMPLATE_KINDS = {
    "Deployment", "ReplicaSet", "ReplicationController", "StatefulSet", "DaemonSet", "Job",
    "PodTemplate",
}


def k8s_objects(path):
    for file in files_under(path, (".yaml", ".yml", ".json")):
        if os.path.basename(file).lower() in ("kustomization.yaml", "kustomization.yml"):
            continue
        with open(file) as handle:
            for document in yaml.safe_load_all(handle):
                if document is None:
                    continue
                if str(document.get("kind", "")).endswith("List") and "items" in document:
                    yield from document["items"]
                else:
                    yield document


def k8s_pod_spec(kind, obj, base):
    spec = obj.get("spec") or {}
    if kind == "Pod":
        return spec, base + ["spec"]
    if kind == "CronJob":
        template = ((spec.get("jobTemplate") or {}).get("spec") or {}).get("template") or {}
        return template.get("spec"), base + ["spec", "jobTemplate", "spec", "template", "spec"]
    if kind in POD_TEMPLATE_KINDS:
        if kind == "PodTemplate":
            return (obj.get("template") or {}).get("spec"), base + ["template", "spec"]
        return (spec.get("template") or {}).get("spec"), base + ["spec", "template", "spec"]
    return None, None


def expect_kubernetes(path):
    expectation = Expectation("kubernetes_manifests", path)
    objects = list(k8s_objects(path))
    # A CustomResourceDefinition in the same input says whether its kind is cluster-scoped.
    crd_scope = {}
    for obj in objects:
        if obj.get("kind") == "CustomResourceDefinition":
            spec = obj.get("spec") or {}
            crd_scope[(spec.get("group"), (spec.get("names") or {}).get("kind"))] = (
                spec.get("scope") == "Cluster"
            )
    for obj in objects:
        api_version, kind = obj["apiVersion"], obj["kind"]
        group = api_version.split("/")[0] if "/" in api_version else "core"
        metadata = obj.get("metadata") or {}
        name = metadata["name"]
        cluster = crd_scope.get((group, kind), kind in CLUSTER_SCOPED)
        id_ = name if cluster else f"{metadata.get('namespace') or 'default'}/{name}"
        entry = expectation.add(f"k8s/{group}/{kind}", id_, name)
        if entry is None:
            continue
        full_kind = f"k8s/{group}/{kind}"
        spec = obj.get("spec")
        if isinstance(spec, dict):
            entry["keys"]["/spec"] = sorted(spec)
            for field in ("replicas", "type", "serviceAccountName"):
                if isinstance(spec.get(field), (str, int)) and not isinstance(spec.get(field), bool):
                    entry["values"][pointer("spec", field)] = spec[field]
        if metadata.get("labels"):
            entry["keys"]["/metadata/labels"] = sorted(metadata["labels"])
        if kind == "Secret":
            for section in ("data", "stringData"):
                for key in obj.get(section) or {}:
                    expectation.redacted.add(f"{full_kind} {id_} {pointer(section, key)}")
        pod, base = k8s_pod_spec(kind, obj, [])
        if isinstance(pod, dict):
            for list_name in ("initContainers", "containers", "ephemeralContainers"):
                for index, container in enumerate(pod.get(list_name) or []):
                    where = base + [list_name, index]
                    entry["values"][pointer(*where, "image")] = container.get("image")
                    for env_index, env in enumerate(container.get("env") or []):
                        if "value" in env:
                            expectation.redacted.add(
                                f"{full_kind} {id_} {pointer(*where, 'env', env_index, 'value')}"
                            )
    return expectation


# ---------------------------------------------------------------- CloudFormation

def cfn_loader():
    """PyYAML with every short-form intrinsic read as its long form."""

    class Loader(yaml.SafeLoader):
        pass

    def construct(tag):
        def build(loader, node):
            if isinstance(node, yaml.ScalarNode):
                value = loader.construct_scalar(node)
                if tag == "GetAtt":
                    value = value.split(".", 1)
            elif isinstance(node, yaml.SequenceNode):
                value = loader.construct_sequence(node, deep=True)
            else:
                value = loader.construct_mapping(node, deep=True)
            return {"Ref" if tag == "Ref" else ("Condition" if tag == "Condition" else f"Fn::{tag}"): value}

        return build

    for tag in ("Ref", "Sub", "GetAtt", "Join", "Select", "FindInMap", "GetAZs", "If", "Equals",
                "Base64", "Split", "Or", "Not", "And", "Cidr", "ImportValue", "Condition",
                "Transform", "Length", "ToJsonString", "Contains", "EachMemberEquals",
                "EachMemberIn", "RefAll", "ValueOf", "ValueOfAll"):
        Loader.add_constructor(f"!{tag}", construct(tag))
    # Timestamps stay strings (AWSTemplateFormatVersion: 2010-09-09), and booleans are YAML
    # 1.2's true/false only: `Default: Yes` is the string "Yes", as Groundtruth documents.
    Loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers
                if tag not in ("tag:yaml.org,2002:timestamp", "tag:yaml.org,2002:bool")]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    Loader.add_implicit_resolver(
        "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
        list("tTfF"))
    return Loader


CFN_LOADER = cfn_loader()


def cfn_secret_name(name):
    lower = name.lower()
    if lower.endswith(("arn", "arns", "id", "ids", "name", "names")):
        return False
    return any(word in lower for word in (
        "password", "secret", "token", "privatekey", "passphrase", "apikey", "credential"))


def cfn_is_reference(value):
    if isinstance(value, str):
        return value.lstrip().startswith("{{resolve:")
    if isinstance(value, dict):
        return len(value) == 1 and any(k in value for k in ("Ref", "Fn::GetAtt", "Fn::ImportValue"))
    return False


SAM_TRANSFORM = "AWS::Serverless-2016-10-31"


def sam_translate(template):
    """The template as CloudFormation deploys it: AWS's own SAM translator (PyPI
    aws-sam-translator), run offline. A local `CodeUri` (a template before `sam package`) is
    given an S3 location first, as `sam package` would, since the translator needs one; the
    managed policy names resolve through the translator's bundled map."""
    import copy

    from samtranslator.translator.transform import transform

    class OfflinePolicies:
        def load(self):
            return {}

    template = copy.deepcopy(template)
    for resource in (template.get("Resources") or {}).values():
        if resource.get("Type") != "AWS::Serverless::Function":
            continue
        properties = resource.setdefault("Properties", {})
        uri = properties.get("CodeUri")
        if isinstance(uri, str) and not uri.startswith("s3://"):
            properties["CodeUri"] = "s3://sam-package/" + uri.strip("./")
    os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
    return transform(template, {}, OfflinePolicies())


def uses_sam(template):
    transform = template.get("Transform")
    return transform == SAM_TRANSFORM or (isinstance(transform, list) and SAM_TRANSFORM in transform)


def expect_cloudformation(path):
    expectation = Expectation("cloudformation", path)
    for file in files_under(path, (".yaml", ".yml", ".json", ".template")):
        with open(file) as handle:
            text = handle.read()
        template = json.loads(text) if text.lstrip().startswith("{") else yaml.load(text, CFN_LOADER)
        # With the SAM transform the resources are the translator's; everything else (stack
        # sections, parameters, outputs) is the template's own.
        resources = (sam_translate(template) if uses_sam(template) else template).get("Resources") or {}
        stack = os.path.splitext(os.path.basename(file))[0]
        parameters = template.get("Parameters") or {}

        def hidden(name, parameter):
            return str(parameter.get("NoEcho", "")).lower() == "true" or cfn_secret_name(name)

        secret_parameters = {n for n, p in parameters.items() if hidden(n, p) and "Default" in p
                             and not isinstance(p["Default"], (dict, list))}
        defaults = {n: p["Default"] for n, p in parameters.items()
                    if "Default" in p and not isinstance(p["Default"], (dict, list))}

        def walk_secrets(kind, id_, value, where, names=True):
            """Pointers that must be redacted: secret-named keys holding a literal, and
            references to a secret parameter's default wherever they sit."""
            if isinstance(value, dict):
                if len(value) == 1 and isinstance(value.get("Ref"), str) \
                        and value["Ref"] in secret_parameters:
                    expectation.redacted.add(f"{kind} {id_} {pointer(*where)}")
                    return
                for key, item in value.items():
                    if names and cfn_secret_name(key) and item is not None and not cfn_is_reference(item):
                        is_default_ref = (isinstance(item, dict) and len(item) == 1
                                          and isinstance(item.get("Ref"), str)
                                          and item["Ref"] in defaults)
                        if not is_default_ref:
                            expectation.redacted.add(f"{kind} {id_} {pointer(*where, key)}")
                            continue
                    walk_secrets(kind, id_, item, where + [key], names)
            elif isinstance(value, list):
                for index, item in enumerate(value):
                    walk_secrets(kind, id_, item, where + [index], names)

        for logical_id, resource in resources.items():
            kind = resource["Type"]
            id_ = f"{stack}/{logical_id}"
            entry = expectation.add(kind, id_, logical_id)
            properties = resource.get("Properties") or {}
            entry["keys"]["/Properties"] = sorted(properties)
            entry["values"]["/DependsOn"] = (
                [resource["DependsOn"]] if isinstance(resource.get("DependsOn"), str)
                else resource.get("DependsOn", []))
            for attribute in ("Condition", "DeletionPolicy", "UpdateReplacePolicy"):
                if attribute in resource:
                    entry["values"]["/" + attribute] = resource[attribute]
            if "Metadata" in resource:
                entry["keys"]["/Metadata"] = sorted(resource["Metadata"])
                walk_secrets(kind, id_, resource["Metadata"], ["Metadata"])
            walk_secrets(kind, id_, properties, ["Properties"])
            if kind in ("AWS::Lambda::Function", "AWS::Serverless::Function"):
                variables = (properties.get("Environment") or {}).get("Variables") or {}
                for name, value in variables.items():
                    # A reference stays a reference unless it resolves to a literal default.
                    resolves = (isinstance(value, dict) and len(value) == 1
                                and isinstance(value.get("Ref"), str) and value["Ref"] in defaults)
                    if value is not None and (resolves or not cfn_is_reference(value)):
                        expectation.redacted.add(
                            f"{kind} {id_} {pointer('Properties', 'Environment', 'Variables', name)}")
        for name, parameter in parameters.items():
            id_ = f"{stack}/{name}"
            entry = expectation.add("cloudformation_parameter", id_, name)
            entry["values"]["/Type"] = parameter.get("Type")
            if name in secret_parameters:
                expectation.redacted.add(f"cloudformation_parameter {id_} /Default")
            elif "Default" in parameter and not isinstance(parameter["Default"], (dict, list)):
                entry["values"]["/Default"] = parameter["Default"]
        for name, output in (template.get("Outputs") or {}).items():
            id_ = f"{stack}/{name}"
            entry = expectation.add("cloudformation_output", id_, name)
            entry["keys"][""] = sorted(output)
            # Outputs only resolve parameter defaults; no secret-name rule applies to them.
            walk_secrets("cloudformation_output", id_, output, [], names=False)
        entry = expectation.add("cloudformation_stack", stack, stack)
        for section in ("AWSTemplateFormatVersion", "Description", "Transform"):
            if section in template:
                entry["values"]["/" + section] = template[section]
        for section in ("Conditions", "Mappings"):
            if section in template:
                entry["keys"]["/" + section] = sorted(template[section])
    return expectation


# ---------------------------------------------------------------- Compose

COMPOSE_FILE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yaml", "docker-compose.yml")


def expect_compose(path):
    expectation = Expectation("compose", path)
    if os.path.isfile(path):
        files = [path]
    else:
        files = [f for f in files_under(path, (".yaml", ".yml"))
                 if os.path.basename(f) in COMPOSE_FILE_NAMES]
    for file in files:
        with open(file) as handle:
            document = yaml.safe_load(handle)
        project = document.get("name") or "default"
        for name, service in (document.get("services") or {}).items():
            id_ = f"{project}/{name}"
            entry = expectation.add("compose/service", id_, name)
            if entry is None:
                continue
            service = service or {}
            if "image" in service:
                entry["values"]["/image"] = service["image"]
            environment = service.get("environment")
            if isinstance(environment, list):
                environment = dict(
                    (item.split("=", 1) + [None])[:2] for item in environment)
            for key, value in (environment or {}).items():
                if value is not None:
                    expectation.redacted.add(f"compose/service {id_} {pointer('environment', key)}")
            build = service.get("build")
            if isinstance(build, dict):
                args = build.get("args")
                if isinstance(args, list):
                    args = dict((item.split("=", 1) + [None])[:2] for item in args)
                for key, value in (args or {}).items():
                    if value is not None:
                        expectation.redacted.add(
                            f"compose/service {id_} {pointer('build', 'args', key)}")
            ports = service.get("ports") or []
            if ports:
                targets = []
                for port in ports:
                    if isinstance(port, dict):
                        targets.append(int(port["target"]))
                    else:
                        text = str(port).split("/")[0]
                        targets.append(int(text.rsplit(":", 1)[-1].split("-")[0]))
                for index, target in enumerate(targets):
                    entry["values"][pointer("ports", index, "target")] = target
            depends = service.get("depends_on")
            if depends:
                entry["keys"]["/depends_on"] = sorted(depends)
        for section, kind in (("networks", "compose/network"), ("volumes", "compose/volume"),
                              ("secrets", "compose/secret"), ("configs", "compose/config")):
            for name, body in (document.get(section) or {}).items():
                id_ = f"{project}/{name}"
                expectation.add(kind, id_, name)
                if isinstance(body, dict) and "content" in body:
                    expectation.redacted.add(f"{kind} {id_} /content")
    return expectation


# ---------------------------------------------------------------- flagd

def expect_flagd(path):
    expectation = Expectation("flagd", path)
    for file in files_under(path, (".json", ".yaml", ".yml")):
        with open(file) as handle:
            document = json.load(handle) if file.endswith(".json") else yaml.safe_load(handle)
        for key, flag in document["flags"].items():
            entry = expectation.add("flagd/flag", key, key)
            if entry is None:
                continue
            entry["values"]["/state"] = flag.get("state")
            entry["values"]["/defaultVariant"] = flag.get("defaultVariant")
            entry["keys"]["/variants"] = sorted(flag.get("variants") or {})
    return expectation


# ---------------------------------------------------------------- Terraform HCL

SECRET_WORDS = ("password", "secret", "token", "private_key")


def hcl_unquote(text):
    return text[1:-1] if len(text) >= 2 and text[0] == '"' and text[-1] == '"' else text


def tf_json_as_hcl2(document):
    """Terraform's JSON syntax in python-hcl2's shape: a list of {label: {label: body}} per
    block type (resource and data have two labels; module, variable, output, provider one;
    locals none). A list of bodies under one label is several blocks."""
    def bodies(value):
        return value if isinstance(value, list) else [value]

    def clean(body):
        return {k: v for k, v in body.items() if k != "//"}

    out = {}
    for block_type, value in document.items():
        if block_type == "//":
            continue
        if block_type in ("resource", "data"):
            for type_, named in clean(value).items():
                for name, body in clean(named).items():
                    for one in bodies(body):
                        out.setdefault(block_type, []).append({type_: {name: clean(one)}})
        elif block_type in ("module", "variable", "output", "provider"):
            for name, body in clean(value).items():
                for one in bodies(body):
                    out.setdefault(block_type, []).append({name: clean(one)})
        elif block_type == "locals":
            for one in bodies(value):
                out.setdefault("locals", []).append(clean(one))
    return out


def expect_terraform_hcl(path):
    expectation = Expectation("terraform_hcl", path)
    hcl_module(expectation, path, "", 0)
    return expectation


def hcl_module(expectation, path, prefix, depth):
    """One module directory (or file); local module calls are followed with their address
    prefix, as Terraform names their contents (module.<name>.<type>.<name>)."""
    import hcl2  # python-hcl2

    files = [path] if os.path.isfile(path) else sorted(
        os.path.join(path, f) for f in os.listdir(path) if f.endswith((".tf", ".tf.json")))
    calls = []

    def add(kind, id_):
        return expectation.add(kind, prefix + id_)

    def redact(kind, id_, at):
        expectation.redacted.add(f"{kind} {prefix}{id_} {at}")

    for file in files:
        with open(file) as handle:
            if file.endswith(".tf.json"):
                document = tf_json_as_hcl2(json.load(handle))
            else:
                document = hcl2.load(handle)

        def body_keys(body):
            return sorted(k for k in body if not k.startswith("__"))

        for block in document.get("resource", []):
            for type_, named in block.items():
                for name, body in named.items():
                    type_, name = hcl_unquote(type_), hcl_unquote(name)
                    entry = add(type_, f"{type_}.{name}")
                    entry["keys"][""] = body_keys(body)
        for block in document.get("data", []):
            for type_, named in block.items():
                for name, body in named.items():
                    type_, name = hcl_unquote(type_), hcl_unquote(name)
                    entry = add(f"data.{type_}", f"data.{type_}.{name}")
                    entry["keys"][""] = body_keys(body)
        for block in document.get("module", []):
            for name, body in block.items():
                name = hcl_unquote(name)
                entry = add("terraform_module", f"module.{name}")
                entry["keys"][""] = body_keys(body)
                source = body.get("source")
                if isinstance(source, str) and "${" not in source:
                    source = hcl_unquote(source)
                    entry["values"]["/source"] = source
                    if source.startswith(("./", "../")):
                        calls.append((name, source))
        for block in document.get("variable", []):
            for name, body in block.items():
                name = hcl_unquote(name)
                entry = add("terraform_variable", f"var.{name}")
                entry["keys"][""] = body_keys(body)
                sensitive = body.get("sensitive") is True
                if "default" in body and (sensitive or any(w in name.lower() for w in SECRET_WORDS)):
                    redact("terraform_variable", f"var.{name}", "/default")
        for block in document.get("output", []):
            for name, body in block.items():
                entry = add("terraform_output", f"output.{hcl_unquote(name)}")
                entry["keys"][""] = body_keys(body)
        for block in document.get("locals", []):
            for name in body_keys(block):
                add("terraform_local", f"local.{name}")
        for block in document.get("provider", []):
            for name, body in block.items():
                name = hcl_unquote(name)
                alias = body.get("alias")
                id_ = f"provider.{name}" + (f".{hcl_unquote(alias)}" if alias else "")
                add("terraform_provider", id_)
    directory = path if os.path.isdir(path) else os.path.dirname(path)
    for name, source in calls:
        target = os.path.normpath(os.path.join(directory, source))
        if depth < 16 and os.path.isdir(target):
            hcl_module(expectation, target, f"{prefix}module.{name}.", depth + 1)


# ---------------------------------------------------------------- Terraform state and plan

def tf_index(key):
    if key is None:
        return ""
    if isinstance(key, int):
        return f"[{key}]"
    return "[" + json.dumps(key) + "]"


def sensitive_pointers(mask, where=()):
    """Pointers a sensitive_values / *_sensitive mask marks true."""
    if mask is True:
        yield pointer(*where)
    elif isinstance(mask, dict):
        for key, item in mask.items():
            yield from sensitive_pointers(item, where + (key,))
    elif isinstance(mask, list):
        for index, item in enumerate(mask):
            yield from sensitive_pointers(item, where + (index,))


def attribute_path_pointer(steps):
    parts = []
    for step in steps:
        if step.get("type") == "get_attr":
            parts.append(step["value"])
        else:
            parts.append(step["value"])
    return pointer(*parts)


def module_resources(module):
    yield from module.get("resources", [])
    for child in module.get("child_modules", []):
        yield from module_resources(child)


def expect_terraform_state(path):
    expectation = Expectation("terraform_state", path)
    with open(path) as handle:
        state = json.load(handle)
    if "values" in state or "format_version" in state:
        values = state.get("values") or {}
        for resource in module_resources(values.get("root_module") or {}):
            kind = resource["type"] if resource["mode"] == "managed" else f"data.{resource['type']}"
            id_ = resource["address"]
            entry = expectation.add(kind, id_)
            entry["keys"][""] = sorted(resource.get("values") or {})
            for where in sensitive_pointers(resource.get("sensitive_values") or {}):
                expectation.redacted.add(f"{kind} {id_} {where}")
        for name, output in (values.get("outputs") or {}).items():
            entry = expectation.add("terraform_output", f"output.{name}")
            if output.get("sensitive"):
                expectation.redacted.add(f"terraform_output output.{name} /value")
        return expectation
    for resource in state.get("resources", []):
        module = resource.get("module")
        prefix = f"{module}." if module else ""
        data = resource.get("mode") == "data"
        kind = f"data.{resource['type']}" if data else resource["type"]
        for instance in resource.get("instances", []):
            id_ = (f"{prefix}{'data.' if data else ''}{resource['type']}.{resource['name']}"
                   f"{tf_index(instance.get('index_key'))}")
            entry = expectation.add(kind, id_)
            attributes = instance.get("attributes")
            if attributes is None and "attributes_flat" in instance:
                attributes = None
            if attributes is not None:
                entry["keys"][""] = sorted(attributes)
            for steps in instance.get("sensitive_attributes") or []:
                expectation.redacted.add(f"{kind} {id_} {attribute_path_pointer(steps)}")
    for name, output in (state.get("outputs") or {}).items():
        expectation.add("terraform_output", f"output.{name}")
        if output.get("sensitive"):
            expectation.redacted.add(f"terraform_output output.{name} /value")
    return expectation


def expect_terraform_plan(path):
    expectation = Expectation("terraform_plan", path)
    with open(path) as handle:
        plan = json.load(handle)
    unknown = {}
    for change in plan.get("resource_changes", []):
        after_unknown = change["change"].get("after_unknown")
        if isinstance(after_unknown, dict):
            # Values only known after apply are recorded as "(known after apply)".
            unknown[change["address"]] = [k for k, v in after_unknown.items() if v is True]
    planned = (plan.get("planned_values") or {}).get("root_module") or {}
    for resource in module_resources(planned):
        kind = resource["type"] if resource["mode"] == "managed" else f"data.{resource['type']}"
        id_ = resource["address"]
        entry = expectation.add(kind, id_)
        entry["keys"][""] = sorted(set(resource.get("values") or {}) | set(unknown.get(id_, [])))
        for where in sensitive_pointers(resource.get("sensitive_values") or {}):
            expectation.redacted.add(f"{kind} {id_} {where}")
    for drift in plan.get("resource_drift", []):
        entry = expectation.add("terraform_drift", drift["address"])
        entry["keys"][""] = ["actions", "after", "before", "changed_paths"]
    for name, output in ((plan.get("planned_values") or {}).get("outputs") or {}).items():
        expectation.add("terraform_output", f"output.{name}")
        if output.get("sensitive"):
            expectation.redacted.add(f"terraform_output output.{name} /value")
    return expectation


# ---------------------------------------------------------------- SQL (PostgreSQL itself)

def expect_sql(path, dsn):
    """Load the migrations into a scratch database and read back what PostgreSQL made."""
    import psycopg

    database = "corpus_" + re.sub(r"[^a-z0-9]", "_", os.path.basename(path).lower())
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {database}")
        admin.execute(f"CREATE DATABASE {database}")
    target = re.sub(r"/[^/]*$", "/" + database, dsn)
    # Flat files, or one directory per migration (Prisma's `<timestamp>_<name>/migration.sql`),
    # both applied in the order of their paths.
    files = sorted(
        os.path.relpath(os.path.join(root, f), path)
        for root, _, names in os.walk(path) for f in names if f.endswith(".sql"))
    with psycopg.connect(target, autocommit=True) as connection:
        for file in files:
            with open(os.path.join(path, file)) as handle:
                connection.execute(handle.read())
        expectation = Expectation("sql_migrations", path)
        user_schemas = "n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')"
        rows = connection.execute(
            f"SELECT nspname FROM pg_namespace n WHERE {user_schemas} "
            "AND nspname NOT LIKE 'pg_temp%' AND nspname NOT LIKE 'pg_toast_temp%'").fetchall()
        for (schema,) in rows:
            expectation.add("postgres/schema", schema)
        for schema, table, kind in connection.execute(
                f"SELECT n.nspname, c.relname, c.relkind FROM pg_class c "
                f"JOIN pg_namespace n ON n.oid = c.relnamespace "
                f"WHERE c.relkind IN ('r', 'p') AND {user_schemas}").fetchall():
            expectation.add("postgres/table", f"{schema}.{table}")
        for schema, table, column, type_, notnull in connection.execute(
                f"SELECT n.nspname, c.relname, a.attname, format_type(a.atttypid, a.atttypmod), "
                f"a.attnotnull FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid "
                f"JOIN pg_namespace n ON n.oid = c.relnamespace "
                f"WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'p') "
                f"AND {user_schemas}").fetchall():
            entry = expectation.add("postgres/column", f"{schema}.{table}.{column}")
            entry["values"]["/type"] = type_
            entry["values"]["/not_null"] = notnull
        for schema, table, name in connection.execute(
                f"SELECT n.nspname, t.relname, con.conname FROM pg_constraint con "
                f"JOIN pg_class t ON t.oid = con.conrelid "
                f"JOIN pg_namespace n ON n.oid = t.relnamespace "
                f"WHERE con.contype IN ('p', 'u', 'f', 'c', 'x') AND {user_schemas}").fetchall():
            expectation.add("postgres/constraint", f"{schema}.{table}.{name}")
        for schema, name, unique in connection.execute(
                f"SELECT n.nspname, ic.relname, i.indisunique FROM pg_index i "
                f"JOIN pg_class ic ON ic.oid = i.indexrelid "
                f"JOIN pg_namespace n ON n.oid = ic.relnamespace WHERE {user_schemas}").fetchall():
            entry = expectation.add("postgres/index", f"{schema}.{name}")
            entry["values"]["/unique"] = unique
        for schema, name in connection.execute(
                f"SELECT n.nspname, c.relname FROM pg_class c "
                f"JOIN pg_namespace n ON n.oid = c.relnamespace "
                f"WHERE c.relkind IN ('v', 'm') AND {user_schemas}").fetchall():
            expectation.add("postgres/view", f"{schema}.{name}")
        for schema, name in connection.execute(
                f"SELECT n.nspname, c.relname FROM pg_sequence s "
                f"JOIN pg_class c ON c.oid = s.seqrelid "
                f"JOIN pg_namespace n ON n.oid = c.relnamespace WHERE {user_schemas}").fetchall():
            expectation.add("postgres/sequence", f"{schema}.{name}")
        for (name,) in connection.execute("SELECT extname FROM pg_extension").fetchall():
            expectation.add("postgres/extension", name)
        # Enum and stand-alone composite types; not the implicit ones (row types of tables,
        # views and sequences, array types) nor those an extension owns.
        not_from_extension = (
            "NOT EXISTS (SELECT 1 FROM pg_depend d WHERE d.classid = 'pg_type'::regclass "
            "AND d.objid = t.oid AND d.deptype = 'e')")
        for schema, name, typtype, labels, attributes in connection.execute(
                f"SELECT n.nspname, t.typname, t.typtype::text, "
                f"ARRAY(SELECT e.enumlabel::text FROM pg_enum e WHERE e.enumtypid = t.oid "
                f"ORDER BY e.enumsortorder), "
                f"ARRAY(SELECT a.attname::text FROM pg_attribute a WHERE a.attrelid = t.typrelid "
                f"AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum) "
                f"FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
                f"LEFT JOIN pg_class c ON c.oid = t.typrelid "
                f"WHERE (t.typtype = 'e' OR (t.typtype = 'c' AND c.relkind = 'c')) "
                f"AND {user_schemas} AND {not_from_extension}").fetchall():
            entry = expectation.add("postgres/type", f"{schema}.{name}")
            if typtype == "e":
                entry["values"]["/category"] = "enum"
                entry["values"]["/labels"] = labels
            else:
                entry["values"]["/category"] = "composite"
                entry["values"]["/attributes"] = attributes
        for schema, name, not_null, constraints in connection.execute(
                f"SELECT n.nspname, t.typname, t.typnotnull, "
                f"ARRAY(SELECT con.conname::text FROM pg_constraint con "
                f"WHERE con.contypid = t.oid AND con.contype = 'c' ORDER BY con.conname) "
                f"FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
                f"WHERE t.typtype = 'd' AND {user_schemas} AND {not_from_extension}").fetchall():
            entry = expectation.add("postgres/domain", f"{schema}.{name}")
            entry["values"]["/not_null"] = not_null
            entry["values"]["/constraints"] = constraints
    with psycopg.connect(dsn, autocommit=True) as admin:
        admin.execute(f"DROP DATABASE IF EXISTS {database}")
    return expectation


# ---------------------------------------------------------------- inputs

def inputs():
    """(source type, path) of every corpus input, in a stable order."""
    def each(directory, predicate=lambda _: True):
        base = os.path.join(HERE, directory)
        return [os.path.join(base, name) for name in sorted(os.listdir(base)) if predicate(name)]

    found = []
    k8s = [p for d in ("kubernetes/manifests",) for p in each(d)]
    found += [("kubernetes_manifests", p) for p in k8s]
    found += [("kubernetes_manifests", os.path.join(HERE, d))
              for d in ("kubernetes/kustomize-base", "kubernetes/istio")]
    found += [("cloudformation", p) for p in each("cloudformation/yaml") + each("cloudformation/json")
              + each("cloudformation/sam")]
    found += [("compose", p) for p in each("compose")]
    found += [("flagd", p) for p in each("flagd")]
    found += [("terraform_hcl", os.path.join(HERE, "terraform_hcl/s3-bucket"))]
    found += [("terraform_hcl", p) for p in each("terraform_hcl/s3-bucket/modules")
              + each("terraform_hcl/s3-bucket/examples")]
    found += [("terraform_hcl", p) for p in each("terraform_hcl", lambda n: n.startswith("json-"))]
    found += [("terraform_state", p) for p in each("terraform_state")]
    found += [("terraform_plan", p) for p in each("terraform_plan")]
    found += [("sql_migrations", p) for p in each("sql_migrations")]
    return found


EXPECTERS = {
    "kubernetes_manifests": expect_kubernetes,
    "cloudformation": expect_cloudformation,
    "compose": expect_compose,
    "flagd": expect_flagd,
    "terraform_hcl": expect_terraform_hcl,
    "terraform_state": expect_terraform_state,
    "terraform_plan": expect_terraform_plan,
}


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pg", help="PostgreSQL URL for the SQL expectations")
    arguments = parser.parse_args()
    by_type = {}
    for source_type, path in inputs():
        if source_type == "sql_migrations":
            if not arguments.pg:
                continue
            expectation = expect_sql(path, arguments.pg)
        else:
            expectation = EXPECTERS[source_type](path)
        by_type.setdefault(source_type, []).append(expectation.to_json())
    os.makedirs(EXPECTED, exist_ok=True)
    for source_type, expectations in sorted(by_type.items()):
        with open(os.path.join(EXPECTED, f"{source_type}.json"), "w") as handle:
            json.dump({"inputs": expectations}, handle, indent=1, sort_keys=True)
            handle.write("\n")
        print(f"{source_type}: {len(expectations)} inputs", file=sys.stderr)


if __name__ == "__main__":
    main()
