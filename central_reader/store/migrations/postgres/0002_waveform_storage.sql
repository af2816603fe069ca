-- 0002: keep waveform samples out of line without trying to compress them: they arrive
-- zlib-compressed already, so pglz would only spend CPU on every ingest to give up.
ALTER TABLE waveforms ALTER COLUMN samples SET STORAGE EXTERNAL;
