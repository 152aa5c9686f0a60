-- Schema version 2: a run remembers the package dir its artifacts are copied from (ad-hoc
-- runs, until every run takes its package from the release vault).
ALTER TABLE runs ADD COLUMN package_dir TEXT;
