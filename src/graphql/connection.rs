//! Relay connections with keyset pagination on `id` (never OFFSET) and a
//! `totalCount`.

use async_graphql::connection::{Connection, CursorType, Edge};
use async_graphql::{OutputType, SimpleObject};
use base64::Engine as _;
use sea_orm::{
    ColumnTrait, DatabaseConnection, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Select,
};

use crate::error::{Error, Result};

pub const DEFAULT_PAGE_SIZE: i32 = 50;
pub const MAX_PAGE_SIZE: i32 = 500;

#[derive(SimpleObject)]
pub struct TotalCount {
    /// How many items match, ignoring pagination.
    pub total_count: u64,
}

pub type IdConnection<N> = Connection<IdCursor, N, TotalCount>;

/// An opaque cursor over the row id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IdCursor(pub i64);

const ENGINE: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

impl CursorType for IdCursor {
    type Error = Error;

    fn decode_cursor(s: &str) -> Result<Self> {
        ENGINE
            .decode(s)
            .ok()
            .and_then(|raw| String::from_utf8(raw).ok())
            .and_then(|text| text.strip_prefix("id:").and_then(|n| n.parse().ok()))
            .map(IdCursor)
            .ok_or_else(|| {
                Error::bad_input(format!(
                    "`{}` is not a valid cursor",
                    s.chars().take(64).collect::<String>()
                ))
            })
    }

    fn encode_cursor(&self) -> String {
        ENGINE.encode(format!("id:{}", self.0))
    }
}

#[derive(Clone, Debug, Default)]
pub struct PageArgs {
    pub first: Option<i32>,
    pub after: Option<String>,
    pub last: Option<i32>,
    pub before: Option<String>,
}

impl PageArgs {
    pub fn new(
        first: Option<i32>,
        after: Option<String>,
        last: Option<i32>,
        before: Option<String>,
    ) -> Self {
        Self {
            first,
            after,
            last,
            before,
        }
    }
}

/// Complexity of a connection field: the page size times its children.
pub fn complexity(first: Option<i32>, last: Option<i32>, child_complexity: usize) -> usize {
    let size = first
        .or(last)
        .unwrap_or(DEFAULT_PAGE_SIZE)
        .clamp(0, MAX_PAGE_SIZE) as usize;
    1 + size * child_complexity
}

fn page_size(value: Option<i32>, name: &str) -> Result<Option<u64>> {
    match value {
        None => Ok(None),
        Some(n) if !(0..=MAX_PAGE_SIZE).contains(&n) => Err(Error::bad_input(format!(
            "`{name}` must be between 0 and {MAX_PAGE_SIZE}"
        ))),
        Some(n) => Ok(Some(n as u64)),
    }
}

/// Pages `select` by `id_col` ascending. `first`/`after` walk forward,
/// `last`/`before` walk back; both directions at once is refused.
pub async fn paginate_by_id<E, N>(
    db: &DatabaseConnection,
    select: Select<E>,
    id_col: E::Column,
    id_of: impl Fn(&E::Model) -> i64,
    to_node: impl Fn(E::Model) -> N,
    args: PageArgs,
) -> Result<IdConnection<N>>
where
    E: EntityTrait,
    E::Model: Sync,
    N: OutputType,
{
    let first = page_size(args.first, "first")?;
    let last = page_size(args.last, "last")?;
    if first.is_some() && last.is_some() {
        return Err(Error::bad_input("pass either `first` or `last`, not both"));
    }
    let after = args
        .after
        .as_deref()
        .map(IdCursor::decode_cursor)
        .transpose()?;
    let before = args
        .before
        .as_deref()
        .map(IdCursor::decode_cursor)
        .transpose()?;

    let total_count = select.clone().count(db).await?;

    let mut page = select;
    if let Some(IdCursor(a)) = after {
        page = page.filter(id_col.gt(a));
    }
    if let Some(IdCursor(b)) = before {
        page = page.filter(id_col.lt(b));
    }
    let backwards = last.is_some();
    let size = first.or(last).unwrap_or(DEFAULT_PAGE_SIZE as u64);
    let mut rows = if backwards {
        page.order_by_desc(id_col).limit(size + 1).all(db).await?
    } else {
        page.order_by_asc(id_col).limit(size + 1).all(db).await?
    };
    let has_more = rows.len() as u64 > size;
    rows.truncate(size as usize);
    if backwards {
        rows.reverse();
    }
    let (has_previous, has_next) = if backwards {
        (has_more, before.is_some())
    } else {
        (after.is_some(), has_more)
    };
    let mut connection =
        Connection::with_additional_fields(has_previous, has_next, TotalCount { total_count });
    connection.edges.extend(
        rows.into_iter()
            .map(|row| Edge::new(IdCursor(id_of(&row)), to_node(row))),
    );
    Ok(connection)
}

/// A cursor over `(timestamp DESC, id DESC)`: newest first, ties by id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TimeIdCursor(pub chrono::DateTime<chrono::Utc>, pub i64);

impl CursorType for TimeIdCursor {
    type Error = Error;

    fn decode_cursor(s: &str) -> Result<Self> {
        ENGINE
            .decode(s)
            .ok()
            .and_then(|raw| String::from_utf8(raw).ok())
            .and_then(|text| {
                let rest = text.strip_prefix("ts:")?;
                let (ts, id) = rest.rsplit_once('|')?;
                let ts = chrono::DateTime::parse_from_rfc3339(ts)
                    .ok()?
                    .with_timezone(&chrono::Utc);
                Some(TimeIdCursor(ts, id.parse().ok()?))
            })
            .ok_or_else(|| {
                Error::bad_input(format!(
                    "`{}` is not a valid cursor",
                    s.chars().take(64).collect::<String>()
                ))
            })
    }

    fn encode_cursor(&self) -> String {
        ENGINE.encode(format!(
            "ts:{}|{}",
            self.0.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true),
            self.1
        ))
    }
}

pub type TimeIdConnection<N> = Connection<TimeIdCursor, N, TotalCount>;

/// Pages `select` newest first by `(time_col DESC, id_col DESC)`, keyset
/// only, so a page costs the same at any depth.
pub async fn paginate_newest_first<E, N>(
    db: &DatabaseConnection,
    select: Select<E>,
    (time_col, id_col): (E::Column, E::Column),
    key_of: impl Fn(&E::Model) -> TimeIdCursor,
    to_node: impl Fn(E::Model) -> N,
    args: PageArgs,
) -> Result<TimeIdConnection<N>>
where
    E: EntityTrait,
    E::Model: Sync,
    N: OutputType,
{
    use sea_orm::sea_query::Condition;
    let first = page_size(args.first, "first")?;
    let last = page_size(args.last, "last")?;
    if first.is_some() && last.is_some() {
        return Err(Error::bad_input("pass either `first` or `last`, not both"));
    }
    let after = args
        .after
        .as_deref()
        .map(TimeIdCursor::decode_cursor)
        .transpose()?;
    let before = args
        .before
        .as_deref()
        .map(TimeIdCursor::decode_cursor)
        .transpose()?;
    let total_count = select.clone().count(db).await?;

    let mut page = select;
    // "After" in newest-first order means older.
    if let Some(TimeIdCursor(ts, id)) = &after {
        page = page.filter(
            Condition::any()
                .add(time_col.lt(*ts))
                .add(Condition::all().add(time_col.eq(*ts)).add(id_col.lt(*id))),
        );
    }
    if let Some(TimeIdCursor(ts, id)) = &before {
        page = page.filter(
            Condition::any()
                .add(time_col.gt(*ts))
                .add(Condition::all().add(time_col.eq(*ts)).add(id_col.gt(*id))),
        );
    }
    let backwards = last.is_some();
    let size = first.or(last).unwrap_or(DEFAULT_PAGE_SIZE as u64);
    let mut rows = if backwards {
        page.order_by_asc(time_col)
            .order_by_asc(id_col)
            .limit(size + 1)
            .all(db)
            .await?
    } else {
        page.order_by_desc(time_col)
            .order_by_desc(id_col)
            .limit(size + 1)
            .all(db)
            .await?
    };
    let has_more = rows.len() as u64 > size;
    rows.truncate(size as usize);
    if backwards {
        rows.reverse();
    }
    let (has_previous, has_next) = if backwards {
        (has_more, before.is_some())
    } else {
        (after.is_some(), has_more)
    };
    let mut connection =
        Connection::with_additional_fields(has_previous, has_next, TotalCount { total_count });
    connection.edges.extend(
        rows.into_iter()
            .map(|row| Edge::new(key_of(&row), to_node(row))),
    );
    Ok(connection)
}
