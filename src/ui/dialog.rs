//! The confirm dialog: what will change, where, the exact patch and the kubectl equivalent; and the
//! etcd pane's exec question (what would run, in which pods, and that exec is a write).

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph, Wrap};

use super::{Theme, centered};
use crate::model::etcd::ExecAsk;
use crate::model::{Dialog, Model};

pub fn draw(frame: &mut Frame, area: Rect, model: &Model, dialog: &Dialog, theme: &Theme) {
    let production = model.cluster.production;
    // asking for the reason: without a production context until enter; in one, until the first enter
    let asking_reason = dialog.mutation.wants_reason() && dialog.reason.is_none();
    // a reason typed so far (or kept) is part of the patch shown
    let shown = match &dialog.reason {
        Some(r) => dialog.mutation.clone().with_reason(r),
        None if asking_reason => dialog.mutation.clone().with_reason(&dialog.typed),
        None => dialog.mutation.clone(),
    };
    let m = &shown;
    let obj = m.object();
    let ctx = model.cluster.context.as_deref().unwrap_or("?");
    let mut lines = vec![Line::from(Span::styled(m.describe(), theme.title()))];
    if asking_reason {
        let next = if production {
            "enter: next"
        } else {
            "enter: run"
        };
        lines.push(Line::from(Span::styled(
            format!("why (recorded in ktriage.io/last-action): type a reason, {next}, esc: cancel"),
            theme.accent(),
        )));
        lines.push(Line::from(format!("> {}", dialog.typed)));
    } else if let Some(r) = &dialog.reason {
        lines.push(Line::from(format!("why:     {r}")));
    }
    lines.extend([
        Line::from(""),
        Line::from(format!(
            "object:  {} {}/{}",
            obj.kind,
            obj.namespace.as_deref().unwrap_or("-"),
            obj.name
        )),
        Line::from(format!("context: {ctx}")),
    ]);
    if let Some(o) = &dialog.others {
        lines.push(Line::from(Span::styled(
            format!("⚠ another ktriage acted on it: {o}"),
            theme.warning(),
        )));
    }
    // scale shows current → new and can be edited in the dialog
    if let crate::mutation::Mutation::Scale { replicas, .. } = m {
        let cur = dialog.current.as_deref().unwrap_or("");
        lines.push(Line::from(format!(
            "change:  {cur}{}→ {replicas} replicas (↑/↓ to edit)",
            if cur.is_empty() { "" } else { " " }
        )));
    }
    lines.extend([
        Line::from(format!("patch:   {}", m.patch())),
        Line::from(format!("kubectl: {}", m.kubectl(Some(ctx)))),
        Line::from(""),
        Line::from(Span::styled(
            "dry run first, then the write; journaled; verified by re-reading",
            theme.muted(),
        )),
    ]);
    if asking_reason {
        // the reason prompt is at the top
    } else if production {
        lines.push(Line::from(Span::styled(
            format!("PRODUCTION context: type `{}` and press enter", obj.name),
            theme.warning(),
        )));
        lines.push(Line::from(format!("> {}", dialog.typed)));
    } else {
        lines.push(Line::from(Span::styled(
            "y / enter: run   n / esc: cancel   c: copy kubectl",
            theme.accent(),
        )));
    }
    boxed(frame, area, lines, " Confirm action ", theme);
}

/// The lines in a centred double-bordered box, as tall as they wrap at its inner width.
fn boxed(frame: &mut Frame, area: Rect, lines: Vec<Line>, title: &str, theme: &Theme) {
    let inner_w = usize::from(area.width.min(76).saturating_sub(2)).max(1);
    let rows: usize = lines
        .iter()
        .map(|l| l.width().max(1).div_ceil(inner_w))
        .sum();
    let rect = centered(area, 76, rows as u16 + 2);
    frame.render_widget(Clear, rect);
    frame.render_widget(
        Paragraph::new(lines).wrap(Wrap { trim: false }).block(
            Block::bordered()
                .border_type(BorderType::Double)
                .border_style(theme.warning())
                .title(title.to_string()),
        ),
        rect,
    );
}

/// The etcd pane's question: run etcdctl in the etcd pods through pods/exec for this context?
pub fn exec_ask(frame: &mut Frame, area: Rect, ask: &ExecAsk, theme: &Theme) {
    let pods: Vec<String> = ask
        .pods
        .iter()
        .map(|(p, n)| match n {
            Some(n) => format!("{p} ({n})"),
            None => p.clone(),
        })
        .collect();
    let mut lines = vec![
        Line::from(Span::styled(
            format!("Run etcdctl in the etcd pods of context {}?", ask.context),
            theme.title(),
        )),
        Line::from(""),
        Line::from(format!("runs:  etcdctl {} -w json", ask.runs.join(", "))),
        Line::from(format!(
            "       (they only read etcd) every {} s in each pod below",
            ask.every_secs
        )),
        Line::from(format!("pods:  kube-system/{}", pods.join(", "))),
    ];
    if !ask.skipped.is_empty() {
        lines.push(Line::from(format!(
            "left out (no certificates on the command line): {}",
            ask.skipped.join(", ")
        )));
    }
    lines.extend([
        Line::from(format!(
            "certs: each pod's own, from its command line ({})",
            ask.cert
        )),
        Line::from(""),
        Line::from(Span::styled(
            "pods/exec is a write for the read-only gate: never in read-only mode. An access review (create pods/exec in kube-system) comes first; if it says no, nothing runs.",
            theme.warning(),
        )),
        Line::from(Span::styled(
            "Held for this context until ktriage exits.",
            theme.muted(),
        )),
        Line::from(Span::styled(
            "y / enter: use exec   n / esc: cancel   c: copy the full kubectl exec",
            theme.accent(),
        )),
    ]);
    boxed(frame, area, lines, " etcd through pods/exec ", theme);
}
