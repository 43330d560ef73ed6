//! Lenient serde decoders for Proxmox answers: the API does not validate its
//! return values, so integers, numbers and booleans arrive as JSON numbers,
//! numeric strings or booleans depending on the Perl scalar's history.

use serde::de::{self, Deserializer, Visitor};
use std::fmt;

struct NumVisitor;

/// A number decoded from any JSON shape Proxmox uses.
enum Num {
    I(i64),
    U(u64),
    F(f64),
}

impl<'de> Visitor<'de> for NumVisitor {
    type Value = Num;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a number, a numeric string or a boolean")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Num, E> {
        Ok(Num::U(u64::from(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Num, E> {
        Ok(Num::I(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Num, E> {
        Ok(Num::U(v))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Num, E> {
        Ok(Num::F(v))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Num, E> {
        let t = v.trim();
        if let Ok(u) = t.trim_start_matches('+').parse::<u64>() {
            return Ok(Num::U(u));
        }
        if let Ok(i) = t.parse::<i64>() {
            return Ok(Num::I(i));
        }
        t.parse::<f64>()
            .map(Num::F)
            .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
    }
}

fn num<'de, D: Deserializer<'de>>(d: D) -> Result<Num, D::Error> {
    d.deserialize_any(NumVisitor)
}

/// Decodes a `u64` from a number, a numeric string or a boolean.
pub fn u64<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
    match num(d)? {
        Num::U(u) => Ok(u),
        Num::I(i) => u64::try_from(i).map_err(|_| de::Error::custom(format!("negative value {i}"))),
        Num::F(f) if f >= 0.0 && f.fract() == 0.0 && f < 1.8e19 => Ok(f as u64),
        Num::F(f) => Err(de::Error::custom(format!(
            "expected an unsigned integer, got {f}"
        ))),
    }
}

/// Decodes an `i64` from a number, a numeric string or a boolean.
pub fn i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    match num(d)? {
        Num::I(i) => Ok(i),
        Num::U(u) => i64::try_from(u).map_err(|_| de::Error::custom("integer out of range")),
        Num::F(f) if f.fract() == 0.0 && f.abs() < 9.2e18 => Ok(f as i64),
        Num::F(f) => Err(de::Error::custom(format!("expected an integer, got {f}"))),
    }
}

/// Decodes an `f64` from a number or a numeric string.
pub fn f64<'de, D: Deserializer<'de>>(d: D) -> Result<f64, D::Error> {
    Ok(match num(d)? {
        Num::I(i) => i as f64,
        Num::U(u) => u as f64,
        Num::F(f) => f,
    })
}

struct BoolVisitor;

impl<'de> Visitor<'de> for BoolVisitor {
    type Value = bool;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a boolean, 0/1 or a boolean string")
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
        Ok(v)
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<bool, E> {
        Ok(v != 0)
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<bool, E> {
        Ok(v != 0)
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<bool, E> {
        Ok(v != 0.0)
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
        crate::propstring::parse_bool(v)
            .ok_or_else(|| E::invalid_value(de::Unexpected::Str(v), &self))
    }
}

/// Decodes a boolean from `true`, `1`, `"1"`, `"on"`, `"yes"` and their negatives.
pub fn bool<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    d.deserialize_any(BoolVisitor)
}

use serde::Deserialize;

/// Like [`u64()`], but `null` and missing give `None`.
pub fn opt_u64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    #[derive(serde::Deserialize)]
    struct W(#[serde(deserialize_with = "crate::lenient::u64")] u64);
    Ok(Option::<W>::deserialize(d)?.map(|w| w.0))
}

/// Like [`i64()`], but `null` and missing give `None`.
pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    #[derive(serde::Deserialize)]
    struct W(#[serde(deserialize_with = "crate::lenient::i64")] i64);
    Ok(Option::<W>::deserialize(d)?.map(|w| w.0))
}

/// Like [`f64()`], but `null` and missing give `None`.
pub fn opt_f64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    #[derive(serde::Deserialize)]
    struct W(#[serde(deserialize_with = "crate::lenient::f64")] f64);
    Ok(Option::<W>::deserialize(d)?.map(|w| w.0))
}

/// Like [`bool()`], but `null` and missing give `None`.
pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    #[derive(serde::Deserialize)]
    struct W(#[serde(deserialize_with = "crate::lenient::bool")] bool);
    Ok(Option::<W>::deserialize(d)?.map(|w| w.0))
}

/// Serializes a boolean the way Proxmox expects it on the wire: `0` or `1`.
pub fn ser_bool01<S: serde::Serializer>(v: &bool, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_u8(u8::from(*v))
}

/// Serializes an optional boolean as `0`/`1`.
pub fn ser_opt_bool01<S: serde::Serializer>(v: &Option<bool>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(b) => s.serialize_u8(u8::from(*b)),
        None => s.serialize_none(),
    }
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;

    #[derive(Deserialize, Debug, PartialEq)]
    struct T {
        #[serde(deserialize_with = "super::u64")]
        a: u64,
        #[serde(default, deserialize_with = "super::opt_bool")]
        b: Option<bool>,
        #[serde(default, deserialize_with = "super::opt_f64")]
        c: Option<f64>,
    }

    #[test]
    fn accepts_strings_numbers_and_null() {
        let t: T = serde_json::from_str(r#"{"a":"42","b":"1","c":"0.5"}"#).unwrap();
        assert_eq!(
            t,
            T {
                a: 42,
                b: Some(true),
                c: Some(0.5)
            }
        );
        let t: T = serde_json::from_str(r#"{"a":42,"b":null}"#).unwrap();
        assert_eq!(
            t,
            T {
                a: 42,
                b: None,
                c: None
            }
        );
        let t: T = serde_json::from_str(r#"{"a":7,"b":false,"c":2}"#).unwrap();
        assert_eq!(
            t,
            T {
                a: 7,
                b: Some(false),
                c: Some(2.0)
            }
        );
        assert!(serde_json::from_str::<T>(r#"{"a":"x"}"#).is_err());
        assert!(serde_json::from_str::<T>(r#"{"a":-1}"#).is_err());
    }
}
