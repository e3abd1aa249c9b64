//! Configuration: the embedded defaults (`assets/default-config.toml`) merged with the user's file.
//!
//! A malformed user file is an error naming the file, line and key; an unknown key is a warning with
//! a suggestion taken from the keys the defaults know (`config/keys.rs`).

mod keys;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ratatui::style::Color;
use serde::Deserialize;
use toml::Spanned;

use crate::shared::action::Action;
use crate::shared::keymap::{Binding, Key, Keymap, Scope};

pub const DEFAULT_CONFIG: &str = include_str!("../assets/default-config.toml");

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read config file {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("config file {path}, line {line}: {message}")]
    Invalid {
        path: PathBuf,
        line: usize,
        message: String,
    },
}

/// The effective configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub read_only: bool,
    pub production_contexts: Vec<String>,
    pub intervals: Intervals,
    pub theme: ThemeColors,
    pub keymap: Keymap,
    pub contexts: BTreeMap<String, ContextConfig>,
    /// `[leaders]`, `[events]`, `[top]`, `[nodes]`: rule thresholds and pane sources.
    pub tuning: crate::tuning::Tuning,
    /// Non-fatal findings about the user file (unknown keys), shown at start-up.
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Intervals {
    pub api_probe_secs: u64,
    pub backoff_cap_secs: u64,
    pub sync_timeout_secs: u64,
    pub stale_after_secs: u64,
    pub request_timeout_secs: u64,
    pub etcd_poll_secs: u64,
    pub etcd_timeout_secs: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThemeColors {
    pub critical: Color,
    pub warning: Color,
    pub info: Color,
    pub ok: Color,
    pub accent: Color,
    pub muted: Color,
    pub selected_bg: Color,
}

/// Per-context settings (`[contexts.NAME]`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct ContextConfig {
    pub read_only: Option<bool>,
    pub production: Option<bool>,
    /// `[contexts.NAME.etcd]`: endpoints and certificate paths of this context's etcd.
    pub etcd: Option<crate::etcd::access::EtcdSettings>,
}

// ---- the file format: every field optional so a user file can override just one value ----

#[derive(Debug, Default, Deserialize)]
struct FileConfig {
    general: Option<FileGeneral>,
    intervals: Option<FileIntervals>,
    theme: Option<BTreeMap<String, Spanned<String>>>,
    #[serde(default)]
    keys: Vec<FileKey>,
    #[serde(default)]
    contexts: BTreeMap<String, ContextConfig>,
    leaders: Option<crate::tuning::LeadersTuning>,
    events: Option<crate::tuning::EventsTuning>,
    top: Option<crate::tuning::TopTuning>,
    nodes: Option<crate::tuning::NodesTuning>,
}

#[derive(Debug, Default, Deserialize)]
struct FileGeneral {
    read_only: Option<bool>,
    production_contexts: Option<Vec<String>>,
}

#[derive(Debug, Default, Deserialize)]
struct FileIntervals {
    api_probe_secs: Option<Spanned<u64>>,
    backoff_cap_secs: Option<Spanned<u64>>,
    sync_timeout_secs: Option<Spanned<u64>>,
    stale_after_secs: Option<Spanned<u64>>,
    request_timeout_secs: Option<Spanned<u64>>,
    etcd_poll_secs: Option<Spanned<u64>>,
    etcd_timeout_secs: Option<Spanned<u64>>,
}

#[derive(Debug, Deserialize)]
struct FileKey {
    key: Spanned<String>,
    action: Spanned<String>,
    desc: Option<String>,
    scope: Option<Spanned<String>>,
}

impl Config {
    /// The embedded defaults alone.
    pub fn defaults() -> Result<Config, ConfigError> {
        let mut cfg = Config::empty();
        cfg.apply_text(Path::new("<embedded default-config.toml>"), DEFAULT_CONFIG)?;
        cfg.warnings.clear();
        Ok(cfg)
    }

    /// Defaults merged with `explicit` (must exist) or else the XDG user file (if it exists).
    pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
        let mut cfg = Config::defaults()?;
        let path = match explicit {
            Some(p) => Some(p.to_path_buf()),
            None => user_config_path().filter(|p| p.exists()),
        };
        if let Some(path) = path {
            let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            cfg.apply_text(&path, &text)?;
        }
        Ok(cfg)
    }

    fn empty() -> Config {
        Config {
            read_only: false,
            production_contexts: Vec::new(),
            intervals: Intervals {
                api_probe_secs: 10,
                backoff_cap_secs: 30,
                sync_timeout_secs: 10,
                stale_after_secs: 120,
                request_timeout_secs: 5,
                etcd_poll_secs: 5,
                etcd_timeout_secs: 2,
            },
            theme: ThemeColors {
                critical: Color::Red,
                warning: Color::Yellow,
                info: Color::Cyan,
                ok: Color::Green,
                accent: Color::Cyan,
                muted: Color::DarkGray,
                selected_bg: Color::Blue,
            },
            keymap: Keymap::default(),
            contexts: BTreeMap::new(),
            tuning: crate::tuning::Tuning::default(),
            warnings: Vec::new(),
        }
    }

    /// Merge one file's text into `self`.
    pub fn apply_text(&mut self, path: &Path, text: &str) -> Result<(), ConfigError> {
        let src = Source { path, text };
        let mut unknown = Vec::new();
        let de = toml::Deserializer::parse(text)
            .map_err(|e| src.invalid(e.span(), e.message().to_string()))?;
        let file: FileConfig = serde_ignored::deserialize(de, |p| unknown.push(p.to_string()))
            .map_err(|e: toml::de::Error| src.invalid(e.span(), keyed_message(text, &e)))?;
        for key in unknown {
            self.warnings.push(src.unknown_key(&key));
        }
        if let Some(g) = file.general {
            if let Some(v) = g.read_only {
                self.read_only = v;
            }
            if let Some(v) = g.production_contexts {
                self.production_contexts = v;
            }
        }
        if let Some(v) = file.leaders {
            self.tuning.leaders = v;
        }
        if let Some(v) = file.events {
            self.tuning.events = v;
        }
        if let Some(v) = file.top {
            self.tuning.top = v;
        }
        if let Some(v) = file.nodes {
            self.tuning.nodes = v;
        }
        if let Some(i) = file.intervals {
            self.apply_intervals(&src, i)?;
        }
        if let Some(theme) = file.theme {
            self.apply_theme(&src, theme)?;
        }
        self.apply_keys(&src, file.keys)?;
        for (name, ctx) in file.contexts {
            self.contexts.insert(name, ctx);
        }
        Ok(())
    }

    fn apply_intervals(&mut self, src: &Source, i: FileIntervals) -> Result<(), ConfigError> {
        let set =
            |slot: &mut u64, v: Option<Spanned<u64>>, name: &str| -> Result<(), ConfigError> {
                if let Some(v) = v {
                    if *v.get_ref() == 0 {
                        return Err(src.invalid(
                            Some(v.span()),
                            format!("intervals.{name} must be at least 1"),
                        ));
                    }
                    *slot = v.into_inner();
                }
                Ok(())
            };
        let t = &mut self.intervals;
        set(&mut t.api_probe_secs, i.api_probe_secs, "api_probe_secs")?;
        set(
            &mut t.backoff_cap_secs,
            i.backoff_cap_secs,
            "backoff_cap_secs",
        )?;
        set(
            &mut t.sync_timeout_secs,
            i.sync_timeout_secs,
            "sync_timeout_secs",
        )?;
        set(
            &mut t.stale_after_secs,
            i.stale_after_secs,
            "stale_after_secs",
        )?;
        set(
            &mut t.request_timeout_secs,
            i.request_timeout_secs,
            "request_timeout_secs",
        )?;
        set(&mut t.etcd_poll_secs, i.etcd_poll_secs, "etcd_poll_secs")?;
        set(
            &mut t.etcd_timeout_secs,
            i.etcd_timeout_secs,
            "etcd_timeout_secs",
        )
    }

    fn apply_theme(
        &mut self,
        src: &Source,
        theme: BTreeMap<String, Spanned<String>>,
    ) -> Result<(), ConfigError> {
        for (name, value) in theme {
            let color = parse_color(value.get_ref())
                .map_err(|m| src.invalid(Some(value.span()), format!("theme.{name}: {m}")))?;
            let slot = match name.as_str() {
                "critical" => &mut self.theme.critical,
                "warning" => &mut self.theme.warning,
                "info" => &mut self.theme.info,
                "ok" => &mut self.theme.ok,
                "accent" => &mut self.theme.accent,
                "muted" => &mut self.theme.muted,
                "selected_bg" => &mut self.theme.selected_bg,
                _ => {
                    self.warnings.push(format!(
                        "config file {}, line {}: unknown key `theme.{name}` ignored{}",
                        src.path.display(),
                        line_of(src.text, value.span().start),
                        keys::did_you_mean(&format!("theme.{name}"))
                    ));
                    continue;
                }
            };
            *slot = color;
        }
        Ok(())
    }

    fn apply_keys(&mut self, src: &Source, keys: Vec<FileKey>) -> Result<(), ConfigError> {
        for (i, k) in keys.into_iter().enumerate() {
            let key = Key::parse(k.key.get_ref())
                .map_err(|m| src.invalid(Some(k.key.span()), format!("keys[{i}].key: {m}")))?;
            let action = Action::from_name(k.action.get_ref()).ok_or_else(|| {
                let known: Vec<&str> = Action::all().map(|(n, _)| n).collect();
                src.invalid(
                    Some(k.action.span()),
                    format!(
                        "keys[{i}].action: unknown action {:?} (known: {})",
                        k.action.get_ref(),
                        known.join(", ")
                    ),
                )
            })?;
            let scope = match &k.scope {
                Some(s) => Scope::parse(s.get_ref())
                    .map_err(|m| src.invalid(Some(s.span()), format!("keys[{i}].scope: {m}")))?,
                None => Scope::Global,
            };
            self.keymap.bind(Binding {
                key,
                action,
                desc: k.desc.unwrap_or_else(|| action.name().replace('_', " ")),
                scope,
            });
        }
        Ok(())
    }

    /// Whether a context is production (actions there require typing the object's name).
    pub fn is_production(&self, context: &str) -> bool {
        if let Some(p) = self.contexts.get(context).and_then(|c| c.production) {
            return p;
        }
        self.production_contexts
            .iter()
            .any(|pat| glob_match(pat, context))
    }

    /// Read-only for this context: the global setting or the context's own.
    pub fn context_read_only(&self, context: &str) -> bool {
        self.read_only
            || self
                .contexts
                .get(context)
                .and_then(|c| c.read_only)
                .unwrap_or(false)
    }
}

/// A deserialization error's message with the dotted key it points at (`intervals.api_probe_secs:
/// invalid type …`) and, for a section that refuses unknown keys, a suggestion.
fn keyed_message(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().to_string();
    let hint = keys::did_you_mean_in(&message);
    match e.span().and_then(|s| keys::key_at(text, s.start)) {
        Some(key) => format!("`{key}`: {message}{hint}"),
        None => format!("{message}{hint}"),
    }
}

/// `ktriage config path`: prints the file ktriage reads (`--config`/`KTRIAGE_CONFIG`, else the XDG
/// path) on standard output and checks it; what it found goes to standard error. 0, or 2 when the
/// file is broken or no path can be named.
pub fn check_path(explicit: Option<&Path>) -> i32 {
    let Some(path) = explicit.map(Path::to_path_buf).or_else(user_config_path) else {
        eprintln!("ktriage: no config path: set XDG_CONFIG_HOME or HOME, or pass --config FILE");
        return 2;
    };
    println!("{}", path.display());
    if explicit.is_none() && !path.exists() {
        eprintln!(
            "not present: the embedded defaults apply (`ktriage config default` prints them)"
        );
        return 0;
    }
    match Config::load(Some(&path)) {
        Ok(cfg) => {
            for w in &cfg.warnings {
                eprintln!("warning: {w}");
            }
            if cfg.warnings.is_empty() {
                eprintln!("ok");
            }
            0
        }
        Err(e) => {
            eprintln!("error: {e}");
            2
        }
    }
}

/// `$XDG_CONFIG_HOME/ktriage/config.toml`, else `~/.config/ktriage/config.toml`.
pub fn user_config_path() -> Option<PathBuf> {
    xdg_dir("XDG_CONFIG_HOME", ".config").map(|d| d.join("ktriage").join("config.toml"))
}

/// `$XDG_STATE_HOME/ktriage`, else `~/.local/state/ktriage`.
pub fn state_dir() -> Option<PathBuf> {
    xdg_dir("XDG_STATE_HOME", ".local/state").map(|d| d.join("ktriage"))
}

fn xdg_dir(var: &str, fallback: &str) -> Option<PathBuf> {
    match std::env::var_os(var) {
        Some(v) if !v.is_empty() => Some(PathBuf::from(v)),
        _ => std::env::var_os("HOME")
            .filter(|h| !h.is_empty())
            .map(|h| PathBuf::from(h).join(fallback)),
    }
}

/// The config file being read: where errors point.
struct Source<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Source<'_> {
    fn invalid(&self, span: Option<std::ops::Range<usize>>, message: String) -> ConfigError {
        ConfigError::Invalid {
            path: self.path.to_path_buf(),
            line: span.map(|s| line_of(self.text, s.start)).unwrap_or(1),
            message,
        }
    }

    /// The warning for a key ktriage does not know, with its line where it can be found.
    fn unknown_key(&self, key: &str) -> String {
        // serde_ignored writes `?` for an Option layer: `general.?.read_onyl`
        let key = key.replace(".?", "");
        let leaf = key.rsplit('.').next().unwrap_or(&key);
        let line = self
            .text
            .lines()
            .position(|l| {
                let l = l.trim_start();
                l.strip_prefix(leaf)
                    .is_some_and(|r| r.trim_start().starts_with('='))
            })
            .map(|i| format!(", line {}", i + 1))
            .unwrap_or_default();
        format!(
            "config file {}{line}: unknown key `{key}` ignored{}",
            self.path.display(),
            keys::did_you_mean(&key)
        )
    }
}

fn line_of(text: &str, offset: usize) -> usize {
    text.get(..offset.min(text.len()))
        .map(|t| t.matches('\n').count() + 1)
        .unwrap_or(1)
}

pub fn parse_color(s: &str) -> Result<Color, String> {
    let c = match s.to_ascii_lowercase().as_str() {
        "reset" | "default" => Color::Reset,
        "black" => Color::Black,
        "red" => Color::Red,
        "green" => Color::Green,
        "yellow" => Color::Yellow,
        "blue" => Color::Blue,
        "magenta" => Color::Magenta,
        "cyan" => Color::Cyan,
        "gray" | "grey" => Color::Gray,
        "darkgray" | "darkgrey" => Color::DarkGray,
        "lightred" => Color::LightRed,
        "lightgreen" => Color::LightGreen,
        "lightyellow" => Color::LightYellow,
        "lightblue" => Color::LightBlue,
        "lightmagenta" => Color::LightMagenta,
        "lightcyan" => Color::LightCyan,
        "white" => Color::White,
        hex if hex.len() == 7 && hex.starts_with('#') => {
            let v =
                u32::from_str_radix(&hex[1..], 16).map_err(|_| format!("invalid colour {s:?}"))?;
            Color::Rgb((v >> 16) as u8, (v >> 8) as u8, v as u8)
        }
        _ => return Err(format!("invalid colour {s:?} (a colour name or #rrggbb)")),
    };
    Ok(c)
}

/// `*` matches any run of characters; everything else literally.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == text;
    }
    let mut rest = text;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(pos) => rest = &rest[pos + part.len()..],
                None => return false,
            }
        }
    }
    true
}

#[cfg(test)]
mod tests;
