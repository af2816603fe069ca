-- 0001: directory, records, reports, audit log (SQLite).
-- Times are INTEGER microseconds since the Unix epoch (UTC).

CREATE TABLE counties (
    county_id   TEXT PRIMARY KEY,
    name        TEXT NOT NULL
);

CREATE TABLE sites (
    site_id     TEXT PRIMARY KEY,
    county_id   TEXT NOT NULL REFERENCES counties (county_id),
    name        TEXT NOT NULL
);

CREATE TABLE users (
    user_id     TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    role        TEXT NOT NULL CHECK (role IN ('device', 'cardiologist', 'hospital', 'admin')),
    county_id   TEXT REFERENCES counties (county_id),
    site_id     TEXT REFERENCES sites (site_id),
    created_at  INTEGER NOT NULL,
    CHECK (role = 'admin' OR county_id IS NOT NULL)
);

CREATE TABLE tokens (
    token_id     TEXT PRIMARY KEY,
    token_sha256 TEXT NOT NULL UNIQUE,
    user_id      TEXT NOT NULL REFERENCES users (user_id),
    label        TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    expires_at   INTEGER,
    revoked_at   INTEGER
);

CREATE TABLE records (
    record_id        TEXT PRIMARY KEY,
    site_id          TEXT NOT NULL REFERENCES sites (site_id),
    county_id        TEXT NOT NULL REFERENCES counties (county_id),
    device_id        TEXT NOT NULL,
    acquired_at      INTEGER NOT NULL,
    received_at      INTEGER NOT NULL,
    patient_id       TEXT NOT NULL,
    patient_age      INTEGER,
    patient_sex      TEXT NOT NULL,
    priority         TEXT NOT NULL,
    tier             INTEGER NOT NULL,
    deadline         INTEGER NOT NULL,
    findings_json    TEXT NOT NULL,
    analysis_json    TEXT NOT NULL,
    content_sha256   TEXT NOT NULL,
    signed           INTEGER NOT NULL DEFAULT 0,
    claimed_by       TEXT,
    lease_expires_at INTEGER
);

CREATE INDEX records_queue ON records (county_id, signed, tier, deadline, received_at);
CREATE INDEX records_patient ON records (county_id, patient_id, acquired_at);

-- Kept apart so queue scans never touch the sample bytes.
CREATE TABLE waveforms (
    record_id   TEXT PRIMARY KEY REFERENCES records (record_id),
    fs_hz       REAL NOT NULL,
    leads       TEXT NOT NULL,
    n_samples   INTEGER NOT NULL,
    gain        REAL NOT NULL,
    compressed  INTEGER NOT NULL,
    samples     BLOB NOT NULL
);

CREATE TABLE reports (
    cursor        INTEGER PRIMARY KEY AUTOINCREMENT,
    report_id     TEXT NOT NULL UNIQUE,
    record_id     TEXT NOT NULL REFERENCES records (record_id),
    site_id       TEXT NOT NULL,
    version       INTEGER NOT NULL,
    findings_json TEXT NOT NULL,
    free_text     TEXT NOT NULL,
    conclusion    TEXT NOT NULL,
    signed_by     TEXT NOT NULL,
    signer_name   TEXT NOT NULL,
    signed_at     INTEGER NOT NULL,
    amend_reason  TEXT NOT NULL,
    UNIQUE (record_id, version)
);

CREATE INDEX reports_site ON reports (site_id, cursor);

CREATE TABLE audit_log (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    user_id    TEXT NOT NULL,
    action     TEXT NOT NULL,
    record_id  TEXT,
    detail     TEXT NOT NULL
);

CREATE INDEX audit_record ON audit_log (record_id, seq);

CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;

CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
