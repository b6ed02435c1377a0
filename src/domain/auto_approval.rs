//! Auto-approval rules: a request that meets one of its resource's rules is approved without a
//! reviewer (and audited with the rule that approved it). A rule's conditions must all hold.

use super::duration::GrantDuration;
use super::ids::GroupId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AutoRule {
    /// The requester is in this Slack user group.
    pub group: Option<GroupId>,
    /// The request is for at most this long.
    pub max_duration: Option<GrantDuration>,
    /// The requester is on call now in this `[oncall.<id>]` schedule.
    pub on_call: Option<String>,
}

impl AutoRule {
    /// The rule in words, for the audit log and the channel message.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if let Some(g) = &self.group {
            parts.push(format!("the requester is in <!subteam^{g}>"));
        }
        if let Some(d) = self.max_duration {
            parts.push(format!("it is for {d} or less"));
        }
        if let Some(o) = &self.on_call {
            parts.push(format!("the requester is on call now ({o})"));
        }
        parts.join(" and ")
    }

    fn holds(&self, facts: &Facts<'_>) -> bool {
        self.group.as_ref().is_none_or(|g| facts.groups.contains(g))
            && self.max_duration.is_none_or(|max| facts.duration <= max)
            && self
                .on_call
                .as_ref()
                .is_none_or(|o| facts.on_call.contains(o))
    }
}

/// What is known of the request and its requester.
#[derive(Debug, Clone, Copy)]
pub struct Facts<'a> {
    pub groups: &'a [GroupId],
    pub duration: GrantDuration,
    /// The on-call schedules (`[oncall.<id>]` ids) the requester is on call in now.
    pub on_call: &'a [String],
}

/// The first rule the request meets, if any.
pub fn first_match<'a>(rules: &'a [AutoRule], facts: &Facts<'_>) -> Option<&'a AutoRule> {
    rules.iter().find(|r| r.holds(facts))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn group(s: &str) -> GroupId {
        GroupId::parse(s).unwrap()
    }

    #[test]
    fn every_condition_of_a_rule_must_hold_and_any_rule_may_approve() {
        let oncall = group("S0ONCALL");
        let rules = [
            AutoRule {
                group: Some(oncall.clone()),
                max_duration: Some(GrantDuration::minutes(120)),
                on_call: None,
            },
            AutoRule {
                group: None,
                max_duration: Some(GrantDuration::minutes(15)),
                on_call: None,
            },
        ];
        let member = [oncall];
        let check = |groups: &[GroupId], duration| {
            first_match(
                &rules,
                &Facts {
                    groups,
                    duration,
                    on_call: &[],
                },
            )
            .cloned()
        };
        let two_h = GrantDuration::minutes(120);
        let four_h = GrantDuration::minutes(240);
        assert_eq!(check(&member, two_h), Some(rules[0].clone()));
        assert_eq!(check(&member, four_h), None);
        assert_eq!(check(&[], two_h), None);
        assert_eq!(
            check(&[], GrantDuration::minutes(15)),
            Some(rules[1].clone())
        );
        let on_call = ["pd".to_owned()];
        let by_pager = [AutoRule {
            group: None,
            max_duration: None,
            on_call: Some("pd".into()),
        }];
        let facts = |on_call| Facts {
            groups: &[],
            duration: four_h,
            on_call,
        };
        assert!(first_match(&by_pager, &facts(&on_call)).is_some());
        assert!(first_match(&by_pager, &facts(&[])).is_none());
        assert_eq!(
            rules[0].describe(),
            "the requester is in <!subteam^S0ONCALL> and it is for 2h or less"
        );
    }
}
