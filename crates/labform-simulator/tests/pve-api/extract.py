#!/usr/bin/env python3
"""Writes subset.json: the part of Proxmox VE's API schema the simulator's contract tests check.

    python3 crates/labform-simulator/tests/pve-api/extract.py [APIDATA_JSON]

APIDATA_JSON is the whole schema as plain JSON (default: ../shared/pve-api/apidata.json beside
the repository), converted from pve-docs' api-viewer/apidata.js as SOURCE.md says. For the path of
every endpoint declared in crates/labform-proxmox-vocabulary/src/endpoint/, every method the schema
defines for it is copied unchanged. Run it again after declaring an endpoint on a new path; the
contract tests say which path is missing or no longer declared.
"""
import json
import pathlib
import re
import sys

HERE = pathlib.Path(__file__).resolve().parent
REPOSITORY = HERE.parents[3]
DEFAULT_SOURCE = REPOSITORY.parent / "shared" / "pve-api" / "apidata.json"

# The endpoints are declared once, in Rust (crates/labform-proxmox-vocabulary/src/endpoint/): the
# paths are read from there, `Endpoint::new(Method::..., "/path", ...)`; tests/routes_schema.rs
# checks that subset.json holds exactly these paths.
DECLARATIONS = REPOSITORY / "crates" / "labform-proxmox-vocabulary" / "src" / "endpoint"
DECLARED_PATH = re.compile(r'Endpoint::new\(\s*Method::\w+,\s*"(/[^"]*)"')


def declared_paths():
    """The paths of the declared endpoints, below /api2/json, sorted and each once."""
    paths = set()
    for module in sorted(DECLARATIONS.glob("*.rs")):
        paths.update(DECLARED_PATH.findall(module.read_text()))
    return sorted(paths)


# Where the schema comes from (see SOURCE.md).
SOURCE = {
    "description": "Proxmox VE 9.1 API schema: pve-docs api-viewer/apidata.js, plain JSON",
    "repository": "https://github.com/proxmox/pve-docs (git://git.proxmox.com/git/pve-docs.git)",
    "file": "api-viewer/apidata.js",
    "file_last_changed_commit": "a8736b6d6169ea9679ee02285ea36fdab42e85c3",
    "repository_head_commit": "e5010dcea566a205770572cfbc5fe0af220d5077",
    "pve_docs_version": "9.1.3",
}


def methods_by_path(nodes, found):
    """Fills `found` with each tree node's path and its `info` (method -> schema), depth first."""
    for node in nodes:
        found[node["path"]] = node.get("info") or {}
        methods_by_path(node.get("children") or [], found)
    return found


def main(arguments):
    source = pathlib.Path(arguments[0]) if arguments else DEFAULT_SOURCE
    schema = methods_by_path(json.loads(source.read_text()), {})
    paths = declared_paths()
    if not paths:
        print(f"no endpoint declared in {DECLARATIONS}", file=sys.stderr)
        return 1
    absent = [path for path in paths if not schema.get(path)]
    if absent:
        print(f"not in the schema {source}: {', '.join(absent)}", file=sys.stderr)
        return 1
    subset = {
        "source": SOURCE,
        "endpoints": {path: schema[path] for path in paths},
    }
    target = HERE / "subset.json"
    target.write_text(json.dumps(subset, indent=1, sort_keys=True) + "\n")
    methods = sum(len(schema[path]) for path in paths)
    print(f"wrote {target}: {len(paths)} paths, {methods} methods")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
