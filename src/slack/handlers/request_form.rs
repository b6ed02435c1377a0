//! The request form as the person fills it in: shown with who reviews the chosen resource,
//! and fitted again when they choose another resource or "Other…" for the duration.

use serde_json::Value;

use crate::domain::{GrantDuration, ResourceId};
use crate::slack::context::SlackContext;
use crate::slack::modals::{self, B_DURATION, B_DURATION_CUSTOM, B_REASON, B_STARTS, Prefill};

/// The form for `prefill`, naming who reviews its resource when one is chosen.
pub async fn form(ctx: &SlackContext, prefill: &Prefill<'_>) -> Value {
    let reviewers = match prefill.resource {
        Some(r) => ctx.reviewer_mentions(r).await,
        None => Vec::new(),
    };
    modals::request_form(prefill, &reviewers)
}

/// Fits the open form (the view in `payload`) to what is chosen in it now. What was typed is
/// kept: Slack keeps the entries of blocks whose ids stay the same. A form that changed again
/// meanwhile (`hash_conflict`) is left to the newer action's refit.
pub async fn refit(ctx: &SlackContext, payload: &Value) {
    let Some(view) = payload.get("view") else {
        return;
    };
    let (Some(id), Some(hash)) = (
        view.get("id").and_then(Value::as_str),
        view.get("hash").and_then(Value::as_str),
    ) else {
        return;
    };
    let catalog = ctx.workflow.catalog();
    let chosen = state_value(view, modals::B_RESOURCE).and_then(|r| ResourceId::parse(r).ok());
    let duration = state_value(view, B_DURATION);
    let typed = state_value(view, B_DURATION_CUSTOM).and_then(|d| GrantDuration::parse(d).ok());
    let other_duration = duration == Some(modals::OTHER_DURATION);
    let prefill = Prefill {
        resource: chosen.as_ref().and_then(|r| catalog.resource(r)),
        duration: typed.or_else(|| duration.and_then(|d| GrantDuration::parse(d).ok())),
        other_duration,
        starts_at: picked_time(view, B_STARTS),
        reason: state_value(view, B_REASON),
    };
    let fitted = form(ctx, &prefill).await;
    if let Err(e) = ctx.api.update_view(id, hash, &fitted).await {
        tracing::info!(error = %e, "the request form was not fitted to its resource");
    }
}

/// A submitted value: a text input's `value` or a select's `selected_option.value`.
pub(super) fn state_value<'a>(view: &'a Value, block: &str) -> Option<&'a str> {
    let action = view.pointer(&format!("/state/values/{block}/{block}"))?;
    action
        .get("value")
        .and_then(Value::as_str)
        .or_else(|| {
            action
                .pointer("/selected_option/value")
                .and_then(Value::as_str)
        })
        .map(str::trim)
        .filter(|v| !v.is_empty())
}

/// A date-time picker's choice: Slack sends the Unix time of the moment picked.
pub(super) fn picked_time(view: &Value, block: &str) -> Option<chrono::DateTime<chrono::Utc>> {
    let at = view.pointer(&format!("/state/values/{block}/{block}/selected_date_time"))?;
    chrono::DateTime::from_timestamp(at.as_i64()?, 0)
}
