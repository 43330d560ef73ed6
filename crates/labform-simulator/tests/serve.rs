//! `launch` (what `labform sim serve` runs): generated password, printed
//! fingerprint, fault file, and the fault administration endpoint.

use labform_proxmox::api::ProxmoxApi;
use labform_proxmox::tls::{Fingerprint, TlsTrust};
use labform_proxmox::{Auth, Client, ClientOptions, fetch_fingerprint};
use labform_simulator::{ServeError, ServeOptions, Timing, launch};
use std::net::SocketAddr;

fn options(faults: Option<std::path::PathBuf>) -> ServeOptions {
    let mut o = ServeOptions::new(SocketAddr::from(([127, 0, 0, 1], 0)));
    o.http_listen = Some(SocketAddr::from(([127, 0, 0, 1], 0)));
    o.faults = faults;
    o.timing = Timing::scaled(0.001);
    o
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn launch_with_fault_file_and_admin_api() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("faults.json");
    std::fs::write(
        &path,
        r#"{"rules":[{"endpoint":"GET /cluster/resources","times":1,
            "fault":{"kind":"status","status":400,"message":"injected from file"}}]}"#,
    )
    .unwrap();
    let l = launch(options(Some(path))).await.unwrap();
    assert!(l.password_generated);
    assert_eq!(format!("{:?}", l.root_password), "<redacted>");
    let url = l.server.https_url();
    let fp = fetch_fingerprint(&url).await.unwrap();
    assert_eq!(fp, l.server.fingerprint);
    let auth = Auth::Password {
        username: "root@pam".into(),
        password: l.root_password.clone(),
    };
    let c = Client::new(ClientOptions::new(
        &url,
        auth,
        TlsTrust::Fingerprint(Fingerprint::parse(&fp).unwrap()),
    ))
    .unwrap();
    assert_eq!(c.nodes().await.unwrap().len(), 3);
    let e = c.cluster_resources(None).await.unwrap_err();
    assert_eq!(e.api().unwrap().message, "injected from file");
    assert!(
        c.cluster_resources(None).await.is_ok(),
        "the rule applied once"
    );

    // Replace the faults at run time through the admin endpoint.
    let http = format!("http://{}", l.server.http_addr.unwrap());
    labform_proxmox::tls::install_default_provider();
    let rc = reqwest::Client::new();
    let login: serde_json::Value = rc
        .post(format!("{http}/api2/json/access/ticket"))
        .form(&[
            ("username", "root@pam"),
            ("password", l.root_password.expose()),
        ])
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let cookie = format!(
        "PVEAuthCookie={}",
        login["data"]["ticket"].as_str().unwrap()
    );
    let csrf = login["data"]["CSRFPreventionToken"]
        .as_str()
        .unwrap()
        .to_owned();
    let r = rc
        .put(format!("{http}/simulator/faults"))
        .header("cookie", &cookie)
        .header("CSRFPreventionToken", &csrf)
        .body(r#"{"rules":[{"endpoint":"GET /version","fault":{"kind":"status","status":501,"message":"down for test"}}]}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let e = c.version().await.unwrap_err();
    assert_eq!(e.status(), Some(501));
    let cur: serde_json::Value = rc
        .get(format!("{http}/simulator/faults"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cur["data"]["rules"][0]["endpoint"], "GET /version");
    let r = rc
        .put(format!("{http}/simulator/faults"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn bad_fault_file_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("faults.json");
    std::fs::write(&path, "{ not json").unwrap();
    match launch(options(Some(path.clone()))).await {
        Err(ServeError::FaultParse { path: p, .. }) => assert_eq!(p, path),
        other => panic!("{other:?}"),
    }
    match launch(options(Some(dir.path().join("missing.json")))).await {
        Err(e @ ServeError::FaultFile { .. }) => assert!(e.to_string().contains("missing.json")),
        other => panic!("{other:?}"),
    }
}
