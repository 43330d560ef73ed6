//! Network devices (`netN`: model, MAC address, bridge, VLAN tag, firewall,
//! ...) and MAC addresses.

use super::*;

/// A MAC address. Parsing accepts either case; `Display` prints upper case
/// as Proxmox stores it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MacAddr(pub [u8; 6]);

impl FromStr for MacAddr {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let parts: Vec<&str> = s.split(':').collect();
        if parts.len() != 6 {
            return Err(format!("invalid MAC address '{s}'"));
        }
        let mut out = [0u8; 6];
        for (o, p) in out.iter_mut().zip(parts) {
            if p.len() != 2 {
                return Err(format!("invalid MAC address '{s}'"));
            }
            *o = u8::from_str_radix(p, 16).map_err(|_| format!("invalid MAC address '{s}'"))?;
        }
        Ok(MacAddr(out))
    }
}

impl fmt::Display for MacAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let b = self.0;
        write!(
            f,
            "{:02X}:{:02X}:{:02X}:{:02X}:{:02X}:{:02X}",
            b[0], b[1], b[2], b[3], b[4], b[5]
        )
    }
}

impl MacAddr {
    /// Lower-case form, as a guest agent reports it.
    pub fn to_lower(&self) -> String {
        self.to_string().to_ascii_lowercase()
    }
}

/// NIC models accepted by qemu-server.
pub const NET_MODELS: &[&str] = &[
    "e1000",
    "e1000-82540em",
    "e1000-82544gc",
    "e1000-82545em",
    "e1000e",
    "i82551",
    "i82557b",
    "i82559er",
    "ne2k_isa",
    "ne2k_pci",
    "pcnet",
    "rtl8139",
    "virtio",
    "vmxnet3",
];

const NET_KEYS: &[&str] = &[
    "bridge",
    "firewall",
    "link_down",
    "macaddr",
    "model",
    "mtu",
    "queues",
    "rate",
    "tag",
    "trunks",
];

/// A `netN` value.
#[derive(Debug, Clone, PartialEq)]
pub struct NetDevice {
    raw: PropertyString,
    /// The NIC model, one of [`NET_MODELS`].
    pub model: String,
    /// The MAC address, if set.
    pub macaddr: Option<MacAddr>,
    /// Bridge or SDN VNet.
    pub bridge: Option<String>,
    /// VLAN tag (1-4094).
    pub tag: Option<u16>,
    /// Firewall on this NIC.
    pub firewall: Option<bool>,
    /// Link disconnected.
    pub link_down: Option<bool>,
    /// MTU (1-65520).
    pub mtu: Option<u32>,
    /// Queues (0-64).
    pub queues: Option<u32>,
    /// Rate limit in MB/s.
    pub rate: Option<String>,
    /// Trunk VLANs, `vid;vid-vid`.
    pub trunks: Option<String>,
}

impl NetDevice {
    /// A NIC of `model` on `bridge`, printed canonically.
    pub fn new(
        model: &str,
        macaddr: Option<MacAddr>,
        bridge: Option<&str>,
    ) -> Result<Self, PropertyError> {
        let mut raw = PropertyString::default();
        match macaddr {
            Some(m) => raw.push(Some(model), m.to_string()),
            None => raw.push(None, model),
        }
        if let Some(b) = bridge {
            raw.push(Some("bridge"), b);
        }
        Self::from_property_string(raw)
    }

    /// Parses a `netN` value.
    pub fn parse(s: &str) -> Result<Self, PropertyError> {
        Self::from_property_string(PropertyString::parse(s)?)
    }

    fn from_property_string(raw: PropertyString) -> Result<Self, PropertyError> {
        check_duplicates(&raw)?;
        let mut d = NetDevice {
            raw: PropertyString::default(),
            model: String::new(),
            macaddr: None,
            bridge: None,
            tag: None,
            firewall: None,
            link_down: None,
            mtu: None,
            queues: None,
            rate: None,
            trunks: None,
        };
        let mut model = None;
        for e in raw.entries() {
            let v = e.value.as_str();
            match e.key.as_deref() {
                // The model as the default key (`virtio`) or spelled out (`model=virtio`).
                None | Some("model") => {
                    if model.is_some() {
                        return Err(PropertyError::Duplicate("model".into()));
                    }
                    if !NET_MODELS.contains(&v) {
                        return Err(invalid(
                            "model",
                            format!("value '{v}' does not have a value in the enumeration"),
                        ));
                    }
                    model = Some(v.to_owned());
                }
                Some(k) if NET_MODELS.contains(&k) => {
                    if model.is_some() || d.macaddr.is_some() {
                        return Err(PropertyError::Duplicate("model".into()));
                    }
                    model = Some(k.to_owned());
                    d.macaddr = Some(v.parse().map_err(|r: String| invalid("macaddr", r))?);
                }
                Some("macaddr") => {
                    if d.macaddr.is_some() {
                        return Err(PropertyError::Duplicate("macaddr".into()));
                    }
                    d.macaddr = Some(v.parse().map_err(|r: String| invalid("macaddr", r))?);
                }
                Some("bridge") => {
                    if v.is_empty()
                        || !v
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
                    {
                        return Err(invalid("bridge", format!("invalid bridge name '{v}'")));
                    }
                    d.bridge = Some(v.to_owned());
                }
                Some("tag") => d.tag = Some(parse_int("tag", v, 1, 4094)?),
                Some("firewall") => d.firewall = Some(parse_bool_key("firewall", v)?),
                Some("link_down") => d.link_down = Some(parse_bool_key("link_down", v)?),
                Some("mtu") => d.mtu = Some(parse_int("mtu", v, 1, 65520)?),
                Some("queues") => d.queues = Some(parse_int("queues", v, 0, 64)?),
                Some("rate") => {
                    if v.parse::<f64>()
                        .map(|r| r < 0.0 || !r.is_finite())
                        .unwrap_or(true)
                    {
                        return Err(invalid(
                            "rate",
                            format!("type check ('number') failed - got '{v}'"),
                        ));
                    }
                    d.rate = Some(v.to_owned());
                }
                Some("trunks") => {
                    let ok = !v.is_empty()
                        && v.split(';').all(|r| {
                            let mut it = r.splitn(2, '-');
                            it.all(|n| {
                                n.parse::<u16>()
                                    .map(|n| (1..=4094).contains(&n))
                                    .unwrap_or(false)
                            })
                        });
                    if !ok {
                        return Err(invalid("trunks", format!("invalid trunks '{v}'")));
                    }
                    d.trunks = Some(v.to_owned());
                }
                Some(k) => return Err(PropertyError::UnknownKey { key: k.to_owned() }),
            }
        }
        d.model = model.ok_or_else(|| PropertyError::Missing("model".into()))?;
        d.raw = raw;
        Ok(d)
    }

    /// Sets the MAC address, keeping the spelling of everything else.
    pub fn set_macaddr(&mut self, mac: MacAddr) {
        let model = self.model.clone();
        let text = mac.to_string();
        let entries = self.raw.entries_mut();
        if let Some(e) = entries.iter_mut().find(|e| {
            e.key.as_deref() == Some("macaddr") || e.key.as_deref() == Some(model.as_str())
        }) {
            e.value = text;
        } else if let Some(e) = entries.iter_mut().find(|e| e.key.is_none()) {
            e.key = Some(model);
            e.value = text;
        } else {
            self.raw.set("macaddr", text);
        }
        self.macaddr = Some(mac);
    }

    /// Sets or replaces another key (`bridge`, `tag`, `firewall`, ...),
    /// validating the result.
    pub fn set(&mut self, key: &str, value: &str) -> Result<(), PropertyError> {
        let mut raw = self.raw.clone();
        raw.set(key, value);
        *self = Self::from_property_string(raw)?;
        Ok(())
    }

    /// The canonical form Proxmox stores: `model=MAC` first, then the other
    /// keys alphabetically with booleans as `0`/`1`.
    pub fn canonical(&self) -> String {
        let mut out = match self.macaddr {
            Some(m) => format!("{}={m}", self.model),
            None => self.model.clone(),
        };
        let mut push = |k: &str, v: Option<String>| {
            if let Some(v) = v {
                out.push_str(&format!(",{k}={v}"));
            }
        };
        push("bridge", self.bridge.clone());
        push("firewall", self.firewall.map(|b| u8::from(b).to_string()));
        push("link_down", self.link_down.map(|b| u8::from(b).to_string()));
        push("mtu", self.mtu.map(|v| v.to_string()));
        push("queues", self.queues.map(|v| v.to_string()));
        push("rate", self.rate.clone());
        push("tag", self.tag.map(|v| v.to_string()));
        push("trunks", self.trunks.clone());
        out
    }

    /// The underlying entries.
    pub fn property_string(&self) -> &PropertyString {
        &self.raw
    }

    /// Whether `key` is a known `netN` key (or model alias).
    pub fn is_known_key(key: &str) -> bool {
        NET_KEYS.contains(&key) || NET_MODELS.contains(&key)
    }
}

impl fmt::Display for NetDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.raw.fmt(f)
    }
}

impl FromStr for NetDevice {
    type Err = PropertyError;
    fn from_str(s: &str) -> Result<Self, PropertyError> {
        Self::parse(s)
    }
}
