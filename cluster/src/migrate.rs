//! Versioned migrations of the shared schema, applied at start by whichever instance comes
//! first: one transaction holding `pg_advisory_xact_lock`, so instances starting together
//! neither race nor apply a step twice. `schema_migrations` lists the versions applied.

use crate::PgError;

/// The advisory lock key of the migrations ("gatehous" in ASCII).
const LOCK: i64 = 0x6761_7465_686f_7573;

/// One step: its version and its SQL. Steps are never edited once released; a change is a
/// new step.
pub struct Migration {
    /// Applied in ascending order.
    pub version: i64,
    /// What the step does (kept in `schema_migrations`).
    pub name: &'static str,
    /// The statements.
    pub sql: &'static str,
}

/// Every step, oldest first.
pub const MIGRATIONS: &[Migration] = &[
    Migration {
        version: 1,
        name: "probe results, rollups and state; the leader lease",
        sql: "
CREATE TABLE probe_results (
    id          BIGSERIAL PRIMARY KEY,
    instance    TEXT NOT NULL,
    probe       TEXT NOT NULL,
    grp         TEXT NOT NULL,
    kind        TEXT NOT NULL,
    at          BIGINT NOT NULL,           -- start of the check, Unix ms
    duration_ms DOUBLE PRECISION NOT NULL,
    up          BOOLEAN NOT NULL,
    attempts    INTEGER NOT NULL,
    status      INTEGER,
    cert_expiry BIGINT,                    -- Unix ms
    hit_ratio   DOUBLE PRECISION,
    failures    TEXT,                      -- JSON array of strings; NULL when up
    maintenance BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX probe_results_probe_at ON probe_results (probe, at);
CREATE TABLE probe_rollups (
    probe          TEXT NOT NULL,
    instance       TEXT NOT NULL,
    period         TEXT NOT NULL,          -- 'h' or 'd'
    start          BIGINT NOT NULL,        -- UTC hour or day, Unix seconds
    checks         BIGINT NOT NULL,
    failures       BIGINT NOT NULL,
    latency_sum_ms DOUBLE PRECISION NOT NULL,
    latency_max_ms DOUBLE PRECISION NOT NULL,
    maintenance    BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (probe, period, start, instance)
);
CREATE TABLE probe_state (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE cluster_lease (
    name       TEXT PRIMARY KEY,
    holder     TEXT NOT NULL,
    epoch      BIGINT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
",
    },
    Migration {
        version: 2,
        name: "alert state: incidents, silences, the outbox, status posts",
        sql: "
CREATE TABLE alert_incidents (
    id            BIGSERIAL PRIMARY KEY,
    rule          TEXT NOT NULL,
    kind          TEXT NOT NULL,
    subject       TEXT NOT NULL,
    severity      TEXT NOT NULL,
    labels        TEXT NOT NULL,
    summary       TEXT NOT NULL,
    value         TEXT NOT NULL,
    cause         TEXT NOT NULL,
    runbook       TEXT,
    started_at    BIGINT NOT NULL,
    ended_at      BIGINT,
    flapping      BOOLEAN NOT NULL DEFAULT false,
    queued        BOOLEAN NOT NULL DEFAULT false,
    last_notified BIGINT,
    resolve_sent  BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX alert_incidents_open ON alert_incidents (ended_at);
CREATE TABLE alert_silences (
    id         TEXT PRIMARY KEY,
    matchers   TEXT NOT NULL,
    starts_at  BIGINT NOT NULL,
    ends_at    BIGINT NOT NULL,
    comment    TEXT NOT NULL,
    created_by TEXT NOT NULL
);
CREATE TABLE alert_deliveries (
    id         BIGSERIAL PRIMARY KEY,
    epoch      BIGINT NOT NULL,         -- the leader's lease epoch that wrote it
    notifier   TEXT NOT NULL,
    group_key  TEXT NOT NULL,
    reminder   BOOLEAN NOT NULL,
    alerts     TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    next_at    BIGINT NOT NULL,
    attempts   BIGINT NOT NULL DEFAULT 0,
    last_error TEXT,
    state      TEXT NOT NULL DEFAULT 'pending',
    ended_at   BIGINT
);
CREATE INDEX alert_deliveries_state ON alert_deliveries (state, id);
CREATE TABLE alert_reach (
    incident_id BIGINT NOT NULL,
    notifier    TEXT NOT NULL,
    reached     BOOLEAN NOT NULL DEFAULT false,
    PRIMARY KEY (incident_id, notifier)
);
CREATE TABLE status_incident_updates (
    id          BIGSERIAL PRIMARY KEY,
    incident_id BIGINT NOT NULL,
    status      TEXT NOT NULL,
    message     TEXT NOT NULL,
    created_at  BIGINT NOT NULL
);
CREATE TABLE status_announcements (
    id         BIGSERIAL PRIMARY KEY,
    title      TEXT NOT NULL,
    body       TEXT NOT NULL,
    level      TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    ends_at    BIGINT
);
",
    },
    Migration {
        version: 3,
        name: "the live processes of the cluster, to find two with one instance name",
        sql: "
CREATE TABLE cluster_instances (
    holder  TEXT PRIMARY KEY,           -- name/pid-start of one process
    name    TEXT NOT NULL,              -- its store.instance
    seen_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX cluster_instances_name ON cluster_instances (name);
",
    },
    Migration {
        version: 4,
        name: "ACME: the account, certificates, the order locks and HTTP-01 answers",
        sql: "
CREATE TABLE acme_accounts (
    directory   TEXT PRIMARY KEY,        -- the ACME directory, as a folder name
    credentials TEXT NOT NULL,           -- the account URL and its private key (JSON)
    updated_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
CREATE TABLE acme_certificates (
    directory  TEXT NOT NULL,
    name       TEXT NOT NULL,            -- the certificate's first configured name
    serial     TEXT NOT NULL,
    not_after  BIGINT NOT NULL,          -- Unix seconds
    bundle     TEXT NOT NULL,            -- the chain, then its private key (PEM)
    updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
    PRIMARY KEY (directory, name)
);
CREATE TABLE acme_locks (
    directory  TEXT NOT NULL,
    name       TEXT NOT NULL,
    holder     TEXT NOT NULL,            -- instance/pid of the process ordering
    expires_at TIMESTAMPTZ NOT NULL,     -- renewed while the order runs
    PRIMARY KEY (directory, name)
);
CREATE TABLE acme_tokens (
    token             TEXT PRIMARY KEY,
    key_authorization TEXT NOT NULL,
    expires_at        TIMESTAMPTZ NOT NULL
);
",
    },
    Migration {
        version: 5,
        name: "each instance's newest result per probe, for the quorum",
        sql: "
CREATE TABLE probe_latest (
    probe    TEXT NOT NULL,
    instance TEXT NOT NULL,
    up       BOOLEAN NOT NULL,
    at       BIGINT NOT NULL,              -- start of the check, Unix ms
    PRIMARY KEY (probe, instance)
);
INSERT INTO probe_latest (probe, instance, up, at)
    SELECT DISTINCT ON (probe, instance) probe, instance, up, at FROM probe_results
    ORDER BY probe, instance, at DESC, id DESC;
",
    },
];

/// Bring the schema up to date; returns the versions applied now.
pub async fn apply(client: &mut tokio_postgres::Client) -> Result<Vec<i64>, PgError> {
    let failed = |e: tokio_postgres::Error| PgError::db("migrating the schema", &e);
    let tx = client.transaction().await.map_err(failed)?;
    tx.execute("SELECT pg_advisory_xact_lock($1)", &[&LOCK])
        .await
        .map_err(failed)?;
    let fresh: bool = tx
        .query_one("SELECT to_regclass('schema_migrations') IS NULL", &[])
        .await
        .map_err(failed)?
        .get(0);
    if fresh {
        tx.batch_execute(
            "CREATE TABLE schema_migrations (
            version    BIGINT PRIMARY KEY,
            name       TEXT NOT NULL,
            applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
        )",
        )
        .await
        .map_err(failed)?;
    }
    let current: i64 = tx
        .query_one(
            "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
            &[],
        )
        .await
        .map_err(failed)?
        .get(0);
    let known = MIGRATIONS.last().map_or(0, |m| m.version);
    if current > known {
        return Err(PgError::Setup(format!(
            "the database has schema version {current}, but this gatehouse knows only up to \
             {known}; run the newer gatehouse on every instance"
        )));
    }
    let mut applied = Vec::new();
    for m in MIGRATIONS.iter().filter(|m| m.version > current) {
        tx.batch_execute(m.sql).await.map_err(|e| {
            PgError::db(
                &format!("applying migration {} ({})", m.version, m.name),
                &e,
            )
        })?;
        tx.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)",
            &[&m.version, &m.name],
        )
        .await
        .map_err(failed)?;
        applied.push(m.version);
    }
    tx.commit().await.map_err(failed)?;
    if !applied.is_empty() {
        tracing::info!(?applied, "postgres store schema migrated");
    }
    Ok(applied)
}
