-- The schema a topic request may carry for its record values: its format (`avro`, `protobuf`,
-- `json_schema`) and text, and the registry's id for it once approval registered it as
-- `<topic>-value`.
ALTER TABLE topics ADD COLUMN value_schema_format TEXT;
ALTER TABLE topics ADD COLUMN value_schema TEXT;
ALTER TABLE topics ADD COLUMN value_schema_id BIGINT;
