//! War-room awareness: another ktriage console's action on an object (its `KtriageAction` Event,
//! `<what> by <who> (ktriage action <id>)`) is said in the confirm dialog before acting on the same
//! object, and in the status bar when it arrives; this console's own actions are not.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use k8s_openapi::api::core::v1::Event;
use ktriage::kube::sources::events::core_row;
use ktriage::model::{Delta, Model, NoticeLevel};
use ktriage::msg::Msg;
use ktriage::mutation::{Mutation, Outcome, OutcomeResult};
use ktriage::update::{propose, update};
use serde_json::json;
use support::model::{model, t0};
use support::panes::ts;

fn scale(replicas: i32) -> Mutation {
    Mutation::Scale {
        kind: "Deployment".into(),
        namespace: "shop".into(),
        name: "api".into(),
        replicas,
    }
}

/// The Event an executor records after `what` on shop/api, `ago` seconds before t0.
fn action_event(id: &str, who: &str, what: &str, ago: i64) -> Event {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": format!("api.ktriage-{id}"), "namespace": "shop"},
        "involvedObject": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "api", "namespace": "shop"},
        "reason": "KtriageAction", "type": "Normal", "count": 1,
        "message": format!("{what} by {who} (ktriage action {id})"),
        "firstTimestamp": ts(ago), "lastTimestamp": ts(ago),
        "source": {"component": "ktriage"}, "reportingComponent": "ktriage",
    }))
    .unwrap()
}

fn listed(events: Vec<Event>) -> Model {
    let mut m = model(false);
    update(&mut m, Msg::Events(Delta::Init), t0());
    for e in events {
        update(&mut m, Msg::Events(Delta::InitApply(core_row(e))), t0());
    }
    update(&mut m, Msg::Events(Delta::InitDone), t0());
    m
}

#[test]
fn the_dialog_says_who_else_acted_on_the_object() {
    let mut m = listed(vec![
        action_event("a1", "jane", "scale deployment shop/api to 0 replicas", 240),
        // too old to matter
        action_event(
            "a0",
            "omar",
            "scale deployment shop/api to 2 replicas",
            3 * 3600,
        ),
    ]);
    propose(&mut m, scale(3), t0());
    let d = m.dialog.as_ref().expect("dialog");
    assert_eq!(
        d.others.as_deref(),
        Some("jane 4m ago: scale deployment shop/api to 0 replicas")
    );
    // drawn in the dialog
    let theme = ktriage::ui::Theme::new(ktriage::config::Config::defaults().unwrap().theme, false);
    let mut t = ratatui::Terminal::new(ratatui::backend::TestBackend::new(120, 40)).unwrap();
    t.draw(|f| ktriage::ui::draw(f, &m, &theme, t0())).unwrap();
    let screen: String = t
        .backend()
        .buffer()
        .content()
        .iter()
        .map(|c| c.symbol())
        .collect();
    assert!(
        screen.contains("⚠ another ktriage acted on it: jane 4m ago: scale deployment shop/api"),
        "{screen}"
    );
    // another object: nothing to say
    m.dialog = None;
    propose(
        &mut m,
        Mutation::Scale {
            kind: "Deployment".into(),
            namespace: "shop".into(),
            name: "web".into(),
            replicas: 0,
        },
        t0(),
    );
    assert_eq!(m.dialog.as_ref().unwrap().others, None);
}

#[test]
fn the_status_bar_says_when_another_console_acts_and_not_for_our_own() {
    let mut m = listed(vec![]);
    // our own action: confirmed here, its Event may arrive before its outcome
    propose(&mut m, scale(0), t0());
    let effects = update(
        &mut m,
        Msg::Key(crossterm::event::KeyEvent::from(
            crossterm::event::KeyCode::Char('y'),
        )),
        t0(),
    );
    assert!(!effects.is_empty(), "confirmed");
    m.notice = None;
    update(
        &mut m,
        Msg::Events(Delta::Apply(core_row(action_event(
            "ours",
            "alice",
            "scale deployment shop/api to 0 replicas",
            1,
        )))),
        t0(),
    );
    assert!(m.notice.is_none(), "our own action: {:?}", m.notice);
    let outcome = Outcome {
        id: "ours".into(),
        mutation: scale(0),
        result: OutcomeResult::Applied,
        stage: "verify",
        error: None,
        before: Some(json!({"replicas": 4})),
        after: Some(json!({"replicas": 0})),
        side_effects: vec![],
    };
    update(&mut m, Msg::ActionDone(Box::new(outcome)), t0());
    assert!(m.acting.is_empty() && m.own_actions.contains("ours"));
    // another console's action arrives
    m.notice = None;
    update(
        &mut m,
        Msg::Events(Delta::Apply(core_row(action_event(
            "theirs",
            "jane",
            "toggle failurePolicy of validation.gatekeeper.sh to Ignore",
            5,
        )))),
        t0(),
    );
    let n = m.notice.as_ref().expect("a notice");
    assert_eq!(n.level, NoticeLevel::Warning);
    assert_eq!(
        n.text,
        "another ktriage: jane toggle failurePolicy of validation.gatekeeper.sh to Ignore, 5s ago"
    );
    // and the dialog on that object names jane, never our own action
    propose(&mut m, scale(2), t0());
    assert_eq!(
        m.dialog.as_ref().unwrap().others.as_deref(),
        Some("jane 5s ago: toggle failurePolicy of validation.gatekeeper.sh to Ignore")
    );
}
