//! The report's JSON document, written as it is made. A pane with one row per pod (Top at 50,000
//! pods) makes its rows one at a time while they are written ([`Pane::report_rows`]): the whole
//! document as a JSON tree was ~160 MB at 50,000 pods, four times the model it describes.

use std::cell::RefCell;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Map, Value};

use crate::model::{Model, PaneId};
use crate::ui::panes::{Pane, pane};

/// The JSON document of the contract: `{generated_at, context, cluster, sources, panes, findings}`
/// (members in the order a JSON object of them prints: by name).
pub struct Document<'a> {
    pub model: &'a Model,
    pub now: DateTime<Utc>,
}

impl Serialize for Document<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (model, now) = (self.model, self.now);
        let mut sources = Map::new();
        for (id, st) in model.sources() {
            sources.insert(id.name().into(), super::source_json(st, now));
        }
        let mut m = s.serialize_map(Some(7))?;
        m.serialize_entry("cluster", &model.cluster.server)?;
        m.serialize_entry("context", &model.cluster.context)?;
        // as a JSON tree: members by name, as every other object here
        let findings = serde_json::to_value(&model.findings).unwrap_or_default();
        m.serialize_entry("findings", &findings)?;
        m.serialize_entry(
            "generated_at",
            &now.to_rfc3339_opts(SecondsFormat::Secs, true),
        )?;
        m.serialize_entry("panes", &Panes { model, now })?;
        m.serialize_entry("read_only", &model.cluster.read_only)?;
        m.serialize_entry("sources", &sources)?;
        m.end()
    }
}

/// `panes`: one member per pane, by name.
struct Panes<'a> {
    model: &'a Model,
    now: DateTime<Utc>,
}

impl Serialize for Panes<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut ids: Vec<PaneId> = PaneId::ALL.to_vec();
        ids.sort_by_key(|p| p.name());
        let mut m = s.serialize_map(Some(ids.len()))?;
        for id in ids {
            let doc = PaneDoc {
                pane: pane(id),
                model: self.model,
                now: self.now,
            };
            m.serialize_entry(id.name(), &doc)?;
        }
        m.end()
    }
}

/// `panes.<name>`: the pane's state, what it reports, and its rows.
struct PaneDoc<'a> {
    pane: &'static dyn Pane,
    model: &'a Model,
    now: DateTime<Utc>,
}

impl Serialize for PaneDoc<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let (pane, model, now) = (self.pane, self.model, self.now);
        let mut members = match super::source_json(pane.state(model), now) {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        pane.report(model, now, &mut members);
        let mut rows = pane
            .report_rows(model, now)
            .map(|it| Rows(RefCell::new(Some(it))));
        let mut m = s.serialize_map(None)?;
        for (k, v) in &members {
            if k.as_str() > "rows"
                && let Some(r) = rows.take()
            {
                m.serialize_entry("rows", &r)?;
            }
            m.serialize_entry(k, v)?;
        }
        if let Some(r) = rows {
            m.serialize_entry("rows", &r)?;
        }
        m.end()
    }
}

/// Rows made one at a time as they are written.
struct Rows<'a>(RefCell<Option<Box<dyn Iterator<Item = Value> + 'a>>>);

impl Serialize for Rows<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(None)?;
        if let Some(rows) = self.0.borrow_mut().take() {
            for r in rows {
                seq.serialize_element(&r)?;
            }
        }
        seq.end()
    }
}
