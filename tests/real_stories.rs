//! The seed's failure stories on a real kube-apiserver (v1.20.2) over real etcd, through the ktriage
//! binary: `ktriage report --format json` with the generated kubeconfig.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use std::process::{Command, Output};

use serde_json::Value;
use support::real::RealServer;

fn report(server: &RealServer, extra: &[&str]) -> (Output, Value) {
    let home = server.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_ktriage"))
        .args(["--kubeconfig", server.admin_kubeconfig().to_str().unwrap()])
        .args(extra)
        .args(["report", "--format", "json", "--observe", "0"])
        .env("HOME", &home)
        .env("XDG_STATE_HOME", home.join("state"))
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env_remove("KUBECONFIG")
        .env_remove("ETCDCTL_ENDPOINTS")
        .output()
        .unwrap();
    let doc = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    (out, doc)
}

fn findings<'a>(doc: &'a Value, id: &str) -> Vec<&'a Value> {
    doc["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["id"] == id)
        .collect()
}

#[test]
fn etcd_split_brain_under_a_serving_api_server() {
    let Some(server) = RealServer::start("", 3) else {
        return;
    };
    let eps = server.env("ETCD_ENDPOINTS");
    // healthy first: no etcd finding, the API answers
    let (out, doc) = report(&server, &["--etcd-endpoints", &eps]);
    assert_eq!(out.status.code(), Some(0), "{doc:#}");
    assert_eq!(doc["sources"]["api"]["state"], "ok");
    assert!(findings(&doc, "etcd-split-brain").is_empty());
    // member 3 re-bootstrapped as its own cluster: every member still answers health checks
    server.split(3);
    let island_url = eps.split(',').nth(2).unwrap().to_string();
    let (out, doc) = report(&server, &["--etcd-endpoints", &eps]);
    assert_eq!(out.status.code(), Some(1), "{doc:#}");
    let split = findings(&doc, "etcd-split-brain");
    assert_eq!(split.len(), 1, "{doc:#}");
    assert_eq!(split[0]["subject"]["kind"], "EtcdMember");
    assert_eq!(
        split[0]["subject"]["part"],
        island_url.as_str(),
        "{:#}",
        split[0]
    );
    assert_ne!(
        split[0]["details"]["island_cluster_id"], split[0]["details"]["majority_cluster_id"],
        "{:#}",
        split[0]
    );
    // the API view stays available next to the etcd view: the API server still serves
    assert_eq!(doc["sources"]["api"]["state"], "ok", "{doc:#}");
    assert!(
        doc["panes"]["namespaces"]["rows"]
            .as_array()
            .is_some_and(|r| !r.is_empty()),
        "{doc:#}"
    );
}
