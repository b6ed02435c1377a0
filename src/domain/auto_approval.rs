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
        parts.join(" and ")
    }

    fn holds(&self, groups: &[GroupId], duration: GrantDuration) -> bool {
        self.group.as_ref().is_none_or(|g| groups.contains(g))
            && self.max_duration.is_none_or(|max| duration <= max)
    }
}

/// The first rule the request meets, if any.
pub fn first_match<'a>(
    rules: &'a [AutoRule],
    groups: &[GroupId],
    duration: GrantDuration,
) -> Option<&'a AutoRule> {
    rules.iter().find(|r| r.holds(groups, duration))
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
            },
            AutoRule {
                group: None,
                max_duration: Some(GrantDuration::minutes(15)),
            },
        ];
        let two_h = GrantDuration::minutes(120);
        let four_h = GrantDuration::minutes(240);
        assert_eq!(
            first_match(&rules, std::slice::from_ref(&oncall), two_h),
            Some(&rules[0])
        );
        assert_eq!(first_match(&rules, &[oncall], four_h), None);
        assert_eq!(first_match(&rules, &[], two_h), None);
        assert_eq!(
            first_match(&rules, &[], GrantDuration::minutes(15)),
            Some(&rules[1])
        );
        assert_eq!(
            rules[0].describe(),
            "the requester is in <!subteam^S0ONCALL> and it is for 2h or less"
        );
    }
}
