//! The logs / YAML / describe view over the body: a bordered overlay whose title names the pod, the
//! container and the mode; the kubectl equivalent is shown at the bottom (`y` copies it).

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Clear, Paragraph};
use serde_json::Value;

use super::Theme;
use crate::model::Model;
use crate::model::view::{PodView, ViewKind};

fn s<'a>(v: &'a Value, ptr: &str) -> &'a str {
    v.pointer(ptr).and_then(Value::as_str).unwrap_or("")
}

/// The describe-style summary: what `kubectl describe pod` leads with, and the recent events.
pub fn describe_lines(model: &Model, v: &PodView) -> Vec<String> {
    let mut out = Vec::new();
    let key = format!("{}/{}", v.namespace, v.pod);
    if let Some(p) = model.top.pods.get(&key) {
        let w = model.top.workload(p);
        out.push(format!("Name:         {}", p.name));
        out.push(format!("Namespace:    {}", p.namespace));
        out.push(format!(
            "Node:         {}",
            if p.node.is_empty() { "<none>" } else { &p.node }
        ));
        out.push(format!("Status:       {} (phase {})", p.status(), p.phase));
        out.push(format!("Ready:        {}", p.ready_text()));
        out.push(format!("Controlled By: {}/{}", w.kind, w.name));
        if let Some(u) = &p.unschedulable {
            out.push(format!("Scheduling:   {u}"));
        }
        out.push("Containers:".into());
        for c in &p.containers {
            out.push(format!("  {}:", c.name));
            match (&c.waiting_reason, &c.waiting_message) {
                (Some(r), Some(m)) => out.push(format!("    State:      Waiting ({r}): {m}")),
                (Some(r), None) => out.push(format!("    State:      Waiting ({r})")),
                _ => {}
            }
            if let Some(r) = &c.last_term_reason {
                out.push(format!(
                    "    Last State: Terminated ({r}), exit code {}",
                    c.last_exit_code
                        .map(|x| x.to_string())
                        .unwrap_or_else(|| "?".into())
                ));
            }
            out.push(format!(
                "    Ready:      {}   Restart Count: {}",
                c.ready, c.restarts
            ));
        }
    } else if let Some(o) = &v.object {
        out.push(format!("Name:         {}", s(o, "/metadata/name")));
        out.push(format!("Namespace:    {}", s(o, "/metadata/namespace")));
        out.push(format!("Status:       {}", s(o, "/status/phase")));
    } else {
        out.push("loading…".into());
    }
    if let Some(o) = &v.object {
        out.push(format!("Image(s):     {}", {
            o.pointer("/spec/containers")
                .and_then(Value::as_array)
                .map(|cs| {
                    cs.iter()
                        .map(|c| s(c, "/image").to_string())
                        .collect::<Vec<_>>()
                        .join(", ")
                })
                .unwrap_or_default()
        }));
    }
    out.push(String::new());
    out.push("Events (most recent last):".into());
    let mut evs: Vec<_> = model
        .events
        .store
        .iter()
        .filter(|e| e.namespace == v.namespace && e.object == v.pod)
        .collect();
    evs.sort_by_key(|e| e.last);
    if evs.is_empty() {
        out.push("  <none>".into());
    }
    for e in evs.iter().rev().take(10).rev() {
        out.push(format!(
            "  {:<7} {:<16} x{:<3} {}",
            if e.warning { "Warning" } else { "Normal" },
            e.reason,
            e.count,
            e.message
        ));
    }
    out
}

pub fn draw(frame: &mut Frame, area: Rect, model: &Model, v: &PodView, theme: &Theme) {
    frame.render_widget(Clear, area);
    let block = Block::bordered()
        .border_type(BorderType::Rounded)
        .title(Span::styled(title(v), theme.title()));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let [text, foot] = Layout::vertical([Constraint::Min(1), Constraint::Length(2)]).areas(inner);
    let lines: Vec<String> = match v.kind {
        ViewKind::Logs | ViewKind::Report => v.lines.iter().cloned().collect(),
        ViewKind::Yaml => v.yaml(),
        ViewKind::Describe => describe_lines(model, v),
    };
    frame.render_widget(Paragraph::new(body(v, &lines, text.height, theme)), text);
    let keys = match v.kind {
        ViewKind::Logs => "p previous · C container · F follow · / search · y copy · esc close",
        ViewKind::Yaml => "p managedFields · / search · y copy · esc close",
        ViewKind::Describe | ViewKind::Report => "/ search · y copy · esc close",
    };
    frame.render_widget(
        Paragraph::new(vec![
            Line::from(Span::styled(
                format!("$ {}", v.kubectl(model.cluster.context.as_deref())),
                theme.accent(),
            )),
            Line::from(Span::styled(
                format!("{} · {keys}", status(v, &lines)),
                theme.muted(),
            )),
        ]),
        foot,
    );
}

/// ` ns/pod · logs -c app --previous · /search `.
fn title(v: &PodView) -> String {
    let mode = match v.kind {
        ViewKind::Logs => format!(
            "logs{}{}{}",
            v.container_name()
                .map(|c| format!(" -c {c}"))
                .unwrap_or_default(),
            if v.previous { " --previous" } else { "" },
            if v.follow && !v.previous { " -f" } else { "" },
        ),
        ViewKind::Yaml => {
            if v.show_managed_fields {
                "yaml (with managedFields)".into()
            } else {
                "yaml (managedFields hidden)".into()
            }
        }
        ViewKind::Describe => "describe".into(),
        ViewKind::Report => "what happened".into(),
    };
    let search = v.search.title("");
    if v.kind == ViewKind::Report {
        format!(" {} · {mode}{} ", v.pod, search)
    } else {
        format!(" {}/{} · {mode}{} ", v.namespace, v.pod, search)
    }
}

/// The lines on screen (the end while following logs), search hits highlighted; or why there are
/// none.
fn body<'a>(v: &PodView, lines: &[String], height: u16, theme: &Theme) -> Vec<Line<'a>> {
    let height = usize::from(height);
    let max_start = lines.len().saturating_sub(height);
    let start = if v.kind == ViewKind::Logs && v.follow {
        max_start
    } else {
        v.scroll.min(max_start)
    };
    let mut body: Vec<Line> = lines
        .iter()
        .skip(start)
        .take(height)
        .map(|l| {
            if v.search.is_active() && v.search.keeps(&[l]) && !v.search.text.starts_with('!') {
                Line::from(Span::styled(l.clone(), theme.accent()))
            } else {
                Line::from(l.clone())
            }
        })
        .collect();
    if lines.is_empty() {
        body.push(Line::from(Span::styled(
            match (&v.error, v.ended) {
                (Some(e), _) => format!("error: {e}"),
                (None, true) => "(no lines)".into(),
                (None, false) => "loading…".into(),
            },
            theme.muted(),
        )));
    }
    body
}

/// How many lines, kept of how many, matching the search.
fn status(v: &PodView, lines: &[String]) -> String {
    let matches = if v.search.is_active() {
        format!(
            " · {} matching",
            lines.iter().filter(|l| v.search.keeps(&[l])).count()
        )
    } else {
        String::new()
    };
    match v.kind {
        ViewKind::Logs => format!(
            "{} line(s) kept of at most {}{}{}{}",
            v.lines.len(),
            v.lines.cap(),
            if v.lines.dropped > 0 {
                format!(", {} older dropped", v.lines.dropped)
            } else {
                String::new()
            },
            matches,
            v.error
                .as_deref()
                .map(|e| format!(" · {e}"))
                .unwrap_or_default(),
        ),
        _ => format!("{} line(s){matches}", lines.len()),
    }
}
