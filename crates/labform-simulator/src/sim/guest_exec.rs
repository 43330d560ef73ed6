//! The guest agent's `get-osinfo`, `exec` and `exec-status` (qemu-server's
//! `API2/Qemu/Agent.pm`): answered by the QEMU backend's agent, or, state
//! only, by a simulated Debian guest whose agent runs a few programs
//! (`echo`, `true`, `false`, `hostname`, `uname`, `cat` of its identity
//! files, and `sh -c` of those).

use super::*;
use crate::datacenter::GuestCommand;
use base64::Engine;
use labform_proxmox::endpoint;

/// What the simulated guest's `/etc/os-release` says (`guest-get-osinfo`).
fn simulated_osinfo() -> serde_json::Value {
    serde_json::json!({
        "id": "debian", "name": "Debian GNU/Linux",
        "pretty-name": "Debian GNU/Linux 13 (trixie)", "version": "13 (trixie)",
        "version-id": "13", "kernel-release": "6.12.43+deb13-amd64",
        "kernel-version": "#1 SMP PREEMPT_DYNAMIC Debian 6.12.43-1 (2025-08-27)",
        "machine": "x86_64",
    })
}

/// Runs `command` in the simulated guest of `vm`: its exit code, output and
/// errors, or `None` when the program does not exist there.
fn simulated_run(vm: &Vm, command: &[String], input: Option<&str>) -> Option<GuestCommand> {
    let (program, args) = command.split_first()?;
    let name = program.rsplit('/').next().unwrap_or(program);
    let hostname = vm
        .conf
        .get("name")
        .cloned()
        .unwrap_or_else(|| format!("VM{}", vm.vmid));
    let ok = |out: String| GuestCommand {
        exitcode: 0,
        out,
        err: String::new(),
    };
    Some(match name {
        "echo" => ok(format!("{}\n", args.join(" "))),
        "true" => ok(String::new()),
        "false" => GuestCommand {
            exitcode: 1,
            ..GuestCommand::default()
        },
        "hostname" => ok(format!("{hostname}\n")),
        "uname" if args.iter().any(|a| a == "-r") => ok("6.12.43+deb13-amd64\n".into()),
        "uname" => ok("Linux\n".into()),
        "cat" if args.is_empty() => ok(input.unwrap_or("").to_owned()),
        "cat" => {
            let mut out = String::new();
            for file in args {
                match file.as_str() {
                    "/etc/hostname" => out.push_str(&format!("{hostname}\n")),
                    "/etc/os-release" => out.push_str(
                        "PRETTY_NAME=\"Debian GNU/Linux 13 (trixie)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"13\"\nID=debian\n",
                    ),
                    other => {
                        return Some(GuestCommand {
                            exitcode: 1,
                            out,
                            err: format!("cat: {other}: No such file or directory\n"),
                        });
                    }
                }
            }
            ok(out)
        }
        "sh" | "bash" if args.first().is_some_and(|a| a == "-c") => {
            let script = args.get(1).map(String::as_str).unwrap_or("");
            let words: Vec<String> = script.split_whitespace().map(str::to_owned).collect();
            match simulated_run(vm, &words, input) {
                Some(result) => result,
                None => GuestCommand {
                    exitcode: 127,
                    out: String::new(),
                    err: format!(
                        "{name}: 1: {}: not found\n",
                        words.first().map(String::as_str).unwrap_or("")
                    ),
                },
            }
        }
        _ => return None,
    })
}

impl SimClient {
    /// `GET .../agent/get-osinfo`: `{result: <guest-get-osinfo>}`.
    pub async fn agent_osinfo(&self, node: &str, vmid: u32) -> Result<serde_json::Value> {
        self.run(&endpoint::agent::OS_INFO, &[&node, &vmid], async {
            self.on_vm(node, vmid)
                .any_privilege(&["VM.GuestAgent.Audit", "VM.GuestAgent.Unrestricted"])
                .read(|_, vm| super::agent::agent_ready(self, vm))?;
            let answer = if self.sim.backend().runs_vms() {
                self.sim
                    .on_backend(move |b| b.agent(vmid, "guest-get-osinfo", None))
                    .await
                    .map_err(e500)?
            } else {
                simulated_osinfo()
            };
            Ok(serde_json::json!({ "result": answer }))
        })
        .await
    }

    /// `POST .../agent/exec`: starts `command` (program and arguments) in
    /// the guest with `input` on its standard input; `{pid}`.
    pub async fn agent_exec(
        &self,
        node: &str,
        vmid: u32,
        command: &[String],
        input: Option<&str>,
    ) -> Result<serde_json::Value> {
        self.run(&endpoint::agent::EXEC, &[&node, &vmid], async {
            let call = self.on_vm(node, vmid).privilege("VM.GuestAgent.Unrestricted");
            let vm = call.read(|_, vm| {
                super::agent::agent_ready(self, vm)?;
                Ok(vm.clone())
            })?;
            if command.is_empty() && input.is_none() {
                return Err(e500("command or input-data (or both) required"));
            }
            if self.sim.backend().runs_vms() {
                let mut arguments = serde_json::json!({ "capture-output": true });
                if let Some((program, rest)) = command.split_first() {
                    arguments["path"] = program.clone().into();
                    arguments["arg"] = rest.to_vec().into();
                }
                if let Some(data) = input {
                    arguments["input-data"] =
                        base64::engine::general_purpose::STANDARD.encode(data).into();
                }
                let answer = self
                    .sim
                    .on_backend(move |b| b.agent(vmid, "guest-exec", Some(arguments)))
                    .await
                    .map_err(e500)?;
                return Ok(answer);
            }
            let result = simulated_run(&vm, command, input).ok_or_else(|| {
                e500(format!(
                    "VM {vmid} qmp command 'guest-exec' failed - Failed to execute child process “{}” (No such file or directory)",
                    command.first().map(String::as_str).unwrap_or("")
                ))
            })?;
            let mut st = self.sim.lock();
            let pid = 1000 + (st.rng.next_u64() % 30_000);
            st.datacenter
                .guest_commands
                .entry(vmid)
                .or_default()
                .insert(pid, result);
            Ok(serde_json::json!({ "pid": pid }))
        })
        .await
    }

    /// `GET .../agent/exec-status?pid=`: whether the command ended, its exit
    /// code and its output (decoded from the agent's base64).
    pub async fn agent_exec_status(
        &self,
        node: &str,
        vmid: u32,
        pid: u64,
    ) -> Result<serde_json::Value> {
        self.run(&endpoint::agent::EXEC_STATUS, &[&node, &vmid], async {
            let call = self
                .on_vm(node, vmid)
                .privilege("VM.GuestAgent.Unrestricted");
            call.read(|_, vm| super::agent::agent_ready(self, vm))?;
            if self.sim.backend().runs_vms() {
                let mut answer = self
                    .sim
                    .on_backend(move |b| {
                        b.agent(
                            vmid,
                            "guest-exec-status",
                            Some(serde_json::json!({ "pid": pid })),
                        )
                    })
                    .await
                    .map_err(e500)?;
                for key in ["out-data", "err-data"] {
                    if let Some(text) = answer.get(key).and_then(|v| v.as_str())
                        && let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(text)
                    {
                        answer[key] = String::from_utf8_lossy(&bytes).into_owned().into();
                    }
                }
                if let Some(map) = answer.as_object_mut() {
                    for value in map.values_mut() {
                        if let Some(b) = value.as_bool() {
                            *value = u8::from(b).into();
                        }
                    }
                }
                return Ok(answer);
            }
            let st = self.sim.lock();
            let result = st
                .datacenter
                .guest_commands
                .get(&vmid)
                .and_then(|m| m.get(&pid))
                .ok_or_else(|| {
                    e500(format!(
                        "VM {vmid} qmp command 'guest-exec-status' failed - Invalid parameter 'pid'"
                    ))
                })?;
            let mut answer = serde_json::json!({ "exited": 1, "exitcode": result.exitcode });
            if !result.out.is_empty() {
                answer["out-data"] = result.out.clone().into();
            }
            if !result.err.is_empty() {
                answer["err-data"] = result.err.clone().into();
            }
            Ok(answer)
        })
        .await
    }
}
