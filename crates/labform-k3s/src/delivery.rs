//! Add-on manifests delivered to K3s's auto-deploy directory on every server, named
//! `labform-NN-NAME.yaml` in apply order, so K3s's deploy controller applies them (and Helm
//! charts through its Helm controller). Files labform wrote earlier that the lab no longer has
//! are found by their prefix; their objects are deleted through the Kubernetes API (K3s does not
//! delete resources when a manifest file goes) except those a current manifest still declares,
//! then the files are removed. Files not named `labform-*` are never touched.

use std::collections::{BTreeMap, BTreeSet};

use labform_ssh::{Session, shell_quote};
use serde_json::Value;

use crate::artifacts::sha256_hex;
use crate::error::NodeError;

/// K3s's auto-deploy directory on servers.
pub const MANIFESTS_DIRECTORY: &str = "/var/lib/rancher/k3s/server/manifests";

/// The prefix of the files labform writes there.
pub const FILE_PREFIX: &str = "labform-";

/// A manifest file to have on every server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Manifest {
    /// File name (`labform-03-metallb.yaml`).
    pub file_name: String,
    /// YAML text.
    pub contents: String,
}

impl Manifest {
    /// The file for the manifest at `index` in apply order, named `name`.
    pub fn new(index: usize, name: &str, contents: String) -> Self {
        Manifest {
            file_name: format!("{FILE_PREFIX}{index:02}-{name}.yaml"),
            contents,
        }
    }

    fn path(&self) -> String {
        format!("{MANIFESTS_DIRECTORY}/{}", self.file_name)
    }
}

/// What a server's manifest directory needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DeliveryChanges {
    /// Files to write (missing or different).
    pub write: Vec<String>,
    /// labform files the lab no longer has.
    pub remove: Vec<String>,
}

/// Reads the SHA-256 of every `labform-*.yaml` in the manifest directory of the node.
pub async fn present(session: &Session) -> Result<BTreeMap<String, String>, NodeError> {
    let script = format!(
        "cd {MANIFESTS_DIRECTORY} 2>/dev/null || exit 0; \
         for file in {FILE_PREFIX}*.yaml; do if [ -f \"$file\" ]; then sha256sum \"$file\"; fi; done"
    );
    let output = session
        .exec_checked(&format!("sudo -n sh -c {}", shell_quote(&script)))
        .await?;
    Ok(String::from_utf8_lossy(&output.stdout)
        .lines()
        .filter_map(|line| line.split_once("  "))
        .map(|(digest, name)| (name.to_owned(), digest.to_owned()))
        .collect())
}

/// Compares the wanted manifests with what a server has. Pure.
pub fn changes(wanted: &[Manifest], present: &BTreeMap<String, String>) -> DeliveryChanges {
    let write = wanted
        .iter()
        .filter(|manifest| {
            present.get(&manifest.file_name) != Some(&sha256_hex(manifest.contents.as_bytes()))
        })
        .map(|manifest| manifest.file_name.clone())
        .collect();
    let wanted_names: BTreeSet<&str> = wanted.iter().map(|m| m.file_name.as_str()).collect();
    let remove = present
        .keys()
        .filter(|name| !wanted_names.contains(name.as_str()))
        .cloned()
        .collect();
    DeliveryChanges { write, remove }
}

/// Writes the files `changes` names (as root, mode 0600, in apply order).
pub async fn write(
    session: &Session,
    wanted: &[Manifest],
    changes: &DeliveryChanges,
) -> Result<(), NodeError> {
    for manifest in wanted {
        if changes.write.contains(&manifest.file_name) {
            session
                .upload_as_root(&manifest.path(), manifest.contents.as_bytes(), 0o600)
                .await?;
        }
    }
    Ok(())
}

/// Reads a labform manifest file from the node (to delete its objects before removing it).
pub async fn read(session: &Session, file_name: &str) -> Result<String, NodeError> {
    let path = format!("{MANIFESTS_DIRECTORY}/{file_name}");
    let output = session
        .exec_checked(&format!("sudo -n cat {}", shell_quote(&path)))
        .await?;
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Removes labform manifest files from the node.
pub async fn remove(session: &Session, file_names: &[String]) -> Result<(), NodeError> {
    if file_names.is_empty() {
        return Ok(());
    }
    let paths: Vec<String> = file_names
        .iter()
        .filter(|name| name.starts_with(FILE_PREFIX) && !name.contains('/'))
        .map(|name| shell_quote(&format!("{MANIFESTS_DIRECTORY}/{name}")))
        .collect();
    session
        .exec_checked(&format!("sudo -n rm -f {}", paths.join(" ")))
        .await?;
    Ok(())
}

/// The identity of a Kubernetes object: `apiVersion`, `kind`, namespace, name.
pub type ObjectIdentity = (String, String, String, String);

/// The objects of a multi-document manifest. Documents that are not objects are skipped.
pub fn objects(yaml: &str) -> Vec<(ObjectIdentity, Value)> {
    yaml.split("\n---")
        .filter_map(|document| serde_saphyr::from_str::<Value>(document).ok())
        .filter_map(|value| {
            let text = |field: &str| value.get(field).and_then(Value::as_str).map(str::to_owned);
            let metadata = value.get("metadata")?;
            let identity = (
                text("apiVersion")?,
                text("kind")?,
                metadata
                    .get("namespace")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_owned(),
                metadata.get("name")?.as_str()?.to_owned(),
            );
            Some((identity, value))
        })
        .collect()
}

/// The documents of `stale` manifests that no `wanted` manifest declares, as one manifest: what
/// removing those add-ons must delete from the cluster. A manifest renamed (an add-on inserted
/// before it moves its number) deletes nothing.
pub fn objects_to_delete(stale: &[String], wanted: &[Manifest]) -> String {
    let kept: BTreeSet<ObjectIdentity> = wanted
        .iter()
        .flat_map(|manifest| objects(&manifest.contents))
        .map(|(identity, _)| identity)
        .collect();
    let mut text = String::new();
    for manifest in stale {
        for (identity, value) in objects(manifest) {
            if !kept.contains(&identity) {
                text.push_str("---\n");
                text.push_str(&serde_saphyr::to_string(&value).expect("JSON values serialise"));
            }
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metallb(index: usize) -> Manifest {
        Manifest::new(
            index,
            "metallb",
            "# comment\n---\napiVersion: helm.cattle.io/v1\nkind: HelmChart\nmetadata:\n  name: metallb\n  namespace: kube-system\nspec:\n  chart: metallb\n".to_owned(),
        )
    }

    #[test]
    fn changed_and_stale_files_are_found() {
        let wanted = vec![metallb(0)];
        let mut present = BTreeMap::new();
        present.insert("labform-00-metallb.yaml".to_owned(), "0".repeat(64));
        present.insert("labform-01-vault.yaml".to_owned(), "1".repeat(64));
        let found = changes(&wanted, &present);
        assert_eq!(found.write, ["labform-00-metallb.yaml"]);
        assert_eq!(found.remove, ["labform-01-vault.yaml"]);
        present.insert(
            "labform-00-metallb.yaml".to_owned(),
            sha256_hex(wanted[0].contents.as_bytes()),
        );
        present.remove("labform-01-vault.yaml");
        assert_eq!(changes(&wanted, &present), DeliveryChanges::default());
    }

    #[test]
    fn renamed_manifests_delete_nothing_and_removed_ones_their_objects() {
        let old = metallb(0).contents;
        let vault = "---\napiVersion: helm.cattle.io/v1\nkind: HelmChart\nmetadata:\n  name: vault\n  namespace: kube-system\n---\napiVersion: v1\nkind: Namespace\nmetadata:\n  name: vault\n".to_owned();
        let wanted = vec![metallb(1)];
        assert_eq!(objects_to_delete(std::slice::from_ref(&old), &wanted), "");
        let deleted = objects_to_delete(&[old, vault], &wanted);
        let identities: Vec<ObjectIdentity> =
            objects(&deleted).into_iter().map(|(id, _)| id).collect();
        assert_eq!(
            identities,
            [
                (
                    "helm.cattle.io/v1".to_owned(),
                    "HelmChart".to_owned(),
                    "kube-system".to_owned(),
                    "vault".to_owned()
                ),
                (
                    "v1".to_owned(),
                    "Namespace".to_owned(),
                    String::new(),
                    "vault".to_owned()
                ),
            ]
        );
    }
}
