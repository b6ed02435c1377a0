//! Questions about access: `/access-check @user RESOURCE`, a DM to the bot, or a mention in a
//! channel. Answers in a channel are ephemeral (only the asker sees who has what); in a DM
//! they are posted in the DM. Answering may wait for a platform, so it happens after the ack.

use serde_json::Value;

use super::{Malformed, say, str_at, user_at};
use crate::domain::SlackUserId;
use crate::domain::question::{self, EXAMPLES, Question, Subject};
use crate::slack::answers::{Style, model_words, render};
use crate::slack::context::SlackContext;
use crate::slack::views::note;
use crate::workflow::Asker;

/// What someone who asked something Gatehouse did not understand is told.
fn help(text: &str) -> String {
    let forms: Vec<String> = EXAMPLES.iter().map(|e| format!("• _{e}_")).collect();
    format!(
        "I did not understand “{}”. I can answer questions like:\n{}\nor `/access-check @person RESOURCE`.",
        crate::slack::views::escape(text.trim()),
        forms.join("\n")
    )
}

/// The answer to a question in words, or why there is none.
pub async fn answer_text(ctx: &SlackContext, asker: &SlackUserId, text: &str) -> String {
    if let Some(wait) = ctx.questions.ask(asker) {
        return wait;
    }
    let question = match question::parse(text, Some(&ctx.bot_user)) {
        Ok(q) => q,
        Err(_) => match &ctx.ask {
            // Free-form questions go to the language model, which can only call our tools.
            Some(llm) => {
                let tools = crate::ask::tools::WorkflowTools {
                    workflow: &ctx.workflow,
                    asker: Asker::Slack(asker.clone()),
                };
                // The model's words (and an error quoting its server) are text like any
                // other: escaped, never read as Slack markup.
                return match llm.answer(asker.as_str(), text, &tools).await {
                    Ok(answer) => model_words(&answer),
                    Err(e) => format!("{}\n\n{}", model_words(&e.to_string()), help(text)),
                };
            }
            None => return help(text),
        },
    };
    answer_question(ctx, asker, &question).await
}

pub async fn answer_question(ctx: &SlackContext, asker: &SlackUserId, q: &Question) -> String {
    match ctx.workflow.answer(&Asker::Slack(asker.clone()), q).await {
        Ok(a) => render(&a, Style::Slack),
        Err(e) => say(&e),
    }
}

/// `/access-check @user RESOURCE` (or just `RESOURCE`, about yourself): parsed here, answered
/// ephemerally once the platform has been asked.
pub fn parse_check(text: &str) -> Option<Question> {
    let words: Vec<&str> = text.split_whitespace().collect();
    let (who, resource) = match words.as_slice() {
        [one] => (Subject::Me, *one),
        [who, resource] => match who.strip_prefix("<@") {
            Some(rest) => {
                let id = rest.strip_suffix('>')?.split('|').next()?;
                (Subject::User(SlackUserId::parse(id).ok()?), *resource)
            }
            // A platform user's name or email, resolved through the links.
            None => (Subject::Named((*who).to_owned()), *resource),
        },
        _ => return None,
    };
    Some(Question::Check {
        who,
        resource: resource.to_owned(),
    })
}

pub fn check_usage() -> String {
    "Ask `/access-check @person RESOURCE` (or `/access-check RESOURCE` about yourself), or DM me a question like “who can read analytics-ro?”".into()
}

/// After the ack: answers `/access-check` to the asker alone, through the command's
/// `response_url`, which reaches them wherever they asked (a DM between two people, a private
/// channel Gatehouse is not in); `chat.postEphemeral` only if that URL is refused.
pub async fn access_check(
    ctx: &SlackContext,
    user: &SlackUserId,
    channel: &str,
    response_url: &str,
    q: &Question,
) {
    let text = match ctx.questions.ask(user) {
        Some(wait) => wait,
        None => answer_question(ctx, user, q).await,
    };
    match ctx.api.respond(response_url, &note(&text)).await {
        Ok(()) => {}
        Err(e) => {
            tracing::warn!(error = %e, "could not answer /access-check through its response_url");
            answer_privately(ctx, channel, user, &text).await;
        }
    }
}

/// Shows an answer in `channel` to `user` alone: who has what is not for the whole channel.
async fn answer_privately(ctx: &SlackContext, channel: &str, user: &SlackUserId, text: &str) {
    if let Err(e) = ctx
        .api
        .post_ephemeral(channel, user.as_str(), &note(text))
        .await
    {
        tracing::warn!(error = %e, "could not show an access answer");
    }
}

/// A message in the bot's DM: a question, answered in the DM.
pub async fn direct_message(ctx: &SlackContext, event: &Value) -> Result<(), Malformed> {
    // The bot's own posts, edits and joins come as messages too.
    if event.get("bot_id").is_some() || event.get("subtype").is_some() {
        return Ok(());
    }
    let user = user_at(event, "/user")?;
    if user.as_str() == ctx.bot_user {
        return Ok(());
    }
    let channel = str_at(event, "/channel")?;
    let text = str_at(event, "/text")?;
    let answer = answer_text(ctx, &user, text).await;
    if let Err(e) = ctx.api.post_message(channel, &note(&answer), None).await {
        tracing::warn!(error = %e, "could not answer a DM");
    }
    Ok(())
}

/// `@Gatehouse does @maria have access to …?` in a channel: answered to the asker alone.
pub async fn app_mention(ctx: &SlackContext, event: &Value) -> Result<(), Malformed> {
    let user = user_at(event, "/user")?;
    let channel = str_at(event, "/channel")?;
    let text = str_at(event, "/text")?;
    let answer = answer_text(ctx, &user, text).await;
    answer_privately(ctx, channel, &user, &answer).await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_command_takes_a_person_and_a_resource_or_just_a_resource() {
        assert_eq!(
            parse_check("<@UMARIA|maria> finance"),
            Some(Question::Check {
                who: Subject::User(SlackUserId::parse("UMARIA").unwrap()),
                resource: "finance".into()
            })
        );
        assert_eq!(
            parse_check("finance"),
            Some(Question::Check {
                who: Subject::Me,
                resource: "finance".into()
            })
        );
        assert_eq!(
            parse_check("maria finance"),
            Some(Question::Check {
                who: Subject::Named("maria".into()),
                resource: "finance".into()
            })
        );
        for bad in ["", "<@UMARIA> a b", "<@lower> finance"] {
            assert_eq!(parse_check(bad), None, "{bad}");
        }
    }
}
