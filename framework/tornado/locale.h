// tornado::locale: translated strings, dates and numbers, mirroring tornado.locale.
//
// Load the translations once at startup, either Tornado's CSV files (one
// `LOCALE.csv` per language) or gettext's compiled `.mo` catalogues, then ask
// for the locale that best fits a list of codes:
//
//   tornado::locale::load_translations("translations");        // es_LA.csv, cs.csv...
//   auto loc = tornado::locale::get({"cs_CZ", "en_US"});       // cs, if there is cs.csv
//   loc->translate("Sign out");                                // "Odhlásit se"
//   loc->translate("%(n)d apple", "%(n)d apples", 3);          // plural by count
//   loc->format_date(when);                                    // "3 minutes ago"
//
// The strings use Python's named placeholders (`%(name)s`), as in Tornado, so
// one catalogue serves both; `format()` fills them in. The loaded tables are
// process-wide, as Tornado's module globals: load them before starting worker
// threads, or at any time (a reload swaps them atomically; Locale objects
// already handed out keep the tables they were made from).
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <filesystem>
#include <initializer_list>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace tornado::locale {

/// Separates a pgettext context from the message in a gettext catalogue.
inline constexpr std::string_view CONTEXT_SEPARATOR = "\x04";

/// A catalogue or CSV file that cannot be read; what() names the file and,
/// for CSV, the line.
class TranslationError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

using TimePoint = std::chrono::system_clock::time_point;

/// One language: translations plus date, list and number formatting.
/// Obtained from `get()`; immutable, so it may be shared between threads.
class Locale {
 public:
  virtual ~Locale();
  Locale(const Locale&) = delete;
  Locale& operator=(const Locale&) = delete;

  /// The closest supported locale for `codes` (Tornado's Locale.get_closest).
  static std::shared_ptr<const Locale> get_closest(const std::vector<std::string>& codes);
  /// The locale for exactly `code`; throws std::invalid_argument if unsupported.
  static std::shared_ptr<const Locale> get(std::string_view code);

  /// "cs", "en_US"...
  const std::string& code() const noexcept { return code_; }
  /// The language's own name ("Čeština"), "Unknown" if not in the table.
  const std::string& name() const noexcept { return name_; }
  /// True for right-to-left scripts (Arabic, Persian, Hebrew).
  bool rtl() const noexcept { return rtl_; }

  /// The translation of `message`, or `message` itself.
  virtual std::string translate(std::string_view message) const = 0;
  /// The translation of the singular or plural form as `count` asks; without a
  /// translation, `message` when count is 1 and `plural_message` otherwise.
  virtual std::string translate(std::string_view message, std::string_view plural_message,
                                long long count) const = 0;
  /// `translate` with a disambiguating context ("law" vs "direction" for
  /// "right"); gettext catalogues only, CSV locales ignore the context.
  virtual std::string pgettext(std::string_view context, std::string_view message) const = 0;
  /// Translates `message` in `context`, choosing the plural form by `count`.
  virtual std::string pgettext(std::string_view context, std::string_view message,
                               std::string_view plural_message, long long count) const = 0;

  /// Formats a UTC time: relative ("3 minutes ago", "yesterday at 2:05 pm")
  /// when `relative`, or absolute ("July 10, 1980 at 9:30 am"; always for
  /// future dates). `gmt_offset` is the viewer's offset in minutes *west* of
  /// UTC (JavaScript's getTimezoneOffset), as Tornado's. `now` defaults to
  /// the clock and exists for tests.
  std::string format_date(TimePoint date, int gmt_offset = 0, bool relative = true,
                          bool shorter = false, bool full_format = false,
                          std::optional<TimePoint> now = std::nullopt) const;
  /// "Monday, January 22" (or "January 22" without `dow`).
  std::string format_day(TimePoint date, int gmt_offset = 0, bool dow = true) const;
  /// "A, B and C", "A and B" or "A".
  std::string list(const std::vector<std::string>& parts) const;
  /// 1234567 as "1,234,567" in English, unchanged elsewhere.
  std::string friendly_number(long long value) const;

 protected:
  /// A locale for `code` ("cs_CZ"); its name and direction come from the code.
  explicit Locale(std::string code);
  /// Translates the month and weekday names; called by the subclass once
  /// its catalogue is in place.
  void init_names();

 private:
  std::string code_;
  std::string name_;
  bool rtl_ = false;
  std::vector<std::string> months_;
  std::vector<std::string> weekdays_;
};

/// A locale backed by Tornado's CSV format: per plural indicator ("singular",
/// "plural", "unknown"), a map from the English string to its translation.
class CSVLocale : public Locale {
 public:
  /// Translations by plural form ("singular", "plural", "unknown") and message.
  using Table = std::map<std::string, std::map<std::string, std::string, std::less<>>, std::less<>>;
  /// A locale translating from `translations`.
  CSVLocale(std::string code, Table translations);
  std::string translate(std::string_view message) const override;
  std::string translate(std::string_view message, std::string_view plural_message,
                        long long count) const override;
  std::string pgettext(std::string_view context, std::string_view message) const override;
  /// Translates `message` in `context`, choosing the plural form by `count`.
  std::string pgettext(std::string_view context, std::string_view message,
                       std::string_view plural_message, long long count) const override;

 private:
  std::string lookup(std::string_view kind, std::string_view message) const;
  Table translations_;
};

/// A compiled gettext catalogue (`.mo`), read by tornado-cpp itself: plural
/// forms come from the catalogue's Plural-Forms header.
class GettextCatalog {
 public:
  /// Reads `path`; throws TranslationError naming it if it is not a valid
  /// catalogue (bad magic, offsets past the end, an unsupported charset or
  /// Plural-Forms expression).
  static std::shared_ptr<const GettextCatalog> load(const std::filesystem::path& path);
  /// Parses catalogue bytes; `name` is used in errors.
  static std::shared_ptr<const GettextCatalog> parse(std::string_view data, std::string name);

  /// Python's gettext.gettext / ngettext semantics.
  std::string gettext(std::string_view message) const;
  /// The plural-aware form of `gettext`.
  std::string ngettext(std::string_view message, std::string_view plural_message,
                       long long count) const;
  /// The plural form index for `count` (the Plural-Forms expression).
  long long plural_index(long long count) const;
  /// Header fields, lower-cased names ("content-type", "plural-forms"...).
  const std::map<std::string, std::string, std::less<>>& info() const noexcept { return info_; }

  struct PluralExpr;
  ~GettextCatalog();

 private:
  GettextCatalog() = default;
  std::map<std::string, std::string, std::less<>> messages_;
  std::map<std::string, std::vector<std::string>, std::less<>> plurals_;
  std::map<std::string, std::string, std::less<>> info_;
  std::shared_ptr<const PluralExpr> plural_;
};

/// A locale backed by a gettext catalogue.
class GettextLocale : public Locale {
 public:
  /// A locale translating from a compiled catalogue.
  GettextLocale(std::string code, std::shared_ptr<const GettextCatalog> catalog);
  std::string translate(std::string_view message) const override;
  std::string translate(std::string_view message, std::string_view plural_message,
                        long long count) const override;
  std::string pgettext(std::string_view context, std::string_view message) const override;
  /// Translates `message` in `context`, choosing the plural form by `count`.
  std::string pgettext(std::string_view context, std::string_view message,
                       std::string_view plural_message, long long count) const override;

 private:
  std::shared_ptr<const GettextCatalog> catalog_;
};

/// The closest supported locale for `codes`, tried in order: an exact match
/// ("pt_BR", also spelled "pt-br"), then its language ("pt"); the default
/// locale when none fits.
std::shared_ptr<const Locale> get(const std::vector<std::string>& codes);
std::shared_ptr<const Locale> get(std::initializer_list<std::string_view> codes);
/// Sets the locale the source strings are written in ("en_US" by default).
void set_default_locale(std::string code);
/// Loads every `LOCALE.csv` in `directory`, replacing earlier translations.
/// Each row is "string","translation"[,"singular"|"plural"|"unknown"];
/// UTF-8 with or without BOM, or UTF-16 with BOM. `encoding` forces
/// "utf-8" or "utf-16". Bad rows are logged and skipped, as Tornado does.
void load_translations(const std::filesystem::path& directory, std::string_view encoding = {});
/// Loads `directory/LANG/LC_MESSAGES/domain.mo` for every LANG, replacing
/// earlier translations. A catalogue that cannot be read is logged and skipped;
/// so is a missing `directory`, which leaves only the default locale, as Tornado's
/// glob does.
void load_gettext_translations(const std::filesystem::path& directory, std::string_view domain);
/// The supported codes (those loaded plus the default), sorted.
std::vector<std::string> get_supported_locales();

/// The language codes of an Accept-Language header, best first: q-values
/// order them (ties keep the header's order), q=0 and invalid q-values drop
/// a code. `RequestHandler::get_browser_locale` passes them to `get()`.
std::vector<std::string> accept_language_codes(std::string_view header);

/// Python's `format % mapping` for named placeholders: `%(name)s`,
/// `%(count)d` and `%%`. Throws std::invalid_argument for a placeholder the
/// mapping lacks or an unsupported conversion.
std::string format(std::string_view fmt, const nlohmann::json& values);

}  // namespace tornado::locale
