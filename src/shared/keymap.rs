//! Keys as data: parsing key names, scopes and the lookup used by `update`.

use std::fmt;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::action::Action;
use super::pane::PaneId;

/// A key with its modifiers, as written in the config (`ctrl-c`, `G`, `backtab`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    pub code: KeyCode,
    pub ctrl: bool,
    pub alt: bool,
}

impl Key {
    pub fn parse(text: &str) -> Result<Key, String> {
        let mut rest = text;
        let (mut ctrl, mut alt) = (false, false);
        loop {
            if let Some(r) = rest.strip_prefix("ctrl-").filter(|r| !r.is_empty()) {
                ctrl = true;
                rest = r;
            } else if let Some(r) = rest.strip_prefix("alt-").filter(|r| !r.is_empty()) {
                alt = true;
                rest = r;
            } else {
                break;
            }
        }
        let code = match rest {
            "tab" => KeyCode::Tab,
            "backtab" | "shift-tab" => KeyCode::BackTab,
            "enter" => KeyCode::Enter,
            "esc" => KeyCode::Esc,
            "space" => KeyCode::Char(' '),
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "pgup" => KeyCode::PageUp,
            "pgdn" => KeyCode::PageDown,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "backspace" => KeyCode::Backspace,
            "delete" => KeyCode::Delete,
            f if f.len() >= 2 && f.starts_with('f') && f[1..].parse::<u8>().is_ok() => {
                let n: u8 = f[1..].parse().unwrap_or(0);
                if !(1..=12).contains(&n) {
                    return Err(format!("unknown key {text:?}"));
                }
                KeyCode::F(n)
            }
            s => {
                let mut chars = s.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => KeyCode::Char(if ctrl { c.to_ascii_lowercase() } else { c }),
                    _ => return Err(format!("unknown key {text:?}")),
                }
            }
        };
        Ok(Key { code, ctrl, alt })
    }

    pub fn from_event(ev: &KeyEvent) -> Key {
        let ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
        let code = match ev.code {
            KeyCode::Char(c) if ctrl => KeyCode::Char(c.to_ascii_lowercase()),
            other => other,
        };
        Key {
            code,
            ctrl,
            alt: ev.modifiers.contains(KeyModifiers::ALT),
        }
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ctrl {
            f.write_str("ctrl-")?;
        }
        if self.alt {
            f.write_str("alt-")?;
        }
        match self.code {
            KeyCode::Tab => f.write_str("tab"),
            KeyCode::BackTab => f.write_str("backtab"),
            KeyCode::Enter => f.write_str("enter"),
            KeyCode::Esc => f.write_str("esc"),
            KeyCode::Char(' ') => f.write_str("space"),
            KeyCode::Up => f.write_str("up"),
            KeyCode::Down => f.write_str("down"),
            KeyCode::Left => f.write_str("left"),
            KeyCode::Right => f.write_str("right"),
            KeyCode::PageUp => f.write_str("pgup"),
            KeyCode::PageDown => f.write_str("pgdn"),
            KeyCode::Home => f.write_str("home"),
            KeyCode::End => f.write_str("end"),
            KeyCode::Backspace => f.write_str("backspace"),
            KeyCode::Delete => f.write_str("delete"),
            KeyCode::F(n) => write!(f, "f{n}"),
            KeyCode::Char(c) => write!(f, "{c}"),
            _ => f.write_str("?"),
        }
    }
}

/// Where a binding applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    Global,
    Pane(PaneId),
    Dialog,
}

impl Scope {
    pub fn parse(text: &str) -> Result<Scope, String> {
        match text {
            "global" => Ok(Scope::Global),
            "dialog" => Ok(Scope::Dialog),
            other => PaneId::from_name(other)
                .map(Scope::Pane)
                .ok_or_else(|| format!("unknown scope {other:?} (global, dialog or a pane name)")),
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Global => f.write_str("global"),
            Scope::Dialog => f.write_str("dialog"),
            Scope::Pane(p) => f.write_str(p.name()),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub key: Key,
    pub action: Action,
    pub desc: String,
    pub scope: Scope,
}

/// The merged keymap, in config order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Keymap {
    pub bindings: Vec<Binding>,
}

impl Keymap {
    /// Add a binding, replacing one for the same key in the same scope.
    pub fn bind(&mut self, b: Binding) {
        if let Some(old) = self
            .bindings
            .iter_mut()
            .find(|o| o.key == b.key && o.scope == b.scope)
        {
            *old = b;
        } else {
            self.bindings.push(b);
        }
    }

    /// The action for a key: dialog scope while a dialog is open (nothing else reaches through),
    /// otherwise the active pane's bindings first, then global ones.
    pub fn lookup(&self, key: Key, pane: PaneId, dialog: bool) -> Option<Action> {
        let find = |scope: Scope| {
            self.bindings
                .iter()
                .find(|b| b.scope == scope && b.key == key)
                .map(|b| b.action)
        };
        let found = if dialog {
            find(Scope::Dialog)
        } else {
            find(Scope::Pane(pane)).or_else(|| find(Scope::Global))
        };
        found.filter(|a| *a != Action::None)
    }

    /// The first key bound to `action` in `pane`'s scope, else globally (for "press X" hints).
    pub fn key_for(&self, action: Action, pane: PaneId) -> Option<String> {
        let find = |scope: Scope| {
            self.bindings
                .iter()
                .find(|b| b.scope == scope && b.action == action)
                .map(|b| b.key.to_string())
        };
        find(Scope::Pane(pane)).or_else(|| find(Scope::Global))
    }

    /// Bindings shown in help and README: unbound entries dropped, writes dropped when read-only.
    pub fn visible(&self, read_only: bool) -> impl Iterator<Item = &Binding> {
        self.bindings
            .iter()
            .filter(move |b| b.action != Action::None && !(read_only && b.action.is_write()))
    }
}

/// One line of the help overlay and the README table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HelpRow {
    /// Keys with the same action and scope, joined: `down, j`.
    pub keys: Vec<String>,
    pub desc: String,
    pub scope: Scope,
    pub action: Action,
}

impl Keymap {
    /// Rows for the help overlay and the README, in config order.
    pub fn rows(&self, read_only: bool) -> Vec<HelpRow> {
        let mut out: Vec<HelpRow> = Vec::new();
        for b in self.visible(read_only) {
            match out
                .iter_mut()
                .find(|r| r.action == b.action && r.scope == b.scope)
            {
                Some(r) => r.keys.push(b.key.to_string()),
                None => out.push(HelpRow {
                    keys: vec![b.key.to_string()],
                    desc: b.desc.clone(),
                    scope: b.scope,
                    action: b.action,
                }),
            }
        }
        out
    }

    /// The README's keymap table (a test keeps README.md equal to this).
    pub fn markdown_table(&self) -> String {
        let mut s =
            String::from("| key | action | where | changes the cluster |\n|---|---|---|---|\n");
        for r in self.rows(false) {
            let keys: Vec<String> = r.keys.iter().map(|k| format!("`{k}`")).collect();
            let mutating = if r.action.is_mutating() {
                "yes (hidden in read-only)"
            } else if r.action.is_write() {
                "no, but pods/exec is a write (hidden in read-only)"
            } else {
                ""
            };
            s.push_str(&format!(
                "| {} | {} | {} | {mutating} |\n",
                keys.join(" "),
                r.desc,
                r.scope
            ));
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_prints_keys_round_trip() {
        for k in [
            "q", "ctrl-c", "?", "G", "tab", "backtab", "enter", "esc", "pgdn", "f5", "alt-x",
            "space",
        ] {
            let parsed = Key::parse(k).unwrap();
            assert_eq!(parsed.to_string(), k);
        }
        assert!(Key::parse("ctrl-").is_err());
        assert!(Key::parse("hyper-q").is_err());
        assert!(Key::parse("f13").is_err());
        assert!(Key::parse("").is_err());
    }

    #[test]
    fn ctrl_events_match_bindings_case_insensitively() {
        let ev = KeyEvent::new(KeyCode::Char('C'), KeyModifiers::CONTROL);
        assert_eq!(Key::from_event(&ev), Key::parse("ctrl-c").unwrap());
    }

    #[test]
    fn dialog_scope_shadows_everything() {
        let mut km = Keymap::default();
        let q = Key::parse("q").unwrap();
        km.bind(Binding {
            key: q,
            action: Action::Quit,
            desc: String::new(),
            scope: Scope::Global,
        });
        assert_eq!(km.lookup(q, PaneId::Overview, false), Some(Action::Quit));
        assert_eq!(km.lookup(q, PaneId::Overview, true), None);
        km.bind(Binding {
            key: q,
            action: Action::None,
            desc: String::new(),
            scope: Scope::Global,
        });
        assert_eq!(km.lookup(q, PaneId::Overview, false), None);
        assert_eq!(km.bindings.len(), 1);
    }
}
