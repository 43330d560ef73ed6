#!/usr/bin/env python3
"""Writes subset.json: the part of Proxmox VE's API schema the simulator's contract tests check.

    python3 crates/labform-simulator/tests/pve-api/extract.py [APIDATA_JSON]

APIDATA_JSON is the whole schema as plain JSON (default: ../shared/pve-api/apidata.json beside
the repository), converted from pve-docs' api-viewer/apidata.js as SOURCE.md says. For every path
below, every method the schema defines for it is copied unchanged. When the simulator serves a
new path, add it to PATHS and run this again; the contract tests say which path is missing.
"""
import json
import pathlib
import sys

HERE = pathlib.Path(__file__).resolve().parent
REPOSITORY = HERE.parents[3]
DEFAULT_SOURCE = REPOSITORY.parent / "shared" / "pve-api" / "apidata.json"

# The paths of the declared endpoints (crates/labform-proxmox-vocabulary/src/endpoint/), below
# /api2/json; tests/routes_schema.rs names any that is missing here.
PATHS = [
    "/access/acl",
    "/access/permissions",
    "/access/roles",
    "/access/ticket",
    "/access/users",
    "/access/users/{userid}",
    "/access/users/{userid}/token",
    "/access/users/{userid}/token/{tokenid}",
    "/cluster/backup",
    "/cluster/backup/{id}",
    "/cluster/ha/groups",
    "/cluster/ha/groups/{group}",
    "/cluster/ha/resources",
    "/cluster/ha/resources/{sid}",
    "/cluster/ha/resources/{sid}/migrate",
    "/cluster/nextid",
    "/cluster/resources",
    "/cluster/sdn/vnets",
    "/cluster/sdn/vnets/{vnet}",
    "/cluster/sdn/zones",
    "/cluster/sdn/zones/{zone}",
    "/cluster/status",
    "/cluster/tasks",
    "/nodes",
    "/nodes/{node}/network",
    "/nodes/{node}/network/{iface}",
    "/nodes/{node}/qemu",
    "/nodes/{node}/qemu/{vmid}",
    "/nodes/{node}/qemu/{vmid}/agent/exec",
    "/nodes/{node}/qemu/{vmid}/agent/exec-status",
    "/nodes/{node}/qemu/{vmid}/agent/get-osinfo",
    "/nodes/{node}/qemu/{vmid}/agent/network-get-interfaces",
    "/nodes/{node}/qemu/{vmid}/agent/ping",
    "/nodes/{node}/qemu/{vmid}/clone",
    "/nodes/{node}/qemu/{vmid}/cloudinit",
    "/nodes/{node}/qemu/{vmid}/cloudinit/dump",
    "/nodes/{node}/qemu/{vmid}/config",
    "/nodes/{node}/qemu/{vmid}/migrate",
    "/nodes/{node}/qemu/{vmid}/pending",
    "/nodes/{node}/qemu/{vmid}/resize",
    "/nodes/{node}/qemu/{vmid}/snapshot",
    "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}",
    "/nodes/{node}/qemu/{vmid}/snapshot/{snapname}/rollback",
    "/nodes/{node}/qemu/{vmid}/status/current",
    "/nodes/{node}/qemu/{vmid}/status/reboot",
    "/nodes/{node}/qemu/{vmid}/status/shutdown",
    "/nodes/{node}/qemu/{vmid}/status/start",
    "/nodes/{node}/qemu/{vmid}/status/stop",
    "/nodes/{node}/qemu/{vmid}/template",
    "/nodes/{node}/status",
    "/nodes/{node}/storage",
    "/nodes/{node}/storage/{storage}/content",
    "/nodes/{node}/storage/{storage}/content/{volume}",
    "/nodes/{node}/storage/{storage}/download-url",
    "/nodes/{node}/storage/{storage}/status",
    "/nodes/{node}/storage/{storage}/upload",
    "/nodes/{node}/tasks",
    "/nodes/{node}/tasks/{upid}/log",
    "/nodes/{node}/tasks/{upid}/status",
    "/nodes/{node}/vzdump",
    "/pools",
    "/pools/{poolid}",
    "/storage",
    "/storage/{storage}",
    "/version",
]

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
    absent = [path for path in PATHS if not schema.get(path)]
    if absent:
        print(f"not in the schema {source}: {', '.join(absent)}", file=sys.stderr)
        return 1
    subset = {
        "source": SOURCE,
        "endpoints": {path: schema[path] for path in sorted(PATHS)},
    }
    target = HERE / "subset.json"
    target.write_text(json.dumps(subset, indent=1, sort_keys=True) + "\n")
    methods = sum(len(schema[path]) for path in PATHS)
    print(f"wrote {target}: {len(PATHS)} paths, {methods} methods")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
