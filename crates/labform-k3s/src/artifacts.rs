//! The K3s release files labform installs, from the official release address or a local air-gap
//! directory, always checked against the release's `sha256sum-amd64.txt` before anything is put
//! on a node. Nothing is piped into a shell; a file missing from the list or with another digest
//! stops the apply.
//!
//! A release is the `k3s` binary and, optionally, the air-gap image archive
//! (`k3s-airgap-images-amd64.tar.zst`, `.tar.gz` or `.tar`) that K3s imports at start from
//! `/var/lib/rancher/k3s/agent/images/`, so nodes without internet access can run. Downloads are
//! cached by version under the cache directory and checked again on every use.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use sha2::{Digest as _, Sha256};

use crate::error::ArtifactError;

/// Where K3s releases are published.
pub const OFFICIAL_RELEASES: &str = "https://github.com/k3s-io/k3s/releases/download";

/// The checksum list of a release for amd64.
pub const CHECKSUM_LIST: &str = "sha256sum-amd64.txt";

/// The binary's file name in a release.
pub const BINARY: &str = "k3s";

/// Air-gap image archives, in order of preference.
pub const IMAGE_ARCHIVES: [&str; 3] = [
    "k3s-airgap-images-amd64.tar.zst",
    "k3s-airgap-images-amd64.tar.gz",
    "k3s-airgap-images-amd64.tar",
];

/// Where the release files come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ArtifactSource {
    /// A release address: files are fetched from `BASE/VERSION/FILE` (the official one is
    /// [`OFFICIAL_RELEASES`]). HTTPS with verified TLS; plain HTTP only from this machine
    /// (a loopback mirror).
    Releases {
        /// The base address.
        base: String,
        /// Whether to fetch the air-gap image archive too.
        images: bool,
    },
    /// A directory holding `k3s`, `sha256sum-amd64.txt` and, optionally, an image archive, as
    /// downloaded from the release page (the official air-gap installation).
    Directory(PathBuf),
}

impl ArtifactSource {
    /// A source from the user's words: an `http(s)://` address or a directory.
    pub fn parse(text: &str) -> Result<Self, ArtifactError> {
        if text.starts_with("https://") || text.starts_with("http://") {
            check_address(text)?;
            Ok(ArtifactSource::Releases {
                base: text.trim_end_matches('/').to_owned(),
                images: false,
            })
        } else {
            Ok(ArtifactSource::Directory(PathBuf::from(text)))
        }
    }

    /// The official release address, without images (the nodes pull them).
    pub fn official() -> Self {
        ArtifactSource::Releases {
            base: OFFICIAL_RELEASES.to_owned(),
            images: false,
        }
    }
}

impl std::fmt::Display for ArtifactSource {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ArtifactSource::Releases { base, .. } => write!(formatter, "{base}"),
            ArtifactSource::Directory(path) => write!(formatter, "{}", path.display()),
        }
    }
}

/// Plain HTTP is accepted only from this machine: anything else must be HTTPS.
fn check_address(address: &str) -> Result<(), ArtifactError> {
    let Some(rest) = address.strip_prefix("http://") else {
        return Ok(());
    };
    let host = rest.split(['/', ':']).next().unwrap_or_default();
    let loopback = host == "localhost"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
        || rest.starts_with("[::1]");
    if loopback {
        Ok(())
    } else {
        Err(ArtifactError::Source {
            detail: format!(
                "{address}: K3s artifacts are fetched over HTTPS (or plain HTTP from this machine only)\n  hint: use an https:// address, or download the release into a directory and give its path"
            ),
        })
    }
}

/// One verified file.
#[derive(Clone)]
pub struct VerifiedFile {
    /// Its name in the release.
    pub name: String,
    /// Its contents.
    pub contents: Arc<Vec<u8>>,
    /// Its SHA-256, lowercase hexadecimal.
    pub sha256: String,
}

impl std::fmt::Debug for VerifiedFile {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("VerifiedFile")
            .field("name", &self.name)
            .field("bytes", &self.contents.len())
            .field("sha256", &self.sha256)
            .finish()
    }
}

/// A K3s release, verified against its checksum list.
#[derive(Debug, Clone)]
pub struct K3sArtifacts {
    /// The version (`v1.31.4+k3s1`).
    pub version: String,
    /// The `k3s` binary.
    pub binary: VerifiedFile,
    /// The air-gap image archive, if the source has one.
    pub images: Option<VerifiedFile>,
}

/// Hexadecimal SHA-256 of `bytes`.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|byte| format!("{byte:02x}"))
        .collect()
}

/// Parses a `sha256sum` list (`DIGEST  NAME` lines; `*NAME` for binary mode) into name → digest.
pub fn parse_checksums(text: &str) -> BTreeMap<String, String> {
    text.lines()
        .filter_map(|line| {
            let (digest, name) = line.trim().split_once(char::is_whitespace)?;
            let name = name.trim_start().trim_start_matches('*');
            let valid = digest.len() == 64 && digest.bytes().all(|byte| byte.is_ascii_hexdigit());
            (valid && !name.is_empty()).then(|| (name.to_owned(), digest.to_ascii_lowercase()))
        })
        .collect()
}

fn verify(
    list_origin: &str,
    checksums: &BTreeMap<String, String>,
    name: &str,
    origin: &str,
    contents: Vec<u8>,
) -> Result<VerifiedFile, ArtifactError> {
    let expected = checksums
        .get(name)
        .ok_or_else(|| ArtifactError::NotListed {
            list: list_origin.to_owned(),
            file: name.to_owned(),
        })?;
    let actual = sha256_hex(&contents);
    if &actual != expected {
        return Err(ArtifactError::Mismatch {
            file: origin.to_owned(),
            expected: expected.clone(),
            actual,
        });
    }
    Ok(VerifiedFile {
        name: name.to_owned(),
        contents: Arc::new(contents),
        sha256: actual,
    })
}

fn read(path: &Path) -> Result<Vec<u8>, ArtifactError> {
    std::fs::read(path).map_err(|source| ArtifactError::Read {
        path: path.to_owned(),
        source,
    })
}

/// The release `version` from `source`, verified. Downloads go through `cache` (a directory;
/// files are kept per version and verified again when reused).
pub async fn fetch(
    source: &ArtifactSource,
    version: &str,
    cache: &Path,
) -> Result<K3sArtifacts, ArtifactError> {
    match source {
        ArtifactSource::Directory(directory) => {
            let directory = directory.clone();
            let version = version.to_owned();
            tokio::task::spawn_blocking(move || from_directory(&directory, &version))
                .await
                .expect("reading artifacts does not panic")
        }
        ArtifactSource::Releases { base, images } => {
            check_address(base)?;
            from_releases(base, *images, version, cache).await
        }
    }
}

fn from_directory(directory: &Path, version: &str) -> Result<K3sArtifacts, ArtifactError> {
    let list_path = directory.join(CHECKSUM_LIST);
    if !list_path.exists() {
        return Err(ArtifactError::Source {
            detail: format!(
                "{} has no {CHECKSUM_LIST}: labform installs nothing it cannot verify\n  hint: download {CHECKSUM_LIST} of K3s {version} from the release page into the directory",
                directory.display()
            ),
        });
    }
    let list_origin = list_path.display().to_string();
    let checksums = parse_checksums(&String::from_utf8_lossy(&read(&list_path)?));
    let binary_path = directory.join(BINARY);
    let binary = verify(
        &list_origin,
        &checksums,
        BINARY,
        &binary_path.display().to_string(),
        read(&binary_path)?,
    )?;
    let mut images = None;
    for name in IMAGE_ARCHIVES {
        let path = directory.join(name);
        if path.exists() {
            images = Some(verify(
                &list_origin,
                &checksums,
                name,
                &path.display().to_string(),
                read(&path)?,
            )?);
            break;
        }
    }
    Ok(K3sArtifacts {
        version: version.to_owned(),
        binary,
        images,
    })
}

/// The digests of the release `version` from `source` without its contents, for comparing
/// what nodes have (drift): only the checksum list is read (and, for a directory, which image
/// archive it holds). The files' contents are empty; never install these.
pub async fn digests_only(
    source: &ArtifactSource,
    version: &str,
) -> Result<K3sArtifacts, ArtifactError> {
    let (list_origin, text, images) = match source {
        ArtifactSource::Directory(directory) => {
            let list = directory.join(CHECKSUM_LIST);
            let text = String::from_utf8_lossy(&read(&list)?).into_owned();
            let images = IMAGE_ARCHIVES
                .into_iter()
                .find(|name| directory.join(name).exists());
            (list.display().to_string(), text, images)
        }
        ArtifactSource::Releases { base, images } => {
            check_address(base)?;
            install_crypto_provider();
            let client =
                reqwest::Client::builder()
                    .build()
                    .map_err(|source| ArtifactError::Download {
                        url: base.clone(),
                        source: Box::new(source),
                    })?;
            let url = release_address(base, version, CHECKSUM_LIST);
            let text = String::from_utf8_lossy(&download(&client, &url).await?).into_owned();
            (url, text, images.then_some(IMAGE_ARCHIVES[0]))
        }
    };
    let checksums = parse_checksums(&text);
    let listed = |name: &str| -> Result<VerifiedFile, ArtifactError> {
        let sha256 = checksums
            .get(name)
            .cloned()
            .ok_or_else(|| ArtifactError::NotListed {
                list: list_origin.clone(),
                file: name.to_owned(),
            })?;
        Ok(VerifiedFile {
            name: name.to_owned(),
            contents: Arc::new(Vec::new()),
            sha256,
        })
    };
    Ok(K3sArtifacts {
        version: version.to_owned(),
        binary: listed(BINARY)?,
        images: images.map(listed).transpose()?,
    })
}

/// Makes ring, the one crypto provider compiled in, the process's default: reqwest's TLS setup
/// (system roots, verification on) takes the default. Installing it again changes nothing.
fn install_crypto_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// `+` in a K3s version is written `%2B` in release addresses.
fn release_address(base: &str, version: &str, file: &str) -> String {
    format!("{base}/{}/{file}", version.replace('+', "%2B"))
}

async fn download(client: &reqwest::Client, url: &str) -> Result<Vec<u8>, ArtifactError> {
    let wrap = |source: reqwest::Error| ArtifactError::Download {
        url: url.to_owned(),
        source: Box::new(source),
    };
    let response = client.get(url).send().await.map_err(wrap)?;
    let status = response.status();
    if !status.is_success() {
        return Err(ArtifactError::Status {
            url: url.to_owned(),
            status: status.as_u16(),
        });
    }
    Ok(response.bytes().await.map_err(wrap)?.to_vec())
}

async fn from_releases(
    base: &str,
    images: bool,
    version: &str,
    cache: &Path,
) -> Result<K3sArtifacts, ArtifactError> {
    install_crypto_provider();
    let client = reqwest::Client::builder()
        .build()
        .map_err(|source| ArtifactError::Download {
            url: base.to_owned(),
            source: Box::new(source),
        })?;
    let list_url = release_address(base, version, CHECKSUM_LIST);
    // The list is small and decides what is trusted: always fetched afresh.
    let checksums = parse_checksums(&String::from_utf8_lossy(
        &download(&client, &list_url).await?,
    ));
    let directory = cache.join(version);
    let mut wanted = vec![BINARY];
    if images {
        wanted.push(IMAGE_ARCHIVES[0]);
    }
    let mut files = Vec::new();
    for name in wanted {
        let cached = directory.join(name);
        if let Ok(contents) = std::fs::read(&cached)
            && let Ok(file) = verify(
                &list_url,
                &checksums,
                name,
                &cached.display().to_string(),
                contents,
            )
        {
            files.push(file);
            continue;
        }
        let url = release_address(base, version, name);
        let file = verify(
            &list_url,
            &checksums,
            name,
            &url,
            download(&client, &url).await?,
        )?;
        write_cache(&cached, &file.contents)?;
        files.push(file);
    }
    let mut files = files.into_iter();
    Ok(K3sArtifacts {
        version: version.to_owned(),
        binary: files.next().expect("the binary is always wanted"),
        images: files.next(),
    })
}

/// Writes a verified download to the cache atomically.
fn write_cache(path: &Path, contents: &[u8]) -> Result<(), ArtifactError> {
    let wrap = |source| ArtifactError::Cache {
        path: path.to_owned(),
        source,
    };
    let directory = path.parent().expect("cache files are in a directory");
    std::fs::create_dir_all(directory).map_err(wrap)?;
    let mut temporary = tempfile::NamedTempFile::new_in(directory).map_err(wrap)?;
    std::io::Write::write_all(&mut temporary, contents).map_err(wrap)?;
    temporary.persist(path).map_err(|error| wrap(error.error))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checksum_lists_parse_like_sha256sum_writes_them() {
        let text = format!(
            "{a}  k3s\n{b} *k3s-airgap-images-amd64.tar.zst\nnot a line\n{short}  other\n",
            a = "a".repeat(64),
            b = "B".repeat(64),
            short = "c".repeat(10),
        );
        let parsed = parse_checksums(&text);
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed["k3s"], "a".repeat(64));
        assert_eq!(parsed["k3s-airgap-images-amd64.tar.zst"], "b".repeat(64));
    }

    #[test]
    fn release_addresses_escape_the_plus() {
        assert_eq!(
            release_address(OFFICIAL_RELEASES, "v1.31.4+k3s1", "k3s"),
            "https://github.com/k3s-io/k3s/releases/download/v1.31.4%2Bk3s1/k3s"
        );
    }

    #[test]
    fn plain_http_only_from_this_machine() {
        assert!(ArtifactSource::parse("http://127.0.0.1:8080/k3s").is_ok());
        assert!(ArtifactSource::parse("http://localhost/k3s").is_ok());
        assert!(ArtifactSource::parse("https://mirror.example/k3s").is_ok());
        let error = ArtifactSource::parse("http://mirror.example/k3s").expect_err("refused");
        assert!(error.to_string().contains("HTTPS"), "{error}");
        assert_eq!(
            ArtifactSource::parse("/srv/k3s").expect("directory"),
            ArtifactSource::Directory(PathBuf::from("/srv/k3s"))
        );
    }
}
