-- 0001: directory, records, reports, audit log (PostgreSQL).
-- Times are BIGINT microseconds since the Unix epoch (UTC).

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
    created_at  BIGINT NOT NULL,
    CHECK (role = 'admin' OR county_id IS NOT NULL)
);

CREATE TABLE tokens (
    token_id     TEXT PRIMARY KEY,
    token_sha256 TEXT NOT NULL UNIQUE,
    user_id      TEXT NOT NULL REFERENCES users (user_id),
    label        TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    expires_at   BIGINT,
    revoked_at   BIGINT
);

CREATE TABLE records (
    record_id        TEXT PRIMARY KEY,
    site_id          TEXT NOT NULL REFERENCES sites (site_id),
    county_id        TEXT NOT NULL REFERENCES counties (county_id),
    device_id        TEXT NOT NULL,
    acquired_at      BIGINT NOT NULL,
    received_at      BIGINT NOT NULL,
    patient_id       TEXT NOT NULL,
    patient_age      BIGINT,
    patient_sex      TEXT NOT NULL,
    priority         TEXT NOT NULL,
    tier             BIGINT NOT NULL,
    deadline         BIGINT NOT NULL,
    findings_json    TEXT NOT NULL,
    analysis_json    TEXT NOT NULL,
    content_sha256   TEXT NOT NULL,
    signed           BIGINT NOT NULL DEFAULT 0,
    claimed_by       TEXT,
    lease_expires_at BIGINT
);

CREATE INDEX records_queue ON records (county_id, signed, tier, deadline, received_at);
CREATE INDEX records_patient ON records (county_id, patient_id, acquired_at);

-- Kept apart so queue scans never touch the sample bytes.
CREATE TABLE waveforms (
    record_id   TEXT PRIMARY KEY REFERENCES records (record_id),
    fs_hz       DOUBLE PRECISION NOT NULL,
    leads       TEXT NOT NULL,
    n_samples   BIGINT NOT NULL,
    gain        DOUBLE PRECISION NOT NULL,
    compressed  BIGINT NOT NULL,
    samples     BYTEA NOT NULL
);

CREATE TABLE reports (
    cursor        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    report_id     TEXT NOT NULL UNIQUE,
    record_id     TEXT NOT NULL REFERENCES records (record_id),
    site_id       TEXT NOT NULL,
    version       BIGINT NOT NULL,
    findings_json TEXT NOT NULL,
    free_text     TEXT NOT NULL,
    conclusion    TEXT NOT NULL,
    signed_by     TEXT NOT NULL,
    signer_name   TEXT NOT NULL,
    signed_at     BIGINT NOT NULL,
    amend_reason  TEXT NOT NULL,
    UNIQUE (record_id, version)
);

CREATE INDEX reports_site ON reports (site_id, cursor);

CREATE TABLE audit_log (
    seq        BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at         BIGINT NOT NULL,
    user_id    TEXT NOT NULL,
    action     TEXT NOT NULL,
    record_id  TEXT,
    detail     TEXT NOT NULL
);

CREATE INDEX audit_record ON audit_log (record_id, seq);

CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$;

CREATE TRIGGER audit_log_no_change BEFORE UPDATE OR DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
