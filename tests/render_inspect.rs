//! Snapshots of the Inspect additions at 80×24 and 160×48 with a fixed clock: pod health in Top, the
//! `/` filter in the title, the logs (previous), YAML and describe views, the clean-up dialog.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use crossterm::event::{KeyCode, KeyEvent};
use k8s_openapi::api::core::v1::{Event, Pod};
use ktriage::config::Config;
use ktriage::model::{Delta, Model};
use ktriage::msg::Msg;
use ktriage::ui::{self, Theme};
use ktriage::update::update;
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use serde_json::{Value, json};
use support::model::{model, t0};
use support::panes::ts;

fn screen(m: &Model, w: u16, h: u16) -> String {
    let mut t = Terminal::new(TestBackend::new(w, h)).unwrap();
    let theme = Theme::new(Config::defaults().unwrap().theme, true);
    t.draw(|f| ui::draw(f, m, &theme, t0())).unwrap();
    let buf = t.backend().buffer();
    let mut out = String::new();
    for y in 0..buf.area.height {
        let line: String = (0..buf.area.width)
            .map(|x| buf[(x, y)].symbol().to_string())
            .collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn both(name: &str, m: &Model) {
    insta::assert_snapshot!(format!("{name}_80x24"), screen(m, 80, 24));
    insta::assert_snapshot!(format!("{name}_160x48"), screen(m, 160, 48));
}

fn keys(m: &mut Model, s: &str) {
    for c in s.chars() {
        update(m, Msg::Key(KeyEvent::from(KeyCode::Char(c))), t0());
    }
}

fn pod(name: &str, node: &str, status: Value) -> Value {
    json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "kube-system", "uid": format!("uid-{name}"),
                     "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "dns-7f9",
                                          "uid": "rs", "controller": true}],
                     "managedFields": [{"manager": "kube-controller-manager", "operation": "Update"}]},
        "spec": {"nodeName": node, "containers": [{"name": "dns", "image": "dns:1.2",
                 "resources": {"limits": {"memory": "128Mi", "cpu": "100m"}}}]},
        "status": status})
}

fn crash(restarts: i32) -> Value {
    json!({"phase": "Running", "containerStatuses": [{"name": "dns", "image": "dns:1.2", "imageID": "",
        "ready": false, "restartCount": restarts,
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container"}},
        "lastState": {"terminated": {"reason": "Error", "exitCode": 1}}}]})
}

fn fixture() -> Model {
    let mut m = model(false);
    let pods = vec![
        pod("dns-7f9-a1", "worker-1", crash(17)),
        pod("dns-7f9-b2", "worker-3", crash(16)),
        pod(
            "dns-7f9-c3",
            "worker-2",
            json!({"phase": "Running", "containerStatuses": [{"name": "dns", "image": "dns:1.2", "imageID": "",
                "ready": true, "restartCount": 0, "state": {"running": {}}}]}),
        ),
        pod(
            "dns-7f9-d4",
            "",
            json!({"phase": "Pending", "conditions": [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                "message": "0/3 nodes are available: 3 node(s) were unschedulable."}]}),
        ),
    ];
    m.top.apply_pods(Delta::Init, t0());
    for p in pods {
        let p: Pod = serde_json::from_value(p).unwrap();
        m.top.apply_pods(
            Delta::InitApply(ktriage::kube::sources::top::pod_row(p)),
            t0(),
        );
    }
    m.top.apply_pods(Delta::InitDone, t0());
    let ev: Event = serde_json::from_value(json!({"apiVersion": "v1", "kind": "Event",
        "metadata": {"name": "dns-7f9-a1.1", "namespace": "kube-system"},
        "involvedObject": {"kind": "Pod", "name": "dns-7f9-a1", "namespace": "kube-system"},
        "reason": "BackOff", "type": "Warning", "count": 68,
        "message": "Back-off restarting failed container dns",
        "firstTimestamp": ts(7200), "lastTimestamp": ts(30),
        "source": {"component": "kubelet", "host": "worker-1"}}))
    .unwrap();
    m.events.apply(Delta::Init, t0());
    m.events.apply(
        Delta::InitApply(ktriage::kube::sources::events::core_row(ev)),
        t0(),
    );
    m.events.apply(Delta::InitDone, t0());
    keys(&mut m, "5");
    m.top.sort = ktriage::model::top::TopSort::Name;
    m
}

#[test]
fn top_shows_pod_health_and_the_filter_in_the_title() {
    let mut m = fixture();
    both("inspect_top_health", &m);
    keys(&mut m, "/!running");
    update(&mut m, Msg::Key(KeyEvent::from(KeyCode::Enter)), t0());
    both("inspect_top_filtered", &m);
}

#[test]
fn logs_view_previous_with_the_kubectl_command() {
    let mut m = fixture();
    keys(&mut m, "lp");
    let id = m.view.as_ref().unwrap().id;
    update(
        &mut m,
        Msg::ViewLines {
            id,
            lines: vec![
                "I1129 06:58:01.102331 1 main.go:104] Version: v1.2".into(),
                "E1129 06:58:01.214877 1 reflector.go:147] x509: certificate signed by unknown authority".into(),
                "F1129 06:58:01.215002 1 main.go:214] failed to connect to the API server".into(),
            ],
        },
        t0(),
    );
    keys(&mut m, "/x509");
    update(&mut m, Msg::Key(KeyEvent::from(KeyCode::Enter)), t0());
    both("inspect_logs_previous", &m);
}

#[test]
fn yaml_view_hides_managed_fields_and_describe_lists_events() {
    let mut m = fixture();
    keys(&mut m, "Y");
    let id = m.view.as_ref().unwrap().id;
    let object = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "dns-7f9-a1", "namespace": "kube-system",
                     "managedFields": [{"manager": "kubelet"}]},
        "spec": {"nodeName": "worker-1", "containers": [{"name": "dns", "image": "dns:1.2"}]},
        "status": {"phase": "Running"}});
    update(
        &mut m,
        Msg::ViewObject {
            id,
            object: object.clone(),
        },
        t0(),
    );
    both("inspect_yaml", &m);
    update(&mut m, Msg::Key(KeyEvent::from(KeyCode::Esc)), t0());
    keys(&mut m, "d");
    let id = m.view.as_ref().unwrap().id;
    update(&mut m, Msg::ViewObject { id, object }, t0());
    both("inspect_describe", &m);
}
