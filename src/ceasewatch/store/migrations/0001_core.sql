-- The core tables of the Store protocol (see ceasewatch/store/duckdb.py for the embedded
-- twin). Identifiers sort bytewise (COLLATE "C"), as in DuckDB, whatever the database's
-- locale. Points are kept as lon/lat (what every reader selects) and as a generated
-- PostGIS geometry with a GiST index for spatial SQL.
CREATE EXTENSION IF NOT EXISTS postgis;

CREATE SEQUENCE IF NOT EXISTS batch_seq START 1;

CREATE TABLE meta (key TEXT COLLATE "C" PRIMARY KEY, value TEXT);

CREATE TABLE batches (
    batch_id BIGINT PRIMARY KEY, source TEXT COLLATE "C" NOT NULL, file_name TEXT COLLATE "C",
    file_path TEXT COLLATE "C", file_sha256 TEXT COLLATE "C", file_bytes BIGINT,
    started_at TIMESTAMPTZ, finished_at TIMESTAMPTZ, rows_loaded BIGINT,
    rows_new_version BIGINT, rows_unchanged BIGINT, rows_quarantined BIGINT,
    status TEXT COLLATE "C", ceasewatch_version TEXT
);
CREATE INDEX batches_source_sha ON batches (source, file_sha256);

CREATE TABLE events (
    event_id TEXT COLLATE "C" NOT NULL, version INTEGER NOT NULL,
    content_sha TEXT COLLATE "C" NOT NULL, source TEXT COLLATE "C" NOT NULL,
    source_event_id TEXT COLLATE "C" NOT NULL, occurred_at TIMESTAMPTZ NOT NULL,
    time_precision TEXT COLLATE "C" NOT NULL, time_window_s DOUBLE PRECISION NOT NULL,
    lon DOUBLE PRECISION NOT NULL, lat DOUBLE PRECISION NOT NULL,
    geo_precision_m DOUBLE PRECISION NOT NULL, category TEXT COLLATE "C" NOT NULL,
    weapon_class TEXT COLLATE "C", actor TEXT COLLATE "C", attributed_to TEXT COLLATE "C",
    fatalities DOUBLE PRECISION, count BIGINT NOT NULL, reliability TEXT COLLATE "C" NOT NULL,
    credibility SMALLINT NOT NULL, report_group TEXT COLLATE "C" NOT NULL,
    location_name TEXT COLLATE "C", admin1 TEXT COLLATE "C", notes TEXT COLLATE "C",
    raw TEXT NOT NULL, line_no BIGINT, batch_id BIGINT NOT NULL,
    recorded_at TIMESTAMPTZ NOT NULL,
    geom geometry(Point, 4326) GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), 4326)) STORED,
    PRIMARY KEY (event_id, version)
);
CREATE INDEX events_occurred_at ON events (occurred_at);
CREATE INDEX events_batch ON events (batch_id);
CREATE INDEX events_geom ON events USING gist (geom);

CREATE TABLE quarantine (
    batch_id BIGINT NOT NULL, source TEXT COLLATE "C" NOT NULL, file_name TEXT COLLATE "C",
    line_no BIGINT, reason TEXT COLLATE "C" NOT NULL, raw TEXT, recorded_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX quarantine_batch ON quarantine (batch_id, line_no);

CREATE TABLE agreements (
    version INTEGER PRIMARY KEY, name TEXT COLLATE "C" NOT NULL, effective TIMESTAMPTZ NOT NULL,
    loaded_at TIMESTAMPTZ NOT NULL, sha256 TEXT COLLATE "C" NOT NULL, label TEXT COLLATE "C",
    source_path TEXT COLLATE "C", document TEXT NOT NULL
);

CREATE TABLE event_eval (
    event_id TEXT COLLATE "C" NOT NULL, content_sha TEXT COLLATE "C" NOT NULL,
    agreement_version INTEGER NOT NULL, distance_to_line_km DOUBLE PRECISION,
    side TEXT COLLATE "C", zone TEXT COLLATE "C", sector TEXT COLLATE "C",
    PRIMARY KEY (event_id)
);

CREATE TABLE incidents (
    incident_id TEXT COLLATE "C" PRIMARY KEY, occurred_at TIMESTAMPTZ,
    time_precision TEXT COLLATE "C", lon DOUBLE PRECISION, lat DOUBLE PRECISION,
    geo_precision_m DOUBLE PRECISION, category TEXT COLLATE "C", categories TEXT COLLATE "C",
    weapon_class TEXT COLLATE "C", weapon_classes TEXT COLLATE "C", n_events INTEGER,
    n_sources INTEGER, sources TEXT COLLATE "C", confidence DOUBLE PRECISION,
    fatalities DOUBLE PRECISION, attributed_to TEXT COLLATE "C", location_name TEXT COLLATE "C",
    agreement_version INTEGER, distance_to_line_km DOUBLE PRECISION, side TEXT COLLATE "C",
    zone TEXT COLLATE "C", sector TEXT COLLATE "C", updated_at TIMESTAMPTZ,
    geom geometry(Point, 4326) GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), 4326)) STORED
);
CREATE INDEX incidents_occurred_at ON incidents (occurred_at);
CREATE INDEX incidents_geom ON incidents USING gist (geom);

CREATE TABLE incident_members (
    event_id TEXT COLLATE "C" PRIMARY KEY, incident_id TEXT COLLATE "C" NOT NULL
);
CREATE INDEX incident_members_incident ON incident_members (incident_id);

CREATE TABLE violations (
    violation_id TEXT COLLATE "C" PRIMARY KEY, incident_id TEXT COLLATE "C" NOT NULL,
    agreement_version INTEGER, rule TEXT COLLATE "C", rules TEXT COLLATE "C",
    zone TEXT COLLATE "C", sector TEXT COLLATE "C", side TEXT COLLATE "C",
    distance_to_line_km DOUBLE PRECISION, occurred_at TIMESTAMPTZ,
    time_precision TEXT COLLATE "C", lon DOUBLE PRECISION, lat DOUBLE PRECISION,
    category TEXT COLLATE "C", weapon_class TEXT COLLATE "C", severity TEXT COLLATE "C",
    confidence DOUBLE PRECISION, responsibility TEXT COLLATE "C", weapon_in_zone BOOLEAN,
    evidence_event_ids TEXT COLLATE "C", matched_event_ids TEXT COLLATE "C",
    n_sources INTEGER, sources TEXT COLLATE "C", fatalities DOUBLE PRECISION,
    location_name TEXT COLLATE "C", detected_at TIMESTAMPTZ, updated_at TIMESTAMPTZ,
    active BOOLEAN NOT NULL,
    geom geometry(Point, 4326) GENERATED ALWAYS AS (ST_SetSRID(ST_MakePoint(lon, lat), 4326)) STORED
);
CREATE INDEX violations_incident ON violations (incident_id);
CREATE INDEX violations_occurred_at ON violations (occurred_at);
CREATE INDEX violations_geom ON violations USING gist (geom);

CREATE TABLE violation_status (
    violation_id TEXT COLLATE "C" NOT NULL, status TEXT COLLATE "C" NOT NULL,
    comment TEXT COLLATE "C", actor TEXT COLLATE "C", changed_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX violation_status_id ON violation_status (violation_id, changed_at);

INSERT INTO meta VALUES ('schema_version', '1');
