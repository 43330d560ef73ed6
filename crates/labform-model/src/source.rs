//! Where things came from: the files of a lab (root and includes), field paths inside them, and the
//! lookup from a field path to a line and column.
//!
//! The typed parse does not keep positions. When a diagnostic needs one, the file is parsed a second
//! time into a tree of spanned nodes and the field path is walked through it. Valid labs never pay
//! for that second parse.

use std::cell::OnceCell;
use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_saphyr::Spanned;

/// Index of a file in a [`SourceMap`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct FileId(pub u32);

/// One step of a field path: a mapping key or a sequence index.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Segment {
    /// A mapping key.
    Key(String),
    /// A position in a sequence.
    Index(usize),
}

/// A path to a value inside one YAML document, such as `clusters[2].servers.count`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct FieldPath(pub Vec<Segment>);

impl FieldPath {
    /// The document root.
    pub fn root() -> Self {
        Self(Vec::new())
    }

    /// This path followed by a key.
    pub fn key(&self, key: &str) -> Self {
        let mut segments = self.0.clone();
        segments.push(Segment::Key(key.to_owned()));
        Self(segments)
    }

    /// This path followed by an index.
    pub fn index(&self, index: usize) -> Self {
        let mut segments = self.0.clone();
        segments.push(Segment::Index(index));
        Self(segments)
    }

    /// This path followed by a dotted sub-path of keys (`servers.count`).
    pub fn keys(&self, dotted: &str) -> Self {
        let mut path = self.clone();
        for part in dotted.split('.').filter(|part| !part.is_empty()) {
            path.0.push(Segment::Key(part.to_owned()));
        }
        path
    }
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.is_empty() {
            return f.write_str("(top level)");
        }
        for (position, segment) in self.0.iter().enumerate() {
            match segment {
                Segment::Key(key) if position == 0 => write!(f, "{key}")?,
                Segment::Key(key) => write!(f, ".{key}")?,
                Segment::Index(index) => write!(f, "[{index}]")?,
            }
        }
        Ok(())
    }
}

/// Where a value of the lab came from: a file and a field path inside it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct Source {
    /// The file.
    pub file: FileId,
    /// The path inside it.
    pub path: FieldPath,
}

impl Source {
    /// The same file, a path below this one (`servers.count`).
    pub fn at(&self, dotted: &str) -> Source {
        Source {
            file: self.file,
            path: self.path.keys(dotted),
        }
    }

    /// The same file, an index below this path.
    pub fn index(&self, index: usize) -> Source {
        Source {
            file: self.file,
            path: self.path.index(index),
        }
    }
}

/// A line and column (both 1-based) and the length of the marked text in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Line, from 1.
    pub line: u32,
    /// Column, from 1.
    pub column: u32,
    /// Characters to underline (at least 1 when rendered).
    pub length: u32,
}

/// A YAML node with the position of each value and key, parsed only to locate diagnostics.
#[derive(Debug)]
enum Node {
    Scalar,
    Sequence(Vec<Spanned<Node>>),
    Mapping(Vec<(Spanned<String>, Spanned<Node>)>),
}

impl<'de> Deserialize<'de> for Node {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl<'de> serde::de::Visitor<'de> for Visitor {
            type Value = Node;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_bool<E>(self, _: bool) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_i128<E>(self, _: i128) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_u128<E>(self, _: u128) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_str<E>(self, _: &str) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_bytes<E>(self, _: &[u8]) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_unit<E>(self) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_none<E>(self) -> Result<Node, E> {
                Ok(Node::Scalar)
            }
            fn visit_some<D: serde::Deserializer<'de>>(self, inner: D) -> Result<Node, D::Error> {
                Node::deserialize(inner)
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut sequence: A,
            ) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = sequence.next_element()? {
                    items.push(item);
                }
                Ok(Node::Sequence(items))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(
                self,
                mut mapping: A,
            ) -> Result<Node, A::Error> {
                let mut entries = Vec::new();
                while let Some(key) = mapping.next_key::<Spanned<KeyText>>()? {
                    let value = mapping.next_value()?;
                    let key = Spanned {
                        value: key.value.0,
                        referenced: key.referenced,
                        defined: key.defined,
                    };
                    entries.push((key, value));
                }
                Ok(Node::Mapping(entries))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

/// A mapping key of any scalar type, kept as text.
struct KeyText(String);

impl<'de> Deserialize<'de> for KeyText {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = KeyText;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a scalar key")
            }
            fn visit_str<E>(self, text: &str) -> Result<KeyText, E> {
                Ok(KeyText(text.to_owned()))
            }
            fn visit_bool<E>(self, value: bool) -> Result<KeyText, E> {
                Ok(KeyText(value.to_string()))
            }
            fn visit_i64<E>(self, value: i64) -> Result<KeyText, E> {
                Ok(KeyText(value.to_string()))
            }
            fn visit_u64<E>(self, value: u64) -> Result<KeyText, E> {
                Ok(KeyText(value.to_string()))
            }
            fn visit_f64<E>(self, value: f64) -> Result<KeyText, E> {
                Ok(KeyText(value.to_string()))
            }
            fn visit_unit<E>(self) -> Result<KeyText, E> {
                Ok(KeyText("null".to_owned()))
            }
        }
        deserializer.deserialize_str(Visitor)
    }
}

fn position_of<T>(spanned: &Spanned<T>) -> Position {
    let location = spanned.referenced;
    Position {
        line: location.line() as u32,
        column: location.column() as u32,
        length: location.span().len() as u32,
    }
}

/// One file of a lab.
#[derive(Debug)]
pub struct SourceFile {
    /// The path as the user gave it (or as an include resolved it).
    pub path: PathBuf,
    /// The file's text.
    pub text: String,
    tree: OnceCell<Option<Spanned<Node>>>,
}

impl SourceFile {
    fn tree(&self) -> Option<&Spanned<Node>> {
        self.tree
            .get_or_init(|| serde_saphyr::from_str::<Spanned<Node>>(&self.text).ok())
            .as_ref()
    }

    /// The line and column of `path`, or of its nearest ancestor present in the file (a field left
    /// out has no position of its own). The second value says whether the position is exact.
    pub fn locate(&self, path: &FieldPath) -> Option<(Position, bool)> {
        let mut node = self.tree()?;
        let mut best = position_of(node);
        // A container is pointed at by its key, which reads better than its first child.
        let mut key_position: Option<Position> = None;
        for segment in &path.0 {
            let next = match (&node.value, segment) {
                (Node::Mapping(entries), Segment::Key(key)) => entries
                    .iter()
                    .find(|(name, _)| &name.value == key)
                    .map(|(name, value)| (Some(position_of(name)), value)),
                (Node::Sequence(items), Segment::Index(index)) => {
                    items.get(*index).map(|item| (None, item))
                }
                _ => None,
            };
            match next {
                Some((key, child)) => {
                    key_position = key;
                    node = child;
                    best = key_position.unwrap_or_else(|| position_of(node));
                }
                None => return Some((best, false)),
            }
        }
        let exact = match node.value {
            Node::Scalar => position_of(node),
            _ => key_position.unwrap_or_else(|| position_of(node)),
        };
        Some((exact, true))
    }

    /// The field path of the innermost value at or before `line`:`column` (for parse errors, which
    /// come with a position but no path).
    pub fn path_at(&self, line: u32, column: u32) -> Option<FieldPath> {
        fn before(position: Position, line: u32, column: u32) -> bool {
            (position.line, position.column) <= (line, column)
        }
        fn walk(
            node: &Spanned<Node>,
            path: &mut Vec<Segment>,
            line: u32,
            column: u32,
            best: &mut Option<FieldPath>,
        ) {
            match &node.value {
                Node::Scalar => {}
                Node::Sequence(items) => {
                    for (index, item) in items.iter().enumerate() {
                        if !before(position_of(item), line, column) {
                            break;
                        }
                        path.push(Segment::Index(index));
                        *best = Some(FieldPath(path.clone()));
                        walk(item, path, line, column, best);
                        path.pop();
                    }
                }
                Node::Mapping(entries) => {
                    for (key, value) in entries {
                        if !before(position_of(key), line, column) {
                            break;
                        }
                        path.push(Segment::Key(key.value.clone()));
                        *best = Some(FieldPath(path.clone()));
                        walk(value, path, line, column, best);
                        path.pop();
                    }
                }
            }
        }
        let tree = self.tree()?;
        let mut best = None;
        walk(tree, &mut Vec::new(), line, column, &mut best);
        best
    }

    /// The text of line `line` (1-based), without its line break.
    pub fn line_text(&self, line: u32) -> Option<&str> {
        self.text.lines().nth(line.checked_sub(1)? as usize)
    }
}

/// Every file a lab was read from, indexed by [`FileId`].
#[derive(Debug, Default)]
pub struct SourceMap {
    files: Vec<SourceFile>,
}

impl SourceMap {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a file and returns its ID.
    pub fn add(&mut self, path: impl Into<PathBuf>, text: String) -> FileId {
        let id = FileId(self.files.len() as u32);
        self.files.push(SourceFile {
            path: path.into(),
            text,
            tree: OnceCell::new(),
        });
        id
    }

    /// The file with `id`.
    pub fn file(&self, id: FileId) -> &SourceFile {
        &self.files[id.0 as usize]
    }

    /// The path of the file with `id`.
    pub fn path(&self, id: FileId) -> &Path {
        &self.file(id).path
    }

    /// How many files.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether there are no files.
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = "a:\n  - x: 1\n    y: [1, 2]\n  - 3\nb:\n  c: hi\n";

    #[test]
    fn locates_paths() {
        let mut map = SourceMap::new();
        let id = map.add("t.yaml", TEXT.to_owned());
        let file = map.file(id);
        let (position, exact) = file
            .locate(&FieldPath::root().key("a").index(0).key("y"))
            .unwrap();
        assert!(exact);
        assert_eq!((position.line, position.column), (3, 5));
        let (position, exact) = file.locate(&FieldPath::root().keys("b.c")).unwrap();
        assert!(exact);
        assert_eq!((position.line, position.column), (6, 6));
        let (position, exact) = file.locate(&FieldPath::root().keys("b.missing")).unwrap();
        assert!(!exact);
        assert_eq!((position.line, position.column), (5, 1));
    }

    #[test]
    fn finds_paths_at_positions() {
        let mut map = SourceMap::new();
        let id = map.add("t.yaml", TEXT.to_owned());
        let path = map.file(id).path_at(3, 9).unwrap();
        assert_eq!(path.to_string(), "a[0].y[0]");
        let path = map.file(id).path_at(6, 6).unwrap();
        assert_eq!(path.to_string(), "b.c");
    }
}
