//! Pure rendering: a function of `&Model`, the theme and an injected `now`. No IO, no clock reads.

mod contexts;
mod dialog;
mod help;
pub mod panes;
mod status;
pub mod theme;
pub mod view;

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Tabs, Wrap};

use crate::model::{Model, PaneId};
pub use theme::Theme;

/// The smallest terminal ktriage draws its panes in.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

pub fn draw(frame: &mut Frame, model: &Model, theme: &Theme, now: DateTime<Utc>) {
    let area = frame.area();
    if area.width < MIN_WIDTH || area.height < MIN_HEIGHT {
        too_small(frame, area, theme);
        return;
    }
    let [tabs, body, notice, bar] = Layout::vertical([
        Constraint::Length(1),
        Constraint::Min(1),
        Constraint::Length(1),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_tabs(frame, tabs, model, theme);
    panes::draw(frame, body, model, theme, now);
    status::draw_notice(frame, notice, model, theme, now);
    status::draw_bar(frame, bar, model, theme, now);
    if let Some(v) = &model.view {
        view::draw(frame, body, model, v, theme);
    }
    if model.ui.help {
        help::draw(frame, body, model, theme);
    }
    if let Some(p) = &model.ui.contexts {
        contexts::draw(frame, body, model, p, theme);
    }
    if let Some(d) = &model.dialog {
        dialog::draw(frame, body, model, d, theme);
    }
    if let Some(a) = &model.etcd.exec_ask {
        dialog::exec_ask(frame, body, a, theme);
    }
}

fn draw_tabs(frame: &mut Frame, area: Rect, model: &Model, theme: &Theme) {
    let titles: Vec<Line> = PaneId::ALL
        .iter()
        .map(|p| Line::from(format!("{} {}", p.index() + 1, p.title())))
        .collect();
    let tabs = Tabs::new(titles)
        .select(model.ui.active.index())
        .highlight_style(theme.selected())
        .divider("│");
    frame.render_widget(tabs, area);
}

fn too_small(frame: &mut Frame, area: Rect, theme: &Theme) {
    let text = vec![
        Line::from(Span::styled(
            "ktriage: terminal too small",
            theme.critical(),
        )),
        Line::from(format!(
            "{}×{}, needs at least {MIN_WIDTH}×{MIN_HEIGHT}",
            area.width, area.height
        )),
        Line::from("enlarge the window or press q"),
    ];
    let y = area.height.saturating_sub(3) / 2;
    let rect = Rect::new(
        area.x,
        area.y + y,
        area.width,
        area.height.saturating_sub(y).min(3),
    );
    frame.render_widget(
        Paragraph::new(text)
            .alignment(Alignment::Center)
            .wrap(Wrap { trim: true }),
        rect,
    );
}

/// A rectangle of at most `w`×`h` centred in `area`.
pub fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

/// Words of a headline shortened no further than this (`vali…r.sh`).
const HEADLINE_WORD_MIN: usize = 8;

/// `word` shortened to `keep` characters, its middle replaced by `…` (both ends stay readable: a
/// URL keeps its scheme and its last path segment).
fn elide_middle(word: &str, keep: usize) -> String {
    let chars: Vec<char> = word.chars().collect();
    if chars.len() <= keep || keep < 3 {
        return word.to_string();
    }
    let tail = (keep - 1) / 2;
    let head = keep - 1 - tail;
    let mut out: String = chars[..head].iter().collect();
    out.push('…');
    out.extend(&chars[chars.len() - tail..]);
    out
}

/// A finding's title fitted to `max` columns without losing what it claims: the headline (the title
/// up to its first `": "`, or all of it) keeps every word, its longest words (names, URLs) shortened
/// in the middle as far as needed (down to 8 characters); only the detail after the colon is cut.
/// `API server https://rancher.example:6443/k8s/clusters/c-m-a is unreachable` at 58 columns reads
/// `API server https://ranc…s/c-m-a is unreachable`, where a plain cut lost "is unreachable".
pub fn fit_headline(title: &str, max: usize) -> String {
    if title.chars().count() <= max {
        return title.to_string();
    }
    let (head, detail) = match title.split_once(": ") {
        Some((h, d)) => (h, Some(d)),
        None => (title, None),
    };
    // with a detail, one column stays for the `…` that says more follows
    let budget = if detail.is_some() {
        max.saturating_sub(1)
    } else {
        max
    };
    let mut words: Vec<String> = head.split(' ').map(str::to_string).collect();
    let len = |w: &[String]| w.iter().map(|x| x.chars().count()).sum::<usize>() + w.len() - 1;
    while len(&words) > budget {
        let excess = len(&words) - budget;
        let Some((i, n)) = words
            .iter()
            .enumerate()
            .map(|(i, w)| (i, w.chars().count()))
            .filter(|(_, n)| *n > HEADLINE_WORD_MIN)
            .max_by_key(|(_, n)| *n)
        else {
            break;
        };
        let keep = n.saturating_sub(excess).max(HEADLINE_WORD_MIN);
        words[i] = elide_middle(&words[i], keep);
    }
    let mut out = words.join(" ");
    if let Some(d) = detail {
        out.push_str(": ");
        out.push_str(d);
    }
    truncate(&out, max)
}

/// Shorten `s` to `max` display columns with an ellipsis.
pub fn truncate(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    if max == 0 {
        return String::new();
    }
    let mut t: String = s.chars().take(max - 1).collect();
    t.push('…');
    t
}

#[cfg(test)]
mod tests {
    use super::fit_headline;

    #[test]
    fn headlines_keep_their_claim() {
        let api =
            "API server https://rancher.example:6443/k8s/clusters/c-m-abcd1234 is unreachable";
        let fit = fit_headline(api, 58);
        assert!(fit.chars().count() <= 58, "{fit}");
        assert!(fit.starts_with("API server https://"), "{fit}");
        assert!(fit.ends_with("c-m-abcd1234 is unreachable"), "{fit}");
        // the detail after the colon is what gives way
        let ns = "namespace cattle-monitoring-system is stuck Terminating: finalizer:controller.cattle.io/namespace-auth";
        let fit = fit_headline(ns, 58);
        assert!(
            fit.starts_with("namespace cattle-monitoring-system is stuck Terminating: "),
            "{fit}"
        );
        assert!(fit.ends_with('…') && fit.chars().count() == 58, "{fit}");
        // a headline that just fits is not eaten by the detail's ellipsis
        let wh = "webhook validation.gatekeeper.sh (gatekeeper-validating-webhook-configuration) fails closed with no backend: blocks pod creation in 9 namespace(s)";
        let fit = fit_headline(wh, 58);
        assert!(fit.contains(" fails closed with no backend…"), "{fit}");
        assert!(fit.starts_with("webhook "), "{fit}");
        // a title that fits is left alone
        assert_eq!(
            fit_headline("etcd has lost quorum", 58),
            "etcd has lost quorum"
        );
        // short words are never shortened: a headline of short words is cut at the end
        let fit = fit_headline("aaaa bbbb cccc dddd", 10);
        assert_eq!(fit, "aaaa bbbb…");
    }
}
