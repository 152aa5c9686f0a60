-- Rollback of pets 1.4.0: drop what V1.4.0__vaccinations.sql created.
DROP INDEX IF EXISTS vaccination_due;
DROP TABLE IF EXISTS vaccination;
DELETE FROM schema_history WHERE version = '1.4.0';
