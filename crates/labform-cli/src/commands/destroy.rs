//! `labform destroy FILE`: delete every VM and template this lab owns (its scope), and its tenant
//! users with their API tokens and ACL entries, after listing them and asking. VMs and users of
//! other scopes or of nobody are never touched; protected VMs refuse.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use labform_executor::engine::{ApplyOptions, NoSeeds, apply};
use labform_planner::reconcile::{VmAction, teardown};

use crate::acting::{Question, confirm};
use crate::progress::Printer;
use crate::reality::{Preflight, plan_against_target};
use crate::target::TargetArgs;

/// Arguments of `labform destroy`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The lab file.
    pub file: PathBuf,
    /// The lock file (read and checked; this command never writes it).
    #[command(flatten)]
    pub lock: crate::lab_input::LockArgs,
    /// Where to act.
    #[command(flatten)]
    pub target: TargetArgs,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Print progress as JSON lines on stdout.
    #[arg(long)]
    pub json: bool,
    /// Journal file.
    #[arg(long, value_name = "PATH")]
    pub journal: Option<PathBuf>,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    crate::runtime().block_on(run_async(args))
}

async fn run_async(args: Args) -> anyhow::Result<ExitCode> {
    let against =
        match plan_against_target(&args.file, &args.target, &args.lock, Preflight::Skip).await? {
            Ok(against) => against,
            Err(code) => return Ok(code),
        };
    let scope = against.plan.scope.clone();
    let reconciliation = teardown(&against.inventory, &scope);
    let owned = &reconciliation.changes;
    if owned.is_empty()
        && reconciliation.tenants.is_empty()
        && reconciliation.backup_jobs.is_empty()
    {
        eprintln!(
            "Scope `{scope}` owns nothing on {}.",
            against.connected.description
        );
        return Ok(ExitCode::SUCCESS);
    }
    eprintln!(
        "These VMs, tenant users and backup jobs of scope `{scope}` on {} will be deleted:",
        against.connected.description
    );
    for change in owned {
        let protected = matches!(change.action, VmAction::Delete { protected: true });
        eprintln!(
            "  - {}{} ({}) on {}{}",
            if change.template { "template " } else { "" },
            change.name,
            change.vm_id,
            change.node,
            if protected {
                "  [protected: refused]"
            } else {
                ""
            }
        );
    }
    for change in &reconciliation.tenants {
        eprintln!(
            "  - {} {} on {}",
            change.step.kind(),
            change.step.target(),
            change.endpoint
        );
    }
    for change in &reconciliation.backup_jobs {
        eprintln!("  - backup job {} on {}", change.id, change.endpoint);
    }
    let question = Question {
        acts: "destroy deletes VMs",
        prompt: &format!("Type the scope name (`{scope}`) to delete them: "),
        typed: Some(&scope),
        declined: "Nothing deleted.",
    };
    if let Some(code) = confirm(args.yes, &question)? {
        return Ok(code);
    }
    let journal = Arc::new(crate::open_journal(
        args.journal.as_deref(),
        &scope,
        args.target.sim,
    )?);
    let report = apply(
        &against.plan,
        &reconciliation,
        &against.connected.endpoints,
        &NoSeeds,
        // The teardown also removes the scope's tenant users, their tokens and ACL entries, and
        // its backup jobs.
        ApplyOptions::default(),
        journal,
        Arc::new(Printer::new(args.json)),
    )
    .await?;
    for failure in &report.failed {
        eprintln!("error: {failure}");
    }
    Ok(if report.failed.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(3)
    })
}
