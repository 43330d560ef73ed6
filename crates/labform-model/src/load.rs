//! Reading a lab: the root file, its includes (depth first, each file once, cycles refused), and the
//! merge of all fragments into one [`LabFile`].
//!
//! Reading goes through the [`FileSystem`] trait so tests, property tests and the fuzzer can load
//! labs from memory.

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::path::{Component, Path, PathBuf};

use crate::diagnostic::{Anchor, Diagnostic, Severity, did_you_mean};
use crate::lab::LabFile;
use crate::secret::INLINE_SECRET_MARKER;
use crate::source::{FieldPath, FileId, Position, Source, SourceMap};

/// Largest lab file labform reads; anything bigger is certainly a mistake.
pub const MAX_FILE_BYTES: usize = 16 << 20;

/// Where lab files are read from.
pub trait FileSystem {
    /// The whole file as bytes.
    fn read(&self, path: &Path) -> io::Result<Vec<u8>>;
    /// A name that is the same for every path to the same file (for include cycles and repeats).
    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf>;
}

/// The real file system.
#[derive(Debug, Default, Clone, Copy)]
pub struct RealFileSystem;

impl FileSystem for RealFileSystem {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        let metadata = std::fs::metadata(path)?;
        if metadata.len() > MAX_FILE_BYTES as u64 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!(
                    "the file is {} bytes; lab files are limited to {MAX_FILE_BYTES}",
                    metadata.len()
                ),
            ));
        }
        std::fs::read(path)
    }
    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        std::fs::canonicalize(path)
    }
}

/// Files held in memory, keyed by normalised path.
#[derive(Debug, Default, Clone)]
pub struct MemoryFileSystem {
    files: BTreeMap<PathBuf, Vec<u8>>,
}

impl MemoryFileSystem {
    /// An empty file system.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or replaces) a file.
    pub fn insert(&mut self, path: impl AsRef<Path>, content: impl Into<Vec<u8>>) -> &mut Self {
        self.files.insert(normalise(path.as_ref()), content.into());
        self
    }
}

impl FileSystem for MemoryFileSystem {
    fn read(&self, path: &Path) -> io::Result<Vec<u8>> {
        self.files
            .get(&normalise(path))
            .cloned()
            .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no such file"))
    }
    fn canonicalize(&self, path: &Path) -> io::Result<PathBuf> {
        let path = normalise(path);
        if self.files.contains_key(&path) {
            Ok(path)
        } else {
            Err(io::Error::new(io::ErrorKind::NotFound, "no such file"))
        }
    }
}

/// Removes `.` and resolves `..` lexically, so include paths print the way people wrote them.
pub fn normalise(path: &Path) -> PathBuf {
    let mut parts: Vec<Component<'_>> = Vec::new();
    for component in path.components() {
        match component {
            Component::CurDir => {}
            Component::ParentDir => match parts.last() {
                Some(Component::Normal(_)) => {
                    parts.pop();
                }
                _ => parts.push(component),
            },
            other => parts.push(other),
        }
    }
    parts.iter().collect()
}

/// A lab read from its files: the merged content and the files it came from.
#[derive(Debug)]
pub struct LoadedLab {
    /// All fragments merged, includes first.
    pub lab: LabFile,
    /// The files.
    pub sources: SourceMap,
    /// The root file.
    pub root: FileId,
}

/// The result of loading: the lab when every file could be read and parsed, and any diagnostics.
#[derive(Debug)]
pub struct Loaded {
    /// The lab, absent when a file could not be read or parsed.
    pub lab: Option<LabFile>,
    /// The files read so far.
    pub sources: SourceMap,
    /// Problems found.
    pub diagnostics: Vec<Diagnostic>,
}

/// Reads the lab at `path` and everything it includes.
pub fn load(file_system: &dyn FileSystem, path: &Path) -> Loaded {
    let mut loader = Loader {
        file_system,
        sources: SourceMap::new(),
        diagnostics: Vec::new(),
        stack: Vec::new(),
        seen: HashSet::new(),
        fragments: Vec::new(),
    };
    loader.load_file(&normalise(path), None);
    let failed = loader.diagnostics.iter().any(Diagnostic::is_error);
    let lab = if failed {
        None
    } else {
        Some(merge(
            std::mem::take(&mut loader.fragments),
            &mut loader.diagnostics,
        ))
    };
    Loaded {
        lab,
        sources: loader.sources,
        diagnostics: loader.diagnostics,
    }
}

struct Loader<'a> {
    file_system: &'a dyn FileSystem,
    sources: SourceMap,
    diagnostics: Vec<Diagnostic>,
    stack: Vec<(PathBuf, PathBuf)>,
    seen: HashSet<PathBuf>,
    fragments: Vec<LabFile>,
}

impl Loader<'_> {
    fn load_file(&mut self, path: &Path, included_from: Option<Source>) {
        let canonical = match self.file_system.canonicalize(path) {
            Ok(canonical) => canonical,
            Err(error) => {
                self.unreadable(path, &error, included_from.as_ref());
                return;
            }
        };
        if let Some(start) = self.stack.iter().position(|(seen, _)| *seen == canonical) {
            let mut chain: Vec<String> = self.stack[start..]
                .iter()
                .map(|(_, shown)| shown.display().to_string())
                .collect();
            chain.push(path.display().to_string());
            let at = included_from.expect("a cycle is always entered through an include");
            self.diagnostics.push(
                Diagnostic::error(
                    "include-cycle",
                    &at,
                    format!("include cycle: {}", chain.join(" -> ")),
                )
                .hint("remove one of these includes; shared parts belong in a fragment that includes nothing that includes it back"),
            );
            return;
        }
        if !self.seen.insert(canonical.clone()) {
            // Included twice through different paths (a diamond): its content is already merged.
            return;
        }
        let bytes = match self.file_system.read(path) {
            Ok(bytes) => bytes,
            Err(error) => {
                self.unreadable(path, &error, included_from.as_ref());
                return;
            }
        };
        let text = match String::from_utf8(bytes) {
            Ok(text) => text,
            Err(error) => {
                let id = self.sources.add(path, String::new());
                self.diagnostics.push(Diagnostic {
                    severity: Severity::Error,
                    code: "not-utf8",
                    message: format!(
                        "the file is not UTF-8 text (invalid byte at offset {})",
                        error.utf8_error().valid_up_to()
                    ),
                    anchor: Some(Anchor::File(id)),
                    hint: Some("lab files are YAML; save the file as UTF-8".to_owned()),
                    notes: Vec::new(),
                    hide_source_line: false,
                });
                return;
            }
        };
        if text.len() > MAX_FILE_BYTES {
            let id = self.sources.add(path, String::new());
            self.diagnostics.push(Diagnostic {
                severity: Severity::Error,
                code: "file-too-large",
                message: format!(
                    "the file is {} bytes; lab files are limited to {MAX_FILE_BYTES}",
                    text.len()
                ),
                anchor: Some(Anchor::File(id)),
                hint: Some("split the lab into fragments with `include`".to_owned()),
                notes: Vec::new(),
                hide_source_line: false,
            });
            return;
        }
        let id = self.sources.add(path, text);
        let parsed = parse_fragment(id, &self.sources);
        let mut fragment = match parsed {
            Ok(fragment) => fragment,
            Err(diagnostic) => {
                self.diagnostics.push(*diagnostic);
                return;
            }
        };
        assign_sources(&mut fragment, id);
        if included_from.is_some() {
            for (key, present) in [
                ("lab", fragment.lab.is_some()),
                ("scope", fragment.scope.is_some()),
            ] {
                if present {
                    self.diagnostics.push(
                        Diagnostic::error(
                            "fragment-sets-lab",
                            &Source {
                                file: id,
                                path: FieldPath::root().key(key),
                            },
                            format!("`{key}` is set in an included fragment"),
                        )
                        .hint(format!(
                            "only the root lab file sets `{key}`; remove it here"
                        )),
                    );
                }
            }
        }
        self.stack.push((canonical, path.to_path_buf()));
        let base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        let includes = std::mem::take(&mut fragment.include);
        for (index, include) in includes.iter().enumerate() {
            let site = Source {
                file: id,
                path: FieldPath::root().key("include").index(index),
            };
            let target = normalise(&base.join(include));
            self.load_file(&target, Some(site));
        }
        fragment.include = includes;
        self.stack.pop();
        self.fragments.push(fragment);
    }

    fn unreadable(&mut self, path: &Path, error: &io::Error, included_from: Option<&Source>) {
        let message = format!("cannot read {}: {}", path.display(), io_reason(error));
        let diagnostic = match included_from {
            Some(site) => Diagnostic::error("include-unreadable", site, message)
                .hint("include paths are relative to the file that includes them"),
            None => Diagnostic {
                severity: Severity::Error,
                code: "file-unreadable",
                message,
                anchor: None,
                hint: Some("check the path of the lab file".to_owned()),
                notes: Vec::new(),
                hide_source_line: false,
            },
        };
        self.diagnostics.push(diagnostic);
    }
}

fn io_reason(error: &io::Error) -> String {
    match error.kind() {
        io::ErrorKind::NotFound => "no such file".to_owned(),
        io::ErrorKind::PermissionDenied => "permission denied".to_owned(),
        _ => error.to_string(),
    }
}

/// Parses one file's text into a fragment, or a diagnostic saying where and why it failed.
pub fn parse_fragment(id: FileId, sources: &SourceMap) -> Result<LabFile, Box<Diagnostic>> {
    let text = &sources.file(id).text;
    if text.trim().is_empty() {
        return Ok(LabFile::default());
    }
    serde_saphyr::from_str::<LabFile>(text).map_err(|error| {
        let mut diagnostic = parse_diagnostic(id, &error);
        // A missing field is reported where its mapping ends; point at the mapping itself.
        if diagnostic.code == "missing-field"
            && let Some(Anchor::Position { position, .. }) = &diagnostic.anchor
            && let Some(mut path) = sources.file(id).path_at(position.line, position.column)
        {
            path.0.pop();
            diagnostic.anchor = Some(Anchor::Field(Source { file: id, path }));
        }
        Box::new(diagnostic)
    })
}

/// Turns a YAML or type error into a diagnostic with a code, a position and a hint.
pub fn parse_diagnostic(file: FileId, error: &serde_saphyr::Error) -> Diagnostic {
    let bare = error.without_snippet().to_string();
    let location = error.location();
    let mut message = bare.clone();
    if let Some(location) = location {
        let suffix = format!(" at line {}, column {}", location.line(), location.column());
        if let Some(stripped) = message.strip_suffix(&suffix) {
            message = stripped.to_owned();
        }
    }
    let code;
    let hint;
    let mut hide_source_line = false;
    if message.contains(INLINE_SECRET_MARKER) {
        code = "inline-secret";
        hide_source_line = true;
        message = "a secret is written inline".to_owned();
        hint = Some(
            "secret values never go in a lab file; reference them: {env: VARIABLE}, {file: PATH}, \
             {vault: {path: P, field: F}} or {store: KEY}"
                .to_owned(),
        );
    } else if let Some(rest) = message.strip_prefix("unknown field `") {
        code = "unknown-field";
        let (name, expected) = split_expected(rest);
        hint = Some(
            match did_you_mean(&name, expected.iter().map(String::as_str)) {
                Some(best) => format!("did you mean `{best}`?"),
                None => format!("expected one of: {}", expected.join(", ")),
            },
        );
        message = format!("unknown field `{name}`");
    } else if let Some(rest) = message.strip_prefix("unknown variant `") {
        code = "unknown-variant";
        let (name, expected) = split_expected(rest);
        hint = Some(
            match did_you_mean(&name, expected.iter().map(String::as_str)) {
                Some(best) => format!("did you mean `{best}`?"),
                None => format!("expected one of: {}", expected.join(", ")),
            },
        );
        message = format!("unknown value `{name}`");
    } else if let Some(rest) = message.strip_prefix("missing field `") {
        code = "missing-field";
        let name = rest.split('`').next().unwrap_or_default().to_owned();
        hint = Some(format!(
            "add `{name}:` here; `labform schema` lists every field"
        ));
        message = format!("missing field `{name}`");
    } else if message.starts_with("invalid type") || message.starts_with("invalid ") {
        code = "wrong-type";
        let kind = message.trim_start_matches("invalid ").trim();
        let plain = match kind {
            "u8" | "u16" | "u32" | "u64" | "usize" => Some("expected a whole number (0 or more)"),
            "i8" | "i16" | "i32" | "i64" | "isize" => Some("expected a whole number"),
            "f32" | "f64" => Some("expected a number"),
            "bool" | "boolean" => Some("expected true or false"),
            _ => None,
        };
        if let Some(plain) = plain {
            message = plain.to_owned();
        }
        hint = Some("`labform schema` shows the type each field expects".to_owned());
    } else if message.contains("budget") || message.contains("depth") {
        code = "too-complex";
        hint = Some("lab files nest a few levels deep; this input is not a lab file".to_owned());
    } else if matches!(error.without_snippet(), serde_saphyr::Error::Message { .. }) {
        code = "invalid-value";
        hint = Some("`labform schema` describes what this field accepts".to_owned());
    } else {
        code = "yaml-syntax";
        hint = Some("check indentation and quoting around this position".to_owned());
    }
    let anchor = match location {
        Some(location) if location.line() > 0 => Anchor::Position {
            file,
            position: Position {
                line: location.line() as u32,
                column: location.column() as u32,
                length: location.span().len() as u32,
            },
        },
        _ => Anchor::File(file),
    };
    Diagnostic {
        severity: Severity::Error,
        code,
        message,
        anchor: Some(anchor),
        hint,
        notes: Vec::new(),
        hide_source_line,
    }
}

/// Splits "name`, expected one of a, b" into the name and the expected names.
fn split_expected(rest: &str) -> (String, Vec<String>) {
    let (name, tail) = rest.split_once('`').unwrap_or((rest, ""));
    let expected = tail
        .split_once("expected one of ")
        .or_else(|| tail.split_once("expected "))
        .map(|(_, list)| {
            list.split(',')
                .map(|item| item.trim().trim_matches('`').to_owned())
                .filter(|item| !item.is_empty())
                .collect()
        })
        .unwrap_or_default();
    (name.to_owned(), expected)
}

/// Records in every list item where it came from.
fn assign_sources(fragment: &mut LabFile, file: FileId) {
    let root = Source {
        file,
        path: FieldPath::root(),
    };
    fragment.source = root.clone();
    if let Some(defaults) = &mut fragment.defaults {
        defaults.source = root.at("defaults");
    }
    for (index, endpoint) in fragment.proxmox.iter_mut().enumerate() {
        endpoint.source = root.at("proxmox").index(index);
        for (node_index, node) in endpoint.nodes.iter_mut().enumerate() {
            node.source = endpoint.source.at("nodes").index(node_index);
        }
        for (storage_index, storage) in endpoint.storages.iter_mut().enumerate() {
            storage.source = endpoint.source.at("storages").index(storage_index);
        }
    }
    for (index, image) in fragment.images.iter_mut().enumerate() {
        image.source = root.at("images").index(index);
    }
    for (index, network) in fragment.networks.iter_mut().enumerate() {
        network.source = root.at("networks").index(index);
    }
    for (index, cluster) in fragment.clusters.iter_mut().enumerate() {
        cluster.source = root.at("clusters").index(index);
    }
    for (index, vm) in fragment.vms.iter_mut().enumerate() {
        vm.source = root.at("vms").index(index);
    }
    for (index, environment) in fragment.environments.iter_mut().enumerate() {
        environment.source = root.at("environments").index(index);
    }
    for (index, tenant) in fragment.tenants.iter_mut().enumerate() {
        tenant.source = root.at("tenants").index(index);
    }
}

/// Merges fragments in load order: lists are concatenated, `defaults` are merged field by field
/// (later fragments, and finally the root, win), and the root's `lab` and `scope` are kept.
fn merge(fragments: Vec<LabFile>, _diagnostics: &mut Vec<Diagnostic>) -> LabFile {
    let mut merged = LabFile::default();
    let mut fragments = fragments.into_iter().peekable();
    while let Some(fragment) = fragments.next() {
        let is_root = fragments.peek().is_none();
        if is_root {
            merged.lab = fragment.lab;
            merged.scope = fragment.scope;
            merged.schema = fragment.schema;
            merged.include = fragment.include;
            merged.source = fragment.source;
        }
        merged.proxmox.extend(fragment.proxmox);
        merged.images.extend(fragment.images);
        merged.networks.extend(fragment.networks);
        merged.clusters.extend(fragment.clusters);
        merged.vms.extend(fragment.vms);
        merged.environments.extend(fragment.environments);
        merged.tenants.extend(fragment.tenants);
        if let Some(defaults) = fragment.defaults {
            let target = merged.defaults.get_or_insert_with(Default::default);
            if defaults.user.is_some() {
                target.user = defaults.user;
            }
            if defaults.image.is_some() {
                target.image = defaults.image;
            }
            if defaults.timezone.is_some() {
                target.timezone = defaults.timezone;
            }
            for key in defaults.ssh_keys {
                if !target.ssh_keys.contains(&key) {
                    target.ssh_keys.push(key);
                }
            }
            for package in defaults.packages {
                if !target.packages.contains(&package) {
                    target.packages.push(package);
                }
            }
            target.source = defaults.source;
        }
    }
    merged
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn includes_merge_depth_first_and_once() {
        let mut files = MemoryFileSystem::new();
        files
            .insert("lab/root.yaml", "lab: home\ninclude: [shared/a.yaml, shared/b.yaml]\nimages: [{name: root, url: u, checksum: c}]\n")
            .insert("lab/shared/a.yaml", "include: [common.yaml]\nimages: [{name: a, url: u, checksum: c}]\n")
            .insert("lab/shared/b.yaml", "include: [./common.yaml]\nimages: [{name: b, url: u, checksum: c}]\n")
            .insert("lab/shared/common.yaml", "images: [{name: common, url: u, checksum: c}]\n");
        let loaded = load(&files, Path::new("lab/root.yaml"));
        assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
        let lab = loaded.lab.unwrap();
        let names: Vec<_> = lab.images.iter().map(|image| image.name.as_str()).collect();
        assert_eq!(names, ["common", "a", "b", "root"]);
        assert_eq!(lab.lab.as_deref(), Some("home"));
    }

    #[test]
    fn include_cycles_are_reported_at_the_include() {
        let mut files = MemoryFileSystem::new();
        files
            .insert("root.yaml", "lab: home\ninclude: [a.yaml]\n")
            .insert("a.yaml", "include: [root.yaml]\n");
        let loaded = load(&files, Path::new("root.yaml"));
        assert!(loaded.lab.is_none());
        assert_eq!(loaded.diagnostics.len(), 1);
        let resolved = loaded.diagnostics[0].resolve(&loaded.sources);
        assert_eq!(resolved.code, "include-cycle");
        assert_eq!(
            resolved.message,
            "include cycle: root.yaml -> a.yaml -> root.yaml"
        );
        assert_eq!(resolved.file.as_deref(), Some("a.yaml"));
        assert_eq!(resolved.line, Some(1));
    }

    #[test]
    fn unknown_fields_get_suggestions() {
        let mut files = MemoryFileSystem::new();
        files.insert("root.yaml", "lab: home\nnetwork: []\n");
        let loaded = load(&files, Path::new("root.yaml"));
        let resolved = loaded.diagnostics[0].resolve(&loaded.sources);
        assert_eq!(resolved.code, "unknown-field");
        assert_eq!(resolved.hint.as_deref(), Some("did you mean `networks`?"));
        assert_eq!((resolved.line, resolved.column), (Some(2), Some(1)));
    }
}
