#!/usr/bin/python3
"""Helpers of tools/docs (run with Debian's python3, as mkdocs is).

  docs-site.py doxygen-warnings LOG BASELINE   compare Doxygen's warnings with the baseline
  docs-site.py stage OUT                        gather README, docs/ and linked files into OUT/src
  docs-site.py check-site SITE                  broken links and network resources in the built site
"""
import html.parser
import os
import pathlib
import re
import shutil
import sys
import urllib.parse

ROOT = pathlib.Path(__file__).resolve().parent.parent


def normalize_warning(line, root):
    """'/abs/framework/tornado/web.h:12: warning: X' -> 'framework/tornado/web.h: X'."""
    match = re.match(r"(.*?):\d+: warning: (.*)", line.strip())
    if not match:
        return line.strip()
    path = os.path.relpath(match.group(1), root) if os.path.isabs(match.group(1)) else match.group(1)
    return f"{path}: {match.group(2)}"


def doxygen_warnings(log, baseline):
    found = {normalize_warning(l, ROOT) for l in open(log) if l.strip()}
    known = {l.rstrip("\n") for l in open(baseline) if l.strip() and not l.startswith("#")}
    new, gone = sorted(found - known), sorted(known - found)
    for warning in new:
        print(f"docs: undocumented or badly documented: {warning}")
    for warning in gone:
        print(f"docs: fixed, remove from {os.path.relpath(baseline, ROOT)}: {warning}")
    if new or gone:
        print(f"docs: {len(new)} new Doxygen warning(s), {len(gone)} stale baseline line(s); "
              "add a doc comment (or shrink the baseline) and run tools/docs again")
        return 1
    print(f"docs: API reference: {len(found)} known gaps, none new")
    return 0


LINK = re.compile(r"\]\((?!https?:|mailto:|#)([^)\s#]+)")


def stage(out):
    src = pathlib.Path(out) / "src"
    if src.exists():
        shutil.rmtree(src)
    src.mkdir(parents=True)
    shutil.copy(ROOT / "README.md", src / "index.md")
    shutil.copytree(ROOT / "docs", src / "docs",
                    ignore=shutil.ignore_patterns("Doxyfile", "*.dox", "doxygen-baseline.txt"))
    # Pages that link to repository files outside docs/ (a tool's source,
    # say): copy those files in, so that every link of the site resolves.
    pages = [src / "index.md", *sorted((src / "docs").rglob("*.md"))]
    for page in pages:
        text = re.sub(r"^```.*?^```$", "", page.read_text(), flags=re.S | re.M)
        for target in LINK.findall(text):
            resolved = (page.parent / urllib.parse.unquote(target)).resolve()
            if resolved.exists() or not str(resolved).startswith(str(src.resolve())):
                continue
            original = ROOT / resolved.relative_to(src.resolve())
            if page == src / "index.md":
                original = ROOT / target
            if original.is_file():
                resolved.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(original, resolved)
    return 0


class Links(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs, self.ids, self.remote = [], set(), []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for name in ("id", "name"):
            if attrs.get(name):
                self.ids.add(attrs[name])
        for name in ("href", "src"):
            value = attrs.get(name)
            if not value:
                continue
            if re.match(r"(https?:)?//", value):
                # A page may link out, but must load nothing from the network.
                if tag in ("script", "img", "iframe") or (tag == "link" and name == "href"):
                    self.remote.append(value)
            elif not re.match(r"(mailto|javascript|data):", value):
                self.refs.append(value)


def check_site(site):
    site = pathlib.Path(site)
    parsed, problems = {}, []

    def parse(path):
        if path not in parsed:
            links = Links()
            links.feed(path.read_text(errors="replace"))
            parsed[path] = links
        return parsed[path]

    # 404.html uses root-relative links, meaningful only on a web server.
    pages = sorted(p for p in site.rglob("*.html") if p.name != "404.html")
    for page in pages:
        links = parse(page)
        for value in links.remote:
            problems.append(f"{page.relative_to(site)} loads {value} from the network")
        for ref in links.refs:
            url = urllib.parse.urlsplit(ref)
            target = (page.parent / urllib.parse.unquote(url.path)).resolve() if url.path else page
            if target.is_dir():
                target = target / "index.html"
            if not target.exists():
                problems.append(f"{page.relative_to(site)} links to missing {ref}")
            elif (url.fragment and target.suffix == ".html" and "api/html" not in str(target)
                  and url.fragment not in parse(target).ids):
                problems.append(f"{page.relative_to(site)} links to missing anchor {ref}")
    for problem in problems:
        print(f"docs: {problem}")
    print(f"docs: {len(pages)} pages checked, {len(problems)} broken")
    return 1 if problems else 0


if __name__ == "__main__":
    command, *args = sys.argv[1:] or ["help"]
    if command == "doxygen-warnings":
        sys.exit(doxygen_warnings(*args))
    if command == "stage":
        sys.exit(stage(*args))
    if command == "check-site":
        sys.exit(check_site(*args))
    sys.exit(__doc__)
