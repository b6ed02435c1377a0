//! `/access-check` is answered to the asker wherever they asked, through the command's
//! `response_url`: in a DM between two people, which Gatehouse is not in and where
//! `chat.postEphemeral` cannot reach them (slack-sim refuses it there, as Slack does).

use crate::support::scenario::in_slack_on_sqlite;
use crate::support::slack::{SlackTestApp, eventually};

#[tokio::test]
async fn access_check_in_a_dm_between_two_people_is_answered_there_to_the_asker_alone() {
    in_slack_on_sqlite(SlackTestApp::start, async |t| {
        t.granted("UALICE", "analytics-ro 8h quarterly report", 1, "UBOB")
            .await;

        let dm = t.sim.dm_between("UBOB", "UDAVE");
        t.sim
            .slash_command("UBOB", &dm, "/access-check", "<@UALICE|alice> analytics-ro")
            .await
            .unwrap();
        let answer = eventually("the answer in their DM", 30, || async {
            t.sim
                .ephemerals("UBOB")
                .into_iter()
                .find(|e| e.channel == dm)
        })
        .await;
        assert_eq!(answer.source, "response_url");
        assert!(
            answer
                .text
                .starts_with("✅ Yes: <@UALICE> has access to *Analytics (read-only)*"),
            "{}",
            answer.text
        );
        // Who has what is for the asker: Dave, in the same DM, sees nothing.
        assert!(t.sim.ephemerals("UDAVE").is_empty());
        // Nothing was posted there for everyone, nor attempted through chat.postEphemeral.
        assert!(t.sim.messages(&dm).is_empty());
        assert!(t.sim.api_calls_of("chat.postEphemeral").is_empty());
    })
    .await;
}
