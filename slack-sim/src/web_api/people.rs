//! People and conversations: the users.info user shape and conversations.open.

use super::{Args, R, err, s};
use crate::Inner;
use crate::state::State;
use serde_json::{Value, json};

/// The users.info shape for a seeded user.
pub fn user_json(inner: &Inner, id: &str) -> Option<Value> {
    let u = inner.cfg.users.iter().find(|u| u.id == id)?;
    let team = u.team_id.as_deref().unwrap_or(&inner.cfg.team_id);
    Some(json!({
        "id": u.id, "team_id": team, "name": u.name, "real_name": u.real_name,
        "deleted": u.deleted, "is_bot": u.is_bot,
        // A single-channel guest is restricted too, as Slack reports it.
        "is_restricted": u.is_restricted || u.is_ultra_restricted,
        "is_ultra_restricted": u.is_ultra_restricted, "is_admin": false, "is_owner": false,
        "is_app_user": u.is_app_user, "is_stranger": u.is_stranger,
        "tz": u.tz, "tz_label": u.tz, "tz_offset": u.tz_offset,
        "profile": {"email": u.email, "real_name": u.real_name, "display_name": u.name,
                    "real_name_normalized": u.real_name, "display_name_normalized": u.name},
    }))
}

pub(super) fn conversations_open(inner: &Inner, st: &mut State, args: &Args) -> R {
    if let Some(c) = s(args, "channel") {
        let c = st.channels.get(c).ok_or(err("channel_not_found"))?;
        return Ok(json!({"channel": {"id": c.id}, "no_op": true, "already_open": true}));
    }
    let users: Vec<String> = match args.get("users") {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(Value::as_str)
            .map(String::from)
            .collect(),
        Some(Value::String(t)) => t
            .split(',')
            .map(str::trim)
            .filter(|x| !x.is_empty())
            .map(String::from)
            .collect(),
        _ => vec![],
    };
    if users.is_empty() {
        return Err(err("users_list_not_supplied"));
    }
    for u in &users {
        let seed = inner
            .cfg
            .users
            .iter()
            .find(|x| &x.id == u)
            .ok_or(err("user_not_found"))?;
        if seed.deleted {
            return Err(err("user_disabled"));
        }
    }
    if users.len() > 1 {
        // Group DMs are not used by Gatehouse; refuse loudly rather than fake them.
        return Err(err("not_supported"));
    }
    let already = st.ims.contains_key(&users[0]);
    let id = st.im_for(&inner.cfg, &users[0]);
    Ok(
        json!({"channel": {"id": id, "is_im": true, "user": users[0]}, "no_op": already, "already_open": already}),
    )
}
