//! What the server answered, counted per endpoint: calls, and the bytes of the request (its path
//! and query, and its body) and of the response body. `GET /simulator/requests` (outside
//! Proxmox's `/api2` namespace, `root@pam` only) reads the counts, so that a benchmark or a test
//! sees exactly what a client asked for, whichever client it is (labform, a Terraform-like loop,
//! proxmoxer). HTTP headers and TLS framing are not counted.

use std::collections::BTreeMap;
use std::sync::Mutex;

use serde::Serialize;

/// The counts of one endpoint (method and route template).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RequestCount {
    /// Requests answered.
    pub calls: u64,
    /// Bytes of the requests' paths, queries and bodies.
    pub request_bytes: u64,
    /// Bytes of the response bodies.
    pub response_bytes: u64,
}

/// Counts per endpoint, shared by every connection.
#[derive(Debug, Default)]
pub(super) struct RequestCounter {
    counts: Mutex<BTreeMap<(String, String), RequestCount>>,
}

impl RequestCounter {
    /// Counts one request to `path` (the route template; `(no route)` when none matched, so
    /// that unknown paths do not grow the table).
    pub(super) fn count(&self, method: &str, path: &str, request_bytes: u64, response_bytes: u64) {
        let mut counts = self
            .counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let entry = counts
            .entry((method.to_owned(), path.to_owned()))
            .or_default();
        entry.calls += 1;
        entry.request_bytes += request_bytes;
        entry.response_bytes += response_bytes;
    }

    /// Every endpoint counted so far, as `[{"method", "path", "calls", "request_bytes",
    /// "response_bytes"}]` in method and path order.
    pub(super) fn json(&self) -> serde_json::Value {
        let counts = self
            .counts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        counts
            .iter()
            .map(|((method, path), count)| {
                serde_json::json!({
                    "method": method,
                    "path": path,
                    "calls": count.calls,
                    "request_bytes": count.request_bytes,
                    "response_bytes": count.response_bytes,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_per_endpoint() {
        let counter = RequestCounter::default();
        counter.count("GET", "/cluster/resources", 30, 1000);
        counter.count("GET", "/cluster/resources", 30, 1200);
        counter.count("GET", "/nodes/{node}/qemu/{vmid}/config", 40, 500);
        assert_eq!(
            counter.json(),
            serde_json::json!([
                {"method": "GET", "path": "/cluster/resources", "calls": 2,
                 "request_bytes": 60, "response_bytes": 2200},
                {"method": "GET", "path": "/nodes/{node}/qemu/{vmid}/config", "calls": 1,
                 "request_bytes": 40, "response_bytes": 500},
            ])
        );
    }
}
