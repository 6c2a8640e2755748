"""tests/integration/test_search_sort_limit.py: the sort cap of plain SEARCH (README: "at most
100,000 rows are sorted, past that 422 A:limit"; exchange-replication.md §3.7) at its exact
boundary. A calendar of 100,001 events: an ORDER BY over all of them is 422 limit naming
search_max_sort_rows; one WHERE term fewer rows (exactly 100,000) sorts and pages with an exact
Content-Range; without ORDER BY nothing is sorted and all 100,001 rows are answered (issue 17).
Loading 100,001 events takes a minute or two under ASan: they go in over kept-alive
connections from several processes."""

import base64
import http.client
import multiprocessing
import re

import harness
from harness import ServerTestCase, main, responses

N = 100001  # one more than SEARCH_MAX_SORT_ROWS
PROCS = 4
# On PostgreSQL the first PUT_PG events are PUT through almanacd and the rest of the N are
# copies of the first made in SQL (PUTs there are several times slower: 100,001 of them
# alone would take over ten minutes of make check); what is tested, SEARCH over N stored
# items, is the same.
PUT_PG = 400
EX = "/exchange/alice/big/"
C = "urn:schemas:calendar:"
XML = {"Content-Type": 'text/xml; charset="utf-8"'}
SCOPE = 'SELECT "DAV:href" FROM SCOPE(\'SHALLOW TRAVERSAL OF ""\') WHERE "DAV:isfolder" = false'


def event(i):
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//EN\r\nBEGIN:VEVENT\r\n"
            "UID:s-%06d\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260105T100000Z\r\n"
            "DURATION:PT1H\r\nSUMMARY:s\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n" % i).encode()


def load(args):
    """PUTs events k, k + PROCS, ... below n on one kept-alive connection; returns the
    failures."""
    port, auth, k, n = args
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    bad = []
    headers = {"Authorization": auth, "Content-Type": "text/calendar"}
    for i in range(k, n, PROCS):
        conn.request("PUT", "/calendars/alice/big/s%06d.ics" % i, body=event(i), headers=headers)
        r = conn.getresponse()
        r.read()
        if r.status != 201:
            bad.append((i, r.status))
            if len(bad) > 5:
                break
        if r.will_close:
            conn.close()
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    conn.close()
    return bad


def search_body(sql):
    sql = sql.replace("&", "&amp;").replace("<", "&lt;")
    return ('<?xml version="1.0" encoding="utf-8"?><D:searchrequest xmlns:D="DAV:">'
            '<D:sql>%s</D:sql></D:searchrequest>' % sql)


class SortLimitTest(ServerTestCase):
    USERS = ("alice",)

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        assert cls.srv.request("MKCALENDAR", "/calendars/alice/big/").status == 201
        auth = "Basic " + base64.b64encode(
            ("alice:" + cls.srv.passwords["alice"]).encode()).decode()
        n = PUT_PG if harness.ENGINE == "postgresql" else N
        with multiprocessing.Pool(PROCS) as pool:
            bad = [b for part in pool.map(load, [(cls.srv.port, auth, k, n)
                                                 for k in range(PROCS)])
                   for b in part]
        if bad:
            raise AssertionError("PUT of the big calendar failed: %r" % bad[:5])
        if n < N:
            cls.copy_in_sql(n)

    @classmethod
    def copy_in_sql(cls, first):
        """Events first..N-1 as copies of s000000 (its row, content with the UID replaced,
        interval index) in one transaction, as a bulk load would write them."""
        coll = "(SELECT id FROM collections WHERE name = 'big')"
        tpl = "(SELECT id FROM items WHERE name = 's000000.ics' AND coll = %s)" % coll
        num = "lpad(g::text, 6, '0')"
        rows = cls.srv.sql(
            "WITH new AS (INSERT INTO items (coll, name, uid, content_type, size, modseq, "
            "created_modseq, mtime, dtstart, dtend, comp, recurring) "
            "SELECT t.coll, 's' || %s || '.ics', 's-' || %s, t.content_type, t.size, t.modseq, "
            "t.created_modseq, t.mtime, t.dtstart, t.dtend, t.comp, t.recurring "
            "FROM items t, generate_series(%d, %d) g WHERE t.id = %s RETURNING id, uid), "
            "content AS (INSERT INTO item_content (id, data) "
            "SELECT new.id, convert_to(replace(convert_from(c.data, 'UTF8'), 'UID:s-000000', "
            "'UID:' || new.uid), 'UTF8') FROM new, item_content c WHERE c.id = %s RETURNING 1), "
            "spans AS (INSERT INTO item_spans (item, slot, coll, kind, box) "
            "SELECT new.id, s.slot, s.coll, s.kind, s.box FROM new, item_spans s "
            "WHERE s.item = %s RETURNING 1) "
            "SELECT (SELECT count(*) FROM new), (SELECT count(*) FROM content), "
            "(SELECT count(*) FROM spans)" % (num, num, first, N - 1, tpl, tpl, tpl))
        assert rows == [(str(N - first),) * 3], rows

    def search(self, sql, rows):
        return self.req("SEARCH", EX, body=search_body(sql),
                        headers=dict(XML, Range="rows=%s" % rows))

    def names(self, r):
        """The item of each row (the response's own href; the select list repeats it)."""
        return [re.search(r"<D:href>[^<]*/(s\d{6})\.ics</D:href>", row).group(1)
                for row in responses(r.text)]

    def test_order_by_over_100001_rows_is_422_limit(self):
        r = self.search(SCOPE + ' ORDER BY "%suid" DESC' % C, "0-2")
        self.assertCondition(r, 422, "limit")
        self.assertIn("search_max_sort_rows=100000", r.text)

    def test_order_by_over_exactly_100000_rows_sorts_and_pages(self):
        r = self.search(SCOPE + ' AND "%suid" <> \'s-%06d\' ORDER BY "%suid" DESC'
                        % (C, N - 1, C), "0-2")
        self.assertStatus(r, 207)
        self.assertEqual(r.header("Content-Range"), "rows 0-2; total=100000")
        self.assertEqual(self.names(r), ["s099999", "s099998", "s099997"])

    def test_without_order_by_nothing_is_sorted_and_every_row_answers(self):
        r = self.search(SCOPE, "100000-")
        self.assertStatus(r, 207)
        self.assertEqual(r.header("Content-Range"), "rows 100000-100000; total=100001")
        self.assertEqual(len(self.names(r)), 1)


if __name__ == "__main__":
    main()
