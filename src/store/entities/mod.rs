//! sea-orm entities, one per table. Named only inside `store/`.

pub mod app_roles;
pub mod app_settings;
pub mod approvals;
pub mod audit_events;
pub mod audit_head;
pub mod extension_asks;
pub mod grants;
pub mod identities;
pub mod identity_links;
pub mod jobs;
pub mod processed_events;
pub mod requests;
pub mod resources;
