//! Relay connections with keyset pagination on `id` (never OFFSET) and a
//! `totalCount`.

use async_graphql::connection::{Connection, CursorType, Edge};
use async_graphql::{Object, OutputType};
use base64::Engine as _;
use sea_orm::sea_query::{Condition, Expr, ExprTrait as _, SelectStatement};
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, QueryTrait, Select,
};

use crate::error::{Error, Result};

pub const DEFAULT_PAGE_SIZE: i32 = 50;
pub const MAX_PAGE_SIZE: i32 = 500;

/// The `totalCount` of a connection, counted only when a client selects it:
/// a page should not pay for a count over a million rows it did not ask for.
pub struct TotalCount {
    db: DatabaseConnection,
    query: SelectStatement,
    /// Where the filter allows, the total is read from finding counters
    /// instead of counting rows.
    pub counted: Option<crate::governance::summary::Filter>,
}

#[Object]
impl TotalCount {
    /// How many items match, ignoring pagination.
    async fn total_count(&self) -> Result<u64> {
        if let Some(filter) = &self.counted {
            let summary = crate::governance::summary::summarize(&self.db, filter).await?;
            return Ok(u64::try_from(summary.total).unwrap_or(0));
        }
        let count = SelectStatement::new()
            .expr(Expr::cust("COUNT(*) AS num_items"))
            .from_subquery(self.query.clone(), "sub_query")
            .to_owned();
        let row = self.db.query_one(&count).await?;
        let count = row
            .map(|r| r.try_get::<i64>("", "num_items"))
            .transpose()?
            .unwrap_or(0);
        Ok(u64::try_from(count).unwrap_or(0))
    }
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

/// A keyset order: how rows map to cursors, which rows come after or before
/// a cursor, and how to sort. Pages never use OFFSET.
pub trait KeysetOrder<E: EntityTrait> {
    type Cursor: CursorType<Error = Error> + Send + Sync;
    fn cursor(&self, row: &E::Model) -> Self::Cursor;
    fn after(&self, cursor: &Self::Cursor) -> Condition;
    fn before(&self, cursor: &Self::Cursor) -> Condition;
    /// Sorted in page order, or reversed for `last`/`before`.
    fn sort(&self, select: Select<E>, reversed: bool) -> Select<E>;
}

/// Ascending by id.
pub struct ById<E: EntityTrait> {
    pub column: E::Column,
    pub id: fn(&E::Model) -> i64,
}

impl<E: EntityTrait> KeysetOrder<E> for ById<E> {
    type Cursor = IdCursor;

    fn cursor(&self, row: &E::Model) -> IdCursor {
        IdCursor((self.id)(row))
    }

    fn after(&self, c: &IdCursor) -> Condition {
        Condition::all().add(self.column.gt(c.0))
    }

    fn before(&self, c: &IdCursor) -> Condition {
        Condition::all().add(self.column.lt(c.0))
    }

    fn sort(&self, select: Select<E>, reversed: bool) -> Select<E> {
        if reversed {
            select.order_by_desc(self.column)
        } else {
            select.order_by_asc(self.column)
        }
    }
}

/// Newest first: `(time DESC, id DESC)`.
pub struct NewestFirst<E: EntityTrait> {
    pub time: E::Column,
    pub id: E::Column,
    pub key: fn(&E::Model) -> TimeIdCursor,
}

impl<E: EntityTrait> NewestFirst<E> {
    fn row(&self) -> Expr {
        Expr::tuple([Expr::col(self.time), Expr::col(self.id)])
    }

    fn key(c: &TimeIdCursor) -> Expr {
        Expr::tuple([Expr::value(c.0), Expr::value(c.1)])
    }
}

impl<E: EntityTrait> KeysetOrder<E> for NewestFirst<E> {
    type Cursor = TimeIdCursor;

    fn cursor(&self, row: &E::Model) -> TimeIdCursor {
        (self.key)(row)
    }

    // A row-value comparison, `(time, id) < (t, i)`, is one range of the
    // `(…, time, id)` index on both backends; the equivalent `time < t OR
    // (time = t AND id < i)` made SQLite walk every row before the cursor.
    fn after(&self, c: &TimeIdCursor) -> Condition {
        Condition::all().add(self.row().lt(Self::key(c)))
    }

    fn before(&self, c: &TimeIdCursor) -> Condition {
        Condition::all().add(self.row().gt(Self::key(c)))
    }

    fn sort(&self, select: Select<E>, reversed: bool) -> Select<E> {
        if reversed {
            select.order_by_asc(self.time).order_by_asc(self.id)
        } else {
            select.order_by_desc(self.time).order_by_desc(self.id)
        }
    }
}

/// Findings newest `last_seen_at` first, then id.
pub fn findings_newest_first() -> NewestFirst<entity::finding::Entity> {
    NewestFirst {
        time: entity::finding::Column::LastSeenAt,
        id: entity::finding::Column::Id,
        key: |f| TimeIdCursor(f.last_seen_at, f.id),
    }
}

/// Runs newest first (`created_at DESC, id DESC`).
pub fn runs_newest_first() -> NewestFirst<entity::operation_run::Entity> {
    NewestFirst {
        time: entity::operation_run::Column::CreatedAt,
        id: entity::operation_run::Column::Id,
        key: |r| TimeIdCursor(r.created_at, r.id),
    }
}

/// One page of `select` in `order`: `first`/`after` walk forward,
/// `last`/`before` walk back; both directions at once is refused.
pub async fn paginate<E, N, O>(
    db: &DatabaseConnection,
    select: Select<E>,
    order: O,
    to_node: impl Fn(E::Model) -> N,
    args: PageArgs,
) -> Result<Connection<O::Cursor, N, TotalCount>>
where
    E: EntityTrait,
    E::Model: Sync,
    N: OutputType,
    O: KeysetOrder<E>,
{
    let first = page_size(args.first, "first")?;
    let last = page_size(args.last, "last")?;
    if first.is_some() && last.is_some() {
        return Err(Error::bad_input("pass either `first` or `last`, not both"));
    }
    let after = args
        .after
        .as_deref()
        .map(O::Cursor::decode_cursor)
        .transpose()?;
    let before = args
        .before
        .as_deref()
        .map(O::Cursor::decode_cursor)
        .transpose()?;
    let total_count = TotalCount {
        db: db.clone(),
        query: select.clone().into_query(),
        counted: None,
    };

    let mut page = select;
    if let Some(c) = &after {
        page = page.filter(order.after(c));
    }
    if let Some(c) = &before {
        page = page.filter(order.before(c));
    }
    let backwards = last.is_some();
    let size = first.or(last).unwrap_or(DEFAULT_PAGE_SIZE as u64);
    let mut rows = order.sort(page, backwards).limit(size + 1).all(db).await?;
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
    let mut connection = Connection::with_additional_fields(has_previous, has_next, total_count);
    connection.edges.extend(
        rows.into_iter()
            .map(|row| Edge::new(order.cursor(&row), to_node(row))),
    );
    Ok(connection)
}
