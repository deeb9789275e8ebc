//! The quorum's view of the other instances in the PostgreSQL store: `probe_latest` keeps each
//! instance's newest result per probe (upserted with every batch of results), and the verdict
//! reads it from a copy refreshed at most once per [`REFRESH`] — one query for every probe,
//! instead of one per result (10,000 probes at 10 s are 1,000 results a second).

use gatehouse_cluster::PgError;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How old the copy of the other instances' results may be. Results reach the store in
/// batches up to half a second late already; the quorum window is several intervals.
pub(super) const REFRESH: Duration = Duration::from_secs(1);

pub(super) const UPSERT_LATEST: &str = "INSERT INTO probe_latest (instance, probe, up, at)
    SELECT $1, * FROM UNNEST($2::text[], $3::bool[], $4::int8[])
    ON CONFLICT (probe, instance) DO UPDATE SET up = excluded.up, at = excluded.at
    WHERE probe_latest.at <= excluded.at";

const READ_OTHERS: &str =
    "SELECT probe, instance, up, at FROM probe_latest WHERE instance <> $1 ORDER BY probe, instance";

/// Each probe's newest result of every other instance: (instance, up, at in Unix ms).
#[derive(Debug, Default)]
pub(super) struct Latest {
    fetched: Option<Instant>,
    by_probe: HashMap<String, Vec<(Arc<str>, bool, i64)>>,
}

impl Latest {
    /// Whether the copy must be read again.
    pub(super) fn stale(&self) -> bool {
        self.fetched.is_none_or(|t| t.elapsed() >= REFRESH)
    }

    /// The others' newest results for `probe` taken at `since_ms` or later.
    pub(super) fn others(&self, probe: &str, since_ms: i64) -> Vec<(String, bool)> {
        self.by_probe
            .get(probe)
            .map(|v| {
                v.iter()
                    .filter(|(_, _, at)| *at >= since_ms)
                    .map(|(i, up, _)| (i.to_string(), *up))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Read the other instances' newest results into a new copy.
pub(super) async fn read(
    client: &tokio_postgres::Client,
    instance: &str,
) -> Result<Latest, PgError> {
    let rows = client
        .query(READ_OTHERS, &[&instance])
        .await
        .map_err(|e| PgError::db("reading other instances' results", &e))?;
    let mut by_probe: HashMap<String, Vec<(Arc<str>, bool, i64)>> = HashMap::new();
    let mut names: HashMap<String, Arc<str>> = HashMap::new();
    for r in &rows {
        let instance: String = r.get(1);
        let name = names
            .entry(instance)
            .or_insert_with_key(|k| Arc::from(k.as_str()))
            .clone();
        by_probe
            .entry(r.get(0))
            .or_default()
            .push((name, r.get(2), r.get(3)));
    }
    Ok(Latest {
        fetched: Some(Instant::now()),
        by_probe,
    })
}

/// The newest result per probe of one batch (a statement may touch a row once), as the
/// columns of [`UPSERT_LATEST`].
pub(super) fn newest(
    batch: &[Arc<crate::result::CheckResult>],
) -> (Vec<String>, Vec<bool>, Vec<i64>) {
    let mut newest: HashMap<&str, (bool, i64)> = HashMap::with_capacity(batch.len());
    for r in batch {
        let at = r.at_unix_ms();
        let e = newest.entry(&*r.probe).or_insert((r.up, at));
        if at >= e.1 {
            *e = (r.up, at);
        }
    }
    let mut rows: Vec<_> = newest.into_iter().collect();
    // A fixed order, so two writers never deadlock.
    rows.sort_unstable_by(|a, b| a.0.cmp(b.0));
    let mut out = (
        Vec::with_capacity(rows.len()),
        Vec::with_capacity(rows.len()),
        Vec::with_capacity(rows.len()),
    );
    for (p, (up, at)) in rows {
        out.0.push(p.to_owned());
        out.1.push(up);
        out.2.push(at);
    }
    out
}
