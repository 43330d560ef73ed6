//! Cloud-init IP settings (`ipconfigN`: `ip`, `gw`, `ip6`, `gw6`).

use super::*;

/// The IPv4 part of an `ipconfigN` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv4Setting {
    /// `ip=dhcp`.
    Dhcp,
    /// `ip=ADDR/PREFIX`.
    Static(Ipv4Addr, u8),
}

/// The IPv6 part of an `ipconfigN` value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv6Setting {
    /// `ip6=dhcp`.
    Dhcp,
    /// `ip6=auto` (SLAAC).
    Auto,
    /// `ip6=ADDR/PREFIX`.
    Static(Ipv6Addr, u8),
}

/// An `ipconfigN` value (cloud-init network settings of `netN`).
#[derive(Debug, Clone, PartialEq)]
pub struct IpConfig {
    raw: PropertyString,
    /// IPv4 setting.
    pub ip: Option<Ipv4Setting>,
    /// IPv4 gateway (needs a static `ip`).
    pub gw: Option<Ipv4Addr>,
    /// IPv6 setting.
    pub ip6: Option<Ipv6Setting>,
    /// IPv6 gateway (needs a static `ip6`).
    pub gw6: Option<Ipv6Addr>,
}

impl IpConfig {
    /// Parses an `ipconfigN` value.
    pub fn parse(s: &str) -> Result<Self, PropertyError> {
        let raw = PropertyString::parse(s)?;
        check_duplicates(&raw)?;
        let mut c = IpConfig {
            raw: PropertyString::default(),
            ip: None,
            gw: None,
            ip6: None,
            gw6: None,
        };
        for e in raw.entries() {
            let v = e.value.as_str();
            match e.key.as_deref() {
                Some("ip") => {
                    c.ip = Some(if v == "dhcp" {
                        Ipv4Setting::Dhcp
                    } else {
                        let (a, p) = v.split_once('/').ok_or_else(|| invalid("ip", format!("invalid format - value does not look like a valid IPv4 network configuration: {v}")))?;
                        let addr: Ipv4Addr = a
                            .parse()
                            .map_err(|_| invalid("ip", format!("invalid IPv4 address '{a}'")))?;
                        let p: u8 = p
                            .parse()
                            .ok()
                            .filter(|p| *p <= 32)
                            .ok_or_else(|| invalid("ip", format!("invalid prefix '{p}'")))?;
                        Ipv4Setting::Static(addr, p)
                    })
                }
                Some("gw") => {
                    c.gw = Some(
                        v.parse()
                            .map_err(|_| invalid("gw", format!("invalid IPv4 address '{v}'")))?,
                    )
                }
                Some("ip6") => {
                    c.ip6 = Some(match v {
                        "dhcp" => Ipv6Setting::Dhcp,
                        "auto" => Ipv6Setting::Auto,
                        _ => {
                            let (a, p) = v.split_once('/').ok_or_else(|| {
                                invalid("ip6", format!("invalid IPv6 network configuration: {v}"))
                            })?;
                            let addr: Ipv6Addr = a.parse().map_err(|_| {
                                invalid("ip6", format!("invalid IPv6 address '{a}'"))
                            })?;
                            let p: u8 =
                                p.parse().ok().filter(|p| *p <= 128).ok_or_else(|| {
                                    invalid("ip6", format!("invalid prefix '{p}'"))
                                })?;
                            Ipv6Setting::Static(addr, p)
                        }
                    })
                }
                Some("gw6") => {
                    c.gw6 = Some(
                        v.parse()
                            .map_err(|_| invalid("gw6", format!("invalid IPv6 address '{v}'")))?,
                    )
                }
                Some(k) => return Err(PropertyError::UnknownKey { key: k.to_owned() }),
                None => return Err(PropertyError::UnknownKey { key: v.to_owned() }),
            }
        }
        if c.gw.is_some() && !matches!(c.ip, Some(Ipv4Setting::Static(..))) {
            return Err(invalid("gw", "gateway requires a static 'ip'"));
        }
        if c.gw6.is_some() && !matches!(c.ip6, Some(Ipv6Setting::Static(..))) {
            return Err(invalid("gw6", "gateway requires a static 'ip6'"));
        }
        c.raw = raw;
        Ok(c)
    }

    /// A static IPv4 configuration `ip=ADDR/PREFIX[,gw=GW]`.
    pub fn static_v4(
        addr: Ipv4Addr,
        prefix: u8,
        gw: Option<Ipv4Addr>,
    ) -> Result<Self, PropertyError> {
        let mut s = format!("ip={addr}/{prefix}");
        if let Some(gw) = gw {
            s.push_str(&format!(",gw={gw}"));
        }
        Self::parse(&s)
    }

    /// The underlying entries.
    pub fn property_string(&self) -> &PropertyString {
        &self.raw
    }
}

impl fmt::Display for IpConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.raw.fmt(f)
    }
}

impl FromStr for IpConfig {
    type Err = PropertyError;
    fn from_str(s: &str) -> Result<Self, PropertyError> {
        Self::parse(s)
    }
}
