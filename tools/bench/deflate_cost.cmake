# bench_deflate_cost: the server's CPU per permessage-deflate message under
# each setting of docs/websocket.md, without sockets (deflate_cost/).
add_executable(bench_deflate_cost ${CMAKE_CURRENT_SOURCE_DIR}/deflate_cost/deflate_cost.cc)
target_link_libraries(bench_deflate_cost PRIVATE tornado)
target_compile_options(bench_deflate_cost PRIVATE ${TORNADO_WARNINGS})
