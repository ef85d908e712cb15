#include "store.h"

#include <cmark.h>
#include <fmt/format.h>
#include <sodium.h>

#include <cctype>
#include <cstdio>
#include <ctime>
#include <stdexcept>

namespace blog {

namespace {

// The tables and columns of the Python demo's schema.sql, in SQLite's types.
// Times are UTC as ISO 8601 text, "YYYY-MM-DDTHH:MM:SSZ" (kNow), which sorts
// as time does and which SQLite's date functions read.
constexpr const char* kSchema = R"sql(
CREATE TABLE IF NOT EXISTS authors (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    email VARCHAR(100) NOT NULL UNIQUE,
    name VARCHAR(100) NOT NULL,
    hashed_password VARCHAR(100) NOT NULL
);
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    author_id INT NOT NULL REFERENCES authors(id),
    slug VARCHAR(100) NOT NULL UNIQUE,
    title VARCHAR(512) NOT NULL,
    markdown TEXT NOT NULL,
    html TEXT NOT NULL,
    published TIMESTAMP NOT NULL,
    updated TIMESTAMP NOT NULL
);
CREATE INDEX IF NOT EXISTS published_idx ON entries(published);
)sql";

// The current UTC time in the stored format, as SQL.
constexpr std::string_view kNow = "strftime('%Y-%m-%dT%H:%M:%SZ', 'now')";

[[noreturn]] void fail(sqlite3* db, std::string_view what) {
  throw std::runtime_error(std::string(what) + ": " + sqlite3_errmsg(db));
}

// One prepared statement, bound and stepped; finalized on destruction.
class Statement {
 public:
  Statement(sqlite3* db, const char* sql) : db_(db) {
    if (sqlite3_prepare_v2(db, sql, -1, &stmt_, nullptr) != SQLITE_OK) fail(db, sql);
  }
  ~Statement() { sqlite3_finalize(stmt_); }
  Statement(const Statement&) = delete;
  Statement& operator=(const Statement&) = delete;

  Statement& bind(int index, std::string_view text) {
    if (sqlite3_bind_text(stmt_, index, text.data(), static_cast<int>(text.size()),
                          SQLITE_TRANSIENT) != SQLITE_OK)
      fail(db_, "bind");
    return *this;
  }
  Statement& bind(int index, std::int64_t value) {
    if (sqlite3_bind_int64(stmt_, index, value) != SQLITE_OK) fail(db_, "bind");
    return *this;
  }
  // True while there is a row to read.
  bool step() {
    int rc = sqlite3_step(stmt_);
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) return false;
    fail(db_, "step");
  }
  std::int64_t integer(int column) const { return sqlite3_column_int64(stmt_, column); }
  std::string text(int column) const {
    const auto* data = sqlite3_column_text(stmt_, column);
    return data ? std::string(reinterpret_cast<const char*>(data),
                              static_cast<std::size_t>(sqlite3_column_bytes(stmt_, column)))
                : std::string();
  }

 private:
  sqlite3* db_;
  sqlite3_stmt* stmt_ = nullptr;
};

Time parse_time(const std::string& text) {
  std::tm tm{};
  int year = 0, month = 0;
  if (std::sscanf(text.c_str(), "%d-%d-%dT%d:%d:%dZ", &year, &month, &tm.tm_mday, &tm.tm_hour,
                  &tm.tm_min, &tm.tm_sec) != 6)
    throw std::runtime_error("bad time in the database: " + text);
  tm.tm_year = year - 1900;
  tm.tm_mon = month - 1;
  return std::chrono::system_clock::from_time_t(timegm(&tm));
}

constexpr const char* kEntryColumns =
    "SELECT id, author_id, slug, title, markdown, html, published, updated FROM entries ";

Entry read_entry(const Statement& row) {
  return Entry{.id = row.integer(0),
               .author_id = row.integer(1),
               .slug = row.text(2),
               .title = row.text(3),
               .markdown = row.text(4),
               .html = row.text(5),
               .published = parse_time(row.text(6)),
               .updated = parse_time(row.text(7))};
}

std::optional<Author> read_author(Statement& query) {
  if (!query.step()) return std::nullopt;
  return Author{query.integer(0), query.text(1), query.text(2), query.text(3)};
}

std::optional<Entry> read_one_entry(Statement& query) {
  if (!query.step()) return std::nullopt;
  return read_entry(query);
}

}  // namespace

Database::Database(const std::string& path) {
  sqlite3* db = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  db_.reset(db);
  if (rc != SQLITE_OK) {
    throw std::runtime_error(path + ": " + (db ? sqlite3_errmsg(db) : "cannot open"));
  }
  char* error = nullptr;
  if (sqlite3_exec(db, kSchema, nullptr, nullptr, &error) != SQLITE_OK) {
    std::string message = path + ": " + (error ? error : "cannot create the tables");
    sqlite3_free(error);
    throw std::runtime_error(message);
  }
}

bool Database::any_author_exists() {
  Statement query(db_.get(), "SELECT 1 FROM authors LIMIT 1");
  return query.step();
}

std::optional<Author> Database::author_by_id(std::int64_t id) {
  Statement query(db_.get(), "SELECT id, email, name, hashed_password FROM authors WHERE id = ?");
  query.bind(1, id);
  return read_author(query);
}

std::optional<Author> Database::author_by_email(std::string_view email) {
  Statement query(db_.get(),
                  "SELECT id, email, name, hashed_password FROM authors WHERE email = ?");
  query.bind(1, email);
  return read_author(query);
}

std::int64_t Database::create_author(std::string_view email, std::string_view name,
                                     std::string_view hashed_password) {
  Statement insert(db_.get(),
                   "INSERT INTO authors (email, name, hashed_password) VALUES (?, ?, ?)");
  insert.bind(1, email).bind(2, name).bind(3, hashed_password).step();
  return sqlite3_last_insert_rowid(db_.get());
}

std::vector<Entry> Database::entries(std::optional<int> limit) {
  std::string sql = std::string(kEntryColumns) + "ORDER BY published DESC, id DESC";
  if (limit) sql += " LIMIT " + std::to_string(*limit);
  Statement query(db_.get(), sql.c_str());
  std::vector<Entry> result;
  while (query.step()) result.push_back(read_entry(query));
  return result;
}

std::optional<Entry> Database::entry_by_slug(std::string_view slug) {
  Statement query(db_.get(), (std::string(kEntryColumns) + "WHERE slug = ?").c_str());
  query.bind(1, slug);
  return read_one_entry(query);
}

std::optional<Entry> Database::entry_by_id(std::int64_t id) {
  Statement query(db_.get(), (std::string(kEntryColumns) + "WHERE id = ?").c_str());
  query.bind(1, id);
  return read_one_entry(query);
}

std::string Database::create_entry(std::int64_t author_id, std::string_view title,
                                   std::string_view markdown, std::string_view html) {
  std::string slug = slugify(title);
  while (entry_by_slug(slug)) slug += "-2";
  const std::string sql = fmt::format(
      "INSERT INTO entries (author_id, title, slug, markdown, html, published, updated) "
      "VALUES (?, ?, ?, ?, ?, {0}, {0})",
      kNow);
  Statement insert(db_.get(), sql.c_str());
  insert.bind(1, author_id).bind(2, title).bind(3, slug).bind(4, markdown).bind(5, html).step();
  return slug;
}

void Database::update_entry(std::int64_t id, std::string_view title, std::string_view markdown,
                            std::string_view html) {
  const std::string sql = fmt::format(
      "UPDATE entries SET title = ?, markdown = ?, html = ?, updated = {} WHERE id = ?", kNow);
  Statement update(db_.get(), sql.c_str());
  update.bind(1, title).bind(2, markdown).bind(3, html).bind(4, id).step();
}

namespace {

// What NFKD followed by dropping non-ASCII leaves of U+00C0..U+00FF: the base
// letter, '\0' for a letter with no ASCII base (dropped), ' ' for the two
// that are not word characters (multiplication and division signs).
constexpr char kLatin1[] =
    "AAAAAA\0CEEEEIIII\0NOOOOO \0UUUUY\0\0aaaaaa\0ceeeeiiii\0nooooo \0uuuuy\0y";
static_assert(sizeof kLatin1 == 64 + 1);

}  // namespace

std::string slugify(std::string_view title) {
  // Words as Python's \w sees them; '\x01' stands for a word character
  // that the final ASCII encoding drops.
  std::string text;
  for (std::size_t i = 0; i < title.size();) {
    auto byte = static_cast<unsigned char>(title[i]);
    if (byte < 0x80) {
      text += std::isalnum(byte) || byte == '_' ? static_cast<char>(std::tolower(byte)) : ' ';
      ++i;
      continue;
    }
    std::size_t length = byte >= 0xf0 ? 4 : byte >= 0xe0 ? 3 : byte >= 0xc0 ? 2 : 1;
    if (length == 2 && i + 1 < title.size()) {
      unsigned code = ((byte & 0x1fu) << 6) | (static_cast<unsigned char>(title[i + 1]) & 0x3fu);
      if (code >= 0xc0 && code <= 0xff) {
        char base = kLatin1[code - 0xc0];
        // NFKD splits an accented letter into the letter and a combining
        // mark, which is not a word character: the mark ends the word.
        if (base == '\0') {
          text += '\x01';
        } else {
          text += static_cast<char>(std::tolower(base));
          text += ' ';
        }
      } else {
        text += '\x01';
      }
    } else if (length == 3 && i + 2 < title.size() && byte == 0xe2 &&
               (static_cast<unsigned char>(title[i + 1]) & 0xfcu) == 0x80) {
      text += ' ';  // U+2000..U+20FF: spaces, dashes, quotes (not word characters)
    } else {
      text += '\x01';
    }
    i += length;
  }
  // Words joined by "-" before the non-ASCII ones are dropped, so a word
  // that was all non-ASCII leaves its dash, as in the Python demo.
  std::string slug;
  bool first = true;
  std::size_t at = 0;
  while (at < text.size()) {
    while (at < text.size() && text[at] == ' ') ++at;
    std::size_t end = at;
    while (end < text.size() && text[end] != ' ') ++end;
    if (end > at) {
      if (!first) slug += '-';
      first = false;
      for (std::size_t k = at; k < end; ++k) {
        if (text[k] != '\x01') slug += text[k];
      }
    }
    at = end;
  }
  return slug.empty() ? "entry" : slug;
}

std::string markdown_to_html(std::string_view markdown) {
  std::unique_ptr<char, decltype(&std::free)> html(
      cmark_markdown_to_html(markdown.data(), markdown.size(), CMARK_OPT_DEFAULT), &std::free);
  if (!html) throw std::runtime_error("Markdown rendering failed");
  return html.get();
}

std::string hash_password(std::string_view password) {
  if (sodium_init() < 0) throw std::runtime_error("libsodium cannot start");
  char hashed[crypto_pwhash_STRBYTES];
  if (crypto_pwhash_str(hashed, password.data(), password.size(),
                        crypto_pwhash_OPSLIMIT_INTERACTIVE,
                        crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0)
    throw std::runtime_error("out of memory while hashing a password");
  return hashed;
}

bool check_password(std::string_view password, const std::string& hashed) {
  if (sodium_init() < 0) throw std::runtime_error("libsodium cannot start");
  return crypto_pwhash_str_verify(hashed.c_str(), password.data(), password.size()) == 0;
}

}  // namespace blog
