"""Drives `labform sim serve` with PyPI's proxmoxer, as a user's script would.

    python3 drive.py HOST PORT CA_BUNDLE

root@pam's password comes from LABFORM_SIM_ROOT_PASSWORD. TLS is verified against CA_BUNDLE
(the simulator's certificate). Pools, storage, users and tokens, tasks, backups and HA, each
checked against what Proxmox VE answers; the first difference raises, and the exit status is 1.
"""
import os
import sys
import time

from proxmoxer import ProxmoxAPI, ResourceException
from proxmoxer.tools import Tasks


def check(condition, what):
    if not condition:
        raise AssertionError(what)


def failure(call):
    """The ResourceException a call raises (it must raise)."""
    try:
        call()
    except ResourceException as error:
        return error
    raise AssertionError("the call succeeded")


def wait(px, upid):
    status = Tasks.blocking_status(px, upid, timeout=120, polling_interval=0.01)
    check(status is not None, f"task {upid} ended")
    return status


def main(host, port, ca_bundle):
    password = os.environ["LABFORM_SIM_ROOT_PASSWORD"]
    px = ProxmoxAPI(host, port=port, user="root@pam", password=password, verify_ssl=ca_bundle)
    check(px.version.get()["release"] == "9.1", "version")
    node = px.nodes.get()[0]["node"]

    # Storage.
    storages = {s["storage"]: s for s in px.storage.get()}
    check(storages["local-lvm"]["type"] == "lvmthin", "storage type")
    check("backup" in px.storage("local").get()["content"], "local holds backups")
    check(px.nodes(node).storage.get(content="backup")[0]["storage"] == "local", "backup storage")

    # A VM, with tasks.
    upid = px.nodes(node).qemu.post(vmid=100, name="web", memory=1024, cores=2,
                                     scsi0="local-lvm:1", net0="virtio,bridge=vmbr0")
    check(wait(px, upid)["exitstatus"] == "OK", "create")
    upid = px.nodes(node).qemu(100).status.start.post()
    check(wait(px, upid)["exitstatus"] == "OK", "start")
    vm = px.nodes(node).qemu.get()[0]
    check(vm["status"] == "running" and vm["maxmem"] == 1024 << 20 and vm["cpus"] == 2, "vm list")
    tasks = px.nodes(node).tasks.get(typefilter="qmstart", vmid=100)
    check([t["type"] for t in tasks] == ["qmstart"], f"typefilter: {tasks}")
    check(px.nodes(node).tasks.get(source="active") == [], "nothing runs")
    check(len(px.nodes(node).tasks.get(userfilter="root")) == 2, "userfilter")
    error = failure(lambda: px.nodes(node).tasks.get(statusfilter="ok,fine"))
    check(error.status_code == 400 and "invalid status 'fine'" in str(error.errors), f"{error}")
    log = px.nodes(node).tasks(upid).log.get()
    check(log[-1]["t"] == "TASK OK", "task log")

    # Pools.
    px.pools.post(poolid="lab", comment="proxmoxer")
    error = failure(lambda: px.pools.put(poolid="lab", vms="100,web"))
    check(error.status_code == 400 and "valid VM ID" in str(error.errors), f"{error}")
    px.pools.put(poolid="lab", vms="100", storage="local-lvm")
    pool = px.pools.get(poolid="lab")[0]
    check([m["id"] for m in pool["members"]] == ["qemu/100", f"storage/{node}/local-lvm"], f"members: {pool}")
    check(px.pools("lab").get()["comment"] == "proxmoxer", "pool read")
    error = failure(lambda: px.pools.delete(poolid="lab"))
    check(error.status_code == 500 and "is not empty (contains VM 100)" in error.content, f"{error}")
    px.pools.put(poolid="lab", vms="100", storage="local-lvm", delete=1)
    px.pools.delete(poolid="lab")
    check(px.pools.get() == [], "pool deleted")

    # Users and tokens: a privilege-separated token sees only what its ACL allows.
    px.access.users.post(userid="ci@pve", comment="robot")
    token = px.access.users("ci@pve").token("deploy").post(privsep=1)
    check(token["full-tokenid"] == "ci@pve!deploy", "token id")
    check(px.access.users("ci@pve").get()["tokens"]["deploy"]["privsep"] == 1, "user's tokens")
    px.access.acl.put(path="/vms/100", roles="PVEVMUser", users="ci@pve", tokens="ci@pve!deploy")
    ci = ProxmoxAPI(host, port=port, user="ci@pve", token_name="deploy",
                    token_value=token["value"], verify_ssl=ca_bundle)
    check([v["vmid"] for v in ci.nodes(node).qemu.get()] == [100], "token sees its VM")
    check(ci.access.permissions.get(path="/vms/100")["/vms/100"]["VM.PowerMgmt"] == 1, "permissions")
    error = failure(lambda: ci.pools.post(poolid="nope"))
    check(error.status_code == 403, f"token may not make pools: {error}")

    # Guest agent.
    px.nodes(node).qemu(100).config.put(agent=1)
    error = failure(lambda: px.nodes(node).qemu(100).agent("get-osinfo").get())
    check("agent" in error.content or "not running" in error.content, f"{error}")

    # Backups: a job, an archive, and a guest restored from it.
    px.cluster.backup.post(id="nightly", schedule="02:00", vmid="100", storage="local")
    check([j["id"] for j in px.cluster.backup.get()] == ["nightly"], "backup jobs")
    px.cluster.backup("nightly").put(comment="every night")
    check(px.cluster.backup("nightly").get()["comment"] == "every night", "job update")
    px.cluster.backup("nightly").delete()
    upid = px.nodes(node).vzdump.post(vmid=100, compress="zstd", storage="local")
    check(wait(px, upid)["exitstatus"] == "OK", "vzdump")
    backups = px.nodes(node).storage("local").content.get(content="backup")
    check(len(backups) == 1 and backups[0]["format"] == "vma.zst", f"backups: {backups}")
    check((backups[0]["content"], backups[0]["subtype"], backups[0]["vmid"]) == ("backup", "qemu", 100),
          f"backup entry: {backups[0]}")
    check(px.nodes(node).storage("local").content.get(vmid=100) == backups, "one guest's content")
    upid = px.nodes(node).qemu.post(vmid=200, archive=backups[0]["volid"], storage="local-lvm", unique=1)
    check(wait(px, upid)["exitstatus"] == "OK", "restore")
    check(px.nodes(node).qemu(200).config.get()["name"] == "web", "restored config")

    # HA: the manager starts a guest and moves it.
    other = [n["node"] for n in px.nodes.get() if n["node"] != node][0]
    px.cluster.ha.resources.post(sid="vm:200", state="started")
    check(px.cluster.ha.resources("vm:200").get()["state"] == "started", "ha resource")
    error = failure(lambda: px.cluster.ha.groups.get())
    check("migrated to rules" in error.content, f"{error}")
    answer = px.cluster.ha.resources("vm:200").migrate.post(node=other)
    check(answer["requested-node"] == other, "migrate answer")
    while True:
        entry = [r for r in px.cluster.resources.get(type="vm") if r["vmid"] == 200][0]
        if entry["node"] == other and entry.get("hastate") == "started" and entry["status"] == "running":
            break
        time.sleep(0.01)
    px.cluster.ha.resources("vm:200").delete()
    check(px.cluster.ha.resources.get() == [], "ha resource deleted")
    print("proxmoxer drove pools, storage, users, tasks, backups and HA")


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3])
