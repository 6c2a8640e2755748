# The warning list of STYLE.md §3.11 (after curl's picky warnings); errors when ALMANAC_WERROR.
set(ALMANAC_WARNINGS
    -Wall -Wextra -Wpedantic -Wshadow -Wstrict-prototypes -Wmissing-prototypes
    -Wold-style-definition -Wpointer-arith -Wcast-qual -Wwrite-strings -Wformat=2 -Wundef
    -Wvla -Wimplicit-fallthrough -Wmissing-declarations -Wredundant-decls)
add_compile_options(${ALMANAC_WARNINGS})
if(ALMANAC_WERROR)
    set(CMAKE_COMPILE_WARNING_AS_ERROR ON)
endif()
