"""tests/integration/test_time_budget.py: request_time_budget through the real server (README:
"A step of a request that still computes after request_time_budget is abandoned with 503
request-time-budget and a log line"). A calendar of long series, stored while the server runs
unbounded (request_time_budget = 0), is then queried by a server restarted with a budget of
one second. A calendar-query walks every series to a window near its end, seconds of work even
in a release build; its rows are computed while its answer streams, so the budget of one
chunk ends it: the answer is cut off and logged, and never comes back as a finished 207."""

import datetime
import http.client
import threading
import time

from harness import ServerTestCase, main

N_SERIES = 30       # about 0.09 s of walking each in a release build, 3 s together
COUNT = 50000       # instances per series: past the 4,096 of the instance index
START = datetime.datetime(2026, 1, 1)
# an odd minute near the end of every series (instances start on even minutes, last 1 minute)
GAP = START + datetime.timedelta(minutes=2 * (COUNT - 3) + 1)
ICS = {"Content-Type": "text/calendar"}


def series(i):
    return ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//Almanac tests//EN\r\nBEGIN:VEVENT\r\n"
            "UID:long-%d\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260101T000000Z\r\n"
            "DURATION:PT1M\r\nRRULE:FREQ=MINUTELY;INTERVAL=2;COUNT=%d\r\nSUMMARY:long %d\r\n"
            "END:VEVENT\r\nEND:VCALENDAR\r\n" % (i, COUNT, i))


def utc(dt):
    return dt.strftime("%Y%m%dT%H%M%SZ")


class TimeBudgetTest(ServerTestCase):
    CONFIG = "request_time_budget = 0\n"  # unbounded while the series are stored

    @classmethod
    def setUpClass(cls):
        super().setUpClass()
        cls.srv.cli("calendar", "add", "alice", "long")
        errors = []

        def worker(k):
            for i in range(k, N_SERIES, 2):
                r = cls.srv.request("PUT", "/calendars/alice/long/s%02d.ics" % i,
                                    body=series(i), headers=ICS)
                if r.status != 201:
                    errors.append((i, r.status))

        threads = [threading.Thread(target=worker, args=(k,)) for k in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            raise AssertionError("PUT of the long series: %r" % errors[:5])
        cls.srv.restart(config="request_time_budget = 1\n")

    def log_since(self, mark):
        return self.srv.read_log()[mark:]

    def test_a_streamed_query_past_the_budget_is_cut_off_and_logged(self):
        mark = len(self.srv.read_log())
        body = ('<?xml version="1.0"?><C:calendar-query xmlns:D="DAV:" '
                'xmlns:C="urn:ietf:params:xml:ns:caldav"><D:prop><D:getetag/></D:prop>'
                '<C:filter><C:comp-filter name="VCALENDAR"><C:comp-filter name="VEVENT">'
                '<C:time-range start="%s" end="%s"/></C:comp-filter></C:comp-filter>'
                '</C:filter></C:calendar-query>'
                % (utc(GAP), utc(GAP + datetime.timedelta(seconds=30))))
        t0 = time.monotonic()
        try:
            r = self.req("REPORT", "/calendars/alice/long/", body=body, headers={"Depth": "1"})
        except (http.client.HTTPException, ConnectionError):
            r = None  # the answer was cut off: what the budget does once the status is sent
        took = time.monotonic() - t0
        if r is not None:
            # a whole answer is only right as the budget's 503, never as a finished 207
            self.assertCondition(r, 503, "request-time-budget")
        self.assertLess(took, 30, "the budget of 1 s stopped the walk")
        log = self.log_since(mark)
        self.assertIn("request_time_budget=1s", log)

    def test_an_expansion_search_past_the_budget_is_503_or_cut_off(self):
        # exchange-replication.md §3.8: bounds on dtstart and dtend make an expansion query;
        # every series is walked to the window near its end
        sql = ('SELECT "DAV:href" FROM SCOPE(\'SHALLOW TRAVERSAL OF ""\') WHERE '
               '"urn:schemas:calendar:dtstart" &gt;= CAST("%s" AS \'dateTime.tz\') AND '
               '"urn:schemas:calendar:dtend" &lt;= CAST("%s" AS \'dateTime.tz\')'
               % (GAP.strftime("%Y-%m-%dT%H:%M:%SZ"),
                  (GAP + datetime.timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")))
        body = ('<?xml version="1.0"?><D:searchrequest xmlns:D="DAV:"><D:sql>%s</D:sql>'
                '</D:searchrequest>' % sql)
        xml = {"Content-Type": "text/xml"}
        # with Range the rows are counted before the status: the budget's 503
        mark = len(self.srv.read_log())
        r = self.req("SEARCH", "/exchange/alice/long/", body=body,
                     headers=dict(xml, Range="rows=0-9"))
        self.assertCondition(r, 503, "request-time-budget")
        self.assertIn("request-time-budget", self.log_since(mark))
        # without, the rows stream: cut off, never a finished 207
        mark = len(self.srv.read_log())
        try:
            r = self.req("SEARCH", "/exchange/alice/long/", body=body, headers=xml)
        except (http.client.HTTPException, ConnectionError):
            r = None
        if r is not None:
            self.assertCondition(r, 503, "request-time-budget")
        self.assertIn("request_time_budget", self.log_since(mark))


if __name__ == "__main__":
    main()
