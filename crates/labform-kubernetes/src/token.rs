//! The cluster join token and the external datastore endpoint: where they live on the nodes and
//! in labform's secret store. Neither is ever rendered; apply uploads them over SSH with mode 0600.

use labform_secrets::{
    ExposeSecret as _, InvalidSecretKey, SecretKey, SecretStore, SecretStoreError, SecretString,
    generate_token,
};

/// Where every node of a K3s cluster reads the join token (`token-file:` in `config.yaml`).
pub const TOKEN_FILE: &str = "/etc/rancher/k3s/token";

/// The drop-in K3s reads after `config.yaml`, holding `datastore-endpoint` (servers of clusters
/// with an external datastore only).
pub const DATASTORE_DROP_IN: &str = "/etc/rancher/k3s/config.yaml.d/50-datastore.yaml";

/// The secret-store key of the join token of cluster instance `cluster` in lab scope `scope`.
pub fn token_store_key(scope: &str, cluster: &str) -> Result<SecretKey, InvalidSecretKey> {
    SecretKey::new(format!("k3s-token/{scope}/{cluster}"))
}

/// Bytes of randomness in a join token (written as 64 hexadecimal characters).
const TOKEN_BYTES: usize = 32;

/// The join token of cluster instance `cluster`: read from `store`, or generated (32 random
/// bytes) and stored on first use, so every later run and every node uses the same token.
pub fn cluster_token(
    store: &SecretStore,
    scope: &str,
    cluster: &str,
) -> Result<SecretString, SecretStoreError> {
    let key = token_store_key(scope, cluster)?;
    store.get_or_create(&key, || generate_token(TOKEN_BYTES))
}

/// The contents of [`TOKEN_FILE`].
pub fn token_file_contents(token: &SecretString) -> SecretString {
    SecretString::from(format!("{}\n", token.expose_secret()))
}

/// The contents of [`DATASTORE_DROP_IN`] for `endpoint` (a DSN with credentials), quoted as a
/// YAML string.
pub fn datastore_drop_in(endpoint: &SecretString) -> SecretString {
    let quoted = serde_json::to_string(endpoint.expose_secret()).expect("strings serialise");
    SecretString::from(format!("datastore-endpoint: {quoted}\n"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_tokens_are_generated_once_and_kept_encrypted() {
        let directory = tempfile::tempdir().expect("temporary directory");
        let store = SecretStore::open(directory.path()).expect("store");
        let first = cluster_token(&store, "lab", "home").expect("token");
        assert_eq!(first.expose_secret().len(), 64);
        let again = cluster_token(&store, "lab", "home").expect("token");
        assert_eq!(first.expose_secret(), again.expose_secret());
        let other = cluster_token(&store, "lab", "other").expect("token");
        assert_ne!(first.expose_secret(), other.expose_secret());
        let on_disk =
            std::fs::read(directory.path().join("secrets/k3s-token/lab/home.age")).expect("read");
        let token = first.expose_secret().as_bytes();
        assert!(!on_disk.windows(token.len()).any(|window| window == token));
        assert_eq!(
            token_file_contents(&first).expose_secret(),
            format!("{}\n", first.expose_secret())
        );
        assert!(!format!("{first:?}").contains(first.expose_secret()));
    }

    #[test]
    fn datastore_endpoints_are_quoted() {
        let endpoint = SecretString::from("postgres://k3s:p\"a:ss@db:5432/k3s");
        let text = datastore_drop_in(&endpoint);
        assert_eq!(
            text.expose_secret(),
            "datastore-endpoint: \"postgres://k3s:p\\\"a:ss@db:5432/k3s\"\n"
        );
        assert_eq!(
            token_store_key("lab", "home-dev").expect("key").as_str(),
            "k3s-token/lab/home-dev"
        );
    }
}
