-- A silence may have a name, so configuration files (`herald apply`) can
-- declare it as they declare notifiers, rules and monitors. Not unique:
-- silences are records that stay after they expire; a file means the newest
-- silence of its name.
ALTER TABLE silences ADD COLUMN name text NOT NULL DEFAULT '';
CREATE INDEX silences_name ON silences (name) WHERE name <> '';
