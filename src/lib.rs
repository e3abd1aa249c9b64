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
//! ## Layers
//!
//! Each row owns the modules it names (a row naming `a` owns `a::b` too, unless another row names
//! `a::b`). A module may use its own row and rows on a lower layer, never a higher one; layer 0
//! uses nothing of the crate. `tests/architecture.rs` reads this table and checks every `use` and
//! every `crate::…` path against it, so the map stays true.
//!
//! | layer | modules | role |
//! |---|---|---|
//! | 15 | `app` | the event loop: owns the `Model` and its derived caches, executes effects, draws |
//! | 14 | `fleet` | `report --all-contexts`: every kubeconfig context checked concurrently, each with its own timeout |
//! | 13 | `report` | headless run: same sources and rules, printed as text, markdown or JSON |
//! | 12 | `session` | start-up shared by TUI and report: config, logging, kubeconfig, client, executor, etcd access resolution (`session::etcd_access`), the sources |
//! | 11 | `snapshot` | the incident snapshot: findings grouped by cause, trimmed tables, this run's journal; scrubbed |
//! | 10 | `etcd` | the etcd sources: the probe loop, etcd's local log files |
//! | 10 | `kube` | the only code touching `kube::Client`: context resolution, credential checks, the read-only gate (a tower layer), sources, the executor |
//! | 9 | `update` | the synchronous, IO-free state transition: `update(&mut Model, Msg, now) -> Vec<Effect>` |
//! | 8 | `ui` | pure rendering (`draw` of state, theme and `now`): the table component, the panes and their registry |
//! | 7 | `msg` | the inputs of `update`: keys, ticks, source data, action outcomes |
//! | 6 | `derived` | data derived from the model and owned by the loop beside it: the rules' memo, the Top pane's row order, the etcd runbook |
//! | 5 | `diagnose` | pure rules: model → findings (the report's `findings[]`); runbooks and platform detection |
//! | 4 | `model` | pure state, one file per pane; `model::Store` applies watch deltas atomically |
//! | 3 | `certs` | certificate expiry: the API server's serving certificate from a TLS handshake, etcd client certificate files |
//! | 3 | `journal` | JSONL journal of actions (intent before the first request, outcome after) |
//! | 3 | `logging` | the log file (never the terminal) |
//! | 2 | `config` | keymap, theme, intervals and tuning as data (`assets/default-config.toml`) merged with the user's file |
//! | 2 | `mutation` | writes as values: describe, exact patch, kubectl equivalent; their outcomes |
//! | 1 | `etcd::access`, `etcd::client`, `etcd::log_facts`, `etcd::logs`, `etcd::probe`, `etcd::tls`, `etcd::wire` | the etcd v3 client library: JSON gateway (read-only by construction), TLS, one probe round, log signatures and what log lines say, access settings |
//! | 1 | `shared` | shared types: pane and source ids and states, actions, keys and the keymap, findings and severities |
//! | 0 | `text` | text helpers: truncation, ages, credential scrubbing, error chains |
//! | 0 | `cli` | clap: the TUI by default, `report`, `sim` |
//! | 0 | `tuning` | rule thresholds (`[leaders]`, `[events]`, `[top]`) |
//! | 0 | `term` | terminal ownership and restore on every exit path |
//! | 0 | `sim` | the simulated cluster (demo, tests, benchmarks): it uses nothing else of the crate |
//!
//! Adding a pane: `model/<pane>.rs`, `kube/sources/<pane>.rs`, `ui/panes/<pane>.rs`, its rules in
//! `diagnose/`, and one registration line in each `mod.rs`.

pub mod app;
pub mod certs;
pub mod cli;
pub mod config;
pub mod derived;
pub mod diagnose;
pub mod etcd;
pub mod fleet;
pub mod journal;
pub mod kube;
pub mod logging;
pub mod model;
pub mod msg;
pub mod mutation;
pub mod report;
pub mod session;
pub mod shared;
pub mod sim;
pub mod snapshot;
pub mod term;
pub mod text;
pub mod tuning;
pub mod ui;
pub mod update;

pub use shared::{action, keymap};

pub use logging::PROCESS_START;
