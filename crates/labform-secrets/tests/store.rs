//! The secret store on a real file system: permissions, round trips, refusals, and that no value
//! leaks into files, `Debug` output or errors.

use std::fs;
use std::os::unix::fs::PermissionsExt as _;

use labform_secrets::{
    ExposeSecret as _, SecretKey, SecretStore, SecretStoreError, SecretString, generate_token,
};

const VALUE: &str = "correct-horse-battery-staple-7f3a";

fn key(text: &str) -> SecretKey {
    SecretKey::new(text).expect("valid key")
}

fn mode(path: &std::path::Path) -> u32 {
    fs::metadata(path).expect("metadata").permissions().mode() & 0o777
}

#[test]
fn identity_is_created_private_and_reused() {
    let temporary = tempfile::tempdir().expect("temporary directory");
    let directory = temporary.path().join("store");
    let store = SecretStore::open(&directory).expect("open");
    assert_eq!(mode(&directory), 0o700);
    assert_eq!(mode(&directory.join("identity.txt")), 0o600);
    let recipient = store.recipient();
    assert!(recipient.starts_with("age1"), "{recipient}");
    let reopened = SecretStore::open(&directory).expect("reopen");
    assert_eq!(reopened.recipient(), recipient);
}

#[test]
fn values_round_trip_encrypted_with_private_files() {
    let temporary = tempfile::tempdir().expect("temporary directory");
    let store = SecretStore::open(temporary.path()).expect("open");
    let token = key("k3s-token/home");
    assert!(store.get(&token).expect("get").is_none());
    store.put(&token, &SecretString::from(VALUE)).expect("put");
    let path = temporary.path().join("secrets/k3s-token/home.age");
    assert_eq!(mode(&path), 0o600);
    let on_disk = fs::read(&path).expect("read");
    assert!(
        !on_disk
            .windows(VALUE.len())
            .any(|window| window == VALUE.as_bytes()),
        "the value is stored in clear"
    );
    let reopened = SecretStore::open(temporary.path()).expect("reopen");
    let value = reopened.get(&token).expect("get").expect("present");
    assert_eq!(value.expose_secret(), VALUE);

    store
        .put(&token, &SecretString::from("replacement"))
        .expect("replace");
    assert_eq!(
        store
            .get(&token)
            .expect("get")
            .expect("present")
            .expose_secret(),
        "replacement"
    );
    assert_eq!(store.keys().expect("keys"), vec![token.clone()]);
    assert!(store.remove(&token).expect("remove"));
    assert!(!store.remove(&token).expect("remove again"));
    assert!(store.keys().expect("keys").is_empty());
}

#[test]
fn the_age_file_decrypts_with_the_identity_file_alone() {
    let temporary = tempfile::tempdir().expect("temporary directory");
    let store = SecretStore::open(temporary.path()).expect("open");
    store
        .put(&key("interoperable"), &SecretString::from(VALUE))
        .expect("put");
    let identity_text = fs::read_to_string(temporary.path().join("identity.txt")).expect("read");
    let line = identity_text
        .lines()
        .find(|line| line.starts_with("AGE-SECRET-KEY-"))
        .expect("identity line");
    let identity: age::x25519::Identity = line.parse().expect("identity parses");
    let encrypted = fs::read(temporary.path().join("secrets/interoperable.age")).expect("read");
    let plaintext = age::decrypt(&identity, &encrypted).expect("decrypts");
    assert_eq!(plaintext, VALUE.as_bytes());
}

#[test]
fn get_or_create_generates_once() {
    let temporary = tempfile::tempdir().expect("temporary directory");
    let store = SecretStore::open(temporary.path()).expect("open");
    let token = key("k3s-token/lab");
    let first = store
        .get_or_create(&token, || generate_token(32))
        .expect("create");
    let second = store
        .get_or_create(&token, || panic!("must not generate again"))
        .expect("get");
    assert_eq!(first.expose_secret(), second.expose_secret());
}

#[test]
fn tokens_are_random_hexadecimal() {
    let first = generate_token(32).expect("token");
    let second = generate_token(32).expect("token");
    assert_eq!(first.expose_secret().len(), 64);
    assert!(
        first
            .expose_secret()
            .bytes()
            .all(|byte| byte.is_ascii_hexdigit())
    );
    assert_ne!(first.expose_secret(), second.expose_secret());
}

#[test]
fn another_identity_cannot_read_and_the_error_has_no_value() {
    let temporary = tempfile::tempdir().expect("temporary directory");
    let store = SecretStore::open(temporary.path()).expect("open");
    store
        .put(&key("shared"), &SecretString::from(VALUE))
        .expect("put");
    fs::remove_file(temporary.path().join("identity.txt")).expect("remove identity");
    let other = SecretStore::open(temporary.path()).expect("new identity");
    let error = other.get(&key("shared")).expect_err("other identity");
    assert!(
        matches!(error, SecretStoreError::Decrypt { .. }),
        "{error:?}"
    );
    let mut chain = format!("{error} {error:?}");
    let mut source = std::error::Error::source(&error);
    while let Some(cause) = source {
        chain.push_str(&cause.to_string());
        source = cause.source();
    }
    assert!(chain.contains("shared"), "the error names the key: {chain}");
    assert!(!chain.contains(VALUE));
}

#[test]
fn an_identity_readable_by_others_is_refused() {
    let temporary = tempfile::tempdir().expect("temporary directory");
    SecretStore::open(temporary.path()).expect("open");
    let identity = temporary.path().join("identity.txt");
    fs::set_permissions(&identity, fs::Permissions::from_mode(0o644)).expect("chmod");
    let error = SecretStore::open(temporary.path()).expect_err("too open");
    assert!(
        matches!(error, SecretStoreError::IdentityTooOpen { mode: 0o644, .. }),
        "{error:?}"
    );
    assert!(error.to_string().contains("chmod 600"));
}

#[test]
fn a_damaged_identity_file_is_reported() {
    let temporary = tempfile::tempdir().expect("temporary directory");
    SecretStore::open(temporary.path()).expect("open");
    fs::write(temporary.path().join("identity.txt"), "not a key\n").expect("overwrite");
    let error = SecretStore::open(temporary.path()).expect_err("damaged");
    assert!(
        matches!(error, SecretStoreError::InvalidIdentity { .. }),
        "{error:?}"
    );
}

#[test]
fn debug_output_redacts_values_and_identity() {
    let temporary = tempfile::tempdir().expect("temporary directory");
    let store = SecretStore::open(temporary.path()).expect("open");
    let value = SecretString::from(VALUE);
    let printed = format!("{value:?} {store:?}");
    assert!(!printed.contains(VALUE));
    assert!(!printed.contains("AGE-SECRET-KEY"));
}
