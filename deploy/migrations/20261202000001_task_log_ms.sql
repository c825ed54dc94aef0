-- When each history line was written, to the millisecond: the live board
-- measures how long an event took to reach the page from it.
ALTER TABLE task_log ADD COLUMN at_ms INTEGER;
