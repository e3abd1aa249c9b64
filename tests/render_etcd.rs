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
