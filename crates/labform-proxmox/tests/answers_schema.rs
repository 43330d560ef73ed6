//! The answer types of [`ProxmoxApi`] agree with Proxmox's API schema: for every method, as
//! `proxmox_api_methods!` lists it with its declared endpoint, every field its answer type reads
//! is a property the schema says that endpoint returns (for a list, a property of its items), or
//! one of the few Proxmox sends beyond its schema ([`BEYOND_THE_SCHEMA`], each with its source).
//!
//! The fields are those the type's `Deserialize` asks for: [`Probe`] is a deserializer that
//! records them and stops. A type that reads any key (a VM config, a flattened map) or a plain
//! value (a UPID) names none. The schema is the simulator's subset of Proxmox VE 9.1's
//! (`crates/labform-simulator/tests/pve-api/subset.json`).

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::fmt;

use labform_ids::VmId;
use labform_proxmox::Upid;
use labform_proxmox::endpoint::Endpoint;
use labform_proxmox::types::*;
use serde::de::{self, Deserialize, DeserializeSeed, Deserializer, SeqAccess, Visitor};
use serde_json::Value;

/// Fields Proxmox sends beyond what its schema's `returns` lists, which answer types read:
/// (method, field, where that is written down).
const BEYOND_THE_SCHEMA: &[(&str, &str, &str)] = &[
    (
        "cluster_resources",
        "host-arch",
        "BEHAVIOUR.md: /cluster/resources, a node's fields",
    ),
    (
        "list_snapshots",
        "running",
        "BEHAVIOUR.md: the `current` pseudo-entry",
    ),
    (
        "list_snapshots",
        "digest",
        "BEHAVIOUR.md: the `current` pseudo-entry",
    ),
    ("task_status", "tokenid", "BEHAVIOUR.md: a task's status"),
    ("cluster_tasks", "node", "BEHAVIOUR.md: GET /cluster/tasks"),
    ("cluster_tasks", "type", "BEHAVIOUR.md: GET /cluster/tasks"),
    ("cluster_tasks", "id", "BEHAVIOUR.md: GET /cluster/tasks"),
    ("cluster_tasks", "user", "BEHAVIOUR.md: GET /cluster/tasks"),
    (
        "cluster_tasks",
        "starttime",
        "BEHAVIOUR.md: GET /cluster/tasks",
    ),
    (
        "cluster_tasks",
        "endtime",
        "BEHAVIOUR.md: GET /cluster/tasks",
    ),
    (
        "cluster_tasks",
        "status",
        "BEHAVIOUR.md: GET /cluster/tasks",
    ),
    (
        "storage_content",
        "content",
        "pve-storage src/PVE/Storage/Plugin.pm, list_volumes: each item's content type",
    ),
    (
        "storage_content",
        "subtype",
        "pve-storage src/PVE/Storage/Plugin.pm, get_subdir_files: a backup's guest type",
    ),
];

/// What a type's `Deserialize` asked for.
#[derive(Debug, Default)]
struct Shape {
    /// A list of what follows.
    list: bool,
    /// The fields of a struct.
    fields: Vec<&'static str>,
}

/// Stops a probe.
#[derive(Debug)]
struct Stop;

impl fmt::Display for Stop {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("probed")
    }
}

impl std::error::Error for Stop {}

impl de::Error for Stop {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Stop
    }
}

/// A deserializer that records the shape asked for into its cell.
struct Probe<'a>(&'a RefCell<Shape>);

impl<'de> Deserializer<'de> for Probe<'_> {
    type Error = Stop;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Stop> {
        Err(Stop)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        fields: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Stop> {
        self.0.borrow_mut().fields.extend(fields);
        Err(Stop)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        self.0.borrow_mut().list = true;
        visitor.visit_seq(OneItem(Some(self)))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Stop> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        visitor: V,
    ) -> Result<V::Value, Stop> {
        visitor.visit_newtype_struct(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf unit
        unit_struct tuple tuple_struct map enum identifier ignored_any
    }
}

/// A list of one probed item.
struct OneItem<'a>(Option<Probe<'a>>);

impl<'de> SeqAccess<'de> for OneItem<'_> {
    type Error = Stop;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, Stop> {
        match self.0.take() {
            Some(probe) => seed.deserialize(probe).map(Some),
            None => Ok(None),
        }
    }
}

/// The shape `T`'s `Deserialize` asks for.
fn shape<T: for<'de> Deserialize<'de>>() -> Shape {
    let cell = RefCell::new(Shape::default());
    let _ = T::deserialize(Probe(&cell));
    cell.into_inner()
}

/// The properties the schema says `endpoint` returns (of its items, for a list), if it names any.
fn returned_properties(endpoint: &Endpoint, list: bool) -> Option<BTreeSet<String>> {
    static SUBSET: std::sync::OnceLock<Value> = std::sync::OnceLock::new();
    let subset = SUBSET.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../labform-simulator/tests/pve-api/subset.json"
        );
        serde_json::from_str(&std::fs::read_to_string(path).expect("subset.json")).expect("JSON")
    });
    let returns = &subset["endpoints"][endpoint.path][endpoint.method.as_str()]["returns"];
    let object = if list { &returns["items"] } else { returns };
    object["properties"]
        .as_object()
        .map(|properties| properties.keys().cloned().collect())
}

/// The shape of method `$name`'s answer `$answer`.
macro_rules! shape_of {
    // Assembled by the client rather than decoded from the endpoint's `data`: the log's lines
    // and the envelope's total; the `result` of the guest agent's answer.
    (task_log, $answer:ty) => {
        Shape::default()
    };
    (agent_network_interfaces, $answer:ty) => {
        Shape::default()
    };
    ($name:ident, $answer:ty) => {
        shape::<$answer>()
    };
}

/// The endpoint method `$name` calls.
macro_rules! endpoint_of {
    // Chosen by an argument; every power action answers alike.
    (vm_action, $endpoint:expr) => {
        &labform_proxmox::endpoint::power::START
    };
    ($name:ident, $endpoint:expr) => {
        $endpoint
    };
}

/// Each method's name, endpoint and answer shape.
macro_rules! answers {
    ($($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),*) -> $answer:ty = $endpoint:expr;)*) => {
        fn answers() -> Vec<(&'static str, &'static Endpoint, Shape)> {
            vec![$((stringify!($name), endpoint_of!($name, $endpoint), shape_of!($name, $answer)),)*]
        }
    };
}

labform_proxmox::proxmox_api_methods!(answers);

#[test]
fn answer_types_read_what_the_schema_says_endpoints_return() {
    let mut problems = Vec::new();
    let mut checked = 0;
    for (name, endpoint, shape) in answers() {
        if shape.fields.is_empty() {
            continue;
        }
        let Some(properties) = returned_properties(endpoint, shape.list) else {
            problems.push(format!(
                "{name}: {} returns no properties in the schema, but its answer type reads {:?}",
                endpoint.key(),
                shape.fields
            ));
            continue;
        };
        checked += 1;
        for field in shape.fields {
            let known = BEYOND_THE_SCHEMA
                .iter()
                .any(|(method, beyond, _)| *method == name && *beyond == field);
            if !properties.contains(field) && !known {
                problems.push(format!(
                    "{name}: field '{field}' is not returned by {} (the schema's: {properties:?})",
                    endpoint.key()
                ));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(checked >= 10, "only {checked} answer types were checked");
}

#[test]
fn the_probe_sees_fields_lists_and_options() {
    let entries = shape::<Vec<NodeStorage>>();
    assert!(entries.list);
    assert!(entries.fields.contains(&"storage"));
    assert!(shape::<Option<Version>>().fields.contains(&"release"));
    assert!(shape::<Upid>().fields.is_empty());
}
