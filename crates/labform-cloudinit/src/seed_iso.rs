//! The NoCloud seed image: an ISO 9660 file system with the volume ID `cidata` holding
//! `user-data`, `meta-data` and `network-config`, written in memory by labform itself.
//!
//! The image has one root directory and no subdirectories. Names are readable three ways:
//! ISO 9660 level 2 names in the primary tree (`USER_DATA.;1`), the exact lowercase names as
//! Rock Ridge `NM` entries in that same tree, and again as Joliet names in a supplementary tree.
//! Linux (and so cloud-init) reads the Rock Ridge names. Every timestamp is a fixed date, so the
//! same files always give the same bytes.
//!
//! Layout, in 2048-byte sectors: 0 to 15 empty (system area), 16 primary volume descriptor,
//! 17 Joliet supplementary volume descriptor, 18 set terminator, 19 and 20 the primary path tables
//! (little- and big-endian), 21 and 22 the Joliet path tables, 23 the primary root directory, 24
//! the Joliet root directory, then the files' data, each starting on a sector boundary.

use secrecy::ExposeSecret as _;

use crate::node::SeedFiles;

/// The volume ID cloud-init's NoCloud data source looks for.
pub const SEED_VOLUME_ID: &str = "cidata";

const SECTOR: usize = 2048;
const PRIMARY_DESCRIPTOR: usize = 16;
const JOLIET_DESCRIPTOR: usize = 17;
const TERMINATOR: usize = 18;
const PRIMARY_PATH_TABLE_LITTLE: usize = 19;
const PRIMARY_PATH_TABLE_BIG: usize = 20;
const JOLIET_PATH_TABLE_LITTLE: usize = 21;
const JOLIET_PATH_TABLE_BIG: usize = 22;
const PRIMARY_ROOT: usize = 23;
const JOLIET_ROOT: usize = 24;
const FIRST_DATA: usize = 25;

/// Every recorded date: 2000-01-01 00:00:00 UTC.
const DIRECTORY_DATE: [u8; 7] = [100, 1, 1, 0, 0, 0, 0];
const VOLUME_DATE: &[u8; 16] = b"2000010100000000";

/// Rock Ridge modes: a regular file readable by all, a directory readable and searchable by all.
const FILE_MODE: u32 = 0o100_444;
const DIRECTORY_MODE: u32 = 0o040_555;

/// One file of the image.
struct SeedFile<'a> {
    /// The exact name (Rock Ridge and Joliet).
    name: &'a str,
    /// The contents.
    data: &'a [u8],
    /// First sector of the contents.
    sector: usize,
}

/// The ISO 9660 image of `files`: volume ID `cidata`, with `user-data` (including the private
/// host key), `meta-data` and `network-config`. The bytes hold a secret: keep them in memory and
/// hand them only to the Proxmox upload.
pub fn seed_iso(files: &SeedFiles) -> Vec<u8> {
    nocloud_iso(
        files.user_data.expose_secret().as_bytes(),
        &files.meta_data,
        &files.network_config,
    )
}

/// The NoCloud ISO 9660 image (volume ID `cidata`) of any `user-data`, `meta-data` and
/// `network-config`: a cloud-init VM's, or a Talos node's whose user data is its machine
/// configuration. Hand the bytes only to the Proxmox upload when the user data is secret.
pub fn nocloud_iso(user_data: &[u8], meta_data: &str, network_config: &str) -> Vec<u8> {
    iso_image(&[
        ("meta-data", meta_data.as_bytes()),
        ("network-config", network_config.as_bytes()),
        ("user-data", user_data),
    ])
}

/// The ISO 9660 image of `entries` (name, contents), in the root directory. Names must be
/// distinct, short (at most 30 characters) and sorted.
fn iso_image(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut sector = FIRST_DATA;
    let mut files = Vec::with_capacity(entries.len());
    for (name, data) in entries {
        files.push(SeedFile { name, data, sector });
        sector += sectors_for(data.len());
    }
    let total_sectors = sector;
    let mut image = vec![0u8; total_sectors * SECTOR];

    let primary_root = directory(&files, Tree::Primary);
    let joliet_root = directory(&files, Tree::Joliet);
    assert!(
        primary_root.len() <= SECTOR && joliet_root.len() <= SECTOR,
        "the root directory of a seed image fits one sector"
    );
    write_sector(&mut image, PRIMARY_ROOT, &primary_root);
    write_sector(&mut image, JOLIET_ROOT, &joliet_root);
    for file in &files {
        image[file.sector * SECTOR..][..file.data.len()].copy_from_slice(file.data);
    }
    write_sector(
        &mut image,
        PRIMARY_PATH_TABLE_LITTLE,
        &path_table(PRIMARY_ROOT, Endian::Little),
    );
    write_sector(
        &mut image,
        PRIMARY_PATH_TABLE_BIG,
        &path_table(PRIMARY_ROOT, Endian::Big),
    );
    write_sector(
        &mut image,
        JOLIET_PATH_TABLE_LITTLE,
        &path_table(JOLIET_ROOT, Endian::Little),
    );
    write_sector(
        &mut image,
        JOLIET_PATH_TABLE_BIG,
        &path_table(JOLIET_ROOT, Endian::Big),
    );
    write_sector(
        &mut image,
        PRIMARY_DESCRIPTOR,
        &volume_descriptor(Tree::Primary, total_sectors),
    );
    write_sector(
        &mut image,
        JOLIET_DESCRIPTOR,
        &volume_descriptor(Tree::Joliet, total_sectors),
    );
    let mut terminator = [0u8; 7];
    terminator[0] = 255;
    terminator[1..6].copy_from_slice(b"CD001");
    terminator[6] = 1;
    write_sector(&mut image, TERMINATOR, &terminator);
    image
}

fn sectors_for(bytes: usize) -> usize {
    bytes.div_ceil(SECTOR).max(1)
}

fn write_sector(image: &mut [u8], sector: usize, bytes: &[u8]) {
    image[sector * SECTOR..][..bytes.len()].copy_from_slice(bytes);
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tree {
    /// ISO 9660 names with Rock Ridge entries.
    Primary,
    /// Joliet (UCS-2 names).
    Joliet,
}

#[derive(Clone, Copy)]
enum Endian {
    Little,
    Big,
}

fn both_u32(value: u32) -> [u8; 8] {
    let mut bytes = [0u8; 8];
    bytes[..4].copy_from_slice(&value.to_le_bytes());
    bytes[4..].copy_from_slice(&value.to_be_bytes());
    bytes
}

fn both_u16(value: u16) -> [u8; 4] {
    let mut bytes = [0u8; 4];
    bytes[..2].copy_from_slice(&value.to_le_bytes());
    bytes[2..].copy_from_slice(&value.to_be_bytes());
    bytes
}

fn to_u32(value: usize) -> u32 {
    u32::try_from(value).expect("a seed image is far smaller than 4 GiB")
}

fn ucs2(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_be_bytes).collect()
}

/// The primary ISO 9660 name of `name`: level 2 d-characters and `.;1`.
fn primary_name(name: &str) -> Vec<u8> {
    let mut identifier: Vec<u8> = name
        .bytes()
        .map(|byte| match byte {
            b'a'..=b'z' => byte.to_ascii_uppercase(),
            b'A'..=b'Z' | b'0'..=b'9' => byte,
            _ => b'_',
        })
        .collect();
    identifier.extend_from_slice(b".;1");
    identifier
}

/// A directory record. `identifier` is the file identifier as stored; `system_use` the Rock Ridge
/// entries.
fn directory_record(
    identifier: &[u8],
    sector: usize,
    length: usize,
    is_directory: bool,
    system_use: &[u8],
) -> Vec<u8> {
    let padding = usize::from(identifier.len().is_multiple_of(2));
    let record_length = 33 + identifier.len() + padding + system_use.len();
    let mut record = Vec::with_capacity(record_length);
    record.push(u8::try_from(record_length).expect("directory records are at most 255 bytes"));
    record.push(0);
    record.extend_from_slice(&both_u32(to_u32(sector)));
    record.extend_from_slice(&both_u32(to_u32(length)));
    record.extend_from_slice(&DIRECTORY_DATE);
    record.push(if is_directory { 0x02 } else { 0x00 });
    record.push(0);
    record.push(0);
    record.extend_from_slice(&both_u16(1));
    record.push(u8::try_from(identifier.len()).expect("short identifiers"));
    record.extend_from_slice(identifier);
    record.resize(33 + identifier.len() + padding, 0);
    record.extend_from_slice(system_use);
    record
}

/// Rock Ridge `PX`: POSIX mode, one link, owner and group root.
fn rock_ridge_attributes(mode: u32) -> Vec<u8> {
    let mut entry = vec![b'P', b'X', 36, 1];
    entry.extend_from_slice(&both_u32(mode));
    entry.extend_from_slice(&both_u32(1));
    entry.extend_from_slice(&both_u32(0));
    entry.extend_from_slice(&both_u32(0));
    entry
}

/// Rock Ridge `RR` (the RRIP 1.09 list of entries present): bit 0 `PX`, bit 3 `NM`.
fn rock_ridge_present(flags: u8) -> Vec<u8> {
    vec![b'R', b'R', 5, 1, flags]
}

/// Rock Ridge `NM`: the file's exact name.
fn rock_ridge_name(name: &str) -> Vec<u8> {
    let mut entry = vec![
        b'N',
        b'M',
        u8::try_from(5 + name.len()).expect("short names"),
        1,
        0,
    ];
    entry.extend_from_slice(name.as_bytes());
    entry
}

/// The system use of the root's `.` record: `SP` (SUSP in use), `ER` (Rock Ridge in use).
fn rock_ridge_root() -> Vec<u8> {
    const IDENTIFIER: &[u8] = b"RRIP_1991A";
    const DESCRIPTION: &[u8] = b"ROCK RIDGE INTERCHANGE PROTOCOL: POSIX FILE SYSTEM SEMANTICS";
    const SOURCE: &[u8] = b"IEEE P1282";
    let mut entries = vec![b'S', b'P', 7, 1, 0xBE, 0xEF, 0];
    let length = 8 + IDENTIFIER.len() + DESCRIPTION.len() + SOURCE.len();
    entries.extend_from_slice(&[
        b'E',
        b'R',
        u8::try_from(length).expect("short extension record"),
        1,
        u8::try_from(IDENTIFIER.len()).expect("short"),
        u8::try_from(DESCRIPTION.len()).expect("short"),
        u8::try_from(SOURCE.len()).expect("short"),
        1,
    ]);
    entries.extend_from_slice(IDENTIFIER);
    entries.extend_from_slice(DESCRIPTION);
    entries.extend_from_slice(SOURCE);
    entries
}

/// The root directory of `tree`: `.`, `..` and the files.
fn directory(files: &[SeedFile<'_>], tree: Tree) -> Vec<u8> {
    let root = match tree {
        Tree::Primary => PRIMARY_ROOT,
        Tree::Joliet => JOLIET_ROOT,
    };
    let (self_use, parent_use) = match tree {
        Tree::Primary => {
            let mut self_use = rock_ridge_root();
            self_use.extend(rock_ridge_present(0x01));
            self_use.extend(rock_ridge_attributes(DIRECTORY_MODE));
            let mut parent_use = rock_ridge_present(0x01);
            parent_use.extend(rock_ridge_attributes(DIRECTORY_MODE));
            (self_use, parent_use)
        }
        Tree::Joliet => (Vec::new(), Vec::new()),
    };
    let mut bytes = directory_record(&[0], root, SECTOR, true, &self_use);
    bytes.extend(directory_record(&[1], root, SECTOR, true, &parent_use));
    for file in files {
        let record = match tree {
            Tree::Primary => {
                let mut system_use = rock_ridge_present(0x09);
                system_use.extend(rock_ridge_attributes(FILE_MODE));
                system_use.extend(rock_ridge_name(file.name));
                directory_record(
                    &primary_name(file.name),
                    file.sector,
                    file.data.len(),
                    false,
                    &system_use,
                )
            }
            Tree::Joliet => {
                directory_record(&ucs2(file.name), file.sector, file.data.len(), false, &[])
            }
        };
        bytes.extend(record);
    }
    bytes
}

/// A path table with the root directory only.
fn path_table(root: usize, endian: Endian) -> Vec<u8> {
    let mut table = vec![1, 0];
    match endian {
        Endian::Little => {
            table.extend_from_slice(&to_u32(root).to_le_bytes());
            table.extend_from_slice(&1u16.to_le_bytes());
        }
        Endian::Big => {
            table.extend_from_slice(&to_u32(root).to_be_bytes());
            table.extend_from_slice(&1u16.to_be_bytes());
        }
    }
    table.extend_from_slice(&[0, 0]);
    table
}

/// Writes `text` into `field`, padded with spaces (bytes for the primary descriptor, UCS-2 for
/// Joliet).
fn text_field(field: &mut [u8], text: &str, tree: Tree) {
    match tree {
        Tree::Primary => {
            field.fill(b' ');
            field[..text.len()].copy_from_slice(text.as_bytes());
        }
        Tree::Joliet => {
            for pair in field.chunks_mut(2) {
                pair[0] = 0;
                if let Some(low) = pair.get_mut(1) {
                    *low = b' ';
                }
            }
            let encoded = ucs2(text);
            field[..encoded.len()].copy_from_slice(&encoded);
        }
    }
}

/// The primary or the Joliet supplementary volume descriptor.
fn volume_descriptor(tree: Tree, total_sectors: usize) -> Vec<u8> {
    let mut descriptor = vec![0u8; SECTOR];
    let (kind, root, path_little, path_big) = match tree {
        Tree::Primary => (
            1,
            PRIMARY_ROOT,
            PRIMARY_PATH_TABLE_LITTLE,
            PRIMARY_PATH_TABLE_BIG,
        ),
        Tree::Joliet => (
            2,
            JOLIET_ROOT,
            JOLIET_PATH_TABLE_LITTLE,
            JOLIET_PATH_TABLE_BIG,
        ),
    };
    descriptor[0] = kind;
    descriptor[1..6].copy_from_slice(b"CD001");
    descriptor[6] = 1;
    text_field(&mut descriptor[8..40], "LINUX", tree);
    text_field(&mut descriptor[40..72], SEED_VOLUME_ID, tree);
    descriptor[80..88].copy_from_slice(&both_u32(to_u32(total_sectors)));
    if tree == Tree::Joliet {
        // UCS-2 level 3.
        descriptor[88..91].copy_from_slice(b"%/E");
    }
    descriptor[120..124].copy_from_slice(&both_u16(1));
    descriptor[124..128].copy_from_slice(&both_u16(1));
    descriptor[128..132].copy_from_slice(&both_u16(2048));
    descriptor[132..140].copy_from_slice(&both_u32(10));
    descriptor[140..144].copy_from_slice(&to_u32(path_little).to_le_bytes());
    descriptor[148..152].copy_from_slice(&to_u32(path_big).to_be_bytes());
    let root_record = directory_record(&[0], root, SECTOR, true, &[]);
    descriptor[156..190].copy_from_slice(&root_record);
    text_field(&mut descriptor[190..318], "", tree);
    text_field(&mut descriptor[318..446], "", tree);
    text_field(&mut descriptor[446..574], "", tree);
    text_field(&mut descriptor[574..702], "LABFORM", tree);
    text_field(&mut descriptor[702..739], "", tree);
    text_field(&mut descriptor[739..776], "", tree);
    text_field(&mut descriptor[776..813], "", tree);
    for start in [813, 830, 864] {
        descriptor[start..start + 16].copy_from_slice(VOLUME_DATE);
    }
    // Expiration: not specified.
    descriptor[847..863].copy_from_slice(b"0000000000000000");
    descriptor[881] = 1;
    descriptor
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_descriptors() {
        let image = iso_image(&[("a", b"1"), ("b", &[7u8; 3000])]);
        // 25 sectors of metadata, one for `a`, two for `b`.
        assert_eq!(image.len(), 28 * SECTOR);
        let primary = &image[16 * SECTOR..17 * SECTOR];
        assert_eq!(&primary[..7], b"\x01CD001\x01");
        assert_eq!(&primary[40..46], b"cidata");
        assert_eq!(&primary[80..84], &28u32.to_le_bytes());
        assert_eq!(&primary[84..88], &28u32.to_be_bytes());
        let joliet = &image[17 * SECTOR..18 * SECTOR];
        assert_eq!(joliet[0], 2);
        assert_eq!(&joliet[88..91], b"%/E");
        assert_eq!(&joliet[40..52], ucs2("cidata").as_slice());
        assert_eq!(image[18 * SECTOR], 255);
        assert_eq!(image[25 * SECTOR], b'1');
        assert_eq!(&image[26 * SECTOR..26 * SECTOR + 3000], &[7u8; 3000][..]);
    }

    #[test]
    fn the_same_files_give_the_same_bytes() {
        let first = iso_image(&[("meta-data", b"instance-id: x\n")]);
        let second = iso_image(&[("meta-data", b"instance-id: x\n")]);
        assert_eq!(first, second);
        let other = iso_image(&[("meta-data", b"instance-id: y\n")]);
        assert_ne!(first, other);
    }

    #[test]
    fn primary_names_are_level_two() {
        assert_eq!(primary_name("network-config"), b"NETWORK_CONFIG.;1");
    }
}
