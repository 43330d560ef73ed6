//! File locks as Proxmox takes them: the per-VM config flock
//! (`/var/lock/qemu-server/lock-<vmid>.conf`, shared or exclusive) and the
//! per-storage lock, each with a timeout and Proxmox's exact error text.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedRwLockReadGuard, OwnedRwLockWriteGuard, RwLock};

/// A held lock; released on drop.
#[derive(Debug)]
pub enum LockGuard {
    /// Shared.
    Shared(#[allow(dead_code)] OwnedRwLockReadGuard<()>),
    /// Exclusive.
    Exclusive(#[allow(dead_code)] OwnedRwLockWriteGuard<()>),
}

/// All lock files of the cluster.
#[derive(Debug, Default)]
pub struct LockTable {
    locks: Mutex<HashMap<String, Arc<RwLock<()>>>>,
}

/// Path of a VM's config lock file.
pub fn vm_lock_path(vmid: u32) -> String {
    format!("/var/lock/qemu-server/lock-{vmid}.conf")
}

/// Path of a local storage's lock file.
pub fn storage_lock_path(storage: &str) -> String {
    format!("/var/lock/pve-manager/pve-storage-{storage}")
}

/// The error text of a flock timeout.
pub fn flock_timeout_text(path: &str) -> String {
    format!("can't lock file '{path}' - got timeout")
}

/// The error text of a cluster-filesystem lock timeout (shared storages).
pub fn cfs_timeout_text(name: &str) -> String {
    format!("cfs-lock '{name}' error: got lock request timeout")
}

impl LockTable {
    fn get(&self, path: &str) -> Arc<RwLock<()>> {
        let mut map = self.locks.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(path.to_owned()).or_default().clone()
    }

    /// Takes the lock at `path` exclusively, waiting at most `timeout`.
    pub async fn exclusive(&self, path: &str, timeout: Duration) -> Result<LockGuard, String> {
        let l = self.get(path);
        match tokio::time::timeout(timeout, l.write_owned()).await {
            Ok(g) => Ok(LockGuard::Exclusive(g)),
            Err(_) => Err(flock_timeout_text(path)),
        }
    }

    /// Takes the lock at `path` shared, waiting at most `timeout`.
    pub async fn shared(&self, path: &str, timeout: Duration) -> Result<LockGuard, String> {
        let l = self.get(path);
        match tokio::time::timeout(timeout, l.read_owned()).await {
            Ok(g) => Ok(LockGuard::Shared(g)),
            Err(_) => Err(flock_timeout_text(path)),
        }
    }

    /// Takes a storage lock: a flock for local storages, a cfs lock for shared ones.
    pub async fn storage(
        &self,
        storage: &str,
        shared_storage: bool,
        timeout: Duration,
    ) -> Result<LockGuard, String> {
        if shared_storage {
            let name = format!("storage-{storage}");
            let l = self.get(&format!("cfs:{name}"));
            match tokio::time::timeout(timeout, l.write_owned()).await {
                Ok(g) => Ok(LockGuard::Exclusive(g)),
                Err(_) => Err(cfs_timeout_text(&name)),
            }
        } else {
            self.exclusive(&storage_lock_path(storage), timeout).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn exclusive_times_out_with_proxmox_text() {
        let t = LockTable::default();
        let _a = t
            .shared(&vm_lock_path(100), Duration::from_secs(1))
            .await
            .unwrap();
        let _b = t
            .shared(&vm_lock_path(100), Duration::from_secs(1))
            .await
            .unwrap();
        let e = t
            .exclusive(&vm_lock_path(100), Duration::from_secs(10))
            .await
            .unwrap_err();
        assert_eq!(
            e,
            "can't lock file '/var/lock/qemu-server/lock-100.conf' - got timeout"
        );
        let _s = t
            .storage("local-lvm", false, Duration::from_secs(10))
            .await
            .unwrap();
        let e = t
            .storage("local-lvm", false, Duration::from_secs(10))
            .await
            .unwrap_err();
        assert_eq!(
            e,
            "can't lock file '/var/lock/pve-manager/pve-storage-local-lvm' - got timeout"
        );
        let _n = t
            .storage("nfs", true, Duration::from_secs(10))
            .await
            .unwrap();
        let e = t
            .storage("nfs", true, Duration::from_secs(10))
            .await
            .unwrap_err();
        assert_eq!(e, "cfs-lock 'storage-nfs' error: got lock request timeout");
    }
}
