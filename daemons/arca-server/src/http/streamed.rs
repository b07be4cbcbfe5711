//! Listings streamed a page at a time (folder info, `?list`, the HTML index): the server holds
//! one page of [`LISTING_PAGE`] items, whatever the folder's size. Each page is read and turned
//! into text on a blocking thread ([`Db::read`]), then handed through a small bounded channel
//! to the response body: a slow client slows the reading, it does not fill memory. The JSON is
//! produced piece by piece but byte for byte as `serde_json::to_vec_pretty` would print the
//! whole document ([`PrettyArray`]).

use bytes::Bytes;
use serde::Serialize;
use serde_json::Value;
use serde_json::ser::{Formatter, PrettyFormatter};
use tokio::sync::mpsc;
use warp::Reply;
use warp::http::{HeaderValue, StatusCode, header};
use warp::reply::Response;

use arca_db::listing::{self, ChildrenCursor, Columns, Listed, TreeCursor};
use arca_db::{Conn, Db, DbError};

use crate::http::error::ApiResult;

/// Items read from the database per page of a streamed listing.
pub const LISTING_PAGE: u64 = 1_000;

/// Chunks of a body in flight between the page reader and the connection.
const CHANNEL_CHUNKS: usize = 4;

/// What a listing walks over, and which columns it reads.
#[derive(Debug, Clone)]
pub enum Walk {
    /// The folder's direct children, folders first, then by name.
    Children(ChildrenCursor, Columns),
    /// Everything below the folder, in path order.
    Tree(TreeCursor, Columns),
}

impl Walk {
    pub fn children(columns: Columns) -> Walk {
        Walk::Children(ChildrenCursor::default(), columns)
    }

    pub fn tree(columns: Columns) -> Walk {
        Walk::Tree(TreeCursor::default(), columns)
    }

    fn is_done(&self) -> bool {
        match self {
            Walk::Children(c, _) => c.is_done(),
            Walk::Tree(c, _) => c.is_done(),
        }
    }

    /// The next page, each item handed to `each` in order (its text is written from the row,
    /// with no page of records kept beside it).
    fn next(
        &mut self,
        conn: &Conn<'_>,
        repo: &str,
        path: &str,
        each: impl FnMut(&Listed),
    ) -> Result<usize, DbError> {
        match self {
            Walk::Children(c, columns) => {
                listing::next_children(conn, repo, path, *columns, c, LISTING_PAGE, each)
            }
            Walk::Tree(c, columns) => {
                listing::next_descendants(conn, repo, path, *columns, c, LISTING_PAGE, each)
            }
        }
    }
}

/// How a listing writes its items: each item's entry (nothing for an item not shown), then the
/// end of the body.
pub trait Entries: Send + 'static {
    fn entry(&mut self, item: &Listed, out: &mut Vec<u8>);
    fn finish(self, out: &mut Vec<u8>);
}

/// A listing of folder `path` of repository `repo`: `head`, the entries, the end.
pub struct Listing<E> {
    pub repo: String,
    pub path: String,
    pub walk: Walk,
    pub head: Vec<u8>,
    pub entries: E,
}

impl<E: Entries> Listing<E> {
    /// The next chunk of the body; `None` when every item was written.
    fn next_chunk(&mut self, conn: &Conn<'_>) -> Result<Option<Vec<u8>>, DbError> {
        if self.walk.is_done() {
            return Ok(None);
        }
        let mut out = std::mem::take(&mut self.head);
        let entries = &mut self.entries;
        self.walk.next(conn, &self.repo, &self.path, |item| {
            entries.entry(item, &mut out)
        })?;
        Ok(Some(out))
    }

    /// The response: the first page is read before it is returned (a database failure there is
    /// an error answer); the rest follow as the client takes them. A failure later cuts the body
    /// short, so the client sees a broken answer, never a complete-looking wrong one.
    pub async fn respond(self, db: &Db, content_type: &'static str) -> ApiResult<Response> {
        let (first, listing) = read_chunk(db, self).await?;
        let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(CHANNEL_CHUNKS);
        let db = db.clone();
        tokio::spawn(async move {
            let (mut chunk, mut listing) = (first, listing);
            loop {
                let Some(text) = chunk else {
                    let mut end = Vec::new();
                    listing.entries.finish(&mut end);
                    let _ = tx.send(Ok(Bytes::from(end))).await;
                    return;
                };
                if !text.is_empty() && tx.send(Ok(Bytes::from(text))).await.is_err() {
                    return; // the client went away
                }
                match read_chunk(&db, listing).await {
                    Ok((next, rest)) => (chunk, listing) = (next, rest),
                    Err(e) => {
                        tracing::warn!(error = %e, "listing cut short");
                        let _ = tx.send(Err(std::io::Error::other(e))).await;
                        return;
                    }
                }
            }
        });
        let stream = futures_util::stream::unfold(rx, |mut rx| async move {
            rx.recv().await.map(|chunk| (chunk, rx))
        });
        let mut resp = warp::reply::stream(stream).into_response();
        *resp.status_mut() = StatusCode::OK;
        resp.headers_mut()
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
        Ok(resp)
    }
}

/// The listing's next chunk, read on a blocking thread.
async fn read_chunk<E: Entries>(
    db: &Db,
    mut listing: Listing<E>,
) -> Result<(Option<Vec<u8>>, Listing<E>), DbError> {
    db.read(move |conn| {
        let chunk = listing.next_chunk(conn)?;
        Ok::<_, DbError>((chunk, listing))
    })
    .await
}

/// A JSON document printed as `serde_json::to_vec_pretty` prints it, with one array field
/// written element by element: `head`, then the elements, then [`PrettyArray::finish`].
pub struct PrettyArray {
    count: u64,
    tail: String,
}

impl PrettyArray {
    /// `document` with its top-level array field `field` streamed: the text up to and including
    /// the array's `[`, and the writer of the rest.
    pub fn split(mut document: Value, field: &str) -> (String, PrettyArray) {
        // The field is printed as a marker no value can contain (paths and names have no NUL),
        // and the document is cut around it.
        const MARKER: &str = "\u{0}arca-streamed-array\u{0}";
        if let Some(obj) = document.as_object_mut() {
            obj.insert(field.to_string(), Value::from(MARKER));
        }
        let text = serde_json::to_string_pretty(&document).unwrap_or_default();
        let marker = serde_json::to_string(MARKER).unwrap_or_default();
        let (head, tail) = match text.find(&marker) {
            Some(at) => (&text[..at], &text[at + marker.len()..]),
            None => (text.as_str(), ""),
        };
        (
            format!("{head}["),
            PrettyArray {
                count: 0,
                tail: tail.to_string(),
            },
        )
    }

    /// Append one element (the array is a field of the top-level object: two levels deep).
    pub fn push(&mut self, element: &impl Serialize, out: &mut Vec<u8>) {
        // The pretty printer as it stands inside the document's array: opening the two levels
        // writes nothing here; then the separator and indentation of an array element.
        let mut pretty = PrettyFormatter::new();
        let printed = pretty
            .begin_object(&mut std::io::sink())
            .and_then(|()| pretty.begin_array(&mut std::io::sink()))
            .and_then(|()| pretty.begin_array_value(out, self.count == 0))
            .and_then(|()| {
                let mut printer = serde_json::Serializer::with_formatter(&mut *out, pretty);
                element
                    .serialize(&mut printer)
                    .map_err(std::io::Error::from)
            });
        // Writing to memory fails only for a value that cannot be serialized (none of ours).
        debug_assert!(printed.is_ok());
        self.count += 1;
    }

    /// Close the array and the document.
    pub fn finish(self, out: &mut Vec<u8>) {
        out.extend_from_slice(if self.count == 0 { b"]" } else { b"\n  ]" });
        out.extend_from_slice(self.tail.as_bytes());
    }
}

/// JSON entries: `element` is given each item and an [`Element`] to push its array element to
/// (a `Value`, or a typed record, possibly borrowing from the item, whose fields are in the
/// order a `Value` prints its keys: sorted); it pushes nothing for an item not shown.
pub struct JsonEntries<F> {
    array: PrettyArray,
    element: F,
}

impl<F> JsonEntries<F> {
    pub fn new(array: PrettyArray, element: F) -> Self {
        JsonEntries { array, element }
    }
}

/// Where an item's array element goes.
pub struct Element<'a> {
    array: &'a mut PrettyArray,
    out: &'a mut Vec<u8>,
}

impl Element<'_> {
    pub fn push(&mut self, element: &impl Serialize) {
        self.array.push(element, self.out);
    }
}

impl<F> Entries for JsonEntries<F>
where
    F: FnMut(&Listed, &mut Element<'_>) + Send + 'static,
{
    fn entry(&mut self, item: &Listed, out: &mut Vec<u8>) {
        (self.element)(
            item,
            &mut Element {
                array: &mut self.array,
                out,
            },
        );
    }

    fn finish(self, out: &mut Vec<u8>) {
        self.array.finish(out);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn streamed(document: &Value, field: &str, elements: &[Value]) -> String {
        let (head, mut array) = PrettyArray::split(document.clone(), field);
        let mut out = head.into_bytes();
        for e in elements {
            array.push(e, &mut out);
        }
        array.finish(&mut out);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn a_streamed_array_prints_as_the_whole_document_would() {
        let elements = [
            json!({"uri": "/a", "folder": true}),
            json!({"uri": "/b \"quoted\"\nline", "size": 3, "nested": {"k": [1, 2, {}], "e": []}}),
            json!([]),
            json!("plain"),
        ];
        for field in ["children", "files", "results", "zzz"] {
            for n in 0..=elements.len() {
                let mut whole = json!({
                    "repo": "r", "path": "/p", "uri": "http://x/api/storage/r/p", "created": "t",
                });
                whole[field] = Value::from(elements[..n].to_vec());
                let expected = serde_json::to_string_pretty(&whole).unwrap();
                assert_eq!(
                    streamed(&whole, field, &elements[..n]),
                    expected,
                    "{field}, {n}"
                );
            }
        }
    }
}
