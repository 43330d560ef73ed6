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
}
