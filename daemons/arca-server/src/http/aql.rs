//! `POST /api/search/aql`: an `items.find(…)` query ([`crate::aql`]) answered in the
//! reference's shape, `{"results": […], "range": {…}}`. Results are read a page at a time
//! and streamed, so a query over millions of items does not hold them in memory; only items
//! the caller may read are shown (the query itself is limited to the repositories they read).

use std::collections::{BTreeMap, HashMap};

use bytes::Bytes;
use serde_json::{Map, Value, json};
use tokio::sync::mpsc;
use warp::Reply;
use warp::http::{Method, StatusCode};
use warp::reply::Response;

use arca_db::item_query::{self, Arg, Criterion, Field, ItemQuery, Op};
use arca_db::permissions::Action;
use arca_db::{Item, Repo};

use crate::aql::{self, AqlQuery, Include};
use crate::http::authz::Authz;
use crate::http::error::{ApiError, ApiResult};
use crate::http::repos_api::readable_repos;
use crate::http::{Request, format, read_small_body};

/// Items read from the database per page.
const PAGE: u64 = 2_000;

pub async fn handle(req: &mut Request) -> ApiResult<Response> {
    if req.method != Method::POST {
        return Err(ApiError::method_not_allowed());
    }
    let mut body = req.take_body();
    let bytes = read_small_body(&mut body, aql::MAX_QUERY_BYTES).await?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|_| ApiError::bad_request("AQL: the query is not UTF-8 text"))?;
    let AqlQuery { query, include } =
        aql::parse(text).map_err(|e| ApiError::bad_request(e.to_string()))?;
    let (readable, authz) = readable_repos(req).await?;
    // only the repositories the caller reads anything in; paths are checked per result
    let query = if authz.is_admin() {
        query
    } else {
        let mut limited = query;
        limited.criterion = Criterion::All(vec![
            Criterion::Field {
                field: Field::Repo,
                op: Op::In,
                values: if readable.is_empty() {
                    vec![Arg::Text(String::new())]
                } else {
                    readable.iter().map(|r| Arg::Text(r.key.clone())).collect()
                },
            },
            limited.criterion,
        ]);
        limited
    };
    // the first page here: a bad query is a 400, not a broken stream
    let first = page(req, &query, 0).await?;
    let (tx, rx) = mpsc::channel::<std::io::Result<Bytes>>(4);
    let app = req.app.clone();
    let repos: HashMap<String, Repo> = readable.into_iter().map(|r| (r.key.clone(), r)).collect();
    tokio::spawn(async move {
        let mut out = Writer {
            tx,
            include,
            authz,
            repos,
            shown: 0,
        };
        if let Err(e) = out.run(&app, query, first).await {
            tracing::warn!(error = %e, "AQL results cut short");
            let _ = out.tx.send(Err(std::io::Error::other(e))).await;
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|chunk| (chunk, rx))
    });
    let mut resp = warp::reply::stream(stream).into_response();
    resp.headers_mut().insert(
        warp::http::header::CONTENT_TYPE,
        warp::http::HeaderValue::from_static("application/json"),
    );
    *resp.status_mut() = StatusCode::OK;
    Ok(resp)
}

/// The first page of the query's window (`offset`, `limit`).
async fn page(req: &Request, query: &ItemQuery, fetched: u64) -> ApiResult<Vec<Item>> {
    fetch_page(&req.app, query, fetched, None)
        .await
        .map_err(|e| match e {
            arca_db::DbError::Invalid(m) => ApiError::bad_request(format!("AQL: {m}")),
            other => ApiError::from(other),
        })
}

/// The page after `fetched` items of the window, or nothing past its end. In the default
/// order the page starts after the last item seen (`last`: keyset paging, each page as cheap
/// as the first); with a `.sort(…)` it is an OFFSET.
async fn fetch_page(
    app: &crate::state::App,
    query: &ItemQuery,
    fetched: u64,
    last: Option<i64>,
) -> Result<Vec<Item>, arca_db::DbError> {
    let remaining = query.limit.map_or(PAGE, |l| l.saturating_sub(fetched));
    if remaining == 0 {
        return Ok(Vec::new());
    }
    let mut q = query.clone();
    match last {
        Some(after) if query.sort.is_empty() => {
            q.offset = 0;
            q.after = Some(after);
        }
        _ => q.offset = query.offset.saturating_add(fetched),
    }
    q.limit = Some(remaining.min(PAGE));
    app.db.read(move |conn| item_query::find(conn, &q)).await
}

/// Writes the answer into the response stream.
struct Writer {
    tx: mpsc::Sender<std::io::Result<Bytes>>,
    include: Include,
    authz: Authz,
    repos: HashMap<String, Repo>,
    shown: u64,
}

impl Writer {
    async fn send(&self, text: String) -> Result<(), String> {
        self.tx
            .send(Ok(Bytes::from(text)))
            .await
            .map_err(|_| "the client went away".to_string())
    }

    async fn run(
        &mut self,
        app: &crate::state::App,
        query: ItemQuery,
        first: Vec<Item>,
    ) -> Result<(), String> {
        self.send("{\"results\":[".into()).await?;
        let mut fetched = 0u64;
        let mut items = first;
        loop {
            let count = items.len() as u64;
            fetched += count;
            let last = items.last().map(|i| i.id);
            self.write_page(app, items).await?;
            if count < PAGE {
                break;
            }
            items = fetch_page(app, &query, fetched, last)
                .await
                .map_err(|e| e.to_string())?;
            if items.is_empty() {
                break;
            }
        }
        let mut range = json!({
            "start_pos": query.offset,
            "end_pos": query.offset + self.shown,
            "total": self.shown,
        });
        if let (Some(limit), Some(obj)) = (query.limit, range.as_object_mut()) {
            obj.insert("limit".into(), json!(limit));
        }
        self.send(format!("],\"range\":{range}}}\n")).await
    }

    async fn write_page(
        &mut self,
        app: &crate::state::App,
        items: Vec<Item>,
    ) -> Result<(), String> {
        let visible: Vec<Item> = items
            .into_iter()
            .filter(|i| {
                self.repos
                    .get(&i.repo)
                    .is_some_and(|r| self.authz.allows(r, &i.path, Action::Read))
            })
            .collect();
        let props = if self.include.wants_properties() && !visible.is_empty() {
            let ids: Vec<i64> = visible.iter().map(|i| i.id).collect();
            app.db
                .read(move |conn| item_query::props_of(conn, &ids))
                .await
                .map_err(|e| e.to_string())?
        } else {
            BTreeMap::new()
        };
        let mut text = String::new();
        for item in &visible {
            if self.shown > 0 {
                text.push(',');
            }
            self.shown += 1;
            let entry = result(item, &self.include, props.get(&item.id));
            text.push_str(&entry.to_string());
        }
        if text.is_empty() {
            return Ok(());
        }
        self.send(text).await
    }
}

/// One result in the reference's shape.
fn result(item: &Item, include: &Include, props: Option<&BTreeMap<String, Vec<String>>>) -> Value {
    let mut out = Map::new();
    for field in &include.fields {
        let value = match field {
            Field::Repo => json!(item.repo),
            Field::Path => json!(if item.parent.is_empty() {
                "."
            } else {
                item.parent.as_str()
            }),
            Field::Name => json!(item.name),
            Field::Type => json!(if item.folder { "folder" } else { "file" }),
            Field::Size => json!(item.binary.as_ref().map_or(0, |b| b.size)),
            Field::Created => json!(format::iso8601(item.created)),
            Field::Modified => json!(format::iso8601(item.modified)),
            Field::Updated => json!(format::iso8601(item.updated)),
            Field::CreatedBy => json!(item.created_by),
            Field::ModifiedBy => json!(item.modified_by),
            Field::Sha256 => json!(item.binary.as_ref().map(|b| b.sha256.clone())),
            Field::Sha1 => json!(item.binary.as_ref().map(|b| b.sha1.clone())),
            Field::Md5 => json!(item.binary.as_ref().map(|b| b.md5.clone())),
            Field::Depth => json!(item.path.split('/').count()),
            Field::ItemPath => json!(item.path),
        };
        out.insert(field.name().to_string(), value);
    }
    if include.wants_properties() {
        let list: Vec<Value> = props
            .into_iter()
            .flatten()
            .filter(|(k, _)| include.all_properties || include.properties.contains(k))
            .flat_map(|(k, values)| values.iter().map(move |v| json!({"key": k, "value": v})))
            .collect();
        out.insert("properties".into(), Value::Array(list));
    }
    Value::Object(out)
}
