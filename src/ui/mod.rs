//! Pure rendering: a function of `&Model`, the data the loop derives from it, the theme and an
//! injected `now`. No IO, no clock reads, no locks.

mod contexts;
mod dialog;
mod help;
pub mod panes;
mod status;
pub mod table;
pub mod theme;
pub mod view;

use chrono::{DateTime, Utc};
use ratatui::Frame;
use ratatui::layout::{Alignment, Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Tabs, Wrap};

use crate::derived::Derived;
use crate::model::{Model, PaneId};
pub use theme::Theme;

/// The smallest terminal ktriage draws its panes in.
pub const MIN_WIDTH: u16 = 80;
pub const MIN_HEIGHT: u16 = 24;

/// One frame with everything derived afresh from `model` (tests, one-off frames; the loop keeps its
/// [`Derived`] and calls [`render`]).
pub fn draw(frame: &mut Frame, model: &Model, theme: &Theme, now: DateTime<Utc>) {
    render(frame, model, &Derived::of(model, now), theme, now);
}

/// One frame: a function of the model, the data derived from it, the theme and `now`. It reads no
/// clock, takes no lock and builds nothing the loop keeps.
pub fn render(
    frame: &mut Frame,
    model: &Model,
    derived: &Derived,
    theme: &Theme,
    now: DateTime<Utc>,
) {
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
    let cx = panes::Cx {
        model,
        derived,
        theme,
        now,
    };
    panes::draw(frame, body, &cx);
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
    let active = model.ui.active.index();
    let mut titles: Vec<String> = PaneId::ALL
        .iter()
        .map(|p| format!("{} {}", p.index() + 1, p.title()))
        .collect();
    // a space each side of every title and a divider between them; at 80 columns the panes fit
    // only without the spaces, and with the longest titles of the other panes shortened (`6 Namesp…`)
    let width = usize::from(area.width);
    let spaced: usize = titles.iter().map(|t| t.chars().count() + 3).sum();
    let tight = |t: &[String]| t.iter().map(|t| t.chars().count() + 1).sum::<usize>();
    while tight(&titles) > width {
        let Some((i, _)) = titles
            .iter()
            .enumerate()
            .filter(|(i, t)| *i != active && t.chars().count() > 5)
            .max_by_key(|(i, t)| (t.chars().count(), std::cmp::Reverse(*i)))
        else {
            break;
        };
        let keep = titles[i].chars().count() - 2;
        titles[i] = format!("{}…", titles[i].chars().take(keep).collect::<String>());
    }
    let mut tabs = Tabs::new(titles)
        .select(active)
        .highlight_style(theme.selected())
        .divider("│");
    if spaced > width {
        tabs = tabs.padding("", "");
    }
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
