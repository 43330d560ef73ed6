//! Parameter decoding as pve-http-server does it: percent-decoding, form
//! bodies and query strings, JSON bodies, multipart uploads; checking them
//! against the route's schema; and reading typed values out of them.

use super::*;

/// Percent-decodes `s` (invalid escapes stay as they are), `+` as a space if asked.
pub(super) fn percent_decode(s: &str, plus_as_space: bool) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' if plus_as_space => {
                out.push(b' ');
                i += 1;
            }
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Decodes a form body or query string the way pve-http-server does
/// (`&` and `;` separators, `+` as space, repeated keys joined with `,`).
pub fn decode_form(s: &str) -> Vec<(String, String)> {
    merge_repeated(decode_form_pairs(s), |_| ',')
}

/// Decodes a form body or query string into its pairs in order, a repeated
/// key once per occurrence (`_dc` dropped).
pub(super) fn decode_form_pairs(s: &str) -> Vec<(String, String)> {
    s.split(['&', ';'])
        .filter(|p| !p.is_empty())
        .map(|part| {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            (percent_decode(k, true), percent_decode(v, true))
        })
        .filter(|(k, _)| k != "_dc")
        .collect()
}

/// Joins the values of repeated keys, with the separator `separator(key)`
/// gives (`,` for plain parameters, [`ARRAY_SEPARATOR`] for
/// arrays).
pub(super) fn merge_repeated(
    pairs: Vec<(String, String)>,
    separator: impl Fn(&str) -> char,
) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for (k, v) in pairs {
        match out.iter_mut().find(|(ek, _)| *ek == k) {
            Some((_, ev)) => {
                ev.push(separator(&k));
                ev.push_str(&v);
            }
            None => out.push((k, v)),
        }
    }
    out
}

/// The parameters of a JSON body, as the strings a form would carry.
pub(super) fn json_params(body: &[u8]) -> Result<Vec<(String, String)>, ApiError> {
    let v: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| ApiError::new(400, format!("unable to parse JSON body - {e}")))?;
    let obj = v
        .as_object()
        .ok_or_else(|| ApiError::new(400, "JSON body is not an object"))?;
    let mut out = Vec::new();
    for (k, v) in obj {
        let s = match v {
            serde_json::Value::Null => continue,
            serde_json::Value::Bool(b) => if *b { "1" } else { "0" }.to_owned(),
            serde_json::Value::Number(n) => n.to_string(),
            serde_json::Value::String(s) => s.clone(),
            serde_json::Value::Array(a) => {
                // One pair per item, merged like a repeated form key.
                for x in a {
                    let item = match x {
                        serde_json::Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    out.push((k.clone(), item));
                }
                continue;
            }
            serde_json::Value::Object(_) => {
                return Err(ApiError::param(k, "type check failed - got an object"));
            }
        };
        out.push((k.clone(), s));
    }
    Ok(out)
}

/// Form fields and the uploaded file's (name, contents) of a multipart body.
pub(super) type Multipart = (Vec<(String, String)>, Option<(String, Vec<u8>)>);

/// The form fields and the uploaded file of a `multipart/form-data` body.
pub(super) fn parse_multipart(ct: &str, body: &[u8]) -> Result<Multipart, ApiError> {
    let boundary = ct
        .split(';')
        .find_map(|p| p.trim().strip_prefix("boundary="))
        .map(|b| b.trim_matches('"').to_owned())
        .ok_or_else(|| ApiError::new(501, "upload without multipart/form-data boundary"))?;
    let delim = format!("--{boundary}");
    let mut fields = Vec::new();
    let mut file = None;
    let mut rest = body;
    let find = |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
    while let Some(start) = find(rest, delim.as_bytes()) {
        rest = &rest[start + delim.len()..];
        if rest.starts_with(b"--") {
            break;
        }
        let Some(hend) = find(rest, b"\r\n\r\n") else {
            break;
        };
        let head = String::from_utf8_lossy(&rest[..hend]).to_string();
        let content = &rest[hend + 4..];
        let end = find(content, format!("\r\n{delim}").as_bytes()).unwrap_or(content.len());
        let data = &content[..end];
        let disp = head
            .lines()
            .find(|l| l.to_ascii_lowercase().starts_with("content-disposition"))
            .unwrap_or("");
        let attr = |name: &str| {
            disp.split(';').find_map(|p| {
                p.trim()
                    .strip_prefix(&format!("{name}="))
                    .map(|v| v.trim_matches('"').to_owned())
            })
        };
        match (attr("name"), attr("filename")) {
            (Some(_), Some(fname)) => file = Some((fname, data.to_vec())),
            (Some(n), None) => fields.push((n, String::from_utf8_lossy(data).into_owned())),
            _ => {}
        }
        rest = &content[end..];
    }
    Ok((fields, file))
}

/// Checks parameters against the route's schema, with Proxmox's per-parameter errors.
pub(super) fn validate(
    route: &Endpoint,
    params: &BTreeMap<String, String>,
) -> Result<(), ApiError> {
    let mut errors = BTreeMap::new();
    for (k, v) in params {
        match route.params.iter().find(|p| p.name == k) {
            Some(p) => {
                if let Err(problem) = p.ty.check(v) {
                    errors.insert(k.clone(), problem);
                }
            }
            None if route.extra == Extra::VmConfig && crate::sim::is_config_key(k) => {
                if let Err(e) = crate::sim::normalize_config_value(k, v) {
                    errors.insert(k.clone(), e);
                }
            }
            None => {
                errors.insert(
                    k.clone(),
                    "property is not defined in schema and the schema does not allow additional properties".into(),
                );
            }
        }
    }
    for p in route.params.iter().filter(|p| p.required) {
        if !params.contains_key(p.name) {
            errors.insert(
                p.name.into(),
                "property is missing and it is not optional".into(),
            );
        }
    }
    if errors.is_empty() {
        Ok(())
    } else {
        Err(ApiError::params(errors))
    }
}

/// Parameters the schema allows but the simulator does not model: refused
/// with 501 rather than silently ignored.
pub(super) fn unimplemented_param(
    route: &Endpoint,
    map: &BTreeMap<String, String>,
) -> Option<&'static str> {
    use endpoint::{access, backup, power, qemu, snapshots, storage};
    let set = |k: &str| map.get(k).is_some_and(|v| v != "0");
    let candidates: &[&'static str] = match route {
        &qemu::CREATE_VM => &["live-restore", "ha-managed", "import-working-storage"],
        &qemu::UPDATE_CONFIG | &qemu::UPDATE_CONFIG_SYNC => &["import-working-storage"],
        &qemu::CLONE => &["snapname"],
        &power::START => &["stateuri", "migratedfrom", "targetstorage"],
        &snapshots::CREATE_SNAPSHOT => &["vmstate"],
        &snapshots::ROLLBACK => &["start"],
        &backup::VZDUMP => &[
            "dumpdir",
            "exclude-path",
            "fleecing",
            "pbs-change-detection-mode",
            "prune-backups",
            "script",
            "stop",
            "tmpdir",
        ],
        &access::UPDATE_ACL => &["groups"],
        &access::CREATE_USER => &["groups", "expire", "keys"],
        _ => &[],
    };
    if route == &access::CREATE_USER && map.get("enable").is_some_and(|v| v == "0") {
        return Some("enable");
    }
    // Decompressing a downloaded ISO is not modelled; what Proxmox refuses of `compression`
    // (any content but `iso`, an unknown compressor) fails the download's task as there.
    if route == &storage::DOWNLOAD_URL
        && map.get("content").is_some_and(|content| content == "iso")
        && map.get("compression").is_some_and(|compression| {
            storage::DOWNLOAD_DECOMPRESSORS.contains(&compression.as_str())
        })
    {
        return Some("compression");
    }
    candidates.iter().copied().find(|k| set(k))
}

/// Parameter `k`.
pub(super) fn get<'a>(map: &'a BTreeMap<String, String>, k: &str) -> Option<&'a str> {
    map.get(k).map(String::as_str)
}

/// Whether boolean parameter `k` is set.
pub(super) fn flag(map: &BTreeMap<String, String>, k: &str) -> bool {
    get(map, k) == Some("1")
}

/// Parameter `k` as a VMID.
pub(super) fn vmid(map: &BTreeMap<String, String>, k: &str) -> Result<VmId, Outcome> {
    get(map, k)
        .and_then(|v| v.parse::<u32>().ok())
        .and_then(|v| VmId::new(v).ok())
        .ok_or_else(|| Outcome::err(&ApiError::param(k, "invalid VMID")))
}

/// The values of array parameter `k` (absent: none).
pub(super) fn array(map: &BTreeMap<String, String>, k: &str) -> Vec<String> {
    get(map, k)
        .map(|v| v.split(ARRAY_SEPARATOR).map(str::to_owned).collect())
        .unwrap_or_default()
}

/// The `upid` parameter.
pub(super) fn parse_upid(map: &BTreeMap<String, String>) -> Result<Upid, Outcome> {
    get(map, "upid")
        .and_then(|u| u.parse::<Upid>().ok())
        .ok_or_else(|| Outcome::err(&ApiError::param("upid", "unable to parse worker upid")))
}
