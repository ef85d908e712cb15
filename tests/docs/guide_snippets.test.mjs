// The User's Guide's code blocks stay true: every C++ block in
// docs/guide/*.md is a verbatim piece of a file in docs/examples/ (which the
// build compiles and tests/docs/guide_examples.py runs), every Python block a
// piece of a file in docs/guide/python/, every HTML block a piece of a
// template in docs/guide/templates/. Each English page has a Czech twin with
// the same code blocks in the same order, and local links point at files
// that exist (links into the API reference, ../api/html/, are checked by
// tools/docs once Doxygen has generated it).
//
//   node --test tests/docs/guide_snippets.test.mjs     (no npm packages needed)

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const GUIDE = path.join(ROOT, "docs", "guide");

function read(dir, extension) {
  return fs
    .readdirSync(dir)
    .filter((name) => name.endsWith(extension))
    .map((name) => ({ name, text: fs.readFileSync(path.join(dir, name), "utf8") }));
}

function blocks(markdown, language) {
  const pattern = new RegExp("^```" + language + "\\n([\\s\\S]*?)^```$", "gm");
  return [...markdown.matchAll(pattern)].map((match) => match[1].replace(/\n$/, ""));
}

const pages = read(GUIDE, ".md");
const chapters = pages.filter((page) => /^\d\d-/.test(page.name));

test("every chapter is there in English and Czech", () => {
  const names = pages.map((page) => page.name);
  for (const chapter of ["01-introduction", "02-async", "03-coroutines", "04-queues",
    "05-structure", "06-templates", "07-security", "08-running", "index"]) {
    for (const language of ["en", "cs"]) {
      assert.ok(names.includes(`${chapter}.${language}.md`), `docs/guide/${chapter}.${language}.md`);
    }
  }
});

const homes = [
  ["cpp", path.join(ROOT, "docs", "examples"), ".cc"],
  ["python", path.join(GUIDE, "python"), ".py"],
  ["html", path.join(GUIDE, "templates"), ".html"],
];
for (const [language, dir, extension] of homes) {
  const sources = read(dir, extension);
  for (const page of pages) {
    test(`${page.name}: every ${language} block is in ${path.relative(ROOT, dir)}/`, () => {
      for (const block of blocks(page.text, language)) {
        const home = sources.find((source) => source.text.includes(block));
        assert.ok(home, `${page.name}: this ${language} block is in no file:\n${block}`);
      }
    });
  }
}

for (const page of chapters) {
  test(`${page.name}: shows C++ and Python side by side`, () => {
    assert.ok(blocks(page.text, "cpp").length > 0, "no C++ block");
    assert.ok(blocks(page.text, "python").length > 0, "no Python block");
  });
}

for (const english of pages.filter((page) => page.name.endsWith(".en.md"))) {
  const czech = pages.find((page) => page.name === english.name.replace(".en.md", ".cs.md"));
  test(`${english.name}: the Czech page shows the same code`, () => {
    assert.ok(czech, "no Czech twin");
    const code = (page) => blocks(page.text, "(?:cpp|python|html|sh|text)");
    assert.deepEqual(code(czech), code(english));
  });
}

for (const page of pages) {
  test(`${page.name}: local links exist`, () => {
    const prose = page.text.replace(/^```[\s\S]*?^```$/gm, "").replace(/`[^`\n]*`/g, "");
    for (const [, target] of prose.matchAll(/\]\((?!https?:|#|\.\.\/api\/html\/)([^)\s#]+)/g)) {
      assert.ok(fs.existsSync(path.join(GUIDE, target)), `${page.name} links to missing ${target}`);
    }
  });
}
