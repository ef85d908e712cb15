// Stands in for a private dependency's header in tests/CMakeLists.txt's
// header check: a public tornado-cpp header that includes it fails to build.
#error \
    "a public tornado-cpp header includes <llhttp.h>: keep it in the .cc or a detail/ header no public header includes"
