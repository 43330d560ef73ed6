//! Login tickets and CSRF prevention tokens in Proxmox's formats
//! (`PVE:<user>:<HEXTIME>::<signature>` and `<HEXTIME>:<signature>`), signed
//! with HMAC-SHA256 under a per-server random key.

use base64::Engine;
use labform_proxmox::Secret;
use sha2::{Digest, Sha256};

/// Ticket lifetime (Proxmox: 2 hours).
pub const TICKET_LIFETIME: u64 = 2 * 3600;
/// Allowed clock skew into the future (Proxmox: 5 minutes).
const SKEW: u64 = 300;

fn hmac_sha256(key: &[u8], msg: &[u8]) -> [u8; 32] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(k.iter().map(|b| b ^ 0x36).collect::<Vec<u8>>());
    inner.update(msg);
    let ih = inner.finalize();
    let mut outer = Sha256::new();
    outer.update(k.iter().map(|b| b ^ 0x5c).collect::<Vec<u8>>());
    outer.update(ih);
    outer.finalize().into()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
}

/// Issues and verifies tickets.
pub struct TicketAuthority {
    key: Secret,
}

impl std::fmt::Debug for TicketAuthority {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TicketAuthority(<redacted>)")
    }
}

impl TicketAuthority {
    /// A new authority with a random key.
    pub fn new() -> Self {
        Self {
            key: Secret::new(crate::sim::random_uuid() + &crate::sim::random_uuid()),
        }
    }

    /// An authority with a key kept elsewhere (tickets survive a restart).
    pub fn with_key(key: Secret) -> Self {
        Self { key }
    }

    fn sign(&self, data: &str) -> String {
        b64(&hmac_sha256(self.key.expose().as_bytes(), data.as_bytes()))
    }

    /// A ticket for `user` issued at `now`.
    pub fn ticket(&self, user: &str, now: u64) -> Secret {
        let data = format!("PVE:{user}:{now:08X}");
        Secret::new(format!("{data}::{}", self.sign(&data)))
    }

    /// The CSRF token for `user` at `now`.
    pub fn csrf(&self, user: &str, now: u64) -> Secret {
        let t = format!("{now:08X}");
        Secret::new(format!("{t}:{}", self.sign(&format!("{t}:{user}"))))
    }

    /// Verifies a ticket, returning its user.
    pub fn verify_ticket(&self, ticket: &str, now: u64) -> Option<String> {
        let (data, sig) = ticket.split_once("::")?;
        let rest = data.strip_prefix("PVE:")?;
        let (user, time) = rest.rsplit_once(':')?;
        let t = u64::from_str_radix(time, 16).ok()?;
        if self.sign(data) != sig || t > now + SKEW || now > t + TICKET_LIFETIME {
            return None;
        }
        Some(user.to_owned())
    }

    /// Verifies a CSRF token for `user`.
    pub fn verify_csrf(&self, token: &str, user: &str, now: u64) -> bool {
        let Some((time, sig)) = token.split_once(':') else {
            return false;
        };
        let Ok(t) = u64::from_str_radix(time, 16) else {
            return false;
        };
        self.sign(&format!("{time}:{user}")) == sig && t <= now + SKEW && now <= t + TICKET_LIFETIME
    }
}

impl Default for TicketAuthority {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hmac_matches_rfc4231_case_2() {
        let mac = hmac_sha256(b"Jefe", b"what do ya want for nothing?");
        let hex: String = mac.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(
            hex,
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn tickets_expire_and_are_bound_to_user() {
        let a = TicketAuthority::new();
        let t = a.ticket("root@pam", 1_000_000);
        assert!(t.expose().starts_with("PVE:root@pam:000F4240::"));
        assert_eq!(
            a.verify_ticket(t.expose(), 1_000_100).as_deref(),
            Some("root@pam")
        );
        assert_eq!(
            a.verify_ticket(t.expose(), 1_000_000 + TICKET_LIFETIME + 1),
            None
        );
        let forged = t.expose().replace("root@pam", "admin@pve");
        assert_eq!(a.verify_ticket(&forged, 1_000_100), None);
        let c = a.csrf("root@pam", 1_000_000);
        assert!(a.verify_csrf(c.expose(), "root@pam", 1_000_001));
        assert!(!a.verify_csrf(c.expose(), "bob@pve", 1_000_001));
        assert!(!TicketAuthority::new().verify_csrf(c.expose(), "root@pam", 1_000_001));
    }
}
