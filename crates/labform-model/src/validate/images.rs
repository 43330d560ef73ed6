//! The `images` section: each image's source, checksum and kind.

use super::*;

impl<'a> Checker<'a> {
    pub(super) fn image(&mut self, image: &Image) {
        let at = &image.source;
        self.dns_name(&at.at("name"), "image", &image.name);
        if !(image.url.starts_with("https://") || image.url.starts_with("http://"))
            || image.url.len() < 10
        {
            self.push(
                Diagnostic::error(
                    "invalid-url",
                    &at.at("url"),
                    format!("`{}` is not an http(s) URL", image.url),
                )
                .hint("Proxmox downloads images itself (download-url); give a URL it can reach"),
            );
        }
        let valid = match image.checksum.split_once(':') {
            Some(("sha256", hex)) => hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()),
            Some(("sha512", hex)) => hex.len() == 128 && hex.chars().all(|c| c.is_ascii_hexdigit()),
            _ => false,
        };
        if !valid {
            self.push(
                Diagnostic::error(
                    "invalid-checksum",
                    &at.at("checksum"),
                    "the checksum is not `sha256:<64 hex>` or `sha512:<128 hex>`",
                )
                .hint("copy the image's SHA256SUMS line and write `sha256:` before the hex digest"),
            );
        }
        self.image_format(image);
        if let Some(storage) = &image.storage {
            let mut found = false;
            for endpoint in &self.lab.proxmox {
                if let Some(declared) = endpoint.storages.iter().find(|s| &s.name == storage) {
                    found = true;
                    let accepts = declared
                        .content
                        .iter()
                        .any(|c| matches!(c, StorageContent::Iso | StorageContent::Import));
                    if !accepts {
                        self.push(
                            Diagnostic::error(
                                "storage-content",
                                &at.at("storage"),
                                format!("storage `{storage}` cannot hold downloaded images"),
                            )
                            .hint("download-url needs a storage with `iso` or `import` content"),
                        );
                    }
                }
            }
            if !found {
                let known: Vec<&str> = self
                    .lab
                    .proxmox
                    .iter()
                    .flat_map(|e| e.storages.iter().map(|s| s.name.as_str()))
                    .collect();
                self.reference(&at.at("storage"), "storage", storage, known.iter().copied());
            }
        }
    }

    /// A cloud image's format must be known (declared or named by the URL), and a declared one
    /// must agree with the URL's extension: it decides the name Proxmox stores the image under
    /// and how the template's disk is read.
    fn image_format(&mut self, image: &Image) {
        let at = &image.source;
        let file = image.url_file_name();
        let named = ImageFormat::from_file_name(file);
        match image.kind {
            ImageKind::Iso => {
                if image.format.is_some() {
                    self.push(
                        Diagnostic::error(
                            "image-format",
                            &at.at("format"),
                            "an ISO has no disk format",
                        )
                        .hint("remove `format:`; it is for cloud images"),
                    );
                }
            }
            ImageKind::CloudImage if is_compressed(file) => {
                let hint = match uncompressed_image_factory_url(&image.url) {
                    Some(url) => format!(
                        "Image Factory serves the same image uncompressed: write `url: {url}` and that file's checksum"
                    ),
                    None => "point `url:` at an uncompressed image (and its checksum)".to_owned(),
                };
                self.push(
                    Diagnostic::error(
                        "image-compressed",
                        &at.at("url"),
                        format!("`{file}` is compressed: Proxmox imports only uncompressed `.qcow2`, `.raw` and `.vmdk` files and decompresses downloads only for ISOs, so its download would be refused"),
                    )
                    .hint(hint),
                )
            }
            ImageKind::CloudImage => match (image.format, named) {
                (None, None) => self.push(
                    Diagnostic::error(
                        "image-format",
                        &at.at("url"),
                        format!("the disk format of `{file}` is not known: its name does not say it"),
                    )
                    .hint("add `format: qcow2` (or raw, vmdk); Ubuntu's and Debian's `.img` cloud images are qcow2, and `qemu-img info FILE` tells. Proxmox imports only files named `.qcow2`, `.raw` or `.vmdk`, so labform stores the image under its format's extension"),
                ),
                (Some(declared), Some(named)) if declared != named => self.push(
                    Diagnostic::error(
                        "image-format",
                        &at.at("format"),
                        format!(
                            "`format: {}` contradicts the file name `{file}`",
                            declared.as_str()
                        ),
                    )
                    .hint(format!("remove `format:` or write `format: {}`", named.as_str())),
                ),
                _ => {}
            },
        }
    }
}

/// A Talos Image Factory disk image's address without its compression suffix: Image Factory
/// serves every disk image uncompressed too (`nocloud-amd64.raw` beside `nocloud-amd64.raw.xz`).
fn uncompressed_image_factory_url(url: &str) -> Option<String> {
    if !url.starts_with("https://factory.talos.dev/image/") {
        return None;
    }
    [".xz", ".zst", ".gz"].iter().find_map(|suffix| {
        url.strip_suffix(suffix)
            .filter(|rest| rest.ends_with(".raw") || rest.ends_with(".qcow2"))
            .map(str::to_owned)
    })
}

/// Whether a file name ends in a compression suffix.
fn is_compressed(file: &str) -> bool {
    let lower = file.to_ascii_lowercase();
    [".xz", ".gz", ".zst", ".bz2", ".lzo"]
        .iter()
        .any(|suffix| lower.ends_with(suffix))
}
