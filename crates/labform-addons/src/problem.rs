//! What an add-on's check finds wrong with its options: a code, a message, a hint and the field
//! it is about, as a path below the cluster's `addons` key. `labform-model` anchors it in the
//! lab file and turns it into its located `Diagnostic`; this crate knows nothing of files.

use std::fmt;

/// One step of a [`ProblemPath`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    /// A mapping key.
    Key(String),
    /// A list position, from 0.
    Index(usize),
}

/// A field below a cluster's `addons` key: `metallb.reserved[2].address`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProblemPath(pub Vec<PathStep>);

impl ProblemPath {
    /// The path of an add-on's own key (`metallb`).
    pub fn addon(key: &str) -> Self {
        Self(vec![PathStep::Key(key.to_owned())])
    }

    /// This path followed by the dotted keys `dotted` (`reserved.address`).
    pub fn at(&self, dotted: &str) -> Self {
        let mut steps = self.0.clone();
        steps.extend(
            dotted
                .split('.')
                .filter(|key| !key.is_empty())
                .map(|key| PathStep::Key(key.to_owned())),
        );
        Self(steps)
    }

    /// This path followed by the list position `index`.
    pub fn index(&self, index: usize) -> Self {
        let mut steps = self.0.clone();
        steps.push(PathStep::Index(index));
        Self(steps)
    }
}

impl fmt::Display for ProblemPath {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (position, step) in self.0.iter().enumerate() {
            match step {
                PathStep::Key(key) if position == 0 => write!(formatter, "{key}")?,
                PathStep::Key(key) => write!(formatter, ".{key}")?,
                PathStep::Index(index) => write!(formatter, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// An error in an add-on's options (add-on checks find no warnings today).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// A stable short name for the check (`longhorn-replicas`), shared with the lab file's
    /// diagnostics.
    pub code: &'static str,
    /// The field, below the cluster's `addons` key.
    pub path: ProblemPath,
    /// What is wrong, in one sentence.
    pub message: String,
    /// How to fix it.
    pub hint: Option<String>,
}

impl Problem {
    /// A problem at `path`.
    pub fn new(code: &'static str, path: ProblemPath, message: impl Into<String>) -> Self {
        Self {
            code,
            path,
            message: message.into(),
            hint: None,
        }
    }

    /// Adds a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_print_like_the_lab_file() {
        let path = ProblemPath::addon("metallb")
            .at("reserved")
            .index(2)
            .at("address");
        assert_eq!(path.to_string(), "metallb.reserved[2].address");
    }
}
