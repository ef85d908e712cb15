// tornado::template_: Tornado's template language, mirroring tornado.template.
//
// (`template` is a C++ keyword, hence the trailing underscore.)
//
// A template is text with `{{ expression }}` substitutions and `{% statement %}`
// directives, exactly as in Tornado:
//
//   <ul>
//   {% for item in items %}
//     <li>{{ item.name }}{% if item.price > 10 %} (expensive){% end %}</li>
//   {% end %}
//   </ul>
//
// Expressions are a safe subset of Python over JSON values and C++ objects (datetimes, handler,
// bound app types): names, `a.b`, `a[0]`, `d["k"]`, literals, comparisons, `and`/`or`/`not`,
// `in`, arithmetic, `x if c else y`, list comprehensions and calls of built-in or registered
// functions and of the objects' methods. Nothing else reaches the file system or the process.
// Every `{{ }}` is HTML-escaped unless `{% raw %}` or `{% autoescape None %}`.
// The output is the same, byte for byte, as Tornado's for the same template
// and values; docs/template.md lists the syntax with both calls side by side.
//
// A template is compiled once (at construction) into a tree; `generate` only
// walks it, and may be called from several threads at once.
//
//   tornado::template_::Template t("<b>{{ name }}</b>");
//   t.generate({{"name", "<Tom>"}});                        // "<b>&lt;Tom&gt;</b>"
//
//   tornado::template_::Loader loader("templates");          // caches compiled files
//   auto page = loader.load("index.html");
//   std::string html = page->generate({{"title", "Home"}},
//       {{"static_url", [](const std::vector<nlohmann::json>& a) {
//          return nlohmann::json("/static/" + a.at(0).get<std::string>()); }}});
#pragma once

#include <nlohmann/json.hpp>

#include <chrono>
#include <concepts>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

namespace tornado::detail {
struct CompiledTemplate;
struct LoaderState;
struct LoaderAccess;
}  // namespace tornado::detail

namespace tornado::template_ {

/// An error while rendering: unknown name, bad index, bad call... what()
/// reads "file:line: reason in {{ expression }}".
class TemplateError : public std::runtime_error {
 public:
  /// An error at `filename`:`line`; `error_type` names the Python exception Tornado would raise.
  TemplateError(std::string filename, int line, std::string reason, std::string source = {},
                std::string error_type = "TemplateError", std::exception_ptr cause = nullptr);

  /// The template's name as the Loader knows it ("<string>" for strings).
  const std::string& filename() const noexcept { return filename_; }
  /// 1-based line of the directive; 0 when not tied to a line.
  int line() const noexcept { return line_; }
  /// What went wrong, without the location.
  const std::string& reason() const noexcept { return reason_; }
  /// The directive as written, e.g. "{{ user.name }}"; may be empty.
  const std::string& source() const noexcept { return source_; }
  /// The Python exception class Tornado would raise (KeyError, NameError...).
  const std::string& error_type() const noexcept { return error_type_; }
  /// The exception a registered function threw, if that was the cause.
  std::exception_ptr cause() const noexcept { return cause_; }

 private:
  std::string filename_;
  int line_;
  std::string reason_;
  std::string source_;
  std::string error_type_;
  std::exception_ptr cause_;
};

/// A syntax error, raised when a template is compiled; what() reads e.g.
/// "index.html:12: expected {% end %} for {% if %} opened at line 3".
class ParseError : public TemplateError {
 public:
  /// A syntax error at `filename`:`line`.
  ParseError(std::string filename, int line, std::string reason)
      : TemplateError(std::move(filename), line, std::move(reason), {}, "ParseError") {}
};

// ---------------------------------------------------------------------------
// Values: JSON, lists, and C++ objects with attributes and methods

class Object;
template <class T>
class Class;

/// Specialise for an application type to let templates read it (see Class).
template <class T>
struct Binding {};

/// True when T has a Binding (see Class below), so a template can read it.
template <class T>
concept Bindable = requires(class Class<T>& c) {
  Binding<T>::bind(c);
};

/// The Object a bound application value becomes (see Class).
template <class T>
std::shared_ptr<const Object> bind_object(std::shared_ptr<const T> object);

/// True for a std::vector of a Bindable type.
template <class T>
inline constexpr bool is_bindable_vector = false;
template <class T, class A>
inline constexpr bool is_bindable_vector<std::vector<T, A>> = Bindable<T>;

/// A value a template sees: JSON (numbers, strings, lists, dicts, None), a
/// list of Values, or a C++ object (Object) with attributes and methods.
/// Converts implicitly from anything nlohmann::json accepts, from a type with
/// a Binding, from std::chrono time points and durations (DateTime,
/// TimeDelta) and from vectors and optionals of those.
class Value {
 public:
  /// None.
  Value() = default;
  /// A JSON value.
  Value(nlohmann::json json) : json_(std::move(json)) {}  // NOLINT: implicit on purpose
  /// JSON from a brace list, as nlohmann::json's.
  Value(nlohmann::json::initializer_list_t init) : json_(init) {}  // NOLINT
  /// Anything nlohmann::json is made from: numbers, strings, vectors, maps...
  template <class T>
  requires(!std::is_same_v<std::remove_cvref_t<T>, nlohmann::json> &&
           !std::is_same_v<std::remove_cvref_t<T>, Value> &&
           !std::is_base_of_v<Object, std::remove_cvref_t<T>> &&
           !std::is_same_v<std::remove_cvref_t<T>, nlohmann::ordered_json> &&
           !Bindable<std::remove_cvref_t<T>> && std::is_constructible_v<nlohmann::json, T&&>)
      Value(T&& value)  // NOLINT: implicit on purpose
      : json_(std::forward<T>(value)) {}
  /// JSON whose objects keep their insertion order: they become dicts that
  /// render, iterate and json_encode in that order, as Python's (an
  /// nlohmann::json object sorts its keys).
  Value(const nlohmann::ordered_json& json);  // NOLINT: implicit on purpose
  /// An object.
  Value(std::shared_ptr<const Object> object) : object_(std::move(object)) {}  // NOLINT
  /// An object of a class derived from Object.
  template <class O>
  requires(std::is_base_of_v<Object, O>) Value(std::shared_ptr<O> object)  // NOLINT
      : object_(std::shared_ptr<const Object>(std::move(object))) {}
  /// An application object with a Binding, copied into shared storage.
  template <Bindable T>
  Value(T object)  // NOLINT: implicit on purpose
      : object_(bind_object(std::make_shared<const T>(std::move(object)))) {}
  /// A shared application object with a Binding (not copied).
  template <Bindable T>
  Value(std::shared_ptr<const T> object)  // NOLINT
      : object_(bind_object(std::move(object))) {}
  /// A point in time: a naive datetime in UTC, as Python's utcnow().
  Value(std::chrono::system_clock::time_point time);  // NOLINT
  /// A point in time of another precision (sys_days, microseconds...).
  template <class D>
  requires(!std::is_same_v<D, std::chrono::system_clock::duration>)
      Value(std::chrono::time_point<std::chrono::system_clock, D> time)  // NOLINT
      : Value(std::chrono::time_point_cast<std::chrono::system_clock::duration>(time)) {}
  /// A duration: Python's timedelta.
  template <class Rep, class Period>
  Value(std::chrono::duration<Rep, Period> d)  // NOLINT
      : Value(from_duration(std::chrono::duration_cast<std::chrono::microseconds>(d))) {}
  /// A list whose items may be objects.
  template <class T>
  requires(!std::is_constructible_v<nlohmann::json, const std::vector<T>&>)
      Value(std::vector<T> items) {  // NOLINT
    std::vector<Value> list;
    list.reserve(items.size());
    for (auto& item : items) list.emplace_back(std::move(item));
    list_ = std::make_shared<const std::vector<Value>>(std::move(list));
  }
  /// None, or the value.
  template <class T>
  requires(!std::is_constructible_v<nlohmann::json, const std::optional<T>&>)
      Value(std::optional<T> value) {  // NOLINT
    if (value) *this = Value(std::move(*value));
  }
  /// A list of Values (`Value::list({entry, 3})`).
  static Value list(std::vector<Value> items);

  /// The JSON, or nullptr for an object or a list of Values.
  const nlohmann::json* json() const noexcept { return object_ || list_ ? nullptr : &json_; }
  /// The object, or nullptr.
  const Object* object() const noexcept { return object_.get(); }
  /// The object, shared; empty if this is not an object.
  const std::shared_ptr<const Object>& object_ptr() const noexcept { return object_; }
  /// The items of a list of Values, or nullptr.
  const std::vector<Value>* items() const noexcept { return list_.get(); }
  /// The bound application object of type T, or nullptr.
  template <class T>
  const T* as() const;
  /// The value as JSON: objects through Object::to_json(). Throws
  /// TemplateError (TypeError) for an object with no JSON form.
  nlohmann::json to_json() const;
  /// Python's str() of the value.
  std::string str() const;

 private:
  static Value from_duration(std::chrono::microseconds d);
  nlohmann::json json_;
  std::shared_ptr<const Object> object_;
  std::shared_ptr<const std::vector<Value>> list_;
};

/// The arguments of a call from a template: `f(a, b, key=c)`.
struct Arguments {
  /// The name the function was called by, for error messages.
  std::string_view function;
  /// `a, b` in `f(a, b, key=c)`.
  std::vector<Value> positional;
  /// `key=c` in `f(a, b, key=c)`, in order.
  std::vector<std::pair<std::string, Value>> keywords;

  /// The argument at `index`, or given as `keyword`; nullptr when absent.
  const Value* get(std::size_t index, std::string_view keyword = {}) const;
  /// As get(), but a missing argument is a TypeError, as in Python.
  const Value& at(std::size_t index, std::string_view keyword = {}) const;
  /// The argument as a string; a TypeError if it is absent or not a str.
  const std::string& str(std::size_t index, std::string_view keyword = {}) const;
};

/// Comparison and arithmetic operators an Object may implement.
enum class Operator : std::uint8_t { add, sub, mul, div, floordiv, mod, pow, lt, le, gt, ge, eq };

/// A C++ object a template can read: `obj.attr`, `obj.method(args)`,
/// `obj[key]`, `obj(args)`, `str(obj)`, `for x in obj`, comparisons and
/// arithmetic. Each hook has a default meaning Python's `object` has (no
/// attributes, not callable, compares by identity, `<Type object>`), so a
/// subclass overrides only what it supports. Application types usually do
/// not derive from it: they get a Binding (see Class) instead.
class Object {
 public:
  virtual ~Object() = default;
  /// Python's type name, used in error messages ("Entry").
  virtual std::string type_name() const = 0;
  /// `obj.name`: the attribute, or nullopt when there is none (AttributeError).
  virtual std::optional<Value> attribute(std::string_view name) const;
  /// `obj.name(args)`: nullopt when there is no such method, and then the
  /// attribute is looked up and called. Override to avoid building a bound
  /// method per call.
  virtual std::optional<Value> call_method(std::string_view name, const Arguments& args) const;
  /// `obj(args)`; a TypeError unless overridden.
  virtual Value call(const Arguments& args) const;
  /// `obj[key]`: nullopt when there is no such item (KeyError).
  virtual std::optional<Value> item(const Value& key) const;
  /// The items `for x in obj` iterates over; nullopt when not iterable.
  virtual std::optional<std::vector<Value>> iterate() const;
  /// `str(obj)`, also what `{{ obj }}` prints.
  virtual std::string str() const;
  /// `repr(obj)`.
  virtual std::string repr() const;
  /// `bool(obj)`.
  virtual bool truthy() const { return true; }
  /// `len(obj)`; nullopt when it has no length.
  virtual std::optional<std::int64_t> length() const { return std::nullopt; }
  /// `obj OP other` for arithmetic (add...pow) and comparisons (lt...eq,
  /// returning a bool Value). nullopt: unsupported, which is a TypeError
  /// (or identity for eq).
  virtual std::optional<Value> operate(Operator op, const Value& other) const;
  /// `other OP obj` when `other` does not support the operation.
  virtual std::optional<Value> operate_reflected(Operator op, const Value& other) const;
  /// The object as JSON, for json_encode() and for functions taking JSON;
  /// a TypeError unless overridden.
  virtual nlohmann::json to_json() const;
};

/// A callable Object made from a Function (`handler.get_argument` as a value).
std::shared_ptr<const Object> make_callable(std::string name,
                                            std::function<Value(const Arguments&)> function);

/// Python's datetime (naive, as Tornado's templates mostly see UTC times):
/// year, month, day, hour, minute, second, microsecond, weekday(),
/// isoweekday(), strftime(format), isoformat(sep="T"), timestamp(), date
/// comparisons and `datetime ± timedelta`, `datetime - datetime`.
class DateTime : public Object {
 public:
  /// The datetime of `time` (UTC).
  explicit DateTime(std::chrono::system_clock::time_point time) : time_(time) {}
  /// The point in time.
  std::chrono::system_clock::time_point time() const noexcept { return time_; }
  std::string type_name() const override { return "datetime"; }
  std::optional<Value> attribute(std::string_view name) const override;
  std::optional<Value> call_method(std::string_view name, const Arguments& args) const override;
  std::string str() const override;
  std::string repr() const override;
  std::optional<Value> operate(Operator op, const Value& other) const override;
  /// isoformat(), as json_encode would need a string.
  nlohmann::json to_json() const override;
  /// strftime with Python's directives (the C library's, plus %f).
  std::string strftime(std::string_view format) const;
  /// Python's isoformat(sep): "2024-03-09T14:05:07[.ffffff]".
  std::string isoformat(std::string_view separator = "T") const;

 private:
  std::chrono::system_clock::time_point time_;
};

/// Python's timedelta: days, seconds, microseconds, total_seconds(),
/// str() as "1 day, 2:03:04", comparisons, sums and scaling by numbers.
class TimeDelta : public Object {
 public:
  /// The timedelta of `duration`.
  explicit TimeDelta(std::chrono::microseconds duration) : duration_(duration) {}
  /// The duration.
  std::chrono::microseconds duration() const noexcept { return duration_; }
  std::string type_name() const override { return "timedelta"; }
  std::optional<Value> attribute(std::string_view name) const override;
  std::optional<Value> call_method(std::string_view name, const Arguments& args) const override;
  std::string str() const override;
  std::string repr() const override;
  bool truthy() const override { return duration_.count() != 0; }
  std::optional<Value> operate(Operator op, const Value& other) const override;
  std::optional<Value> operate_reflected(Operator op, const Value& other) const override;
  nlohmann::json to_json() const override;

 private:
  std::chrono::microseconds duration_;
};

/// The description of an application type T that templates can read, filled
/// in by `Binding<T>::bind`. Specialise Binding for your type:
///
///   struct Entry { std::string title; std::chrono::system_clock::time_point published; };
///
///   template <>
///   struct tornado::template_::Binding<Entry> {
///     static void bind(Class<Entry>& c) {
///       c.name("Entry")
///           .attribute("title", &Entry::title)
///           .attribute("published", &Entry::published)
///           .method("summary", [](const Entry& e, const Arguments& args) -> Value {
///             return e.title.substr(0, args.at(0, "n").to_json().get<std::size_t>());
///           });
///     }
///   };
///
/// Then `render("entry.html", {{"entry", entry}})` lets the template write
/// `{{ entry.title }}` and `{{ entry.published.strftime("%Y") }}`.
/// Members that are themselves bound types, vectors or optionals of them,
/// time points and durations become objects; the rest becomes JSON.
template <class T>
class Class {
 public:
  /// Reads an attribute of a shared object.
  using Getter = std::function<Value(const std::shared_ptr<const T>&)>;
  /// Runs a method with the call's arguments.
  using Method = std::function<Value(const T&, const Arguments&)>;

  /// The type's name in messages (`'Entry' object has no attribute 'x'`).
  Class& name(std::string type_name) {
    name_ = std::move(type_name);
    return *this;
  }
  /// `obj.name` reads the data member `member`.
  template <class M>
  Class& attribute(std::string attribute_name, M T::*member) requires(!std::is_function_v<M>) {
    getters_.emplace_back(std::move(attribute_name),
                          [member](const std::shared_ptr<const T>& self) {
                            return member_value(self, (*self).*member);
                          });
    return *this;
  }
  /// `obj.name` is what `getter(obj)` returns (a computed attribute).
  template <class F>
  requires(std::is_invocable_v<F&, const T&> &&
           !std::is_member_pointer_v<F>) Class& attribute(std::string attribute_name, F getter) {
    getters_.emplace_back(std::move(attribute_name),
                          [getter = std::move(getter)](const std::shared_ptr<const T>& self) {
                            return Value(getter(*self));
                          });
    return *this;
  }
  /// `obj.name(args)` calls `method(obj, args)`.
  Class& method(std::string method_name, Method method) {
    methods_.emplace_back(std::move(method_name), std::move(method));
    return *this;
  }
  /// What `str(obj)` and `{{ obj }}` print.
  Class& str(std::function<std::string(const T&)> to_string) {
    str_ = std::move(to_string);
    return *this;
  }
  /// What json_encode(obj) writes.
  Class& json(std::function<nlohmann::json(const T&)> to_json) {
    json_ = std::move(to_json);
    return *this;
  }

  /// The description, built once from Binding<T>::bind.
  static const Class& get() {
    static const Class description = [] {
      Class c;
      Binding<T>::bind(c);
      return c;
    }();
    return description;
  }

 private:
  template <class U>
  friend class BoundObject;

  template <class M>
  static Value member_value(const std::shared_ptr<const T>& self, const M& member) {
    if constexpr (Bindable<M>) {
      return Value(bind_object(std::shared_ptr<const M>(self, &member)));
    } else if constexpr (is_bindable_vector<M>) {
      std::vector<Value> items;
      items.reserve(member.size());
      for (const auto& item : member) {
        using Item = std::remove_cvref_t<decltype(item)>;
        items.emplace_back(bind_object(std::shared_ptr<const Item>(self, &item)));
      }
      return Value::list(std::move(items));
    } else {
      return Value(member);
    }
  }

  std::string name_ = "object";
  std::vector<std::pair<std::string, Getter>> getters_;
  std::vector<std::pair<std::string, Method>> methods_;
  std::function<std::string(const T&)> str_;
  std::function<nlohmann::json(const T&)> json_;
};

/// The Object a bound application value becomes.
template <class T>
class BoundObject : public Object {
 public:
  /// The object that reads `value` through Binding<T>.
  explicit BoundObject(std::shared_ptr<const T> value) : value_(std::move(value)) {}
  /// The application value.
  const T& value() const noexcept { return *value_; }
  std::string type_name() const override { return Class<T>::get().name_; }
  std::optional<Value> attribute(std::string_view name) const override {
    const Class<T>& c = Class<T>::get();
    for (const auto& [n, getter] : c.getters_) {
      if (n == name) return getter(value_);
    }
    for (const auto& entry : c.methods_) {
      if (entry.first == name) {
        const auto* method = &entry.second;
        return Value(make_callable(entry.first, [self = value_, method](const Arguments& args) {
          return (*method)(*self, args);
        }));
      }
    }
    return std::nullopt;
  }
  std::optional<Value> call_method(std::string_view name, const Arguments& args) const override {
    for (const auto& [n, method] : Class<T>::get().methods_) {
      if (n == name) return method(*value_, args);
    }
    return std::nullopt;
  }
  std::string str() const override {
    const Class<T>& c = Class<T>::get();
    return c.str_ ? c.str_(*value_) : Object::str();
  }
  nlohmann::json to_json() const override {
    const Class<T>& c = Class<T>::get();
    return c.json_ ? c.json_(*value_) : Object::to_json();
  }

 private:
  std::shared_ptr<const T> value_;
};

template <class T>
std::shared_ptr<const Object> bind_object(std::shared_ptr<const T> object) {
  return std::make_shared<const BoundObject<T>>(std::move(object));
}

template <class T>
const T* Value::as() const {
  if (const auto* bound = dynamic_cast<const BoundObject<T>*>(object_.get()))
    return &bound->value();
  return nullptr;
}

class Object;
class Value;
struct Arguments;

/// A function callable from templates. Built from either of two signatures:
///   - `nlohmann::json(const std::vector<nlohmann::json>& args)`: positional
///     arguments in order, keyword arguments (`f(x, plus=False)`) as one
///     trailing JSON object; objects among the arguments are converted with
///     Object::to_json().
///   - `Value(const Arguments& args)`: arguments as given, objects included.
class Function {
 public:
  /// The signature every function is stored as.
  using Call = std::function<Value(const Arguments&)>;
  /// No function: calling it is a TypeError.
  Function() = default;
  /// From a callable taking and returning JSON.
  template <class F>
  requires(std::is_invocable_r_v<nlohmann::json, F&, const std::vector<nlohmann::json>&>)
      Function(F f)  // NOLINT: implicit, so that lambdas convert
      : call_(json_adaptor(
            std::function<nlohmann::json(const std::vector<nlohmann::json>&)>(std::move(f)))) {}
  /// From a callable taking Arguments and returning a Value.
  template <class F>
  requires(std::is_invocable_r_v<Value, F&, const Arguments&> &&
           !std::is_invocable_r_v<nlohmann::json, F&, const std::vector<nlohmann::json>&>)
      Function(F f)  // NOLINT: implicit, so that lambdas convert
      : call_(std::move(f)) {}

  /// Calls the function; throws what it throws.
  Value operator()(const Arguments& args) const;
  /// True unless default-constructed.
  explicit operator bool() const noexcept { return static_cast<bool>(call_); }

 private:
  static Call json_adaptor(std::function<nlohmann::json(const std::vector<nlohmann::json>&)> f);
  Call call_;
};

/// Functions by name: application helpers (the Loader's), per-request helpers
/// (static_url, reverse_url, xsrf_form_html) and UI modules for
/// `{% module Name(args) %}`, whose string result is inserted unescaped.
using Functions = std::map<std::string, Function, std::less<>>;

/// The names a template sees, as Tornado's generate(**kwargs): JSON values,
/// objects and lists in one table; a later set() of a name replaces it.
///
///   Namespace ns{{"entry", entry}, {"count", 3}};   // any mix
///   ns.set("request", request_object);
///   page->generate(ns);
///
/// A Namespace made from a JSON object lvalue refers to it without copying
/// (the object must outlive the Namespace); from an rvalue, it keeps it.
class Namespace {
 public:
  /// No names.
  Namespace() = default;
  /// The names of the JSON object `values`, referred to (not copied).
  Namespace(const nlohmann::json& values);  // NOLINT: implicit on purpose
  /// The names of the JSON object `values`, kept.
  Namespace(nlohmann::json&& values);  // NOLINT: implicit on purpose
  /// `{{"entry", entry}, {"count", 3}}`: any mix of JSON and objects.
  Namespace(std::initializer_list<std::pair<std::string, Value>> values);
  /// A copy (a referred-to JSON object is copied).
  Namespace(const Namespace& other);
  /// Takes `other`'s names.
  Namespace(Namespace&& other) noexcept;
  /// A copy (a referred-to JSON object is copied).
  Namespace& operator=(const Namespace& other);
  /// Takes `other`'s names.
  Namespace& operator=(Namespace&& other) noexcept;
  ~Namespace();

  /// Binds `name` to `value`, replacing an earlier binding.
  Namespace& set(std::string_view name, Value value);
  /// Binds every name of `other`, replacing earlier bindings (dict.update).
  Namespace& update(const Namespace& other);
  /// The value bound to `name`, or nullopt.
  std::optional<Value> get(std::string_view name) const;
  /// True if `name` is bound.
  bool contains(std::string_view name) const;

  /// The JSON-valued names: a JSON object, or null when there are none.
  const nlohmann::json& json() const noexcept { return values_ ? *values_ : owned_; }
  /// The names bound to objects and lists of Values, in binding order.
  const std::vector<std::pair<std::string, Value>>& objects() const noexcept { return objects_; }

 private:
  nlohmann::json& own();
  nlohmann::json owned_;                    // null until a JSON name is set
  const nlohmann::json* values_ = nullptr;  // owned_ or the borrowed object
  std::vector<std::pair<std::string, Value>> objects_;
};

/// The default of max_value_size (TemplateOptions, LoaderOptions, and the
/// template_max_value_size setting of tornado::web): 64 MiB.
inline constexpr std::size_t kDefaultMaxValueSize = 64 * 1024 * 1024;

/// Options of a Template, as Tornado's Template keyword arguments.
struct TemplateOptions {
  /// Function applied to every `{{ }}`: "xhtml_escape" (the default when no
  /// loader), another function name, or "" / "None" for no escaping. Unset:
  /// the loader's setting.
  std::optional<std::string> autoescape;
  /// "all", "single" or "oneline". Unset: the loader's, else "single" for
  /// .html and .js files and "all" for others.
  std::optional<std::string> whitespace;
  /// Largest value an expression may build (`s * n`, `a + b`, joins, lists,
  /// formatting...) and largest output of one generate(), in bytes: a string
  /// counts its bytes, each list item or dict entry 16 bytes more. Past it,
  /// rendering fails with a MemoryError naming the file and line. A render
  /// uses the limit of the template generate() was called on. Unset: the
  /// loader's, else kDefaultMaxValueSize.
  std::optional<std::size_t> max_value_size;
};

/// Options of a Loader, as Tornado's Loader keyword arguments.
struct LoaderOptions {
  /// Default autoescape function for the templates it loads ("" for none).
  std::string autoescape = "xhtml_escape";
  /// Default whitespace mode; unset: by file name, as TemplateOptions.
  std::optional<std::string> whitespace;
  /// Functions every template loaded here can call (Tornado's `namespace`).
  Functions functions;
  /// Recompile a template when its file, or a file it extends or includes,
  /// changed on disk (Tornado's debug / compiled_template_cache=False).
  bool debug = false;
  /// Default max_value_size of the templates it loads (see TemplateOptions).
  std::size_t max_value_size = kDefaultMaxValueSize;
};

class BaseLoader;

/// A compiled template.
class Template {
 public:
  /// Compiles `source`; `name` is used in error messages and to resolve
  /// relative `{% extends %}` / `{% include %}` names through `loader`.
  /// Throws ParseError on a syntax error.
  explicit Template(std::string source, std::string name = "<string>",
                    const BaseLoader* loader = nullptr, TemplateOptions options = {});
  ~Template();
  /// Moves the compiled template.
  Template(Template&&) noexcept;
  /// Replaces this template with `other`'s compiled one.
  Template& operator=(Template&&) noexcept;

  /// Renders the template with `values` (a JSON object) as its namespace and
  /// `functions` as callable helpers. Throws TemplateError.
  std::string generate(const Namespace& values = {}, const Functions& functions = {}) const;
  /// As generate(), appending to `out`.
  void generate_to(std::string& out, const Namespace& values,
                   const Functions& functions = {}) const;

  /// The name given to the constructor.
  const std::string& name() const noexcept;

 private:
  friend struct detail::CompiledTemplate;
  std::unique_ptr<detail::CompiledTemplate> impl_;
};

/// What every loader shares, Tornado's BaseLoader: caching compiled
/// templates (safe to share between threads), resolving relative names,
/// refusing cycles, and recompiling changed templates in debug mode. Derive
/// from it to load templates from elsewhere (a database, resources linked
/// into the binary): implement load_source(), and version() for reloading.
class BaseLoader {
 public:
  /// A loader whose templates get `options`.
  explicit BaseLoader(LoaderOptions options = {});
  virtual ~BaseLoader();
  BaseLoader(const BaseLoader&) = delete;
  BaseLoader& operator=(const BaseLoader&) = delete;

  /// Returns the compiled template `name`, compiling it on first use.
  /// `parent_path` is the name of the template that refers to it, against
  /// which a relative name is resolved. Throws ParseError or TemplateError.
  std::shared_ptr<const Template> load(std::string_view name,
                                       std::string_view parent_path = "") const;
  /// Resolves `name` relative to `parent_path` ("a/b.html" + "c.html" is
  /// "a/c.html"). Throws TemplateError for an absolute name, a NUL byte or a
  /// name that climbs above the top with "..".
  virtual std::string resolve_path(std::string_view name, std::string_view parent_path = "") const;
  /// Forgets every compiled template.
  void reset();
  /// The names of every template compiled so far, with those they extend
  /// or include (what autoreload watches).
  std::vector<std::string> loaded_names() const;
  /// The options every template loaded here gets.
  const LoaderOptions& options() const noexcept;

 protected:
  /// The text of template `name` (as resolve_path returned it). Throws
  /// TemplateError (FileNotFoundError) when there is none.
  virtual std::string load_source(const std::string& name) const = 0;
  /// A stamp that changes when template `name` changes; with
  /// LoaderOptions::debug a changed stamp recompiles the template and those
  /// that extend or include it. The default never changes.
  virtual std::string version(const std::string& name) const;

 private:
  friend struct detail::LoaderAccess;
  std::unique_ptr<detail::LoaderState> state_;
};

/// Loads templates from a root directory, Tornado's Loader. Names are
/// relative to the root; a name that would leave it ("..", an absolute path,
/// a symlink pointing out, a NUL byte) is refused with a TemplateError.
class Loader : public BaseLoader {
 public:
  /// Loads templates from under `root` (Tornado's `Loader(root_directory, ...)`).
  explicit Loader(std::filesystem::path root, LoaderOptions options = {});
  /// The root directory.
  const std::filesystem::path& root() const noexcept { return root_; }
  /// The files of every template compiled so far, with those they extend or
  /// include (what autoreload watches).
  std::vector<std::filesystem::path> loaded_files() const;

 protected:
  std::string load_source(const std::string& name) const override;
  /// The file's modification time and size.
  std::string version(const std::string& name) const override;

 private:
  std::filesystem::path root_;
};

/// Loads templates from a map of name to source, Tornado's DictLoader (for
/// tests, and templates compiled into the program).
class DictLoader : public BaseLoader {
 public:
  /// Loads the templates of `templates` (name to source).
  explicit DictLoader(std::map<std::string, std::string, std::less<>> templates,
                      LoaderOptions options = {});

 protected:
  std::string load_source(const std::string& name) const override;

 private:
  std::map<std::string, std::string, std::less<>> templates_;
};

}  // namespace tornado::template_
