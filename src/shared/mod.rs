//! Shared types every layer may use (a leaf: it imports nothing above it): pane and source ids and
//! states, user actions, keys and the keymap, findings and severities.

pub mod action;
pub mod finding;
pub mod keymap;
pub mod kinds;
pub mod pane;
pub mod source;
