-- Every personal access token expires: those made when a token could be left without an expiry
-- get the longest a token may last (366 days) from when they were made.
UPDATE access_tokens
SET expires_at = CAST(strftime('%s', created_at) AS INTEGER) + 366 * 86400
WHERE expires_at IS NULL;
