//! A [`ProxmoxApi`] wrapper that counts calls, reads and writes apart: the apply summary reports
//! them, and tests prove that an unchanged lab makes no write call. It also counts each method's
//! calls and errors (`labform serve`'s `/metrics` shows them by endpoint, call and caller), and
//! can keep a copy of every uploaded file, so tests can read back what apply uploaded.
//!
//! Its methods are made from the trait's list (`labform_proxmox::proxmox_api_methods!`): a call
//! counts as a read when its declared endpoint's method is `GET`, as a write otherwise, and under
//! its method's name (`clone_vm`) per call.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use labform_ids::{NodeName, StorageName, VmId};
use labform_proxmox::endpoint::Endpoint;
use labform_proxmox::types::*;
use labform_proxmox::{ProxmoxApi, Result, Upid};

/// How often one method of the API was called through a [`Metered`], and how often it failed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CallCount {
    /// Calls made.
    pub calls: u64,
    /// Calls that returned an error.
    pub errors: u64,
}

/// Counts the calls made through it.
pub struct Metered {
    inner: Arc<dyn ProxmoxApi>,
    reads: AtomicU64,
    writes: AtomicU64,
    by_call: Mutex<BTreeMap<&'static str, CallCount>>,
    uploads: Option<Mutex<Vec<(String, String, Upload)>>>,
}

impl Metered {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn ProxmoxApi>) -> Self {
        Self {
            inner,
            reads: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            by_call: Mutex::new(BTreeMap::new()),
            uploads: None,
        }
    }

    /// Wraps `inner`, keeping a copy of every uploaded file (tests; uploads may hold secrets).
    pub fn recording_uploads(inner: Arc<dyn ProxmoxApi>) -> Self {
        Self {
            uploads: Some(Mutex::new(Vec::new())),
            ..Self::new(inner)
        }
    }

    /// Every upload so far as (node, storage, file), in call order; empty unless recording.
    pub fn uploads(&self) -> Vec<(String, String, Upload)> {
        self.uploads
            .as_ref()
            .map(|uploads| {
                uploads
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .clone()
            })
            .unwrap_or_default()
    }

    /// Counts a call of `endpoint` as a read or a write.
    fn count(&self, endpoint: &'static Endpoint) {
        let counter = if endpoint.is_read() {
            &self.reads
        } else {
            &self.writes
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// Keeps a copy of an upload when recording.
    fn record(&self, node: &NodeName, storage: &StorageName, file: &Upload) {
        if let Some(uploads) = &self.uploads {
            uploads
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner())
                .push((node.to_string(), storage.to_string(), file.clone()));
        }
    }

    /// Counts the call of method `call` and whether it failed, and hands its result on.
    fn settle<T>(&self, call: &'static str, result: Result<T>) -> Result<T> {
        let mut by_call = self
            .by_call
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let count = by_call.entry(call).or_default();
        count.calls += 1;
        if result.is_err() {
            count.errors += 1;
        }
        result
    }

    /// Read calls so far.
    pub fn reads(&self) -> u64 {
        self.reads.load(Ordering::Relaxed)
    }

    /// Write calls so far (anything that may change Proxmox).
    pub fn writes(&self) -> u64 {
        self.writes.load(Ordering::Relaxed)
    }

    /// Calls and errors so far, by the API's method name (`clone_vm`, `cluster_resources`).
    pub fn by_call(&self) -> BTreeMap<&'static str, CallCount> {
        self.by_call
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    /// Calls that returned an error so far.
    pub fn errors(&self) -> u64 {
        self.by_call().values().map(|count| count.errors).sum()
    }
}

/// Before a call: every call is counted, and an upload is recorded.
macro_rules! before_call {
    ($meter:ident, upload, $endpoint:expr, $node:ident, $storage:ident, $file:ident) => {
        $meter.count($endpoint);
        $meter.record($node, $storage, $file);
    };
    ($meter:ident, $name:ident, $endpoint:expr, $($arg:ident),*) => {
        $meter.count($endpoint);
    };
}

/// [`ProxmoxApi`] for [`Metered`]: every method counted, forwarded, and its result settled.
macro_rules! metered_methods {
    ($($(#[$doc:meta])* fn $name:ident($($arg:ident: $ty:ty),*) -> $answer:ty = $endpoint:expr;)*) => {
        #[async_trait::async_trait]
        impl ProxmoxApi for Metered {
            $(
                async fn $name(&self, $($arg: $ty),*) -> Result<$answer> {
                    before_call!(self, $name, $endpoint, $($arg),*);
                    let result = self.inner.$name($($arg),*).await;
                    self.settle(stringify!($name), result)
                }
            )*
        }
    };
}

labform_proxmox::proxmox_api_methods!(metered_methods);
