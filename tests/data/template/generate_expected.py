#!/usr/bin/env python3
"""Renders every case under this directory with Tornado's own template engine
and writes the output to the case's expected.out, which tests/template_test.cc
compares with tornado-cpp's output byte for byte.

A case is a directory with case.json:
    {"template": "index.html", "values": {...}}
and the template files it uses. Values are decoded into tornado.util.ObjectDict
(so `user.name` works as in tornado-cpp) with keys in sorted order, the order
in which tornado-cpp's nlohmann::json objects iterate. {"$datetime": ISO} and
{"$timedelta": seconds} become datetime and timedelta objects (tornado-cpp's
DateTime and TimeDelta; tests/template_test.cc decodes them the same way).

Run with Debian's python3-tornado:  /usr/bin/python3 generate_expected.py
"""
import datetime
import json
import os
import sys

from tornado.template import Loader
from tornado.util import ObjectDict

HERE = os.path.dirname(os.path.abspath(__file__))


def sorted_object(pairs):
    if len(pairs) == 1 and pairs[0][0] == "$datetime":
        return datetime.datetime.fromisoformat(pairs[0][1])
    if len(pairs) == 1 and pairs[0][0] == "$timedelta":
        return datetime.timedelta(seconds=pairs[0][1])
    return ObjectDict(sorted(pairs))


def render(case_dir):
    with open(os.path.join(case_dir, "case.json"), encoding="utf-8") as f:
        case = json.load(f, object_pairs_hook=sorted_object)
    loader = Loader(case_dir)
    return loader.load(case["template"]).generate(**case.get("values", {}))


def main():
    cases = sorted(
        d for d in os.listdir(HERE) if os.path.isfile(os.path.join(HERE, d, "case.json"))
    )
    for name in cases:
        case_dir = os.path.join(HERE, name)
        output = render(case_dir)
        with open(os.path.join(case_dir, "expected.out"), "wb") as f:
            f.write(output)
        print("%-24s %6d bytes" % (name, len(output)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
