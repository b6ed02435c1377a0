//! Approval policies: one or more stages, each needing any one, all, or N of a reviewer set.
//!
//! The workflow resolves who can approve each stage (user groups expanded; the requester,
//! guests and deactivated users left out) and records approvals; these functions only decide
//! where a request stands and whether one more approval counts.

use serde::Deserialize;

use super::ids::{Principal, SlackUserId};
use super::policy::Refusal;

/// How many of a stage's reviewers must approve.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Need {
    /// Any one of them.
    Any,
    /// Every one of them (as resolved when the request is reviewed).
    All,
    /// At least this many different people.
    AtLeast(u32),
}

impl Need {
    /// The stage can be met by `eligible` people at most; why not when it cannot.
    pub fn check_reachable(self, eligible: usize) -> Result<(), String> {
        match self {
            Need::AtLeast(0) => Err("needs 0 approvals; write 1 or more, or \"any\"".into()),
            Need::AtLeast(n) if n as usize > eligible => Err(format!(
                "needs {n} approvals but only {eligible} {} can approve; lower the number or add reviewers",
                people(eligible)
            )),
            Need::Any | Need::All | Need::AtLeast(_) if eligible == 0 => {
                Err("has nobody who can approve; add reviewers".into())
            }
            _ => Ok(()),
        }
    }

    /// How many approvals the stage needs from a set of `eligible` people.
    pub fn count(self, eligible: usize) -> usize {
        match self {
            Need::Any => 1,
            Need::All => eligible.max(1),
            Need::AtLeast(n) => n as usize,
        }
    }
}

fn people(n: usize) -> &'static str {
    if n == 1 { "person" } else { "people" }
}

impl std::fmt::Display for Need {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Need::Any => write!(f, "any one"),
            Need::All => write!(f, "all"),
            Need::AtLeast(n) => write!(f, "{n}"),
        }
    }
}

/// `need = "any" | "all" | 2` in the catalog.
impl<'de> Deserialize<'de> for Need {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Word(String),
            Number(i64),
        }
        match Raw::deserialize(d)? {
            Raw::Word(w) if w == "any" => Ok(Need::Any),
            Raw::Word(w) if w == "all" => Ok(Need::All),
            Raw::Number(n) if n >= 1 && n <= i64::from(u32::MAX) => Ok(Need::AtLeast(n as u32)),
            Raw::Word(w) => Err(serde::de::Error::custom(format!(
                "`{w}` is not a number of approvals; write \"any\", \"all\" or a number like 2"
            ))),
            Raw::Number(n) => Err(serde::de::Error::custom(format!(
                "{n} approvals cannot be met; write \"any\", \"all\" or a number of 1 or more"
            ))),
        }
    }
}

/// One stage of a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    pub reviewers: Vec<Principal>,
    pub need: Need,
}

/// An approval given by someone, and the stage it counted toward.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Given {
    pub user: SlackUserId,
    pub stage: usize,
}

/// Where a request stands in its policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Standing {
    /// Waiting on `stage` (0-based): who approved it so far, and how many more it needs.
    Waiting {
        stage: usize,
        approved: Vec<SlackUserId>,
        more: usize,
    },
    /// Every stage is met.
    Met,
}

/// Where a request stands, given the approvals so far and, per stage, who can approve it.
pub fn standing(stages: &[Stage], eligible: &[Vec<SlackUserId>], given: &[Given]) -> Standing {
    for (i, stage) in stages.iter().enumerate() {
        let approved: Vec<SlackUserId> = given
            .iter()
            .filter(|g| g.stage == i)
            .map(|g| g.user.clone())
            .collect();
        let can = eligible.get(i).map(Vec::as_slice).unwrap_or(&[]);
        let met = match stage.need {
            Need::All => !can.is_empty() && can.iter().all(|u| approved.contains(u)),
            need => approved.len() >= need.count(can.len()),
        };
        if !met {
            let more = match stage.need {
                Need::All => can.iter().filter(|u| !approved.contains(u)).count().max(1),
                need => need.count(can.len()).saturating_sub(approved.len()),
            };
            return Standing::Waiting {
                stage: i,
                approved,
                more,
            };
        }
    }
    Standing::Met
}

/// Whether `user`'s approval counts toward the stage the request is waiting on. A person's
/// approval counts once per request, whichever stage it went to.
pub fn counts(
    standing: &Standing,
    eligible: &[Vec<SlackUserId>],
    given: &[Given],
    user: &SlackUserId,
    stage_reviewers: impl Fn(usize) -> String,
) -> Result<usize, Refusal> {
    if given.iter().any(|g| &g.user == user) {
        return Err(Refusal::AlreadyApproved);
    }
    let Standing::Waiting { stage, .. } = standing else {
        return Err(Refusal::AlreadyApproved);
    };
    let can = eligible.get(*stage).map(Vec::as_slice).unwrap_or(&[]);
    if can.contains(user) {
        Ok(*stage)
    } else {
        Err(Refusal::NotThisStage {
            step: stage + 1,
            who: stage_reviewers(*stage),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u(s: &str) -> SlackUserId {
        SlackUserId::parse(&format!("U0{s}")).unwrap()
    }
    fn users(v: &[&str]) -> Vec<SlackUserId> {
        v.iter().map(|s| u(s)).collect()
    }
    fn stage(need: Need) -> Stage {
        Stage {
            reviewers: vec![],
            need,
        }
    }
    fn given(user: &str, stage: usize) -> Given {
        Given {
            user: u(user),
            stage,
        }
    }

    /// The stage a request waits on and how many more approvals it needs; None once met.
    fn waits(s: &Standing) -> Option<(usize, usize)> {
        match s {
            Standing::Waiting { stage, more, .. } => Some((*stage, *more)),
            Standing::Met => None,
        }
    }

    #[test]
    fn two_stages_an_all_of_then_two_of_three() {
        let stages = [stage(Need::All), stage(Need::AtLeast(2))];
        let eligible = [users(&["UA", "UB"]), users(&["UC", "UD", "UE"])];
        let mut g = vec![];
        let s = standing(&stages, &eligible, &g);
        assert_eq!(
            s,
            Standing::Waiting {
                stage: 0,
                approved: vec![],
                more: 2
            }
        );
        // Someone of the second stage cannot jump the queue.
        let err = counts(&s, &eligible, &g, &u("UC"), |_| "A and B".into()).unwrap_err();
        assert_eq!(
            err,
            Refusal::NotThisStage {
                step: 1,
                who: "A and B".into()
            }
        );

        // One approval counted toward the stage `s` waits on, and where the request then stands.
        let approve = |g: &mut Vec<Given>, s: &Standing, who: &str| {
            let counted = counts(s, &eligible, g, &u(who), |_| String::new()).unwrap();
            g.push(given(who, counted));
            standing(&stages, &eligible, g)
        };
        let s = approve(&mut g, &s, "UA");
        assert_eq!(waits(&s), Some((0, 1)), "{s:?}");
        let s = approve(&mut g, &s, "UB");
        assert_eq!(waits(&s), Some((1, 2)), "{s:?}");

        // The same reviewer twice counts once.
        let s = approve(&mut g, &s, "UC");
        assert_eq!(
            counts(&s, &eligible, &g, &u("UC"), |_| String::new()),
            Err(Refusal::AlreadyApproved)
        );
        // A first-stage approver cannot count again in the second stage.
        assert_eq!(
            counts(&s, &eligible, &g, &u("UA"), |_| String::new()),
            Err(Refusal::AlreadyApproved)
        );
        assert_eq!(waits(&s), Some((1, 1)), "{s:?}");
        assert_eq!(approve(&mut g, &s, "UE"), Standing::Met);
    }

    #[test]
    fn any_one_is_met_by_one_approval() {
        let stages = [stage(Need::Any)];
        let eligible = [users(&["UA", "UB"])];
        assert_eq!(
            standing(&stages, &eligible, &[given("UB", 0)]),
            Standing::Met
        );
    }

    #[test]
    fn a_stage_that_can_never_be_met_says_why() {
        let err = Need::AtLeast(3).check_reachable(2).unwrap_err();
        assert!(err.contains("needs 3 approvals but only 2 people"), "{err}");
        assert!(Need::All.check_reachable(0).is_err());
        assert!(Need::Any.check_reachable(0).is_err());
        assert!(Need::AtLeast(2).check_reachable(2).is_ok());
    }

    #[test]
    fn need_reads_words_and_numbers_and_refuses_the_rest() {
        #[derive(Deserialize)]
        struct T {
            need: Need,
        }
        let read = |s: &str| toml::from_str::<T>(s).map(|t| t.need);
        assert_eq!(read("need = \"any\"").unwrap(), Need::Any);
        assert_eq!(read("need = \"all\"").unwrap(), Need::All);
        assert_eq!(read("need = 2").unwrap(), Need::AtLeast(2));
        let err = read("need = 0").unwrap_err().to_string();
        assert!(err.contains("0 approvals cannot be met"), "{err}");
        let err = read("need = \"most\"").unwrap_err().to_string();
        assert!(err.contains("`most` is not a number of approvals"), "{err}");
    }
}
