# ASan + UBSan for `make check` (STYLE.md §3.11); hardening flags for release builds.
if(ALMANAC_TSAN)
    # ThreadSanitizer for `make tsan`: the tests that run threads against each other (the
    # store's group commit and pool, the zone cache, Ping crowds, concurrent writers).
    add_compile_options(-O1 -g -fno-omit-frame-pointer -fsanitize=thread)
    add_link_options(-fsanitize=thread)
elseif(ALMANAC_SANITIZE)
    add_compile_options(-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined
                        -fno-sanitize-recover=all)
    add_link_options(-fsanitize=address,undefined)
else()
    if(NOT CMAKE_BUILD_TYPE)
        set(CMAKE_BUILD_TYPE RelWithDebInfo CACHE STRING "" FORCE)
    endif()
    add_compile_options(-D_FORTIFY_SOURCE=2 -fstack-protector-strong)
    add_link_options(-Wl,-z,relro,-z,now)
endif()
