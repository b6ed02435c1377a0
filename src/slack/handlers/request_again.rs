//! The request form opened by a button rather than `/request-access`: App Home's "Request
//! access" (empty), and "Request again" on a DM that ends a request (expired, lapsed, denied),
//! filled in as the person asked last time, so asking again is one click and a Submit.

use crate::domain::{RequestId, SlackUserId};
use crate::slack::context::SlackContext;
use crate::slack::modals::Prefill;

/// Opens the empty form (App Home's "Request access").
pub async fn open_new(ctx: &SlackContext, trigger: &str) -> Result<(), String> {
    let form = super::request_form::form(ctx, &Prefill::default()).await;
    super::open_modal(ctx, trigger, &form, "request form").await
}

/// Opens the form for `user`, prefilled from their request `id`. Only its requester: the DM is
/// theirs, and someone else's reason is not theirs to read.
pub async fn open(
    ctx: &SlackContext,
    user: &SlackUserId,
    id: RequestId,
    trigger: &str,
) -> Result<(), String> {
    let earlier = ctx.workflow.request(id).await.map_err(|e| super::say(&e))?;
    if &earlier.requester != user {
        return Err(format!(
            "Request #{} is <@{}>'s; only they can ask for it again from here. Run /request-access to ask for yourself.",
            id.get(),
            earlier.requester
        ));
    }
    // A resource since removed from the catalog leaves the form to choose another; the rest
    // (how long, why) still holds.
    let resource = ctx.workflow.catalog().resource(&earlier.resource);
    let prefill = Prefill {
        resource,
        duration: Some(earlier.duration),
        other_duration: false,
        starts_at: None,
        reason: earlier.reason.as_deref(),
    };
    let form = super::request_form::form(ctx, &prefill).await;
    super::open_modal(ctx, trigger, &form, "request form").await
}
