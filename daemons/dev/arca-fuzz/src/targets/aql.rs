//! Target `aql`: the text of `POST /api/search/aql` (any authenticated caller sends it) through
//! the AQL parser and, when it parses, the SQL it becomes, run on an in-memory SQLite database
//! with a few items and properties. Properties: no panic; a refusal names a position inside
//! the text; every parsed query runs — the database may refuse a value (`DbError::Invalid`,
//! a 400) but never the statement itself.

use arca_db::item_query;
use arca_db::{Conn, DbError};
use arca_server::aql;
use rand::Rng;
use rand::rngs::StdRng;
use rand::seq::SliceRandom;

use crate::mutate::mutate;
use crate::runner::Target;

const TOKENS: &[&str] = &[
    "items.find(",
    "builds.find(",
    ")",
    "{",
    "}",
    "[",
    "]",
    ",",
    ":",
    "\"repo\"",
    "\"path\"",
    "\"name\"",
    "\"type\"",
    "\"size\"",
    "\"created\"",
    "\"modified\"",
    "\"created_by\"",
    "\"depth\"",
    "\"sha256\"",
    "\"actual_sha1\"",
    "\"@qa\"",
    "\"@\"",
    "\"$and\"",
    "\"$or\"",
    "\"$eq\"",
    "\"$ne\"",
    "\"$match\"",
    "\"$nmatch\"",
    "\"$gt\"",
    "\"$lte\"",
    "\"$in\"",
    "\"$last\"",
    "\"*.jar\"",
    "\"[a]*\"",
    "\"%_\\\\\"",
    "\".\"",
    "\"file\"",
    "\"folder\"",
    "\"any\"",
    "\"2026-12-07\"",
    "\"2026-12-07T10:00:00Z\"",
    "\"yesterday\"",
    "0",
    "-1",
    "9223372036854775807",
    "18446744073709551616",
    "1.5",
    "true",
    "null",
    ".include(",
    "\"property.*\"",
    "\"@build.name\"",
    ".sort({\"$asc\": [\"name\"]})",
    ".sort({\"$desc\": [\"size\", \"repo\"]})",
    ".offset(3)",
    ".limit(2)",
    ".limit(-1)",
    "é",
    "'",
    "\"x'; DROP TABLE items; --\"",
];

const SEEDS: &[&str] = &[
    r#"items.find({"repo": "libs", "name": {"$match": "*.jar"}})"#,
    r#"items.find({"$or": [{"@qa": "done"}, {"size": {"$gt": 10}}]}).include("name", "property.*")"#,
    r#"items.find({"type": "any", "path": {"$match": "org/*"}}).sort({"$desc": ["created"]}).limit(5)"#,
    r#"items.find({"created": {"$gte": "2026-01-01"}, "depth": {"$in": [1, 2]}}).offset(1)"#,
    r#"items.find({"@qa": {"$ne": "done"}, "name": {"$nmatch": "*.pom"}})"#,
    "items.find()",
];

pub struct Aql {
    db: rusqlite::Connection,
}

impl Aql {
    pub fn new() -> anyhow::Result<Aql> {
        let db = rusqlite::Connection::open_in_memory()?;
        db.execute_batch("PRAGMA foreign_keys = ON;")?;
        arca_db::migrate::apply(&Conn::sqlite(&db))?;
        db.execute_batch(
            "INSERT INTO repos (key, rclass, package_type, description, notes, includes_pattern, \
               excludes_pattern, handle_releases, handle_snapshots, anonymous_read, created) \
               VALUES ('libs', 'local', 'generic', '', '', '**/*', '', 1, 1, 0, 0);
             INSERT INTO items (id, repo, path, parent, name, folder, size, created, created_by, \
               modified, modified_by, updated) VALUES \
               (1, 'libs', 'org', '', 'org', 1, 0, 0, 'a', 0, 'a', 0), \
               (2, 'libs', 'org/a.jar', 'org', 'a.jar', 0, 5, 1000, 'a', 2000, 'b', 2000);
             INSERT INTO item_props (item_id, key, value) VALUES (2, 'qa', 'done');",
        )?;
        Ok(Aql { db })
    }
}

impl Target for Aql {
    fn name(&self) -> &'static str {
        "aql"
    }

    fn generate(&mut self, rng: &mut StdRng) -> Vec<u8> {
        let seed = SEEDS.choose(rng).copied().unwrap_or("items.find()");
        let mut data = seed.as_bytes().to_vec();
        if rng.gen_bool(0.7) {
            let other = SEEDS.choose(rng).copied().unwrap_or(seed);
            mutate(rng, &mut data, TOKENS, other.as_bytes(), 5, 4096);
        }
        data
    }

    fn check(&mut self, input: &[u8]) -> Result<(), String> {
        let text = String::from_utf8_lossy(input);
        let parsed = match aql::parse(&text) {
            Ok(p) => p,
            Err(e) => {
                if e.position > text.chars().count() {
                    return Err(format!("error position {} past the text: {e}", e.position));
                }
                return Ok(());
            }
        };
        match item_query::find(&Conn::sqlite(&self.db), &parsed.query) {
            Ok(_) | Err(DbError::Invalid(_)) => Ok(()),
            Err(e) => Err(format!("a parsed query failed in the database: {e}")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runner::iteration_rng;

    #[test]
    fn generated_queries_are_parsed_and_refused() {
        let mut target = Aql::new().unwrap();
        let (mut parsed, mut refused) = (0, 0);
        for i in 0..2000 {
            let input = target.generate(&mut iteration_rng(1, "aql", i));
            match aql::parse(&String::from_utf8_lossy(&input)) {
                Ok(_) => parsed += 1,
                Err(_) => refused += 1,
            }
            target.check(&input).unwrap();
        }
        assert!(
            parsed > 100 && refused > 100,
            "{parsed} parsed, {refused} refused"
        );
    }
}
