//! Fault injection: latency, error rates per endpoint, 5xx, 595, lock
//! timeouts and task failures, decided by a seeded generator so that a test
//! with the same seed and the same calls sees the same faults.
//!
//! A fault file is JSON:
//! `{"seed": 7, "rules": [{"endpoint": "POST /nodes/{node}/qemu/{vmid}/clone",
//!   "probability": 0.5, "fault": {"kind": "status", "status": 500, "message": "boom"}}],
//!   "task_failures": [{"task_type": "qmstart", "probability": 1.0, "message": "start failed"}]}`.
//! `endpoint` is `METHOD TEMPLATE`, `*` for every endpoint, or a prefix ending in `*`.

use serde::{Deserialize, Serialize};
use std::sync::Mutex;

/// What an injected fault does.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Fault {
    /// Delay the answer by `ms` milliseconds (real time, not scaled).
    Latency {
        /// Milliseconds.
        ms: u64,
    },
    /// Answer with an HTTP error.
    Status {
        /// HTTP status.
        status: u16,
        /// Message.
        message: String,
    },
    /// `595 Errors during connection establishment, proxy handshake: No route to host`.
    Proxy595,
    /// A config flock timeout on the addressed VM (or VM 0).
    LockTimeout,
}

/// One rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    /// `METHOD /template`, `*`, or a prefix ending in `*`.
    pub endpoint: String,
    /// Chance per matching call, 0..=1.
    #[serde(default = "one")]
    pub probability: f64,
    /// Apply at most this many times (unlimited if absent).
    #[serde(default)]
    pub times: Option<u64>,
    /// The fault.
    pub fault: Fault,
}

fn one() -> f64 {
    1.0
}

/// A task failure rule.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TaskFailureRule {
    /// Task type (`qmclone`, `qmstart`, ...) or `*`.
    pub task_type: String,
    /// Chance per task.
    #[serde(default = "one")]
    pub probability: f64,
    /// Exit status text.
    pub message: String,
    /// Apply at most this many times.
    #[serde(default)]
    pub times: Option<u64>,
}

/// The fault configuration.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FaultConfig {
    /// Seed (falls back to the simulator's seed).
    #[serde(default)]
    pub seed: Option<u64>,
    /// Request rules, first match wins.
    #[serde(default)]
    pub rules: Vec<FaultRule>,
    /// Task failure rules.
    #[serde(default)]
    pub task_failures: Vec<TaskFailureRule>,
}

impl FaultConfig {
    /// Reads a JSON fault file.
    pub fn from_json(text: &str) -> Result<Self, serde_json::Error> {
        serde_json::from_str(text)
    }
}

/// A small deterministic generator (splitmix64).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Rng(u64);

impl Rng {
    /// Seeded generator.
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }
    /// Next value.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

#[derive(Debug)]
struct State {
    config: FaultConfig,
    rng: Rng,
    used: Vec<u64>,
    task_used: Vec<u64>,
}

/// Runtime fault injector.
#[derive(Debug)]
pub struct Faults {
    state: Mutex<State>,
}

fn matches(pattern: &str, endpoint: &str) -> bool {
    pattern == "*"
        || pattern == endpoint
        || pattern
            .strip_suffix('*')
            .is_some_and(|p| endpoint.starts_with(p))
}

impl Faults {
    /// A new injector.
    pub fn new(config: FaultConfig, default_seed: u64) -> Self {
        let rng = Rng::new(config.seed.unwrap_or(default_seed));
        let used = vec![0; config.rules.len()];
        let task_used = vec![0; config.task_failures.len()];
        Self {
            state: Mutex::new(State {
                config,
                rng,
                used,
                task_used,
            }),
        }
    }

    /// Replaces the configuration (and resets counters).
    pub fn set(&self, config: FaultConfig) {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(seed) = config.seed {
            s.rng = Rng::new(seed);
        }
        s.used = vec![0; config.rules.len()];
        s.task_used = vec![0; config.task_failures.len()];
        s.config = config;
    }

    /// The current configuration.
    pub fn get(&self) -> FaultConfig {
        self.state
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .config
            .clone()
    }

    /// The fault to inject into a call of `endpoint` (`METHOD /template`), if any.
    pub fn for_request(&self, endpoint: &str) -> Option<Fault> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let State {
            config, rng, used, ..
        } = &mut *s;
        for (i, rule) in config.rules.iter().enumerate() {
            if !matches(&rule.endpoint, endpoint) || rule.times.is_some_and(|t| used[i] >= t) {
                continue;
            }
            if rng.unit() < rule.probability {
                used[i] += 1;
                return Some(rule.fault.clone());
            }
        }
        None
    }

    /// The failure message to inject into a task of `task_type`, if any.
    pub fn for_task(&self, task_type: &str) -> Option<String> {
        let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let State {
            config,
            rng,
            task_used,
            ..
        } = &mut *s;
        for (i, rule) in config.task_failures.iter().enumerate() {
            if !(rule.task_type == "*" || rule.task_type == task_type)
                || rule.times.is_some_and(|t| task_used[i] >= t)
            {
                continue;
            }
            if rng.unit() < rule.probability {
                task_used[i] += 1;
                return Some(rule.message.clone());
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_and_limited() {
        let cfg = FaultConfig::from_json(
            r#"{"seed":3,"rules":[{"endpoint":"GET /nodes*","probability":0.5,"fault":{"kind":"proxy595"}},
                {"endpoint":"*","times":1,"fault":{"kind":"status","status":503,"message":"x"}}]}"#,
        )
        .unwrap();
        let run = || {
            let f = Faults::new(cfg.clone(), 0);
            (0..20)
                .map(|_| f.for_request("GET /nodes/{node}/storage"))
                .collect::<Vec<_>>()
        };
        let a = run();
        assert_eq!(a, run());
        assert!(a.contains(&Some(Fault::Proxy595)));
        assert_eq!(
            a.iter()
                .filter(|f| matches!(f, Some(Fault::Status { .. })))
                .count(),
            1
        );
        assert!(a.contains(&None));
    }
}
