//! Leader election through a `coordination.k8s.io/v1` Lease, as Kubernetes' own controllers do
//! it (client-go's `leaderelection`, read for the rules): the holder writes its identity and
//! renews `renewTime` every few seconds; a candidate takes the Lease over only when the record
//! it sees (holder and renew time) has not changed for `leaseDurationSeconds` **by its own
//! clock**, so clock skew between replicas does not matter. Every write is a `replace` carrying
//! the `resourceVersion` read, so of two candidates writing at once one gets 409 Conflict and
//! stays a follower. A holder that stops releases the Lease (holder cleared), so the other
//! replica takes over at its next round; a holder that cannot renew within the lease duration
//! stops calling itself leader before anyone else can take over.
//!
//! [`Elector::round`] is one attempt; [`lead`] runs the rounds and publishes whether this
//! replica leads through a `watch` channel, which the controller reads before each apply.

use std::sync::Mutex;
use std::time::{Duration, Instant};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{MicroTime, ObjectMeta};
use kube::api::{Api, PostParams};
use secrecy::SecretString;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// Which Lease, who we are, and how long a Lease lasts.
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    /// The Lease's namespace.
    pub namespace: String,
    /// The Lease's name.
    pub name: String,
    /// This replica's identity (its pod name, by default the host name).
    pub identity: String,
    /// How long a Lease holds without renewal (`leaseDurationSeconds`).
    pub duration: Duration,
}

impl LeaseSettings {
    /// How often the holder renews and candidates try: a third of the duration, so two
    /// renewals can fail before the Lease expires.
    pub fn retry_period(&self) -> Duration {
        (self.duration / 3).max(Duration::from_millis(200))
    }
}

/// Why leader election cannot go on.
#[derive(Debug, thiserror::Error)]
pub enum LeaseError {
    /// No client for the Kubernetes API.
    #[error("cannot reach the Kubernetes API for leader election: {detail}")]
    Client {
        /// What went wrong.
        detail: String,
    },
    /// The API refused or failed a request on the Lease.
    #[error("cannot {action} Lease {namespace}/{name}: {detail}")]
    Api {
        /// What was tried.
        action: &'static str,
        /// The Lease's namespace.
        namespace: String,
        /// The Lease's name.
        name: String,
        /// The API's answer.
        detail: String,
    },
}

/// A record as seen, and when this replica first saw it.
struct Observed {
    holder: Option<String>,
    renewed: Option<String>,
    since: Instant,
}

/// Takes and keeps the Lease for one identity.
pub struct Elector {
    api: Api<Lease>,
    settings: LeaseSettings,
    observed: Mutex<Option<Observed>>,
    /// The holder the last round saw (or made: this identity).
    holder: Mutex<Option<String>>,
}

fn conflict(error: &kube::Error) -> bool {
    matches!(error, kube::Error::Api(status) if status.code == 409)
}

fn micro_now() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}

impl Elector {
    /// An elector using `client`.
    pub fn new(client: kube::Client, settings: LeaseSettings) -> Self {
        Self {
            api: Api::namespaced(client, &settings.namespace),
            settings,
            observed: Mutex::new(None),
            holder: Mutex::new(None),
        }
    }

    /// An elector inside a pod: the API and CA of the cluster it runs in, and its
    /// ServiceAccount's token.
    pub fn in_cluster(settings: LeaseSettings) -> Result<Self, LeaseError> {
        let config = kube::Config::incluster().map_err(|error| LeaseError::Client {
            detail: format!("not inside a Kubernetes pod ({error}); give --lease-kubeconfig"),
        })?;
        let client = kube::Client::try_from(config).map_err(|error| LeaseError::Client {
            detail: error.to_string(),
        })?;
        Ok(Self::new(client, settings))
    }

    /// An elector reaching the API through a kubeconfig (its current context, client
    /// certificates only, the server always verified; see
    /// [`labform_kubernetes::cluster_api::ClusterApi::from_kubeconfig`]).
    pub async fn from_kubeconfig(
        kubeconfig: &SecretString,
        settings: LeaseSettings,
    ) -> Result<Self, LeaseError> {
        let api = labform_kubernetes::cluster_api::ClusterApi::from_kubeconfig(kubeconfig)
            .await
            .map_err(|error| LeaseError::Client {
                detail: error.to_string(),
            })?;
        Ok(Self::new(api.client(), settings))
    }

    /// The settings.
    pub fn settings(&self) -> &LeaseSettings {
        &self.settings
    }

    /// Who held the Lease at the last round (this identity when it leads; `None` when nobody
    /// did, or before the first round).
    pub fn holder(&self) -> Option<String> {
        self.holder
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    fn saw(&self, holder: Option<String>) {
        *self
            .holder
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = holder;
    }

    fn failed(&self, action: &'static str, error: &kube::Error) -> LeaseError {
        LeaseError::Api {
            action,
            namespace: self.settings.namespace.clone(),
            name: self.settings.name.clone(),
            detail: error.to_string(),
        }
    }

    fn duration_seconds(&self) -> i32 {
        i32::try_from(self.settings.duration.as_secs().max(1)).unwrap_or(i32::MAX)
    }

    /// One round: creates, renews or takes over the Lease when it may. `Ok(true)` when this
    /// identity holds it afterwards.
    pub async fn round(&self) -> Result<bool, LeaseError> {
        let identity = &self.settings.identity;
        let existing = self
            .api
            .get_opt(&self.settings.name)
            .await
            .map_err(|error| self.failed("read", &error))?;
        let Some(mut lease) = existing else {
            let now = micro_now();
            let lease = Lease {
                metadata: ObjectMeta {
                    name: Some(self.settings.name.clone()),
                    namespace: Some(self.settings.namespace.clone()),
                    ..ObjectMeta::default()
                },
                spec: Some(LeaseSpec {
                    holder_identity: Some(identity.clone()),
                    lease_duration_seconds: Some(self.duration_seconds()),
                    acquire_time: Some(now.clone()),
                    renew_time: Some(now),
                    lease_transitions: Some(0),
                    ..LeaseSpec::default()
                }),
            };
            return match self.api.create(&PostParams::default(), &lease).await {
                Ok(_) => {
                    self.saw(Some(identity.clone()));
                    Ok(true)
                }
                Err(error) if conflict(&error) => Ok(false),
                Err(error) => Err(self.failed("create", &error)),
            };
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        let holder = spec
            .holder_identity
            .clone()
            .filter(|holder| !holder.is_empty());
        let mine = holder.as_deref() == Some(identity.as_str());
        self.saw(holder.clone());
        if !mine && holder.is_some() {
            let renewed = spec.renew_time.as_ref().map(|time| time.0.to_string());
            let duration = spec
                .lease_duration_seconds
                .filter(|seconds| *seconds > 0)
                .map(|seconds| Duration::from_secs(seconds as u64))
                .unwrap_or(self.settings.duration);
            let since = {
                let mut observed = self
                    .observed
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner());
                match observed.as_ref() {
                    Some(seen) if seen.holder == holder && seen.renewed == renewed => seen.since,
                    _ => {
                        let since = Instant::now();
                        *observed = Some(Observed {
                            holder: holder.clone(),
                            renewed,
                            since,
                        });
                        since
                    }
                }
            };
            if since.elapsed() < duration {
                return Ok(false);
            }
        }
        let now = micro_now();
        if !mine {
            spec.acquire_time = Some(now.clone());
            if holder.is_some() {
                spec.lease_transitions = Some(spec.lease_transitions.unwrap_or(0) + 1);
            }
        }
        spec.holder_identity = Some(identity.clone());
        spec.renew_time = Some(now);
        spec.lease_duration_seconds = Some(self.duration_seconds());
        match self
            .api
            .replace(&self.settings.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => {
                self.saw(Some(identity.clone()));
                Ok(true)
            }
            Err(error) if conflict(&error) => Ok(false),
            Err(error) => Err(self.failed("renew", &error)),
        }
    }

    /// Gives the Lease up when this identity holds it, so another replica takes over at once.
    pub async fn release(&self) -> Result<(), LeaseError> {
        let Some(mut lease) = self
            .api
            .get_opt(&self.settings.name)
            .await
            .map_err(|error| self.failed("read", &error))?
        else {
            return Ok(());
        };
        let spec = lease.spec.get_or_insert_with(LeaseSpec::default);
        if spec.holder_identity.as_deref() != Some(self.settings.identity.as_str()) {
            return Ok(());
        }
        spec.holder_identity = None;
        spec.renew_time = Some(micro_now());
        spec.lease_duration_seconds = Some(1);
        match self
            .api
            .replace(&self.settings.name, &PostParams::default(), &lease)
            .await
        {
            Ok(_) => Ok(()),
            Err(error) if conflict(&error) => Ok(()),
            Err(error) => Err(self.failed("release", &error)),
        }
    }
}

/// Runs rounds every [`LeaseSettings::retry_period`] until `stop`, sending whether this replica
/// leads (and the last error, for the dashboard) on `leading`. A leader whose renewals fail stops
/// leading once its last renewal is older than two thirds of the duration, before any other
/// replica may take over. On `stop` a leader releases the Lease.
pub async fn lead(elector: &Elector, leading: watch::Sender<Leadership>, stop: CancellationToken) {
    let period = elector.settings.retry_period();
    let deadline = elector.settings.duration * 2 / 3;
    let mut renewed: Option<Instant> = None;
    loop {
        let round = elector.round().await;
        let state = match round {
            Ok(true) => {
                renewed = Some(Instant::now());
                Leadership {
                    leader: true,
                    error: None,
                    holder: elector.holder(),
                }
            }
            Ok(false) => {
                renewed = None;
                Leadership {
                    leader: false,
                    error: None,
                    holder: elector.holder(),
                }
            }
            Err(error) => Leadership {
                leader: renewed.is_some_and(|at| at.elapsed() < deadline),
                error: Some(error.to_string()),
                holder: elector.holder(),
            },
        };
        leading.send_replace(state);
        tokio::select! {
            () = stop.cancelled() => break,
            () = tokio::time::sleep(period) => {}
        }
    }
    let was_leader = leading.borrow().leader;
    leading.send_replace(Leadership {
        leader: false,
        error: None,
        holder: None,
    });
    if was_leader {
        let _ = elector.release().await;
    }
}

/// Whether this replica leads, as [`lead`] last found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Leadership {
    /// It holds the Lease.
    pub leader: bool,
    /// The last round's error, if it failed.
    pub error: Option<String>,
    /// Who holds the Lease, as the last round read it (the leader's identity, so a follower can
    /// name it).
    pub holder: Option<String>,
}
