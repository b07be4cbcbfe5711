//! Listings a page at a time: a folder's children in listing order (folders first, then files,
//! each by name) and every item below a folder in path order. Each page starts after the last
//! item of the one before (keyset paging on the `items_children` and `(repo, path)` indexes),
//! so the last page of a folder with 100k children costs what the first does, and a caller
//! streaming a listing holds one page at a time. Pages are read in separate statements: a
//! listing taken while the folder changes shows every item present throughout, once, in order.

use crate::items::{ITEM_COLUMNS, item_from_row};
use crate::{Conn, DbError, Item, Row, args};

/// What a listing shows of an item: fewer columns than an [`Item`], read without the join to
/// `binaries` unless the checksums are wanted (most of a large listing's time is reading rows).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    pub path: String,
    pub name: String,
    pub folder: bool,
    /// Bytes of a file (0 for a folder).
    pub size: u64,
    pub modified: i64,
    /// The file's SHA-1 and SHA-256, when asked for ([`Columns::WithChecksums`]).
    pub sha1: Option<String>,
    pub sha256: Option<String>,
}

impl From<&Item> for Listed {
    fn from(i: &Item) -> Listed {
        Listed {
            path: i.path.clone(),
            name: i.name.clone(),
            folder: i.folder,
            size: i.size(),
            modified: i.modified,
            sha1: i.binary.as_ref().map(|b| b.sha1.clone()),
            sha256: i.binary.as_ref().map(|b| b.sha256.clone()),
        }
    }
}

/// Which columns a listing reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Columns {
    Plain,
    WithChecksums,
}

impl Columns {
    fn select(self) -> &'static str {
        match self {
            Columns::Plain => {
                "SELECT i.path, i.name, i.folder, i.size, i.modified, NULL, NULL FROM items i"
            }
            Columns::WithChecksums => {
                "SELECT i.path, i.name, i.folder, i.size, i.modified, b.sha1, i.sha256 \
                 FROM items i LEFT JOIN binaries b ON b.sha256 = i.sha256"
            }
        }
    }
}

fn listed_from_row(r: &Row<'_>) -> Result<Listed, DbError> {
    Ok(Listed {
        path: r.get(0)?,
        name: r.get(1)?,
        folder: r.get(2)?,
        size: u64::try_from(r.get::<i64>(3)?).unwrap_or(0),
        modified: r.get(4)?,
        sha1: r.get(5)?,
        sha256: r.get(6)?,
    })
}

/// Where a walk over a folder's direct children stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ChildrenCursor {
    /// The folders are done; files now.
    files: bool,
    /// The name of the last child read in the current part.
    after: Option<String>,
    done: bool,
}

impl ChildrenCursor {
    pub fn is_done(&self) -> bool {
        self.done
    }
}

/// The next page (at most `limit`) of the direct children of folder `path` (`""`: the root) of
/// `repo`, each handed to `each` in order; returns how many (0 once every child was read).
pub fn next_children(
    conn: &Conn<'_>,
    repo: &str,
    path: &str,
    columns: Columns,
    cursor: &mut ChildrenCursor,
    limit: u64,
    mut each: impl FnMut(&Listed),
) -> Result<usize, DbError> {
    children_rows(
        conn,
        (repo, path, None),
        cursor,
        limit,
        columns.select(),
        listed_from_row,
        |l| &l.name,
        |l| each(&l),
    )
}

/// [`next_children`] as whole items, of only the children whose name matches `name` (as
/// [`crate::items::children_page`]: `*`/`?` wildcards, else a substring; ASCII case ignored).
pub fn next_children_named(
    conn: &Conn<'_>,
    repo: &str,
    path: &str,
    name: Option<&str>,
    cursor: &mut ChildrenCursor,
    limit: u64,
) -> Result<Vec<Item>, DbError> {
    let select =
        format!("SELECT {ITEM_COLUMNS} FROM items i LEFT JOIN binaries b ON b.sha256 = i.sha256");
    let mut page = Vec::new();
    children_rows(
        conn,
        (repo, path, name),
        cursor,
        limit,
        &select,
        item_from_row,
        |i| &i.name,
        |i| page.push(i),
    )?;
    Ok(page)
}

/// The next page of `folder` = (repo, path, name pattern)'s children, read by `select` (the
/// columns and `FROM items i …`) and `row`, each handed over to `each`; returns how many.
#[allow(clippy::too_many_arguments)] // the page's where, what and whereto; a struct would only rename them
fn children_rows<T>(
    conn: &Conn<'_>,
    folder: (&str, &str, Option<&str>),
    cursor: &mut ChildrenCursor,
    limit: u64,
    select: &str,
    mut row: impl FnMut(&Row<'_>) -> Result<T, DbError>,
    name_of: impl Fn(&T) -> &String,
    mut each: impl FnMut(T),
) -> Result<usize, DbError> {
    let (repo, path, name) = folder;
    let limit = i64::try_from(limit.max(1)).unwrap_or(i64::MAX);
    let like = name.map(crate::items::name_like);
    while !cursor.done {
        // One part (folders, then files) at a time: `folder = ?` and `name > ?` make each page an
        // index range of `items_children (repo, parent, folder DESC, name, id)`.
        let folder = !cursor.files;
        let mut params: Vec<&dyn crate::sql::ToValue> = vec![&repo, &path, &folder];
        let mut conditions = String::new();
        if let Some(after) = &cursor.after {
            params.push(after);
            conditions.push_str(&format!(" AND i.name > ?{}", params.len()));
        }
        if let Some(like) = &like {
            params.push(like);
            conditions.push_str(&format!(
                " AND LOWER(i.name) LIKE LOWER(?{}) ESCAPE '\\'",
                params.len()
            ));
        }
        params.push(&limit);
        let mut last = None;
        let n = conn.query_each(
            &format!(
                "{select} WHERE i.repo = ?1 AND i.parent = ?2 AND i.folder = ?3{conditions} \
                 ORDER BY i.name LIMIT ?{}",
                params.len()
            ),
            &params,
            |r| {
                // handed over one row late: the page's last row is the cursor's, then `each`'s
                if let Some(previous) = last.replace(row(r)?) {
                    each(previous);
                }
                Ok(())
            },
        )?;
        if (n as i64) < limit {
            if cursor.files {
                cursor.done = true;
            } else {
                cursor.files = true;
                cursor.after = None;
            }
        } else {
            cursor.after = last.as_ref().map(|i| name_of(i).clone());
        }
        if let Some(item) = last {
            each(item);
        }
        if n > 0 {
            return Ok(n);
        }
    }
    Ok(0)
}

/// Where a walk over everything below a folder stands.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TreeCursor {
    /// The path of the last item read.
    after: Option<String>,
    done: bool,
}

impl TreeCursor {
    pub fn is_done(&self) -> bool {
        self.done
    }
}

/// The next page (at most `limit`) of the items below folder `path` (`""`: the whole
/// repository), in path order, each handed to `each`; returns how many (0 once every item was
/// read).
pub fn next_descendants(
    conn: &Conn<'_>,
    repo: &str,
    path: &str,
    columns: Columns,
    cursor: &mut TreeCursor,
    limit: u64,
    mut each: impl FnMut(&Listed),
) -> Result<usize, DbError> {
    if cursor.done {
        return Ok(0);
    }
    let limit = i64::try_from(limit.max(1)).unwrap_or(i64::MAX);
    // Below `a/b`: paths in [`a/b/`, `a/b0`) ('0' is the character after '/'); no path is `a/b/`
    // itself, so `> 'a/b/'` starts the walk as well as `> last path` continues it.
    let (start, end) = if path.is_empty() {
        (String::new(), "\u{10FFFF}".to_string())
    } else {
        (format!("{path}/"), format!("{path}0"))
    };
    let after = cursor.after.as_deref().unwrap_or(&start);
    let mut last = None;
    let n = conn.query_each(
        &format!(
            "{} WHERE i.repo = ?1 AND i.path > ?2 AND i.path < ?3 ORDER BY i.path LIMIT ?4",
            columns.select()
        ),
        args![repo, after, end, limit],
        |r| {
            let item = listed_from_row(r)?;
            each(&item);
            last = Some(item);
            Ok(())
        },
    )?;
    if (n as i64) < limit {
        cursor.done = true;
    }
    cursor.after = last.map(|i| i.path);
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::items::{children, descendants, insert_binary, put_file};
    use crate::{Binary, NewFile, Repo, migrate, repos};

    fn db() -> rusqlite::Connection {
        let raw = rusqlite::Connection::open_in_memory().unwrap();
        {
            let conn = Conn::sqlite(&raw);
            migrate::apply(&conn).unwrap();
            repos::insert(&conn, &Repo::local("a", 1)).unwrap();
            repos::insert(&conn, &Repo::local("b", 1)).unwrap();
        }
        raw
    }

    fn deploy(conn: &Conn<'_>, repo: &str, paths: &[&str]) {
        let binary = Binary {
            sha256: "a".repeat(64),
            sha1: "a".repeat(40),
            md5: "a".repeat(32),
            size: 1,
        };
        insert_binary(conn, &binary, 1).unwrap();
        for p in paths {
            put_file(conn, repo, p, &NewFile::new(binary.clone(), "u", 1)).unwrap();
        }
    }

    fn paths(items: &[Item]) -> Vec<String> {
        items.iter().map(|i| i.path.clone()).collect()
    }

    fn listed_paths(items: &[Listed]) -> Vec<String> {
        items.iter().map(|i| i.path.clone()).collect()
    }

    /// One page of [`next_children`] collected; its count must be what was handed over.
    fn children_page(
        conn: &Conn<'_>,
        folder: &str,
        columns: Columns,
        cursor: &mut ChildrenCursor,
        limit: u64,
    ) -> Vec<Listed> {
        let mut page = Vec::new();
        let n = next_children(conn, "a", folder, columns, cursor, limit, |l| {
            page.push(l.clone())
        })
        .unwrap();
        assert_eq!(n, page.len());
        page
    }

    /// One page of [`next_descendants`] collected; its count must be what was handed over.
    fn descendants_page(
        conn: &Conn<'_>,
        folder: &str,
        cursor: &mut TreeCursor,
        limit: u64,
    ) -> Vec<Listed> {
        let mut page = Vec::new();
        let n = next_descendants(conn, "a", folder, Columns::Plain, cursor, limit, |l| {
            page.push(l.clone())
        })
        .unwrap();
        assert_eq!(n, page.len());
        page
    }

    const TREE: &[&str] = &[
        "x/b.txt",
        "x/a.txt",
        "x/Z.txt",
        "x/d/1",
        "x/c/2",
        "x/c/sub/3",
        "x-sibling/no",
        "x0/no",
        "y/no",
    ];

    #[test]
    fn children_come_in_pages_of_any_size_in_listing_order() {
        let raw = db();
        let conn = Conn::sqlite(&raw);
        deploy(&conn, "a", TREE);
        deploy(&conn, "b", &["x/other-repo"]);
        for folder in ["", "x", "x/c", "y", "nothing-here"] {
            let whole_items = children(&conn, "a", folder).unwrap();
            let whole = paths(&whole_items);
            let columns = [Columns::Plain, Columns::WithChecksums];
            for (limit, columns) in [1, 2, 3, 100].into_iter().zip(columns.into_iter().cycle()) {
                let mut cursor = ChildrenCursor::default();
                let mut walked = Vec::new();
                loop {
                    let page = children_page(&conn, folder, columns, &mut cursor, limit);
                    assert!(page.len() as u64 <= limit);
                    if page.is_empty() {
                        break;
                    }
                    if columns == Columns::WithChecksums {
                        let offset = walked.len();
                        let expected: Vec<Listed> = whole_items[offset..offset + page.len()]
                            .iter()
                            .map(Listed::from)
                            .collect();
                        assert_eq!(page, expected);
                    }
                    walked.extend(listed_paths(&page));
                }
                assert!(cursor.is_done());
                assert_eq!(walked, whole, "{folder:?} in pages of {limit}");
            }
        }
        assert_eq!(
            paths(&children(&conn, "a", "x").unwrap()),
            ["x/c", "x/d", "x/Z.txt", "x/a.txt", "x/b.txt"]
        );
        for (name, expected) in [
            ("TXT", &["x/Z.txt", "x/a.txt", "x/b.txt"][..]),
            ("?", &["x/c", "x/d"][..]),
            ("[*].txt", &[][..]),
        ] {
            let mut cursor = ChildrenCursor::default();
            let mut walked = Vec::new();
            loop {
                let page =
                    next_children_named(&conn, "a", "x", Some(name), &mut cursor, 1).unwrap();
                if page.is_empty() {
                    break;
                }
                walked.extend(paths(&page));
            }
            assert_eq!(walked, expected, "{name}");
        }
    }

    #[test]
    fn descendants_come_in_pages_without_siblings_that_share_a_prefix() {
        let raw = db();
        let conn = Conn::sqlite(&raw);
        deploy(&conn, "a", TREE);
        deploy(&conn, "b", &["x/other-repo"]);
        for folder in ["", "x", "x/c", "y"] {
            let whole = paths(&descendants(&conn, "a", folder).unwrap());
            for limit in [1, 2, 4, 100] {
                let mut cursor = TreeCursor::default();
                let mut walked = Vec::new();
                while !cursor.is_done() {
                    walked.extend(listed_paths(&descendants_page(
                        &conn,
                        folder,
                        &mut cursor,
                        limit,
                    )));
                }
                assert_eq!(walked, whole, "{folder:?} in pages of {limit}");
            }
        }
        let mut cursor = TreeCursor::default();
        assert_eq!(
            listed_paths(&descendants_page(&conn, "x", &mut cursor, 100)),
            [
                "x/Z.txt",
                "x/a.txt",
                "x/b.txt",
                "x/c",
                "x/c/2",
                "x/c/sub",
                "x/c/sub/3",
                "x/d",
                "x/d/1"
            ]
        );
    }
}
