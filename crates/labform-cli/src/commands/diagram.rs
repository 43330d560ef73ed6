//! `labform diagram FILE`: the lab as a picture (the clusters view, the infrastructure view, or
//! both) in Mermaid, Graphviz DOT, or SVG laid out by labform, drawn by `labform-diagram` from
//! the offline plan, or with `--live` (or `--sim`, `--proxmox URL`) from the plan against what
//! exists, coloured by what exists, is missing or drifted. Records nothing in the lock file.

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context as _;
use labform_diagram::{Format, View};

use crate::lab_input::{LockArgs, offline_plan};

/// The diagram formats on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum FormatArg {
    /// A Mermaid flowchart (for Markdown docs).
    Mermaid,
    /// A Graphviz DOT digraph.
    Dot,
    /// A standalone SVG document, laid out by labform.
    Svg,
    /// The diagram as data (what `labform serve`'s `/diagram` answers in JSON).
    Json,
}

impl From<FormatArg> for Format {
    fn from(format: FormatArg) -> Self {
        match format {
            FormatArg::Mermaid => Format::Mermaid,
            FormatArg::Dot => Format::Dot,
            FormatArg::Svg => Format::Svg,
            FormatArg::Json => Format::Json,
        }
    }
}

/// The views on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ViewArg {
    /// Clusters, environments, add-ons, tenants and central services.
    Clusters,
    /// Proxmox endpoints, nodes, VMs, storages and networks.
    Infrastructure,
    /// Both.
    All,
}

impl From<ViewArg> for View {
    fn from(view: ViewArg) -> Self {
        match view {
            ViewArg::Clusters => View::Clusters,
            ViewArg::Infrastructure => View::Infrastructure,
            ViewArg::All => View::All,
        }
    }
}

/// Arguments of `labform diagram`.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// The lab file.
    pub file: PathBuf,
    /// The format.
    #[arg(long, value_enum, default_value = "svg")]
    pub format: FormatArg,
    /// The view.
    #[arg(long, value_enum, default_value = "all")]
    pub view: ViewArg,
    /// Write the diagram to this file instead of standard output.
    #[arg(long, short, value_name = "PATH")]
    pub output: Option<PathBuf>,
    /// The lock file (read and checked, never written).
    #[command(flatten)]
    pub lock: LockArgs,
    /// Colour by what exists on a Proxmox (`--sim`, `--proxmox URL`).
    #[command(flatten)]
    pub target: crate::target::TargetArgs,
    /// Colour by what exists on the lab's own Proxmox endpoints.
    #[arg(long, conflicts_with_all = ["sim", "proxmox"])]
    pub live: bool,
}

/// Runs the command.
pub fn run(args: Args) -> anyhow::Result<ExitCode> {
    let text = if args.live || args.target.explicit() {
        let against = match crate::runtime().block_on(crate::reality::plan_against_target(
            &args.file,
            &args.target,
            &args.lock,
            crate::reality::Preflight::Skip,
        ))? {
            Ok(against) => against,
            Err(code) => return Ok(code),
        };
        labform_diagram::render(
            &against.plan,
            Some(&against.reconciliation),
            args.view.into(),
            args.format.into(),
        )
    } else {
        let plan = match offline_plan(&args.file, &args.lock)? {
            Ok(plan) => plan,
            Err(code) => return Ok(code),
        };
        labform_diagram::render(&plan, None, args.view.into(), args.format.into())
    };
    match &args.output {
        Some(path) => std::fs::write(path, text)
            .with_context(|| format!("cannot write {}", path.display()))?,
        None => print!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}
