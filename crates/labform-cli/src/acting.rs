//! What the commands that change the lab share: the journal they record their run in
//! (`--journal`), and asking before they act (`--yes`, or a question on a terminal).

use std::io::IsTerminal as _;
use std::path::PathBuf;
use std::process::ExitCode;

/// The journal a command records its run in.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct JournalArgs {
    /// Journal file (default: labform's state directory, one journal per scope).
    #[arg(long = "journal", id = "journal", value_name = "PATH")]
    pub path: Option<PathBuf>,
}

impl JournalArgs {
    /// Opens the journal: the file given, or the scope's (`sim`: the built-in simulator's).
    pub fn open(&self, scope: &str, sim: bool) -> anyhow::Result<labform_executor::Journal> {
        crate::open_journal(self.path.as_deref(), scope, sim)
    }
}

/// What a command asks before it acts, and which answer goes ahead.
pub struct Question<'a> {
    /// What the command does, said when `--yes` is missing without a terminal (`apply changes
    /// Proxmox`).
    pub acts: &'a str,
    /// The question (`Apply these changes to ...? [y/N] `).
    pub prompt: &'a str,
    /// The answer that must be typed to go ahead (a name); `None` for `y`, `Y` or `yes`.
    pub typed: Option<&'a str>,
    /// What is said when the answer is anything else (`Nothing changed.`).
    pub declined: &'a str,
}

/// Asks `question` on the terminal unless `yes`: `None` to go ahead, else the exit code to stop
/// with (2 without a terminal, 1 when the answer says no).
pub fn confirm(yes: bool, question: &Question<'_>) -> anyhow::Result<Option<ExitCode>> {
    if yes {
        return Ok(None);
    }
    if !std::io::stdin().is_terminal() {
        eprintln!(
            "error: {}; confirm with --yes when not running in a terminal",
            question.acts
        );
        return Ok(Some(ExitCode::from(2)));
    }
    eprint!("{}", question.prompt);
    let mut answer = String::new();
    std::io::stdin().read_line(&mut answer)?;
    let answer = answer.trim();
    let accepted = match question.typed {
        Some(expected) => answer == expected,
        None => matches!(answer, "y" | "Y" | "yes"),
    };
    if accepted {
        return Ok(None);
    }
    eprintln!("{}", question.declined);
    Ok(Some(ExitCode::from(1)))
}
