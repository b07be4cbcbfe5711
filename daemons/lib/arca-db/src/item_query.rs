//! Item queries: criteria on the fields and properties of items, nested with and/or, sorted
//! and paged — turned into one SQL statement with bound parameters. AQL's `items.find` and the
//! searches (`/api/search/…`) build these. Nothing from the caller is ever written into the
//! SQL text: fields map to fixed column expressions, values are parameters, and the shape of
//! the statement depends only on the shape of the query.

use std::collections::BTreeMap;

use crate::sql::{ToValue, Value, glob_pattern, like_pattern};
use crate::{Backend, Conn, DbError, Item};

/// A field of an item, by its AQL name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Field {
    Repo,
    /// The folder holding the item (AQL's `path`; `.` for the repository root).
    Path,
    Name,
    /// `file` or `folder`.
    Type,
    Size,
    Created,
    Modified,
    Updated,
    CreatedBy,
    ModifiedBy,
    Sha256,
    Sha1,
    Md5,
    /// Segments of the item's full path (a file at the root: 1).
    Depth,
    /// The item's full path in its repository (not an AQL field: the searches use it).
    ItemPath,
}

impl Field {
    pub const ALL: [Field; 14] = [
        Field::Repo,
        Field::Path,
        Field::Name,
        Field::Type,
        Field::Size,
        Field::Created,
        Field::Modified,
        Field::Updated,
        Field::CreatedBy,
        Field::ModifiedBy,
        Field::Sha256,
        Field::Sha1,
        Field::Md5,
        Field::Depth,
    ];

    /// The field of AQL name `name`.
    pub fn parse(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.name() == name)
    }

    /// The AQL name.
    pub fn name(self) -> &'static str {
        match self {
            Field::Repo => "repo",
            Field::Path => "path",
            Field::Name => "name",
            Field::Type => "type",
            Field::Size => "size",
            Field::Created => "created",
            Field::Modified => "modified",
            Field::Updated => "updated",
            Field::CreatedBy => "created_by",
            Field::ModifiedBy => "modified_by",
            Field::Sha256 => "sha256",
            Field::Sha1 => "actual_sha1",
            Field::Md5 => "actual_md5",
            Field::Depth => "depth",
            Field::ItemPath => "item_path",
        }
    }

    /// Whether values are numbers (times are epoch milliseconds).
    pub fn is_numeric(self) -> bool {
        matches!(
            self,
            Field::Size | Field::Created | Field::Modified | Field::Updated | Field::Depth
        )
    }

    fn column(self) -> &'static str {
        match self {
            Field::Repo => "i.repo",
            Field::Path => "i.parent",
            Field::Name => "i.name",
            Field::Type => "i.folder",
            Field::Size => "i.size",
            Field::Created => "i.created",
            Field::Modified => "i.modified",
            Field::Updated => "i.updated",
            Field::CreatedBy => "i.created_by",
            Field::ModifiedBy => "i.modified_by",
            Field::Sha256 => "i.sha256",
            Field::Sha1 => "b.sha1",
            Field::Md5 => "b.md5",
            Field::Depth => "(LENGTH(i.path) - LENGTH(REPLACE(i.path, '/', '')) + 1)",
            Field::ItemPath => "i.path",
        }
    }
}

/// A comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    /// `*` and `?` wildcards.
    Match,
    NMatch,
    Gt,
    Gte,
    Lt,
    Lte,
    /// Any of the values.
    In,
}

impl Op {
    pub fn parse(name: &str) -> Option<Op> {
        Some(match name {
            "$eq" => Op::Eq,
            "$ne" => Op::Ne,
            "$match" => Op::Match,
            "$nmatch" => Op::NMatch,
            "$gt" => Op::Gt,
            "$gte" => Op::Gte,
            "$lt" => Op::Lt,
            "$lte" => Op::Lte,
            "$in" => Op::In,
            _ => return None,
        })
    }

    fn sql(self) -> &'static str {
        match self {
            Op::Eq | Op::In => "=",
            Op::Ne => "<>",
            Op::Match => "LIKE",
            Op::NMatch => "NOT LIKE",
            Op::Gt => ">",
            Op::Gte => ">=",
            Op::Lt => "<",
            Op::Lte => "<=",
        }
    }
}

/// A value compared with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Arg {
    Text(String),
    Int(i64),
}

impl ToValue for Arg {
    fn to_value(&self) -> Value<'_> {
        match self {
            Arg::Text(s) => Value::Text(s),
            Arg::Int(i) => Value::Int(*i),
        }
    }
}

/// What items must satisfy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Criterion {
    /// A field compared with one value (several for `$in`).
    Field {
        field: Field,
        op: Op,
        values: Vec<Arg>,
    },
    /// A property: some value of property `key` compares (for `$ne`/`$nmatch`: no value of it
    /// matches, which includes not having the property, as the reference's AQL does).
    Prop {
        key: String,
        op: Op,
        values: Vec<Arg>,
    },
    /// Every one (empty: true).
    All(Vec<Criterion>),
    /// At least one (empty: false).
    Any(Vec<Criterion>),
}

impl Criterion {
    /// `criterion`, for files only.
    pub fn files_only(criterion: Criterion) -> Criterion {
        Criterion::All(vec![
            Criterion::Field {
                field: Field::Type,
                op: Op::Eq,
                values: vec![Arg::Text("file".into())],
            },
            criterion,
        ])
    }
}

/// Which items, in which order, which slice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemQuery {
    pub criterion: Criterion,
    /// Fields to sort by and ascending or not; the order ends with the item id (the order
    /// items were stored in) either way, so pages are stable. Without fields, that is the
    /// whole order: each page starts right after the previous one on the primary key.
    pub sort: Vec<Field>,
    pub ascending: bool,
    pub offset: u64,
    pub limit: Option<u64>,
    /// Resume after this item id (keyset paging: only in the default order, where it
    /// replaces an ever-growing OFFSET).
    pub after: Option<i64>,
}

/// The deepest nesting accepted (a query is outside input).
pub const MAX_DEPTH: usize = 32;
/// The most comparisons in one query.
pub const MAX_TERMS: usize = 256;

impl ItemQuery {
    /// Every item matching `criterion`, in the order they were stored.
    pub fn new(criterion: Criterion) -> ItemQuery {
        ItemQuery {
            criterion,
            sort: Vec::new(),
            ascending: true,
            offset: 0,
            limit: None,
            after: None,
        }
    }

    /// The statement and its parameters.
    fn to_sql(&self, backend: Backend, columns: &str) -> Result<(String, Vec<Arg>), DbError> {
        let mut args = Vec::new();
        let mut terms = 0;
        let mut w = Writer {
            backend,
            args: &mut args,
            terms: &mut terms,
        };
        let mut condition = w.condition(&self.criterion, 0)?;
        if let Some(id) = self.after {
            if !self.sort.is_empty() {
                return Err(invalid("keyset paging needs the default order"));
            }
            let id = w.param(Arg::Int(id));
            condition = format!("{condition} AND i.id > {id}");
        }
        let direction = if self.ascending { "ASC" } else { "DESC" };
        let mut order: Vec<String> = self
            .sort
            .iter()
            .map(|f| format!("{} {direction}", f.column()))
            .collect();
        order.push("i.id ASC".into());
        let mut sql = format!(
            "SELECT {columns} FROM items i LEFT JOIN binaries b ON b.sha256 = i.sha256 \
             WHERE {condition} ORDER BY {}",
            order.join(", ")
        );
        if let Some(limit) = self.limit {
            args.push(Arg::Int(i64::try_from(limit).unwrap_or(i64::MAX)));
            sql.push_str(&format!(" LIMIT ?{}", args.len()));
        } else if self.offset > 0 {
            // SQLite needs a LIMIT before an OFFSET
            args.push(Arg::Int(i64::MAX));
            sql.push_str(&format!(" LIMIT ?{}", args.len()));
        }
        if self.offset > 0 {
            args.push(Arg::Int(i64::try_from(self.offset).unwrap_or(i64::MAX)));
            sql.push_str(&format!(" OFFSET ?{}", args.len()));
        }
        Ok((sql, args))
    }
}

fn invalid(message: impl Into<String>) -> DbError {
    DbError::Invalid(message.into())
}

/// Writes the SQL of criteria, collecting their values as parameters.
struct Writer<'a> {
    backend: Backend,
    args: &'a mut Vec<Arg>,
    terms: &'a mut usize,
}

impl Writer<'_> {
    /// A parameter's placeholder.
    fn param(&mut self, value: Arg) -> String {
        self.args.push(value);
        format!("?{}", self.args.len())
    }

    /// The SQL of one criterion.
    fn condition(&mut self, c: &Criterion, depth: usize) -> Result<String, DbError> {
        if depth > MAX_DEPTH {
            return Err(invalid(format!(
                "the query nests deeper than {MAX_DEPTH} levels"
            )));
        }
        match c {
            Criterion::All(list) | Criterion::Any(list) => {
                let all = matches!(c, Criterion::All(_));
                if list.is_empty() {
                    return Ok(if all { "1=1" } else { "1=0" }.into());
                }
                let parts = list
                    .iter()
                    .map(|c| self.condition(c, depth + 1))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(format!(
                    "({})",
                    parts.join(if all { " AND " } else { " OR " })
                ))
            }
            Criterion::Field { field, op, values } => {
                self.count_term()?;
                let values = field_values(*field, *op, values)?;
                let leading_wildcard =
                    matches!(values.first(), Some(Arg::Text(t)) if t.starts_with(['*', '?']));
                if *field == Field::Name && matches!(op, Op::Match | Op::NMatch) && leading_wildcard
                {
                    // no index range for `*x`: scan the (small) name index, not the table
                    let not = if *op == Op::NMatch { "NOT " } else { "" };
                    let names = self.compare("n.name", false, Op::Match, values)?;
                    return Ok(format!(
                        "i.id {not}IN (SELECT n.id FROM items n WHERE {names})"
                    ));
                }
                self.compare(field.column(), field.is_numeric(), *op, values)
            }
            Criterion::Prop { key, op, values } => {
                self.count_term()?;
                if values.is_empty() {
                    return Err(invalid(format!("'@{key}' is compared with nothing")));
                }
                let values = values
                    .iter()
                    .map(|v| match v {
                        Arg::Text(s) => Arg::Text(s.clone()),
                        Arg::Int(i) => Arg::Text(i.to_string()),
                    })
                    .collect::<Vec<_>>();
                // $ne / $nmatch: no value of the property is equal / matches
                let (negated, positive) = match op {
                    Op::Ne => (true, Op::Eq),
                    Op::NMatch => (true, Op::Match),
                    other => (false, *other),
                };
                let key = self.param(Arg::Text(key.clone()));
                let value_condition = self.compare("p.value", false, positive, values)?;
                // a semi-join on the (key, value) index, not a probe per item
                Ok(format!(
                    "i.id {}IN (SELECT p.item_id FROM item_props p WHERE p.key = {key} AND \
                     {value_condition})",
                    if negated { "NOT " } else { "" }
                ))
            }
        }
    }

    fn count_term(&mut self) -> Result<(), DbError> {
        *self.terms += 1;
        if *self.terms > MAX_TERMS {
            return Err(invalid(format!(
                "the query has more than {MAX_TERMS} comparisons"
            )));
        }
        Ok(())
    }

    /// `column op value(s)`. `$match` is case-sensitive on both databases: GLOB on SQLite
    /// (whose LIKE ignores case), LIKE on PostgreSQL (columns are `COLLATE "C"`); either way a
    /// pattern with a fixed prefix can use an index.
    fn compare(
        &mut self,
        column: &str,
        numeric: bool,
        op: Op,
        values: Vec<Arg>,
    ) -> Result<String, DbError> {
        if op == Op::In {
            let placeholders: Vec<String> = values.into_iter().map(|v| self.param(v)).collect();
            return Ok(format!("{column} IN ({})", placeholders.join(", ")));
        }
        let Some(value) = values.into_iter().next() else {
            return Err(invalid("a comparison without a value"));
        };
        match op {
            Op::Match | Op::NMatch => {
                let wildcards = match value {
                    Arg::Text(t) => t,
                    Arg::Int(i) => i.to_string(),
                };
                let column = if numeric {
                    format!("CAST({column} AS TEXT)")
                } else {
                    column.to_string()
                };
                let not = if op == Op::NMatch { "NOT " } else { "" };
                Ok(match self.backend {
                    Backend::Sqlite => {
                        let p = self.param(Arg::Text(glob_pattern(&wildcards)));
                        format!("{column} {not}GLOB {p}")
                    }
                    Backend::Postgres => {
                        let p = self.param(Arg::Text(like_pattern(&wildcards)));
                        format!("{column} {not}LIKE {p} ESCAPE '\\'")
                    }
                })
            }
            _ => {
                let p = self.param(value);
                Ok(format!("{column} {} {p}", op.sql()))
            }
        }
    }
}

/// The values of a field comparison, checked against the field's type (`type`: file/folder
/// become 0/1; checksums are compared lower-case).
fn field_values(field: Field, op: Op, values: &[Arg]) -> Result<Vec<Arg>, DbError> {
    if values.is_empty() {
        return Err(invalid(format!(
            "'{}' is compared with nothing",
            field.name()
        )));
    }
    if values.len() > 1 && op != Op::In {
        return Err(invalid(format!(
            "'{}': only $in takes a list",
            field.name()
        )));
    }
    values
        .iter()
        .map(|v| match (field, v) {
            (Field::Type, Arg::Text(t)) => match t.as_str() {
                "file" => Ok(Arg::Int(0)),
                "folder" => Ok(Arg::Int(1)),
                other => Err(invalid(format!(
                    "'type' is file, folder or any, not '{}'",
                    other.escape_debug()
                ))),
            },
            (Field::Type, Arg::Int(_)) => Err(invalid("'type' is file, folder or any")),
            (f, Arg::Int(_)) if !f.is_numeric() => {
                Err(invalid(format!("'{}' is compared with a string", f.name())))
            }
            (f, Arg::Text(_)) if f.is_numeric() && !matches!(op, Op::Match | Op::NMatch) => {
                Err(invalid(format!("'{}' is compared with a number", f.name())))
            }
            (Field::Sha256 | Field::Sha1 | Field::Md5, Arg::Text(t)) => {
                Ok(Arg::Text(t.to_ascii_lowercase()))
            }
            (_, v) => Ok(v.clone()),
        })
        .collect()
}

/// The items matching `query`.
pub fn find(conn: &Conn<'_>, query: &ItemQuery) -> Result<Vec<Item>, DbError> {
    let (sql, args) = query.to_sql(conn.backend(), crate::items::ITEM_COLUMNS)?;
    let params: Vec<&dyn ToValue> = args.iter().map(|a| a as &dyn ToValue).collect();
    conn.query_map(&sql, &params, crate::items::item_from_row)
}

/// The properties of each of `ids` (ids without properties are absent).
pub fn props_of(
    conn: &Conn<'_>,
    ids: &[i64],
) -> Result<BTreeMap<i64, BTreeMap<String, Vec<String>>>, DbError> {
    let mut out: BTreeMap<i64, BTreeMap<String, Vec<String>>> = BTreeMap::new();
    // bounded statements: a page of ids at a time
    for chunk in ids.chunks(500) {
        let placeholders: Vec<String> = (1..=chunk.len()).map(|n| format!("?{n}")).collect();
        let sql = format!(
            "SELECT item_id, key, value FROM item_props WHERE item_id IN ({}) \
             ORDER BY item_id, key, value",
            placeholders.join(", ")
        );
        let params: Vec<&dyn ToValue> = chunk.iter().map(|i| i as &dyn ToValue).collect();
        let rows = conn.query_map(&sql, &params, |r| {
            Ok((r.get::<i64>(0)?, r.get::<String>(1)?, r.get::<String>(2)?))
        })?;
        for (id, key, value) in rows {
            out.entry(id)
                .or_default()
                .entry(key)
                .or_default()
                .push(value);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sql_of(c: Criterion) -> (String, Vec<Arg>) {
        ItemQuery::new(c).to_sql(Backend::Postgres, "i.id").unwrap()
    }

    #[test]
    fn values_are_parameters_never_sql() {
        let (sql, args) = sql_of(Criterion::All(vec![
            Criterion::Field {
                field: Field::Name,
                op: Op::Match,
                values: vec![Arg::Text("x'; DROP TABLE items; --*".into())],
            },
            Criterion::Prop {
                key: "k' OR 1=1".into(),
                op: Op::Ne,
                values: vec![Arg::Text("v".into())],
            },
        ]));
        assert!(!sql.contains("DROP") && !sql.contains("OR 1=1"), "{sql}");
        assert_eq!(args.len(), 3);
        assert!(sql.contains("NOT IN (SELECT"), "{sql}");
        assert_eq!(args[0], Arg::Text("x'; DROP TABLE items; --%".into()));
    }

    #[test]
    fn types_and_limits_are_checked() {
        let bad = |c: Criterion| ItemQuery::new(c).to_sql(Backend::Sqlite, "i.id").is_err();
        assert!(bad(Criterion::Field {
            field: Field::Size,
            op: Op::Gt,
            values: vec![Arg::Text("big".into())],
        }));
        assert!(bad(Criterion::Field {
            field: Field::Type,
            op: Op::Eq,
            values: vec![Arg::Text("pipe".into())],
        }));
        assert!(bad(Criterion::Field {
            field: Field::Name,
            op: Op::Eq,
            values: vec![Arg::Text("a".into()), Arg::Text("b".into())],
        }));
        let mut deep = Criterion::All(vec![]);
        for _ in 0..=MAX_DEPTH {
            deep = Criterion::Any(vec![deep]);
        }
        assert!(bad(deep));
        let many = Criterion::All(
            (0..=MAX_TERMS)
                .map(|_| Criterion::Field {
                    field: Field::Repo,
                    op: Op::Eq,
                    values: vec![Arg::Text("r".into())],
                })
                .collect(),
        );
        assert!(bad(many));
    }

    #[test]
    fn keyset_pages_follow_each_other_and_match_case_sensitively() {
        let raw = crate::testing::migrated_sqlite().unwrap();
        raw.execute_batch(
            "INSERT INTO repos (key, rclass, package_type, created) VALUES ('r', 'local', 'generic', 0);
             INSERT INTO items (repo, path, parent, name, folder, created, created_by, modified, \
               modified_by, updated) VALUES
               ('r', 'a.jar', '', 'a.jar', 0, 0, 'u', 0, 'u', 0),
               ('r', 'b.jar', '', 'b.jar', 0, 0, 'u', 0, 'u', 0),
               ('r', 'C.jar', '', 'C.jar', 0, 0, 'u', 0, 'u', 0),
               ('r', 'd.txt', '', 'd.txt', 0, 0, 'u', 0, 'u', 0);",
        )
        .unwrap();
        let conn = Conn::sqlite(&raw);
        let jars = Criterion::Field {
            field: Field::Name,
            op: Op::Match,
            values: vec![Arg::Text("*.jar".into())],
        };
        let mut q = ItemQuery::new(jars);
        q.limit = Some(2);
        let first: Vec<String> = find(&conn, &q)
            .unwrap()
            .into_iter()
            .map(|i| i.path)
            .collect();
        assert_eq!(first, vec!["a.jar", "b.jar"]);
        q.after = Some(find(&conn, &q).unwrap()[1].id);
        let second: Vec<String> = find(&conn, &q)
            .unwrap()
            .into_iter()
            .map(|i| i.path)
            .collect();
        assert_eq!(second, vec!["C.jar"]);
        let lower = ItemQuery::new(Criterion::Field {
            field: Field::Name,
            op: Op::Match,
            values: vec![Arg::Text("c*".into())],
        });
        assert!(find(&conn, &lower).unwrap().is_empty(), "case-sensitive");
        q.sort = vec![Field::Name];
        assert!(
            find(&conn, &q).is_err(),
            "keyset paging needs the default order"
        );
    }

    #[test]
    fn wildcards_become_like_and_glob_patterns() {
        assert_eq!(like_pattern("a*b?c%d_e\\"), "a%b_c\\%d\\_e\\\\");
        assert_eq!(glob_pattern("a*b?[c]"), "a*b?[[]c]");
    }
}
