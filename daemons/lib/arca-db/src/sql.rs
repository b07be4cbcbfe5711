//! One data-access interface over both backends.
//!
//! Query functions take a [`Conn`] and write SQL once, in the dialect both
//! SQLite and PostgreSQL accept, with numbered `?N` placeholders (rewritten to
//! `$N` for PostgreSQL). Parameters are anything [`ToValue`]; columns are read
//! back through [`Row::get`] into [`FromColumn`] types, which also smooth over
//! type differences (PostgreSQL's `int4` from `SELECT 1`, booleans stored as
//! integers on both sides).

use std::cell::RefCell;
use std::collections::HashMap;
use std::error::Error as StdError;

use postgres::types::{IsNull, ToSql, Type, to_sql_checked};
use postgres::{Client, Statement};
use rusqlite::types::{ToSqlOutput, ValueRef};

use crate::DbError;

/// Which database a connection talks to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A statement parameter.
#[derive(Debug, Clone, Copy)]
pub enum Value<'a> {
    Null,
    Int(i64),
    Text(&'a str),
}

/// Types that can be bound as a parameter.
pub trait ToValue {
    fn to_value(&self) -> Value<'_>;
}

impl ToValue for i64 {
    fn to_value(&self) -> Value<'_> {
        Value::Int(*self)
    }
}
impl ToValue for i32 {
    fn to_value(&self) -> Value<'_> {
        Value::Int(i64::from(*self))
    }
}
impl ToValue for u32 {
    fn to_value(&self) -> Value<'_> {
        Value::Int(i64::from(*self))
    }
}
impl ToValue for u16 {
    fn to_value(&self) -> Value<'_> {
        Value::Int(i64::from(*self))
    }
}
impl ToValue for bool {
    fn to_value(&self) -> Value<'_> {
        Value::Int(i64::from(*self))
    }
}
impl ToValue for str {
    fn to_value(&self) -> Value<'_> {
        Value::Text(self)
    }
}
impl ToValue for String {
    fn to_value(&self) -> Value<'_> {
        Value::Text(self)
    }
}
impl<T: ToValue + ?Sized> ToValue for &T {
    fn to_value(&self) -> Value<'_> {
        (**self).to_value()
    }
}
impl<T: ToValue> ToValue for Option<T> {
    fn to_value(&self) -> Value<'_> {
        match self {
            Some(v) => v.to_value(),
            None => Value::Null,
        }
    }
}

/// `args![a, b, c]`: a parameter list for [`Conn`] methods.
#[macro_export]
macro_rules! args {
    () => { &[] as &[&dyn $crate::sql::ToValue] };
    ($($v:expr),+ $(,)?) => { &[$(&$v as &dyn $crate::sql::ToValue),+] as &[&dyn $crate::sql::ToValue] };
}

impl rusqlite::ToSql for Value<'_> {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(match *self {
            Value::Null => ToSqlOutput::Borrowed(ValueRef::Null),
            Value::Int(i) => ToSqlOutput::Borrowed(ValueRef::Integer(i)),
            Value::Text(s) => ToSqlOutput::Borrowed(ValueRef::Text(s.as_bytes())),
        })
    }
}

type BoxError = Box<dyn StdError + Sync + Send>;

impl ToSql for Value<'_> {
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, BoxError> {
        match *self {
            Value::Null => Ok(IsNull::Yes),
            Value::Int(i) => match *ty {
                Type::INT2 => i16::try_from(i)?.to_sql(ty, out),
                Type::INT4 => i32::try_from(i)?.to_sql(ty, out),
                Type::BOOL => (i != 0).to_sql(ty, out),
                Type::INT8 => i.to_sql(ty, out),
                _ => Err(format!("integer parameter where the statement expects {ty}").into()),
            },
            Value::Text(s) => match *ty {
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                    s.to_sql(ty, out)
                }
                _ => Err(format!("text parameter where the statement expects {ty}").into()),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// Types a column can be read into.
pub trait FromColumn: Sized {
    fn from_sqlite(v: ValueRef<'_>) -> Result<Self, String>;
    fn from_pg(row: &postgres::Row, idx: usize) -> Result<Self, String>;
}

fn pg_int(row: &postgres::Row, idx: usize) -> Result<Option<i64>, String> {
    let ty = row
        .columns()
        .get(idx)
        .map(|c| c.type_().clone())
        .ok_or_else(|| format!("no column {idx}"))?;
    let e = |e: postgres::Error| e.to_string();
    Ok(match ty {
        Type::INT8 => row.try_get::<_, Option<i64>>(idx).map_err(e)?,
        Type::INT4 => row
            .try_get::<_, Option<i32>>(idx)
            .map_err(e)?
            .map(i64::from),
        Type::INT2 => row
            .try_get::<_, Option<i16>>(idx)
            .map_err(e)?
            .map(i64::from),
        Type::BOOL => row
            .try_get::<_, Option<bool>>(idx)
            .map_err(e)?
            .map(i64::from),
        other => return Err(format!("column {idx} is {other}, not an integer")),
    })
}

impl FromColumn for Option<i64> {
    fn from_sqlite(v: ValueRef<'_>) -> Result<Self, String> {
        match v {
            ValueRef::Null => Ok(None),
            ValueRef::Integer(i) => Ok(Some(i)),
            other => Err(format!(
                "expected an integer, found {:?}",
                other.data_type()
            )),
        }
    }
    fn from_pg(row: &postgres::Row, idx: usize) -> Result<Self, String> {
        pg_int(row, idx)
    }
}

impl FromColumn for Option<String> {
    fn from_sqlite(v: ValueRef<'_>) -> Result<Self, String> {
        match v {
            ValueRef::Null => Ok(None),
            ValueRef::Text(t) => String::from_utf8(t.to_vec())
                .map(Some)
                .map_err(|e| e.to_string()),
            other => Err(format!("expected text, found {:?}", other.data_type())),
        }
    }
    fn from_pg(row: &postgres::Row, idx: usize) -> Result<Self, String> {
        row.try_get::<_, Option<String>>(idx)
            .map_err(|e| e.to_string())
    }
}

macro_rules! not_null {
    ($t:ty, $inner:ty, $conv:expr) => {
        impl FromColumn for $t {
            fn from_sqlite(v: ValueRef<'_>) -> Result<Self, String> {
                <Option<$inner>>::from_sqlite(v)?
                    .ok_or_else(|| "unexpected NULL".to_string())
                    .and_then($conv)
            }
            fn from_pg(row: &postgres::Row, idx: usize) -> Result<Self, String> {
                <Option<$inner>>::from_pg(row, idx)?
                    .ok_or_else(|| "unexpected NULL".to_string())
                    .and_then($conv)
            }
        }
    };
}

not_null!(i64, i64, Ok);
not_null!(String, String, Ok);
not_null!(bool, i64, |i: i64| Ok(i != 0));
not_null!(u64, i64, |i: i64| u64::try_from(i)
    .map_err(|e| e.to_string()));
not_null!(u16, i64, |i: i64| u16::try_from(i)
    .map_err(|e| e.to_string()));
not_null!(crate::model::RepoSettings, String, |s: String| {
    crate::model::RepoSettings::from_json(&s)
});

/// A result row of either backend.
pub enum Row<'r> {
    Sqlite(&'r rusqlite::Row<'r>),
    Postgres(&'r postgres::Row),
}

impl Row<'_> {
    /// Column `idx` (0-based) as `T`.
    pub fn get<T: FromColumn>(&self, idx: usize) -> Result<T, DbError> {
        let result = match self {
            Row::Sqlite(r) => r
                .get_ref(idx)
                .map_err(|e| e.to_string())
                .and_then(T::from_sqlite),
            Row::Postgres(r) => T::from_pg(r, idx),
        };
        result.map_err(|e| DbError::Corrupt(format!("column {idx}: {e}")))
    }

    /// A reader of the columns from `first` on, in order (each `next` reads the following one).
    pub fn columns_from(&self, first: usize) -> Columns<'_, '_> {
        Columns {
            row: self,
            next: first,
        }
    }
}

/// Columns of a [`Row`] read one after the other ([`Row::columns_from`]).
pub struct Columns<'a, 'r> {
    row: &'a Row<'r>,
    next: usize,
}

impl Columns<'_, '_> {
    /// The next column as `T`.
    #[allow(clippy::should_implement_trait)] // fallible and generic over T: not an Iterator
    pub fn next<T: FromColumn>(&mut self) -> Result<T, DbError> {
        let idx = self.next;
        self.next += 1;
        self.row.get(idx)
    }
}

/// A record type's SQL column list and its row reader, written once so that they cannot drift
/// apart: `row_mapping!(const COLUMNS, fn from_row -> Type { field_a, field_b })` defines
/// `COLUMNS = "field_a, field_b"` (the columns are named as the fields) and `from_row`, which
/// reads the fields in that order. With `fn from_row, fn from_row_at -> …` it also defines
/// `from_row_at(row, first)`, for records that start further right in a joined row.
macro_rules! row_mapping {
    ($vis:vis const $columns:ident, fn $from_row:ident -> $ty:ident { $($field:ident),+ $(,)? }) => {
        $vis const $columns: &str = stringify!($($field),+);

        fn $from_row(r: &$crate::Row<'_>) -> Result<$ty, $crate::DbError> {
            let mut c = r.columns_from(0);
            Ok($ty { $($field: c.next()?),+ })
        }
    };
    ($vis:vis const $columns:ident, fn $from_row:ident, $at_vis:vis fn $from_row_at:ident -> $ty:ident { $($field:ident),+ $(,)? }) => {
        $vis const $columns: &str = stringify!($($field),+);

        fn $from_row(r: &$crate::Row<'_>) -> Result<$ty, $crate::DbError> {
            $from_row_at(r, 0)
        }

        /// A record from the columns starting at `first`.
        $at_vis fn $from_row_at(r: &$crate::Row<'_>, first: usize) -> Result<$ty, $crate::DbError> {
            let mut c = r.columns_from(first);
            Ok($ty { $($field: c.next()?),+ })
        }
    };
}
pub(crate) use row_mapping;

/// A PostgreSQL connection with its prepared-statement cache.
pub struct PgConn {
    /// Always `Some` until dropped (see `Drop`).
    client: Option<Client>,
    statements: HashMap<String, Statement>,
    /// When the connection was last handed out.
    last_used: std::time::Instant,
}

/// A connection used this recently is handed out without a validation round
/// trip: on a busy node checking every checkout would double the round trips
/// of a point lookup. A connection that died meanwhile fails its query once and
/// is then dropped by the pool (`has_broken`).
const PG_TRUSTED_FOR: std::time::Duration = std::time::Duration::from_secs(2);

impl PgConn {
    pub(crate) fn new(client: Client) -> PgConn {
        PgConn {
            client: Some(client),
            statements: HashMap::new(),
            last_used: std::time::Instant::now(),
        }
    }

    /// The client and the statement cache, borrowed separately.
    pub(crate) fn parts(
        &mut self,
    ) -> Result<(&mut Client, &mut HashMap<String, Statement>), DbError> {
        self.last_used = std::time::Instant::now();
        match self.client.as_mut() {
            Some(c) => Ok((c, &mut self.statements)),
            None => Err(DbError::Corrupt("connection already closed".into())),
        }
    }

    pub(crate) fn is_closed(&self) -> bool {
        self.client.as_ref().is_none_or(Client::is_closed)
    }

    /// Validation on checkout: a round trip only for connections idle a while.
    pub(crate) fn check(&mut self) -> Result<(), DbError> {
        if self.last_used.elapsed() < PG_TRUSTED_FOR && !self.is_closed() {
            return Ok(());
        }
        self.parts()?.0.simple_query("")?;
        Ok(())
    }
}

impl Drop for PgConn {
    /// The sync client closes its connection by blocking on its own runtime,
    /// which panics on a tokio worker thread (pooled connections are dropped
    /// wherever the last `Db` clone goes, e.g. at shutdown). Close it on a
    /// plain thread then.
    fn drop(&mut self) {
        self.statements.clear();
        if let Some(client) = self.client.take()
            && tokio::runtime::Handle::try_current().is_ok()
        {
            let _ = std::thread::Builder::new()
                .name("arca-db-close".into())
                .spawn(move || drop(client));
        }
    }
}

pub(crate) enum PgHandle<'a> {
    Client(&'a mut Client),
    Tx(postgres::Transaction<'a>),
}

pub(crate) struct PgState<'a> {
    pub(crate) handle: PgHandle<'a>,
    pub(crate) statements: &'a mut HashMap<String, Statement>,
}

enum Kind<'a> {
    Sqlite(&'a rusqlite::Connection),
    Postgres(RefCell<PgState<'a>>),
}

/// A connection (or an open transaction) handed to query functions.
pub struct Conn<'a> {
    kind: Kind<'a>,
}

/// Rewrite `?N` placeholders to PostgreSQL's `$N` (outside string literals).
pub fn to_pg_placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut in_literal = false;
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_literal = !in_literal;
                out.push(c);
            }
            '?' if !in_literal && chars.peek().is_some_and(|n| n.is_ascii_digit()) => out.push('$'),
            _ => out.push(c),
        }
    }
    out
}

fn to_values<'p>(params: &'p [&dyn ToValue]) -> Vec<Value<'p>> {
    params.iter().map(|p| p.to_value()).collect()
}

/// The values as the PostgreSQL client takes them.
fn pg_refs<'v>(values: &'v [Value<'_>]) -> Vec<&'v (dyn ToSql + Sync)> {
    values.iter().map(|v| v as &(dyn ToSql + Sync)).collect()
}

impl<'a> Conn<'a> {
    pub fn sqlite(conn: &'a rusqlite::Connection) -> Conn<'a> {
        Conn {
            kind: Kind::Sqlite(conn),
        }
    }

    pub(crate) fn postgres(state: PgState<'a>) -> Conn<'a> {
        Conn {
            kind: Kind::Postgres(RefCell::new(state)),
        }
    }

    /// Hand back the PostgreSQL state (to commit its transaction).
    pub(crate) fn into_postgres(self) -> Option<PgState<'a>> {
        match self.kind {
            Kind::Postgres(state) => Some(state.into_inner()),
            Kind::Sqlite(_) => None,
        }
    }

    pub fn backend(&self) -> Backend {
        match self.kind {
            Kind::Sqlite(_) => Backend::Sqlite,
            Kind::Postgres(_) => Backend::Postgres,
        }
    }

    /// Run `f` with the prepared statement for `sql` and the PostgreSQL handle.
    fn with_pg<T>(
        state: &RefCell<PgState<'a>>,
        sql: &str,
        f: impl FnOnce(&mut PgHandle<'a>, &Statement) -> Result<T, postgres::Error>,
    ) -> Result<T, DbError> {
        let mut state = state.borrow_mut();
        let PgState { handle, statements } = &mut *state;
        let statement = match statements.get(sql) {
            Some(s) => s.clone(),
            None => {
                let translated = to_pg_placeholders(sql);
                let s = match handle {
                    PgHandle::Client(c) => c.prepare(&translated),
                    PgHandle::Tx(t) => t.prepare(&translated),
                }?;
                statements.insert(sql.to_string(), s.clone());
                s
            }
        };
        Ok(f(handle, &statement)?)
    }

    /// Execute a statement; returns the number of rows changed.
    pub fn execute(&self, sql: &str, params: &[&dyn ToValue]) -> Result<usize, DbError> {
        let values = to_values(params);
        match &self.kind {
            Kind::Sqlite(c) => Ok(c
                .prepare_cached(sql)?
                .execute(rusqlite::params_from_iter(values.iter()))?),
            Kind::Postgres(state) => {
                let refs = pg_refs(&values);
                let n = Self::with_pg(state, sql, |h, s| match h {
                    PgHandle::Client(c) => c.execute(s, &refs),
                    PgHandle::Tx(t) => t.execute(s, &refs),
                })?;
                Ok(usize::try_from(n).unwrap_or(usize::MAX))
            }
        }
    }

    /// Every row of a query, mapped by `f`.
    pub fn query_map<T>(
        &self,
        sql: &str,
        params: &[&dyn ToValue],
        mut f: impl FnMut(&Row<'_>) -> Result<T, DbError>,
    ) -> Result<Vec<T>, DbError> {
        let mut out = Vec::new();
        self.query_each(sql, params, |r| {
            out.push(f(r)?);
            Ok(())
        })?;
        Ok(out)
    }

    /// Hand every row of a query to `f`, in order, without collecting what `f` makes of them
    /// (on PostgreSQL the client has received the whole result first: its row iterator enters
    /// the client's runtime once per row, which measured slower). Returns the number of rows;
    /// an error from `f` stops at that row.
    pub fn query_each(
        &self,
        sql: &str,
        params: &[&dyn ToValue],
        mut f: impl FnMut(&Row<'_>) -> Result<(), DbError>,
    ) -> Result<usize, DbError> {
        let values = to_values(params);
        let mut n = 0;
        match &self.kind {
            Kind::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                let mut rows = stmt.query(rusqlite::params_from_iter(values.iter()))?;
                while let Some(r) = rows.next()? {
                    f(&Row::Sqlite(r))?;
                    n += 1;
                }
            }
            Kind::Postgres(state) => {
                let refs = pg_refs(&values);
                let rows = Self::with_pg(state, sql, |h, s| match h {
                    PgHandle::Client(c) => c.query(s, &refs),
                    PgHandle::Tx(t) => t.query(s, &refs),
                })?;
                for r in &rows {
                    f(&Row::Postgres(r))?;
                    n += 1;
                }
            }
        }
        Ok(n)
    }

    /// The first row of a query, if any, mapped by `f`.
    pub fn query_opt<T>(
        &self,
        sql: &str,
        params: &[&dyn ToValue],
        f: impl FnOnce(&Row<'_>) -> Result<T, DbError>,
    ) -> Result<Option<T>, DbError> {
        let values = to_values(params);
        match &self.kind {
            Kind::Sqlite(c) => {
                let mut stmt = c.prepare_cached(sql)?;
                let mut rows = stmt.query(rusqlite::params_from_iter(values.iter()))?;
                match rows.next()? {
                    Some(r) => Ok(Some(f(&Row::Sqlite(r))?)),
                    None => Ok(None),
                }
            }
            Kind::Postgres(state) => {
                let refs = pg_refs(&values);
                let row = Self::with_pg(state, sql, |h, s| match h {
                    PgHandle::Client(c) => c.query_opt(s, &refs),
                    PgHandle::Tx(t) => t.query_opt(s, &refs),
                })?;
                row.map(|r| f(&Row::Postgres(&r))).transpose()
            }
        }
    }

    /// Exactly one row (an error when there is none).
    pub fn query_one<T>(
        &self,
        sql: &str,
        params: &[&dyn ToValue],
        f: impl FnOnce(&Row<'_>) -> Result<T, DbError>,
    ) -> Result<T, DbError> {
        self.query_opt(sql, params, f)?
            .ok_or_else(|| DbError::Corrupt(format!("no row from: {sql}")))
    }

    /// Run several statements without parameters (schema changes).
    pub fn execute_batch(&self, sql: &str) -> Result<(), DbError> {
        match &self.kind {
            Kind::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Kind::Postgres(state) => {
                let mut state = state.borrow_mut();
                match &mut state.handle {
                    PgHandle::Client(c) => c.batch_execute(sql)?,
                    PgHandle::Tx(t) => t.batch_execute(sql)?,
                }
                Ok(())
            }
        }
    }
}

/// A `*`/`?` wildcard pattern as a GLOB pattern (`[` escaped as `[[]`).
pub fn glob_pattern(pattern: &str) -> String {
    pattern.replace('[', "[[]")
}

/// A `*`/`?` wildcard pattern as a LIKE pattern (`%`, `_` and `\` escaped).
pub fn like_pattern(pattern: &str) -> String {
    let mut like = String::with_capacity(pattern.len() + 4);
    for c in pattern.chars() {
        match c {
            '*' => like.push('%'),
            '?' => like.push('_'),
            '%' | '_' | '\\' => {
                like.push('\\');
                like.push(c);
            }
            c => like.push(c),
        }
    }
    like
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_rewritten_outside_literals() {
        assert_eq!(
            to_pg_placeholders("SELECT a FROM t WHERE x = ?1 AND y = '?2' AND z = ?12"),
            "SELECT a FROM t WHERE x = $1 AND y = '?2' AND z = $12"
        );
        assert_eq!(
            to_pg_placeholders("LIKE ?1 ESCAPE '\\'"),
            "LIKE $1 ESCAPE '\\'"
        );
    }
}
