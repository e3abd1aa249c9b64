//! The etcd pane at 80×24 and 160×48 with a fixed clock: a split brain on RKE2 with logs, a down
//! member, and no access at all.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code

mod support;

use ktriage::config::Config;
use ktriage::etcd::client::ErrorKind;
use ktriage::model::{Model, PaneId};
use ktriage::ui::{self, Theme};
use ratatui::Terminal;
use ratatui::backend::TestBackend;
use support::etcd_model::*;
use support::model::{model, t0};

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

fn both(name: &str, mut m: Model) {
    m.ui.active = PaneId::Etcd;
    insta::assert_snapshot!(format!("{name}_80x24"), screen(&m, 80, 24));
    insta::assert_snapshot!(format!("{name}_160x48"), screen(&m, 160, 48));
}

#[test]
fn etcd_split_brain() {
    let m = with_pods_and_logs(etcd_model(three(island())));
    let s = screen(
        &{
            let mut m = m.clone();
            m.ui.active = PaneId::Etcd;
            m
        },
        80,
        24,
    );
    assert!(s.contains("21519d96c5d7af22"), "{s}");
    assert!(s.contains("member remove f0c66c6ed1ce18cc"), "{s}");
    both("etcd_split_brain", m);
}

#[test]
fn etcd_member_down() {
    both(
        "etcd_member_down",
        etcd_model(three(down(
            3,
            ErrorKind::Refused,
            "tcp connect: Connection refused (os error 111)",
        ))),
    );
}

#[test]
fn etcd_not_configured() {
    both("etcd_not_configured", model(false));
}

/// The exec key's question on a jump host (no etcd access): what would run, in which pods, that
/// exec is a write; then, after the yes, the pane says exec is in use.
#[test]
fn etcd_exec_question_and_exec_in_use() {
    use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
    use ktriage::msg::Msg;
    use ktriage::update::update;
    let mut m = jump_host(false);
    let key = |c| Msg::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE));
    let before = screen(&m, 160, 48);
    assert!(before.contains("(or press e)"), "{before}");
    update(&mut m, key('e'), t0());
    let s = screen(&m, 80, 24);
    for needle in [
        "etcd-cp-1 (cp-1)",
        "etcd-cp-3 (cp-3)",
        "endpoint status --cluster",
        "pods/exec is a write for the read-only gate",
        "y / enter: use exec",
    ] {
        assert!(s.contains(needle), "{needle} not in\n{s}");
    }
    both("etcd_exec_question", m.clone());
    update(&mut m, key('y'), t0());
    let s = screen(&m, 160, 48);
    assert!(
        s.contains("exec: etcdctl in the etcd pods (asked in the etcd pane"),
        "{s}"
    );
    assert!(!s.contains("(or press e)"), "{s}");
    insta::assert_snapshot!("etcd_exec_in_use_160x48", s);
}
