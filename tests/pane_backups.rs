//! Backups for the restore actions: recorded from outcomes in a session and rebuilt from the journal
//! after a restart.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use ktriage::action::Action;
use ktriage::model::PaneId;
use ktriage::mutation::Mutation;
use support::model::model;

#[test]
fn backups_survive_a_restart_through_the_journal() {
    let mut m = model(false);
    let apisvc = serde_json::json!({"apiVersion": "apiregistration.k8s.io/v1", "kind": "APIService",
        "metadata": {"name": "v1beta1.custom.metrics.k8s.io"}, "spec": {"group": "custom.metrics.k8s.io"}});
    let vwc = serde_json::json!({"apiVersion": "admissionregistration.k8s.io/v1", "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": "policy"}, "webhooks": []});
    let intent = |id: &str, kind: &str, name: &str, t: &str, before: serde_json::Value| {
        serde_json::json!({"phase": "intent", "id": id, "object": {"kind": kind, "name": name},
                           "mutation": {"type": t}, "before": before})
    };
    let outcome =
        |id: &str, r: &str| serde_json::json!({"phase": "outcome", "id": id, "result": r});
    let entries = vec![
        intent(
            "1",
            "APIService",
            "v1beta1.custom.metrics.k8s.io",
            "delete",
            apisvc.clone(),
        ),
        outcome("1", "applied"),
        intent(
            "2",
            "ValidatingWebhookConfiguration",
            "policy",
            "delete",
            vwc.clone(),
        ),
        outcome("2", "applied"),
        intent(
            "3",
            "ValidatingWebhookConfiguration",
            "policy",
            "restore",
            serde_json::Value::Null,
        ),
        outcome("3", "applied"),
        intent(
            "4",
            "ValidatingWebhookConfiguration",
            "other",
            "delete",
            vwc,
        ),
        outcome("4", "rejected"),
    ];
    ktriage::model::backups::from_journal(&mut m, &entries);
    assert_eq!(
        m.namespaces
            .backups
            .get("APIService/v1beta1.custom.metrics.k8s.io"),
        Some(&apisvc)
    );
    assert!(m.webhooks.backups.is_empty(), "{:?}", m.webhooks.backups);
    m.ui.active = PaneId::Namespaces;
    let r = ktriage::model::pane_actions::mutation_for(&m, Action::Restore).unwrap();
    assert!(matches!(r, Mutation::Restore { target, .. } if target.plural == "apiservices"));
}
