#!/usr/bin/env python3
"""Benchmark: apply 100 linked clones of one template on the simulator, with its default (Proxmox-
like) clone timing and lock timeouts, through the real CLI over HTTPS.

Target (../shared/PRODUCT.md): zero failures, and at least 5x faster than parallelism 1.
Each run starts a fresh `labform sim serve` (3 nodes, time scale 1), serves the image from a
loopback HTTP server, and times `labform apply --no-wait` of a lab of 100 VMs whose disks are on
the shared `nfs` storage, so every VM is a linked clone of the same template. Also runs the naive
configuration (every clone at once on the storage, no per-storage limit) to show why the
scheduler exists. Usage: python3 bench/clones.py [VMS]
"""

import hashlib
import http.server
import os
import re
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.path.join(ROOT, "target", "release", "labform")
PASSWORD = "bench-password"
IMAGE = bytes(((i * 2654435761) >> 11) & 0xFF for i in range(1 << 20))


def serve_image():
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", str(len(IMAGE)))
            self.end_headers()
            self.wfile.write(IMAGE)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server.server_address[1]


def lab(port, fingerprint, vms):
    checksum = hashlib.sha256(IMAGE).hexdigest()
    return f"""lab: clones
proxmox:
  - name: sim
    endpoint: https://127.0.0.1:8006
    fingerprint: "{fingerprint}"
    credentials: {{password: {{user: root@pam, password: {{env: LABFORM_PVE_PASSWORD}}}}}}
    overcommit: {{cpu: 4.0}}
    nodes: [{{name: pve1, cpu: 16, memory: 64GiB}}, {{name: pve2, cpu: 16, memory: 64GiB}}, {{name: pve3, cpu: 16, memory: 64GiB}}]
    storages:
      - {{name: local, content: [iso, import], capacity: 100GiB, type: dir}}
      - {{name: nfs, content: [images, iso], capacity: 2TiB, shared: true, type: nfs}}
images:
  - {{name: debian, url: 'http://127.0.0.1:{port}/debian.qcow2', checksum: 'sha256:{checksum}'}}
defaults: {{image: debian}}
networks:
  - {{name: lan, bridge: vmbr0, cidr: 10.20.0.0/16, gateway: 10.20.0.1, pools: [{{name: nodes, purpose: nodes, range: 10.20.1.0-10.20.9.255}}]}}
vms:
  - {{name: vm, count: {vms}, cpu: 1, memory: 1GiB, network: lan, disks: [{{size: 8GiB, storage: nfs}}]}}
"""


def run(vms, concurrency, clones_per_storage):
    simulator = subprocess.Popen(
        [BINARY, "sim", "serve", "--listen", "127.0.0.1:0", "--nodes", "3", "--time-scale", "1"],
        stdout=subprocess.PIPE, text=True, env={**os.environ, "LABFORM_SIM_ROOT_PASSWORD": PASSWORD},
    )
    try:
        url = fingerprint = None
        while url is None or fingerprint is None:
            line = simulator.stdout.readline()
            if line.startswith("Proxmox VE simulator listening on "):
                url = line.split()[-1].removesuffix("/api2/json")
            if line.startswith("certificate SHA-256 fingerprint: "):
                fingerprint = line.split()[-1]
        port = serve_image()
        with tempfile.TemporaryDirectory() as directory:
            path = os.path.join(directory, "lab.yaml")
            with open(path, "w") as file:
                file.write(lab(port, fingerprint, vms))
            command = [
                BINARY, "apply", "--proxmox", url, "--fingerprint", fingerprint, "--yes", "--no-wait",
                "--concurrency", str(concurrency), "--clones-per-storage", str(clones_per_storage),
                "--journal", os.path.join(directory, "journal.sqlite"), path,
            ]
            environment = {**os.environ, "LABFORM_PVE_USER": "root@pam", "LABFORM_PVE_PASSWORD": PASSWORD}
            started = time.perf_counter()
            result = subprocess.run(command, capture_output=True, text=True, env=environment)
            elapsed = time.perf_counter() - started
            summary = [line for line in result.stderr.splitlines() if re.search(r"\] (ok|failed) in", line)]
            retries = len(re.findall(r"after \d+ attempts", result.stderr))
            failures = result.stderr.count("FAILED")
            return elapsed, result.returncode, summary[-1] if summary else result.stderr[-400:], retries, failures
    finally:
        simulator.terminate()
        simulator.wait()


def main():
    vms = int(sys.argv[1]) if len(sys.argv) > 1 else 100
    subprocess.run(["cargo", "build", "--release", "-q", "-p", "labform-cli"], cwd=ROOT, check=True)
    rows = []
    for name, concurrency, per_storage in (("scheduler (16 jobs, 4 clones per storage)", 16, 4),
                                           ("naive (100 jobs, no per-storage limit)", 100, 100),
                                           ("parallelism 1", 1, 1)):
        elapsed, code, summary, retries, failures = run(vms, concurrency, per_storage)
        rows.append((name, elapsed, code, retries, failures))
        print(f"{name:<44} {elapsed:7.1f} s  exit {code}  retried steps {retries:3}  failed steps {failures:3}  | {summary.strip()}", flush=True)
    base = rows[-1][1]
    print(f"speed-up of the scheduler over parallelism 1: {base / rows[0][1]:.1f}x (target: at least 5x, zero failures)")


if __name__ == "__main__":
    main()
