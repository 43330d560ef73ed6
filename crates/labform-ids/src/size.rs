//! Byte sizes as people write them in lab files (`4GiB`, `512MiB`, `1TiB`, `500GB`).
//!
//! Shared by the lab file's crate and the add-ons' crate (storage sizes of add-ons), so it lives
//! below both. It parses from the text a person writes and serialises back to the same form, so
//! plans and the JSON Schema show what the user would type.

use std::borrow::Cow;
use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A number of bytes, written with a binary or decimal unit: `512MiB`, `4GiB`, `1TiB`, `32G`.
///
/// Units are required: a bare number is ambiguous (Proxmox reads memory in MiB and disks in GiB),
/// so a bare number is refused with a hint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct ByteSize(pub u64);

impl ByteSize {
    /// One mebibyte.
    pub const MIB: u64 = 1 << 20;
    /// One gibibyte.
    pub const GIB: u64 = 1 << 30;

    /// A size of `count` gibibytes.
    pub const fn gib(count: u64) -> Self {
        Self(count * Self::GIB)
    }

    /// A size of `count` mebibytes.
    pub const fn mib(count: u64) -> Self {
        Self(count * Self::MIB)
    }

    /// The size in bytes.
    pub fn bytes(self) -> u64 {
        self.0
    }

    /// The size in whole mebibytes, rounded up (Proxmox's unit for memory).
    pub fn mebibytes(self) -> u64 {
        self.0.div_ceil(Self::MIB)
    }

    /// The size in whole gibibytes, rounded up (Proxmox's usual unit for disks).
    pub fn gibibytes(self) -> u64 {
        self.0.div_ceil(Self::GIB)
    }
}

impl fmt::Display for ByteSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const UNITS: [(&str, u64); 5] = [
            ("PiB", 1 << 50),
            ("TiB", 1 << 40),
            ("GiB", 1 << 30),
            ("MiB", 1 << 20),
            ("KiB", 1 << 10),
        ];
        for (name, size) in UNITS {
            if self.0 >= size && self.0.is_multiple_of(size) {
                return write!(f, "{}{name}", self.0 / size);
            }
        }
        for (name, size) in UNITS {
            if self.0 >= size {
                return write!(f, "{:.1}{name}", self.0 as f64 / size as f64);
            }
        }
        write!(f, "{}B", self.0)
    }
}

/// Why a size could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ByteSizeError {
    /// A number with no unit.
    #[error("`{0}` has no unit; write for example `{0}GiB` or `{0}MiB`")]
    MissingUnit(String),
    /// A unit that is not known.
    #[error("`{0}` is not a size; write a number and a unit such as `512MiB`, `4GiB` or `1TiB`")]
    Invalid(String),
    /// Too large to count in bytes.
    #[error("`{0}` is too large")]
    Overflow(String),
}

impl FromStr for ByteSize {
    type Err = ByteSizeError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        let split = trimmed
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(trimmed.len());
        let (number, unit) = trimmed.split_at(split);
        let unit = unit.trim();
        if number.is_empty() {
            return Err(ByteSizeError::Invalid(text.to_owned()));
        }
        if unit.is_empty() {
            return Err(ByteSizeError::MissingUnit(number.to_owned()));
        }
        let multiplier: u64 = match unit.to_ascii_lowercase().as_str() {
            "b" => 1,
            "k" | "kib" => 1 << 10,
            "m" | "mib" => 1 << 20,
            "g" | "gib" => 1 << 30,
            "t" | "tib" => 1 << 40,
            "p" | "pib" => 1 << 50,
            "kb" => 1_000,
            "mb" => 1_000_000,
            "gb" => 1_000_000_000,
            "tb" => 1_000_000_000_000,
            _ => return Err(ByteSizeError::Invalid(text.to_owned())),
        };
        if let Ok(whole) = number.parse::<u64>() {
            return whole
                .checked_mul(multiplier)
                .map(ByteSize)
                .ok_or_else(|| ByteSizeError::Overflow(text.to_owned()));
        }
        let fractional: f64 = number
            .parse()
            .map_err(|_| ByteSizeError::Invalid(text.to_owned()))?;
        let bytes = fractional * multiplier as f64;
        if !bytes.is_finite() || bytes >= u64::MAX as f64 {
            return Err(ByteSizeError::Overflow(text.to_owned()));
        }
        Ok(ByteSize(bytes.round() as u64))
    }
}

impl Serialize for ByteSize {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ByteSize {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = ByteSize;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a size with a unit, such as 4GiB")
            }
            fn visit_str<E: serde::de::Error>(self, text: &str) -> Result<ByteSize, E> {
                text.parse().map_err(E::custom)
            }
            fn visit_u64<E: serde::de::Error>(self, number: u64) -> Result<ByteSize, E> {
                Err(E::custom(ByteSizeError::MissingUnit(number.to_string())))
            }
            fn visit_i64<E: serde::de::Error>(self, number: i64) -> Result<ByteSize, E> {
                Err(E::custom(ByteSizeError::MissingUnit(number.to_string())))
            }
            fn visit_f64<E: serde::de::Error>(self, number: f64) -> Result<ByteSize, E> {
                Err(E::custom(ByteSizeError::MissingUnit(number.to_string())))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

impl schemars::JsonSchema for ByteSize {
    fn schema_name() -> Cow<'static, str> {
        "ByteSize".into()
    }
    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        schemars::json_schema!({
            "type": "string",
            "description": "A size with a unit: 512MiB, 4GiB, 1TiB (binary) or 500GB (decimal).",
            "pattern": "^[0-9]+(\\.[0-9]+)?\\s*([KMGTP](i?B)?|B|[kKmMgGtT][bB])$"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_and_print() {
        assert_eq!("4GiB".parse::<ByteSize>().unwrap(), ByteSize::gib(4));
        assert_eq!("512M".parse::<ByteSize>().unwrap(), ByteSize::mib(512));
        assert_eq!("1.5GiB".parse::<ByteSize>().unwrap(), ByteSize::mib(1536));
        assert_eq!("2 TiB".parse::<ByteSize>().unwrap().to_string(), "2TiB");
        assert_eq!(ByteSize::mib(1536).to_string(), "1536MiB");
        assert!(matches!(
            "4".parse::<ByteSize>(),
            Err(ByteSizeError::MissingUnit(_))
        ));
        assert!("4 apples".parse::<ByteSize>().is_err());
        assert!("99999999999999999999P".parse::<ByteSize>().is_err());
        assert_eq!(ByteSize::mib(1025).gibibytes(), 2);
    }
}
