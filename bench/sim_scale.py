#!/usr/bin/env python3
"""Benchmark: `labform sim serve --state DIR` holding 1,000 VMs.

Issue 13's target: the simulator with 1,000 VMs answers discovery and config reads (requests per
second, memory) and restarts from its state directory in under a few seconds.

Starts `labform sim serve` (3 nodes, time scale 0, a fresh state directory), logs in as root@pam
over HTTPS (the certificate checked against the fingerprint the simulator prints, then trusted as
the only CA), creates VMS VMs spread over the nodes (each with a name, tags, a description,
1 vCPU, 1 GiB of memory, a 1 GiB disk on local-lvm and a NIC, as labform makes them), then measures:

- discovery: `GET /cluster/resources?type=vm` (every VM, one call), sequentially;
- config reads: `GET /nodes/{node}/qemu/{vmid}/config` for every VM, THREADS clients at once;
- memory: the simulator's resident set (VmRSS) and its peak (VmHWM) from /proc;
- the state file's size;
- restart: SIGKILL, then a new `sim serve` on the same directory: seconds until it prints its
  address, and until `/cluster/resources` lists every VM again.

Usage: python3 bench/sim_scale.py [VMS] [--binary PATH] (default: target/release/labform, which
the script builds first; pass --binary target/debug/labform to measure a debug build).
"""

import hashlib
import http.client
import json
import os
import signal
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PASSWORD = "bench-password"
THREADS = 8
NODES = 3
STARTED = []  # every simulator started, killed at exit


class Simulator:
    """A running `labform sim serve` and a way to call it."""

    def __init__(self, binary, state):
        started = time.perf_counter()
        self.process = subprocess.Popen(
            [binary, "sim", "serve", "--listen", "127.0.0.1:0", "--nodes", str(NODES),
             "--time-scale", "0", "--state", state],
            stdout=subprocess.PIPE, text=True,
            env={**os.environ, "LABFORM_SIM_ROOT_PASSWORD": PASSWORD},
        )
        STARTED.append(self.process)
        url = fingerprint = None
        while url is None or fingerprint is None:
            line = self.process.stdout.readline()
            if not line:
                raise SystemExit("the simulator ended before printing its address")
            if line.startswith("Proxmox VE simulator listening on "):
                url = line.split()[-1]
            if line.startswith("certificate SHA-256 fingerprint: "):
                fingerprint = line.split()[-1]
        self.address_seconds = time.perf_counter() - started
        threading.Thread(target=lambda: [None for _ in self.process.stdout], daemon=True).start()
        parsed = urllib.parse.urlsplit(url)
        self.host, self.port = parsed.hostname, parsed.port
        pem = ssl.get_server_certificate((self.host, self.port))
        der = ssl.PEM_cert_to_DER_cert(pem)
        seen = ":".join(f"{b:02X}" for b in hashlib.sha256(der).digest())
        if seen != fingerprint.upper():
            raise SystemExit(f"certificate {seen} is not the printed {fingerprint}")
        self.context = ssl.create_default_context(cadata=pem)
        self.local = threading.local()
        body = urllib.parse.urlencode({"username": "root@pam", "password": PASSWORD})
        login = self.call("POST", "/access/ticket", body, authenticated=False)
        self.ticket = login["ticket"]
        self.csrf = login["CSRFPreventionToken"]

    def connection(self):
        if getattr(self.local, "connection", None) is None:
            self.local.connection = http.client.HTTPSConnection(self.host, self.port, context=self.context)
        return self.local.connection

    def call(self, method, path, body=None, authenticated=True):
        headers = {}
        if authenticated:
            headers["Cookie"] = f"PVEAuthCookie={self.ticket}"
            if method != "GET":
                headers["CSRFPreventionToken"] = self.csrf
        if body is not None:
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        connection = self.connection()
        connection.request(method, "/api2/json" + path, body=body, headers=headers)
        response = connection.getresponse()
        data = response.read()
        if response.status != 200:
            raise SystemExit(f"{method} {path}: {response.status} {response.reason} {data[:200]!r}")
        return json.loads(data)["data"]

    def memory(self):
        values = {}
        with open(f"/proc/{self.process.pid}/status") as status:
            for line in status:
                key, _, value = line.partition(":")
                if key in ("VmRSS", "VmHWM"):
                    values[key] = int(value.split()[0]) / 1024
        return values

    def kill(self):
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()


def in_parallel(work, items):
    """Runs `work(item)` for every item on THREADS threads; returns the elapsed seconds."""
    items = list(items)
    chunks = [items[i::THREADS] for i in range(THREADS)]
    errors = []

    def run(chunk):
        try:
            for item in chunk:
                work(item)
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=run, args=(chunk,)) for chunk in chunks]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return time.perf_counter() - started


def main():
    arguments = sys.argv[1:]
    binary = None
    if "--binary" in arguments:
        index = arguments.index("--binary")
        binary = os.path.abspath(arguments[index + 1])
        del arguments[index:index + 2]
    vms = int(arguments[0]) if arguments else 1000
    if binary is None:
        subprocess.run(["cargo", "build", "--release", "-q", "-p", "labform-cli"], cwd=ROOT, check=True)
        binary = os.path.join(ROOT, "target", "release", "labform")
    print(f"binary: {binary}")
    with tempfile.TemporaryDirectory() as directory:
        state = os.path.join(directory, "sim")
        simulator = Simulator(binary, state)
        first_id = 1000
        placed = {first_id + i: f"pve{i % NODES + 1}" for i in range(vms)}

        def create(vmid):
            body = urllib.parse.urlencode({
                "vmid": vmid, "name": f"vm-{vmid}", "cores": 1, "memory": 1024,
                "scsi0": "local-lvm:1", "net0": "virtio,bridge=vmbr0",
                "tags": "labform;scope-bench", "description": f"labform: bench vm-{vmid}",
            })
            upid = simulator.call("POST", f"/nodes/{placed[vmid]}/qemu", body)
            quoted = urllib.parse.quote(upid, safe="")
            while True:
                status = simulator.call("GET", f"/nodes/{placed[vmid]}/tasks/{quoted}/status")
                if status["status"] == "stopped":
                    if status.get("exitstatus") != "OK":
                        raise SystemExit(f"creating VM {vmid}: {status.get('exitstatus')}")
                    return
                time.sleep(0.01)

        # One client, each creation's task waited for: at time scale 0 the storage lock's timeout
        # is 0 too, so overlapping creations on one storage would fail as Proxmox's do when the
        # lock times out. Every creation is saved to the state directory before it is answered.
        started = time.perf_counter()
        for vmid in placed:
            create(vmid)
        seconds = time.perf_counter() - started
        print(f"created {vms} VMs in {seconds:.1f} s ({vms / seconds:.0f} per second, 1 client)")
        # The creations are tasks: wait until every VM is listed and none is locked.
        deadline = time.perf_counter() + 120
        while True:
            listed = simulator.call("GET", "/cluster/resources?type=vm")
            if len(listed) == vms and not any(entry.get("lock") for entry in listed):
                break
            if time.perf_counter() > deadline:
                raise SystemExit(f"{len(listed)} VMs listed, some locked: {listed[:3]}")
            time.sleep(0.2)

        rounds = 50
        started = time.perf_counter()
        for _ in range(rounds):
            assert len(simulator.call("GET", "/cluster/resources?type=vm")) == vms
        seconds = time.perf_counter() - started
        print(f"discovery, GET /cluster/resources?type=vm ({vms} entries): {rounds / seconds:.1f} per second, "
              f"{1000 * seconds / rounds:.1f} ms each (1 client)")

        reads = [vmid for _ in range(3) for vmid in placed]
        seconds = in_parallel(lambda vmid: simulator.call("GET", f"/nodes/{placed[vmid]}/qemu/{vmid}/config"), reads)
        print(f"config reads, GET /nodes/NODE/qemu/VMID/config: {len(reads) / seconds:.0f} per second "
              f"({len(reads)} reads, {THREADS} clients)")
        memory = simulator.memory()
        print(f"memory: resident {memory['VmRSS']:.1f} MiB, peak {memory['VmHWM']:.1f} MiB")
        size = os.path.getsize(os.path.join(state, "state.json"))
        print(f"state file: {size / 1e6:.2f} MB")

        simulator.kill()
        started = time.perf_counter()
        simulator = Simulator(binary, state)
        while len(simulator.call("GET", "/cluster/resources?type=vm")) != vms:
            time.sleep(0.05)
        seconds = time.perf_counter() - started
        memory = simulator.memory()
        print(f"restart after SIGKILL: address printed after {simulator.address_seconds:.2f} s, "
              f"every VM listed after {seconds:.2f} s; resident {memory['VmRSS']:.1f} MiB")
        simulator.kill()


if __name__ == "__main__":
    try:
        main()
    finally:
        for process in STARTED:
            if process.poll() is None:
                process.kill()
