-- 002_item_kind.sql: two more index fields computed by the caller on write, so that a
-- calendar-query decides most candidates from the row: the component type (a cal_comp bit:
-- 1 VEVENT, 2 VTODO, 4 VJOURNAL; 0 unknown) and whether the object recurs (RRULE/RDATE).
ALTER TABLE items ADD COLUMN comp INTEGER NOT NULL DEFAULT 0;
ALTER TABLE items ADD COLUMN recurring INTEGER NOT NULL DEFAULT 0;
