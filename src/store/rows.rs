//! The shapes every table's queries share: reading rows into the store's own types (a row that
//! does not parse is `Corrupt`, never a panic), and inserting a row that may be there already.

use sea_orm::{ActiveModelTrait, EntityTrait, Select};

use super::{Conn, StoreError, StoreResult};

/// Every row `query` selects, in its order, each made a `T`.
pub(super) async fn all<E, T>(c: &impl Conn, query: Select<E>) -> StoreResult<Vec<T>>
where
    E: EntityTrait,
    T: TryFrom<E::Model>,
    StoreError: From<T::Error>,
{
    query
        .all(c)
        .await?
        .into_iter()
        .map(|m| Ok(T::try_from(m)?))
        .collect()
}

/// The first row `query` selects, if any, made a `T`.
pub(super) async fn one<E, T>(c: &impl Conn, query: Select<E>) -> StoreResult<Option<T>>
where
    E: EntityTrait,
    T: TryFrom<E::Model>,
    StoreError: From<T::Error>,
{
    query.one(c).await?.map(|m| Ok(T::try_from(m)?)).transpose()
}

/// Inserts `row`; false when a unique index says it is there already (a second approval by the
/// same person, an event already processed, a role already held).
pub(super) async fn insert_once<A>(c: &impl Conn, row: A) -> StoreResult<bool>
where
    A: ActiveModelTrait,
{
    match A::Entity::insert(row)
        .exec(c)
        .await
        .map_err(StoreError::from)
    {
        Ok(_) => Ok(true),
        Err(e) if e.is_unique_violation() => Ok(false),
        Err(e) => Err(e),
    }
}
