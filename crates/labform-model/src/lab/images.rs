//! The `images` section: cloud images and ISOs, their kind and disk format, and the names
//! Proxmox stores them under.

use super::*;

/// What kind of image an image entry is.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, schemars::JsonSchema,
)]
#[serde(rename_all = "kebab-case")]
pub enum ImageKind {
    /// A cloud image (qcow2/raw) with cloud-init: labform makes a template from it and clones it.
    #[default]
    CloudImage,
    /// An installer ISO (TrueNAS, Talos): attached as a CD-ROM to an empty disk.
    Iso,
}

/// The disk format of a cloud image, as Proxmox's `import` content names its files.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ImageFormat {
    /// QEMU copy-on-write (`QFI\xfb` at the start of the file).
    Qcow2,
    /// A raw disk image.
    Raw,
    /// VMware's disk format.
    Vmdk,
}

impl ImageFormat {
    /// The format's name and file extension.
    pub fn as_str(self) -> &'static str {
        match self {
            ImageFormat::Qcow2 => "qcow2",
            ImageFormat::Raw => "raw",
            ImageFormat::Vmdk => "vmdk",
        }
    }

    /// The format a file name's extension names, if any (`.img` names none: it is used for
    /// qcow2 and raw images alike).
    pub fn from_file_name(name: &str) -> Option<Self> {
        let (_, extension) = name.rsplit_once('.')?;
        match extension.to_ascii_lowercase().as_str() {
            "qcow2" => Some(ImageFormat::Qcow2),
            "raw" => Some(ImageFormat::Raw),
            "vmdk" => Some(ImageFormat::Vmdk),
            _ => None,
        }
    }
}

/// A cloud image or ISO, fetched by URL and checked against its checksum.
#[derive(Debug, Clone, Serialize, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Image {
    /// Name VMs use to refer to it.
    pub name: String,
    /// Where Proxmox downloads it from.
    pub url: String,
    /// `sha256:<hex>` or `sha512:<hex>`.
    pub checksum: String,
    /// Cloud image (default) or ISO.
    #[serde(default)]
    pub kind: ImageKind,
    /// Disk format of a cloud image. Needed when the URL's file name does not say it: Ubuntu's
    /// `.img` cloud images are qcow2. The image is stored under a name with this extension, the
    /// only names Proxmox accepts for imports, and read as this format when the template's disk
    /// is imported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<ImageFormat>,
    /// Operating system family, for people (`debian-12`, `ubuntu-24.04`, `talos`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// Storage the image is downloaded to (default: the first storage with `import` or `iso` content).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<String>,
    /// Source of this entry (not part of the file format).
    #[serde(skip)]
    #[schemars(skip)]
    pub source: Source,
}

impl Image {
    /// The last segment of the URL's path (without a query), or the image's name.
    pub fn url_file_name(&self) -> &str {
        let path = self.url.split(['?', '#']).next().unwrap_or_default();
        match path.rsplit('/').next() {
            Some(name) if !name.is_empty() => name,
            _ => &self.name,
        }
    }

    /// The disk format of a cloud image: declared, or named by the URL's extension.
    pub fn disk_format(&self) -> Option<ImageFormat> {
        self.format
            .or_else(|| ImageFormat::from_file_name(self.url_file_name()))
    }

    /// Proxmox's content type the image is downloaded as: `import` for cloud images, `iso` for
    /// installer ISOs.
    pub fn content_type(&self) -> &'static str {
        match self.kind {
            ImageKind::CloudImage => "import",
            ImageKind::Iso => "iso",
        }
    }

    /// The file name the image is stored under, one Proxmox accepts for its content type: an
    /// ISO keeps a name ending in `.iso` or `.img` (`.iso` is added otherwise); a cloud image
    /// gets its format's extension (`noble-server-cloudimg-amd64.img` becomes
    /// `noble-server-cloudimg-amd64.qcow2`).
    pub fn volume_file_name(&self) -> String {
        let name = self.url_file_name();
        match self.kind {
            ImageKind::Iso => {
                let lower = name.to_ascii_lowercase();
                if lower.ends_with(".iso") || lower.ends_with(".img") {
                    name.to_owned()
                } else {
                    format!("{name}.iso")
                }
            }
            ImageKind::CloudImage => {
                let Some(format) = self.disk_format() else {
                    return name.to_owned();
                };
                let stem = match name.rsplit_once('.') {
                    Some((stem, extension))
                        if ["img", "qcow2", "raw", "vmdk"]
                            .contains(&extension.to_ascii_lowercase().as_str()) =>
                    {
                        stem
                    }
                    _ => name,
                };
                format!("{stem}.{}", format.as_str())
            }
        }
    }
}
