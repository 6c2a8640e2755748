/* xml/xmlout.h: XML output helpers that append to a bounded struct buf. The multistatus
 * writers in dav produce one <D:response> at a time into a buf that the HTTP producer drains,
 * so nothing here holds more than one element's worth of output. Returns follow buf: 0, or -1
 * when the buf's limit would be passed. */
#ifndef ALMANAC_XML_XMLOUT_H
#define ALMANAC_XML_XMLOUT_H

#include "util/buf.h"
#include "util/compiler.h"
#include "util/slice.h"

/* Character data: & < > escaped, CR as &#13; (a literal CR would read back as LF, XML 1.0
 * §2.11); bytes that are not allowed in XML 1.0 (C0 controls other than TAB, LF, CR; invalid
 * UTF-8) are replaced by U+FFFD. */
int xmlout_text(struct buf *b, struct slice s) ALM_NODISCARD;

/* True when xmlout_text would copy s as it is (printable ASCII but & < >, TAB, LF): a
 * caller that writes many strings of one kind checks their common part once. */
bool xmlout_text_is_plain(struct slice s);

/* Attribute value (without quotes): & < > " escaped, TAB/LF/CR as character references. */
int xmlout_attr(struct buf *b, struct slice s) ALM_NODISCARD;

/* <qname> and </qname>; qname is written as given (the caller's prefix:name). */
int xmlout_open(struct buf *b, const char *qname) ALM_NODISCARD;
int xmlout_close(struct buf *b, const char *qname) ALM_NODISCARD;
/* <qname/> */
int xmlout_empty(struct buf *b, const char *qname) ALM_NODISCARD;
/* <qname>escaped text</qname> */
int xmlout_elem_text(struct buf *b, const char *qname, struct slice text) ALM_NODISCARD;

/* The XML declaration, `<?xml version="1.0" encoding="utf-8"?>` and a newline. */
int xmlout_decl(struct buf *b) ALM_NODISCARD;

#endif
