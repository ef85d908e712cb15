# Finds llhttp as Debian's node-llhttp package ships it: C sources under
# /usr/share/llhttp and the header under /usr/share/include/llhttp. The sources
# are compiled into an object library, llhttp_objects (alias llhttp::llhttp),
# whose objects become part of libtornado-cpp.
find_path(LLHTTP_INCLUDE_DIR llhttp.h
  PATHS /usr/share/include/llhttp /usr/include/llhttp /usr/include)
find_path(LLHTTP_SOURCE_DIR llhttp.c
  PATHS /usr/share/llhttp /usr/share/node-llhttp/src)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(LLHTTP REQUIRED_VARS LLHTTP_INCLUDE_DIR LLHTTP_SOURCE_DIR)
if(LLHTTP_FOUND AND NOT TARGET llhttp::llhttp)
  add_library(llhttp_objects OBJECT
    ${LLHTTP_SOURCE_DIR}/api.c ${LLHTTP_SOURCE_DIR}/http.c ${LLHTTP_SOURCE_DIR}/llhttp.c)
  target_include_directories(llhttp_objects PUBLIC ${LLHTTP_INCLUDE_DIR})
  set_target_properties(llhttp_objects PROPERTIES POSITION_INDEPENDENT_CODE ON C_STANDARD 99)
  target_compile_options(llhttp_objects PRIVATE -w)
  add_library(llhttp::llhttp ALIAS llhttp_objects)
endif()
