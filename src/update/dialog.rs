//! The confirm dialog: a mutation proposed (refused in read-only mode; who else acted on the object
//! lately), and confirmed (the production name check, the reason, the timeline's entry, the
//! executor's effect).

use chrono::{DateTime, Utc};

use super::{Effect, notice};
use crate::model::{Dialog, Model, NoticeLevel};
use crate::mutation::Mutation;

/// Open the confirm dialog for a mutation (refused in read-only mode).
pub fn propose(model: &mut Model, mutation: Mutation, now: DateTime<Utc>) {
    if model.cluster.read_only {
        notice(
            model,
            &format!(
                "read-only mode: refused `{}`; nothing was sent",
                mutation.describe()
            ),
            NoticeLevel::Warning,
            now,
        );
        return;
    }
    let others = others_on(model, &mutation.object(), now);
    model.dialog = Some(Dialog {
        mutation,
        typed: String::new(),
        reason: None,
        current: None,
        others,
    });
}

/// How long another console's action on the same object is worth a word in the dialog.
const OTHERS_IN_DIALOG_SECS: i64 = 30 * 60;

/// Who else acted on this object lately, newest first (`KtriageAction` Events of other consoles).
fn others_on(
    model: &Model,
    obj: &crate::mutation::ObjectRef,
    now: DateTime<Utc>,
) -> Option<String> {
    let acts: Vec<String> = model
        .events
        .others_actions(
            &model.own_actions,
            &model.acting,
            now,
            OTHERS_IN_DIALOG_SECS,
        )
        .into_iter()
        .filter(|a| a.about(obj))
        .take(3)
        .map(|a| {
            format!(
                "{} {} ago: {}",
                a.who,
                a.at.map(|t| crate::text::age(now, t)).unwrap_or_default(),
                a.what
            )
        })
        .collect();
    (!acts.is_empty()).then(|| acts.join("; "))
}

pub(super) fn confirm(model: &mut Model, now: DateTime<Utc>, effects: &mut Vec<Effect>) {
    let Some(dialog) = model.dialog.take() else {
        return;
    };
    let mut dialog = dialog;
    if dialog.mutation.wants_reason() {
        // a production context asks for the reason first, then for the object's name
        if model.cluster.production && dialog.reason.is_none() {
            let name = dialog.mutation.object().name;
            dialog.reason = Some(std::mem::take(&mut dialog.typed));
            model.dialog = Some(dialog);
            notice(
                model,
                &format!("reason kept; production context: now type `{name}` to confirm"),
                NoticeLevel::Info,
                now,
            );
            return;
        }
        let reason = dialog
            .reason
            .clone()
            .unwrap_or_else(|| dialog.typed.clone());
        dialog.mutation = dialog.mutation.clone().with_reason(&reason);
    }
    if model.cluster.production && dialog.typed != dialog.mutation.object().name {
        let name = dialog.mutation.object().name;
        model.dialog = Some(dialog);
        notice(
            model,
            &format!("production context: type `{name}` to confirm"),
            NoticeLevel::Warning,
            now,
        );
        return;
    }
    notice(
        model,
        &format!("running: {}", dialog.mutation.describe()),
        NoticeLevel::Info,
        now,
    );
    model.acting.push(dialog.mutation.object());
    model.timeline.action(
        crate::model::timeline::Kind::Action,
        dialog.mutation.describe(),
        now,
    );
    effects.push(Effect::Execute(dialog.mutation));
}
