//! The catalog's model: what `gatehouse.toml` means once read and checked. The connector kinds
//! and each platform's settings, `ConnectorConfig`, `Resource` and its policies (`OnDrift`,
//! `AutoApprovedPosting`, `BreakGlass`), on-call schedules, `Catalog` and its queries, and the
//! built-in defaults.
//!
//! Plain data and questions about it: it must not read files or TOML (that is `read`) nor judge
//! what was written (that is `check`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::super::link::Link;
use crate::config::SecretRef;
use crate::domain::approval::Stage;
use crate::domain::auto_approval::AutoRule;
use crate::domain::{
    ConnectorId, DurationRules, GrantDuration, Principal, ResourceId, Unit, UnitKind,
};

/// The platform a connector talks to, with its settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectorKind {
    /// No platform: an admin does the change by hand when Gatehouse asks, and confirms it.
    Manual,
    /// A PostgreSQL server; access is role membership. `url` names the connection secret.
    Postgres { url: SecretRef },
    /// A MySQL or MariaDB server; access is a role granted to an account.
    Mysql { url: SecretRef },
    /// An Amazon Redshift cluster over the PostgreSQL wire protocol; access is a role or a group.
    Redshift { url: SecretRef },
    /// A Snowflake account through the SQL API v2 with key-pair authentication; access is a role.
    Snowflake(SnowflakeSettings),
    /// A Looker instance through API 4.0; access is group membership.
    Looker(ApiSettings),
    /// A Tableau Server or Cloud site through the REST API with a personal access token; access
    /// is group membership.
    Tableau(TableauSettings),
    /// A Sigma organisation through its REST API; access is team membership.
    Sigma(ApiSettings),
    /// Google BigQuery with a service-account key; access is an entry in a dataset's access list
    /// or a role in a table's IAM policy.
    Bigquery(BigquerySettings),
    /// A Databricks workspace; access is group membership (SCIM) or Unity Catalog read access to a table.
    Databricks(DatabricksSettings),
    /// Power BI with an Entra app (client credentials); access is a workspace role.
    Powerbi(PowerbiSettings),
}

/// How Gatehouse reaches BigQuery and the Google Workspace directory.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BigquerySettings {
    /// The service account's JSON key (with `client_email`, `private_key`, `token_uri`).
    pub key: SecretRef,
    /// A Workspace admin the service account acts as (domain-wide delegation) to list users
    /// from the Admin SDK Directory; without it, no identities are listed.
    pub directory_admin: Option<String>,
    /// The Directory customer (default `my_customer`).
    pub customer: Option<String>,
    /// Overrides `https://bigquery.googleapis.com`.
    pub api_url: Option<String>,
    /// Overrides `https://admin.googleapis.com`.
    pub directory_url: Option<String>,
}

/// How Gatehouse reaches a Databricks workspace: a token, or OAuth machine-to-machine.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DatabricksSettings {
    /// The workspace URL, e.g. `https://adb-1234567890123456.7.azuredatabricks.net`.
    pub host: String,
    /// A personal access token or a service principal's token.
    pub token: Option<SecretRef>,
    /// A service principal's OAuth client id (with `client_secret`), instead of `token`.
    pub client_id: Option<String>,
    pub client_secret: Option<SecretRef>,
}

/// How Gatehouse reaches Power BI and Microsoft Graph.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowerbiSettings {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: SecretRef,
    /// Overrides `https://login.microsoftonline.com`.
    pub authority_url: Option<String>,
    /// Overrides `https://api.powerbi.com`.
    pub api_url: Option<String>,
    /// Overrides `https://graph.microsoft.com`.
    pub graph_url: Option<String>,
}

/// A REST platform reached with a client id and secret (Looker, Sigma).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiSettings {
    /// The instance or cloud's API base, e.g. `https://acme.cloud.looker.com` or
    /// `https://aws-api.sigmacomputing.com`.
    pub base_url: String,
    pub client_id: String,
    pub client_secret: SecretRef,
}

/// How Gatehouse signs in to a Tableau site.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableauSettings {
    /// The server or Cloud pod, e.g. `https://10ax.online.tableau.com`.
    pub base_url: String,
    /// The site's content URL (`""` for the default site).
    pub site: String,
    /// The REST API version, e.g. `3.24`.
    pub api_version: String,
    pub token_name: String,
    pub token_secret: SecretRef,
}

/// How Gatehouse reaches a Snowflake account.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SnowflakeSettings {
    /// The account identifier (`orgname-account` or the locator), as in its URL.
    pub account: String,
    /// The service user whose RSA public key is registered (`RSA_PUBLIC_KEY`).
    pub user: String,
    /// The user's PKCS#8 private key (PEM), by reference.
    pub private_key: SecretRef,
    /// The role the statements run as; it needs MANAGE GRANTS or ownership of the granted roles.
    pub role: Option<String>,
    pub warehouse: Option<String>,
    /// Overrides `https://<account>.snowflakecomputing.com` (a proxy, or a local fake in tests).
    pub base_url: Option<String>,
}

impl ConnectorKind {
    pub fn name(&self) -> &'static str {
        match self {
            ConnectorKind::Manual => "manual",
            ConnectorKind::Postgres { .. } => "postgres",
            ConnectorKind::Mysql { .. } => "mysql",
            ConnectorKind::Redshift { .. } => "redshift",
            ConnectorKind::Snowflake(_) => "snowflake",
            ConnectorKind::Looker(_) => "looker",
            ConnectorKind::Tableau(_) => "tableau",
            ConnectorKind::Sigma(_) => "sigma",
            ConnectorKind::Bigquery(_) => "bigquery",
            ConnectorKind::Databricks(_) => "databricks",
            ConnectorKind::Powerbi(_) => "powerbi",
        }
    }

    /// What the connector changes, for people reading App Home.
    pub fn describe(&self) -> &'static str {
        match self {
            ConnectorKind::Manual => "changes are made by hand by an admin",
            ConnectorKind::Postgres { .. } => "role memberships on a PostgreSQL server",
            ConnectorKind::Mysql { .. } => "roles on a MySQL or MariaDB server",
            ConnectorKind::Redshift { .. } => "roles and groups on an Amazon Redshift cluster",
            ConnectorKind::Snowflake(_) => "roles in a Snowflake account",
            ConnectorKind::Looker(_) => "group memberships on a Looker instance",
            ConnectorKind::Tableau(_) => "group memberships on a Tableau site",
            ConnectorKind::Sigma(_) => {
                "team memberships and document grants in a Sigma organisation"
            }
            ConnectorKind::Bigquery(_) => "dataset access entries and table roles in BigQuery",
            ConnectorKind::Databricks(_) => {
                "group memberships and Unity Catalog table reads in a Databricks workspace"
            }
            ConnectorKind::Powerbi(_) => "workspace roles in Power BI",
        }
    }

    /// The units of access this platform's connector grants.
    pub fn units(&self) -> &'static [UnitKind] {
        match self {
            ConnectorKind::Manual => &[UnitKind::Task],
            ConnectorKind::Postgres { .. }
            | ConnectorKind::Mysql { .. }
            | ConnectorKind::Snowflake(_) => &[UnitKind::Role],
            ConnectorKind::Redshift { .. } => &[UnitKind::Role, UnitKind::Group],
            ConnectorKind::Looker(_) | ConnectorKind::Tableau(_) => &[UnitKind::Group],
            ConnectorKind::Databricks(_) => &[UnitKind::Group, UnitKind::Table],
            ConnectorKind::Bigquery(_) => &[UnitKind::Dataset, UnitKind::TableRole],
            ConnectorKind::Sigma(_) => &[UnitKind::Group, UnitKind::Document],
            ConnectorKind::Powerbi(_) => &[UnitKind::WorkspaceRole],
        }
    }

    /// Calls a second the platform is sent when the catalog does not say.
    pub(super) fn default_rate(&self) -> u32 {
        match self {
            ConnectorKind::Manual => 1,
            ConnectorKind::Postgres { .. } | ConnectorKind::Mysql { .. } => 20,
            ConnectorKind::Redshift { .. } => 10,
            // Snowflake publishes no limit but answers 429 under bursts; stay gentle.
            ConnectorKind::Snowflake(_) => 5,
            ConnectorKind::Looker(_) | ConnectorKind::Tableau(_) => 10,
            // Sigma's token endpoint allows one call a second; the rest is unpublished.
            ConnectorKind::Sigma(_) => 5,
            // BigQuery allows 5 metadata updates per 10 s per dataset.
            ConnectorKind::Bigquery(_) => 5,
            ConnectorKind::Databricks(_) | ConnectorKind::Powerbi(_) => 10,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectorConfig {
    pub id: ConnectorId,
    pub kind: ConnectorKind,
    /// The most calls a second Gatehouse sends this platform (`rate_per_second`).
    pub rate_per_second: std::num::NonZeroU32,
    /// How Slack users are linked to this platform's users (`link`), and from which email
    /// domains.
    pub link: Link,
    /// Where requests for this connector's resources are posted, when not the default channel.
    pub channel: Option<String>,
}

/// Something people can ask access to.
#[derive(Debug, Clone, PartialEq)]
pub struct Resource {
    pub id: ResourceId,
    pub name: String,
    pub description: Option<String>,
    pub connector: ConnectorId,
    /// What the connector grants: a role, a group, or a task done by hand.
    pub grant: Unit,
    pub reviewers: Vec<Principal>,
    /// Who may ask for it (people and user groups); empty: anyone. Admins' direct grants are
    /// not bound by it.
    pub requesters: Vec<Principal>,
    pub durations: DurationRules,
    pub reason_required: bool,
    /// How long before expiry the holder is reminded (at most half the grant).
    pub remind_before: GrantDuration,
    /// How long a request may wait for a review before it lapses.
    pub lapse_after: GrantDuration,
    /// What reconciliation does when access Gatehouse granted is missing on the platform.
    pub on_drift: OnDrift,
    /// The approval stages, in order; empty means one stage: any one of `reviewers`.
    pub approval: Vec<Stage>,
    /// Where its requests are posted (its own `channel`, else its connector's); None: the
    /// Access Requests channel.
    pub channel: Option<String>,
    /// Rules under which a request is approved without a reviewer; any one rule suffices.
    pub auto_approve: Vec<AutoRule>,
    /// Whether requests those rules approve are posted to the channel or only audited.
    pub auto_approved: AutoApprovedPosting,
    /// How those who can approve a new request hear of it.
    pub notify_reviewers: NotifyReviewers,
    /// Emergency access, when the resource allows it.
    pub break_glass: Option<BreakGlass>,
}

impl Resource {
    /// Everyone the catalog names as reviewing this resource: its `reviewers` and the reviewers
    /// of each approval stage. A stage's reviewer reviews the resource everywhere (chooses the
    /// identity, decides extensions, reviews break-glass, sees the queue, gets the DMs).
    pub fn all_reviewers(&self) -> Vec<Principal> {
        let mut all = self.reviewers.clone();
        for p in self.approval.iter().flat_map(|s| s.reviewers.iter()) {
            if !all.contains(p) {
                all.push(p.clone());
            }
        }
        all
    }

    /// What is left to know of a resource the catalog no longer has, for requests and grants
    /// made while it had it: its id, and its connector and unit as the grant recorded them.
    /// Nobody can ask for it, so its rules are the tightest; only admins are told about it.
    pub fn removed(id: ResourceId, connector: ConnectorId, grant: Unit) -> Resource {
        let any = GrantDuration::minutes(1);
        Resource {
            name: id.as_str().to_owned(),
            id,
            description: None,
            connector,
            grant,
            reviewers: Vec::new(),
            requesters: Vec::new(),
            durations: DurationRules {
                min: any,
                default: any,
                max: any,
            },
            reason_required: true,
            remind_before: BUILTIN_REMIND_BEFORE,
            lapse_after: any,
            on_drift: OnDrift::Report,
            approval: Vec::new(),
            channel: None,
            auto_approve: Vec::new(),
            auto_approved: AutoApprovedPosting::default(),
            notify_reviewers: NotifyReviewers::default(),
            break_glass: None,
        }
    }
}

/// What to do when a live grant is missing on its platform.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OnDrift {
    /// Tell admins and audit it; change nothing.
    #[default]
    Report,
    /// Tell admins, audit it, and grant the access again.
    Regrant,
}

/// What the channel sees of a request an `auto_approve` rule approved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AutoApprovedPosting {
    /// Posted like any request, the rule shown on it.
    #[default]
    Post,
    /// Nothing in the channel while all goes well; the audit log has it, the requester gets
    /// their DMs, and anything that needs a person (an identity to choose, a failure) is still
    /// posted.
    Quiet,
}

/// How those who can approve a new request hear of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NotifyReviewers {
    /// Mentioned on its card in the channel.
    #[default]
    Channel,
    /// Each person who can approve it is told in a DM with Approve and Deny; the card names
    /// those people without a mention, so they are not told twice (a user group on the card
    /// is still mentioned: Gatehouse does not rewrite group mentions).
    Dm,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Catalog {
    pub path: PathBuf,
    pub admins: Vec<Principal>,
    pub ask_about_others: crate::domain::policy::AskAboutOthers,
    pub connectors: BTreeMap<ConnectorId, ConnectorConfig>,
    pub resources: Vec<Resource>,
    /// On-call schedules by id (`[oncall.<id>]`).
    pub oncall: BTreeMap<String, OnCallConfig>,
}

impl Catalog {
    /// Everyone the catalog names as admin, reviewer, stage reviewer, requester or
    /// auto-approval group.
    pub fn named_principals(&self) -> Vec<Principal> {
        let mut named: Vec<Principal> = self.admins.clone();
        for r in &self.resources {
            named.extend(r.reviewers.iter().cloned());
            named.extend(r.requesters.iter().cloned());
            for stage in &r.approval {
                named.extend(stage.reviewers.iter().cloned());
            }
            for rule in &r.auto_approve {
                named.extend(rule.group.iter().cloned().map(Principal::Group));
            }
        }
        named
    }

    /// What is allowed but probably not meant, for `serve` to log and `check-config` to print.
    pub fn warnings(&self) -> Vec<String> {
        self.connectors
            .values()
            .filter(|c| c.link.rule.by_local_part() && c.link.domains.is_empty())
            .map(|c| {
                let rule = c.link.rule.as_str();
                format!(
                    "[connectors.{id}] link = \"{rule}\" links people from any email domain by the part before the @, so alice@contractor.io would be linked to the platform user for alice; name your domains: link = {{ rule = \"{rule}\", domains = [\"example.com\"] }}",
                    id = c.id
                )
            })
            .collect()
    }

    pub fn resource(&self, id: &ResourceId) -> Option<&Resource> {
        self.resources.iter().find(|r| &r.id == id)
    }
}

/// Where to ask who is on call (`[oncall.<id>]`), for `auto_approve = [{ on_call = "<id>" }]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum OnCallConfig {
    /// PagerDuty's REST API: on call in these schedules or escalation policies (none: any).
    Pagerduty {
        token: SecretRef,
        #[serde(default)]
        schedule_ids: Vec<String>,
        #[serde(default)]
        escalation_policy_ids: Vec<String>,
        base_url: Option<String>,
    },
    /// Opsgenie's who-is-on-call API, for these schedules (by ID or name).
    Opsgenie {
        key: SecretRef,
        schedules: Vec<String>,
        base_url: Option<String>,
    },
}

/// A resource's emergency access: at most `max`, and a reviewer must review it within
/// `review_within` or it is taken away and flagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakGlass {
    pub max: GrantDuration,
    pub review_within: GrantDuration,
}

/// Built-in bounds when neither the resource nor `[defaults]` say otherwise.
pub(super) const BUILTIN_MIN: GrantDuration = GrantDuration::minutes(15);
pub(super) const BUILTIN_DEFAULT: GrantDuration = GrantDuration::minutes(8 * 60);
pub(super) const BUILTIN_MAX: GrantDuration = GrantDuration::minutes(7 * 24 * 60);
pub(super) const BUILTIN_REMIND_BEFORE: GrantDuration = GrantDuration::minutes(60);
pub(super) const BUILTIN_LAPSE_AFTER: GrantDuration = GrantDuration::minutes(24 * 60);
