//! The kubeconfig Talos's `Kubeconfig` call streams: a gzip-compressed tar archive holding one
//! file, `kubeconfig`. labform reads it in memory (the archive holds the cluster's admin
//! credentials) with a reader of its own for the ustar format.

use std::io::Read as _;

use labform_secrets::SecretString;
use zeroize::Zeroizing;

use crate::error::TalosError;

const BLOCK: usize = 512;

fn damaged(reason: &str) -> TalosError {
    TalosError::Kubeconfig {
        reason: reason.to_owned(),
    }
}

/// The `kubeconfig` file of the tar.gz `archive`.
pub fn kubeconfig_from_archive(archive: &[u8]) -> Result<SecretString, TalosError> {
    let mut tar = Zeroizing::new(Vec::new());
    flate2::read::GzDecoder::new(archive)
        .read_to_end(&mut tar)
        .map_err(|_| damaged("it is not gzip data"))?;
    let mut offset = 0;
    while offset + BLOCK <= tar.len() {
        let header = &tar[offset..offset + BLOCK];
        if header.iter().all(|byte| *byte == 0) {
            break;
        }
        let name_end = header[..100]
            .iter()
            .position(|byte| *byte == 0)
            .unwrap_or(100);
        let name = std::str::from_utf8(&header[..name_end])
            .map_err(|_| damaged("a file name is not UTF-8"))?;
        let size_field = std::str::from_utf8(&header[124..136])
            .map_err(|_| damaged("a size is not text"))?
            .trim_matches(|character: char| character == '\0' || character == ' ');
        let size =
            usize::from_str_radix(size_field, 8).map_err(|_| damaged("a size is not octal"))?;
        let kind = header[156];
        let start = offset + BLOCK;
        let end = start
            .checked_add(size)
            .filter(|end| *end <= tar.len())
            .ok_or_else(|| damaged("a file is cut short"))?;
        if (kind == b'0' || kind == 0) && name.trim_start_matches("./") == "kubeconfig" {
            let text = String::from_utf8(tar[start..end].to_vec())
                .map_err(|_| damaged("the kubeconfig is not UTF-8"))?;
            return Ok(SecretString::from(text));
        }
        offset = start + size.div_ceil(BLOCK) * BLOCK;
    }
    Err(damaged("it holds no file `kubeconfig`"))
}

/// A tar.gz archive holding `contents` as the one file `kubeconfig`, as Talos sends it (for
/// tests and the API double).
pub fn kubeconfig_archive(contents: &[u8]) -> Vec<u8> {
    use std::io::Write as _;
    let mut header = [0_u8; BLOCK];
    header[..10].copy_from_slice(b"kubeconfig");
    header[100..107].copy_from_slice(b"0000600");
    header[108..115].copy_from_slice(b"0000000");
    header[116..123].copy_from_slice(b"0000000");
    let size = format!("{:011o}", contents.len());
    header[124..135].copy_from_slice(size.as_bytes());
    header[136..147].copy_from_slice(b"00000000000");
    header[156] = b'0';
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    header[148..156].copy_from_slice(b"        ");
    let checksum: u32 = header.iter().map(|byte| u32::from(*byte)).sum();
    header[148..155].copy_from_slice(format!("{checksum:06o}\0").as_bytes());
    let mut tar = header.to_vec();
    tar.extend_from_slice(contents);
    tar.resize(
        BLOCK + contents.len().div_ceil(BLOCK) * BLOCK + 2 * BLOCK,
        0,
    );
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(&tar).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}

#[cfg(test)]
mod tests {
    use labform_secrets::ExposeSecret as _;

    use super::*;

    #[test]
    fn the_archive_round_trips_and_damage_is_refused() {
        let archive = kubeconfig_archive(b"apiVersion: v1\nkind: Config\n");
        assert_eq!(
            kubeconfig_from_archive(&archive)
                .expect("kubeconfig")
                .expose_secret(),
            "apiVersion: v1\nkind: Config\n"
        );
        assert!(kubeconfig_from_archive(b"not gzip").is_err());
        assert!(kubeconfig_from_archive(&archive[..archive.len() / 2]).is_err());
    }
}
