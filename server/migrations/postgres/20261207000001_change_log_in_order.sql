-- Every append to the change log takes the log's lock before any of its rows gets an id, and
-- holds it until its transaction ends: ids then commit in the order they were given, so that an
-- instance that has read up to id N never misses a smaller id committed later. It also wakes the
-- other instances at the commit (a wake-up only: they read the log itself). One statement-level
-- trigger, so that the lock, the insert and the wake-up are one round trip, and the lock is held
-- for that statement and the commit only. The lock's key is StreamHub's ("SH" and 2).
CREATE FUNCTION streamhub_change_log_in_order() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_advisory_xact_lock(21320, 2);
    PERFORM pg_notify('streamhub_changes', '');
    RETURN NULL;
END;
$$;

CREATE TRIGGER change_log_in_order BEFORE INSERT ON change_log
    FOR EACH STATEMENT EXECUTE FUNCTION streamhub_change_log_in_order();
