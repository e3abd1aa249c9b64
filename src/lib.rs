//! ktriage — a terminal console for live Kubernetes incident triage.
//!
//! # Architecture map
//!
//! ```text
//!  sources (tokio tasks: kube watchers, the API probe)      keyboard, resize, tick, signals
//!        │  Msg over a bounded mpsc channel                         │
//!        └──────────────────────────┬───────────────────────────────┘
//!                                   ▼
//!   app::run — the only event loop: drain msgs → update_in(&mut Model, &mut Derived, Msg, now)
//!                                   │                          │        -> Vec<Effect>
//!              draw at most every 33 ms, only when dirty   effects: quit, run a Mutation
//!              ui::render(&Model, &Derived, &Theme, now)   through the one kube::executor::Executor
//!              (pure: no clock, no lock, builds nothing)
//! ```
//!
//! The loop owns the `Model` (state) and beside it a [`derived::Derived`] (the rules' memo, the Top
//! pane's row order, the etcd runbook): data derived from the model, rebuilt when what it depends
//! on changed, at points the loop chooses, with the loop's clock. `ui::draw` and `update::update`
//! are the same with everything derived afresh (tests, the report).
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
//! | 10 | `record` | the flight recorder (`--record`) and its player (`replay`, `timeline`): what the sources delivered, as gzip JSON lines, fed back through `update` with the recorded times; no cluster client |
//! | 11 | `snapshot` | the incident snapshot: findings grouped by cause, trimmed tables, this run's journal; scrubbed |
//! | 10 | `etcd` | the etcd sources: the probe loop, etcd's local log files |
//! | 10 | `kube` | the only code touching `kube::Client`: context resolution, credential checks, the gate (a tower layer: never Secrets; read-only mode), sources (watch backoff and resume detection in `sources::resume`), the executor |
//! | 9 | `update` | the synchronous, IO-free state transition: `update(&mut Model, Msg, now) -> Vec<Effect>` |
//! | 8 | `ui` | pure rendering (`draw` of state, theme and `now`): the table component, the panes and their registry |
//! | 7 | `msg` | the inputs of `update`: keys, ticks, source data, action outcomes |
//! | 6 | `derived` | data derived from the model and owned by the loop beside it: the rules' memo, the Top pane's row order, the etcd runbook |
//! | 5 | `diagnose` | pure rules: model → findings (the report's `findings[]`); runbooks and platform detection |
//! | 4 | `model` | pure state, one file per pane; `model::Store` applies watch deltas atomically |
//! | 3 | `certs` | certificate expiry (the API server's serving certificate from a TLS handshake, etcd client certificate files) and which CA bundles trust the chain the API server presents |
//! | 3 | `journal` | JSONL journal of actions (intent before the first request, outcome after) |
//! | 3 | `logging` | the log file (never the terminal) |
//! | 2 | `config` | keymap, theme, intervals and tuning as data (`assets/default-config.toml`) merged with the user's file |
//! | 2 | `mutation` | writes as values: describe, exact patch, kubectl equivalent; their outcomes |
//! | 1 | `etcd::access`, `etcd::client`, `etcd::log_facts`, `etcd::logs`, `etcd::probe`, `etcd::tls`, `etcd::wire` | the etcd v3 client library: JSON gateway (read-only by construction), TLS, one probe round, log signatures and what log lines say, access settings |
//! | 1 | `shared` | shared types: pane and source ids and states, actions, keys and the keymap, findings and severities |
//! | 0 | `text` | text helpers: truncation, ages, credential scrubbing, error chains |
//! | 0 | `cli` | clap: the TUI by default, `report`, `sim`; `completions`, `man`, `config`; `--version` (build facts from `build.rs`) |
//! | 0 | `tuning` | rule thresholds (`[leaders]`, `[events]`, `[top]`) |
//! | 0 | `term` | terminal ownership and restore on every exit path |
//! | 0 | `memory` | freed memory given back to the system after a burst (a large list decoded, a metrics poll) |
//! | 0 | `sim` | the simulated cluster (demo, tests, benchmarks): it uses nothing else of the crate; its `sim::yaml` is the crate's one YAML parser and printer (scenarios, the YAML view, the simulator's YAML bodies), `ktriage::yaml` |
//!
//! ## Adding a pane
//!
//! A pane is its own files plus one line in the pane registry, [`shared::pane`]'s `panes!` list:
//!
//! ```text
//! Nodes nodes "Nodes",      <- the line: id, module name, title; its place is its tab number
//! ```
//!
//! From that line the crate generates `PaneId::Nodes` (name `nodes`: config scope, findings'
//! `pane`, the report's `panes.nodes`), the `pane_nodes` action, the tab, the selection slot, and
//! it declares and dispatches to the pane's two modules, which must exist:
//!
//! - `src/ui/panes/nodes.rs`: `pub struct Nodes; pub const PANE: Nodes = Nodes;` and
//!   `impl ui::panes::Pane for Nodes`: `id`, `state` (the title's state), `row_count`, `body` (its
//!   rows through the one table, `ui::table::{Table, Column}`, each row coloured from the findings
//!   about it: `theme.finding(cx.derived.severities.of_object(…))`), and where it has them
//!   `filter`/`filter_mut` (the `/` filter, `model::filter::TableFilter`, one `filter_at!` line),
//!   `view_action` (sort, group), `propose` (the writes its keys propose for the selected row: a
//!   `Mutation` and what the dialog says now), `report`.
//! - `src/diagnose/nodes.rs`: `pub fn rules(cx: &diagnose::Rules, out: &mut Vec<Finding>)`, the
//!   pane's rules (`cx.model`, `cx.now`), run in tab order with every other pane's.
//!
//! The pane's state lives in its model file (`src/model/nodes.rs`: the rows, the filter, the sort,
//! the functions its proposals are built from) and its data comes from its source
//! (`src/kube/sources/nodes.rs`); both exist for data ktriage already watches. Data ktriage does
//! not watch yet is a new source, registered as sources are: a `SourceId` (`shared/source.rs`), a
//! `Msg` variant and its arm in `update`, a field of `Model` (with its line in
//! `Model::sources`), and a task started in `kube::sources::start_all`. Keys are data: a number
//! for the pane is a `pane_nodes` line in `assets/default-config.toml` (README's keymap table
//! follows, `tests/readme.rs`); appending the line at the end of `panes!` keeps the numbers the
//! other panes have.
//!
//! The Nodes pane was added this way: `ui/panes/nodes.rs`, `diagnose/nodes.rs`, its state in
//! `model/nodes.rs`, the line in `panes!` and its keys in the default config; nothing in
//! `ui::panes`' registry, `update`'s key handling, `msg`, `report` or `diagnose`'s rule list.
//!
//! ## Public paths kept
//!
//! `ktriage::action` and `ktriage::keymap` (now `shared::{action, keymap}`), `ktriage::yaml` (now
//! `sim::yaml`), `model::{PaneId, SourceId, SourceState, Failure, FailureKind}`,
//! `diagnose::{Finding, Severity, …}`, `etcd::runbook`, `kube::executor::{Outcome, OutcomeResult}`
//! and the like are re-exports from the layer that now owns the item, each from a higher layer to
//! a lower one.

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
pub mod memory;
pub mod model;
pub mod msg;
pub mod mutation;
pub mod record;
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

pub use sim::yaml;

pub use logging::PROCESS_START;
