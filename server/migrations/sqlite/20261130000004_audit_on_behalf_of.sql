-- The user an admin acted for (issue 19: in `oidc` mode every action is a verified person's,
-- and an admin acting for someone else is recorded as such).
ALTER TABLE audit_log ADD COLUMN on_behalf_of TEXT;
