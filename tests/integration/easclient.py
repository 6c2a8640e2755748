"""tests/integration/easclient.py: an Exchange ActiveSync test client that plays a phone.

It carries its own WBXML 1.3 codec and code-page tables, written from the brief
(shared/spec/activesync.md §2) independently of the server's C tables, so that each checks
the other; a bridge to Debian's libwbxml2-utils (xml2wbxml / wbxml2xml) is a third, outside
opinion (§6.3). Python 3 standard library only.

Layers, bottom up:
  Node, E()              a small element tree (namespace = EAS code-page name)
  encode(), decode()     WBXML bytes <-> Node; the decoder is strict (any token EAS does not
                         use, a truncated document or trailing bytes raise WBXMLError)
  libwbxml_encode/decode the same through the Debian tools, with the name map of §6.3
  plain_query(), base64_query()   the two request-line forms of §1.1 / §1.2
  tz blob, compact dates the value formats of §4.1 / §4.3
  EASClient              one device: OPTIONS, Provision, Settings, FolderSync, Sync,
                         GetItemEstimate, Ping, ItemOperations
"""

import base64
import datetime
import http.client
import os
import re
import struct
import subprocess
import tempfile
import urllib.parse
import xml.etree.ElementTree as ET

# --------------------------------------------------------------------------------------------
# Code pages (brief §2.2 / §2.3). Each page: number -> (namespace, {token: tag}).
# Only the nine pages EAS calendar sync uses are spelled out; the others are known by number
# so that an error can name them, and a document using them is rejected.

_AIRSYNC = """
05 Sync 06 Responses 07 Add 08 Change 09 Delete 0A Fetch 0B SyncKey 0C ClientId 0D ServerId
0E Status 0F Collection 10 Class 11 Version 12 CollectionId 13 GetChanges 14 MoreAvailable
15 WindowSize 16 Commands 17 Options 18 FilterType 19 Truncation 1A RTFTruncation 1B Conflict
1C Collections 1D ApplicationData 1E DeletesAsMoves 1F NotifyGUID 20 Supported 21 SoftDelete
22 MIMESupport 23 MIMETruncation 24 Wait 25 Limit 26 Partial 27 ConversationMode 28 MaxItems
29 HeartbeatInterval
"""

_CALENDAR = """
05 Timezone 06 AllDayEvent 07 Attendees 08 Attendee 09 Email 0A Name 0B Body 0C BodyTruncated
0D BusyStatus 0E Categories 0F Category 10 Rtf 11 DtStamp 12 EndTime 13 Exception
14 Exceptions 15 Deleted 16 ExceptionStartTime 17 Location 18 MeetingStatus 19 OrganizerEmail
1A OrganizerName 1B Recurrence 1C Type 1D Until 1E Occurrences 1F Interval 20 DayOfWeek
21 DayOfMonth 22 WeekOfMonth 23 MonthOfYear 24 Reminder 25 Sensitivity 26 Subject 27 StartTime
28 UID 29 AttendeeStatus 2A AttendeeType 33 DisallowNewTimeProposal 34 ResponseRequested
35 AppointmentReplyTime 36 ResponseType 37 CalendarType 38 IsLeapMonth 39 FirstDayOfWeek
3A OnlineMeetingConfLink 3B OnlineMeetingExternalLink 3C ClientUid
"""

_GETITEMESTIMATE = """
05 GetItemEstimate 06 Version 07 Collections 08 Collection 09 Class 0A CollectionId
0B DateTime 0C Estimate 0D Response 0E Status
"""

_RESOLVERECIPIENTS = """
05 ResolveRecipients 06 Response 07 Status 08 Type 09 Recipient 0A DisplayName 0B EmailAddress
0C Certificates 0D Certificate 0E MiniCertificate 0F Options 10 To 11 CertificateRetrieval
12 RecipientCount 13 MaxCertificates 14 MaxAmbiguousRecipients 15 CertificateCount
16 Availability 17 StartTime 18 EndTime 19 MergedFreeBusy 1A Picture 1B MaxSize 1C Data
1D MaxPictures
"""

_FOLDERHIERARCHY = """
05 Folders 06 Folder 07 DisplayName 08 ServerId 09 ParentId 0A Type 0B Response 0C Status
0D ContentClass 0E Changes 0F Add 10 Delete 11 Update 12 SyncKey 13 FolderCreate
14 FolderDelete 15 FolderUpdate 16 FolderSync 17 Count 18 Version
"""

_PING = """
05 Ping 06 AutdState 07 Status 08 HeartbeatInterval 09 Folders 0A Folder 0B Id 0C Class
0D MaxFolders
"""

_PROVISION = """
05 Provision 06 Policies 07 Policy 08 PolicyType 09 PolicyKey 0A Data 0B Status 0C RemoteWipe
0D EASProvisionDoc 0E DevicePasswordEnabled 0F AlphanumericDevicePasswordRequired
10 RequireStorageCardEncryption 11 PasswordRecoveryEnabled 12 DocumentBrowseEnabled
13 AttachmentsEnabled 14 MinDevicePasswordLength 15 MaxInactivityTimeDeviceLock
16 MaxDevicePasswordFailedAttempts 17 MaxAttachmentSize 18 AllowSimpleDevicePassword
19 DevicePasswordExpiration 1A DevicePasswordHistory 1B AllowStorageCard 1C AllowCamera
1D RequireDeviceEncryption 1E AllowUnsignedApplications 1F AllowUnsignedInstallationPackages
20 MinDevicePasswordComplexCharacters 21 AllowWiFi 22 AllowTextMessaging 23 AllowPOPIMAPEmail
24 AllowBluetooth 25 AllowIrDA 26 RequireManualSyncWhenRoaming 27 AllowDesktopSync
28 MaxCalendarAgeFilter 29 AllowHTMLEmail 2A MaxEmailAgeFilter 2B MaxEmailBodyTruncationSize
2C MaxEmailHTMLBodyTruncationSize 2D RequireSignedSMIMEMessages 2E RequireEncryptedSMIMEMessages
2F RequireSignedSMIMEAlgorithm 30 RequireEncryptionSMIMEAlgorithm
31 AllowSMIMEEncryptionAlgorithmNegotiation 32 AllowSMIMESoftCerts 33 AllowBrowser
34 AllowConsumerEmail 35 AllowRemoteDesktop 36 AllowInternetSharing
37 UnapprovedInROMApplicationList 38 ApplicationName 39 ApprovedApplicationList 3A Hash
3B AccountOnlyRemoteWipe
"""

_MEETINGRESPONSE = """
05 CalendarId 06 CollectionId 07 MeetingResponse 08 RequestId 09 Request 0A Result 0B Status
0C UserResponse 0E InstanceId 10 ProposedStartTime 11 ProposedEndTime 12 SendResponse
"""

_AIRSYNCBASE = """
05 BodyPreference 06 Type 07 TruncationSize 08 AllOrNone 0A Body 0B Data 0C EstimatedDataSize
0D Truncated 0E Attachments 0F Attachment 10 DisplayName 11 FileReference 12 Method
13 ContentId 14 ContentLocation 15 IsInline 16 NativeBodyType 17 ContentType 18 Preview
19 BodyPartPreference 1A BodyPart 1B Status 1C Add 1D Delete 1E ClientId 1F Content
20 Location 21 Annotation 22 Street 23 City 24 State 25 Country 26 PostalCode 27 Latitude
28 Longitude 29 Accuracy 2A Altitude 2B AltitudeAccuracy 2C LocationUri 2D InstanceId
"""

_SETTINGS = """
05 Settings 06 Status 07 Get 08 Set 09 Oof 0A OofState 0B StartTime 0C EndTime 0D OofMessage
0E AppliesToInternal 0F AppliesToExternalKnown 10 AppliesToExternalUnknown 11 Enabled
12 ReplyMessage 13 BodyType 14 DevicePassword 15 Password 16 DeviceInformation 17 Model
18 IMEI 19 FriendlyName 1A OS 1B OSLanguage 1C PhoneNumber 1D UserInformation
1E EmailAddresses 1F SMTPAddress 20 UserAgent 21 EnableOutboundSMS 22 MobileOperator
23 PrimarySmtpAddress 24 Accounts 25 Account 26 AccountId 27 AccountName 28 UserDisplayName
29 SendDisabled 2B RightsManagementInformation
"""

_ITEMOPERATIONS = """
05 ItemOperations 06 Fetch 07 Store 08 Options 09 Range 0A Total 0B Properties 0C Data
0D Status 0E Response 0F Version 10 Schema 11 Part 12 EmptyFolderContents 13 DeleteSubFolders
14 UserName 15 Password 16 Move 17 DstFldId 18 ConversationId 19 MoveAlways
"""


def _table(spec):
    words = spec.split()
    out = {}
    for i in range(0, len(words), 2):
        tok = int(words[i], 16)
        assert 0x05 <= tok <= 0x3F and tok not in out, words[i]
        out[tok] = words[i + 1]
    assert len(set(out.values())) == len(out), "duplicate tag name"
    return out


PAGES = {
    0: ("AirSync", _table(_AIRSYNC)),
    4: ("Calendar", _table(_CALENDAR)),
    6: ("GetItemEstimate", _table(_GETITEMESTIMATE)),
    7: ("FolderHierarchy", _table(_FOLDERHIERARCHY)),
    8: ("MeetingResponse", _table(_MEETINGRESPONSE)),
    10: ("ResolveRecipients", _table(_RESOLVERECIPIENTS)),
    13: ("Ping", _table(_PING)),
    14: ("Provision", _table(_PROVISION)),
    17: ("AirSyncBase", _table(_AIRSYNCBASE)),
    18: ("Settings", _table(_SETTINGS)),
    20: ("ItemOperations", _table(_ITEMOPERATIONS)),
}

# Pages that exist in EAS but that this client never speaks (§2.2): a document using them
# is an error here, reported by name.
OTHER_PAGES = {
    1: "Contacts", 2: "Email", 3: "AirNotify", 5: "Move", 9: "Tasks",
    11: "ValidateCert", 12: "Contacts2", 15: "Search", 16: "GAL",
    19: "DocumentLibrary", 21: "ComposeMail", 22: "Email2", 23: "Notes",
    24: "RightsManagement", 25: "Find",
}

NS_PAGE = {ns: page for page, (ns, _) in PAGES.items()}
# (namespace, tag) -> (page, token); older names decode to the current one
TOKENS = {(ns, name): (page, tok) for page, (ns, tags) in PAGES.items()
          for tok, name in tags.items()}
TOKENS[("Provision", "DeviceEncryptionEnabled")] = (14, 0x10)

# the prefixes of the brief's examples (§0)
PREFIXES = {"A": "AirSync", "C": "Calendar", "B": "AirSyncBase", "F": "FolderHierarchy",
            "P": "Provision", "S": "Settings", "G": "GetItemEstimate", "I": "ItemOperations",
            "N": "Ping", "M": "MeetingResponse", "R": "ResolveRecipients"}

# WBXML global tokens (§2.1)
SWITCH_PAGE, END, ENTITY, STR_I, LITERAL = 0x00, 0x01, 0x02, 0x03, 0x04
EXT_I = (0x40, 0x41, 0x42)
PI, LITERAL_C = 0x43, 0x44
EXT_T = (0x80, 0x81, 0x82)
STR_T, LITERAL_A = 0x83, 0x84
EXT = (0xC0, 0xC1, 0xC2)
OPAQUE, LITERAL_AC = 0xC3, 0xC4
_GLOBAL_NAMES = {ENTITY: "ENTITY", LITERAL: "LITERAL", PI: "PI", LITERAL_C: "LITERAL_C",
                 STR_T: "STR_T", LITERAL_A: "LITERAL_A", LITERAL_AC: "LITERAL_AC"}
for _b in EXT_I + EXT_T + EXT:
    _GLOBAL_NAMES[_b] = "EXT_0x%02X" % _b

HEADER = b"\x03\x01\x6a\x00"  # WBXML 1.3, public id 1 (unknown), UTF-8, no string table
MAX_DEPTH = 64


class WBXMLError(ValueError):
    """A byte string that is not an EAS WBXML document (with the offset where it failed)."""


# --------------------------------------------------------------------------------------------
# Element tree


class Node:
    """One element: namespace (an EAS page name), local name, and either children or text.
    text is str (STR_I), bytes (OPAQUE present) or None (no content)."""

    __slots__ = ("ns", "name", "children", "text")

    def __init__(self, ns, name, children=None, text=None):
        self.ns = ns
        self.name = name
        self.children = list(children or [])
        self.text = text

    # queries -------------------------------------------------------------------------

    @staticmethod
    def _match(node, step):
        if ":" in step:
            prefix, name = step.split(":", 1)
            return node.name == name and node.ns == PREFIXES.get(prefix, prefix)
        return node.name == step

    def findall(self, path):
        """Elements matching a '/'-separated path of names below this one. A step may carry a
        prefix ('C:Subject' or 'Calendar:Subject'); a bare step matches any namespace."""
        nodes = [self]
        for step in path.split("/"):
            nodes = [c for n in nodes for c in n.children if Node._match(c, step)]
        return nodes

    def find(self, path):
        found = self.findall(path)
        return found[0] if found else None

    def findtext(self, path, default=None):
        n = self.find(path)
        if n is None:
            return default
        if isinstance(n.text, bytes):
            return n.text.decode("utf-8")
        return n.text if n.text is not None else ""

    def has(self, path):
        return self.find(path) is not None

    # comparison and display ----------------------------------------------------------

    def key(self):
        return (self.ns, self.name, self.text, tuple(c.key() for c in self.children))

    def __eq__(self, other):
        return isinstance(other, Node) and self.key() == other.key()

    def __hash__(self):
        return hash(self.key())

    def xml(self, parent_ns=None):
        """Readable XML (spec names, default-namespace declarations where the page changes)."""
        decl = ' xmlns="%s"' % self.ns if self.ns != parent_ns else ""
        if self.children:
            inner = "".join(c.xml(self.ns) for c in self.children)
        elif self.text is None:
            return "<%s%s/>" % (self.name, decl)
        elif isinstance(self.text, bytes):
            inner = "[opaque %d bytes: %s]" % (len(self.text), self.text[:40].hex())
        else:
            inner = _xml_escape(self.text)
        return "<%s%s>%s</%s>" % (self.name, decl, inner, self.name)

    def __repr__(self):
        s = self.xml()
        return s if len(s) < 2000 else s[:2000] + "..."


def _xml_escape(s):
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _adopt(node, ns):
    if node.ns is None:
        node.ns = ns
        for c in node.children:
            _adopt(c, ns)


def E(qname, *content):
    """Builds an element: E("A:Sync", E("Collections", ...)). An unprefixed name takes its
    parent's namespace; str or bytes arguments are the text; None arguments are dropped (so
    optional children can be written inline); lists are flattened."""
    ns, name = None, qname
    if ":" in qname:
        prefix, name = qname.split(":", 1)
        ns = PREFIXES.get(prefix, prefix)
    node = Node(ns, name)
    todo = list(content)
    while todo:
        c = todo.pop(0)
        if c is None:
            continue
        if isinstance(c, (list, tuple)):
            todo[0:0] = list(c)
        elif isinstance(c, Node):
            node.children.append(c)
        elif isinstance(c, (str, bytes)):
            node.text = c if node.text is None else node.text + c
        elif isinstance(c, int):
            node.text = str(c)
        else:
            raise TypeError("cannot put %r in an element" % (c,))
    if node.children and node.text is not None:
        raise ValueError("EAS elements hold children or text, not both: " + qname)
    if ns is not None:
        for c in node.children:
            _adopt(c, ns)
    return node


def from_xml(text):
    """Readable XML with the spec's namespace names (xmlns:A="AirSync" ...) -> Node.
    Whitespace between elements is layout; the text of a leaf is kept exactly."""
    root = ET.fromstring(text)

    def walk(el):
        m = re.match(r"\{([^}]*)\}(.*)", el.tag)
        if not m or m.group(1) not in NS_PAGE:
            raise ValueError("element %s is not in an EAS namespace" % el.tag)
        kids = list(el)
        if kids:
            if (el.text or "").strip() or any((k.tail or "").strip() for k in kids):
                raise ValueError("mixed content in %s" % el.tag)
            return Node(m.group(1), m.group(2), [walk(k) for k in kids])
        return Node(m.group(1), m.group(2), text=el.text)

    return walk(root)


# --------------------------------------------------------------------------------------------
# WBXML codec


def mb_u_int32(n):
    """WBXML multi-byte unsigned integer: 7-bit groups, big-endian, high bit = more."""
    if not 0 <= n <= 0xFFFFFFFF:
        raise ValueError("mb_u_int32 out of range: %r" % n)
    out = [n & 0x7F]
    n >>= 7
    while n:
        out.append(0x80 | (n & 0x7F))
        n >>= 7
    return bytes(reversed(out))


def encode(root, header=HEADER):
    """Node -> WBXML bytes. The code page is one piece of state across the document; a
    SWITCH_PAGE is written only when the next tag's page differs (§2.1 rule 1)."""
    out = bytearray(header)
    state = {"page": 0}

    def emit(node, depth):
        if depth > MAX_DEPTH:
            raise ValueError("too deep")
        try:
            page, tok = TOKENS[(node.ns, node.name)]
        except KeyError:
            raise ValueError("no token for %s:%s" % (node.ns, node.name)) from None
        if page != state["page"]:
            out.extend((SWITCH_PAGE, page))
            state["page"] = page
        has_content = bool(node.children) or bool(node.text)
        out.append(tok | (0x40 if has_content else 0))
        if not has_content:
            return
        if node.children:
            for c in node.children:
                emit(c, depth + 1)
        elif isinstance(node.text, bytes):
            out.append(OPAQUE)
            out.extend(mb_u_int32(len(node.text)))
            out.extend(node.text)
        else:
            data = node.text.encode("utf-8")
            if b"\x00" in data:
                raise ValueError("NUL cannot travel in STR_I; use bytes (OPAQUE)")
            out.append(STR_I)
            out.extend(data)
            out.append(0)
        out.append(END)

    emit(root, 0)
    return bytes(out)


class _Reader:
    def __init__(self, data):
        self.data = data
        self.pos = 0

    def fail(self, msg):
        raise WBXMLError("%s at offset %d" % (msg, self.pos))

    def byte(self, what):
        if self.pos >= len(self.data):
            self.fail("truncated: expected %s" % what)
        b = self.data[self.pos]
        self.pos += 1
        return b

    def mb(self, what):
        n = 0
        for i in range(5):
            b = self.byte(what)
            if i == 0 and b == 0x80:
                self.fail("mb_u_int32 with a leading zero group")
            n = (n << 7) | (b & 0x7F)
            if not b & 0x80:
                if n > 0xFFFFFFFF:
                    self.fail("mb_u_int32 over 32 bits")
                return n
        self.fail("mb_u_int32 longer than 5 bytes")


def decode(data, allow_opaque=True):
    """WBXML bytes -> root Node. Strict: rejects string tables, attributes, entities,
    extensions, PIs, literals, unknown pages and tokens, mixed content, truncation and
    trailing bytes."""
    r = _Reader(bytes(data))
    version = r.byte("version")
    if version not in (0x01, 0x02, 0x03):
        r.fail("WBXML version 0x%02X" % version)
    pubid = r.mb("public id")
    if pubid == 0:
        r.fail("public id as a string-table reference")
    if pubid != 1:
        r.fail("public id %d (EAS uses 1)" % pubid)
    charset = r.mb("charset")
    if charset != 106:
        r.fail("charset %d (EAS uses 106, UTF-8)" % charset)
    if r.mb("string table length") != 0:
        r.fail("string table present")
    page = 0
    stack = []  # open Nodes
    root = None
    while True:
        if root is not None and not stack:
            break
        b = r.byte("a tag or END" if stack else "the root element")
        if b == SWITCH_PAGE:
            page = r.byte("code page")
            if page not in PAGES:
                r.fail("code page %d (%s) is not one EAS calendar sync uses"
                       % (page, OTHER_PAGES.get(page, "unknown")))
            continue
        if b == END:
            if not stack:
                r.fail("END with no open element")
            n = stack.pop()
            if isinstance(n.text, list):
                pieces = n.text
                if any(isinstance(p, bytes) for p in pieces):
                    n.text = b"".join(p if isinstance(p, bytes) else p.encode() for p in pieces)
                else:
                    n.text = "".join(pieces)
            elif n.text is None and not n.children:
                n.text = ""  # content flag with nothing inside
            continue
        if b == STR_I or b == OPAQUE:
            if not stack:
                r.fail("text outside the root element")
            n = stack[-1]
            if n.children:
                r.fail("text after child elements (mixed content)")
            if b == STR_I:
                end = r.data.find(b"\x00", r.pos)
                if end < 0:
                    r.pos = len(r.data)
                    r.fail("truncated: STR_I without its terminating NUL")
                try:
                    piece = r.data[r.pos:end].decode("utf-8")
                except UnicodeDecodeError:
                    r.fail("STR_I is not UTF-8")
                r.pos = end + 1
            else:
                if not allow_opaque:
                    r.fail("OPAQUE where only STR_I is expected")
                length = r.mb("OPAQUE length")
                if r.pos + length > len(r.data):
                    r.pos = len(r.data)
                    r.fail("truncated: OPAQUE of %d bytes" % length)
                piece = r.data[r.pos:r.pos + length]
                r.pos += length
            if n.text is None:
                n.text = []
            n.text.append(piece)
            continue
        if b in _GLOBAL_NAMES:
            r.pos -= 1
            r.fail("global token %s, which EAS does not use" % _GLOBAL_NAMES[b])
        if b & 0x80:
            r.pos -= 1
            r.fail("tag 0x%02X with attributes" % b)
        tok = b & 0x3F
        ns, tags = PAGES[page]
        if tok not in tags:
            r.pos -= 1
            r.fail("unknown token 0x%02X on page %d (%s)" % (tok, page, ns))
        node = Node(ns, tags[tok])
        if stack:
            parent = stack[-1]
            if parent.text is not None:
                r.fail("child element after text (mixed content)")
            parent.children.append(node)
        elif root is None:
            root = node
        if b & 0x40:
            if len(stack) >= MAX_DEPTH:
                r.fail("nesting deeper than %d" % MAX_DEPTH)
            stack.append(node)
        elif root is node:
            break  # a root without content
    if r.pos != len(r.data):
        r.fail("%d bytes after the root element" % (len(r.data) - r.pos))
    return root


# --------------------------------------------------------------------------------------------
# libwbxml bridge (brief §6.3): Debian's xml2wbxml / wbxml2xml as an independent oracle

# spec name -> libwbxml name, per namespace (§6.3 findings 2 and 10)
LIBWBXML_NAMES = {
    "Calendar": {
        "Timezone": "TimeZone", "Email": "Attendee_Email", "Name": "Attendee_Name",
        "AttendeeStatus": "Attendee_Status", "AttendeeType": "Attendee_Type",
        "DtStamp": "DTStamp", "Deleted": "Exception_Deleted",
        "ExceptionStartTime": "Exception_StartTime", "OrganizerEmail": "Organizer_Email",
        "OrganizerName": "Organizer_Name", "Type": "Recurrence_Type",
        "Until": "Recurrence_Until", "Occurrences": "Recurrence_Occurrences",
        "Interval": "Recurrence_Interval", "DayOfWeek": "Recurrence_DayOfWeek",
        "DayOfMonth": "Recurrence_DayOfMonth", "WeekOfMonth": "Recurrence_WeekOfMonth",
        "MonthOfYear": "Recurrence_MonthOfYear", "Rtf": "Compressed_RTF",
    },
    "Settings": {"SMTPAddress": "SmtpAddress",
                 "RightsManagementInformation": "ihsManagementInformation"},
    "Provision": {"RequireStorageCardEncryption": "DeviceEncryptionEnabled"},
}
LIBWBXML_BACK = {ns: {v: k for k, v in m.items()} for ns, m in LIBWBXML_NAMES.items()}
# tags libwbxml 0.11.8 does not know (§6.3 finding 10)
LIBWBXML_MISSING = {("Provision", "AccountOnlyRemoteWipe"),
                    ("MeetingResponse", "ProposedStartTime"),
                    ("MeetingResponse", "ProposedEndTime")}
# elements libwbxml treats as binary on our pages: OPAQUE <-> base64 text (§6.3 finding 9)
LIBWBXML_BINARY = {("AirSyncBase", "Content"), ("ItemOperations", "ConversationId"),
                   ("ResolveRecipients", "Data")}
DOCTYPE = ('<!DOCTYPE ActiveSync PUBLIC "-//MICROSOFT//DTD ActiveSync//EN" '
           '"http://www.microsoft.com/">')


def to_libwbxml_xml(root):
    """The tree as XML that xml2wbxml reads: DOCTYPE, 'Page:' namespaces, libwbxml names."""

    def walk(n, parent_ns):
        if (n.ns, n.name) in LIBWBXML_MISSING:
            raise ValueError("libwbxml 0.11.8 has no %s:%s" % (n.ns, n.name))
        name = LIBWBXML_NAMES.get(n.ns, {}).get(n.name, n.name)
        decl = ' xmlns="%s:"' % n.ns if n.ns != parent_ns else ""
        if n.children:
            return "<%s%s>%s</%s>" % (name, decl, "".join(walk(c, n.ns) for c in n.children),
                                      name)
        if not n.text:
            return "<%s%s/>" % (name, decl)
        if (n.ns, n.name) in LIBWBXML_BINARY:
            raw = n.text if isinstance(n.text, bytes) else n.text.encode("utf-8")
            return "<%s%s>%s</%s>" % (name, decl, base64.b64encode(raw).decode(), name)
        if isinstance(n.text, bytes):
            raise ValueError("OPAQUE content cannot go through libwbxml's XML (§6.3 #9)")
        return "<%s%s>%s</%s>" % (name, decl, _xml_escape(n.text), name)

    return '<?xml version="1.0" encoding="UTF-8"?>\n%s\n%s\n' % (DOCTYPE, walk(root, None))


def from_libwbxml_xml(text):
    """wbxml2xml output -> Node with spec names."""
    # expat cannot fetch the DTD and does not need to; it only reads the DOCTYPE line
    root = ET.fromstring(text.encode("utf-8") if isinstance(text, str) else text)

    def walk(el):
        m = re.match(r"\{([^}]*)\}(.*)", el.tag)
        if not m:
            raise ValueError("element without a namespace in libwbxml output: %s" % el.tag)
        ns = m.group(1).rstrip(":")
        name = LIBWBXML_BACK.get(ns, {}).get(m.group(2), m.group(2))
        kids = list(el)
        if kids:
            if el.text and el.text.strip():
                raise ValueError("mixed content in libwbxml output")
            return Node(ns, name, [walk(k) for k in kids])
        if (ns, name) in LIBWBXML_BINARY and el.text:
            return Node(ns, name, text=base64.b64decode(el.text))
        return Node(ns, name, text=el.text if el.text else None)

    return walk(root)


def _normalise_empty(n):
    """'' and None are the same on the wire (an element without content)."""
    return Node(n.ns, n.name, [_normalise_empty(c) for c in n.children], n.text or None)


def same_tree(a, b):
    return _normalise_empty(a) == _normalise_empty(b)


def _run(args, data):
    with tempfile.TemporaryDirectory(prefix="eas-oracle-") as d:
        src = os.path.join(d, "in")
        dst = os.path.join(d, "out")
        with open(src, "wb") as f:
            f.write(data)
        r = subprocess.run(args + ["-o", dst, src], capture_output=True)
        if r.returncode != 0 or not os.path.exists(dst):
            raise WBXMLError("%s failed (%d): %s" % (args[0], r.returncode,
                                                     (r.stdout + r.stderr).decode("utf-8",
                                                                                  "replace")))
        with open(dst, "rb") as f:
            return f.read()


def libwbxml_encode(root):
    """Node -> bytes through `xml2wbxml -a -n -v 1.3 -k` (§6.3 finding 1, 7)."""
    return _run(["xml2wbxml", "-a", "-n", "-v", "1.3", "-k"],
                to_libwbxml_xml(root).encode("utf-8"))


def libwbxml_decode_xml(data):
    """bytes -> XML text through `wbxml2xml -l ACTIVESYNC -k -m 0` (§6.3 findings 6, 7)."""
    out = _run(["wbxml2xml", "-l", "ACTIVESYNC", "-k", "-m", "0"], data).decode("utf-8")
    if "<unknown" in out:  # finding 8: unknown tokens decode silently
        raise WBXMLError("libwbxml decoded an unknown token: " + out[:500])
    return out


def libwbxml_decode(data):
    return from_libwbxml_xml(libwbxml_decode_xml(data))


def has_opaque(n):
    """OPAQUE content libwbxml would write raw into its XML (not a binary element)."""
    return ((isinstance(n.text, bytes) and (n.ns, n.name) not in LIBWBXML_BINARY)
            or any(has_opaque(c) for c in n.children))


# --------------------------------------------------------------------------------------------
# Request line (brief §1.1, §1.2)

VERSION_CODES = {"12.1": 121, "14.0": 140, "14.1": 141, "16.0": 160, "16.1": 161}
COMMAND_CODES = {
    "Sync": 0, "SendMail": 1, "SmartForward": 2, "SmartReply": 3, "GetAttachment": 4,
    "FolderSync": 9, "FolderCreate": 10, "FolderDelete": 11, "FolderUpdate": 12,
    "MoveItems": 13, "GetItemEstimate": 14, "MeetingResponse": 15, "Search": 16,
    "Settings": 17, "Ping": 18, "ItemOperations": 19, "Provision": 20,
    "ResolveRecipients": 21, "ValidateCert": 22, "Find": 23,
}
PARAM_TAGS = {"AttachmentName": 0, "CollectionId": 1, "ItemId": 3, "LongId": 4, "ParentId": 5,
              "Occurrence": 6, "Options": 7, "User": 8}
ENDPOINT = "/Microsoft-Server-ActiveSync"


def plain_query(cmd, user, device_id, device_type, **params):
    q = [("Cmd", cmd), ("User", user), ("DeviceId", device_id), ("DeviceType", device_type)]
    q += sorted(params.items())
    return "?" + urllib.parse.urlencode(q, quote_via=urllib.parse.quote)


def base64_query_bytes(cmd, device_id, device_type, version="14.1", policy_key=None,
                       locale=0x0409, **params):
    """The packed request line of §1.2 (before base64)."""
    dev = device_id.encode("ascii") if isinstance(device_id, str) else bytes(device_id)
    typ = device_type.encode("ascii")
    out = bytearray((VERSION_CODES[version], COMMAND_CODES[cmd]))
    out += struct.pack("<H", locale)
    out.append(len(dev))
    out += dev
    if policy_key is None:
        out.append(0)
    else:
        out.append(4)
        out += struct.pack("<I", int(policy_key))
    out.append(len(typ))
    out += typ
    for name, value in params.items():
        v = value.encode("utf-8") if isinstance(value, str) else bytes(value)
        out += bytes((PARAM_TAGS[name], len(v))) + v
    return bytes(out)


def parse_base64_query(raw):
    """Inverse of base64_query_bytes, for the codec self-tests."""
    d = raw
    version, cmd = d[0], d[1]
    locale = struct.unpack("<H", d[2:4])[0]
    n = d[4]
    dev = d[5:5 + n]
    p = d[5 + n]
    key = struct.unpack("<I", d[6 + n:6 + n + p])[0] if p == 4 else None
    t = d[6 + n + p]
    typ = d[7 + n + p:7 + n + p + t]
    pos = 7 + n + p + t
    params = {}
    names = {v: k for k, v in PARAM_TAGS.items()}
    while pos < len(d):
        tag, ln = d[pos], d[pos + 1]
        params[names.get(tag, tag)] = d[pos + 2:pos + 2 + ln]
        pos += 2 + ln
    cmds = {v: k for k, v in COMMAND_CODES.items()}
    return {"version": version, "cmd": cmds.get(cmd, cmd), "locale": locale,
            "device_id": dev, "policy_key": key, "device_type": typ, "params": params}


def base64_query(*args, **kwargs):
    raw = base64_query_bytes(*args, **kwargs)
    # base64 carries '+', '/' and '='; percent-encode them for the request target
    return "?" + urllib.parse.quote(base64.b64encode(raw).decode("ascii"), safe="")


# --------------------------------------------------------------------------------------------
# Values: Compact DateTime (§4.1) and the Timezone blob (§4.3)

UTC = datetime.timezone.utc


def compact(dt):
    """datetime (aware, or naive = UTC) -> YYYYMMDDTHHMMSSZ."""
    if dt.tzinfo is not None:
        dt = dt.astimezone(UTC)
    return dt.strftime("%Y%m%dT%H%M%SZ")


def parse_compact(s):
    """Compact DateTime or the dateTime form (YYYY-MM-DDTHH:MM:SS.sssZ) -> aware UTC."""
    m = re.fullmatch(r"(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z", s or "")
    if not m:
        m = re.fullmatch(r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.\d{1,3})?Z", s or "")
    if not m:
        raise ValueError("not a Compact DateTime: %r" % (s,))
    return datetime.datetime(*map(int, m.groups()), tzinfo=UTC)


def systemtime(year=0, month=0, dow=0, day=0, hour=0, minute=0, second=0, ms=0):
    return struct.pack("<8H", year, month, dow, day, hour, minute, second, ms)


def tz_blob(bias, std_name="", std_date=None, std_bias=0, dst_name="", dst_date=None,
            dst_bias=0):
    """TIME_ZONE_INFORMATION (172 bytes, little-endian), base64 with padding."""

    def name(s):
        raw = s.encode("utf-16-le")
        if len(raw) > 64:
            raise ValueError("zone name longer than 32 UTF-16 units")
        return raw + b"\x00" * (64 - len(raw))

    blob = (struct.pack("<i", bias) + name(std_name) + (std_date or systemtime()) +
            struct.pack("<i", std_bias) + name(dst_name) + (dst_date or systemtime()) +
            struct.pack("<i", dst_bias))
    assert len(blob) == 172
    return base64.b64encode(blob).decode("ascii")


def parse_tz_blob(b64):
    raw = base64.b64decode(b64, validate=True)
    if len(raw) != 172:
        raise ValueError("Timezone blob of %d bytes, not 172" % len(raw))

    def name(b):
        return b.decode("utf-16-le").split("\x00", 1)[0]

    def st(b):
        f = struct.unpack("<8H", b)
        return dict(zip(("year", "month", "dow", "day", "hour", "minute", "second", "ms"), f))

    return {"bias": struct.unpack("<i", raw[0:4])[0], "std_name": name(raw[4:68]),
            "std_date": st(raw[68:84]), "std_bias": struct.unpack("<i", raw[84:88])[0],
            "dst_name": name(raw[88:152]), "dst_date": st(raw[152:168]),
            "dst_bias": struct.unpack("<i", raw[168:172])[0]}


TZ_UTC = tz_blob(0)
TZ_BERLIN = tz_blob(-60, "", systemtime(0, 10, 0, 5, 3), 0, "", systemtime(0, 3, 0, 5, 2), -60)
TZ_NEW_YORK = tz_blob(300, "", systemtime(0, 11, 0, 1, 2), 0, "", systemtime(0, 3, 0, 2, 2), -60)


def _rule_day(year, rule):
    """The date an annual SYSTEMTIME rule names in a year (wDay = n-th weekday, 5 = last)."""
    month, dow, n = rule["month"], rule["dow"], rule["day"]
    first = datetime.date(year, month, 1)
    # Python weekday: Monday 0; SYSTEMTIME: Sunday 0
    delta = (dow - (first.weekday() + 1) % 7) % 7
    day = first + datetime.timedelta(days=delta + 7 * (n - 1))
    while day.month != month:
        day -= datetime.timedelta(days=7)
    return day


def blob_utc_to_local(utc_dt, blob):
    """Local wall-clock time (naive) of a UTC instant in the zone a Timezone blob describes.
    UTC = local + Bias (+ DaylightBias in daylight time)."""
    tz = parse_tz_blob(blob) if isinstance(blob, str) else blob
    utc_dt = utc_dt.astimezone(UTC).replace(tzinfo=None)
    std = utc_dt - datetime.timedelta(minutes=tz["bias"] + tz["std_bias"])
    if tz["dst_date"]["month"] == 0 or tz["std_date"]["month"] == 0:
        return std
    if tz["dst_date"]["year"] or tz["std_date"]["year"]:
        raise ValueError("absolute-date Timezone rules are not supported by the test client")
    year = std.year
    d, s = tz["dst_date"], tz["std_date"]
    # transitions as UTC instants: DaylightDate is in standard local time, StandardDate in
    # daylight local time
    dst_start = (datetime.datetime.combine(_rule_day(year, d), datetime.time(d["hour"],
                                                                            d["minute"]))
                 + datetime.timedelta(minutes=tz["bias"] + tz["std_bias"]))
    dst_end = (datetime.datetime.combine(_rule_day(year, s), datetime.time(s["hour"],
                                                                          s["minute"]))
               + datetime.timedelta(minutes=tz["bias"] + tz["dst_bias"]))
    if dst_start < dst_end:
        in_dst = dst_start <= utc_dt < dst_end
    else:  # southern hemisphere
        in_dst = not (dst_end <= utc_dt < dst_start)
    if in_dst:
        return utc_dt - datetime.timedelta(minutes=tz["bias"] + tz["dst_bias"])
    return std


# --------------------------------------------------------------------------------------------
# Calendar ApplicationData helpers (§4.2)


def calendar_fields(appdata):
    """ApplicationData/Properties -> dict. Simple elements by name (Calendar page first,
    AirSyncBase for Body); Recurrence as a dict; Exceptions as a list of dicts; Attendees as a
    list of dicts; Body as a dict; Categories as a list."""
    out = {}
    for c in appdata.children:
        if c.name == "Recurrence":
            out["Recurrence"] = {g.name: g.text for g in c.children}
        elif c.name == "Exceptions":
            out["Exceptions"] = [calendar_fields(x) for x in c.children]
        elif c.name == "Attendees":
            out["Attendees"] = [{g.name: g.text for g in a.children} for a in c.children]
        elif c.name == "Categories":
            out["Categories"] = [g.text for g in c.children]
        elif c.name == "Body" and c.ns == "AirSyncBase":
            out["Body"] = {g.name: (g.text or "") for g in c.children}
        elif c.children:
            out[c.name] = c
        else:
            out[c.name] = c.text if not isinstance(c.text, bytes) else c.text.decode()
    return out


def calendar_appdata(subject, start, end, uid=None, tz=TZ_UTC, all_day=False, location=None,
                     body=None, reminder=None, recurrence=None, busy=2, qname="A:ApplicationData"):
    """A client-side calendar ApplicationData (≤14.1 vocabulary)."""
    return E(qname,
             E("C:Timezone", tz),
             E("C:AllDayEvent", "1" if all_day else "0"),
             E("C:StartTime", compact(start)),
             E("C:EndTime", compact(end)),
             E("C:Subject", subject),
             E("C:UID", uid) if uid else None,
             E("C:Sensitivity", "0"),
             E("C:BusyStatus", str(busy)),
             E("C:Location", location) if location is not None else None,
             E("C:Reminder", str(reminder)) if reminder is not None else None,
             E("C:MeetingStatus", "0"),
             recurrence,
             E("B:Body", E("B:Type", "1"), E("B:Data", body)) if body is not None else None)


# --------------------------------------------------------------------------------------------
# The client


class ProtocolError(AssertionError):
    pass


class Response:
    def __init__(self, status, headers, body, doc):
        self.status = status
        self.headers = headers
        self.body = body
        self.doc = doc  # decoded root Node, or None for an empty body

    def header(self, name):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return None

    def __repr__(self):
        return "<EAS %d %s>" % (self.status, self.doc if self.doc is not None
                                 else self.body[:200])


class SyncCollection:
    """One Collection of a Sync response."""

    def __init__(self, node):
        self.node = node
        self.sync_key = node.findtext("SyncKey")
        self.collection_id = node.findtext("CollectionId")
        st = node.findtext("Status")
        self.status = int(st) if st is not None else None
        self.more_available = node.has("MoreAvailable")
        self.adds, self.changes, self.deletes, self.soft_deletes = [], [], [], []
        self.commands = []  # (kind, ServerId, ApplicationData or None) in order
        cmds = node.find("Commands")
        if cmds is not None:
            for c in cmds.children:
                sid = c.findtext("ServerId")
                data = c.find("ApplicationData")
                self.commands.append((c.name, sid, data))
                if c.name == "Add":
                    self.adds.append((sid, data))
                elif c.name == "Change":
                    self.changes.append((sid, data))
                elif c.name == "Delete":
                    self.deletes.append(sid)
                elif c.name == "SoftDelete":
                    self.soft_deletes.append(sid)
                else:
                    raise ProtocolError("server sent a <%s> command" % c.name)
        self.has_commands = cmds is not None
        self.responses = []  # dicts: kind, ClientId, ServerId, Status, node
        resp = node.find("Responses")
        if resp is not None:
            for c in resp.children:
                st = c.findtext("Status")
                self.responses.append({"kind": c.name, "ClientId": c.findtext("ClientId"),
                                       "ServerId": c.findtext("ServerId"),
                                       "Status": int(st) if st is not None else None,
                                       "node": c})


class SyncResult:
    def __init__(self, resp):
        self.resp = resp
        self.http_status = resp.status
        self.empty = resp.doc is None
        self.status = None
        self.limit = None
        self.collections = {}
        if resp.doc is not None:
            if resp.doc.name != "Sync":
                raise ProtocolError("Sync answered with <%s>" % resp.doc.name)
            st = resp.doc.findtext("Status")
            self.status = int(st) if st is not None else None
            self.limit = resp.doc.findtext("Limit")
            for c in resp.doc.findall("Collections/Collection"):
                sc = SyncCollection(c)
                self.collections[sc.collection_id] = sc

    def only(self):
        if len(self.collections) != 1:
            raise ProtocolError("expected one collection in %r" % self.resp)
        return next(iter(self.collections.values()))


class EASClient:
    """One device. form = 'plain' or 'base64' (the request-line form of §1.1 / §1.2)."""

    def __init__(self, host, port, user, password, device_id, device_type="TestPhone",
                 version="14.1", form="plain", oracle=False, timeout=120):
        self.host, self.port = host, port
        self.user, self.password = user, password
        self.device_id, self.device_type = device_id, device_type
        self.version = version
        self.form = form
        self.policy_key = None
        self.oracle = oracle  # decode every response with wbxml2xml too and compare
        self.timeout = timeout
        self.conn = None
        self.query_user = None  # the User= of the plain query, when not the authenticated one
        self.log = []  # (cmd, http status) of every request, for failure messages

    # transport -----------------------------------------------------------------------

    def auth_header(self, user=None, password=None):
        token = base64.b64encode(("%s:%s" % (user or self.user,
                                             password or self.password)).encode()).decode()
        return "Basic " + token

    def target(self, cmd, policy_key=None, **params):
        if self.form == "base64":
            return ENDPOINT + base64_query(cmd, self.device_id, self.device_type,
                                           self.version, policy_key, **params)
        return ENDPOINT + plain_query(cmd, self.query_user or self.user, self.device_id,
                                      self.device_type, **params)

    def _send(self, method, target, body, headers, timeout):
        """One exchange. A kept-alive connection the server closed in the meantime is
        replaced once; a fresh connection that fails is an error (no blind POST replay)."""
        reuse = timeout == self.timeout
        while True:
            fresh = not (reuse and self.conn is not None)
            conn = (http.client.HTTPConnection(self.host, self.port, timeout=timeout)
                    if fresh else self.conn)
            self.conn = None
            try:
                conn.request(method, target, body=body, headers=headers)
                r = conn.getresponse()
                data = r.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError,
                    http.client.CannotSendRequest):
                conn.close()
                if fresh:
                    raise
                continue
            except BaseException:
                conn.close()
                raise
            if reuse and not r.will_close:
                self.conn = conn
            else:
                conn.close()
            return r.status, r.getheaders(), data

    def close(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def request(self, cmd, body=None, policy_key="current", headers=None, auth=True,
                password=None, timeout=None, raw=False, **params):
        """POSTs one command. body: a Node (encoded here), bytes (sent as they are) or None.
        policy_key: 'current' (the device's key), None (no key) or a value to send instead.
        Returns a Response; its doc is the decoded WBXML body (None when empty)."""
        key = self.policy_key if policy_key == "current" else policy_key
        h = {"User-Agent": "Almanac-TestPhone/1.0"}
        if auth:
            h["Authorization"] = self.auth_header(password=password)
        if self.form == "plain":
            h["MS-ASProtocolVersion"] = self.version
            if key is not None:
                h["X-MS-PolicyKey"] = str(key)
            target = self.target(cmd, **params)
        else:
            target = self.target(cmd, key, **params)
        data = encode(body) if isinstance(body, Node) else body
        if data is not None:
            h["Content-Type"] = "application/vnd.ms-sync.wbxml"
        h.update(headers or {})
        status, rh, rbody = self._send("POST", target, data, h, timeout or self.timeout)
        self.log.append((cmd, status))
        doc = None
        resp = Response(status, rh, rbody, None)
        if status == 200 and rbody and not raw:
            ctype = (resp.header("Content-Type") or "").split(";")[0].strip().lower()
            if ctype != "application/vnd.ms-sync.wbxml":
                raise ProtocolError("%s: 200 with Content-Type %r" % (cmd, ctype))
            try:
                doc = decode(rbody)
            except WBXMLError as e:
                raise ProtocolError("%s: the server's WBXML does not decode: %s\n%s"
                                    % (cmd, e, rbody[:300].hex())) from None
            if self.oracle and not has_opaque(doc):
                other = libwbxml_decode(rbody)
                if not same_tree(doc, other):
                    raise ProtocolError("%s: libwbxml reads the answer differently:\nours %r\n"
                                        "libwbxml %r" % (cmd, doc, other))
            if doc.name != cmd:
                raise ProtocolError("%s answered with root <%s>" % (cmd, doc.name))
        resp.doc = doc
        return resp

    def options(self, auth=True):
        h = {"User-Agent": "Almanac-TestPhone/1.0"}
        if auth:
            h["Authorization"] = self.auth_header()
        status, rh, body = self._send("OPTIONS", ENDPOINT, None, h, self.timeout)
        return Response(status, rh, body, None)

    # commands ------------------------------------------------------------------------

    def device_information(self, qname="S:DeviceInformation"):
        return E(qname, E("S:Set", E("S:Model", "AlmanacPhone1"),
                          E("S:FriendlyName", "Test phone " + self.device_id),
                          E("S:OS", "TestOS 1.0"), E("S:OSLanguage", "en-US"),
                          E("S:UserAgent", "Almanac-TestPhone/1.0")))

    def provision_request(self, key=None, status=None):
        return E("P:Provision",
                 self.device_information() if key is None and self.version >= "14.1" else None,
                 E("P:Policies", E("P:Policy", E("P:PolicyType", "MS-EAS-Provisioning-WBXML"),
                                   E("P:PolicyKey", str(key)) if key is not None else None,
                                   E("P:Status", str(status)) if status is not None else None)))

    def provision(self):
        """The two-step handshake of §3.1; sets policy_key. Returns (first, ack) Responses."""
        first = self.request("Provision", self.provision_request(), policy_key=None)
        if first.status != 200 or first.doc is None:
            raise ProtocolError("Provision: %r" % first)
        temp = first.doc.findtext("Policies/Policy/PolicyKey")
        if temp is None:
            raise ProtocolError("Provision: no temporary PolicyKey in %r" % first.doc)
        ack = self.request("Provision", self.provision_request(temp, 1), policy_key=temp)
        if ack.status != 200 or ack.doc is None:
            raise ProtocolError("Provision ack: %r" % ack)
        final = ack.doc.findtext("Policies/Policy/PolicyKey")
        if final is None:
            raise ProtocolError("Provision ack: no final PolicyKey in %r" % ack.doc)
        self.policy_key = final
        return first, ack

    def settings(self):
        return self.request("Settings", E("S:Settings", self.device_information()))

    def folder_sync(self, key="0", **kw):
        r = self.request("FolderSync", E("F:FolderSync", E("SyncKey", key)), **kw)
        return r

    @staticmethod
    def folders_of(resp):
        """FolderSync response -> list of dicts (ServerId, ParentId, DisplayName, Type)."""
        out = []
        for a in resp.doc.findall("Changes/Add"):
            out.append({c.name: c.text for c in a.children})
        return out

    def sync_request(self, collections, wait=None, heartbeat=None, window=None):
        """collections: list of dicts with key, id and optional get_changes, window, options,
        commands (list of Nodes), supported."""
        colls = []
        for c in collections:
            colls.append(E("Collection",
                           E("SyncKey", c["key"]),
                           E("CollectionId", c["id"]),
                           c.get("supported"),
                           (E("GetChanges") if c.get("get_changes") is True else
                            E("GetChanges", str(c["get_changes"]))
                            if c.get("get_changes") not in (None, False) else None),
                           E("WindowSize", str(c["window"])) if c.get("window") else None,
                           c.get("options"),
                           E("Commands", *c["commands"]) if c.get("commands") else None))
        return E("A:Sync", E("Collections", *colls),
                 E("Wait", str(wait)) if wait is not None else None,
                 E("HeartbeatInterval", str(heartbeat)) if heartbeat is not None else None,
                 E("WindowSize", str(window)) if window is not None else None)

    @staticmethod
    def calendar_options(filter_type=0, body_type=1, truncation=None):
        return E("A:Options", E("FilterType", str(filter_type)),
                 E("B:BodyPreference", E("B:Type", str(body_type)),
                   E("B:TruncationSize", str(truncation)) if truncation else None))

    def sync(self, coll_id, key, get_changes=None, window=None, commands=None, options=None,
             **kw):
        body = self.sync_request([{"key": key, "id": coll_id, "get_changes": get_changes,
                                   "window": window, "commands": commands,
                                   "options": options}])
        return SyncResult(self.request("Sync", body, **kw))

    def get_item_estimate(self, coll_id, key, filter_type=0):
        """12.1 names the class and the filter in the Collection; 14.0+ uses Options (§3.4)."""
        if self.version == "12.1":
            coll = E("Collection", E("Class", "Calendar"), E("A:SyncKey", key),
                     E("G:CollectionId", coll_id), E("A:FilterType", str(filter_type)))
        else:
            coll = E("Collection", E("A:SyncKey", key), E("G:CollectionId", coll_id),
                     E("A:Options", E("FilterType", str(filter_type))))
        return self.request("GetItemEstimate", E("G:GetItemEstimate", E("Collections", coll)))

    def ping(self, heartbeat, folders, timeout=None):
        body = E("N:Ping",
                 E("HeartbeatInterval", str(heartbeat)) if heartbeat is not None else None,
                 E("Folders", *[E("Folder", E("Id", fid), E("Class", cls))
                                for fid, cls in folders]) if folders else None)
        return self.request("Ping", body, timeout=timeout)

    def meeting_response(self, requests):
        """MeetingResponse (MS-ASCMD 2.2.1.11). requests: list of dicts with response (1
        accept, 2 tentative, 3 decline), collection, request and optional instance.
        Returns (Response, [dict of each Result's children])."""
        body = E("M:MeetingResponse", *[
            E("Request", E("UserResponse", str(r["response"])),
              E("CollectionId", r["collection"]), E("RequestId", r["request"]),
              E("InstanceId", r["instance"]) if r.get("instance") else None)
            for r in requests])
        resp = self.request("MeetingResponse", body)
        results = []
        if resp.doc is not None:
            results = [{g.name: g.text for g in x.children} for x in resp.doc.findall("Result")]
        return resp, results

    def fetch(self, coll_id, server_id, body_type=1):
        body = E("I:ItemOperations", E("Fetch", E("Store", "Mailbox"),
                                       E("A:CollectionId", coll_id), E("A:ServerId", server_id),
                                       E("I:Options", E("B:BodyPreference",
                                                        E("B:Type", str(body_type))))))
        return self.request("ItemOperations", body)
