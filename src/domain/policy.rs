//! Who may do what to a request. Callers resolve the facts (reviewers, admins, group
//! memberships); these functions only decide.

use super::ids::{GroupId, Principal, ResourceId, SlackUserId};

/// A person acting, with the Slack user groups they belong to.
#[derive(Debug, Clone, Copy)]
pub struct Who<'a> {
    pub user: &'a SlackUserId,
    pub groups: &'a [GroupId],
}

impl Who<'_> {
    pub fn is_in(&self, principals: &[Principal]) -> bool {
        principals.iter().any(|p| match p {
            Principal::User(u) => u == self.user,
            Principal::Group(g) => self.groups.contains(g),
        })
    }
}

/// Why someone may not do what they tried, worded for them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("you cannot approve or deny your own request; a reviewer of {0} has to")]
    OwnRequest(ResourceId),
    /// `who`: the reviewers in words, so the person refused knows whom to ask.
    #[error("only a reviewer of {resource} ({who}) can approve or deny this request")]
    NotReviewer { resource: ResourceId, who: String },
    #[error("a reviewer of {0} chooses the account your own request is granted to, not you")]
    OwnIdentityChoice(ResourceId),
    #[error("only a reviewer of {0} or an admin can choose the account this access is granted to")]
    CannotChooseIdentity(ResourceId),
    #[error("you cannot extend your own access to {0}; a reviewer decides your ask for more time")]
    OwnExtension(ResourceId),
    #[error("only a Gatehouse admin can do that")]
    NotAdmin,
    #[error("only the person who asked for this access can do that")]
    NotRequester,
    #[error("only the person who holds this access, a reviewer of {0} or an admin can end it")]
    CannotEnd(ResourceId),
    #[error("you can ask about your own access; asking about other people is for {0}")]
    AskOnlyAboutYourself(&'static str),
    #[error("guests cannot decide on requests or access; a full member of the workspace has to")]
    Guest,
    #[error("a deactivated account cannot decide on requests or access")]
    Deactivated,
    #[error(
        "people from another organisation (Slack Connect) cannot decide on requests or access; a full member of the workspace has to"
    )]
    External,
    #[error("bots and app accounts cannot decide on requests or access; a person has to")]
    Bot,
    /// Break-glass skips the reviewers, so only full members may use it. The words name the
    /// kind of account (`Membership::describe`).
    #[error(
        "break-glass access is only for full members of the workspace, and yours is {0}; ask for {1} the usual way with /request-access {1} and a reviewer will decide"
    )]
    BreakGlassMembersOnly(&'static str, ResourceId),
    #[error("only {who} may ask for {resource}; ask one of them, or an admin, if you need it")]
    NotARequester { resource: ResourceId, who: String },
    #[error("you have already approved this request; another reviewer has to")]
    AlreadyApproved,
    #[error("this request is waiting for step {step} of its approval, which is for {who}")]
    NotThisStage { step: usize, who: String },
}

/// Who may ask Gatehouse about other people's access (everyone may ask about themselves).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AskAboutOthers {
    /// Reviewers, about the resources they review, and admins about everything.
    #[default]
    Reviewers,
    /// Admins only.
    Admins,
    /// Anyone.
    Everyone,
}

impl AskAboutOthers {
    /// Who may ask about others, in words for a refusal.
    pub fn who(self) -> &'static str {
        match self {
            AskAboutOthers::Reviewers => "the resource's reviewers and admins",
            AskAboutOthers::Admins => "admins",
            AskAboutOthers::Everyone => "everyone",
        }
    }
}

/// May `who` ask about `subject`'s access to a resource reviewed by `reviewers` (None: about
/// all their access, answered resource by resource)?
pub fn may_ask_about(
    who: Who<'_>,
    subject: Option<&SlackUserId>,
    reviewers: Option<&[Principal]>,
    admins: &[Principal],
    rule: AskAboutOthers,
) -> Result<(), Refusal> {
    if subject == Some(who.user) || who.is_in(admins) {
        return Ok(());
    }
    let allowed = match rule {
        AskAboutOthers::Everyone => true,
        AskAboutOthers::Admins => false,
        AskAboutOthers::Reviewers => reviewers.is_none_or(|r| who.is_in(r)),
    };
    if allowed {
        Ok(())
    } else {
        Err(Refusal::AskOnlyAboutYourself(rule.who()))
    }
}

/// Approve or deny: a reviewer of the resource, never the requester (even a reviewer).
pub fn may_review(
    who: Who<'_>,
    requester: &SlackUserId,
    resource: &ResourceId,
    reviewers: &[Principal],
) -> Result<(), Refusal> {
    if who.user == requester {
        return Err(Refusal::OwnRequest(resource.clone()));
    }
    if !who.is_in(reviewers) {
        return Err(Refusal::NotReviewer {
            resource: resource.clone(),
            who: in_words(reviewers, "or"),
        });
    }
    Ok(())
}

/// A person or a group as Slack shows them in a refusal.
fn named(p: &Principal) -> String {
    match p {
        Principal::User(u) => format!("<@{u}>"),
        Principal::Group(g) => format!("the members of <!subteam^{g}>"),
    }
}

/// People and groups as Slack shows them, joined by `and_or` before the last: "<@U1>, <@U2> or
/// the members of <!subteam^S1>"; "nobody yet" for none.
pub fn in_words(principals: &[Principal], and_or: &str) -> String {
    let names: Vec<String> = principals.iter().map(named).collect();
    match names.as_slice() {
        [] => "nobody yet".to_owned(),
        [one] => one.clone(),
        [rest @ .., last] => format!("{} {and_or} {last}", rest.join(", ")),
    }
}

/// Ask for a resource: anyone when it names no `requesters`, else only those people and the
/// members of those groups.
pub fn may_ask_for(
    who: Who<'_>,
    resource: &ResourceId,
    requesters: &[Principal],
) -> Result<(), Refusal> {
    if requesters.is_empty() || who.is_in(requesters) {
        return Ok(());
    }
    let names: Vec<String> = requesters.iter().map(named).collect();
    Err(Refusal::NotARequester {
        resource: resource.clone(),
        who: names.join(", "),
    })
}

/// Manage reviewers and the channel, retry failed jobs: admins only.
pub fn may_administer(who: Who<'_>, admins: &[Principal]) -> Result<(), Refusal> {
    if who.is_in(admins) {
        Ok(())
    } else {
        Err(Refusal::NotAdmin)
    }
}

/// Cancel a pending request or extend one's own access: the requester.
pub fn may_act_as_requester(user: &SlackUserId, requester: &SlackUserId) -> Result<(), Refusal> {
    if user == requester {
        Ok(())
    } else {
        Err(Refusal::NotRequester)
    }
}

/// End access early: the holder relinquishes, or a reviewer or admin revokes.
pub fn may_end_access(
    who: Who<'_>,
    requester: &SlackUserId,
    resource: &ResourceId,
    reviewers: &[Principal],
    admins: &[Principal],
) -> Result<(), Refusal> {
    if who.user == requester || who.is_in(reviewers) || who.is_in(admins) {
        Ok(())
    } else {
        Err(Refusal::CannotEnd(resource.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> SlackUserId {
        SlackUserId::parse(s).unwrap()
    }

    #[test]
    fn reviewers_approve_but_never_their_own_request() {
        let res = ResourceId::parse("analytics").unwrap();
        let (alice, bob, carol) = (u("UALICE"), u("UBOB"), u("UCAROL"));
        let reviewers = vec![Principal::User(bob.clone()), Principal::User(alice.clone())];
        // Alice asked; Bob and Alice are reviewers, Carol is not.
        for (user, answer) in [
            (&bob, Ok(())),
            (&alice, Err(Refusal::OwnRequest(res.clone()))),
            (
                &carol,
                Err(Refusal::NotReviewer {
                    resource: res.clone(),
                    who: "<@UBOB> or <@UALICE>".into(),
                }),
            ),
        ] {
            let who = Who { user, groups: &[] };
            assert_eq!(may_review(who, &alice, &res, &reviewers), answer, "{user}");
        }
    }

    #[test]
    fn group_membership_makes_a_reviewer() {
        let res = ResourceId::parse("analytics").unwrap();
        let group = GroupId::parse("SDATA").unwrap();
        let dave = u("UDAVE");
        let groups = [group.clone()];
        let who = Who {
            user: &dave,
            groups: &groups,
        };
        assert_eq!(
            may_review(who, &u("UALICE"), &res, &[Principal::Group(group)]),
            Ok(())
        );
    }

    #[test]
    fn only_the_named_requesters_may_ask_when_a_resource_names_them() {
        let res = ResourceId::parse("payroll").unwrap();
        let (alice, eve) = (u("UALICE"), u("UEVE"));
        let group = GroupId::parse("SFINANCE").unwrap();
        let who = |user, groups| Who { user, groups };
        assert_eq!(may_ask_for(who(&eve, &[]), &res, &[]), Ok(()));
        let requesters = [
            Principal::User(alice.clone()),
            Principal::Group(group.clone()),
        ];
        assert_eq!(may_ask_for(who(&alice, &[]), &res, &requesters), Ok(()));
        assert_eq!(
            may_ask_for(who(&eve, std::slice::from_ref(&group)), &res, &requesters),
            Ok(())
        );
        let refused = may_ask_for(who(&eve, &[]), &res, &requesters).unwrap_err();
        assert_eq!(
            refused.to_string(),
            "only <@UALICE>, the members of <!subteam^SFINANCE> may ask for payroll; ask one of them, or an admin, if you need it"
        );
    }

    #[test]
    fn admins_and_holders_may_end_access() {
        let res = ResourceId::parse("analytics").unwrap();
        let (alice, admin, eve) = (u("UALICE"), u("UADMIN"), u("UEVE"));
        let admins = [Principal::User(admin.clone())];
        let who = |user| Who { user, groups: &[] };
        assert!(may_end_access(who(&alice), &alice, &res, &[], &admins).is_ok());
        assert!(may_end_access(who(&admin), &alice, &res, &[], &admins).is_ok());
        assert_eq!(
            may_end_access(who(&eve), &alice, &res, &[], &admins),
            Err(Refusal::CannotEnd(res.clone()))
        );
        assert_eq!(may_administer(who(&eve), &admins), Err(Refusal::NotAdmin));
        assert_eq!(
            may_act_as_requester(&eve, &alice),
            Err(Refusal::NotRequester)
        );
    }
}
