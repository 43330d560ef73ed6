//! Quantities written in lab files: byte sizes (`4GiB`, `512MiB`), address ranges (`10.0.0.10-10.0.0.99`)
//! and ID ranges (`1000-1999`).
//!
//! Each type parses from the text a person writes and serialises back to the same form, so plans and
//! the JSON Schema show what the user would type.

use std::borrow::Cow;
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use labform_ids::size::{ByteSize, ByteSizeError};

/// An inclusive range of IPv4 addresses, written `10.0.0.10-10.0.0.99` or as a CIDR block
/// `10.0.0.64/27` (which means every address of the block).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct AddressRange {
    /// The first address of the range.
    pub first: Ipv4Addr,
    /// The last address of the range (inclusive).
    pub last: Ipv4Addr,
}

impl AddressRange {
    /// Number of addresses in the range.
    pub fn len(&self) -> u64 {
        u64::from(u32::from(self.last)) - u64::from(u32::from(self.first)) + 1
    }

    /// Always false: a range holds at least one address.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Whether `address` lies in the range.
    pub fn contains(&self, address: Ipv4Addr) -> bool {
        self.first <= address && address <= self.last
    }

    /// Whether the two ranges share an address.
    pub fn overlaps(&self, other: &AddressRange) -> bool {
        self.first <= other.last && other.first <= self.last
    }

    /// Whether the whole range lies in `network`.
    pub fn within(&self, network: &Ipv4Net) -> bool {
        network.contains(&self.first) && network.contains(&self.last)
    }

    /// The addresses of the range, in order.
    pub fn addresses(&self) -> impl Iterator<Item = Ipv4Addr> + use<> {
        (u32::from(self.first)..=u32::from(self.last)).map(Ipv4Addr::from)
    }
}

impl fmt::Display for AddressRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

impl FromStr for AddressRange {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if let Some((first, last)) = text.split_once('-') {
            let first: Ipv4Addr = first
                .trim()
                .parse()
                .map_err(|_| format!("`{}` is not an IPv4 address", first.trim()))?;
            let last: Ipv4Addr = last
                .trim()
                .parse()
                .map_err(|_| format!("`{}` is not an IPv4 address", last.trim()))?;
            if last < first {
                return Err(format!(
                    "the range `{text}` ends before it starts; write `{last}-{first}`"
                ));
            }
            Ok(Self { first, last })
        } else if text.contains('/') {
            let network: Ipv4Net = text
                .parse()
                .map_err(|_| format!("`{text}` is neither a range `A-B` nor a CIDR block"))?;
            let network = network.trunc();
            Ok(Self {
                first: network.network(),
                last: network.broadcast(),
            })
        } else {
            let single: Ipv4Addr = text.parse().map_err(|_| {
                format!("`{text}` is not an address range; write `10.0.0.10-10.0.0.99` or `10.0.0.64/27`")
            })?;
            Ok(Self {
                first: single,
                last: single,
            })
        }
    }
}

impl Serialize for AddressRange {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for AddressRange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Cow::<str>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for AddressRange {
    fn schema_name() -> Cow<'static, str> {
        "AddressRange".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "IPv4 addresses: a range `10.0.0.10-10.0.0.99`, a CIDR block `10.0.0.64/27` or one address.",
            "examples": ["10.0.0.10-10.0.0.99", "10.0.0.64/27"]
        })
    }
}

/// An inclusive range of integers, written `1000-1999`; used for VM ID ranges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct IdRange {
    /// The first value.
    pub first: u32,
    /// The last value (inclusive).
    pub last: u32,
}

impl IdRange {
    /// Number of values in the range.
    pub fn len(&self) -> u64 {
        u64::from(self.last) - u64::from(self.first) + 1
    }

    /// Always false: a range holds at least one value.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Whether the two ranges share a value.
    pub fn overlaps(&self, other: &IdRange) -> bool {
        self.first <= other.last && other.first <= self.last
    }

    /// Whether `value` lies in the range.
    pub fn contains(&self, value: u32) -> bool {
        self.first <= value && value <= self.last
    }
}

impl fmt::Display for IdRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

impl FromStr for IdRange {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let (first, last) = text
            .split_once('-')
            .ok_or_else(|| format!("`{text}` is not a range; write `1000-1999`"))?;
        let parse = |part: &str| {
            part.trim()
                .parse::<u32>()
                .map_err(|_| format!("`{}` is not a whole number", part.trim()))
        };
        let (first, last) = (parse(first)?, parse(last)?);
        if last < first {
            return Err(format!(
                "the range `{text}` ends before it starts; write `{last}-{first}`"
            ));
        }
        Ok(Self { first, last })
    }
}

impl Serialize for IdRange {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for IdRange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = Cow::<str>::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

impl schemars::JsonSchema for IdRange {
    fn schema_name() -> Cow<'static, str> {
        "IdRange".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "An inclusive range of integers, `1000-1999`.",
            "pattern": "^\\s*[0-9]+\\s*-\\s*[0-9]+\\s*$"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_parse() {
        let range: AddressRange = "10.0.0.10-10.0.0.19".parse().unwrap();
        assert_eq!(range.len(), 10);
        let block: AddressRange = "10.0.0.64/27".parse().unwrap();
        assert_eq!(block.to_string(), "10.0.0.64-10.0.0.95");
        assert!(range.overlaps(&"10.0.0.19".parse().unwrap()));
        assert!("10.0.0.9-10.0.0.1".parse::<AddressRange>().is_err());
        assert!("nope".parse::<AddressRange>().is_err());
        let ids: IdRange = "1000-1999".parse().unwrap();
        assert_eq!(ids.len(), 1000);
        assert!("5-1".parse::<IdRange>().is_err());
    }
}
