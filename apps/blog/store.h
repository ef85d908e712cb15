// apps/blog: the blog's data (authors and entries in SQLite, the tables of
// the Python demo's schema.sql), its Markdown rendering and password hashing.
// Everything here blocks: the handlers call it through run_in_executor.
#pragma once

#include <sqlite3.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "tornado/template.h"

namespace blog {

using Time = std::chrono::system_clock::time_point;

struct Author {
  std::int64_t id = 0;
  std::string email;
  std::string name;
  std::string hashed_password;
};

struct Entry {
  std::int64_t id = 0;
  std::int64_t author_id = 0;
  std::string slug;
  std::string title;
  std::string markdown;
  std::string html;
  Time published;
  Time updated;
};

/// The blog's SQLite database. Not thread-safe by itself: the app uses it
/// from one executor thread only.
class Database {
 public:
  /// Opens (creating if needed) the database file and its tables.
  explicit Database(const std::string& path);

  bool any_author_exists();
  std::optional<Author> author_by_id(std::int64_t id);
  std::optional<Author> author_by_email(std::string_view email);
  /// Adds an author; returns the new id.
  std::int64_t create_author(std::string_view email, std::string_view name,
                             std::string_view hashed_password);

  /// The newest entries first; all of them without a limit.
  std::vector<Entry> entries(std::optional<int> limit = std::nullopt);
  std::optional<Entry> entry_by_slug(std::string_view slug);
  std::optional<Entry> entry_by_id(std::int64_t id);
  /// Adds an entry published now, under a slug made from `title` that no
  /// other entry has; returns the slug.
  std::string create_entry(std::int64_t author_id, std::string_view title,
                           std::string_view markdown, std::string_view html);
  /// Changes an entry's title and text (its slug stays).
  void update_entry(std::int64_t id, std::string_view title, std::string_view markdown,
                    std::string_view html);

 private:
  struct Closer {
    void operator()(sqlite3* db) const noexcept { sqlite3_close(db); }
  };
  std::unique_ptr<sqlite3, Closer> db_;
};

/// The Python demo's slug: the title NFKD-normalised, runs of non-word
/// characters to spaces, lower case, words joined by "-", non-ASCII dropped
/// ("entry" if nothing is left). NFKD is applied to Latin-1 letters (an
/// accent ends a word there, as in Python: "Héllo" gives "he-llo"); other
/// non-ASCII characters count as word characters and are dropped.
std::string slugify(std::string_view title);

/// Markdown to HTML (CommonMark; raw HTML in the text is not passed through).
std::string markdown_to_html(std::string_view markdown);

/// An Argon2id hash of `password` (libsodium's string format, salt included).
std::string hash_password(std::string_view password);
/// True if `password` matches `hashed`.
bool check_password(std::string_view password, const std::string& hashed);

}  // namespace blog

template <>
struct tornado::template_::Binding<blog::Entry> {
  static void bind(Class<blog::Entry>& c) {
    c.name("Entry")
        .attribute("id", &blog::Entry::id)
        .attribute("author_id", &blog::Entry::author_id)
        .attribute("slug", &blog::Entry::slug)
        .attribute("title", &blog::Entry::title)
        .attribute("markdown", &blog::Entry::markdown)
        .attribute("html", &blog::Entry::html)
        .attribute("published", &blog::Entry::published)
        .attribute("updated", &blog::Entry::updated);
  }
};
