-- 012_drop_items_coll_span.sql: the (coll, dtstart, dtend) index of 001 is read by no query
-- since 010's R*Tree answers time ranges (the range cursor keeps the planner off it with a
-- unary +); each item write paid one entry in it for nothing.
DROP INDEX IF EXISTS items_coll_span;
