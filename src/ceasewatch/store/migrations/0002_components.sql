-- The tables of the component modules (audit log, users and tokens, split/merge
-- decisions, alerting, the fire model, the guarantee ledger's change log), created up
-- front so that concurrent first uses never race on CREATE TABLE. The modules still run
-- their own CREATE TABLE IF NOT EXISTS, which finds these and does nothing. The guarantee
-- ledger and data-set tables are created by ceasewatch.store.guarantee on first use.
CREATE TABLE audit_log (
    seq BIGINT PRIMARY KEY, "at" TEXT COLLATE "C" NOT NULL, actor TEXT COLLATE "C" NOT NULL,
    action TEXT COLLATE "C" NOT NULL, entity TEXT COLLATE "C" NOT NULL,
    entity_id TEXT COLLATE "C" NOT NULL, payload TEXT COLLATE "C" NOT NULL,
    prev_hash TEXT COLLATE "C" NOT NULL, hash TEXT COLLATE "C" NOT NULL
);

CREATE TABLE users (
    user_id TEXT COLLATE "C" PRIMARY KEY, name TEXT COLLATE "C" NOT NULL UNIQUE,
    role TEXT COLLATE "C" NOT NULL, created_at TIMESTAMPTZ NOT NULL,
    disabled BOOLEAN NOT NULL DEFAULT false
);
CREATE TABLE tokens (
    token_id TEXT COLLATE "C" PRIMARY KEY, user_id TEXT COLLATE "C" NOT NULL,
    token_sha256 TEXT COLLATE "C" NOT NULL UNIQUE, created_at TIMESTAMPTZ NOT NULL,
    revoked_at TIMESTAMPTZ, last4 TEXT COLLATE "C" NOT NULL
);

CREATE TABLE incident_decisions (
    decision_id TEXT COLLATE "C" PRIMARY KEY, kind TEXT COLLATE "C" NOT NULL,
    event_ids TEXT COLLATE "C" NOT NULL, incident_ids TEXT COLLATE "C" NOT NULL,
    actor TEXT COLLATE "C" NOT NULL, comment TEXT COLLATE "C" NOT NULL,
    "at" TIMESTAMPTZ NOT NULL
);

CREATE TABLE alerts (
    alert_id TEXT COLLATE "C" PRIMARY KEY, kind TEXT COLLATE "C" NOT NULL,
    level TEXT COLLATE "C" NOT NULL, title TEXT COLLATE "C" NOT NULL,
    subject TEXT COLLATE "C", raised_at TIMESTAMPTZ NOT NULL, body TEXT NOT NULL
);
CREATE TABLE alert_outbox (
    alert_id TEXT COLLATE "C" NOT NULL, channel TEXT COLLATE "C" NOT NULL,
    status TEXT COLLATE "C" NOT NULL, attempts INTEGER NOT NULL,
    created_at TIMESTAMPTZ NOT NULL, next_attempt_at TIMESTAMPTZ NOT NULL,
    last_attempt_at TIMESTAMPTZ, last_error TEXT COLLATE "C", delivered_at TIMESTAMPTZ,
    PRIMARY KEY (alert_id, channel)
);
CREATE TABLE clocks (
    clock_id TEXT COLLATE "C" PRIMARY KEY, step_id TEXT COLLATE "C" NOT NULL,
    step_name TEXT COLLATE "C", subject TEXT COLLATE "C" NOT NULL, sector TEXT COLLATE "C",
    level TEXT COLLATE "C", who TEXT COLLATE "C", action_required TEXT COLLATE "C",
    started_at TIMESTAMPTZ NOT NULL, opened_at TIMESTAMPTZ NOT NULL,
    deadline TIMESTAMPTZ NOT NULL, status TEXT COLLATE "C" NOT NULL,
    triggers TEXT COLLATE "C" NOT NULL, n_triggers INTEGER NOT NULL, missed_at TIMESTAMPTZ,
    closed_at TIMESTAMPTZ, closed_by TEXT COLLATE "C", action TEXT COLLATE "C",
    on_time BOOLEAN, agreement_version INTEGER, updated_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE clock_warnings (
    clock_id TEXT COLLATE "C" NOT NULL, hours_before DOUBLE PRECISION NOT NULL,
    warned_at TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (clock_id, hours_before)
);
CREATE TABLE clock_log (
    clock_id TEXT COLLATE "C" NOT NULL, event TEXT COLLATE "C" NOT NULL,
    logged_at TIMESTAMPTZ NOT NULL, actor TEXT COLLATE "C", note TEXT COLLATE "C"
);
CREATE TABLE watch_state (
    key TEXT COLLATE "C" PRIMARY KEY, value TEXT NOT NULL, updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE fire_baseline (
    cell BIGINT NOT NULL, bin INTEGER NOT NULL, expected DOUBLE PRECISION NOT NULL,
    dispersion DOUBLE PRECISION NOT NULL, dispersion_block DOUBLE PRECISION NOT NULL,
    until TIMESTAMPTZ NOT NULL, PRIMARY KEY (cell, bin)
);
CREATE TABLE fire_baseline_meta (
    until TIMESTAMPTZ NOT NULL, model_version TEXT COLLATE "C" NOT NULL, params TEXT NOT NULL,
    years TEXT NOT NULL, n_detections BIGINT, n_pixel_days BIGINT, n_rows BIGINT,
    created_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE fire_class (
    event_id TEXT COLLATE "C" PRIMARY KEY, war_probability DOUBLE PRECISION NOT NULL,
    war_related BOOLEAN NOT NULL, model_version TEXT COLLATE "C" NOT NULL,
    classified_at TIMESTAMPTZ NOT NULL, baseline_until TIMESTAMPTZ,
    observed_window DOUBLE PRECISION, expected_window DOUBLE PRECISION,
    upper_window DOUBLE PRECISION, surprise_cell DOUBLE PRECISION,
    surprise_block DOUBLE PRECISION, persistence_days INTEGER, distance_to_line_km DOUBLE PRECISION
);

CREATE SEQUENCE IF NOT EXISTS ledger_log_seq START 1;
CREATE TABLE ledger_log (
    log_id BIGINT PRIMARY KEY, logged_at TIMESTAMPTZ NOT NULL, actor TEXT COLLATE "C" NOT NULL,
    action TEXT COLLATE "C" NOT NULL, table_name TEXT COLLATE "C" NOT NULL,
    record_key TEXT COLLATE "C", old_json TEXT, new_json TEXT, batch_id BIGINT,
    prev_hash TEXT COLLATE "C" NOT NULL, row_hash TEXT COLLATE "C" NOT NULL
);
