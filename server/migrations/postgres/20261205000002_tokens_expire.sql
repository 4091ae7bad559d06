-- Every personal access token expires: see the SQLite migration of the same version.
UPDATE access_tokens
SET expires_at = CAST(EXTRACT(EPOCH FROM CAST(created_at AS TIMESTAMPTZ)) AS BIGINT) + 366 * 86400
WHERE expires_at IS NULL;
