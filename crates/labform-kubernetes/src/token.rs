//! The cluster join token and the external datastore endpoint: where they live on the nodes and
//! in labform's secret store. Neither is ever rendered; apply uploads them over SSH with mode 0600.

use labform_secrets::{ExposeSecret as _, InvalidSecretKey, SecretKey, SecretString};

/// Where every node of a K3s cluster reads the join token (`token-file:` in `config.yaml`).
pub const TOKEN_FILE: &str = "/etc/rancher/k3s/token";

/// The drop-in K3s reads after `config.yaml`, holding `datastore-endpoint` (servers of clusters
/// with an external datastore only).
pub const DATASTORE_DROP_IN: &str = "/etc/rancher/k3s/config.yaml.d/50-datastore.yaml";

/// The secret-store key of the join token of cluster instance `cluster` in lab scope `scope`.
pub fn token_store_key(scope: &str, cluster: &str) -> Result<SecretKey, InvalidSecretKey> {
    SecretKey::new(format!("k3s-token/{scope}/{cluster}"))
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
