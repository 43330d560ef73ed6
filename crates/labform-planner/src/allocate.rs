//! Stable allocation of numbered resources (addresses, VM IDs) from ranges.
//!
//! Allocation is a pure function of the lab and the previous allocations ([`Allocations`], kept in
//! the lab's lock file and, once VMs exist, read back from Proxmox). Every key that had a value and
//! still may keep it, keeps it; only then are new keys given the lowest free values, in the lab's
//! order. So adding a VM, a cluster or a tenant never moves what was already allocated, and the
//! same inputs always give the same result.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// Decisions of earlier plans that later plans keep: VM IDs, addresses and nodes by key.
///
/// Keys are `vm:<name>`, `template:<image>@<node>/<storage>`, `vip:<instance>` and
/// `lb:<instance>`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Allocations {
    /// Format version of the lock file.
    #[serde(default = "lock_version")]
    pub version: u32,
    /// VM IDs.
    #[serde(default)]
    pub vm_ids: BTreeMap<String, u32>,
    /// IPv4 addresses (a single address, or `first-last` for MetalLB blocks).
    #[serde(default)]
    pub addresses: BTreeMap<String, String>,
    /// Proxmox node of each VM.
    #[serde(default)]
    pub nodes: BTreeMap<String, String>,
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
    keys: &[String],
    previous: impl Fn(&str) -> Option<u64>,
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
    fn previous_values_win_and_new_ones_fill_gaps() {
        let mut allocator = SlotAllocator::new(10, 20);
        let keys: Vec<String> = ["a", "b", "c"].iter().map(|k| k.to_string()).collect();
        let values = allocate_keys(&mut allocator, &keys, |key| (key == "c").then_some(10));
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
