"""tools/bench/run as a package: build, targets, load, measure, render, compare, cli."""
