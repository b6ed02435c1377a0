//! The raw shapes the catalog's TOML is deserialised into (`RawCatalog`, `RawConnector`,
//! `RawResource`…), strict about unknown keys. Secrets stay
//! references (`SecretRef`, see `config::secret`); whoever needs one resolves it later.
//!
//! It must not judge what it read: every rule about what a catalog may say, and its message,
//! belongs to `check`, which turns the raw shapes into the model.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::super::link::{Link, RawLink};
use super::model::{
    ApiSettings, AutoApprovedPosting, BigquerySettings, BreakGlass, ConnectorConfig, ConnectorKind,
    DatabricksSettings, NotifyReviewers, OnCallConfig, OnDrift, PowerbiSettings, SnowflakeSettings,
    TableauSettings,
};
use crate::config::SecretRef;
use crate::domain::approval::Need;
use crate::domain::{ConnectorId, GrantDuration, Principal, ResourceId};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawCatalog {
    #[serde(default)]
    pub(super) admins: Vec<Principal>,
    /// Who may ask about other people's access: "reviewers" (default), "admins" or "everyone".
    #[serde(default)]
    pub(super) ask_about_others: crate::domain::policy::AskAboutOthers,
    #[serde(default)]
    pub(super) defaults: RawDefaults,
    #[serde(default)]
    pub(super) connectors: BTreeMap<Spanned<String>, RawConnector>,
    #[serde(default)]
    pub(super) resources: Vec<RawResource>,
    /// On-call schedules that auto-approval rules may name.
    #[serde(default)]
    pub(super) oncall: BTreeMap<Spanned<String>, OnCallConfig>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDefaults {
    pub(super) min_duration: Option<Spanned<GrantDuration>>,
    pub(super) default_duration: Option<Spanned<GrantDuration>>,
    pub(super) max_duration: Option<Spanned<GrantDuration>>,
    pub(super) reason_required: Option<bool>,
    pub(super) remind_before: Option<GrantDuration>,
    pub(super) lapse_after: Option<GrantDuration>,
    pub(super) on_drift: Option<OnDrift>,
    pub(super) auto_approved: Option<AutoApprovedPosting>,
    pub(super) notify_reviewers: Option<NotifyReviewers>,
}

/// A connector's table: `kind` and that platform's settings, then the settings every platform
/// connector shares.
#[derive(Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase", deny_unknown_fields)]
pub(super) enum RawConnector {
    Manual {
        channel: Option<String>,
    },
    Postgres {
        url: SecretRef,
        #[serde(default)]
        rate_per_second: Option<std::num::NonZeroU32>,
        #[serde(default)]
        link: RawLink,
        channel: Option<String>,
    },
    Mysql {
        url: SecretRef,
        #[serde(default)]
        rate_per_second: Option<std::num::NonZeroU32>,
        #[serde(default)]
        link: RawLink,
        channel: Option<String>,
    },
    Redshift {
        url: SecretRef,
        #[serde(default)]
        rate_per_second: Option<std::num::NonZeroU32>,
        #[serde(default)]
        link: RawLink,
        channel: Option<String>,
    },
    Snowflake {
        account: String,
        user: String,
        private_key: SecretRef,
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
        client_secret: SecretRef,
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
        token_secret: SecretRef,
        #[serde(default)]
        rate_per_second: Option<std::num::NonZeroU32>,
        #[serde(default)]
        link: RawLink,
        channel: Option<String>,
    },
    Sigma {
        base_url: String,
        client_id: String,
        client_secret: SecretRef,
        #[serde(default)]
        rate_per_second: Option<std::num::NonZeroU32>,
        #[serde(default)]
        link: RawLink,
        channel: Option<String>,
    },
    Bigquery {
        key: SecretRef,
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
        token: Option<SecretRef>,
        client_id: Option<String>,
        client_secret: Option<SecretRef>,
        #[serde(default)]
        rate_per_second: Option<std::num::NonZeroU32>,
        #[serde(default)]
        link: RawLink,
        channel: Option<String>,
    },
    Powerbi {
        tenant_id: String,
        client_id: String,
        client_secret: SecretRef,
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
    pub(super) fn into_config(self, id: ConnectorId) -> (ConnectorConfig, Option<String>, RawLink) {
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
pub(super) struct RawResource {
    pub(super) id: Spanned<ResourceId>,
    pub(super) name: String,
    pub(super) description: Option<String>,
    pub(super) connector: Spanned<String>,
    pub(super) grant: Option<Spanned<toml::Table>>,
    #[serde(default)]
    pub(super) reviewers: Vec<Principal>,
    /// Who may ask for it; empty: anyone.
    #[serde(default)]
    pub(super) requesters: Vec<Principal>,
    pub(super) min_duration: Option<Spanned<GrantDuration>>,
    pub(super) default_duration: Option<Spanned<GrantDuration>>,
    pub(super) max_duration: Option<Spanned<GrantDuration>>,
    pub(super) reason_required: Option<bool>,
    pub(super) remind_before: Option<GrantDuration>,
    pub(super) lapse_after: Option<GrantDuration>,
    pub(super) on_drift: Option<OnDrift>,
    /// Approval stages in order; without them, any one of `reviewers` approves.
    #[serde(default)]
    pub(super) approval: Vec<Spanned<RawStage>>,
    /// Where its requests are posted, when not its connector's or the default channel.
    pub(super) channel: Option<Spanned<String>>,
    /// Rules under which a request is approved without a reviewer.
    #[serde(default)]
    pub(super) auto_approve: Vec<Spanned<RawAutoRule>>,
    /// "post" (the default) or "quiet".
    pub(super) auto_approved: Option<AutoApprovedPosting>,
    /// "channel" (the default) or "dm".
    pub(super) notify_reviewers: Option<NotifyReviewers>,
    /// Emergency access: granted at once for a short time, reviewed after.
    pub(super) break_glass: Option<Spanned<BreakGlass>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAutoRule {
    pub(super) group: Option<crate::domain::GroupId>,
    pub(super) max_duration: Option<GrantDuration>,
    pub(super) on_call: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStage {
    pub(super) reviewers: Vec<Principal>,
    #[serde(default = "any_one")]
    pub(super) need: Need,
}

fn any_one() -> Need {
    Need::Any
}
