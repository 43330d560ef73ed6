//! Stable allocation of numbered resources (addresses, VM IDs) from ranges.
//!
//! Allocation is a pure function of the lab and the previous allocations ([`Allocations`], kept in
//! the lab's lock file and, once VMs exist, read back from Proxmox). Every key that had a value and
//! still may keep it, keeps it; only then are new keys given the lowest free values, in the lab's
//! order. So adding a VM, a cluster or a tenant never moves what was already allocated, and the
//! same inputs always give the same result.

use std::cmp::Ordering;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::str::FromStr;

use labform_ids::NodeName;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What one decision is about: the key it is recorded under in the lock file and in a VM's
/// ownership block. Built only here, so every layer spells it the same way.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AllocationKey {
    /// A VM, by name: `vm:<name>`.
    Vm(String),
    /// A template made from an image: on a shared storage one serves the whole endpoint
    /// (`template:<endpoint>@<storage>/<image>@<storage>`), otherwise one per node
    /// (`template:<endpoint>@<node>/<image>@<node>/<storage>`).
    Template {
        /// Endpoint.
        endpoint: String,
        /// Image.
        image: String,
        /// Node, when the storage is not shared.
        node: Option<String>,
        /// Storage of the template's disk.
        storage: String,
    },
    /// A cluster instance's API VIP: `vip:<instance>`.
    Vip(String),
    /// A cluster instance's load-balancer block: `lb:<instance>`.
    LoadBalancer(String),
}

impl AllocationKey {
    /// The key of the VM named `name`.
    pub fn vm(name: &str) -> Self {
        Self::Vm(name.to_owned())
    }

    /// How a message names what the key is about: a VM by its name, anything else by its key.
    pub fn subject(&self) -> String {
        match self {
            Self::Vm(name) => name.clone(),
            other => other.to_string(),
        }
    }
}

impl fmt::Display for AllocationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Vm(name) => write!(f, "vm:{name}"),
            Self::Template {
                endpoint,
                image,
                node: None,
                storage,
            } => write!(f, "template:{endpoint}@{storage}/{image}@{storage}"),
            Self::Template {
                endpoint,
                image,
                node: Some(node),
                storage,
            } => write!(f, "template:{endpoint}@{node}/{image}@{node}/{storage}"),
            Self::Vip(instance) => write!(f, "vip:{instance}"),
            Self::LoadBalancer(instance) => write!(f, "lb:{instance}"),
        }
    }
}

/// A text that is not an allocation key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvalidAllocationKey(String);

impl fmt::Display for InvalidAllocationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` is not an allocation key (vm:NAME, template:..., vip:INSTANCE or lb:INSTANCE)",
            self.0
        )
    }
}

impl std::error::Error for InvalidAllocationKey {}

impl FromStr for AllocationKey {
    type Err = InvalidAllocationKey;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || InvalidAllocationKey(text.to_owned());
        let name = |rest: &str| {
            if rest.is_empty() || rest.contains(['@', '/', ':']) {
                Err(invalid())
            } else {
                Ok(rest.to_owned())
            }
        };
        let (kind, rest) = text.split_once(':').ok_or_else(invalid)?;
        match kind {
            "vm" => name(rest).map(Self::Vm),
            "vip" => name(rest).map(Self::Vip),
            "lb" => name(rest).map(Self::LoadBalancer),
            "template" => {
                let (endpoint, rest) = rest.split_once('@').ok_or_else(invalid)?;
                let (place, rest) = rest.split_once('/').ok_or_else(invalid)?;
                let (image, tail) = rest.split_once('@').ok_or_else(invalid)?;
                let key = match tail.split_once('/') {
                    Some((node, storage)) if node == place => Self::Template {
                        endpoint: name(endpoint)?,
                        image: name(image)?,
                        node: Some(name(node)?),
                        storage: name(storage)?,
                    },
                    None if tail == place => Self::Template {
                        endpoint: name(endpoint)?,
                        image: name(image)?,
                        node: None,
                        storage: name(tail)?,
                    },
                    _ => return Err(invalid()),
                };
                Ok(key)
            }
            _ => Err(invalid()),
        }
    }
}

/// Keys sort as their text does, so lock files keep the order they always had.
impl Ord for AllocationKey {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Self::Vm(a), Self::Vm(b))
            | (Self::Vip(a), Self::Vip(b))
            | (Self::LoadBalancer(a), Self::LoadBalancer(b)) => a.cmp(b),
            _ => self.to_string().cmp(&other.to_string()),
        }
    }
}

impl PartialOrd for AllocationKey {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Serialize for AllocationKey {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AllocationKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// Decisions of earlier plans that later plans keep: VM IDs, addresses and nodes by
/// [`AllocationKey`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allocations {
    /// Format version of the lock file.
    #[serde(default = "lock_version")]
    pub version: u32,
    /// VM IDs.
    #[serde(default)]
    pub vm_ids: BTreeMap<AllocationKey, u32>,
    /// IPv4 addresses (a single address, or `first-last` for MetalLB blocks).
    #[serde(default)]
    pub addresses: BTreeMap<AllocationKey, String>,
    /// Proxmox node of each VM.
    #[serde(default)]
    pub nodes: BTreeMap<AllocationKey, NodeName>,
}

fn lock_version() -> u32 {
    1
}

impl Allocations {
    /// No previous decisions.
    pub fn empty() -> Self {
        Self {
            version: lock_version(),
            ..Self::default()
        }
    }

    /// Number of recorded decisions.
    pub fn len(&self) -> usize {
        self.vm_ids.len() + self.addresses.len() + self.nodes.len()
    }

    /// Whether nothing is recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Values `first..=last` handed out lowest first, with some already taken.
#[derive(Debug, Clone)]
pub struct SlotAllocator {
    first: u64,
    last: u64,
    taken: BTreeSet<u64>,
    cursor: u64,
}

impl SlotAllocator {
    /// A range with nothing taken.
    pub fn new(first: u64, last: u64) -> Self {
        Self {
            first,
            last,
            taken: BTreeSet::new(),
            cursor: first,
        }
    }

    /// Whether `value` lies in the range.
    pub fn contains(&self, value: u64) -> bool {
        (self.first..=self.last).contains(&value)
    }

    /// Takes `value` if it is in range and free; returns whether it did.
    pub fn reserve(&mut self, value: u64) -> bool {
        self.contains(value) && self.taken.insert(value)
    }

    /// Marks `value` as unavailable (a gateway, a static address), in range or not.
    pub fn exclude(&mut self, value: u64) {
        if self.contains(value) {
            self.taken.insert(value);
        }
    }

    /// The lowest free value, taken.
    pub fn take_lowest(&mut self) -> Option<u64> {
        while self.cursor <= self.last {
            let candidate = self.cursor;
            self.cursor += 1;
            if self.taken.insert(candidate) {
                return Some(candidate);
            }
        }
        None
    }

    /// The lowest free run of `count` consecutive values, taken.
    pub fn take_lowest_block(&mut self, count: u64) -> Option<(u64, u64)> {
        if count == 0 {
            return None;
        }
        let mut start = self.first;
        while start + count - 1 <= self.last {
            let end = start + count - 1;
            match self.taken.range(start..=end).next_back() {
                Some(&blocked) => start = blocked + 1,
                None => {
                    for value in start..=end {
                        self.taken.insert(value);
                    }
                    return Some((start, end));
                }
            }
        }
        None
    }

    /// Takes the block `first..=last` if all of it is in range and free.
    pub fn reserve_block(&mut self, first: u64, last: u64) -> bool {
        if !(self.contains(first) && self.contains(last)) || first > last {
            return false;
        }
        if self.taken.range(first..=last).next().is_some() {
            return false;
        }
        for value in first..=last {
            self.taken.insert(value);
        }
        true
    }

    /// How many values the range holds.
    pub fn capacity(&self) -> u64 {
        self.last - self.first + 1
    }

    /// How many values are free.
    pub fn free(&self) -> u64 {
        self.capacity() - self.taken.len() as u64
    }
}

/// Allocates one value per key: keys with a valid previous value keep it, the others get the
/// lowest free values in the order given. Returns the values in key order; `None` when exhausted.
pub fn allocate_keys(
    allocator: &mut SlotAllocator,
    keys: &[AllocationKey],
    previous: impl Fn(&AllocationKey) -> Option<u64>,
) -> Vec<Option<u64>> {
    let mut values = vec![None; keys.len()];
    for (index, key) in keys.iter().enumerate() {
        if let Some(value) = previous(key)
            && allocator.reserve(value)
        {
            values[index] = Some(value);
        }
    }
    for (index, value) in values.iter_mut().enumerate() {
        if value.is_none() {
            let _ = &keys[index];
            *value = allocator.take_lowest();
        }
    }
    values
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allocation_keys_round_trip_through_their_text() {
        for text in [
            "vm:home-server-0",
            "vip:main-dev",
            "lb:main-prod",
            "template:pve@pve1/debian-12@pve1/local-lvm",
            "template:pve@ceph/debian-12@ceph",
        ] {
            let key: AllocationKey = text.parse().unwrap();
            assert_eq!(key.to_string(), text);
        }
        for text in [
            "vm:",
            "host:x",
            "vm:a/b",
            "template:pve@n1/img@n2/local",
            "template:pve@s1/img@s2",
            "template:pve",
        ] {
            assert!(text.parse::<AllocationKey>().is_err(), "{text}");
        }
        let mut keys: Vec<AllocationKey> = ["vm:b", "vip:a", "lb:z", "template:e@s/i@s", "vm:a"]
            .iter()
            .map(|text| text.parse().unwrap())
            .collect();
        keys.sort();
        let texts: Vec<String> = keys.iter().map(ToString::to_string).collect();
        let mut sorted = texts.clone();
        sorted.sort();
        assert_eq!(texts, sorted, "keys sort as their text");
    }

    #[test]
    fn previous_values_win_and_new_ones_fill_gaps() {
        let mut allocator = SlotAllocator::new(10, 20);
        let keys: Vec<AllocationKey> = ["a", "b", "c"]
            .iter()
            .map(|k| AllocationKey::vm(k))
            .collect();
        let values = allocate_keys(&mut allocator, &keys, |key| {
            (key == &AllocationKey::vm("c")).then_some(10)
        });
        assert_eq!(values, [Some(11), Some(12), Some(10)]);
    }

    #[test]
    fn blocks_skip_taken_values() {
        let mut allocator = SlotAllocator::new(0, 9);
        allocator.exclude(2);
        assert_eq!(allocator.take_lowest_block(3), Some((3, 5)));
        assert_eq!(allocator.take_lowest_block(2), Some((0, 1)));
        assert_eq!(allocator.take_lowest_block(5), None);
        assert!(allocator.reserve_block(6, 9));
        assert_eq!(allocator.free(), 0);
    }
}
