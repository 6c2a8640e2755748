/* util/compiler.h: attribute macros shared by every layer. */
#ifndef ALMANAC_UTIL_COMPILER_H
#define ALMANAC_UTIL_COMPILER_H

#define ALM_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
#define ALM_NODISCARD         __attribute__((warn_unused_result))
#define ALM_UNUSED            __attribute__((unused))
#define ALM_ARRAY_LEN(a)      (sizeof(a) / sizeof((a)[0]))

#endif
