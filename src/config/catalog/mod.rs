//! The catalog file (`gatehouse.toml`): connectors, resources, reviewers and admins.
//! Parsed strictly (unknown keys are errors) and validated as a whole, reporting every problem.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::error::{ConfigError, ConfigErrors};
use super::link::{Link, RawLink};
use crate::domain::approval::{Need, Stage};
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
    Postgres { url: super::SecretRef },
    /// A MySQL or MariaDB server; access is a role granted to an account.
    Mysql { url: super::SecretRef },
    /// An Amazon Redshift cluster over the PostgreSQL wire protocol; access is a role or a group.
    Redshift { url: super::SecretRef },
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
    pub key: super::SecretRef,
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
    pub token: Option<super::SecretRef>,
    /// A service principal's OAuth client id (with `client_secret`), instead of `token`.
    pub client_id: Option<String>,
    pub client_secret: Option<super::SecretRef>,
}

/// How Gatehouse reaches Power BI and Microsoft Graph.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PowerbiSettings {
    pub tenant_id: String,
    pub client_id: String,
    pub client_secret: super::SecretRef,
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
    pub client_secret: super::SecretRef,
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
    pub token_secret: super::SecretRef,
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
    pub private_key: super::SecretRef,
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
    fn default_rate(&self) -> u32 {
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

    pub fn load(path: &Path) -> Result<Catalog, ConfigErrors> {
        let source = std::fs::read_to_string(path).map_err(|e| {
            ConfigError::file(
                path,
                format!(
                    "cannot read the catalog ({e}); copy gatehouse.example.toml to {} or set GATEHOUSE_CONFIG",
                    path.display()
                ),
            )
        })?;
        Catalog::parse(path, &source)
    }

    /// `path` only labels errors; `source` is the file's text.
    pub fn parse(path: &Path, source: &str) -> Result<Catalog, ConfigErrors> {
        let raw: RawCatalog = toml::from_str(source).map_err(|e| {
            let at = e.span().map(|s| s.start).unwrap_or(0);
            ConfigError::at(path, source, at, e.message().to_owned())
        })?;
        validate(path, source, raw)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCatalog {
    #[serde(default)]
    admins: Vec<Principal>,
    /// Who may ask about other people's access: "reviewers" (default), "admins" or "everyone".
    #[serde(default)]
    ask_about_others: crate::domain::policy::AskAboutOthers,
    #[serde(default)]
    defaults: RawDefaults,
    #[serde(default)]
    connectors: BTreeMap<Spanned<String>, RawConnector>,
    #[serde(default)]
    resources: Vec<RawResource>,
    /// On-call schedules that auto-approval rules may name.
    #[serde(default)]
    oncall: BTreeMap<Spanned<String>, OnCallConfig>,
}

/// Where to ask who is on call (`[oncall.<id>]`), for `auto_approve = [{ on_call = "<id>" }]`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub enum OnCallConfig {
    /// PagerDuty's REST API: on call in these schedules or escalation policies (none: any).
    Pagerduty {
        token: super::SecretRef,
        #[serde(default)]
        schedule_ids: Vec<String>,
        #[serde(default)]
        escalation_policy_ids: Vec<String>,
        base_url: Option<String>,
    },
    /// Opsgenie's who-is-on-call API, for these schedules (by ID or name).
    Opsgenie {
        key: super::SecretRef,
        schedules: Vec<String>,
        base_url: Option<String>,
    },
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawDefaults {
    min_duration: Option<Spanned<GrantDuration>>,
    default_duration: Option<Spanned<GrantDuration>>,
    max_duration: Option<Spanned<GrantDuration>>,
    reason_required: Option<bool>,
    remind_before: Option<GrantDuration>,
    lapse_after: Option<GrantDuration>,
    on_drift: Option<OnDrift>,
    auto_approved: Option<AutoApprovedPosting>,
}

/// A connector's table: `kind` and that platform's settings, then the settings every platform
/// connector shares.
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
enum RawConnector {
    Manual {
        channel: Option<String>,
    },
    Postgres {
        url: super::SecretRef,
        #[serde(default)]
        rate_per_second: Option<std::num::NonZeroU32>,
        #[serde(default)]
        link: RawLink,
        channel: Option<String>,
    },
    Mysql {
        url: super::SecretRef,
        #[serde(default)]
        rate_per_second: Option<std::num::NonZeroU32>,
        #[serde(default)]
        link: RawLink,
        channel: Option<String>,
    },
    Redshift {
        url: super::SecretRef,
        #[serde(default)]
        rate_per_second: Option<std::num::NonZeroU32>,
        #[serde(default)]
        link: RawLink,
        channel: Option<String>,
    },
    Snowflake {
        account: String,
        user: String,
        private_key: super::SecretRef,
        role: Option<String>,
        warehouse: Option<String>,
        base_url: Option<String>,
        #[serde(default)]
        rate_per_second: Option<std::num::NonZeroU32>,
        #[serde(default)]
        link: RawLink,
        channel: Option<String>,
    },
    Looker {
        base_url: String,
        client_id: String,
        client_secret: super::SecretRef,
        #[serde(default)]
        rate_per_second: Option<std::num::NonZeroU32>,
        #[serde(default)]
        link: RawLink,
        channel: Option<String>,
    },
    Tableau {
        base_url: String,
        #[serde(default)]
        site: String,
        #[serde(default = "default_tableau_version")]
        api_version: String,
        token_name: String,
        token_secret: super::SecretRef,
        #[serde(default)]
        rate_per_second: Option<std::num::NonZeroU32>,
        #[serde(default)]
        link: RawLink,
        channel: Option<String>,
    },
    Sigma {
        base_url: String,
        client_id: String,
        client_secret: super::SecretRef,
        #[serde(default)]
        rate_per_second: Option<std::num::NonZeroU32>,
        #[serde(default)]
        link: RawLink,
        channel: Option<String>,
    },
    Bigquery {
        key: super::SecretRef,
        directory_admin: Option<String>,
        customer: Option<String>,
        api_url: Option<String>,
        directory_url: Option<String>,
        #[serde(default)]
        rate_per_second: Option<std::num::NonZeroU32>,
        #[serde(default)]
        link: RawLink,
        channel: Option<String>,
    },
    Databricks {
        host: String,
        token: Option<super::SecretRef>,
        client_id: Option<String>,
        client_secret: Option<super::SecretRef>,
        #[serde(default)]
        rate_per_second: Option<std::num::NonZeroU32>,
        #[serde(default)]
        link: RawLink,
        channel: Option<String>,
    },
    Powerbi {
        tenant_id: String,
        client_id: String,
        client_secret: super::SecretRef,
        authority_url: Option<String>,
        api_url: Option<String>,
        graph_url: Option<String>,
        #[serde(default)]
        rate_per_second: Option<std::num::NonZeroU32>,
        #[serde(default)]
        link: RawLink,
        channel: Option<String>,
    },
}

fn default_tableau_version() -> String {
    "3.24".into()
}

impl RawConnector {
    /// The connector's settings, the channel it names and its `link` (both checked by the
    /// caller).
    fn into_config(self, id: ConnectorId) -> (ConnectorConfig, Option<String>, RawLink) {
        let (kind, rate, link, channel) = match self {
            RawConnector::Manual { channel } => {
                (ConnectorKind::Manual, None, RawLink::default(), channel)
            }
            RawConnector::Postgres {
                url,
                rate_per_second,
                link,
                channel,
            } => (
                ConnectorKind::Postgres { url },
                rate_per_second,
                link,
                channel,
            ),
            RawConnector::Mysql {
                url,
                rate_per_second,
                link,
                channel,
            } => (ConnectorKind::Mysql { url }, rate_per_second, link, channel),
            RawConnector::Redshift {
                url,
                rate_per_second,
                link,
                channel,
            } => (
                ConnectorKind::Redshift { url },
                rate_per_second,
                link,
                channel,
            ),
            RawConnector::Snowflake {
                account,
                user,
                private_key,
                role,
                warehouse,
                base_url,
                rate_per_second,
                link,
                channel,
            } => (
                ConnectorKind::Snowflake(SnowflakeSettings {
                    account,
                    user,
                    private_key,
                    role,
                    warehouse,
                    base_url,
                }),
                rate_per_second,
                link,
                channel,
            ),
            RawConnector::Looker {
                base_url,
                client_id,
                client_secret,
                rate_per_second,
                link,
                channel,
            } => (
                ConnectorKind::Looker(ApiSettings {
                    base_url,
                    client_id,
                    client_secret,
                }),
                rate_per_second,
                link,
                channel,
            ),
            RawConnector::Sigma {
                base_url,
                client_id,
                client_secret,
                rate_per_second,
                link,
                channel,
            } => (
                ConnectorKind::Sigma(ApiSettings {
                    base_url,
                    client_id,
                    client_secret,
                }),
                rate_per_second,
                link,
                channel,
            ),
            RawConnector::Bigquery {
                key,
                directory_admin,
                customer,
                api_url,
                directory_url,
                rate_per_second,
                link,
                channel,
            } => (
                ConnectorKind::Bigquery(BigquerySettings {
                    key,
                    directory_admin,
                    customer,
                    api_url,
                    directory_url,
                }),
                rate_per_second,
                link,
                channel,
            ),
            RawConnector::Databricks {
                host,
                token,
                client_id,
                client_secret,
                rate_per_second,
                link,
                channel,
            } => (
                ConnectorKind::Databricks(DatabricksSettings {
                    host,
                    token,
                    client_id,
                    client_secret,
                }),
                rate_per_second,
                link,
                channel,
            ),
            RawConnector::Powerbi {
                tenant_id,
                client_id,
                client_secret,
                authority_url,
                api_url,
                graph_url,
                rate_per_second,
                link,
                channel,
            } => (
                ConnectorKind::Powerbi(PowerbiSettings {
                    tenant_id,
                    client_id,
                    client_secret,
                    authority_url,
                    api_url,
                    graph_url,
                }),
                rate_per_second,
                link,
                channel,
            ),
            RawConnector::Tableau {
                base_url,
                site,
                api_version,
                token_name,
                token_secret,
                rate_per_second,
                link,
                channel,
            } => (
                ConnectorKind::Tableau(TableauSettings {
                    base_url,
                    site,
                    api_version,
                    token_name,
                    token_secret,
                }),
                rate_per_second,
                link,
                channel,
            ),
        };
        let rate_per_second = rate.unwrap_or_else(|| {
            std::num::NonZeroU32::new(kind.default_rate()).unwrap_or(std::num::NonZeroU32::MIN)
        });
        let config = ConnectorConfig {
            id,
            kind,
            rate_per_second,
            link: Link::default(),
            channel: None,
        };
        (config, channel, link)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawResource {
    id: Spanned<ResourceId>,
    name: String,
    description: Option<String>,
    connector: Spanned<String>,
    grant: Option<Spanned<toml::Table>>,
    #[serde(default)]
    reviewers: Vec<Principal>,
    /// Who may ask for it; empty: anyone.
    #[serde(default)]
    requesters: Vec<Principal>,
    min_duration: Option<Spanned<GrantDuration>>,
    default_duration: Option<Spanned<GrantDuration>>,
    max_duration: Option<Spanned<GrantDuration>>,
    reason_required: Option<bool>,
    remind_before: Option<GrantDuration>,
    lapse_after: Option<GrantDuration>,
    on_drift: Option<OnDrift>,
    /// Approval stages in order; without them, any one of `reviewers` approves.
    #[serde(default)]
    approval: Vec<Spanned<RawStage>>,
    /// Where its requests are posted, when not its connector's or the default channel.
    channel: Option<Spanned<String>>,
    /// Rules under which a request is approved without a reviewer.
    #[serde(default)]
    auto_approve: Vec<Spanned<RawAutoRule>>,
    /// "post" (the default) or "quiet".
    auto_approved: Option<AutoApprovedPosting>,
    /// Emergency access: granted at once for a short time, reviewed after.
    break_glass: Option<Spanned<BreakGlass>>,
}

/// A resource's emergency access: at most `max`, and a reviewer must review it within
/// `review_within` or it is taken away and flagged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BreakGlass {
    pub max: GrantDuration,
    pub review_within: GrantDuration,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawAutoRule {
    group: Option<crate::domain::GroupId>,
    max_duration: Option<GrantDuration>,
    on_call: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawStage {
    reviewers: Vec<Principal>,
    #[serde(default = "any_one")]
    need: Need,
}

fn any_one() -> Need {
    Need::Any
}

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

/// Built-in bounds when neither the resource nor `[defaults]` say otherwise.
const BUILTIN_MIN: GrantDuration = GrantDuration::minutes(15);
const BUILTIN_DEFAULT: GrantDuration = GrantDuration::minutes(8 * 60);
const BUILTIN_MAX: GrantDuration = GrantDuration::minutes(7 * 24 * 60);
const BUILTIN_REMIND_BEFORE: GrantDuration = GrantDuration::minutes(60);
const BUILTIN_LAPSE_AFTER: GrantDuration = GrantDuration::minutes(24 * 60);

fn validate(path: &Path, source: &str, raw: RawCatalog) -> Result<Catalog, ConfigErrors> {
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

#[cfg(test)]
mod tests;
