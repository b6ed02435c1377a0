//! Which platform identity a Slack user is. An admin's link wins; otherwise a remembered link
//! that still names a present user; otherwise one found now, by email among the synced users
//! or by the connector's rule (e.g. the email's local part upper-cased), and remembered. When
//! nothing is found, a reviewer picks, as before.

use serde_json::json;

use super::{Workflow, WorkflowError};
use crate::audit::{self, Actor, Entry};
use crate::config::ConnectorKind;
use crate::domain::{ConnectorId, RequestId, SlackUserId, Status};
use crate::store::requests::Request;
use crate::store::{self, identities, links, links::Link, links::Method};

/// What an admin sees of one person: their links and the access they hold now.
#[derive(Debug, Clone)]
pub struct PersonAccess {
    pub links: Vec<Link>,
    pub active: Vec<store::requests::Request>,
}

impl Workflow {
    fn platform_connector(&self, name: &str) -> Result<ConnectorId, WorkflowError> {
        let platform = |k: &ConnectorKind| !matches!(k, ConnectorKind::Manual);
        let known = || {
            self.catalog
                .connectors
                .values()
                .filter(|c| platform(&c.kind))
                .map(|c| c.id.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        };
        match ConnectorId::parse(name.trim()) {
            Ok(id)
                if self
                    .catalog
                    .connectors
                    .get(&id)
                    .is_some_and(|c| platform(&c.kind)) =>
            {
                Ok(id)
            }
            _ => Err(WorkflowError::UnknownConnector {
                name: name.trim().to_owned(),
                known: known(),
            }),
        }
    }

    /// The user's identity on the connector, finding and remembering one if it can.
    pub async fn linked_identity(
        &self,
        user: &SlackUserId,
        connector: &ConnectorId,
    ) -> Result<Option<Link>, WorkflowError> {
        let c = self.db.reads();
        let existing = links::get(c, user.as_str(), connector.as_str()).await?;
        let config = self.catalog.connectors.get(connector);
        let mut remembered = None;
        if let Some(link) = existing {
            // An admin's word stands even before a sync has seen the user.
            if link.method == Method::Admin {
                return Ok(Some(link));
            }
            let present = !identities::users_named(c, connector.as_str(), &link.platform_id)
                .await?
                .is_empty();
            if present {
                remembered = Some(link);
            }
        }
        // With `domains`, a link found automatically holds only while the email is inside them
        // (one remembered before `domains` was set, or before the email changed, does not).
        let Some(config) = config.filter(|c| !c.link.domains.is_empty() || remembered.is_none())
        else {
            return Ok(remembered);
        };
        let Some(email) = self
            .directory
            .email_of(user)
            .await
            .map_err(WorkflowError::Directory)?
        else {
            return Ok(None);
        };
        if !config.link.admits(&email) {
            tracing::info!(connector = %connector, "not linking automatically: the email's domain is outside the connector's link domains");
            return Ok(None);
        }
        if remembered.is_some() {
            return Ok(remembered);
        }
        let by_email = identities::users_with_email(c, connector.as_str(), &email).await?;
        let found = if let [one] = by_email.as_slice() {
            Some((one.platform_id.clone(), Method::Email))
        } else if let Some(name) = config.link.derive(&email) {
            let named = identities::users_named(c, connector.as_str(), &name).await?;
            match named.as_slice() {
                [one] => Some((one.platform_id.clone(), Method::Rule)),
                // None, or ambiguous (one name on several MySQL hosts): a reviewer decides.
                _ => None,
            }
        } else {
            None
        };
        let Some((platform_id, method)) = found else {
            return Ok(None);
        };
        let link = Link {
            slack_user: user.to_string(),
            connector_id: connector.to_string(),
            platform_id,
            method,
            created_at: self.clock.now(),
            created_by: None,
        };
        self.save_link(&link, &Actor::System).await?;
        Ok(Some(link))
    }

    /// Remembers `link`, replacing the user's earlier one for its connector, with its
    /// `identity_linked` audit row (by `actor`) in the same transaction.
    async fn save_link(&self, link: &Link, actor: &Actor) -> Result<(), WorkflowError> {
        let now = link.created_at;
        let tx = self.db.begin().await?;
        links::set(
            &tx,
            &link.slack_user,
            &link.connector_id,
            &link.platform_id,
            link.method,
            link.created_by.as_deref(),
            now,
        )
        .await?;
        let details = json!({
            "user": link.slack_user,
            "connector": link.connector_id,
            "identity": link.platform_id,
            "method": link.method.as_str(),
        });
        audit::record(&tx, now, Entry::new(actor, "identity_linked", details)).await?;
        self.commit(tx, false).await
    }

    /// Writes `link`'s identity on an approved request whose access waits for its start (a
    /// request provisioned now gets it with its move to `provisioning`, in one transaction).
    pub(super) async fn settle_identity(
        &self,
        current: &Request,
        link: &Link,
    ) -> Result<(), WorkflowError> {
        let now = self.clock.now();
        let tx = self.db.begin().await?;
        if !store::requests::set_identity(&tx, current, &link.platform_id, now).await? {
            return Err(WorkflowError::Conflict(current.id));
        }
        audit::record(&tx, now, identity_linked_for(current.id, link)).await?;
        self.commit(tx, false).await
    }

    /// An admin links a person to a platform user, replacing any link found automatically.
    pub async fn link_identity(
        &self,
        by: &SlackUserId,
        user: &SlackUserId,
        connector: &str,
        platform_id: &str,
    ) -> Result<Link, WorkflowError> {
        self.require_admin(by).await?;
        let connector = self.platform_connector(connector)?;
        let platform_id = platform_id.trim();
        if platform_id.is_empty() || platform_id.len() > 255 {
            return Err(WorkflowError::BadIdentity);
        }
        let c = self.db.reads();
        // Once a connector has synced, only a user it listed can be linked: a typo would
        // otherwise surface as a failed grant much later.
        if identities::any_synced(c, connector.as_str()).await?
            && identities::users_named(c, connector.as_str(), platform_id)
                .await?
                .is_empty()
        {
            let suggestions = identities::search(c, platform_id, 20)
                .await?
                .into_iter()
                .filter(|i| i.connector_id == connector.as_str() && i.kind == "user")
                .map(|i| i.platform_id)
                .take(3)
                .collect();
            return Err(WorkflowError::UnknownIdentity {
                connector: connector.to_string(),
                identity: platform_id.to_owned(),
                suggestions,
            });
        }
        let link = Link {
            slack_user: user.to_string(),
            connector_id: connector.to_string(),
            platform_id: platform_id.to_owned(),
            method: Method::Admin,
            created_at: self.clock.now(),
            created_by: Some(by.to_string()),
        };
        self.save_link(&link, &Actor::User(by.clone())).await?;
        Ok(link)
    }

    /// An admin removes a person's link; the next request finds one again or asks a reviewer.
    pub async fn unlink_identity(
        &self,
        by: &SlackUserId,
        user: &SlackUserId,
        connector: &str,
    ) -> Result<bool, WorkflowError> {
        self.require_admin(by).await?;
        let connector = self.platform_connector(connector)?;
        let now = self.clock.now();
        let tx = self.db.begin().await?;
        let removed = links::remove(&tx, user.as_str(), connector.as_str()).await?;
        if removed {
            audit::record(
                &tx,
                now,
                Entry::new(
                    &Actor::User(by.clone()),
                    "identity_unlinked",
                    json!({ "user": user, "connector": connector }),
                ),
            )
            .await?;
        }
        self.commit(tx, false).await?;
        Ok(removed)
    }

    /// An admin looks at one person: links and current access.
    pub async fn person_access(
        &self,
        by: &SlackUserId,
        user: &SlackUserId,
    ) -> Result<PersonAccess, WorkflowError> {
        self.require_admin(by).await?;
        let c = self.db.reads();
        let links = links::of_user(c, user.as_str()).await?;
        let active = store::requests::list_by_requester(c, user)
            .await?
            .into_iter()
            .filter(|r| matches!(r.status, Status::Active | Status::Revoking))
            .collect();
        Ok(PersonAccess { links, active })
    }
}

/// The audit row of an approved request's identity settled from its requester's link.
pub(super) fn identity_linked_for(id: RequestId, link: &Link) -> Entry<'static> {
    const SYSTEM: &Actor = &Actor::System;
    Entry::new(
        SYSTEM,
        "identity_chosen",
        json!({ "identity": link.platform_id, "linked_by": link.method.as_str() }),
    )
    .about(id)
}
