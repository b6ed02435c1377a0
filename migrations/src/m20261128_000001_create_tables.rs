//! Requests, grants, identities and their links, resources, app roles, jobs, the audit chain
//! and the processed-events ledger.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::AUDIT_GENESIS;
use crate::parts::{drop_table, index, migration, unique_index};

fn at(col: &'static str) -> ColumnDef {
    timestamp_with_time_zone(col)
}

fn at_null(col: &'static str) -> ColumnDef {
    timestamp_with_time_zone_null(col)
}

migration! {
    up(m) {
        m.create_table(
            Table::create()
                .table("requests")
                .col(big_pk_auto("id"))
                .col(string("requester"))
                .col(string("resource_id"))
                .col(string("connector_id"))
                .col(big_integer("duration_secs"))
                .col(text_null("reason"))
                .col(string("status"))
                // Bumped by every change: the optimistic guard for changes that keep the status.
                .col(integer("version"))
                // "requester/resource" while the request is open, NULL after: one open request
                // per person and resource, enforced by the database even under races.
                .col(string_null("open_key").unique_key())
                .col(string_null("identity"))
                .col(string_null("end_reason"))
                .col(string_null("decided_by"))
                .col(text_null("decision_note"))
                .col(at("created_at"))
                .col(at("updated_at"))
                .col(at_null("decided_at"))
                .col(at_null("active_since"))
                .col(at_null("expires_at"))
                .col(at_null("ended_at"))
                .col(string_null("slack_channel"))
                .col(string_null("slack_ts"))
                .take(),
        )
        .await?;
        m.create_index(index("requests", "requests_by_status", &["status"]))
            .await?;
        m.create_index(index(
            "requests",
            "requests_by_requester",
            &["requester", "status"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table("grants")
                .col(big_pk_auto("id"))
                .col(big_integer("request_id"))
                .col(string("connector_id"))
                .col(string("identity"))
                .col(text("spec"))
                .col(text("applied"))
                .col(at("granted_at"))
                .col(at_null("revoked_at"))
                .col(text_null("revoke_applied"))
                .foreign_key(
                    ForeignKey::create()
                        .name("grants_request")
                        .from("grants", "request_id")
                        .to("requests", "id"),
                )
                .take(),
        )
        .await?;
        m.create_index(index("grants", "grants_by_request", &["request_id"]))
            .await?;

        m.create_table(
            Table::create()
                .table("identities")
                .col(big_pk_auto("id"))
                .col(string("connector_id"))
                .col(string("kind"))
                .col(string("platform_id"))
                .col(string("name"))
                .col(string_null("email"))
                .col(text("attributes"))
                .col(at("first_seen_at"))
                .col(at("last_seen_at"))
                .col(at_null("missing_since"))
                .take(),
        )
        .await?;
        m.create_index(unique_index(
                "identities",
                "identities_unique",
                &["connector_id", "kind", "platform_id"],
        ))
        .await?;
        m.create_index(index("identities", "identities_by_email", &["email"]))
            .await?;

        m.create_table(
            Table::create()
                .table("identity_links")
                .col(big_pk_auto("id"))
                .col(string("slack_user_id"))
                .col(string("connector_id"))
                .col(string("platform_id"))
                .col(string("method"))
                .col(at("created_at"))
                .col(string_null("created_by"))
                .take(),
        )
        .await?;
        m.create_index(unique_index(
                "identity_links",
                "identity_links_unique",
                &["slack_user_id", "connector_id"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table("resources")
                .col(string("id").primary_key())
                .col(string("name"))
                .col(text_null("description"))
                .col(string("connector_id"))
                .col(text("definition"))
                .col(boolean("active"))
                .col(at("updated_at"))
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("app_roles")
                .col(big_pk_auto("id"))
                .col(string("principal"))
                .col(string("role"))
                .col(string("scope"))
                .col(at("created_at"))
                .col(string("created_by"))
                .take(),
        )
        .await?;
        m.create_index(unique_index(
                "app_roles",
                "app_roles_unique",
                &["principal", "role", "scope"],
        ))
        .await?;

        m.create_table(
            Table::create()
                .table("jobs")
                .col(big_pk_auto("id"))
                .col(string("kind"))
                .col(text("payload"))
                .col(string("status"))
                .col(at("run_at"))
                .col(integer("attempts"))
                .col(integer("max_attempts"))
                .col(at_null("lease_until"))
                .col(string_null("locked_by"))
                .col(text_null("last_error"))
                // At most one live job per key (e.g. one revocation per request).
                .col(string_null("dedupe_key").unique_key())
                .col(big_integer_null("request_id"))
                .col(at("created_at"))
                .col(at("updated_at"))
                .col(at_null("finished_at"))
                .take(),
        )
        .await?;
        m.create_index(index("jobs", "jobs_due", &["status", "run_at"]))
            .await?;

        m.create_table(
            Table::create()
                .table("audit_events")
                .col(big_integer("seq").primary_key())
                .col(at("at"))
                .col(string("actor"))
                .col(string("action"))
                .col(big_integer_null("request_id"))
                .col(text("details"))
                .col(string("prev_hash"))
                .col(string("hash"))
                .take(),
        )
        .await?;
        m.create_index(index("audit_events", "audit_events_by_time", &["at"]))
            .await?;
        m.create_index(index(
            "audit_events",
            "audit_events_by_request",
            &["request_id"],
        ))
        .await?;

        // One row: the chain's last seq and hash. Appenders lock it, so the chain never forks,
        // and `audit verify` notices rows removed from the end.
        m.create_table(
            Table::create()
                .table("audit_head")
                .col(integer("id").primary_key())
                .col(big_integer("seq"))
                .col(string("hash"))
                .take(),
        )
        .await?;
        m.exec_stmt(
            Query::insert()
                .into_table("audit_head")
                .columns(["id", "seq", "hash"])
                .values_panic([1.into(), 0i64.into(), AUDIT_GENESIS.into()])
                .take(),
        )
        .await?;

        m.create_table(
            Table::create()
                .table("processed_events")
                .col(string("event_id").primary_key())
                .col(at("received_at"))
                .take(),
        )
        .await?;
        Ok(())
    }
    down(m) {
        for t in [
            "processed_events",
            "audit_head",
            "audit_events",
            "jobs",
            "app_roles",
            "resources",
            "identity_links",
            "identities",
            "grants",
            "requests",
        ] {
            m.drop_table(drop_table(t)).await?;
        }
        Ok(())
    }
}
