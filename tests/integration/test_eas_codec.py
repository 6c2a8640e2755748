"""tests/integration/test_eas_codec.py: self-tests of the test phone's own WBXML codec and
value formats (tests/integration/easclient.py), which need no server: golden bytes from the
brief (activesync.md §2.1, §1.2, §4.3), round trips of every request and response shape the
brief shows, the decoder's refusals, and cross-checks against Debian's libwbxml2-utils
(`xml2wbxml -a -n -v 1.3`, `wbxml2xml -l ACTIVESYNC -k -m 0`, §6.3) token by token on all
nine code pages and fixture by fixture."""

import base64
import datetime
import re
import struct
import unittest

import easclient as eas
from easclient import E, Node, WBXMLError, decode, encode
from harness import main

NS = ('xmlns:A="AirSync" xmlns:C="Calendar" xmlns:B="AirSyncBase" xmlns:F="FolderHierarchy" '
      'xmlns:P="Provision" xmlns:S="Settings" xmlns:G="GetItemEstimate" '
      'xmlns:I="ItemOperations" xmlns:N="Ping"')


def fx(body):
    """A fixture in the brief's notation: the first element gets every prefix declared."""
    return eas.from_xml(re.sub(r"^<([\w:]+)", lambda m: "<%s %s" % (m.group(1), NS), body,
                               count=1))


# Every request and response shape of the brief (§3), written the way the brief writes them.
FIXTURES = {
    "provision-request": fx("""<P:Provision>
  <S:DeviceInformation><S:Set>
    <S:Model>iPhone15C2</S:Model><S:OS>iOS 17.4</S:OS>
    <S:OSLanguage>English</S:OSLanguage><S:FriendlyName>Ann's phone</S:FriendlyName>
  </S:Set></S:DeviceInformation>
  <P:Policies><P:Policy><P:PolicyType>MS-EAS-Provisioning-WBXML</P:PolicyType></P:Policy>
    </P:Policies>
</P:Provision>"""),
    "provision-response": fx("""<P:Provision>
  <S:DeviceInformation><S:Status>1</S:Status></S:DeviceInformation>
  <P:Status>1</P:Status>
  <P:Policies><P:Policy>
    <P:PolicyType>MS-EAS-Provisioning-WBXML</P:PolicyType>
    <P:Status>1</P:Status>
    <P:PolicyKey>3942784117</P:PolicyKey>
    <P:Data><P:EASProvisionDoc>
      <P:DevicePasswordEnabled>0</P:DevicePasswordEnabled>
        <P:AlphanumericDevicePasswordRequired>0</P:AlphanumericDevicePasswordRequired>
      <P:PasswordRecoveryEnabled>0</P:PasswordRecoveryEnabled>
        <P:RequireStorageCardEncryption>0</P:RequireStorageCardEncryption>
      <P:AttachmentsEnabled>1</P:AttachmentsEnabled>
        <P:MinDevicePasswordLength>1</P:MinDevicePasswordLength>
      <P:MaxInactivityTimeDeviceLock>900</P:MaxInactivityTimeDeviceLock>
        <P:MaxDevicePasswordFailedAttempts>8</P:MaxDevicePasswordFailedAttempts>
      <P:AllowSimpleDevicePassword>1</P:AllowSimpleDevicePassword>
        <P:DevicePasswordExpiration>0</P:DevicePasswordExpiration>
      <P:DevicePasswordHistory>0</P:DevicePasswordHistory><P:AllowCamera>1</P:AllowCamera>
        <P:MaxCalendarAgeFilter>0</P:MaxCalendarAgeFilter>
    </P:EASProvisionDoc></P:Data>
  </P:Policy></P:Policies>
</P:Provision>"""),
    "provision-ack": fx("""<P:Provision><P:Policies><P:Policy>
  <P:PolicyType>MS-EAS-Provisioning-WBXML</P:PolicyType>
  <P:PolicyKey>3942784117</P:PolicyKey><P:Status>1</P:Status>
</P:Policy></P:Policies></P:Provision>"""),
    "provision-final": fx("""<P:Provision><P:Status>1</P:Status><P:Policies><P:Policy>
  <P:PolicyType>MS-EAS-Provisioning-WBXML</P:PolicyType><P:Status>1</P:Status>
  <P:PolicyKey>1307350128</P:PolicyKey>
</P:Policy></P:Policies></P:Provision>"""),
    "foldersync-request": fx("<F:FolderSync><F:SyncKey>0</F:SyncKey></F:FolderSync>"),
    "foldersync-response": fx("""<F:FolderSync>
  <F:Status>1</F:Status><F:SyncKey>1</F:SyncKey>
  <F:Changes><F:Count>3</F:Count>
    <F:Add><F:ServerId>cal-1</F:ServerId><F:ParentId>0</F:ParentId>
           <F:DisplayName>Calendar</F:DisplayName><F:Type>8</F:Type></F:Add>
    <F:Add><F:ServerId>cal-7</F:ServerId><F:ParentId>0</F:ParentId>
           <F:DisplayName>Team rota</F:DisplayName><F:Type>13</F:Type></F:Add>
    <F:Add><F:ServerId>inbox</F:ServerId><F:ParentId>0</F:ParentId>
           <F:DisplayName>Inbox</F:DisplayName><F:Type>2</F:Type></F:Add>
  </F:Changes>
</F:FolderSync>"""),
    "sync-request": fx("""<A:Sync><A:Collections><A:Collection>
  <A:SyncKey>417000000000001</A:SyncKey><A:CollectionId>cal-1</A:CollectionId>
  <A:GetChanges/><A:WindowSize>100</A:WindowSize>
  <A:Options><A:FilterType>5</A:FilterType>
    <B:BodyPreference><B:Type>1</B:Type><B:TruncationSize>32768</B:TruncationSize>
      </B:BodyPreference>
  </A:Options>
</A:Collection></A:Collections></A:Sync>"""),
    "sync-response": fx("""<A:Sync><A:Collections><A:Collection>
  <A:SyncKey>417000000000002</A:SyncKey><A:CollectionId>cal-1</A:CollectionId><A:Status>1</A:Status>
  <A:MoreAvailable/>
  <A:Commands>
    <A:Add><A:ServerId>cal-1:8842</A:ServerId><A:ApplicationData>
      <C:Timezone>%s</C:Timezone>
      <C:DtStamp>20240301T101500Z</C:DtStamp>
      <C:StartTime>20240312T080000Z</C:StartTime><C:EndTime>20240312T090000Z</C:EndTime>
      <C:Subject>Standup</C:Subject><C:UID>f81d4fae-7dec-11d0-a765-00a0c91e6bf6</C:UID>
      <C:Sensitivity>0</C:Sensitivity><C:BusyStatus>2</C:BusyStatus><C:AllDayEvent>0</C:AllDayEvent>
      <C:Reminder>10</C:Reminder><C:MeetingStatus>0</C:MeetingStatus>
      <C:Recurrence><C:Type>1</C:Type><C:Interval>1</C:Interval><C:DayOfWeek>62</C:DayOfWeek>
        </C:Recurrence>
      <C:Exceptions>
        <C:Exception><C:Deleted>1</C:Deleted>
          <C:ExceptionStartTime>20240314T080000Z</C:ExceptionStartTime></C:Exception>
        <C:Exception><C:ExceptionStartTime>20240315T080000Z</C:ExceptionStartTime>
          <C:StartTime>20240315T100000Z</C:StartTime><C:EndTime>20240315T110000Z</C:EndTime>
          <C:Subject>Standup (late)</C:Subject></C:Exception>
      </C:Exceptions>
      <C:Attendees><C:Attendee><C:Email>bob@example.org</C:Email><C:Name>Bob</C:Name>
        <C:AttendeeStatus>3</C:AttendeeStatus><C:AttendeeType>1</C:AttendeeType></C:Attendee>
          </C:Attendees>
      <C:OrganizerName>Ann</C:OrganizerName><C:OrganizerEmail>ann@example.org</C:OrganizerEmail>
      <B:Body><B:Type>1</B:Type><B:EstimatedDataSize>0</B:EstimatedDataSize><B:Data/></B:Body>
      <C:Location>Room 2</C:Location>
      <C:Categories><C:Category>Work</C:Category></C:Categories>
    </A:ApplicationData></A:Add>
    <A:Change><A:ServerId>cal-1:17</A:ServerId><A:ApplicationData>
      <C:Subject>Moved</C:Subject><C:AllDayEvent>1</C:AllDayEvent>
      <C:StartTime>20240401T220000Z</C:StartTime><C:EndTime>20240402T220000Z</C:EndTime>
    </A:ApplicationData></A:Change>
    <A:Delete><A:ServerId>cal-1:3</A:ServerId></A:Delete>
    <A:SoftDelete><A:ServerId>cal-1:4</A:ServerId></A:SoftDelete>
  </A:Commands>
  <A:Responses><A:Add><A:ClientId>42</A:ClientId><A:ServerId>cal-1:9120</A:ServerId>
    <A:Status>1</A:Status></A:Add>
    <A:Change><A:ServerId>cal-1:99</A:ServerId><A:Status>8</A:Status></A:Change></A:Responses>
</A:Collection></A:Collections></A:Sync>""" % eas.TZ_BERLIN),
    "sync-client-add": fx("""<A:Sync><A:Collections><A:Collection>
  <A:SyncKey>5</A:SyncKey><A:CollectionId>cal-1</A:CollectionId><A:GetChanges>0</A:GetChanges>
  <A:Commands><A:Add><A:ClientId>42</A:ClientId><A:ApplicationData>
    <C:Timezone>%s</C:Timezone><C:StartTime>20240312T080000Z</C:StartTime>
    <C:Subject>  leading and trailing blanks  </C:Subject><C:UID>phone-1</C:UID>
    <B:Body><B:Type>1</B:Type><B:Data>line one
line two &amp; &lt;three&gt; &#233;t&#233; &#x1F600;</B:Data></B:Body>
  </A:ApplicationData></A:Add>
  <A:Delete><A:ServerId>cal-1:3</A:ServerId></A:Delete></A:Commands>
</A:Collection></A:Collections><A:HeartbeatInterval>600</A:HeartbeatInterval></A:Sync>"""
                          % eas.TZ_NEW_YORK),
    "sync-status-14": fx("<A:Sync><A:Status>14</A:Status><A:Limit>3540</A:Limit></A:Sync>"),
    "getitemestimate-request": fx("""<G:GetItemEstimate><G:Collections><G:Collection>
  <A:SyncKey>417000000000002</A:SyncKey><G:CollectionId>cal-1</G:CollectionId>
  <A:Options><A:FilterType>0</A:FilterType></A:Options>
</G:Collection></G:Collections></G:GetItemEstimate>"""),
    "getitemestimate-response": fx("""<G:GetItemEstimate><G:Response><G:Status>1</G:Status>
  <G:Collection><G:CollectionId>cal-1</G:CollectionId><G:Estimate>5</G:Estimate></G:Collection>
</G:Response></G:GetItemEstimate>"""),
    "ping-request": fx("""<N:Ping><N:HeartbeatInterval>900</N:HeartbeatInterval><N:Folders>
  <N:Folder><N:Id>cal-1</N:Id><N:Class>Calendar</N:Class></N:Folder></N:Folders></N:Ping>"""),
    "ping-response": fx("""<N:Ping><N:Status>2</N:Status><N:Folders><N:Folder>cal-1</N:Folder>
  </N:Folders></N:Ping>"""),
    "ping-status-5": fx("<N:Ping><N:Status>5</N:Status>"
                        "<N:HeartbeatInterval>60</N:HeartbeatInterval></N:Ping>"),
    "settings-request": fx("""<S:Settings><S:DeviceInformation><S:Set><S:Model>SM-G991B</S:Model>
  <S:FriendlyName>Galaxy S21</S:FriendlyName><S:OS>Android 14</S:OS>
    <S:OSLanguage>de-DE</S:OSLanguage>
  <S:UserAgent>Android/14-EAS-2.0</S:UserAgent><S:MobileOperator>Op</S:MobileOperator>
</S:Set></S:DeviceInformation></S:Settings>"""),
    "settings-response": fx("""<S:Settings><S:Status>1</S:Status>
      <S:DeviceInformation><S:Status>1</S:Status>
  </S:DeviceInformation></S:Settings>"""),
    "itemoperations-request": fx("""<I:ItemOperations><I:Fetch>
  <I:Store>Mailbox</I:Store><A:CollectionId>cal-1</A:CollectionId>
    <A:ServerId>cal-1:8842</A:ServerId>
  <I:Options><B:BodyPreference><B:Type>2</B:Type></B:BodyPreference></I:Options>
</I:Fetch></I:ItemOperations>"""),
    "itemoperations-response": fx("""<I:ItemOperations><I:Status>1</I:Status><I:Response><I:Fetch>
  <I:Status>1</I:Status><A:CollectionId>cal-1</A:CollectionId><A:ServerId>cal-1:8842</A:ServerId>
  <A:Class>Calendar</A:Class><I:Properties><C:Subject>Standup</C:Subject>
  <C:StartTime>20240312T080000Z</C:StartTime>
  <B:Body><B:Type>1</B:Type><B:EstimatedDataSize>5</B:EstimatedDataSize><B:Data>notes</B:Data>
    </B:Body>
  </I:Properties>
</I:Fetch></I:Response></I:ItemOperations>"""),
}

HEADER = b"\x03\x01\x6a\x00"


class GoldenBytes(unittest.TestCase):
    """Byte strings printed in the brief."""

    FOLDERSYNC = bytes.fromhex("03016a00 0007 56 52 033000 01 01".replace(" ", ""))
    PING = bytes.fromhex(
        "03 01 6A 00 00 0D 45 48 03 34 38 30 00 01 49 4A 4B 03 63 31 00 01"
        "4C 03 43 61 6C 65 6E 64 61 72 00 01 01 01 01".replace(" ", ""))

    def test_foldersync_example_of_2_1(self):
        doc = E("F:FolderSync", E("SyncKey", "0"))
        self.assertEqual(encode(doc), self.FOLDERSYNC)
        self.assertEqual(decode(self.FOLDERSYNC), doc)
        self.assertEqual(encode(FIXTURES["foldersync-request"]), self.FOLDERSYNC)

    def test_ping_example_of_2_1(self):
        doc = E("N:Ping", E("HeartbeatInterval", "480"),
                E("Folders", E("Folder", E("Id", "c1"), E("Class", "Calendar"))))
        self.assertEqual(encode(doc), self.PING)
        self.assertEqual(decode(self.PING), doc)

    def test_every_document_starts_with_the_eas_header(self):
        for name, doc in FIXTURES.items():
            self.assertEqual(encode(doc)[:4], HEADER, name)

    def test_mb_u_int32(self):
        cases = {0: "00", 1: "01", 127: "7f", 128: "8100", 200: "8148", 16383: "ff7f",
                 16384: "818000", 0xFFFFFFFF: "8fffffff7f"}
        for n, hexs in cases.items():
            self.assertEqual(eas.mb_u_int32(n).hex(), hexs, n)
            r = eas._Reader(bytes.fromhex(hexs))
            self.assertEqual(r.mb("n"), n)
            self.assertEqual(r.pos, len(hexs) // 2)
        for bad in ("8080808001", "908080808000", "9080808000"):
            with self.assertRaises(WBXMLError, msg=bad):
                eas._Reader(bytes.fromhex(bad)).mb("n")
        with self.assertRaises(ValueError):
            eas.mb_u_int32(1 << 32)

    def test_empty_elements_are_bare_tokens_without_end(self):
        doc = E("A:Sync", E("Collections", E("Collection", E("GetChanges"), E("MoreAvailable"))))
        self.assertEqual(encode(doc), HEADER + bytes([0x45, 0x5C, 0x4F, 0x13, 0x14, 0x01, 0x01,
                                                      0x01]))
        # an element with the content bit and nothing inside means the same thing
        self.assertTrue(eas.same_tree(decode(HEADER + bytes([0x45, 0x5C, 0x4F, 0x53, 0x01, 0x14,
                                                             0x01, 0x01, 0x01])), doc))

    def test_code_page_persists_across_end(self):
        # B:Body (page 17) closes; the C:Location after it needs a SWITCH_PAGE back to 4,
        # and the A:ApplicationData's END needs none (END is page-less)
        doc = E("A:ApplicationData", E("C:Subject", "s"), E("B:Body", E("B:Type", "1")),
                E("C:Location", "l"))
        want = HEADER + bytes([0x5D, 0x00, 0x04, 0x66, 0x03]) + b"s\x00" + bytes(
            [0x01, 0x00, 0x11, 0x4A, 0x46, 0x03]) + b"1\x00" + bytes(
            [0x01, 0x01, 0x00, 0x04, 0x57, 0x03]) + b"l\x00" + bytes([0x01, 0x01])
        self.assertEqual(encode(doc), want)
        self.assertEqual(decode(want), doc)
        # a redundant SWITCH_PAGE is allowed on input
        self.assertEqual(decode(HEADER + b"\x00\x00\x00\x07\x00\x07\x56\x52\x030\x00\x01\x01"),
                         E("F:FolderSync", E("SyncKey", "0")))


class RoundTrips(unittest.TestCase):
    def test_every_fixture_round_trips(self):
        for name, doc in FIXTURES.items():
            with self.subTest(name):
                self.assertEqual(decode(encode(doc)), doc)

    def test_text_is_kept_byte_for_byte(self):
        for text in ("  two blanks  ", "\ttab", "a\r\nb", "é ü ß", "😀", "x" * 70000, "&<>"):
            doc = E("A:Sync", E("Collections", E("Collection", E("SyncKey", text))))
            self.assertEqual(decode(encode(doc)).findtext("Collections/Collection/SyncKey"), text)

    def test_opaque_carries_bytes(self):
        doc = E("C:UID", b"0123456789abcdef0123456789abcdef\x00")
        data = encode(doc)
        self.assertEqual(data, HEADER + b"\x00\x04\x68\xc3\x21" + doc.text + b"\x01")
        self.assertEqual(decode(data).text, doc.text)
        with self.assertRaises(WBXMLError):
            decode(data, allow_opaque=False)

    def test_several_text_pieces_are_concatenated(self):
        data = HEADER + b"\x00\x04\x66\x03ab\x00\x03cd\x00\x01"
        self.assertEqual(decode(data).text, "abcd")
        data = HEADER + b"\x00\x04\x66\x03ab\x00\xc3\x02cd\x01"
        self.assertEqual(decode(data).text, b"abcd")

    def test_older_wbxml_versions_are_read(self):
        for v in (1, 2, 3):
            self.assertEqual(decode(bytes([v]) + GoldenBytes.FOLDERSYNC[1:]).name, "FolderSync")

    def test_encoder_refuses_what_eas_cannot_carry(self):
        with self.assertRaises(ValueError):
            encode(E("C:Subject", "a\x00b"))
        with self.assertRaises(ValueError):
            encode(E("C:NoSuchTag", "x"))
        with self.assertRaises(ValueError):
            encode(Node("Email", "Subject", text="x"))  # a page this client never speaks
        with self.assertRaises(ValueError):
            E("A:Sync", E("SyncKey", "1"), "text")

    def test_builder_inherits_and_switches_namespaces(self):
        doc = E("G:GetItemEstimate", E("Collections", E("Collection", E("A:SyncKey", "1"),
                                                           E("CollectionId", "c"))))
        coll = doc.find("Collections/Collection")
        self.assertEqual([(c.ns, c.name) for c in coll.children],
                         [("AirSync", "SyncKey"), ("GetItemEstimate", "CollectionId")])
        self.assertEqual(doc.findtext("Collections/Collection/A:SyncKey"), "1")
        self.assertIsNone(doc.find("Collections/Collection/G:SyncKey"))

    def test_tables_have_the_brief_s_sizes_and_landmarks(self):
        sizes = {0: 37, 4: 48, 6: 10, 7: 20, 8: 12, 10: 25, 13: 9, 14: 55, 17: 40, 18: 38, 20: 21}
        self.assertEqual({p: len(t) for p, (_, t) in eas.PAGES.items()}, sizes)
        marks = {("AirSync", "Sync"): (0, 0x05), ("AirSync", "HeartbeatInterval"): (0, 0x29),
                 ("Calendar", "Timezone"): (4, 0x05), ("Calendar", "UID"): (4, 0x28),
                 ("Calendar", "ClientUid"): (4, 0x3C),
                 ("Calendar", "DisallowNewTimeProposal"): (4, 0x33),
                 ("FolderHierarchy", "FolderSync"): (7, 0x16), ("Ping", "Ping"): (13, 0x05),
                 ("Provision", "AccountOnlyRemoteWipe"): (14, 0x3B),
                 ("AirSyncBase", "Body"): (17, 0x0A), ("AirSyncBase", "InstanceId"): (17, 0x2D),
                 ("Settings", "RightsManagementInformation"): (18, 0x2B),
                 ("ItemOperations", "MoveAlways"): (20, 0x19),
                 ("GetItemEstimate", "Status"): (6, 0x0E),
                 ("ResolveRecipients", "ResolveRecipients"): (10, 0x05),
                 ("ResolveRecipients", "MergedFreeBusy"): (10, 0x19),
                 ("ResolveRecipients", "MaxPictures"): (10, 0x1D)}
        for k, v in marks.items():
            self.assertEqual(eas.TOKENS[k], v, k)
        # unassigned tokens (§2.4)
        self.assertNotIn(0x09, eas.PAGES[17][1])
        self.assertNotIn(0x2A, eas.PAGES[18][1])
        for t in range(0x2B, 0x33):
            self.assertNotIn(t, eas.PAGES[4][1])


class DecoderRefuses(unittest.TestCase):
    """Everything EAS does not use is an error, never a guess."""

    def bad(self, data, why=None):
        with self.assertRaises(WBXMLError, msg=data.hex()) as cm:
            decode(data)
        if why:
            self.assertIn(why, str(cm.exception))

    def test_bad_headers(self):
        body = GoldenBytes.FOLDERSYNC[4:]
        self.bad(b"", "truncated")
        self.bad(b"\x04\x01\x6a\x00" + body, "version")
        self.bad(b"\x03\x00\x00\x6a\x00" + body, "string-table")
        self.bad(b"\x03\x05\x6a\x00" + body, "public id")
        self.bad(b"\x03\x01\x04\x00" + body, "charset")
        self.bad(b"\x03\x01\x6a\x03abc" + body, "string table")
        self.bad(b"\x03\x01\x6a", "truncated")

    def test_tokens_eas_does_not_use(self):
        for tok in (0x02, 0x04, 0x40, 0x41, 0x42, 0x43, 0x44, 0x80, 0x81, 0x82, 0x83, 0x84,
                    0xC0, 0xC1, 0xC2, 0xC4):
            self.bad(HEADER + b"\x00\x07\x56" + bytes([tok]) + b"\x00\x01", "global token")
        self.bad(HEADER + b"\x00\x07\xd6\x01\x01", "attributes")
        self.bad(HEADER + b"\x00\x07\x96\x01", "attributes")

    def test_unknown_pages_and_tokens(self):
        self.bad(HEADER + b"\x00\x1a\x45\x01", "code page 26")
        self.bad(HEADER + b"\x00\x02\x45\x01", "Email")
        self.bad(HEADER + b"\x00\x04\x6b\x01", "unknown token 0x2B")
        self.bad(HEADER + b"\x00\x11\x49\x01", "unknown token 0x09")
        self.bad(HEADER + b"\x00\x07\x59\x01", "unknown token 0x19")
        self.bad(HEADER + b"\x00\x0d\x0e", "unknown token 0x0E")

    def test_every_truncation_of_every_fixture(self):
        for name, doc in FIXTURES.items():
            data = encode(doc)
            for n in range(len(data)):
                with self.subTest(name, cut=n):
                    self.bad(data[:n])

    def test_trailing_bytes_and_structure(self):
        fs = GoldenBytes.FOLDERSYNC
        self.bad(fs + b"\x01", "after the root")
        self.bad(fs + b"\x00", "after the root")
        self.bad(fs + fs[4:], "after the root")
        self.bad(HEADER + b"\x01", "END with no open")
        self.bad(HEADER + b"\x03x\x00", "outside the root")
        self.bad(HEADER + b"\x00\x07\x56\x52\x030\x00\x13\x01\x01", "mixed")
        self.bad(HEADER + b"\x00\x07\x56\x13\x030\x00\x01", "mixed")
        self.bad(HEADER + b"\x00\x04\x66\x03\xff\xfe\x00\x01", "UTF-8")
        self.bad(HEADER + b"\x00\x04\x66\xc3\x05ab\x01", "truncated")
        self.bad(HEADER + b"\x00\x00", "truncated")

    def test_nesting_limit(self):
        deep = HEADER + b"\x5c" * (eas.MAX_DEPTH + 1) + b"\x01" * (eas.MAX_DEPTH + 1)
        self.bad(deep, "deeper")
        ok = HEADER + b"\x5c" * eas.MAX_DEPTH + b"\x01" * eas.MAX_DEPTH
        self.assertEqual(decode(ok).name, "Collections")


class QueryForms(unittest.TestCase):
    SPEC = "jAAJBAp2MTQwRGV2aWNlAApTbWFydFBob25l"

    def test_spec_example_of_1_2(self):
        q = eas.parse_base64_query(base64.b64decode(self.SPEC))
        self.assertEqual(q, {"version": 140, "cmd": "Sync", "locale": 0x0409,
                             "device_id": b"v140Device", "policy_key": None,
                             "device_type": b"SmartPhone", "params": {}})
        raw = eas.base64_query_bytes("Sync", "v140Device", "SmartPhone", version="14.0")
        self.assertEqual(base64.b64encode(raw).decode(), self.SPEC)
        self.assertEqual(eas.base64_query("Sync", "v140Device", "SmartPhone", version="14.0"),
                         "?" + self.SPEC)

    def test_policy_key_and_parameters(self):
        raw = eas.base64_query_bytes("FolderSync", "DEV1", "iPhone", "14.1", 3942784117,
                                     User="alice", CollectionId="7")
        self.assertEqual(raw[:2], bytes([141, 9]))
        self.assertEqual(raw[9:14], b"\x04" + struct.pack("<I", 3942784117))
        q = eas.parse_base64_query(raw)
        self.assertEqual(q["policy_key"], 3942784117)
        self.assertEqual(q["params"], {"User": b"alice", "CollectionId": b"7"})
        target = eas.base64_query("Provision", "DEV1", "iPhone", "14.1", 1)
        self.assertNotIn("=", target)
        self.assertNotIn("/", target.replace("%2F", ""))
        for cmd, code in (("Ping", 18), ("Provision", 20), ("ItemOperations", 19),
                          ("GetItemEstimate", 14), ("Settings", 17)):
            self.assertEqual(eas.base64_query_bytes(cmd, "D", "T")[1], code)

    def test_plain_form(self):
        self.assertEqual(eas.plain_query("Sync", "alice", "ABC123DEF", "iPhone"),
                         "?Cmd=Sync&User=alice&DeviceId=ABC123DEF&DeviceType=iPhone")
        self.assertEqual(eas.plain_query("Sync", "a b@x", "D", "T"),
                         "?Cmd=Sync&User=a%20b%40x&DeviceId=D&DeviceType=T")


class Values(unittest.TestCase):
    BERLIN_HEX = ("c4ffffff" + "00" * 64 + "0000 0a00 0000 0500 0300 0000 0000 0000 00000000"
                  + "00" * 64 + "0000 0300 0000 0500 0200 0000 0000 0000 c4ffffff")

    def test_timezone_blobs_of_4_3(self):
        raw = base64.b64decode(eas.TZ_BERLIN)
        self.assertEqual(raw.hex(), self.BERLIN_HEX.replace(" ", ""))
        self.assertTrue(eas.TZ_BERLIN.startswith("xP///wAA"))
        self.assertTrue(eas.TZ_BERLIN.endswith("AAAAxP///w=="))
        self.assertTrue(eas.TZ_NEW_YORK.startswith("LAEAAAAA"))
        self.assertTrue(eas.TZ_NEW_YORK.endswith("AAAAxP///w=="))
        self.assertEqual(eas.TZ_UTC, "A" * 230 + "==")
        ny = eas.parse_tz_blob(eas.TZ_NEW_YORK)
        self.assertEqual((ny["bias"], ny["dst_bias"], ny["std_date"]["month"],
                          ny["dst_date"]["day"]), (300, -60, 11, 2))
        named = eas.tz_blob(-60, "W. Europe Standard Time", None, 0, "W. Europe Daylight Time")
        self.assertEqual(eas.parse_tz_blob(named)["std_name"], "W. Europe Standard Time")
        with self.assertRaises(ValueError):
            eas.parse_tz_blob(base64.b64encode(b"\x00" * 171).decode())

    def test_blob_rules_agree_with_the_system_zone_database(self):
        import zoneinfo
        utc = datetime.timezone.utc
        for blob, name in ((eas.TZ_BERLIN, "Europe/Berlin"),
                           (eas.TZ_NEW_YORK, "America/New_York")):
            zone = zoneinfo.ZoneInfo(name)
            t = datetime.datetime(2026, 1, 1, tzinfo=utc)
            while t.year == 2026:
                want = t.astimezone(zone).replace(tzinfo=None)
                self.assertEqual(eas.blob_utc_to_local(t, blob), want, (name, t))
                t += datetime.timedelta(minutes=30)
        t = datetime.datetime(2026, 7, 1, 12, tzinfo=utc)
        self.assertEqual(eas.blob_utc_to_local(t, eas.TZ_UTC), t.replace(tzinfo=None))
        sydney = eas.tz_blob(-600, "", eas.systemtime(0, 4, 0, 1, 3), 0, "",
                             eas.systemtime(0, 10, 0, 1, 2), -60)
        zone = zoneinfo.ZoneInfo("Australia/Sydney")
        for month in range(1, 13):
            t = datetime.datetime(2026, month, 15, tzinfo=utc)
            self.assertEqual(eas.blob_utc_to_local(t, sydney),
                             t.astimezone(zone).replace(tzinfo=None), month)

    def test_compact_datetime(self):
        t = datetime.datetime(2024, 3, 12, 8, 0, tzinfo=datetime.timezone.utc)
        self.assertEqual(eas.compact(t), "20240312T080000Z")
        self.assertEqual(eas.parse_compact("20240312T080000Z"), t)
        self.assertEqual(eas.parse_compact("2024-03-12T08:00:00.000Z"), t)
        for bad in ("20240312T080000", "2024031T080000Z", "", None):
            with self.assertRaises(ValueError):
                eas.parse_compact(bad)

    def test_calendar_fields(self):
        app = FIXTURES["sync-response"].find("Collections/Collection/Commands/Add/"
                                             "ApplicationData")
        f = eas.calendar_fields(app)
        self.assertEqual(f["Subject"], "Standup")
        self.assertEqual(f["Recurrence"], {"Type": "1", "Interval": "1", "DayOfWeek": "62"})
        self.assertEqual(len(f["Exceptions"]), 2)
        self.assertEqual(f["Exceptions"][0]["Deleted"], "1")
        self.assertEqual(f["Attendees"][0]["Email"], "bob@example.org")
        self.assertEqual(f["Body"]["Data"], "")
        self.assertEqual(f["Categories"], ["Work"])
        sync = eas.SyncResult(eas.Response(200, [], b"", FIXTURES["sync-response"]))
        c = sync.only()
        self.assertEqual((c.sync_key, c.status, c.more_available), ("417000000000002", 1, True))
        self.assertEqual([k for k, _, _ in c.commands], ["Add", "Change", "Delete", "SoftDelete"])
        self.assertEqual(c.deletes, ["cal-1:3"])
        self.assertEqual(c.responses[0]["ClientId"], "42")
        self.assertEqual(c.responses[1]["Status"], 8)


class LibwbxmlOracle(unittest.TestCase):
    """Debian's libwbxml 0.11.8 agrees with our tables and our bytes (§6.3)."""

    def test_every_token_of_every_page(self):
        for page, (ns, tags) in sorted(eas.PAGES.items()):
            with self.subTest(ns):
                names = [n for _, n in sorted(tags.items()) if (ns, n) not in eas.LIBWBXML_MISSING]
                # each tag once empty (bare token) and once with content (token | 0x40)
                kids = [Node(ns, n) for n in names]
                kids += [Node(ns, n, text=(b"\x01\x02" if (ns, n) in eas.LIBWBXML_BINARY
                                           else "v" + n)) for n in names]
                root = Node("AirSync", "Sync", kids)
                ours = encode(root)
                self.assertEqual(eas.libwbxml_encode(root), ours)
                self.assertTrue(eas.same_tree(eas.libwbxml_decode(ours), root))

    def test_every_fixture_both_ways(self):
        for name, doc in FIXTURES.items():
            with self.subTest(name):
                ours = encode(doc)
                self.assertEqual(eas.libwbxml_encode(doc).hex(" "), ours.hex(" "))
                back = eas.libwbxml_decode(ours)
                self.assertTrue(eas.same_tree(back, doc), "%r\n%r" % (back, doc))
                self.assertEqual(decode(eas.libwbxml_encode(doc)), doc)

    def test_spec_names_need_the_map(self):
        # §6.3 finding 3: an unmapped Calendar name fails or lands on another page
        raw = ('<?xml version="1.0"?>\n%s\n<Sync xmlns="AirSync:"><ApplicationData>'
               '<Type xmlns="Calendar:">1</Type></ApplicationData></Sync>' % eas.DOCTYPE)
        try:
            out = eas._run(["xml2wbxml", "-a", "-n", "-v", "1.3", "-k"], raw.encode())
        except WBXMLError:
            return
        ours = encode(E("A:Sync", E("ApplicationData", E("C:Type", "1"))))
        self.assertNotEqual(out, ours)

    def test_our_opaque_is_raw_text_for_libwbxml(self):
        # finding 9: a non-binary element's OPAQUE comes out as its bytes
        data = encode(E("A:Sync", E("Collections", E("Collection",
                                                     E("SyncKey", b"417")))))
        self.assertIn("<SyncKey>417</SyncKey>", eas.libwbxml_decode_xml(data))
        self.assertTrue(eas.has_opaque(decode(data)))


if __name__ == "__main__":
    main()
