//! AQL, the reference's query language, in its `items.find(…)` form: the criteria become an
//! [`ItemQuery`] (SQL with bound parameters, [`arca_db::item_query`]), the chained
//! `.include(…)`, `.sort(…)`, `.offset(n)`, `.limit(n)` what to show and which slice. The text
//! comes from any authenticated caller: every error names the offending token and where it
//! is, and nothing in it reaches a panic (the `aql` fuzz target).

use serde_json::{Map, Value};

use arca_db::item_query::{Arg, Criterion, Field, ItemQuery, Op};

/// A parsed `items.find(…)` query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AqlQuery {
    pub query: ItemQuery,
    pub include: Include,
}

/// What each result shows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Include {
    /// Item fields, in the answer's order.
    pub fields: Vec<Field>,
    /// `property.*`: every property.
    pub all_properties: bool,
    /// `@key`: these properties.
    pub properties: Vec<String>,
}

impl Include {
    /// The reference's default result fields.
    pub fn default_fields() -> Include {
        Include {
            fields: vec![
                Field::Repo,
                Field::Path,
                Field::Name,
                Field::Type,
                Field::Size,
                Field::Created,
                Field::CreatedBy,
                Field::Modified,
                Field::ModifiedBy,
                Field::Updated,
            ],
            all_properties: false,
            properties: Vec::new(),
        }
    }

    pub fn wants_properties(&self) -> bool {
        self.all_properties || !self.properties.is_empty()
    }
}

/// A query the parser refused: what and where (a character offset into the query text).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("AQL: {message} (at character {position})")]
pub struct AqlError {
    pub message: String,
    pub position: usize,
}

/// The longest query text accepted.
pub const MAX_QUERY_BYTES: usize = 64 * 1024;
/// The deepest `$and`/`$or` nesting accepted.
const MAX_NESTING: usize = 16;

/// Parse `text`.
pub fn parse(text: &str) -> Result<AqlQuery, AqlError> {
    if text.len() > MAX_QUERY_BYTES {
        return Err(AqlError {
            message: format!("the query is longer than {MAX_QUERY_BYTES} bytes"),
            position: char_offset(text, MAX_QUERY_BYTES),
        });
    }
    let mut p = Parser { text, at: 0 };
    p.skip_ws();
    let domain_at = p.at;
    let domain = p.ident();
    match domain {
        "items" => {}
        "" => return Err(p.error("expected items.find(…)")),
        other => {
            return Err(AqlError {
                message: format!(
                    "'{}.find' is not supported: arca answers items.find only (builds.find and the \
                     other domains may come later)",
                    other.escape_debug()
                ),
                position: char_offset(text, domain_at),
            });
        }
    }
    p.expect('.')?;
    let verb_at = p.at;
    if p.ident() != "find" {
        return Err(AqlError {
            message: "expected find after items.".into(),
            position: char_offset(text, verb_at),
        });
    }
    p.skip_ws();
    p.expect('(')?;
    p.skip_ws();
    let criteria_at = p.at;
    let criteria = if p.peek() == Some(')') {
        Map::new()
    } else {
        match p.json()? {
            Value::Object(map) => map,
            other => {
                return Err(AqlError {
                    message: format!("the criteria of find(…) must be a JSON object, not {other}"),
                    position: char_offset(text, criteria_at),
                });
            }
        }
    };
    p.skip_ws();
    p.expect(')')?;
    let mut mentions_type = false;
    let criterion = Criteria {
        text,
        from: criteria_at,
        mentions_type: &mut mentions_type,
    }
    .object(&criteria, 0)?;
    let criterion = if mentions_type {
        criterion
    } else {
        // the reference: items.find without a type finds files
        Criterion::files_only(criterion)
    };
    let mut query = ItemQuery::new(criterion);
    let mut include = Include::default_fields();
    let mut seen: Vec<&str> = Vec::new();
    loop {
        p.skip_ws();
        if p.at >= text.len() {
            break;
        }
        p.expect('.')?;
        let method_at = p.at;
        let method = p.ident();
        if seen.contains(&method) {
            return Err(AqlError {
                message: format!(".{method}(…) is given twice"),
                position: char_offset(text, method_at),
            });
        }
        p.skip_ws();
        p.expect('(')?;
        p.skip_ws();
        let args_at = p.at;
        match method {
            "include" => include = p.include()?,
            "sort" => {
                let (fields, ascending) = p.sort()?;
                query.sort = fields;
                query.ascending = ascending;
            }
            "offset" | "limit" => {
                // digits by hand: serde_json's stream refuses a number followed by ')'
                let digits = p.rest().len()
                    - p.rest()
                        .trim_start_matches(|c: char| c.is_ascii_digit())
                        .len();
                let n = p.rest()[..digits].parse::<u64>().ok();
                p.at += digits;
                let n = n.ok_or_else(|| AqlError {
                    message: format!(".{method}(…) takes a whole number"),
                    position: char_offset(text, args_at),
                })?;
                if method == "offset" {
                    query.offset = n;
                } else {
                    query.limit = Some(n);
                }
            }
            "" => return Err(p.error("expected a method name after '.'")),
            other => {
                return Err(AqlError {
                    message: format!(
                        "'.{}(' is not supported (items.find takes include, sort, offset, limit)",
                        other.escape_debug()
                    ),
                    position: char_offset(text, method_at),
                });
            }
        }
        seen.push(method);
        p.skip_ws();
        p.expect(')')?;
    }
    Ok(AqlQuery { query, include })
}

/// A cursor over the query text.
struct Parser<'a> {
    text: &'a str,
    /// Byte offset.
    at: usize,
}

impl<'a> Parser<'a> {
    fn rest(&self) -> &'a str {
        self.text.get(self.at..).unwrap_or_default()
    }

    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }

    fn skip_ws(&mut self) {
        let rest = self.rest();
        self.at += rest.len() - rest.trim_start().len();
    }

    /// Letters, digits and `_` at the cursor (possibly none).
    fn ident(&mut self) -> &'a str {
        let rest = self.rest();
        let len = rest
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
            .unwrap_or(rest.len());
        self.at += len;
        &rest[..len]
    }

    fn expect(&mut self, c: char) -> Result<(), AqlError> {
        if self.peek() == Some(c) {
            self.at += c.len_utf8();
            Ok(())
        } else {
            Err(self.error(&format!("expected '{c}'")))
        }
    }

    /// An error at the cursor, showing what is there.
    fn error(&self, what: &str) -> AqlError {
        let found: String = self.rest().chars().take(20).collect();
        AqlError {
            message: if found.is_empty() {
                format!("{what}, found the end of the query")
            } else {
                format!("{what}, found '{}'", found.escape_debug())
            },
            position: char_offset(self.text, self.at),
        }
    }

    /// One JSON value at the cursor.
    fn json(&mut self) -> Result<Value, AqlError> {
        let rest = self.rest();
        let mut values = serde_json::Deserializer::from_str(rest).into_iter::<Value>();
        match values.next() {
            Some(Ok(v)) => {
                self.at += values.byte_offset();
                Ok(v)
            }
            Some(Err(e)) => Err(AqlError {
                message: format!("invalid JSON: {e}"),
                position: char_offset(self.text, self.at + line_column_offset(rest, &e)),
            }),
            None => Err(self.error("expected a JSON value")),
        }
    }

    /// `.include("repo", "name", "property.*", "@key")`'s arguments.
    fn include(&mut self) -> Result<Include, AqlError> {
        let mut include = Include {
            fields: Vec::new(),
            all_properties: false,
            properties: Vec::new(),
        };
        loop {
            self.skip_ws();
            if self.peek() == Some(')') {
                break;
            }
            let at = self.at;
            let name = match self.json()? {
                Value::String(s) => s,
                other => {
                    return Err(AqlError {
                        message: format!(".include(…) takes field names as strings, not {other}"),
                        position: char_offset(self.text, at),
                    });
                }
            };
            let name = name.strip_prefix("item.").unwrap_or(&name);
            match name {
                "*" => include.fields = Include::default_fields().fields,
                "property.*" | "property.key" | "property.value" | "property" => {
                    include.all_properties = true
                }
                n if n.starts_with('@') && n.len() > 1 => include.properties.push(n[1..].into()),
                n => match Field::parse(n) {
                    Some(f) if !include.fields.contains(&f) => include.fields.push(f),
                    Some(_) => {}
                    None => {
                        return Err(AqlError {
                            message: format!(
                                "unknown field '{}' in .include(…) (fields: {})",
                                n.escape_debug(),
                                field_names()
                            ),
                            position: char_offset(self.text, at),
                        });
                    }
                },
            }
            self.skip_ws();
            if self.peek() == Some(',') {
                self.at += 1;
            }
        }
        if include.fields.is_empty() {
            // properties alone: the reference still names the items
            include.fields = vec![Field::Repo, Field::Path, Field::Name];
        }
        Ok(include)
    }

    /// `.sort({"$asc": ["repo", "name"]})`'s argument.
    fn sort(&mut self) -> Result<(Vec<Field>, bool), AqlError> {
        let at = self.at;
        let bad = |message: String| AqlError {
            message,
            position: char_offset(self.text, at),
        };
        let Value::Object(map) = self.json()? else {
            return Err(bad(
                ".sort(…) takes {\"$asc\": [fields]} or {\"$desc\": [fields]}".into(),
            ));
        };
        let mut entries = map.into_iter();
        let (Some((direction, fields)), None) = (entries.next(), entries.next()) else {
            return Err(bad(".sort(…) takes one of $asc or $desc".into()));
        };
        let ascending = match direction.as_str() {
            "$asc" => true,
            "$desc" => false,
            other => {
                return Err(bad(format!(
                    ".sort(…): '{}' is not $asc or $desc",
                    other.escape_debug()
                )));
            }
        };
        let Value::Array(fields) = fields else {
            return Err(bad(format!(".sort(…): {direction} takes a list of fields")));
        };
        let mut out = Vec::new();
        for f in fields {
            let field = f.as_str().and_then(Field::parse).ok_or_else(|| {
                bad(format!(
                    ".sort(…): unknown field {f} (fields: {})",
                    field_names()
                ))
            })?;
            out.push(field);
        }
        Ok((out, ascending))
    }
}

/// Turns the criteria object into a [`Criterion`].
struct Criteria<'a, 'b> {
    text: &'a str,
    /// Where the criteria start in the text (errors point at the token after it).
    from: usize,
    mentions_type: &'b mut bool,
}

impl Criteria<'_, '_> {
    /// An error about `token` (found in the text after the criteria's start).
    fn error(&self, token: &str, message: String) -> AqlError {
        let quoted = format!("\"{token}\"");
        let at = self
            .text
            .get(self.from..)
            .and_then(|t| t.find(&quoted))
            .map(|i| self.from + i)
            .unwrap_or(self.from);
        AqlError {
            message,
            position: char_offset(self.text, at),
        }
    }

    /// Every entry of an object must hold.
    fn object(&mut self, map: &Map<String, Value>, depth: usize) -> Result<Criterion, AqlError> {
        if depth > MAX_NESTING {
            return Err(AqlError {
                message: format!("the criteria nest deeper than {MAX_NESTING} levels"),
                position: char_offset(self.text, self.from),
            });
        }
        let mut all = Vec::with_capacity(map.len());
        for (key, value) in map {
            all.push(self.entry(key, value, depth)?);
        }
        Ok(Criterion::All(all))
    }

    fn entry(&mut self, key: &str, value: &Value, depth: usize) -> Result<Criterion, AqlError> {
        match key {
            "$and" | "$or" => {
                let parts: Vec<&Map<String, Value>> = match value {
                    Value::Array(list) => list
                        .iter()
                        .map(|v| {
                            v.as_object().ok_or_else(|| {
                                self.error(key, format!("{key} takes a list of objects"))
                            })
                        })
                        .collect::<Result<_, _>>()?,
                    // the reference also takes one object: each entry is a term
                    Value::Object(map) => {
                        let terms = map
                            .iter()
                            .map(|(k, v)| self.entry(k, v, depth + 1))
                            .collect::<Result<Vec<_>, _>>()?;
                        return Ok(if key == "$and" {
                            Criterion::All(terms)
                        } else {
                            Criterion::Any(terms)
                        });
                    }
                    _ => return Err(self.error(key, format!("{key} takes a list of objects"))),
                };
                let terms = parts
                    .into_iter()
                    .map(|m| self.object(m, depth + 1))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(if key == "$and" {
                    Criterion::All(terms)
                } else {
                    Criterion::Any(terms)
                })
            }
            k if k.starts_with('@') => {
                let name = &k[1..];
                if name.is_empty() {
                    return Err(self.error(k, "'@' must be followed by a property name".into()));
                }
                self.comparisons(
                    k,
                    value,
                    |op, values| Criterion::Prop {
                        key: name.to_string(),
                        op,
                        values,
                    },
                    None,
                )
            }
            k => {
                let name = k.strip_prefix("item.").unwrap_or(k);
                let Some(field) = Field::parse(name) else {
                    return Err(self.error(
                        k,
                        format!(
                            "unknown field '{}' (fields: {}, or @property)",
                            k.escape_debug(),
                            field_names()
                        ),
                    ));
                };
                if field == Field::Type {
                    *self.mentions_type = true;
                    if value.as_str() == Some("any") {
                        return Ok(Criterion::All(Vec::new()));
                    }
                }
                self.comparisons(
                    k,
                    value,
                    |op, values| Criterion::Field { field, op, values },
                    Some(field),
                )
            }
        }
    }

    /// `"v"` (equality) or `{"$op": v, …}` (each must hold).
    fn comparisons(
        &mut self,
        key: &str,
        value: &Value,
        make: impl Fn(Op, Vec<Arg>) -> Criterion,
        field: Option<Field>,
    ) -> Result<Criterion, AqlError> {
        match value {
            Value::Object(ops) => {
                if ops.is_empty() {
                    return Err(
                        self.error(key, format!("'{}' has no comparison", key.escape_debug()))
                    );
                }
                let mut all = Vec::with_capacity(ops.len());
                for (op_name, operand) in ops {
                    let op = Op::parse(op_name).ok_or_else(|| {
                        self.error(
                            op_name,
                            format!(
                                "unknown operator '{}' (operators: $eq $ne $match $nmatch $gt \
                                 $gte $lt $lte $in)",
                                op_name.escape_debug()
                            ),
                        )
                    })?;
                    let values = if op == Op::In {
                        let Value::Array(list) = operand else {
                            return Err(self.error(op_name, "$in takes a list".into()));
                        };
                        if list.is_empty() {
                            return Err(self.error(op_name, "$in takes a non-empty list".into()));
                        }
                        list.iter()
                            .map(|v| self.scalar(key, v, field))
                            .collect::<Result<Vec<_>, _>>()?
                    } else {
                        vec![self.scalar(key, operand, field)?]
                    };
                    all.push(make(op, values));
                }
                Ok(if all.len() == 1 {
                    all.remove(0)
                } else {
                    Criterion::All(all)
                })
            }
            v => Ok(make(Op::Eq, vec![self.scalar(key, v, field)?])),
        }
    }

    /// One value, in the field's type: dates as ISO 8601 (or epoch milliseconds), sizes and
    /// depths as numbers, `path` `.` as the repository root.
    fn scalar(&self, key: &str, v: &Value, field: Option<Field>) -> Result<Arg, AqlError> {
        let bad = |what: &str| self.error(key, format!("'{}' {what}, not {v}", key.escape_debug()));
        match (field, v) {
            (Some(Field::Created | Field::Modified | Field::Updated), Value::String(s)) => {
                parse_time(s).map(Arg::Int).ok_or_else(|| {
                    bad("takes an ISO 8601 date or time (2026-12-07 or 2026-12-07T10:00:00Z)")
                })
            }
            (Some(Field::Path), Value::String(s)) if s == "." => Ok(Arg::Text(String::new())),
            (_, Value::String(s)) => Ok(Arg::Text(s.clone())),
            (_, Value::Number(n)) => match n.as_i64() {
                Some(i) if field.is_some_and(Field::is_numeric) => Ok(Arg::Int(i)),
                Some(i) => Ok(Arg::Text(i.to_string())),
                None => Err(bad("takes a whole number or a string")),
            },
            (_, Value::Bool(b)) if field.is_none() => Ok(Arg::Text(b.to_string())),
            _ => Err(bad("takes a string or a number")),
        }
    }
}

/// Epoch milliseconds of an RFC 3339 time or a date (midnight UTC).
fn parse_time(s: &str) -> Option<i64> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return i64::try_from(t.unix_timestamp_nanos() / 1_000_000).ok();
    }
    let date =
        time::Date::parse(s, time::macros::format_description!("[year]-[month]-[day]")).ok()?;
    Some(date.midnight().assume_utc().unix_timestamp() * 1000)
}

fn field_names() -> String {
    Field::ALL
        .iter()
        .map(|f| f.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// The character offset of byte offset `byte` (clamped) in `text`.
fn char_offset(text: &str, byte: usize) -> usize {
    let mut byte = byte.min(text.len());
    while !text.is_char_boundary(byte) {
        byte -= 1;
    }
    text[..byte].chars().count()
}

/// The byte offset in `text` of a serde_json error's line and column.
fn line_column_offset(text: &str, e: &serde_json::Error) -> usize {
    let mut offset = 0;
    for (n, line) in text.split_inclusive('\n').enumerate() {
        if n + 1 == e.line() {
            return offset + e.column().saturating_sub(1).min(line.len());
        }
        offset += line.len();
    }
    text.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn criterion(text: &str) -> Criterion {
        parse(text).unwrap().query.criterion
    }

    #[test]
    fn a_full_query_parses() {
        let q = parse(
            r#"items.find({"repo": "libs", "name": {"$match": "*.jar"}, "$or": [{"@qa": "done"},
               {"size": {"$gt": 100, "$lte": 200}}], "created": {"$gte": "2026-01-01"}})
               .include("name", "repo", "property.*").sort({"$desc": ["size"]}).offset(5).limit(10)"#,
        )
        .unwrap();
        assert_eq!(q.query.limit, Some(10));
        assert_eq!(q.query.offset, 5);
        assert!(!q.query.ascending);
        assert_eq!(q.query.sort, vec![Field::Size]);
        assert_eq!(q.include.fields, vec![Field::Name, Field::Repo]);
        assert!(q.include.all_properties);
        let text = format!("{:?}", q.query.criterion);
        assert!(text.contains("1767225600000"), "{text}");
        assert!(text.contains("Text(\"file\")"), "files by default: {text}");
    }

    #[test]
    fn type_any_drops_the_file_default() {
        let c = criterion(r#"items.find({"type": "any"})"#);
        assert_eq!(c, Criterion::All(vec![Criterion::All(vec![])]));
        assert_eq!(
            criterion("items.find()"),
            Criterion::All(vec![
                Criterion::Field {
                    field: Field::Type,
                    op: Op::Eq,
                    values: vec![Arg::Text("file".into())]
                },
                Criterion::All(vec![])
            ])
        );
    }

    #[test]
    fn errors_name_the_token_and_where_it_is() {
        let e = parse(r#"items.find({"nmae": "x"})"#).unwrap_err();
        assert!(e.message.contains("nmae"), "{e}");
        assert_eq!(e.position, 12);
        let e = parse(r#"items.find({"name": {"$like": "x"}})"#).unwrap_err();
        assert!(e.message.contains("$like"), "{e}");
        assert_eq!(e.position, 21);
        let e = parse(r#"builds.find()"#).unwrap_err();
        assert!(e.message.contains("builds.find"), "{e}");
        let e = parse(r#"items.find({"name": })"#).unwrap_err();
        assert!(e.message.contains("JSON"), "{e}");
        assert_eq!(e.position, 20);
        let e = parse(r#"items.find().limit("x")"#).unwrap_err();
        assert!(e.message.contains("limit"), "{e}");
        let e = parse(r#"items.find().frobnicate(1)"#).unwrap_err();
        assert!(e.message.contains("frobnicate") && e.position == 13, "{e}");
        let e = parse(r#"items.find({"created": {"$gt": "yesterday"}})"#).unwrap_err();
        assert!(e.message.contains("ISO 8601"), "{e}");
        // positions count characters, not bytes
        let e = parse("items.find({\"name\": \"é\"}).limit(x)").unwrap_err();
        assert_eq!(e.position, 32, "{e}");
        assert!(parse("items.find(").is_err());
        assert!(parse("items.find({}) junk").is_err());
        assert!(parse("").is_err());
    }

    #[test]
    fn nesting_is_bounded() {
        let mut q = String::from("{\"name\": \"x\"}");
        for _ in 0..40 {
            q = format!("{{\"$and\": [{q}]}}");
        }
        let e = parse(&format!("items.find({q})")).unwrap_err();
        assert!(e.message.contains("nest"), "{e}");
    }
}
