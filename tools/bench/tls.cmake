# tlsload: the HTTPS/WSS load generator of tools/bench/run's TLS cases (WSS
# echo, new and resumed TLS connections per second, idle TLS WebSockets).
add_executable(tlsload ${CMAKE_CURRENT_SOURCE_DIR}/tlsload/tlsload.cc)
target_link_libraries(tlsload PRIVATE PkgConfig::tornado_libuv OpenSSL::SSL OpenSSL::Crypto)
target_include_directories(tlsload PRIVATE ${CMAKE_SOURCE_DIR}/framework)
target_compile_options(tlsload PRIVATE ${TORNADO_WARNINGS})
