// The lesson's code blocks stay true: every C++ block in docs/lessons/*.md is
// a verbatim piece of a file the build compiles (docs/examples/, or the
// lesson's app in apps/lesson5/),
// every Python block a piece of a file in docs/lessons/python/, and every HTML
// block a piece of a page the lesson's servers serve (apps/lesson5/static/,
// templates/lesson5/). Local links and images in the lessons point at files
// that exist.
//
//   node --test tests/e2e/docs_snippets.test.mjs     (no npm packages needed)

import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const LESSONS = path.join(ROOT, "docs", "lessons");

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

const lessons = read(LESSONS, ".md");

test("there are lessons to check", () => {
  assert.ok(lessons.some((lesson) => lesson.name === "05-websockets.cs.md"));
  assert.ok(lessons.some((lesson) => lesson.name === "05-websockets.en.md"));
});

for (const [language, dir, extension] of [
  ["cpp", [path.join(ROOT, "docs", "examples"), path.join(ROOT, "apps", "lesson5")], ".cc"],
  ["python", path.join(LESSONS, "python"), ".py"],
  ["html", [path.join(ROOT, "apps", "lesson5", "static"), path.join(ROOT, "templates", "lesson5")], ".html"],
]) {
  const sources = [dir].flat().flatMap((folder) => read(folder, extension));
  for (const lesson of lessons) {
    const where = [dir].flat().map((folder) => path.relative(ROOT, folder) + "/").join(" or ");
    test(`${lesson.name}: every ${language} block is in ${where}`, () => {
      const found = blocks(lesson.text, language);
      // The series index (index.*.md) links lessons and shows no code.
      if (/^\d\d-/.test(lesson.name)) assert.ok(found.length > 0, `${lesson.name} has ${language} blocks`);
      for (const block of found) {
        const home = sources.find((source) => source.text.includes(block));
        assert.ok(home, `${lesson.name}: this ${language} block is in no file:\n${block}`);
      }
    });
  }
}

for (const lesson of lessons) {
  test(`${lesson.name}: local links and images exist`, () => {
    // Code is not prose: a C++ lambda's "[&](int)" is no link.
    const prose = lesson.text.replace(/^```[\s\S]*?^```$/gm, "").replace(/`[^`\n]*`/g, "");
    for (const [, target] of prose.matchAll(/\]\((?!https?:|#)([^)\s]+)\)/g)) {
      assert.ok(fs.existsSync(path.join(LESSONS, target)), `${lesson.name} links to missing ${target}`);
    }
  });
}

// The Czech lesson and its English translation keep the same content: the
// same headings (by level, in order) and the same code blocks (by language,
// in order).
test("05-websockets.cs.md and .en.md have the same outline and code blocks", () => {
  const outline = (name) => {
    const text = lessons.find((lesson) => lesson.name === name).text.replace(/^```[\s\S]*?^```$/gm, (block) =>
      block.split("\n")[0],
    );
    return {
      headings: [...text.matchAll(/^(#+) /gm)].map((match) => match[1]),
      blocks: [...text.matchAll(/^```(\w*)$/gm)].map((match) => match[1]),
    };
  };
  assert.deepEqual(outline("05-websockets.cs.md"), outline("05-websockets.en.md"));
});
