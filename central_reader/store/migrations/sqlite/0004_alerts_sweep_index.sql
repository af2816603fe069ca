-- 0004: the alert sweep looks for recent urgent records without an alert; this partial
-- index keeps that a short range scan (routine records, the bulk, are not indexed).
CREATE INDEX IF NOT EXISTS records_urgent_received ON records (received_at)
    WHERE priority IN ('critical', 'warning');
