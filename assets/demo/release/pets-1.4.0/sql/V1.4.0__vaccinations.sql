-- pets 1.4.0: record vaccinations and when the next one is due.
CREATE TABLE vaccination (
    id        INTEGER PRIMARY KEY,
    pet_id    INTEGER NOT NULL REFERENCES pet(id),
    vaccine   TEXT NOT NULL,
    given_on  TEXT NOT NULL,
    due_on    TEXT
);
CREATE INDEX vaccination_due ON vaccination (due_on);
INSERT INTO schema_history (version, description) VALUES ('1.4.0', 'vaccinations');
