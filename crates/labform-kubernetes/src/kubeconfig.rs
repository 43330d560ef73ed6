//! Kubeconfigs: the administrator kubeconfig a distribution writes (K3s's `k3s.yaml`, kubeadm's
//! `admin.conf`, the one Talos gives) is renamed after the cluster instance (one cluster, user
//! and context per cluster and environment), its server address is rewritten to the API VIP or
//! first control plane, and it is merged into a kubeconfig file without touching the other entries.
//!
//! The files hold client keys: they are handled as secrets, written with mode 0600 through a
//! temporary file and a rename, and never shown in errors (errors name fields, not values).

use std::path::{Path, PathBuf};

use labform_secrets::{ExposeSecret as _, SecretString};
use serde_json::{Map, Value, json};

use crate::error::KubeconfigError;

/// The three named lists of a kubeconfig.
const LISTS: [&str; 3] = ["clusters", "users", "contexts"];

fn invalid(origin: &str, detail: impl Into<String>) -> KubeconfigError {
    KubeconfigError::Invalid {
        origin: origin.to_owned(),
        detail: detail.into(),
    }
}

fn parse(origin: &str, text: &str) -> Result<Map<String, Value>, KubeconfigError> {
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    // The parser's messages may quote the text; they are not kept.
    let value: Value = serde_saphyr::from_str(text).map_err(|_| {
        invalid(
            origin,
            "it is not YAML (the parser's message is not shown because the file holds keys)",
        )
    })?;
    match value {
        Value::Object(map) => Ok(map),
        Value::Null => Ok(Map::new()),
        _ => Err(invalid(origin, "its top level is not a mapping")),
    }
}

fn entries<'a>(
    origin: &str,
    config: &'a Map<String, Value>,
    list: &str,
) -> Result<Vec<&'a Map<String, Value>>, KubeconfigError> {
    match config.get(list) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|item| {
                item.as_object()
                    .filter(|entry| entry.get("name").is_some_and(Value::is_string))
                    .ok_or_else(|| invalid(origin, format!("an entry of `{list}` has no name")))
            })
            .collect(),
        Some(_) => Err(invalid(origin, format!("`{list}` is not a list"))),
    }
}

/// The kubeconfig of one cluster instance, made from the administrator kubeconfig its
/// distribution writes (K3s's `k3s.yaml`, kubeadm's `admin.conf`, the one Talos gives).
pub struct ClusterKubeconfig {
    /// Name of its cluster, user and context.
    pub name: String,
    /// The API server address written into it.
    pub server: String,
    config: Map<String, Value>,
}

impl std::fmt::Debug for ClusterKubeconfig {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ClusterKubeconfig")
            .field("name", &self.name)
            .field("server", &self.server)
            .finish_non_exhaustive()
    }
}

impl ClusterKubeconfig {
    /// Takes the first cluster and user of `admin`, a distribution's administrator kubeconfig
    /// (from `origin`, for errors), names them `name`, points the cluster at `server`
    /// (`https://ADDRESS:6443`), and sets `namespace` as the context's default namespace when
    /// given.
    pub fn from_admin_kubeconfig(
        origin: &str,
        admin: &SecretString,
        name: &str,
        server: &str,
        namespace: Option<&str>,
    ) -> Result<Self, KubeconfigError> {
        let source = parse(origin, admin.expose_secret())?;
        let cluster = entries(origin, &source, "clusters")?
            .first()
            .and_then(|entry| entry.get("cluster"))
            .and_then(Value::as_object)
            .cloned()
            .ok_or_else(|| invalid(origin, "it has no cluster"))?;
        if !cluster.contains_key("certificate-authority-data") {
            return Err(invalid(
                origin,
                "its cluster has no certificate-authority-data, so the server cannot be verified",
            ));
        }
        let user = entries(origin, &source, "users")?
            .first()
            .and_then(|entry| entry.get("user"))
            .cloned()
            .ok_or_else(|| invalid(origin, "it has no user"))?;
        let mut cluster = cluster;
        cluster.insert("server".to_owned(), Value::String(server.to_owned()));
        let mut context = json!({"cluster": name, "user": name});
        if let Some(namespace) = namespace {
            context["namespace"] = Value::String(namespace.to_owned());
        }
        let config = json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": name, "cluster": cluster}],
            "users": [{"name": name, "user": user}],
            "contexts": [{"name": name, "context": context}],
            "current-context": name,
        });
        let Value::Object(config) = config else {
            unreachable!("an object literal")
        };
        Ok(ClusterKubeconfig {
            name: name.to_owned(),
            server: server.to_owned(),
            config,
        })
    }

    /// A kubeconfig for the same cluster (server and CA) named `name`, whose user is the bearer
    /// `token` (a tenant's ServiceAccount), with `namespace` as the context's default.
    pub fn with_token_user(&self, name: &str, token: &SecretString, namespace: &str) -> Self {
        let cluster = self.config["clusters"][0]["cluster"].clone();
        let config = json!({
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": name, "cluster": cluster}],
            "users": [{"name": name, "user": {"token": token.expose_secret()}}],
            "contexts": [{"name": name, "context": {"cluster": name, "user": name, "namespace": namespace}}],
            "current-context": name,
        });
        let Value::Object(config) = config else {
            unreachable!("an object literal")
        };
        ClusterKubeconfig {
            name: name.to_owned(),
            server: self.server.clone(),
            config,
        }
    }

    /// Reads one back from its text (as [`ClusterKubeconfig::to_text`] wrote it).
    pub fn from_text(origin: &str, text: &SecretString) -> Result<Self, KubeconfigError> {
        let config = parse(origin, text.expose_secret())?;
        let context = entries(origin, &config, "contexts")?
            .first()
            .and_then(|entry| entry.get("name"))
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(origin, "it has no context"))?
            .to_owned();
        let server = entries(origin, &config, "clusters")?
            .first()
            .and_then(|entry| entry.get("cluster"))
            .and_then(|cluster| cluster.get("server"))
            .and_then(Value::as_str)
            .ok_or_else(|| invalid(origin, "its cluster has no server"))?
            .to_owned();
        Ok(ClusterKubeconfig {
            name: context,
            server,
            config,
        })
    }

    /// The kubeconfig as YAML text.
    pub fn to_text(&self) -> SecretString {
        SecretString::from(to_yaml(&self.config))
    }
}

fn to_yaml(config: &Map<String, Value>) -> String {
    serde_saphyr::to_string(&Value::Object(config.clone())).expect("JSON values serialise")
}

/// Merges `additions` into the kubeconfig text `existing` (from `origin`): entries with the
/// additions' names are replaced, every other cluster, user, context and setting is kept. The
/// current context is set to the first addition only when `existing` has none.
pub fn merge(
    origin: &str,
    existing: &SecretString,
    additions: &[ClusterKubeconfig],
) -> Result<SecretString, KubeconfigError> {
    let mut config = parse(origin, existing.expose_secret())?;
    for list in LISTS {
        // Checks the shape before changing anything.
        entries(origin, &config, list)?;
    }
    config
        .entry("apiVersion")
        .or_insert_with(|| Value::String("v1".to_owned()));
    config
        .entry("kind")
        .or_insert_with(|| Value::String("Config".to_owned()));
    for addition in additions {
        for list in LISTS {
            let new_entries = addition.config[list]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let names: Vec<&Value> = new_entries.iter().filter_map(|e| e.get("name")).collect();
            let slot = config
                .entry(list)
                .or_insert_with(|| Value::Array(Vec::new()));
            if slot.is_null() {
                *slot = Value::Array(Vec::new());
            }
            let items = slot.as_array_mut().expect("checked to be a list");
            items.retain(|item| !item.get("name").is_some_and(|name| names.contains(&name)));
            items.extend(new_entries.iter().cloned());
        }
    }
    let has_current = config
        .get("current-context")
        .and_then(Value::as_str)
        .is_some_and(|current| !current.is_empty());
    if !has_current && let Some(first) = additions.first() {
        config.insert(
            "current-context".to_owned(),
            Value::String(first.name.clone()),
        );
    }
    Ok(SecretString::from(to_yaml(&config)))
}

/// The kubeconfig file to merge into when none is given: the first path of `KUBECONFIG`, else
/// `~/.kube/config`.
pub fn default_path() -> Option<PathBuf> {
    if let Some(paths) = std::env::var_os("KUBECONFIG")
        && let Some(first) = std::env::split_paths(&paths).next()
        && !first.as_os_str().is_empty()
    {
        return Some(first);
    }
    std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".kube/config"))
}

/// Merges `additions` into the file at `path` (made, with its directory, when missing), writing
/// it with mode 0600 through a temporary file and a rename.
pub fn merge_into_file(
    path: &Path,
    additions: &[ClusterKubeconfig],
) -> Result<(), KubeconfigError> {
    let file_error = |doing, source| KubeconfigError::File {
        doing,
        path: path.to_owned(),
        source,
    };
    let existing = match std::fs::read_to_string(path) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(error) => return Err(file_error("read", error)),
    };
    let merged = merge(
        &path.display().to_string(),
        &SecretString::from(existing),
        additions,
    )?;
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_owned(),
        _ => PathBuf::from("."),
    };
    std::fs::create_dir_all(&directory).map_err(|error| file_error("write", error))?;
    let mut temporary =
        tempfile::NamedTempFile::new_in(&directory).map_err(|error| file_error("write", error))?;
    std::io::Write::write_all(&mut temporary, merged.expose_secret().as_bytes())
        .map_err(|error| file_error("write", error))?;
    // NamedTempFile is created with mode 0600 on Unix; the rename keeps it.
    temporary
        .persist(path)
        .map_err(|error| file_error("write", error.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const K3S_YAML: &str = "apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: Q0EtREFUQQ==
    server: https://127.0.0.1:6443
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {}
users:
- name: default
  user:
    client-certificate-data: Q0VSVA==
    client-key-data: U0VDUkVULUtFWQ==
";

    fn home() -> ClusterKubeconfig {
        ClusterKubeconfig::from_admin_kubeconfig(
            "home-server-0:/etc/rancher/k3s/k3s.yaml",
            &SecretString::from(K3S_YAML),
            "labform-home",
            "https://10.0.10.5:6443",
            Some("apps"),
        )
        .expect("valid")
    }

    #[test]
    fn k3s_kubeconfig_is_renamed_and_pointed_at_the_api_address() {
        let text = home().to_text();
        insta::assert_snapshot!(text.expose_secret());
        let back = ClusterKubeconfig::from_text("store", &text).expect("reads back");
        assert_eq!(back.name, "labform-home");
        assert_eq!(back.server, "https://10.0.10.5:6443");
        assert!(!format!("{back:?}").contains("U0VDUkVULUtFWQ"));
    }

    #[test]
    fn merging_keeps_other_entries_and_replaces_ours() {
        let existing = SecretString::from(
            "apiVersion: v1
kind: Config
current-context: work
clusters:
- name: work
  cluster: {server: 'https://work:6443'}
- name: labform-home
  cluster: {server: 'https://old:6443'}
users:
- name: work
  user: {token: abc}
contexts:
- name: work
  context: {cluster: work, user: work}
preferences: {colors: true}
",
        );
        let merged = merge("~/.kube/config", &existing, &[home()]).expect("merges");
        let config = parse("merged", merged.expose_secret()).expect("parses");
        let names = |list: &str| -> Vec<String> {
            config[list]
                .as_array()
                .expect("list")
                .iter()
                .map(|entry| entry["name"].as_str().expect("name").to_owned())
                .collect()
        };
        assert_eq!(names("clusters"), ["work", "labform-home"]);
        assert_eq!(names("users"), ["work", "labform-home"]);
        assert_eq!(names("contexts"), ["work", "labform-home"]);
        assert_eq!(config["current-context"], "work");
        assert_eq!(config["preferences"]["colors"], true);
        assert_eq!(config["users"][0]["user"]["token"], "abc");
        assert_eq!(
            config["clusters"][1]["cluster"]["server"],
            "https://10.0.10.5:6443"
        );
        // Merging again changes nothing.
        let again = merge("~/.kube/config", &merged, &[home()]).expect("merges");
        assert_eq!(again.expose_secret(), merged.expose_secret());
    }

    #[test]
    fn an_empty_file_gets_our_context_as_current() {
        let merged = merge("new", &SecretString::from(""), &[home()]).expect("merges");
        let config = parse("merged", merged.expose_secret()).expect("parses");
        assert_eq!(config["current-context"], "labform-home");
        assert_eq!(config["kind"], "Config");
    }

    #[test]
    fn broken_files_are_refused_without_their_contents() {
        let error = merge(
            "/home/u/.kube/config",
            &SecretString::from("clusters: {secret-key: hunter2}\n"),
            &[home()],
        )
        .expect_err("not a list");
        let message = error.to_string();
        assert_eq!(
            message,
            "/home/u/.kube/config is not a valid kubeconfig: `clusters` is not a list"
        );
        let error = merge(
            "f",
            &SecretString::from("key: [unclosed hunter2"),
            &[home()],
        )
        .expect_err("not YAML");
        assert!(!error.to_string().contains("hunter2"), "{error}");
        let no_ca = K3S_YAML.replace("certificate-authority-data", "insecure-skip-tls-verify");
        let error = ClusterKubeconfig::from_admin_kubeconfig(
            "node",
            &SecretString::from(no_ca),
            "x",
            "https://a:6443",
            None,
        )
        .expect_err("unverifiable");
        assert!(error.to_string().contains("certificate-authority-data"));
    }

    #[test]
    fn files_are_written_private_and_merged() {
        use std::os::unix::fs::PermissionsExt as _;
        let directory = tempfile::tempdir().expect("directory");
        let path = directory.path().join("kube/config");
        merge_into_file(&path, &[home()]).expect("written");
        let mode = std::fs::metadata(&path)
            .expect("exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let text = std::fs::read_to_string(&path).expect("read");
        assert!(text.contains("labform-home"));
    }
}
