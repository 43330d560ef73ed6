//! Task identifiers (UPIDs): `UPID:<node>:<pid>:<pstart>:<starttime>:<type>:<id>:<user>:`.

use std::fmt;
use std::str::FromStr;

/// A parsed UPID. `Display` gives back the exact string it was parsed from.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Upid {
    raw: String,
    /// Node the task runs on.
    pub node: String,
    /// Worker process id.
    pub pid: u32,
    /// Worker process start time (clock ticks since boot).
    pub pstart: u64,
    /// Task start, unix seconds.
    pub starttime: u64,
    /// Task type (`qmclone`, `qmstart`, ...).
    pub task_type: String,
    /// Task object id (often the VMID), may be empty.
    pub id: String,
    /// User or token id (`root@pam`, `root@pam!ci`).
    pub user: String,
}

/// A string that is not a UPID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unable to parse worker upid '{0}'")]
pub struct InvalidUpid(pub String);

fn is_hex(s: &str, min: usize, max: usize) -> bool {
    (min..=max).contains(&s.len()) && s.chars().all(|c| c.is_ascii_hexdigit())
}

fn valid_field(s: &str, allow_empty: bool) -> bool {
    (allow_empty || !s.is_empty()) && !s.chars().any(|c| c == ':' || c == '/' || c.is_whitespace())
}

fn valid_node(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

impl Upid {
    /// Builds a UPID in the format pve-common writes.
    pub fn new(
        node: &str,
        pid: u32,
        pstart: u64,
        starttime: u64,
        task_type: &str,
        id: &str,
        user: &str,
    ) -> Self {
        let raw =
            format!("UPID:{node}:{pid:08X}:{pstart:08X}:{starttime:08X}:{task_type}:{id}:{user}:");
        Self {
            raw,
            node: node.to_owned(),
            pid,
            pstart,
            starttime,
            task_type: task_type.to_owned(),
            id: id.to_owned(),
            user: user.to_owned(),
        }
    }

    /// The UPID text.
    pub fn as_str(&self) -> &str {
        &self.raw
    }

    /// The user part without a token suffix, and the token name if any.
    pub fn user_and_token(&self) -> (&str, Option<&str>) {
        match self.user.split_once('!') {
            Some((u, t)) => (u, Some(t)),
            None => (&self.user, None),
        }
    }
}

impl FromStr for Upid {
    type Err = InvalidUpid;
    fn from_str(s: &str) -> Result<Self, InvalidUpid> {
        let err = || InvalidUpid(s.to_owned());
        let body = s
            .strip_prefix("UPID:")
            .and_then(|b| b.strip_suffix(':'))
            .ok_or_else(err)?;
        let parts: Vec<&str> = body.split(':').collect();
        if parts.len() != 7 {
            return Err(err());
        }
        let [node, pid, pstart, start, ty, id, user] = [
            parts[0], parts[1], parts[2], parts[3], parts[4], parts[5], parts[6],
        ];
        if !valid_node(node)
            || !is_hex(pid, 8, 8)
            || !is_hex(pstart, 8, 9)
            || !is_hex(start, 8, 8)
            || !valid_field(ty, false)
            || !valid_field(id, true)
            || !valid_field(user, false)
        {
            return Err(err());
        }
        Ok(Self {
            raw: s.to_owned(),
            node: node.to_owned(),
            pid: u32::from_str_radix(pid, 16).map_err(|_| err())?,
            pstart: u64::from_str_radix(pstart, 16).map_err(|_| err())?,
            starttime: u64::from_str_radix(start, 16).map_err(|_| err())?,
            task_type: ty.to_owned(),
            id: id.to_owned(),
            user: user.to_owned(),
        })
    }
}

impl fmt::Display for Upid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.raw)
    }
}

impl serde::Serialize for Upid {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.raw)
    }
}

impl<'de> serde::Deserialize<'de> for Upid {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_real_upids() {
        let s = "UPID:pve1:000A1B2C:0172F3D4:66A1B2C3:qmclone:9000:root@pam!provisioner:";
        let u: Upid = s.parse().unwrap();
        assert_eq!(u.node, "pve1");
        assert_eq!(u.pid, 0x000A1B2C);
        assert_eq!(u.task_type, "qmclone");
        assert_eq!(u.id, "9000");
        assert_eq!(u.user_and_token(), ("root@pam", Some("provisioner")));
        assert_eq!(u.to_string(), s);
        let s = "UPID:pve-2:00001234:1172F3D4A:66A1B2C3:imgdel:100@local:root@pam:";
        assert_eq!(s.parse::<Upid>().unwrap().id, "100@local");
        let s = "UPID:pve1:00001234:0172F3D4:66A1B2C3:download::root@pam:";
        assert_eq!(s.parse::<Upid>().unwrap().id, "");
        for bad in [
            "UPID:pve1:00001234:0172F3D4:66A1B2C3:qmstart:100:root@pam",
            "UPID:-pve:00001234:0172F3D4:66A1B2C3:qmstart:100:root@pam:",
            "UPID:pve1:1234:0172F3D4:66A1B2C3:qmstart:100:root@pam:",
            "UPID:pve1:00001234:0172F3D4:66A1B2C3::100:root@pam:",
            "pve1:00001234:0172F3D4:66A1B2C3:qmstart:100:root@pam:",
        ] {
            assert!(bad.parse::<Upid>().is_err(), "{bad}");
        }
        let u = Upid::new("n1", 0xAB, 0x1234, 0x66A1B2C3, "qmstart", "100", "root@pam");
        assert_eq!(
            u.as_str(),
            "UPID:n1:000000AB:00001234:66A1B2C3:qmstart:100:root@pam:"
        );
        assert_eq!(u.as_str().parse::<Upid>().unwrap(), u);
    }
}
