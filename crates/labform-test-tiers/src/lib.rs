//! Test tiers: what each group of labform's tests needs from the machine, in one place.
//!
//! Most tests need nothing but Rust: the unit and property tests, the snapshot tests, and every
//! test against the Proxmox simulator or the kube-apiserver double over HTTPS. Some run real
//! outside software (an OpenSSH server, cloud-init, Python validators, QEMU) or need root. Each
//! such group is a [`Tier`] with the [`Requirement`]s it needs; a test of the tier starts with
//!
//! ```no_run
//! # fn a_test() {
//! if !labform_test_tiers::REAL_SSHD.available() {
//!     return;
//! }
//! # }
//! ```
//!
//! When a requirement is missing, [`Tier::available`] prints one line, `skipped tier <name>: <why>`,
//! to the test process's standard error (past the test harness's capture, so a plain `cargo test`
//! shows it) and returns `false`; the test returns early. With `LABFORM_REQUIRE_ALL_TIERS=1` in the
//! environment (set by `scripts/test.sh` and so by CI) it panics with the same reason instead: a
//! tier that cannot run is then a failure, never a silent skip.
//!
//! The tiers themselves are in `tiers.rs` ([`TIERS`] lists them), what a tier can need and how
//! it is checked in `requirement.rs`, where the outside things are found (programs, the
//! Kubernetes release, the node image build script, proxmoxer's virtual environment,
//! mermaid-cli) in `locations.rs`, the real sshd the tests start in `sshd.rs`, and the guard that
//! kills a test's child process when dropped ([`KillOnDrop`]) in `process.rs`.

mod locations;
mod process;
mod requirement;
mod sshd;
mod tiers;

use std::collections::BTreeSet;
use std::io::Write as _;
use std::sync::Mutex;

pub use locations::{
    KUBERNETES_RELEASE_TARBALL, PROXMOXER_REQUESTS_VERSION, PROXMOXER_VERSION, find_program,
    kubernetes_release_dir, mermaid_cli, node_image_build_script, proxmoxer_python,
};
pub use process::KillOnDrop;
pub use requirement::Requirement;
pub use sshd::start_sshd;
pub use tiers::*;

/// The environment variable that turns a skipped tier into a failure when set to `1`.
pub const REQUIRE_ALL_TIERS: &str = "LABFORM_REQUIRE_ALL_TIERS";

/// A group of tests that needs the same things from the machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tier {
    /// The name printed when the tier is skipped.
    pub name: &'static str,
    /// What the tier needs; empty for tiers that always run.
    pub requirements: &'static [Requirement],
}

impl Tier {
    /// The reasons this tier cannot run on this machine, in the order of its requirements.
    pub fn missing(&self) -> Vec<String> {
        self.requirements
            .iter()
            .filter_map(|requirement| requirement.check().err())
            .collect()
    }

    /// Whether the tier's tests can run here. When they cannot, prints `skipped tier <name>: <why>`
    /// once per test process and returns `false`, or panics with the reason when
    /// `LABFORM_REQUIRE_ALL_TIERS=1`.
    #[must_use = "a test of the tier returns early when it is not available"]
    #[track_caller]
    pub fn available(&self) -> bool {
        let require_all = std::env::var(REQUIRE_ALL_TIERS).is_ok_and(|value| value == "1");
        decide(self.name, &self.missing(), require_all)
    }
}

/// The outcome for a tier given what is missing: `true` when nothing is; otherwise a panic when
/// every tier is required, else one printed line and `false`.
#[track_caller]
fn decide(name: &str, missing: &[String], require_all: bool) -> bool {
    if missing.is_empty() {
        return true;
    }
    let why = missing.join("; ");
    assert!(
        !require_all,
        "tier {name} cannot run, and {REQUIRE_ALL_TIERS}=1 requires every tier: {why}"
    );
    static REPORTED: Mutex<BTreeSet<String>> = Mutex::new(BTreeSet::new());
    let first = REPORTED
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .insert(name.to_owned());
    if first {
        // Straight to the process's standard error: the test harness captures only what the
        // print macros write, and this line is meant to be seen on a passing run.
        let _ = writeln!(std::io::stderr(), "skipped tier {name}: {why}");
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tier_without_requirements_always_runs() {
        assert!(UNIT.missing().is_empty());
        assert!(decide("unit", &[], true));
        assert!(decide("unit", &[], false));
    }

    #[test]
    fn a_missing_requirement_skips_the_tier() {
        let missing = vec!["`no-such-program` is missing".to_owned()];
        assert!(!decide("example", &missing, false));
        // Reported once per process; a second test of the tier skips quietly.
        assert!(!decide("example", &missing, false));
    }

    #[test]
    #[should_panic(
        expected = "tier example cannot run, and LABFORM_REQUIRE_ALL_TIERS=1 requires every tier: `no-such-program` is missing"
    )]
    fn a_missing_requirement_fails_when_every_tier_is_required() {
        decide(
            "example",
            &["`no-such-program` is missing".to_owned()],
            true,
        );
    }

    #[test]
    fn tier_names_are_unique() {
        let names: BTreeSet<&str> = TIERS.iter().map(|tier| tier.name).collect();
        assert_eq!(names.len(), TIERS.len());
    }
}
