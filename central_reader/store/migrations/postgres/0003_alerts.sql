-- 0003: chest-pain alerts (issue 6), their event log and per-hospital delivery receipts.
-- Times are BIGINT microseconds since the Unix epoch (UTC).

CREATE TABLE alerts (
    alert_id           TEXT PRIMARY KEY,
    record_id          TEXT NOT NULL UNIQUE REFERENCES records (record_id),
    site_id            TEXT NOT NULL,
    county_id          TEXT NOT NULL,
    hospital_id        TEXT NOT NULL,
    backup_hospital_id TEXT,
    patient_id         TEXT NOT NULL,
    findings_json      TEXT NOT NULL,
    alert_codes        TEXT NOT NULL,
    acquired_at        BIGINT NOT NULL,
    received_at        BIGINT NOT NULL,
    raised_at          BIGINT NOT NULL,
    first_sent_at      BIGINT,
    delivered_at       BIGINT,
    escalation_level   INTEGER NOT NULL DEFAULT 0,
    resent_at          BIGINT,
    escalated_at       BIGINT,
    acked_at           BIGINT,
    acked_by           TEXT,
    acked_hospital_id  TEXT,
    reading            TEXT NOT NULL DEFAULT 'pending'
                       CHECK (reading IN ('pending', 'confirmed', 'cancelled')),
    reading_at         BIGINT,
    reading_report_id  TEXT
);

CREATE INDEX alerts_open ON alerts (acked_at, escalation_level, raised_at);
CREATE INDEX alerts_hospital ON alerts (hospital_id, acked_at);
CREATE INDEX alerts_backup ON alerts (backup_hospital_id, acked_at);

CREATE TABLE alert_events (
    seq          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    alert_id     TEXT NOT NULL REFERENCES alerts (alert_id),
    at           BIGINT NOT NULL,
    kind         TEXT NOT NULL,
    hospital_id  TEXT NOT NULL,
    actor        TEXT NOT NULL,
    detail       TEXT NOT NULL
);

CREATE INDEX alert_events_alert ON alert_events (alert_id, seq);

CREATE TABLE alert_deliveries (
    alert_id     TEXT NOT NULL REFERENCES alerts (alert_id),
    hospital_id  TEXT NOT NULL,
    delivered_at BIGINT NOT NULL,
    PRIMARY KEY (alert_id, hospital_id)
);

CREATE FUNCTION alert_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'alert_events is append-only';
END;
$$;

CREATE TRIGGER alert_events_no_change BEFORE UPDATE OR DELETE ON alert_events
    FOR EACH ROW EXECUTE FUNCTION alert_events_append_only();
