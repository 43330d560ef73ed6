//! Typed requests and responses of the endpoints labform uses. Responses are
//! decoded leniently (numbers and booleans may arrive as strings) and
//! serialized the way Proxmox sends them (booleans as `0`/`1`). Requests are
//! serialized and deserialized by their parameters' names; their wire form comes
//! from the endpoint's declaration (`endpoint::form`), so no request has its own
//! encoding.
//!
//! One module per resource (cluster, VM config, VMs, backups, tasks,
//! storage, access), all re-exported here.

mod access;
mod backup;
mod cluster;
mod storage;
mod tasks;
mod vm;
mod vm_config;

pub use access::*;
pub use backup::*;
pub use cluster::*;
pub use storage::*;
pub use tasks::*;
pub use vm::*;
pub use vm_config::*;

use crate::endpoint::form::{comma_list, optional_comma_list};
use crate::lenient;
use crate::propstring::{Drive, IpConfig, NetDevice, PropertyError, indexed, is_drive_key};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

pub use crate::endpoint::form::Params;

/// `1` or `0`, as Proxmox writes a boolean.
fn b01(b: bool) -> String {
    if b { "1".into() } else { "0".into() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_decodes_mixed_types() {
        let c: VmConfig = serde_json::from_str(
            r#"{"cores":2,"template":1,"cpulimit":"0.5","name":"a","digest":"abc","net0":"virtio=BC:24:11:00:00:01,bridge=vmbr0","foo":null}"#,
        )
        .unwrap();
        assert_eq!(c.get("cores"), Some("2"));
        assert!(c.is_template());
        assert_eq!(c.digest, "abc");
        assert_eq!(c.nets().unwrap()[0].1.bridge.as_deref(), Some("vmbr0"));
        assert!(c.get("foo").is_none());
    }

    #[test]
    fn sshkeys_encoding() {
        let e = encode_sshkeys("ssh-ed25519 AAAA+/= me@host\nssh-rsa B");
        assert_eq!(e, "ssh-ed25519%20AAAA%2B%2F%3D%20me%40host%0Assh-rsa%20B");
        assert_eq!(
            decode_percent(&e).unwrap(),
            "ssh-ed25519 AAAA+/= me@host\nssh-rsa B"
        );
    }

    #[test]
    fn exit_status() {
        assert!(exit_status_is_ok("OK"));
        assert!(exit_status_is_ok("WARNINGS: 3"));
        assert!(!exit_status_is_ok("WARNINGS: "));
        assert!(!exit_status_is_ok("clone failed: x"));
    }
}
