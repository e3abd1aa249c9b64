//! ktriage — a terminal console for live Kubernetes incident triage.
//!
//! # Architecture map
//!
//! ```text
//!  sources (tokio tasks: kube watchers, the API probe)      keyboard, resize, tick, signals
//!        │  Msg over a bounded mpsc channel                         │
//!        └──────────────────────────┬───────────────────────────────┘
//!                                   ▼
//!   app::run — the only event loop: drain msgs → update(&mut Model, Msg, now) -> Vec<Effect>
//!                                   │                          │
//!              draw at most every 33 ms, only when dirty   effects: quit, run a Mutation
//!              ui::draw(&Model, &Theme, now) (pure)        through the one kube::executor::Executor
//! ```
//!
//! | module | role |
//! |---|---|
//! | [`cli`] | clap: the TUI by default, `report`, `sim`; `completions`, `man`, `config`; `--version` (build facts from `build.rs`) |
//! | [`session`] | start-up shared by TUI and report: config, logging, kubeconfig, client, executor |
//! | [`config`], [`keymap`], [`action`] | keymap, theme and intervals as data (`assets/default-config.toml`) |
//! | [`tuning`] | rule thresholds of the Leaders, Events and Top panes (`[leaders]`, `[events]`, `[top]`) |
//! | [`msg`], [`update`] | inputs, and the synchronous, IO-free state transition |
//! | [`model`] | pure state, one file per pane; [`model::Store`] applies watch deltas atomically |
//! | [`diagnose`] | pure rules: model → findings (the report's `findings[]`) |
//! | [`mutation`] | writes as values: describe, exact patch, kubectl equivalent |
//! | [`etcd`] | etcd v3 probing without Kubernetes: JSON gateway client (read-only by construction), TLS, access resolution and discovery, log signatures, runbooks |
//! | [`kube`] | the only code touching `kube::Client`: context resolution and credential checks, the gate (a tower layer: never Secrets; read-only mode), sources (watch backoff and resume detection in `sources::resume`), executor |
//! | [`certs`] | certificate expiry (the API server's serving certificate from a TLS handshake, etcd client certificate files) and which CA bundles trust the chain the API server presents |
//! | [`journal`] | JSONL journal of actions (intent before the first request, outcome after) |
//! | [`ui`] | pure rendering; panes in `ui::panes` |
//! | [`app`], [`term`] | the event loop; terminal ownership and restore on every exit path |
//! | [`report`] | headless run: same sources and rules, printed as text, markdown or JSON |
//! | [`fleet`] | `report --all-contexts`: every kubeconfig context checked concurrently, each with its own timeout |
//! | [`report_panes`] | the report's rows of the Leaders, Events and Top panes |
//! | [`snapshot`] | the incident snapshot: findings grouped by cause, trimmed tables, this run's journal; scrubbed of credentials |
//! | [`sim`] | the simulated cluster (demo, tests, benchmarks) |
//! | [`yaml`] | the one YAML parser and printer (scenarios, the YAML view, the simulator's YAML bodies) |
//!
//! Adding a pane: `model/<pane>.rs`, `kube/sources/<pane>.rs`, `ui/panes/<pane>.rs`, its rules in
//! `diagnose/`, and one registration line in each `mod.rs`.

pub mod action;
pub mod app;
pub mod certs;
pub mod cli;
pub mod config;
pub mod diagnose;
pub mod etcd;
pub mod fleet;
pub mod journal;
pub mod keymap;
pub mod kube;
pub mod logging;
pub mod model;
pub mod msg;
pub mod mutation;
pub mod report;
pub mod report_panes;
pub mod session;
pub mod sim;
pub mod snapshot;
pub mod term;
pub mod tuning;
pub mod ui;
pub mod update;
pub mod yaml;

/// When the process started (set first thing in `main`), for the first-frame measurement in the log.
pub static PROCESS_START: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
