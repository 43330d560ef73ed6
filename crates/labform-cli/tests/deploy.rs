//! The controller's Kubernetes manifests (`deploy/kubernetes/`) pass kubernetes-validate (PyPI,
//! strict: no unknown field) for the oldest and the newest Kubernetes it knows (tier
//! `kubernetes-validators`), and hold what controller mode needs: two replicas with leader
//! election through a `coordination.k8s.io` Lease that the ServiceAccount may read, create and
//! renew and nothing more, the dashboard's TLS and a bearer token, and every credential (the
//! token, Proxmox's API token, Git's password or SSH key, the TLS key) from a Secret, never
//! written in a manifest. `controller.rs` applies the same files to the real kube-apiserver.

use std::path::Path;
use std::process::{Command, Stdio};

use serde_json::Value;

/// The manifests, as JSON documents, and the problems kubernetes-validate (strict) finds in
/// them for each Kubernetes version.
fn validate(versions: &[&str]) -> (Vec<Value>, Vec<String>) {
    let directory = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/kubernetes");
    let script = "import glob, json, os, sys\n\
        import kubernetes_validate, yaml\n\
        documents, problems = [], []\n\
        for path in sorted(glob.glob(os.path.join(sys.argv[1], '*.yaml'))):\n\
        \x20   with open(path) as file:\n\
        \x20       documents.extend(document for document in yaml.safe_load_all(file) if document)\n\
        for version in sys.argv[2:]:\n\
        \x20   for document in documents:\n\
        \x20       try:\n\
        \x20           kubernetes_validate.validate(document, version, strict=True)\n\
        \x20       except kubernetes_validate.ValidationError as error:\n\
        \x20           problems.append(f\"{version} {document['kind']}: {error.message}\")\n\
        print(json.dumps({'documents': documents, 'problems': problems}))\n";
    let output = Command::new("python3")
        .args(["-c", script])
        .arg(&directory)
        .args(versions)
        .stderr(Stdio::inherit())
        .output()
        .expect("python3 runs");
    assert!(output.status.success(), "{output:?}");
    let answer: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    let documents = answer["documents"].as_array().expect("a list").clone();
    let problems = answer["problems"]
        .as_array()
        .expect("a list")
        .iter()
        .map(|problem| problem.as_str().expect("a text").to_owned())
        .collect();
    (documents, problems)
}

fn kind<'a>(documents: &'a [Value], kind: &str) -> &'a Value {
    documents
        .iter()
        .find(|document| document["kind"] == kind)
        .unwrap_or_else(|| panic!("a {kind} in deploy/kubernetes"))
}

#[test]
fn the_deployment_manifests_are_valid_and_take_credentials_from_secrets() {
    if !labform_test_tiers::KUBERNETES_VALIDATORS.available() {
        return;
    }
    let (documents, problems) = validate(&["1.25.0", "1.37.0"]);
    assert_eq!(problems, Vec::<String>::new());
    let kinds: Vec<&str> = documents
        .iter()
        .map(|document| document["kind"].as_str().expect("a kind"))
        .collect();
    assert_eq!(
        kinds,
        [
            "Namespace",
            "ServiceAccount",
            "Role",
            "RoleBinding",
            "Deployment",
            "Service"
        ]
    );

    // Leader election through a Lease, and nothing else the ServiceAccount may do.
    let role = kind(&documents, "Role");
    assert_eq!(
        role["rules"],
        serde_json::json!([{
            "apiGroups": ["coordination.k8s.io"],
            "resources": ["leases"],
            "verbs": ["get", "create", "update"],
        }])
    );
    let deployment = kind(&documents, "Deployment");
    assert_eq!(deployment["spec"]["replicas"], 2);
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(pod["serviceAccountName"], "labform-controller");
    let container = &pod["containers"][0];
    let args: Vec<&str> = container["args"]
        .as_array()
        .expect("arguments")
        .iter()
        .map(|argument| argument.as_str().expect("a text"))
        .collect();
    assert_eq!(args[0], "serve");
    for wanted in ["--git=", "--lease=", "--tls-certificate=", "--tls-key="] {
        assert!(
            args.iter().any(|argument| argument.starts_with(wanted)),
            "{wanted} in {args:?}"
        );
    }
    // No credential in an argument: they come from the environment or files.
    for argument in &args {
        let lower = argument.to_lowercase();
        assert!(
            !lower.contains("password") && !lower.contains("token"),
            "{argument}"
        );
    }

    // Every credential comes from a Secret.
    let environment = container["env"].as_array().expect("env");
    for name in [
        "LABFORM_SERVE_TOKEN",
        "LABFORM_PVE_TOKEN",
        "LABFORM_GIT_PASSWORD",
    ] {
        let variable = environment
            .iter()
            .find(|variable| variable["name"] == name)
            .unwrap_or_else(|| panic!("{name} is set"));
        assert!(variable.get("value").is_none(), "{name} is not written");
        assert_eq!(
            variable["valueFrom"]["secretKeyRef"]["name"], "labform-controller",
            "{name}"
        );
    }
    for variable in environment {
        if let Some(value) = variable["value"].as_str() {
            assert!(
                value.starts_with('/'),
                "{}: only paths are written: {value}",
                variable["name"]
            );
        }
    }
    let volumes = pod["volumes"].as_array().expect("volumes");
    let secret_of = |volume: &str| {
        volumes
            .iter()
            .find(|candidate| candidate["name"] == volume)
            .and_then(|candidate| candidate["secret"]["secretName"].as_str())
            .unwrap_or_else(|| panic!("volume {volume} from a Secret"))
    };
    assert_eq!(secret_of("git"), "labform-git-ssh");
    assert_eq!(secret_of("tls"), "labform-tls");
    let mounted = |path: &str| {
        container["volumeMounts"]
            .as_array()
            .expect("mounts")
            .iter()
            .find(|mount| {
                path.starts_with(mount["mountPath"].as_str().expect("a path"))
                    && mount["readOnly"] == true
            })
            .map(|mount| mount["name"].as_str().expect("a name").to_owned())
    };
    for (argument, volume) in [
        ("--git-ssh-key=", "git"),
        ("--git-known-hosts=", "git"),
        ("--tls-certificate=", "tls"),
        ("--tls-key=", "tls"),
    ] {
        let path = args
            .iter()
            .find_map(|candidate| candidate.strip_prefix(argument))
            .unwrap_or_else(|| panic!("{argument}"));
        assert_eq!(mounted(path).as_deref(), Some(volume), "{argument}{path}");
    }

    // The validator does refuse a misspelt field.
    let mut misspelt = deployment.clone();
    misspelt["spec"]["template"]["spec"]["serviceAcountName"] = "x".into();
    let script = "import json, sys\nimport kubernetes_validate\n\
        try:\n\x20   kubernetes_validate.validate(json.load(sys.stdin), '1.37.0', strict=True)\n\
        \x20   print('valid')\nexcept kubernetes_validate.ValidationError:\n\x20   print('invalid')\n";
    let mut child = Command::new("python3")
        .args(["-c", script])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    serde_json::to_writer(child.stdin.take().expect("stdin"), &misspelt).expect("write");
    let output = child.wait_with_output().expect("python3 ends");
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "invalid");
}
