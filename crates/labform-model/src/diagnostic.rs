//! Diagnostics: what is wrong with a lab file, where (file, line, column, field), and how to fix it.
//!
//! Every check of the model and of the planner reports through [`Diagnostic`]. Rendering resolves
//! field paths to lines through the [`SourceMap`], shows the line with the offending text
//! underlined (except for lines that may hold a secret), and ends with a hint.

use std::fmt::Write as _;

use serde::Serialize;

use crate::source::{FieldPath, FileId, Position, Source, SourceMap};

/// How bad a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    /// The lab is usable, but probably not as intended.
    Warning,
    /// The lab cannot be planned.
    Error,
}

/// Where a diagnostic points.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Anchor {
    /// A field of a file, located when rendered.
    Field(Source),
    /// A known position (parse errors), with the field there when it can be found.
    Position {
        /// The file.
        file: FileId,
        /// Where.
        position: Position,
    },
    /// A file as a whole (it could not be read).
    File(FileId),
}

/// One finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// A stable short name for the check (`cidr-overlap`), for tests and for searching docs.
    pub code: &'static str,
    /// What is wrong, in one sentence.
    pub message: String,
    /// Where.
    pub anchor: Option<Anchor>,
    /// How to fix it.
    pub hint: Option<String>,
    /// Further context (other places involved).
    pub notes: Vec<String>,
    /// Never print the source line: it may hold a secret.
    pub hide_source_line: bool,
}

impl Diagnostic {
    /// An error at a field.
    pub fn error(code: &'static str, at: &Source, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Error,
            code,
            message: message.into(),
            anchor: Some(Anchor::Field(at.clone())),
            hint: None,
            notes: Vec::new(),
            hide_source_line: false,
        }
    }

    /// A warning at a field.
    pub fn warning(code: &'static str, at: &Source, message: impl Into<String>) -> Self {
        Self {
            severity: Severity::Warning,
            ..Self::error(code, at, message)
        }
    }

    /// Adds a hint.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Adds a note.
    pub fn note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// Whether this is an error.
    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }

    /// Resolves the anchor to a file, line, column and field.
    pub fn resolve(&self, sources: &SourceMap) -> ResolvedDiagnostic {
        let (file, position, field) = match &self.anchor {
            None => (None, None, None),
            Some(Anchor::File(file)) => (Some(*file), None, None),
            Some(Anchor::Field(source)) => {
                let located = sources.file(source.file).locate(&source.path);
                (
                    Some(source.file),
                    located.map(|(position, _)| position),
                    Some(source.path.clone()),
                )
            }
            Some(Anchor::Position { file, position }) => (
                Some(*file),
                Some(*position),
                sources.file(*file).path_at(position.line, position.column),
            ),
        };
        ResolvedDiagnostic {
            severity: self.severity,
            code: self.code,
            message: self.message.clone(),
            file: file.map(|file| sources.path(file).display().to_string()),
            line: position.map(|position| position.line),
            column: position.map(|position| position.column),
            field: field.map(|field: FieldPath| field.to_string()),
            hint: self.hint.clone(),
            notes: self.notes.clone(),
            source_line: match (file, position) {
                (Some(file), Some(position)) if !self.hide_source_line => sources
                    .file(file)
                    .line_text(position.line)
                    .map(|text| (text.to_owned(), position.length.max(1))),
                _ => None,
            },
        }
    }
}

/// A diagnostic with its position worked out, ready to print or serialise.
#[derive(Debug, Clone, Serialize)]
pub struct ResolvedDiagnostic {
    /// Error or warning.
    pub severity: Severity,
    /// The check's short name.
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
    /// The file.
    pub file: Option<String>,
    /// Line, from 1.
    pub line: Option<u32>,
    /// Column, from 1.
    pub column: Option<u32>,
    /// The field (`clusters[0].servers.count`).
    pub field: Option<String>,
    /// How to fix it.
    pub hint: Option<String>,
    /// Further context.
    pub notes: Vec<String>,
    /// The source line and how many characters to underline.
    #[serde(skip)]
    pub source_line: Option<(String, u32)>,
}

impl ResolvedDiagnostic {
    /// Renders like a compiler message.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let _ = writeln!(out, "{label}[{}]: {}", self.code, self.message);
        if let Some(file) = &self.file {
            match (self.line, self.column) {
                (Some(line), Some(column)) => {
                    let _ = writeln!(out, "  --> {file}:{line}:{column}");
                }
                _ => {
                    let _ = writeln!(out, "  --> {file}");
                }
            }
        }
        let gutter = self.line.map(|line| line.to_string().len()).unwrap_or(1);
        if let (Some((text, length)), Some(line), Some(column)) =
            (&self.source_line, self.line, self.column)
        {
            let pad = " ".repeat(gutter);
            let text = text.replace('\t', " ");
            let prefix: String = text.chars().take(column as usize - 1).collect();
            let available = text.chars().count().saturating_sub(prefix.chars().count());
            let marks = (*length as usize).clamp(1, available.max(1));
            let _ = writeln!(out, "{pad} |");
            let _ = writeln!(out, "{line} | {text}");
            let _ = writeln!(
                out,
                "{pad} | {}{}",
                " ".repeat(prefix.chars().count()),
                "^".repeat(marks)
            );
        }
        let pad = " ".repeat(gutter);
        if let Some(field) = &self.field {
            let _ = writeln!(out, "{pad} = field: {field}");
        }
        for note in &self.notes {
            let _ = writeln!(out, "{pad} = note: {note}");
        }
        if let Some(hint) = &self.hint {
            let _ = writeln!(out, "{pad} = help: {hint}");
        }
        out
    }
}

/// Renders diagnostics, errors first in file order, and a closing count.
pub fn render_all(diagnostics: &[Diagnostic], sources: &SourceMap) -> String {
    let mut resolved: Vec<ResolvedDiagnostic> = diagnostics
        .iter()
        .map(|diagnostic| diagnostic.resolve(sources))
        .collect();
    sort_resolved(&mut resolved);
    let mut out = String::new();
    for diagnostic in &resolved {
        out.push_str(&diagnostic.render());
        out.push('\n');
    }
    let errors = resolved
        .iter()
        .filter(|d| d.severity == Severity::Error)
        .count();
    let warnings = resolved.len() - errors;
    let _ = writeln!(
        out,
        "{} error{}, {} warning{}",
        errors,
        if errors == 1 { "" } else { "s" },
        warnings,
        if warnings == 1 { "" } else { "s" }
    );
    out
}

/// Orders diagnostics: errors before warnings, then by file, line and column.
pub fn sort_resolved(resolved: &mut [ResolvedDiagnostic]) {
    resolved.sort_by(|left, right| {
        right
            .severity
            .cmp(&left.severity)
            .then_with(|| left.file.cmp(&right.file))
            .then_with(|| left.line.cmp(&right.line))
            .then_with(|| left.column.cmp(&right.column))
            .then_with(|| left.code.cmp(right.code))
    });
}

/// The closest of `candidates` to `word`, if close enough to be a likely typo.
pub fn did_you_mean<'a>(
    word: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Option<&'a str> {
    let word_lower = word.to_ascii_lowercase();
    candidates
        .into_iter()
        .map(|candidate| {
            (
                edit_distance(&word_lower, &candidate.to_ascii_lowercase()),
                candidate,
            )
        })
        .filter(|(distance, candidate)| {
            *distance <= (candidate.len().max(word.len()) / 3).max(1) || candidate.contains(word)
        })
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, candidate)| candidate)
}

/// Edit distance between two strings counting insertions, deletions, substitutions and swaps of
/// neighbouring characters (optimal string alignment), by characters, with `-` and `_` equal.
pub fn edit_distance(left: &str, right: &str) -> usize {
    let normalise = |c: char| if c == '-' { '_' } else { c };
    let left: Vec<char> = left.chars().map(normalise).collect();
    let right: Vec<char> = right.chars().map(normalise).collect();
    let width = right.len() + 1;
    let mut table = vec![0usize; (left.len() + 1) * width];
    for i in 0..=left.len() {
        table[i * width] = i;
    }
    for (j, cell) in table.iter_mut().enumerate().take(width) {
        *cell = j;
    }
    for i in 1..=left.len() {
        for j in 1..=right.len() {
            let cost = usize::from(left[i - 1] != right[j - 1]);
            let mut best = (table[(i - 1) * width + j] + 1)
                .min(table[i * width + j - 1] + 1)
                .min(table[(i - 1) * width + j - 1] + cost);
            if i > 1 && j > 1 && left[i - 1] == right[j - 2] && left[i - 2] == right[j - 1] {
                best = best.min(table[(i - 2) * width + j - 2] + 1);
            }
            table[i * width + j] = best;
        }
    }
    table[left.len() * width + right.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggestions() {
        assert_eq!(
            did_you_mean("cpus", ["cpu", "memory", "count"]),
            Some("cpu")
        );
        assert_eq!(
            did_you_mean("anti-affinity", ["anti_affinity", "nodes"]),
            Some("anti_affinity")
        );
        assert_eq!(did_you_mean("zzzzzz", ["cpu", "memory"]), None);
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("lna", "lan"), 1);
        assert_eq!(did_you_mean("lna", ["lan", "wan-uplink"]), Some("lan"));
    }
}
