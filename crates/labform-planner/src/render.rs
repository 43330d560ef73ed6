//! The plan as a person reads it: grouped by Proxmox, images and templates, clusters (with their
//! VMs and the steps that follow), plain VMs, tenants and backup jobs, then a summary.

use std::fmt::Write as _;

use crate::plan::{Plan, PlannedVm};

/// Renders `plan` as text. `offline` says that Proxmox was not consulted.
pub fn render(plan: &Plan, offline: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Plan for lab `{}` (scope `{}`)", plan.lab, plan.scope);
    if offline {
        let _ = writeln!(
            out,
            "Offline: Proxmox was not consulted; everything below would be created."
        );
    }
    for endpoint in &plan.endpoints {
        let _ = writeln!(out, "\nProxmox `{}` ({})", endpoint.name, endpoint.url);
        for node in &endpoint.nodes {
            let _ = writeln!(
                out,
                "  node {:<12} {:>4}/{:<4} vCPU  {:>7}/{:<7} MiB  {} VMs",
                node.name,
                node.cpu_used,
                node.cpu_capacity,
                node.memory_used_mib,
                node.memory_capacity_mib,
                node.vms
            );
        }
    }
    if !plan.images.is_empty() {
        let _ = writeln!(out, "\nImages");
        for image in &plan.images {
            let _ = writeln!(
                out,
                "  + download {} to {}:{}/{} ({})",
                image.name,
                image.node,
                image.storage,
                image.file_name,
                short_checksum(&image.checksum)
            );
        }
    }
    if !plan.templates.is_empty() {
        let _ = writeln!(out, "\nTemplates");
        for template in &plan.templates {
            let _ = writeln!(
                out,
                "  + {} {} on {}/{} from {}",
                template.vm_id, template.name, template.node, template.storage, template.image
            );
        }
    }
    for cluster in &plan.clusters {
        let _ = writeln!(out);
        let mut heading = format!(
            "Cluster `{}`: {} {}",
            cluster.name, cluster.distribution, cluster.version
        );
        if let Some(environment) = &cluster.environment {
            heading.push_str(&format!(", environment {environment}"));
        }
        if let Some(tenant) = &cluster.tenant {
            heading.push_str(&format!(", tenant {tenant}"));
        }
        let _ = writeln!(out, "{heading}");
        let api = cluster.api_address;
        let _ = writeln!(
            out,
            "  API https://{api}:6443{}; pods {}; services {}; CNI {}; datastore {}",
            if cluster.api_vip { " (VIP)" } else { "" },
            cluster.pod_cidr,
            cluster.service_cidr,
            cluster.cni,
            cluster.datastore
        );
        if let Some(addresses) = cluster.load_balancer_addresses() {
            let _ = writeln!(out, "  load balancers {addresses}");
        }
        for vm in plan
            .vms
            .iter()
            .filter(|vm| vm.cluster.as_deref() == Some(cluster.name.as_str()))
        {
            render_vm(&mut out, vm);
        }
        if !cluster.bootstrap_supported {
            let _ = writeln!(
                out,
                "  note: labform builds these VMs but does not bootstrap {} yet; the steps show what will be automated",
                cluster.distribution
            );
        }
        let _ = writeln!(out, "  then:");
        for (number, step) in cluster.steps.iter().enumerate() {
            match &step.target {
                Some(target) => {
                    let _ = writeln!(out, "    {}. {} [{}]", number + 1, step.action, target);
                }
                None => {
                    let _ = writeln!(out, "    {}. {}", number + 1, step.action);
                }
            }
        }
    }
    let plain: Vec<&PlannedVm> = plan.vms.iter().filter(|vm| vm.cluster.is_none()).collect();
    if !plain.is_empty() {
        let _ = writeln!(out, "\nVMs");
        for vm in plain {
            render_vm(&mut out, vm);
        }
    }
    if !plan.tenants.is_empty() {
        let _ = writeln!(out, "\nTenants");
        for tenant in &plan.tenants {
            let _ = writeln!(
                out,
                "  {}: pool {}, token {}; clusters {}; services {}",
                tenant.name,
                tenant.pool,
                tenant.api_token,
                list_or_none(&tenant.clusters),
                list_or_none(&tenant.services)
            );
        }
    }
    if !plan.backup_jobs.is_empty() {
        let _ = writeln!(out, "\nBackups");
        for job in &plan.backup_jobs {
            let vm_ids: Vec<String> = job.vm_ids.iter().map(ToString::to_string).collect();
            let _ = writeln!(
                out,
                "  {} on {}: vzdump `{}` of {} to {}, keep {}, {} mode; VM IDs {}",
                job.id,
                job.endpoint,
                job.schedule,
                job.of,
                job.storage,
                job.keep,
                job.mode,
                vm_ids.join(", ")
            );
        }
    }
    let summary = &plan.summary;
    let _ = writeln!(
        out,
        "\nPlan: {} VMs ({} vCPU, {} MiB memory, {} GiB disk), {} clusters, {} templates, {} image downloads, {} actions.",
        summary.vms,
        summary.cpu,
        summary.memory_mib,
        summary.disk_gib,
        summary.clusters,
        summary.templates,
        summary.images,
        plan.actions.len()
    );
    out
}

fn render_vm(out: &mut String, vm: &PlannedVm) {
    let disks: Vec<String> = vm
        .disks
        .iter()
        .map(|disk| format!("{}G {}", disk.size_gib, disk.storage))
        .collect();
    let address = match vm.nic.address {
        Some(address) => format!("{address}/{}", vm.nic.prefix),
        None => "dhcp".to_owned(),
    };
    let vlan = vm
        .nic
        .vlan
        .map(|vlan| format!(" vlan {vlan}"))
        .unwrap_or_default();
    let _ = writeln!(
        out,
        "  + {} {:<28} {:<8} {:>2} vCPU {:>6} MiB  disk {}  {} on {}{}  {}",
        vm.vm_id,
        vm.name,
        vm.node,
        vm.cpu,
        vm.memory_mib,
        disks.join(" + "),
        address,
        vm.nic.bridge,
        vlan,
        vm.image.as_deref().unwrap_or("no image")
    );
    let mut details = vec![format!("{} {}", vm.role, vm.nic.mac)];
    if let Some(cloud_init) = &vm.cloud_init {
        details.push(format!(
            "cloud-init: user {}, {} SSH key(s), host keys pinned, packages {}",
            cloud_init.user,
            cloud_init.ssh_keys,
            cloud_init.packages.join(" ")
        ));
    } else if vm.boot == "talos" {
        details.push("Talos machine config through NoCloud (no users, no SSH)".to_owned());
    } else {
        details.push("no cloud-init: installed from its ISO".to_owned());
    }
    if let Some(seed) = &vm.seed {
        details.push(format!("seed {}:iso/{}", seed.storage, seed.file_name));
    }
    if let Some(pool) = &vm.pool {
        details.push(format!("pool {pool}"));
    }
    if vm.protected {
        details.push("protected".to_owned());
    }
    let _ = writeln!(out, "      {}", details.join("; "));
}

fn short_checksum(checksum: &str) -> String {
    match checksum.split_once(':') {
        Some((algorithm, hex)) if hex.len() > 12 => format!("{algorithm}:{}…", &hex[..12]),
        _ => checksum.to_owned(),
    }
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "none".to_owned()
    } else {
        items.join(", ")
    }
}

/// Renders what reconciliation found: `+` create, `~` update (field by field, drift marked; or
/// outdated, by spec hash only, when the config was not read), `-/+` replace (with the reason),
/// `-` delete; unchanged VMs are counted, not listed.
pub fn render_changes(plan: &Plan, reconciliation: &crate::reconcile::Reconciliation) -> String {
    use crate::reconcile::{Effect, VmAction};
    let mut out = String::new();
    let mut unchanged = 0;
    for conflict in &reconciliation.conflicts {
        let _ = writeln!(
            out,
            "  ! VM ID {} on {} (planned for `{}`) is held by {}",
            conflict.vm_id, conflict.endpoint, conflict.planned, conflict.holder
        );
    }
    for change in &reconciliation.changes {
        let what = if change.template { "template " } else { "" };
        match &change.action {
            VmAction::Unchanged => unchanged += 1,
            VmAction::Create => {
                let detail = plan
                    .vms
                    .iter()
                    .find(|vm| vm.name == change.name && vm.endpoint == change.endpoint)
                    .map(|vm| {
                        let address = vm
                            .nic
                            .address
                            .map(|a| a.to_string())
                            .unwrap_or_else(|| "dhcp".to_owned());
                        let disks: Vec<String> = vm
                            .disks
                            .iter()
                            .map(|disk| format!("{}G", disk.size_gib))
                            .collect();
                        format!(
                            ": {} vCPU, {} MiB, disk {}, {address}",
                            vm.cpu,
                            vm.memory_mib,
                            disks.join("+")
                        )
                    })
                    .unwrap_or_default();
                let _ = writeln!(
                    out,
                    "  + create  {what}{} ({}) on {}{detail}",
                    change.name, change.vm_id, change.node
                );
            }
            VmAction::Update { changes } => {
                let _ = writeln!(
                    out,
                    "  ~ update  {what}{} ({}) on {}",
                    change.name, change.vm_id, change.node
                );
                for field in changes {
                    let _ = writeln!(
                        out,
                        "      {}: {} -> {}{}{}",
                        field.field,
                        field
                            .observed
                            .as_deref()
                            .map(shorten)
                            .unwrap_or_else(|| "(unset)".to_owned()),
                        field
                            .desired
                            .as_deref()
                            .map(shorten)
                            .unwrap_or_else(|| "(unset)".to_owned()),
                        if field.drift {
                            "  [drift: changed outside labform]"
                        } else {
                            ""
                        },
                        if field.effect == Effect::NextBoot {
                            "  [at next boot]"
                        } else {
                            ""
                        },
                    );
                }
            }
            VmAction::Start => {
                let _ = writeln!(
                    out,
                    "  > start   {what}{} ({}) on {}: it is stopped",
                    change.name, change.vm_id, change.node
                );
            }
            VmAction::Replace { reason } => {
                let _ = writeln!(
                    out,
                    "  -/+ replace {what}{} ({}) on {}: {reason}",
                    change.name, change.vm_id, change.node
                );
            }
            VmAction::Outdated {
                recorded_spec,
                planned_spec,
            } => {
                let _ = writeln!(
                    out,
                    "  ~ outdated {what}{} ({}) on {}: spec {recorded_spec} -> {planned_spec} (config not read)",
                    change.name, change.vm_id, change.node
                );
            }
            VmAction::Delete { protected } => {
                let _ = writeln!(
                    out,
                    "  - delete  {what}{} ({}) on {}{}",
                    change.name,
                    change.vm_id,
                    change.node,
                    if *protected {
                        "  [protected: will be refused]"
                    } else {
                        ""
                    }
                );
            }
        }
    }
    for change in &reconciliation.tenants {
        let _ = writeln!(out, "{}", tenant_line(change));
    }
    for conflict in &reconciliation.tenant_conflicts {
        let _ = writeln!(
            out,
            "  ! tenant `{}` on {}: {conflict}",
            conflict.tenant, conflict.endpoint
        );
    }
    for change in &reconciliation.backup_jobs {
        let _ = writeln!(out, "{}", backup_job_line(change));
    }
    for conflict in &reconciliation.backup_job_conflicts {
        let _ = writeln!(out, "  ! {conflict}");
    }
    let counts = |wanted: fn(&VmAction) -> bool| {
        reconciliation
            .changes
            .iter()
            .filter(|change| wanted(&change.action))
            .count()
    };
    let _ = writeln!(
        out,
        "\n{} to create, {} to update, {} to replace, {} to delete, {unchanged} unchanged.",
        counts(|action| matches!(action, VmAction::Create)),
        counts(|action| matches!(action, VmAction::Update { .. })),
        counts(|action| matches!(action, VmAction::Replace { .. })),
        counts(|action| matches!(action, VmAction::Delete { .. })),
    );
    let outdated = counts(|action| matches!(action, VmAction::Outdated { .. }));
    if outdated > 0 {
        let _ = writeln!(
            out,
            "{outdated} outdated: the lab changed since labform last wrote them; without their \
             configs, whether each is updated in place or replaced shows in a plan that reads them \
             (without --no-refresh)."
        );
    }
    if !reconciliation.tenants.is_empty() {
        let removals = reconciliation
            .tenants
            .iter()
            .filter(|change| change.step.is_removal())
            .count();
        let _ = writeln!(
            out,
            "{} pool, user, token and ACL change(s), {removals} of them removals.",
            reconciliation.tenants.len()
        );
    }
    if !reconciliation.backup_jobs.is_empty() {
        let _ = writeln!(
            out,
            "{} backup job change(s).",
            reconciliation.backup_jobs.len()
        );
    }
    out
}

/// One line of a backup job change.
fn backup_job_line(change: &crate::backups::BackupJobChange) -> String {
    use crate::backups::BackupJobStep;
    let drift = if change.drift {
        "  [drift: changed outside labform]"
    } else {
        ""
    };
    let (id, endpoint) = (&change.id, &change.endpoint);
    match &change.step {
        BackupJobStep::Create { options } => format!(
            "  + backup job {id} on {endpoint}: vzdump `{}` to {}, VM IDs {}{drift}",
            options.get("schedule").map_or("", String::as_str),
            options.get("storage").map_or("", String::as_str),
            options.get("vmid").map_or("", String::as_str)
        ),
        BackupJobStep::Update { fields, .. } => {
            let fields: Vec<String> = fields
                .iter()
                .map(|field| {
                    format!(
                        "{} {} -> {}",
                        field.field,
                        field.observed.as_deref().unwrap_or("(unset)"),
                        field.desired
                    )
                })
                .collect();
            format!(
                "  ~ backup job {id} on {endpoint}: {}{drift}",
                if fields.is_empty() {
                    "its record of the lab".to_owned()
                } else {
                    fields.join(", ")
                }
            )
        }
        BackupJobStep::Delete => format!("  - backup job {id} on {endpoint}{drift}"),
    }
}

/// One line of a pool, user, token or ACL change.
fn tenant_line(change: &crate::tenancy::TenantChange) -> String {
    use crate::tenancy::TenantStep;
    let drift = if change.drift {
        "  [drift: changed outside labform]"
    } else {
        ""
    };
    let endpoint = &change.endpoint;
    match &change.step {
        TenantStep::CreatePool { pool } => format!("  + pool    {pool} on {endpoint}{drift}"),
        TenantStep::CreateUser { userid, .. } => {
            format!("  + user    {userid} on {endpoint}{drift}")
        }
        TenantStep::CreateToken { userid, .. } => format!(
            "  + token   {userid}!{} on {endpoint} (its secret goes to labform's secret store){drift}",
            crate::tenancy::TENANT_TOKEN_NAME
        ),
        TenantStep::DeleteToken {
            userid,
            tokenid,
            reason,
            ..
        } => format!("  - token   {userid}!{tokenid} on {endpoint}: {reason}{drift}"),
        TenantStep::Acl {
            grant,
            path,
            role,
            subject,
            ..
        } => format!(
            "  {} acl     {role} on {path} for {subject} on {endpoint}{drift}",
            if *grant { "+" } else { "-" }
        ),
        TenantStep::DeleteUser { userid, .. } => {
            format!("  - user    {userid} on {endpoint}{drift}")
        }
    }
}

fn shorten(value: &str) -> String {
    let single = value.replace('\n', "\\n");
    if single.chars().count() > 72 {
        format!("{}…", single.chars().take(71).collect::<String>())
    } else {
        single
    }
}
