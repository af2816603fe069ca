-- 0003: chest-pain alerts (issue 6), their event log and per-hospital delivery receipts.
-- Times are INTEGER microseconds since the Unix epoch (UTC).

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
    acquired_at        INTEGER NOT NULL,
    received_at        INTEGER NOT NULL,
    raised_at          INTEGER NOT NULL,
    first_sent_at      INTEGER,
    delivered_at       INTEGER,
    escalation_level   INTEGER NOT NULL DEFAULT 0,
    resent_at          INTEGER,
    escalated_at       INTEGER,
    acked_at           INTEGER,
    acked_by           TEXT,
    acked_hospital_id  TEXT,
    reading            TEXT NOT NULL DEFAULT 'pending'
                       CHECK (reading IN ('pending', 'confirmed', 'cancelled')),
    reading_at         INTEGER,
    reading_report_id  TEXT
);

CREATE INDEX alerts_open ON alerts (acked_at, escalation_level, raised_at);
CREATE INDEX alerts_hospital ON alerts (hospital_id, acked_at);
CREATE INDEX alerts_backup ON alerts (backup_hospital_id, acked_at);

CREATE TABLE alert_events (
    seq          INTEGER PRIMARY KEY AUTOINCREMENT,
    alert_id     TEXT NOT NULL REFERENCES alerts (alert_id),
    at           INTEGER NOT NULL,
    kind         TEXT NOT NULL,
    hospital_id  TEXT NOT NULL,
    actor        TEXT NOT NULL,
    detail       TEXT NOT NULL
);

CREATE INDEX alert_events_alert ON alert_events (alert_id, seq);

CREATE TABLE alert_deliveries (
    alert_id     TEXT NOT NULL REFERENCES alerts (alert_id),
    hospital_id  TEXT NOT NULL,
    delivered_at INTEGER NOT NULL,
    PRIMARY KEY (alert_id, hospital_id)
);

CREATE TRIGGER alert_events_no_update BEFORE UPDATE ON alert_events
BEGIN
    SELECT RAISE(ABORT, 'alert_events is append-only');
END;

CREATE TRIGGER alert_events_no_delete BEFORE DELETE ON alert_events
BEGIN
    SELECT RAISE(ABORT, 'alert_events is append-only');
END;
