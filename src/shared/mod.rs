//! Shared types every layer may use (a leaf: it imports nothing above it): pane and source ids and
//! states, user actions, keys and the keymap, findings and severities.

pub mod action;
pub mod keymap;
pub mod source;
