//! K3s release files from a local air-gap directory and from a release address served over HTTP
//! on loopback (the code that fetches from GitHub, on local data): verified against the
//! release's `sha256sum-amd64.txt`, cached, refused when a digest differs or is not listed.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use labform_k3s::artifacts::{ArtifactSource, fetch, sha256_hex};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

const VERSION: &str = "v1.31.4+k3s1";

fn release_files() -> BTreeMap<String, Vec<u8>> {
    let binary: Vec<u8> = (0..200_000_u32).map(|index| (index % 253) as u8).collect();
    let images = b"images archive".to_vec();
    let list = format!(
        "{}  k3s\n{}  k3s-airgap-images-amd64.tar.zst\n",
        sha256_hex(&binary),
        sha256_hex(&images)
    );
    BTreeMap::from([
        ("k3s".to_owned(), binary),
        ("k3s-airgap-images-amd64.tar.zst".to_owned(), images),
        ("sha256sum-amd64.txt".to_owned(), list.into_bytes()),
    ])
}

fn write_directory(directory: &Path, files: &BTreeMap<String, Vec<u8>>) {
    for (name, contents) in files {
        std::fs::write(directory.join(name), contents).expect("write");
    }
}

#[tokio::test]
async fn air_gap_directories_are_verified() {
    let directory = tempfile::tempdir().expect("directory");
    let cache = tempfile::tempdir().expect("cache");
    let files = release_files();
    write_directory(directory.path(), &files);
    let source = ArtifactSource::parse(directory.path().to_str().expect("utf-8")).expect("source");
    let release = fetch(&source, VERSION, cache.path())
        .await
        .expect("verified");
    assert_eq!(*release.binary.contents, files["k3s"]);
    let images = release.images.expect("the archive is used");
    assert_eq!(images.name, "k3s-airgap-images-amd64.tar.zst");

    // A binary from elsewhere is refused, naming the file and both digests.
    std::fs::write(directory.path().join("k3s"), b"something else").expect("write");
    let error = fetch(&source, VERSION, cache.path())
        .await
        .expect_err("mismatch");
    let message = error.to_string();
    assert!(message.starts_with("checksum mismatch for "), "{message}");
    assert!(message.contains(&sha256_hex(&files["k3s"])), "{message}");
    assert!(
        message.contains(&sha256_hex(b"something else")),
        "{message}"
    );

    // Without the list, nothing is trusted.
    std::fs::remove_file(directory.path().join("sha256sum-amd64.txt")).expect("remove");
    let error = fetch(&source, VERSION, cache.path())
        .await
        .expect_err("no list");
    assert!(
        error.to_string().contains("has no sha256sum-amd64.txt"),
        "{error}"
    );
}

/// A tiny HTTP/1.1 file server on loopback that records the paths asked for.
async fn serve(files: BTreeMap<String, Vec<u8>>) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let address = listener.local_addr().expect("address");
    let requests = Arc::new(Mutex::new(Vec::new()));
    let seen = Arc::clone(&requests);
    tokio::spawn(async move {
        loop {
            let Ok((mut stream, _)) = listener.accept().await else {
                return;
            };
            let files = files.clone();
            let seen = Arc::clone(&seen);
            tokio::spawn(async move {
                let mut request = Vec::new();
                let mut buffer = [0u8; 1024];
                while !request.windows(4).any(|window| window == b"\r\n\r\n") {
                    let Ok(read) = stream.read(&mut buffer).await else {
                        return;
                    };
                    if read == 0 {
                        return;
                    }
                    request.extend_from_slice(&buffer[..read]);
                }
                let text = String::from_utf8_lossy(&request);
                let path = text.split_whitespace().nth(1).unwrap_or("/").to_owned();
                seen.lock().expect("lock").push(path.clone());
                let name = path.rsplit('/').next().unwrap_or_default();
                let expected_prefix = "/releases/v1.31.4%2Bk3s1/";
                let response = match files.get(name) {
                    Some(body) if path.starts_with(expected_prefix) => {
                        let mut response = format!(
                            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
                            body.len()
                        )
                        .into_bytes();
                        response.extend_from_slice(body);
                        response
                    }
                    _ => {
                        b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                            .to_vec()
                    }
                };
                let _ = stream.write_all(&response).await;
                let _ = stream.shutdown().await;
            });
        }
    });
    (format!("http://{address}/releases"), requests)
}

#[tokio::test]
async fn release_addresses_are_downloaded_verified_and_cached() {
    let files = release_files();
    let (base, requests) = serve(files.clone()).await;
    let cache = tempfile::tempdir().expect("cache");
    let source = ArtifactSource::parse(&base).expect("loopback HTTP is accepted");
    let release = fetch(&source, VERSION, cache.path())
        .await
        .expect("fetched");
    assert_eq!(*release.binary.contents, files["k3s"]);
    assert!(release.images.is_none(), "images only when asked for");
    assert_eq!(
        *requests.lock().expect("lock"),
        [
            "/releases/v1.31.4%2Bk3s1/sha256sum-amd64.txt",
            "/releases/v1.31.4%2Bk3s1/k3s"
        ]
    );
    let cached = cache.path().join(VERSION).join("k3s");
    assert_eq!(std::fs::read(&cached).expect("cached"), files["k3s"]);

    // Again: the list is fetched afresh, the binary comes from the cache.
    requests.lock().expect("lock").clear();
    fetch(&source, VERSION, cache.path())
        .await
        .expect("fetched");
    assert_eq!(
        *requests.lock().expect("lock"),
        ["/releases/v1.31.4%2Bk3s1/sha256sum-amd64.txt"]
    );

    // A corrupted cache entry is not trusted: downloaded again.
    std::fs::write(&cached, b"corrupt").expect("corrupt");
    requests.lock().expect("lock").clear();
    fetch(&source, VERSION, cache.path())
        .await
        .expect("fetched");
    assert_eq!(requests.lock().expect("lock").len(), 2);
    assert_eq!(std::fs::read(&cached).expect("cached"), files["k3s"]);

    // With images.
    let with_images = ArtifactSource::Releases {
        base: base.clone(),
        images: true,
    };
    let release = fetch(&with_images, VERSION, cache.path())
        .await
        .expect("fetched");
    assert_eq!(
        *release.images.expect("images").contents,
        files["k3s-airgap-images-amd64.tar.zst"]
    );

    // A version the server does not have.
    let error = fetch(&source, "v9.9.9+k3s1", cache.path())
        .await
        .expect_err("missing");
    assert!(
        error.to_string().ends_with("the server answered 404"),
        "{error}"
    );

    // A server whose list does not match its binary.
    let mut tampered = files.clone();
    tampered.insert("k3s".to_owned(), b"tampered".to_vec());
    let (tampered_base, _) = serve(tampered).await;
    let error = fetch(
        &ArtifactSource::parse(&tampered_base).expect("source"),
        VERSION,
        tempfile::tempdir().expect("cache").path(),
    )
    .await
    .expect_err("mismatch");
    assert!(
        error.to_string().starts_with("checksum mismatch"),
        "{error}"
    );
}
