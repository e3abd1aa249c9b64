//! The context switcher: a key lists the kubeconfig's contexts (the app reads them), the picker
//! selects one, Enter asks the app to switch (it rebuilds the client, gated per client, and the
//! sources); Esc closes it.

use crossterm::event::{KeyCode, KeyEvent};

use super::Effect;
use crate::model::{ContextPicker, Model};

/// Keys while the picker is open; true when the key was the picker's.
pub fn on_key(model: &mut Model, ev: &KeyEvent, effects: &mut Vec<Effect>) -> bool {
    let Some(p) = model.ui.contexts.as_mut() else {
        return false;
    };
    match ev.code {
        KeyCode::Down | KeyCode::Char('j') => {
            p.selected = (p.selected + 1).min(p.names.len().saturating_sub(1));
        }
        KeyCode::Up | KeyCode::Char('k') => p.selected = p.selected.saturating_sub(1),
        KeyCode::Enter => {
            if let Some(name) = p.names.get(p.selected).cloned() {
                effects.push(Effect::SwitchContext(name));
            }
            model.ui.contexts = None;
        }
        KeyCode::Esc | KeyCode::Char('q') => model.ui.contexts = None,
        _ => {}
    }
    true
}

/// The app read the contexts: open the picker on the current one.
pub fn opened(model: &mut Model, names: Vec<String>) {
    let selected = model
        .cluster
        .context
        .as_ref()
        .and_then(|c| names.iter().position(|n| n == c))
        .unwrap_or(0);
    model.ui.contexts = Some(ContextPicker { names, selected });
}
