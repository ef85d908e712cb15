# Install rules, the CMake package (tornado-cppConfig.cmake, exporting
# tornado::tornado), the pkg-config file and the Debian package (cpack).
#
#   cmake --install build --prefix /opt/tornado-cpp
#   find_package(tornado-cpp) / pkg-config --cflags --libs tornado-cpp
include(CMakePackageConfigHelpers)

set(TORNADO_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/tornado-cpp)

# The public headers, and the detail/ headers they still include.
install(DIRECTORY ${CMAKE_CURRENT_SOURCE_DIR}/framework/tornado
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
        FILES_MATCHING PATTERN "*.h" PATTERN "testing.h" EXCLUDE)
install(TARGETS tornado EXPORT tornado-cppTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(EXPORT tornado-cppTargets NAMESPACE tornado:: DESTINATION ${TORNADO_CMAKE_DIR})

get_target_property(TORNADO_LIBRARY_TYPE tornado TYPE)
if(TORNADO_LIBRARY_TYPE STREQUAL "STATIC_LIBRARY")
  set(TORNADO_STATIC ON)
else()
  set(TORNADO_STATIC OFF)
endif()
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/tornado-cppConfig.cmake.in
  ${CMAKE_CURRENT_BINARY_DIR}/tornado-cppConfig.cmake INSTALL_DESTINATION ${TORNADO_CMAKE_DIR})
# 0.x: a minor version may break the API.
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/tornado-cppConfigVersion.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/tornado-cppConfig.cmake
              ${CMAKE_CURRENT_BINARY_DIR}/tornado-cppConfigVersion.cmake
        DESTINATION ${TORNADO_CMAKE_DIR})

# pkg-config. A static libtornado-cpp.a cannot be linked without its private
# dependencies, so for it they are plain Requires: `pkg-config --libs` then
# works without --static.
set(TORNADO_PC_REQUIRES "fmt nlohmann_json")
set(TORNADO_PC_PRIVATE "libuv libssl libcrypto zlib re2 hiredis")
if(TORNADO_STATIC)
  string(APPEND TORNADO_PC_REQUIRES " ${TORNADO_PC_PRIVATE}")
  set(TORNADO_PC_REQUIRES_PRIVATE "")
else()
  set(TORNADO_PC_REQUIRES_PRIVATE "\nRequires.private: ${TORNADO_PC_PRIVATE}")
endif()
set(TORNADO_PC_CFLAGS "")
if(TORNADO_PUBLIC_LLHTTP)
  set(TORNADO_PC_CFLAGS " -I${LLHTTP_INCLUDE_DIR}")
endif()
# Relocatable: the prefix is found from where the .pc file lies.
file(RELATIVE_PATH TORNADO_PC_TO_PREFIX /prefix/${CMAKE_INSTALL_LIBDIR}/pkgconfig /prefix)
string(REGEX REPLACE "/$" "" TORNADO_PC_TO_PREFIX "${TORNADO_PC_TO_PREFIX}")
configure_file(${CMAKE_CURRENT_LIST_DIR}/tornado-cpp.pc.in
               ${CMAKE_CURRENT_BINARY_DIR}/tornado-cpp.pc @ONLY)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/tornado-cpp.pc
        DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)

# cpack -G DEB: a -dev package of the headers, library, CMake package and .pc.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME tornado-cpp-dev)
set(CPACK_PACKAGE_VENDOR tornado-cpp)
set(CPACK_PACKAGE_CONTACT "tornado-cpp maintainers <tornado-cpp@localhost>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Tornado's web framework model in C++20 on libuv")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION libdevel)
set(TORNADO_DEB_DEPENDS "libfmt-dev, nlohmann-json3-dev, pkg-config")
if(TORNADO_STATIC)
  string(APPEND TORNADO_DEB_DEPENDS
         ", libuv1-dev, libssl-dev, zlib1g-dev, libre2-dev, libhiredis-dev")
else()
  string(APPEND TORNADO_DEB_DEPENDS ", libuv1, libssl3, zlib1g, libre2-9, libhiredis0.14")
endif()
if(TORNADO_PUBLIC_LLHTTP)
  string(APPEND TORNADO_DEB_DEPENDS ", node-llhttp")
endif()
set(CPACK_DEBIAN_PACKAGE_DEPENDS ${TORNADO_DEB_DEPENDS})
include(CPack)
