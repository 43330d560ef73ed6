//! Property test: whatever parameters the client form-encodes, the
//! simulator's pve-http-server style decoder reads back unchanged.

use labform_simulator::server::decode_form;
use proptest::prelude::*;

proptest! {
    #[test]
    fn client_encoding_survives_server_decoding(
        params in prop::collection::btree_map("[a-z][a-z0-9_-]{0,10}", "\\PC{0,24}", 0..8)
    ) {
        let pairs: Vec<(String, String)> = params.into_iter().filter(|(k, _)| k != "_dc").collect();
        let encoded = serde_urlencoded::to_string(&pairs).unwrap();
        prop_assert_eq!(decode_form(&encoded), pairs);
    }
}

#[test]
fn semicolons_pluses_and_repeats() {
    assert_eq!(
        decode_form("a=1;b=x+y&c=%2B%25&a=2&_dc=123"),
        vec![
            ("a".into(), "1,2".into()),
            ("b".into(), "x y".into()),
            ("c".into(), "+%".into())
        ]
    );
}
