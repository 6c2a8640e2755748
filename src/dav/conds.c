/* dav/conds.c: the definitions of the dav layer's conditions (conds.def, declared in
 * dav.h), apart from dav.c so that ifheader.c can raise one without depending on dav.c. */
#include "dav/dav.h"

#define ERR_COND(sym, name, ns, http, eas) ERR_COND_DEFINE(sym, name, ns, http, eas)
#include "dav/conds.def"
#undef ERR_COND
