//! Styles from the config's colours; `NO_COLOR` keeps only modifiers (bold, reversed).

use ratatui::style::{Color, Modifier, Style};

use crate::config::ThemeColors;
use crate::diagnose::Severity;
use crate::model::{FailureKind, SourceState};

#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Theme {
    colors: ThemeColors,
    color: bool,
}

impl Theme {
    pub fn new(colors: ThemeColors, color: bool) -> Theme {
        Theme { colors, color }
    }

    /// Colour unless `NO_COLOR` is set (to anything non-empty, per no-color.org).
    pub fn from_env(colors: ThemeColors) -> Theme {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Theme::new(colors, !no_color)
    }

    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    }

    pub fn severity(&self, s: Severity) -> Style {
        match s {
            Severity::Critical => self.fg(self.colors.critical).add_modifier(Modifier::BOLD),
            Severity::Warning => self.fg(self.colors.warning),
            Severity::Info => self.fg(self.colors.info),
        }
    }

    /// A row or cell about an object: the colour of its worst finding, else ok.
    pub fn finding(&self, worst: Option<Severity>) -> Style {
        worst.map_or_else(|| self.ok(), |s| self.severity(s))
    }

    pub fn state(&self, s: &SourceState) -> Style {
        match s {
            SourceState::Ok { .. } => self.fg(self.colors.ok),
            SourceState::Loading { .. } | SourceState::NotConfigured { .. } => {
                self.fg(self.colors.muted)
            }
            SourceState::Failed { failure, .. } => match failure.kind {
                FailureKind::Unreachable => {
                    self.fg(self.colors.critical).add_modifier(Modifier::BOLD)
                }
                FailureKind::Forbidden | FailureKind::Error => self.fg(self.colors.warning),
            },
        }
    }

    pub fn accent(&self) -> Style {
        self.fg(self.colors.accent)
    }

    pub fn muted(&self) -> Style {
        if self.color {
            Style::default().fg(self.colors.muted)
        } else {
            Style::default().add_modifier(Modifier::DIM)
        }
    }

    pub fn title(&self) -> Style {
        Style::default().add_modifier(Modifier::BOLD)
    }

    pub fn header(&self) -> Style {
        self.accent().add_modifier(Modifier::BOLD)
    }

    pub fn selected(&self) -> Style {
        if self.color {
            Style::default()
                .bg(self.colors.selected_bg)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::default().add_modifier(Modifier::REVERSED)
        }
    }

    pub fn critical(&self) -> Style {
        self.severity(Severity::Critical)
    }

    pub fn warning(&self) -> Style {
        self.severity(Severity::Warning)
    }

    pub fn ok(&self) -> Style {
        self.fg(self.colors.ok)
    }

    /// The RO/RW badge.
    pub fn badge(&self, read_only: bool) -> Style {
        let c = if read_only {
            self.colors.ok
        } else {
            self.colors.warning
        };
        if self.color {
            Style::default()
                .fg(Color::Black)
                .bg(c)
                .add_modifier(Modifier::BOLD)
        } else {
            Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD)
        }
    }
}
