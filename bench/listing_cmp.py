#!/usr/bin/env python3
"""bench/listing_cmp.py: are two almanacd builds' listings byte-identical? (issue 16). Builds
one store with OLD's `almanac` (N events imported; then five deletes, three PUTs whose names
need escaping in XML, a dead property, a move), stops OLD's almanacd, copies the store twice
and starts each build's almanacd on its copy (NEW's migrates it), then sends both the same
Depth-1 PROPFINDs (getetag; with live and dead properties; allprop; propname) and
sync-collection REPORTs (initial, from a token, with a limit, with calendar-data) and
compares the answers byte for byte. The ETags carry the collection's random change GUID, so
only answers over one store compare. PROPFIND with calendar-data is left out: main before
436412a crashes on it. Prints one line per request; exits 1 if any differs. Stops what it
starts by PID. Not part of make check.

usage: listing_cmp.py OLD_BUILD_DIR NEW_BUILD_DIR N   (each dir holds almanacd and almanac)
"""
import os, re, shutil, signal, subprocess, sys, tempfile, time, base64, http.client
OLD, NEW, N = sys.argv[1], sys.argv[2], int(sys.argv[3])
USER, PW = "bench", "bench-password"
AUTH = "Basic " + base64.b64encode(("%s:%s" % (USER, PW)).encode()).decode()
CAL = "/calendars/bench/cal/"
NS = 'xmlns:D="DAV:" xmlns:C="urn:ietf:params:xml:ns:caldav" xmlns:X="urn:x"'
EV = ("BEGIN:VEVENT\r\nUID:u-{i}@x\r\nDTSTAMP:20260101T000000Z\r\nDTSTART:20260{m}0{d}T100000Z\r\n"
      "DURATION:PT1H\r\nSUMMARY:ev {i} & <b>\r\nEND:VEVENT\r\n")
def start(binary, data, d):
    pf = os.path.join(d, "port-" + os.path.basename(data))
    if os.path.exists(pf): os.unlink(pf)
    p = subprocess.Popen([binary, "--data", data, "--listen", "127.0.0.1:0", "--port-file", pf, "--log-level", "warn"])
    for _ in range(600):
        if os.path.exists(pf) and os.path.getsize(pf): break
        time.sleep(0.05)
    return p, int(open(pf).read())
def req(port, method, path, body=b"", hdrs=None):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    h = {"Authorization": AUTH, "Content-Type": "application/xml"}
    h.update(hdrs or {})
    c.request(method, path, body=body, headers=h)
    r = c.getresponse()
    try:
        b = r.read()
    except http.client.IncompleteRead as e:
        b = b"INCOMPLETE:" + e.partial
    c.close()
    return r.status, b
def pf(props): return ('<?xml version="1.0"?><D:propfind %s>%s</D:propfind>' % (NS, props)).encode()
def sync(tok, props): return ('<?xml version="1.0"?><D:sync-collection %s><D:sync-token>%s</D:sync-token><D:sync-level>1</D:sync-level>%s</D:sync-collection>' % (NS, tok, props)).encode()
d = tempfile.mkdtemp(prefix="s16cmp-")
data = os.path.join(d, "data")
ics = os.path.join(d, "c.ics")
with open(ics, "w", newline="") as f:
    f.write("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\n")
    for i in range(N): f.write(EV.format(i=i, m=1 + i % 9, d=1 + i % 9))
    f.write("END:VCALENDAR\r\n")
A = lambda *a: subprocess.run([os.path.join(OLD, "almanac"), "--data", data] + list(a), input=PW + "\n", text=True, check=True, capture_output=True)
A("user", "add", USER, "--password-stdin"); A("import", USER, "cal", ics)
p, port = start(os.path.join(OLD, "almanacd"), data, d)
st, b = req(port, "REPORT", CAL, sync("", "<D:prop><D:getetag/></D:prop>"), {"Depth": "0"})
tok = re.search(rb"<D:sync-token>([^<]*)</D:sync-token>", b).group(1).decode()
st, b = req(port, "PROPFIND", CAL, pf("<D:prop><D:getetag/></D:prop>"), {"Depth": "1"})
hrefs = re.findall(rb"<D:href>([^<]*\.ics)</D:href>", b)
for h in hrefs[:5]: assert req(port, "DELETE", h.decode())[0] == 204
for i in range(3):
    body = ("BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//x//EN\r\n" + EV.format(i=N + i, m=2, d=3) + "END:VCALENDAR\r\n").encode()
    assert req(port, "PUT", CAL + "new%20%26%3C-" + str(i) + ".ics", body, {"Content-Type": "text/calendar"})[0] in (201, 204)
pp = ('<?xml version="1.0"?><D:propertyupdate %s><D:set><D:prop><X:color>red &amp; blue</X:color></D:prop></D:set></D:propertyupdate>' % NS).encode()
assert req(port, "PROPPATCH", hrefs[7].decode(), pp)[0] == 207
assert req(port, "MOVE", hrefs[8].decode(), b"", {"Destination": hrefs[8].decode().replace(".ics", "-moved.ics")})[0] in (201, 204)
p.send_signal(signal.SIGTERM); p.wait()
shutil.copytree(data, data + "-old"); shutil.copytree(data, data + "-new")
REQS = [
  ("PROPFIND", "1", pf("<D:prop><D:getetag/></D:prop>")),
  ("PROPFIND", "1", pf("<D:prop><D:getetag/><D:resourcetype/><D:displayname/><X:color/><X:none/></D:prop>")),
  ("PROPFIND", "1", pf("<D:prop><D:getetag/><D:getcontenttype/><D:getlastmodified/><D:getcontentlength/></D:prop>")),
  ("PROPFIND", "1", pf("<D:allprop/>")),
  ("PROPFIND", "1", pf("<D:propname/>")),
  # PROPFIND with calendar-data: main crashes on it (fixed on this branch), not compared
  ("REPORT", "0", sync("", "<D:prop><D:getetag/></D:prop>")),
  ("REPORT", "0", sync(tok, "<D:prop><D:getetag/></D:prop>")),
  ("REPORT", "0", sync(tok, "<D:prop><D:getetag/><X:color/></D:prop>")),
  ("REPORT", "0", sync(tok, "<D:prop><D:getetag/><D:getcontenttype/></D:prop>")),
  ("REPORT", "0", sync("", "<D:prop><D:getetag/><C:calendar-data/></D:prop>")),
  ("REPORT", "0", ('<?xml version="1.0"?><D:sync-collection %s><D:sync-token>%s</D:sync-token><D:sync-level>1</D:sync-level><D:limit><D:nresults>4</D:nresults></D:limit><D:prop><D:getetag/></D:prop></D:sync-collection>' % (NS, tok)).encode()),
  ("REPORT", "0", ('<?xml version="1.0"?><D:sync-collection %s><D:sync-token></D:sync-token><D:sync-level>1</D:sync-level><D:limit><D:nresults>7</D:nresults></D:limit><D:prop><D:getetag/></D:prop></D:sync-collection>' % NS).encode()),
]
out = {}
for tag, bdir in (("old", OLD), ("new", NEW)):
    p, port = start(os.path.join(bdir, "almanacd"), data + "-" + tag, d)
    out[tag] = []
    for m, dep, body in REQS:
        out[tag].append(req(port, m, CAL, body, {"Depth": dep}))
    p.send_signal(signal.SIGTERM); p.wait()
bad = 0
for i, (a, b) in enumerate(zip(out["old"], out["new"])):
    same = a == b
    bad += not same
    print("req %2d: status %d, %8d bytes, %s" % (i, a[0], len(a[1]), "identical" if same else "DIFFERENT (new %d, %d bytes)" % (b[0], len(b[1]))))
shutil.rmtree(d)
print("all identical" if not bad else "%d differ" % bad)
sys.exit(1 if bad else 0)
