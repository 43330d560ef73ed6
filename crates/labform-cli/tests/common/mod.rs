//! What the tests that start `labform sim serve` as a process share.

use std::io::{BufRead as _, BufReader};
use std::process::Child;

/// Reads the address (without `/api2/json`) and the certificate fingerprint that a starting
/// `labform sim serve` prints, from `child`'s piped standard output.
pub fn simulator_address(child: &mut Child) -> (String, String) {
    let mut lines = BufReader::new(child.stdout.take().expect("stdout is piped")).lines();
    let mut url = None;
    let mut fingerprint = None;
    while url.is_none() || fingerprint.is_none() {
        let line = lines
            .next()
            .expect("the simulator prints its address")
            .expect("the simulator's output is text");
        if let Some(rest) = line.strip_prefix("Proxmox VE simulator listening on ") {
            url = Some(rest.trim_end_matches("/api2/json").to_owned());
        }
        if let Some(rest) = line.strip_prefix("certificate SHA-256 fingerprint: ") {
            fingerprint = Some(rest.to_owned());
        }
    }
    (url.expect("read"), fingerprint.expect("read"))
}
