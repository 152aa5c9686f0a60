-- When the runner holding a run started (clock ticks after boot, from /proc): with its pid,
-- what tells the live runner from a later process that reuses the pid. Liveness fails
-- closed: a run whose runner pid still lives with this start time is never declared dead,
-- whatever became of its lease file.
ALTER TABLE runs ADD COLUMN runner_start INTEGER;
