#!/bin/sh
# Builds the consumer with nothing but pkg-config and a compiler:
#   PKG_CONFIG_PATH=/prefix/lib/pkgconfig ./build-with-pkg-config.sh out/consumer
set -eu
out=${1:-consumer}
${CXX:-clang++} -std=c++20 -O1 -o "$out" "$(dirname "$0")/main.cc" \
  $(pkg-config --cflags --libs tornado-cpp)
