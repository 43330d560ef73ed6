//! The corpus of broken lab files in `tests/broken/`: one file per check. Each file names the
//! check it triggers on its first line (`# expect: CODE`) and marks the offending line with
//! `# <-- CODE` (in itself or in the fragment at fault). The test asserts that the check fires,
//! at that line, that no secret leaks, and snapshots the whole rendered output.

use std::path::{Path, PathBuf};

use labform_model::diagnostic::render_all;
use labform_model::{RealFileSystem, load};
use labform_planner::Allocations;

fn corpus() -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir("tests/broken")
        .expect("the corpus directory exists")
        .map(|entry| entry.expect("readable").path())
        .filter(|path| {
            path.extension()
                .is_some_and(|extension| extension == "yaml")
        })
        .collect();
    files.sort();
    files
}

fn expected_code(path: &Path) -> String {
    let bytes = std::fs::read(path).expect("readable");
    let first_line = bytes
        .split(|byte| *byte == b'\n')
        .next()
        .unwrap_or_default();
    let first_line = String::from_utf8_lossy(first_line);
    first_line
        .strip_prefix("# expect: ")
        .unwrap_or_else(|| panic!("{} does not start with `# expect: CODE`", path.display()))
        .trim()
        .to_owned()
}

fn marker_line(file: &str, code: &str) -> Option<u32> {
    let text = std::fs::read_to_string(file).ok()?;
    let marker = format!("# <-- {code}");
    text.lines()
        .position(|line| line.contains(&marker))
        .map(|index| index as u32 + 1)
}

#[test]
fn every_broken_lab_reports_its_check_at_the_marked_line() {
    let files = corpus();
    assert!(
        files.len() >= 40,
        "the corpus has only {} files",
        files.len()
    );
    let mut failures = Vec::new();
    let mut codes = std::collections::BTreeSet::new();
    for path in &files {
        let code = expected_code(path);
        codes.insert(code.clone());
        let loaded = load(&RealFileSystem, path);
        let mut diagnostics = loaded.diagnostics.clone();
        if let Some(lab) = &loaded.lab {
            diagnostics.extend(labform_planner::plan(lab, &Allocations::empty()).diagnostics);
        }
        let rendered = render_all(&diagnostics, &loaded.sources);
        let name = path
            .file_stem()
            .expect("named")
            .to_string_lossy()
            .to_string();
        insta::assert_snapshot!(name.as_str(), rendered);
        if rendered.contains("hunter2") {
            failures.push(format!(
                "{}: a secret value leaked into the output",
                path.display()
            ));
        }
        let found: Vec<_> = diagnostics
            .iter()
            .filter(|diagnostic| diagnostic.code == code)
            .map(|diagnostic| diagnostic.resolve(&loaded.sources))
            .collect();
        let Some(diagnostic) = found.first() else {
            failures.push(format!(
                "{}: expected `{code}`, got:\n{rendered}",
                path.display()
            ));
            continue;
        };
        if !diagnostic.is_error_or_warning() {
            failures.push(format!("{}: `{code}` has no severity", path.display()));
        }
        if code == "not-utf8" {
            continue;
        }
        let file = diagnostic.file.clone().expect("located in a file");
        let Some(expected_line) = marker_line(&file, &code) else {
            failures.push(format!(
                "{}: no `# <-- {code}` marker in {file}",
                path.display()
            ));
            continue;
        };
        if !found
            .iter()
            .any(|diagnostic| diagnostic.line == Some(expected_line))
        {
            failures.push(format!(
                "{}: `{code}` reported at line {:?} of {file}, expected line {expected_line}:\n{rendered}",
                path.display(),
                diagnostic.line
            ));
        }
        if diagnostic.hint.is_none() {
            failures.push(format!("{}: `{code}` has no hint", path.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
    assert!(
        codes.len() >= 40,
        "only {} distinct checks are covered",
        codes.len()
    );
}

trait Severe {
    fn is_error_or_warning(&self) -> bool;
}

impl Severe for labform_model::ResolvedDiagnostic {
    fn is_error_or_warning(&self) -> bool {
        matches!(
            self.severity,
            labform_model::Severity::Error | labform_model::Severity::Warning
        )
    }
}
