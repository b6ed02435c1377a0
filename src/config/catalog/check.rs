//! Checking the catalog: `validate` turns what `read` parsed into the model, applying
//! `[defaults]` and the built-in bounds, and reports every problem at once, each at its line with
//! the fix (unknown connectors, duplicate ids, durations, grants a connector cannot make, approval
//! stages, channels, auto-approval rules, break-glass).
//!
//! It must not read files or TOML, and must not change a message lightly: people and tests
//! match on them.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use toml::Spanned;

use super::super::error::{ConfigError, ConfigErrors};
use super::model::{
    AutoApprovedPosting, BUILTIN_DEFAULT, BUILTIN_LAPSE_AFTER, BUILTIN_MAX, BUILTIN_MIN,
    BUILTIN_REMIND_BEFORE, Catalog, ConnectorKind, Resource,
};
use super::read::RawCatalog;
use crate::domain::approval::Stage;
use crate::domain::auto_approval::AutoRule;
use crate::domain::{ConnectorId, DurationRules, GrantDuration, Principal, Unit};

/// A channel named in the catalog: by ID, which survives renames (like reviewers).
fn channel_id(text: &str) -> Result<String, String> {
    let t = text.trim();
    let id_like = t.len() >= 3
        && matches!(t.as_bytes()[0], b'C' | b'G')
        && t.bytes()
            .all(|b| b.is_ascii_uppercase() || b.is_ascii_digit());
    if id_like {
        Ok(t.to_owned())
    } else {
        Err(format!(
            "`{t}` is not a Slack channel ID; copy it from the channel's details (it looks like C024BE91L)"
        ))
    }
}

pub(super) fn validate(
    path: &Path,
    source: &str,
    raw: RawCatalog,
) -> Result<Catalog, ConfigErrors> {
    let mut errors = Vec::new();
    let err_at = |at: usize, msg: String| ConfigError::at(path, source, at, msg);

    let mut connectors = BTreeMap::new();
    for (name, raw_conn) in raw.connectors {
        match ConnectorId::parse(name.get_ref()) {
            Ok(id) => {
                let (mut config, channel, link) = raw_conn.into_config(id.clone());
                match link.check() {
                    Ok(link) => config.link = link,
                    Err(e) => {
                        errors.push(err_at(name.span().start, format!("connector `{id}`: {e}")))
                    }
                }
                // (Spans do not survive the connector table's `kind` tag: its name's line.)
                if let Some(c) = channel {
                    match channel_id(&c) {
                        Ok(c) => config.channel = Some(c),
                        Err(e) => errors.push(err_at(name.span().start, e)),
                    }
                }
                connectors.insert(id, config);
            }
            Err(e) => errors.push(err_at(name.span().start, e.to_string())),
        }
    }

    let d = &raw.defaults;
    let pick = |own: &Option<Spanned<GrantDuration>>,
                default: &Option<Spanned<GrantDuration>>,
                fallback: GrantDuration|
     -> (GrantDuration, Option<usize>) {
        own.as_ref()
            .or(default.as_ref())
            .map(|s| (*s.get_ref(), Some(s.span().start)))
            .unwrap_or((fallback, None))
    };

    let mut seen = BTreeSet::new();
    let mut resources = Vec::new();
    for r in raw.resources {
        let id = r.id.get_ref().clone();
        if !seen.insert(id.clone()) {
            errors.push(err_at(
                r.id.span().start,
                format!("resource `{id}` is defined twice; give each resource its own id"),
            ));
        }
        let connector = match ConnectorId::parse(r.connector.get_ref()) {
            Ok(c) if connectors.contains_key(&c) => Some(c),
            _ => {
                let known: Vec<_> = connectors.keys().map(|c| c.to_string()).collect();
                errors.push(err_at(
                    r.connector.span().start,
                    format!(
                        "unknown connector `{}`; define [connectors.{}] or use one of: {}",
                        r.connector.get_ref(),
                        r.connector.get_ref(),
                        if known.is_empty() {
                            "(none defined yet)".to_owned()
                        } else {
                            known.join(", ")
                        }
                    ),
                ));
                None
            }
        };
        let (min, _) = pick(&r.min_duration, &d.min_duration, BUILTIN_MIN);
        let (default, default_at) = pick(&r.default_duration, &d.default_duration, BUILTIN_DEFAULT);
        let (max, max_at) = pick(&r.max_duration, &d.max_duration, BUILTIN_MAX);
        let durations = match DurationRules::new(min, default, max) {
            Ok(rules) => Some(rules),
            Err(msg) => {
                let at = max_at.or(default_at).unwrap_or(r.id.span().start);
                errors.push(err_at(at, format!("{msg}; adjust the durations of `{id}`")));
                None
            }
        };
        if r.name.trim().is_empty() {
            errors.push(err_at(
                r.id.span().start,
                format!("resource `{id}` has an empty name; give it one people will recognise"),
            ));
        }
        let kind = connector
            .as_ref()
            .and_then(|c| connectors.get(c))
            .map(|c| &c.kind);
        let grant = match (r.grant, kind) {
            (Some(table), _) => {
                let at = table.span().start;
                match serde_json::to_value(table.into_inner())
                    .map_err(|e| e.to_string())
                    .and_then(|v| serde_json::from_value::<Unit>(v).map_err(|e| e.to_string()))
                {
                    Ok(unit) => Some(unit),
                    Err(e) => {
                        errors.push(err_at(at, e));
                        None
                    }
                }
            }
            // A manual resource's task defaults to its name.
            (None, Some(ConnectorKind::Manual)) => Some(Unit::Task {
                task: format!("give access to {}", r.name.trim()),
            }),
            (None, Some(kind)) => {
                errors.push(err_at(
                    r.id.span().start,
                    format!(
                        "resource `{id}` uses a {} connector; say what it grants: {}",
                        kind.name(),
                        kind.units()[0].example()
                    ),
                ));
                None
            }
            (None, None) => None,
        };
        if let (Some(unit), Some(kind)) = (&grant, kind)
            && !kind.units().contains(&unit.kind())
        {
            let fixes: Vec<_> = kind.units().iter().map(|u| u.example()).collect();
            errors.push(err_at(
                r.id.span().start,
                format!(
                    "resource `{id}` asks its {} connector for a {}, which it cannot grant; write {}",
                    kind.name(),
                    unit.kind().word(),
                    fixes.join(" or ")
                ),
            ));
        }
        let mut approval = Vec::new();
        for (n, raw_stage) in r.approval.into_iter().enumerate() {
            let at = raw_stage.span().start;
            let stage = raw_stage.into_inner();
            // With user groups in the set, who is in it is only known from Slack, at review.
            let only_people = stage
                .reviewers
                .iter()
                .all(|p| matches!(p, Principal::User(_)));
            if only_people && let Err(why) = stage.need.check_reachable(stage.reviewers.len()) {
                errors.push(err_at(
                    at,
                    format!("resource `{id}`: approval stage {} {why}", n + 1),
                ));
            }
            approval.push(Stage {
                reviewers: stage.reviewers,
                need: stage.need,
            });
        }
        let own_channel = match r.channel {
            Some(c) => match channel_id(c.get_ref()) {
                Ok(c) => Some(c),
                Err(e) => {
                    errors.push(err_at(c.span().start, e));
                    None
                }
            },
            None => None,
        };
        let channel = own_channel.or_else(|| {
            connector
                .as_ref()
                .and_then(|c| connectors.get(c))
                .and_then(|c| c.channel.clone())
        });
        let mut auto_approve = Vec::new();
        for raw_rule in r.auto_approve {
            let at = raw_rule.span().start;
            let rule = raw_rule.into_inner();
            if rule.group.is_none() && rule.max_duration.is_none() && rule.on_call.is_none() {
                errors.push(err_at(
                    at,
                    format!(
                        "resource `{id}`: an auto_approve rule with no condition would approve everything; give it a group, a max_duration, an on_call or several"
                    ),
                ));
                continue;
            }
            if let Some(o) = &rule.on_call
                && !raw.oncall.keys().any(|k| k.get_ref() == o)
            {
                let known: Vec<&str> = raw.oncall.keys().map(|k| k.get_ref().as_str()).collect();
                errors.push(err_at(
                    at,
                    format!(
                        "resource `{id}`: on_call = \"{o}\" names no [oncall.{o}] table; {}",
                        if known.is_empty() {
                            "add one (kind = \"pagerduty\" or \"opsgenie\")".to_owned()
                        } else {
                            format!("use one of: {}", known.join(", "))
                        }
                    ),
                ));
                continue;
            }
            auto_approve.push(AutoRule {
                group: rule.group,
                max_duration: rule.max_duration,
                on_call: rule.on_call,
            });
        }
        if r.auto_approved == Some(AutoApprovedPosting::Quiet) && auto_approve.is_empty() {
            errors.push(err_at(
                r.id.span().start,
                format!(
                    "resource `{id}`: auto_approved = \"quiet\" has nothing to keep quiet without auto_approve rules; add a rule or remove it"
                ),
            ));
        }
        let break_glass = match r.break_glass {
            Some(b) if b.get_ref().review_within >= b.get_ref().max => {
                errors.push(err_at(
                    b.span().start,
                    format!(
                        "resource `{id}`: break_glass review_within ({}) must be shorter than its max ({}), or the access ends before anyone must review it",
                        b.get_ref().review_within,
                        b.get_ref().max
                    ),
                ));
                None
            }
            b => b.map(Spanned::into_inner),
        };
        if let (Some(connector), Some(durations), Some(grant)) = (connector, durations, grant) {
            resources.push(Resource {
                id,
                name: r.name.trim().to_owned(),
                description: r.description.filter(|s| !s.trim().is_empty()),
                connector,
                grant,
                reviewers: r.reviewers,
                requesters: r.requesters,
                durations,
                reason_required: r.reason_required.or(d.reason_required).unwrap_or(true),
                remind_before: r
                    .remind_before
                    .or(d.remind_before)
                    .unwrap_or(BUILTIN_REMIND_BEFORE),
                lapse_after: r
                    .lapse_after
                    .or(d.lapse_after)
                    .unwrap_or(BUILTIN_LAPSE_AFTER),
                on_drift: r.on_drift.or(d.on_drift).unwrap_or_default(),
                approval,
                channel,
                auto_approve,
                auto_approved: r.auto_approved.or(d.auto_approved).unwrap_or_default(),
                notify_reviewers: r
                    .notify_reviewers
                    .or(d.notify_reviewers)
                    .unwrap_or_default(),
                break_glass,
            });
        }
    }

    if !errors.is_empty() {
        return Err(ConfigErrors(errors));
    }
    Ok(Catalog {
        path: path.to_owned(),
        admins: raw.admins,
        ask_about_others: raw.ask_about_others,
        connectors,
        resources,
        oncall: raw
            .oncall
            .into_iter()
            .map(|(k, v)| (k.into_inner(), v))
            .collect(),
    })
}
