//! The chapter's remaining failure paths as `report --demo` tells them, each on its built-in
//! scenario: an add-on's lease gone quiet (a warning, with its age as a duration).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use support::{finding_about, report_demo};

#[test]
fn an_add_on_lease_gone_quiet_is_a_warning() {
    let (_, doc) = report_demo("leader-flapping");
    let f = finding_about(&doc, "leader-missing", "fleet-agent-lock");
    assert_eq!(f["severity"], "warning", "{f:#}");
    assert!(
        f["evidence"][0]
            .as_str()
            .unwrap()
            .contains("last renewed 47m ago"),
        "{f:#}"
    );
    let row = doc["panes"]["leaders"]["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["name"] == "fleet-agent-lock")
        .unwrap();
    assert!(
        row["renew_age_s"].as_i64().unwrap() >= 47 * 60,
        "not renewed by the simulator"
    );
}
