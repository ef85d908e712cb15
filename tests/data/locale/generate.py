#!/usr/bin/python3
"""Writes expected.json: what Tornado 6.2's tornado.locale answers for the
catalogues in this folder, so tests/locale_test.cc can check that
tornado::locale answers the same.

Run with Debian's python3-tornado (6.2) and gettext's msgfmt:

    /usr/bin/python3 tests/data/locale/generate.py

Each case names an operation, its arguments and Tornado's result; the C++
test replays every case. Dates are microseconds since the epoch (UTC) and
"now" is fixed by replacing the clock tornado.locale reads.
"""
import datetime
import json
import os
import shutil
import subprocess
import sys
import tempfile
import types

import tornado
import tornado.httputil
import tornado.locale
import tornado.web

assert tornado.version.startswith("6.2"), tornado.version

HERE = os.path.dirname(os.path.abspath(__file__))
EPOCH = datetime.datetime(1970, 1, 1)
NOW_US = 1773585045123456  # 2026-03-15 14:30:45.123456 UTC, a Sunday


def to_dt(us):
    return EPOCH + datetime.timedelta(microseconds=us)


class FixedClock(datetime.datetime):
    @classmethod
    def utcnow(cls):
        return to_dt(NOW_US)


tornado.locale.datetime = types.SimpleNamespace(
    datetime=FixedClock, timedelta=datetime.timedelta)


def reset(use_gettext=False):
    tornado.locale.Locale._cache = {}
    tornado.locale._use_gettext = use_gettext


def load_csv():
    # Tornado 6.2 keeps the encoding it detected for the first file and
    # reads every later file with it, so a UTF-16 file among UTF-8 ones
    # depends on directory order. Load the UTF-16 file on its own and merge.
    reset()
    with tempfile.TemporaryDirectory() as utf8_dir, tempfile.TemporaryDirectory() as utf16_dir:
        for name in os.listdir(os.path.join(HERE, "csv")):
            target = utf16_dir if name == "de_DE.csv" else utf8_dir
            shutil.copy(os.path.join(HERE, "csv", name), target)
        tornado.locale.load_translations(utf16_dir)
        german = dict(tornado.locale._translations)
        tornado.locale.load_translations(utf8_dir)
        tornado.locale._translations.update(german)
        tornado.locale._supported_locales = frozenset(
            list(tornado.locale._translations) + [tornado.locale._default_locale])


def load_gettext(mo_dir):
    reset(True)
    tornado.locale.load_gettext_translations(mo_dir, "tornado_test")


DATE_OFFSETS_S = [0, 1, 49, 50, 89, 90, 150, 2999, 3000, 3001, 5400, 9000, 43200, 86399,
                  86400, 86400 + 3600 * 10, 86400 + 3600 * 15, 2 * 86400, 4 * 86400 + 7,
                  5 * 86400, 100 * 86400, 333 * 86400, 334 * 86400, 400 * 86400,
                  3 * 365 * 86400, -30, -59, -61, -90, -(86400 + 10), -5 * 86400]
GMT_OFFSETS = [0, 300, -330]
BROWSER_HEADERS = [
    None, "", "cs", "cs-CZ,cs;q=0.9,en;q=0.8", "en-US,en;q=0.5,cs;q=0.9",
    "fr;q=0, cs;q=0.1", "de-DE;q=0.7, es-LA;q=0.8", "pt-br", "PT_br", "zh-Hant-TW, cs",
    "xx;q=bogus, fr", "fr;q=-1, ar", "*", "ar;q=0.5,fr;q=0.5,cs;q=0.5", " es_LA ; q=1.0 ",
    "de_DE;level=1, fr"]


def cases_for(mode, codes, direct_codes):
    out = []

    def add(**case):
        case["mode"] = mode
        out.append(case)

    add(op="supported", expected=sorted(tornado.locale.get_supported_locales()))
    for codes_in in [["cs"], ["cs_CZ"], ["cs-cz"], ["CS"], ["pt_BR"], ["pt-br"], ["pt"],
                     ["pt_PT"], ["es_LA"], ["es"], ["es_la"], ["de_DE"], ["de"], ["fr_FR"],
                     ["zz", "fr"], ["", "ar"], ["a_b_c", "cs"], ["xx"], [], ["zh-Hant-TW"],
                     ["en"], ["en_US"], ["EN_us"]]:
        add(op="get", codes=codes_in, expected=tornado.locale.get(*codes_in).code)
    for header in BROWSER_HEADERS:
        handler = types.SimpleNamespace(request=types.SimpleNamespace(
            headers=tornado.httputil.HTTPHeaders()))
        if header is not None:
            handler.request.headers["Accept-Language"] = header
        loc = tornado.web.RequestHandler.get_browser_locale(handler)
        add(op="browser", header=header, expected=loc.code)

    messages = ["Sign out", "I love you", "January", "Monday", "Quote \"inside\"", "Multi\nline",
                "Spaced", "Trailing", "Bad indicator", "Grüße 😀", "Only one column", "Nope", ""]
    plurals = [("%(name)s liked this", "%(name)s liked this"),
               ("%(count)d apple", "%(count)d apples"),
               ("1 minute ago", "%(minutes)d minutes ago")]
    counts = [0, 1, 2, 3, 4, 5, 10, 11, 12, 99, 100, 101, 102, 103, 111, 1000, -1]
    for code in codes:
        loc = tornado.locale.get(code)
        add(op="info", code=code, expected={"code": loc.code, "name": loc.name, "rtl": loc.rtl})
        for m in messages:
            add(op="translate", code=code, message=m, expected=loc.translate(m))
        for singular, plural in plurals:
            for n in counts:
                add(op="translate_plural", code=code, message=singular, plural=plural, count=n,
                    expected=loc.translate(singular, plural, n))
        for ctx, m in [("law", "right"), ("direction", "right"), ("nope", "right"),
                       ("law", "Sign out")]:
            add(op="pgettext", code=code, context=ctx, message=m, expected=loc.pgettext(ctx, m))
        for ctx in ["organization", "stick"]:
            for n in [1, 2, 5]:
                add(op="pgettext_plural", code=code, context=ctx, message="club",
                    plural="clubs", count=n, expected=loc.pgettext(ctx, "club", "clubs", n))
        for parts in [[], ["A"], ["A", "B"], ["A", "B", "C"]]:
            add(op="list", code=code, parts=parts, expected=loc.list(parts))
    for code in direct_codes:
        loc = tornado.locale.CSVLocale(code, {})
        add(op="info", code=code, direct=True,
            expected={"code": loc.code, "name": loc.name, "rtl": loc.rtl})
        add(op="list", code=code, direct=True, parts=["A", "B", "C"],
            expected=loc.list(["A", "B", "C"]))

    for code in list(codes) + direct_codes:
        if code in direct_codes[1:]:
            continue  # only their rtl flag and name differ: see "info" below
        if code in direct_codes:
            loc = tornado.locale.CSVLocale(code, {})
        else:
            loc = tornado.locale.get(code)
        direct = code in direct_codes
        for v in [0, 7, 999, 1000, 1234567, -1234, -123456, 10**15]:
            add(op="friendly_number", code=code, direct=direct, value=v,
                expected=loc.friendly_number(v))
        for off in DATE_OFFSETS_S:
            date_us = NOW_US - off * 1_000_000
            for gmt in GMT_OFFSETS:
                for relative, shorter, full in [(True, False, False), (True, True, False),
                                                (False, False, False), (False, True, False),
                                                (True, False, True)]:
                    add(op="format_date", code=code, direct=direct, date=date_us, now=NOW_US,
                        gmt_offset=gmt, relative=relative, shorter=shorter, full_format=full,
                        expected=loc.format_date(to_dt(date_us), gmt, relative, shorter, full))
        for off in [0, 86400 * 3 + 3600 * 20, -86400 * 200]:
            for gmt in [0, -600]:
                for dow in [True, False]:
                    date_us = NOW_US - off * 1_000_000
                    add(op="format_day", code=code, direct=direct, date=date_us, gmt_offset=gmt,
                        dow=dow, expected=loc.format_day(to_dt(date_us), gmt, dow))
    return out


def main():
    cases = []
    load_csv()
    cases += cases_for("csv", ["en_US", "es_LA", "cs", "de_DE"], ["zh_CN", "fa_IR", "he_IL"])
    with tempfile.TemporaryDirectory() as mo_dir:
        for po in sorted(os.listdir(os.path.join(HERE, "po"))):
            lang = po[:-3]
            os.makedirs(os.path.join(mo_dir, lang, "LC_MESSAGES"))
            subprocess.run(["msgfmt", "-o", os.path.join(mo_dir, lang, "LC_MESSAGES",
                                                         "tornado_test.mo"),
                            os.path.join(HERE, "po", po)], check=True)
        load_gettext(mo_dir)
        cases += cases_for("gettext", ["en_US", "cs", "fr", "ar", "pt_BR"], [])
    with open(os.path.join(HERE, "expected.json"), "w", encoding="utf-8") as f:
        # One case a line, so a change in Tornado's answers reads as a small diff.
        f.write('{"generator": "tornado %s", "cases": [\n' % tornado.version)
        f.write(",\n".join(json.dumps(c, ensure_ascii=False, sort_keys=True) for c in cases))
        f.write("\n]}\n")
    print(f"{len(cases)} cases", file=sys.stderr)


if __name__ == "__main__":
    main()
