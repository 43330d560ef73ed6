"""Validates the manifests of a `labform render` directory, as an outside validator would.

Core Kubernetes kinds are checked by kubernetes-validate (strict: unknown fields are errors);
the custom resources labform writes are checked against the JSON Schemas in `schemas/`, written
from each project's published CRD schema (helm-controller, MetalLB, cert-manager, Gateway API,
External Secrets, Argo CD), closed where the CRD is structural so a misspelt field is an error. The Issuer schema is the
ClusterIssuer one with a namespace: cert-manager gives both kinds the same IssuerSpec.
A HelmChart's or HelmChartConfig's valuesContent must itself be a YAML mapping. Each node's
K3s config.yaml is checked against the flags of `k3s server` or `k3s agent`.

Usage: python3 validate_manifests.py KUBERNETES_VERSION RENDER_DIRECTORY
Prints one JSON object: {"documents": N, "kinds": [...], "errors": [...]}; exit 1 on errors.
"""

import glob
import json
import os
import sys

import jsonschema
import kubernetes_validate
import yaml

CORE_GROUPS = {"v1", "apps/v1", "rbac.authorization.k8s.io/v1"}
SCHEMAS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "schemas")


def custom_schema(api_version, kind):
    name = api_version.replace("/", "-") + "-" + kind + ".json"
    path = os.path.join(SCHEMAS, name)
    if not os.path.exists(path):
        return None
    with open(path) as handle:
        return json.load(handle)


def main():
    version, directory = sys.argv[1], sys.argv[2]
    documents = 0
    kinds = set()
    errors = []
    paths = sorted(glob.glob(os.path.join(directory, "clusters", "*", "[0-9][0-9]-*.yaml")))
    if not paths:
        errors.append(f"no manifests under {directory}/clusters")
    for path in paths:
        with open(path) as handle:
            try:
                loaded = [document for document in yaml.safe_load_all(handle) if document is not None]
            except yaml.YAMLError as error:
                errors.append(f"{path}: not YAML: {error}")
                continue
        for document in loaded:
            documents += 1
            api_version = document.get("apiVersion", "")
            kind = document.get("kind", "")
            where = f"{path}: {kind} {document.get('metadata', {}).get('name')}"
            kinds.add(f"{api_version}/{kind}")
            if api_version in CORE_GROUPS:
                try:
                    kubernetes_validate.validate(document, version, strict=True)
                except kubernetes_validate.ValidationError as error:
                    errors.append(f"{where}: {error.message}")
                continue
            schema = custom_schema(api_version, kind)
            if schema is None:
                errors.append(f"{where}: no schema for {api_version} {kind}")
                continue
            validator = jsonschema.Draft202012Validator(
                schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
            )
            for error in validator.iter_errors(document):
                location = "/".join(str(part) for part in error.absolute_path)
                errors.append(f"{where}: at {location or '(root)'}: {error.message}")
            if api_version == "helm.cattle.io/v1":
                content = document.get("spec", {}).get("valuesContent")
                if content is not None:
                    values = yaml.safe_load(content)
                    if not isinstance(values, dict):
                        errors.append(f"{where}: valuesContent is not a YAML mapping")
    # Each K3s node's config.yaml against the flags of its role; an agent's file says so in its
    # first comment line.
    for path in sorted(glob.glob(os.path.join(directory, "vms", "*", "config.yaml"))):
        with open(path) as handle:
            text = handle.read()
        role = "agent" if text.splitlines()[0].endswith(": an agent.") else "server"
        with open(os.path.join(SCHEMAS, f"k3s-{role}-config.json")) as handle:
            schema = json.load(handle)
        documents += 1
        kinds.add(f"k3s/{role}-config")
        validator = jsonschema.Draft202012Validator(
            schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
        )
        for error in validator.iter_errors(yaml.safe_load(text)):
            location = "/".join(str(part) for part in error.absolute_path)
            errors.append(f"{path}: K3s {role} config at {location or '(root)'}: {error.message}")
    print(json.dumps({"documents": documents, "kinds": sorted(kinds), "errors": errors}))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
