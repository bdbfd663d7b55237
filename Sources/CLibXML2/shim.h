#ifndef CAMGW_CLIBXML2_SHIM_H
#define CAMGW_CLIBXML2_SHIM_H
#include <libxml/xmlversion.h>
/* Debian's libxml2 is built with ICU, so encoding.h would pull in the system ICU headers; Foundation on Linux
   carries its own ICU (_FoundationICU) with a different UErrorCode, and a module that imports both fails to
   build. The gateway touches no field of libxml2's encoding handlers (only pointers to them pass through), so
   the ICU part of those declarations is left out here. */
#undef LIBXML_ICU_ENABLED
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#endif
