// Tests for tornado::options: definitions, command line, config files,
// help output, callbacks, the logging option and the exiting entry points.
#include "tornado/options.h"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>

#include <unistd.h>

#include "tornado/log.h"

namespace options = tornado::options;
using options::OptionError;
using options::OptionParser;

namespace {

// Asserts that `fn` throws OptionError with exactly `message`.
template <class Fn>
void expect_option_error(Fn&& fn, std::string_view message) {
  try {
    fn();
    ADD_FAILURE() << "expected OptionError: " << message;
  } catch (const OptionError& e) {
    EXPECT_EQ(std::string_view(e.what()), message);
  }
}

OptionParser app_parser() {
  OptionParser parser;
  parser.define("port", 8888, "run on the given port");
  parser.define("address", "127.0.0.1", "bind to this address");
  parser.define("debug", false, "debug mode", "application");
  parser.define<std::int64_t>("max_body_size", 1 << 20, "largest request body");
  parser.define("ratio", 0.5, "a float");
  parser.define("hosts", std::vector<std::string>{"a", "b"}, "allowed hosts");
  return parser;
}

// Restores the log level a test changes.
class LevelGuard {
 public:
  LevelGuard() : saved_(tornado::log::level()) {}
  ~LevelGuard() { tornado::log::set_level(saved_); }

 private:
  tornado::log::Level saved_;
};

}  // namespace

TEST(Options, DefineAndGetEveryType) {
  OptionParser parser = app_parser();
  EXPECT_EQ(parser.get<int>("port"), 8888);
  EXPECT_EQ(parser.get<std::string>("address"), "127.0.0.1");
  EXPECT_FALSE(parser.get<bool>("debug"));
  EXPECT_EQ(parser.get<std::int64_t>("max-body-size"), 1 << 20);
  EXPECT_EQ(parser.get<double>("ratio"), 0.5);
  EXPECT_EQ(parser.get<std::vector<std::string>>("hosts"), (std::vector<std::string>{"a", "b"}));
  EXPECT_FALSE(parser.get<bool>("help"));
  EXPECT_EQ(parser.option("max_body_size").name, "max-body-size");
  EXPECT_EQ(parser.option("port").type_name(), "int");
  EXPECT_EQ(parser.option("hosts").type_name(), "list");
  EXPECT_TRUE(parser.option("hosts").multiple());
}

TEST(Options, WrongTypeOrUnknownNameThrows) {
  OptionParser parser = app_parser();
  expect_option_error([&] { parser.get<std::string>("port"); },
                      "option --port is of type int, not string");
  expect_option_error([&] { parser.get<std::int64_t>("port"); },
                      "option --port is of type int, not int64");
  expect_option_error([&] { parser.get<int>("nope"); }, "unrecognized option '--nope'");
  expect_option_error([&] { parser.set("port", "9000"); },
                      "option --port is of type int, not string");
}

TEST(Options, RedefinitionAndBadNamesThrow) {
  OptionParser parser = app_parser();
  expect_option_error([&] { parser.define("port", 1); }, "option --port already defined");
  expect_option_error([&] { parser.define("max-body-size", 1); },
                      "option --max-body-size already defined");
  expect_option_error([&] { parser.define("", 1); }, "invalid option name ''");
  expect_option_error([&] { parser.define("a=b", 1); }, "invalid option name 'a=b'");
}

TEST(Options, DashesAndUnderscoresAreEquivalent) {
  OptionParser parser;
  parser.define("log_file_prefix", "x");
  EXPECT_TRUE(parser.contains("log-file-prefix"));
  EXPECT_TRUE(parser.contains("log_file-prefix"));
  parser.parse_command_line({"prog", "--log-file-prefix=/tmp/a"});
  EXPECT_EQ(parser.get<std::string>("log_file_prefix"), "/tmp/a");
  parser.parse_command_line({"prog", "--log_file_prefix", "/tmp/b"});
  EXPECT_EQ(parser.get<std::string>("log-file-prefix"), "/tmp/b");
}

TEST(Options, SetProgrammatically) {
  OptionParser parser = app_parser();
  parser.set("port", 9000);
  parser.set("address", "0.0.0.0");
  parser.set("hosts", std::vector<std::string>{"x"});
  EXPECT_EQ(parser.get<int>("port"), 9000);
  EXPECT_EQ(parser.get<std::string>("address"), "0.0.0.0");
  EXPECT_EQ(parser.get<std::vector<std::string>>("hosts"), std::vector<std::string>{"x"});
}

TEST(Options, CommandLineBothSpellings) {
  OptionParser parser = app_parser();
  auto rest =
      parser.parse_command_line({"prog", "--port=9000", "--address", "0.0.0.0", "--debug",
                                 "--ratio=2.5e-1", "--max-body-size", "-1", "--hosts=x,y,z"});
  EXPECT_TRUE(rest.empty());
  EXPECT_EQ(parser.get<int>("port"), 9000);
  EXPECT_EQ(parser.get<std::string>("address"), "0.0.0.0");
  EXPECT_TRUE(parser.get<bool>("debug"));
  EXPECT_EQ(parser.get<double>("ratio"), 0.25);
  EXPECT_EQ(parser.get<std::int64_t>("max_body_size"), -1);
  EXPECT_EQ(parser.get<std::vector<std::string>>("hosts"),
            (std::vector<std::string>{"x", "y", "z"}));
}

TEST(Options, BoolSpellings) {
  OptionParser parser = app_parser();
  for (auto [text, expected] : std::vector<std::pair<std::string, bool>>{{"true", true},
                                                                         {"True", true},
                                                                         {"1", true},
                                                                         {"yes", true},
                                                                         {"on", true},
                                                                         {"t", true},
                                                                         {"false", false},
                                                                         {"FALSE", false},
                                                                         {"0", false},
                                                                         {"no", false},
                                                                         {"off", false},
                                                                         {"f", false}}) {
    parser.parse_command_line({"prog", "--debug=" + text});
    EXPECT_EQ(parser.get<bool>("debug"), expected) << text;
  }
  // A bool alone never takes the next argument as its value.
  auto rest = parser.parse_command_line({"prog", "--debug", "false"});
  EXPECT_TRUE(parser.get<bool>("debug"));
  EXPECT_EQ(rest, std::vector<std::string>{"false"});
}

TEST(Options, PositionalArgumentsStopParsing) {
  OptionParser parser = app_parser();
  auto rest = parser.parse_command_line({"prog", "--port=1", "file.txt", "--port=2", "-x"});
  EXPECT_EQ(parser.get<int>("port"), 1);
  EXPECT_EQ(rest, (std::vector<std::string>{"file.txt", "--port=2", "-x"}));
  rest = parser.parse_command_line({"prog", "--port=3", "--", "--port=4"});
  EXPECT_EQ(parser.get<int>("port"), 3);
  EXPECT_EQ(rest, (std::vector<std::string>{"--port=4"}));
  // A single dash works too, as in Tornado.
  parser.parse_command_line({"prog", "-port=5"});
  EXPECT_EQ(parser.get<int>("port"), 5);
}

TEST(Options, ArgcArgvOverload) {
  OptionParser parser = app_parser();
  const char* argv[] = {"/usr/bin/echo_server", "--port", "7000", "extra"};
  auto rest = parser.parse_command_line(4, argv);
  EXPECT_EQ(parser.get<int>("port"), 7000);
  EXPECT_EQ(rest, std::vector<std::string>{"extra"});
  EXPECT_TRUE(parser.help_text().starts_with("Usage: echo_server [OPTIONS]\n"));
}

TEST(Options, CommandLineErrorsAreOneClearLine) {
  OptionParser parser = app_parser();
  expect_option_error(
      [&] {
        parser.parse_command_line({"prog", "--port=abc"});
      },
      "--port: 'abc' is not an integer");
  expect_option_error(
      [&] {
        parser.parse_command_line({"prog", "--port", "abc"});
      },
      "--port: 'abc' is not an integer");
  expect_option_error(
      [&] {
        parser.parse_command_line({"prog", "--port=99999999999"});
      },
      "--port: '99999999999' is out of range for an integer");
  expect_option_error(
      [&] {
        parser.parse_command_line({"prog", "--port=8o"});
      },
      "--port: '8o' is not an integer");
  expect_option_error(
      [&] {
        parser.parse_command_line({"prog", "--port="});
      },
      "--port: '' is not an integer");
  expect_option_error(
      [&] {
        parser.parse_command_line({"prog", "--port"});
      },
      "--port: option requires a value");
  expect_option_error(
      [&] {
        parser.parse_command_line({"prog", "--ratio=fast"});
      },
      "--ratio: 'fast' is not a number");
  expect_option_error(
      [&] {
        parser.parse_command_line({"prog", "--ratio=inf"});
      },
      "--ratio: 'inf' is not a number");
  expect_option_error(
      [&] {
        parser.parse_command_line({"prog", "--debug=maybe"});
      },
      "--debug: 'maybe' is not a boolean (true or false)");
  expect_option_error(
      [&] {
        parser.parse_command_line({"prog", "--prot=80"});
      },
      "unrecognized option '--prot' (see --help)");
  expect_option_error(
      [&] {
        parser.parse_command_line({"prog", "--bad\nname"});
      },
      "unrecognized option '--bad?name' (see --help)");
  // Earlier options keep the value they got before the error.
  EXPECT_EQ(parser.get<int>("port"), 8888);
}

TEST(Options, HelpRequested) {
  OptionParser parser = app_parser();
  EXPECT_THROW(parser.parse_command_line({"prog", "--help"}), options::HelpRequested);
  EXPECT_THROW(parser.parse_command_line({"prog", "--port=1", "--help", "--junk"}),
               options::HelpRequested);
  EXPECT_NO_THROW(parser.parse_command_line({"prog", "--help=false"}));
}

TEST(Options, HelpTextListsEveryOptionGrouped) {
  OptionParser parser = app_parser();
  parser.define<std::string>("secret", "", "no default shown for an empty string");
  parser.define("verbose_name_that_is_rather_long", 1, "", "", "NUMBER");
  std::string help = parser.help_text("echo");
  EXPECT_EQ(help,
            "Usage: echo [OPTIONS]\n"
            "\n"
            "Options:\n"
            "\n"
            "  --address                        bind to this address (default 127.0.0.1)\n"
            "  --help                           show this help information (default false)\n"
            "  --hosts                          allowed hosts (default a,b)\n"
            "  --max-body-size                  largest request body (default 1048576)\n"
            "  --port                           run on the given port (default 8888)\n"
            "  --ratio                          a float (default 0.5)\n"
            "  --secret                         no default shown for an empty string\n"
            "  --verbose-name-that-is-rather-long=NUMBER\n"
            "                                   (default 1)\n"
            "\n"
            "application options:\n"
            "\n"
            "  --debug                          debug mode (default false)\n");
}

TEST(Options, HelpTextWrapsLongDescriptions) {
  OptionParser parser;
  parser.define("x", 1,
                "a description long enough that it has to be wrapped over more than one line of "
                "the help output");
  std::string help = parser.help_text("p");
  EXPECT_NE(
      help.find("  --x                              a description long enough that it has to be\n"
                "                                   wrapped over more than one line of the help\n"
                "                                   output (default 1)\n"),
      std::string::npos)
      << help;
}

TEST(Options, ParseCallbacksRunWhenFinal) {
  OptionParser parser = app_parser();
  std::vector<int> seen;
  parser.add_parse_callback([&] { seen.push_back(parser.get<int>("port")); });
  parser.add_parse_callback([&] { seen.push_back(-1); });
  parser.parse_command_line({"prog", "--port=1"}, false);
  EXPECT_TRUE(seen.empty());
  parser.parse_command_line({"prog", "--port=2"});
  EXPECT_EQ(seen, (std::vector<int>{2, -1}));
  parser.parse_config_text("port = 3", "<test>");
  EXPECT_EQ(seen, (std::vector<int>{2, -1, 3, -1}));
  parser.run_parse_callbacks();
  EXPECT_EQ(seen.size(), 6u);
}

TEST(Options, OptionCallbackSeesParsedValueAndMayRefuse) {
  OptionParser parser;
  std::vector<int> values;
  parser.define("workers", 1, "loops", "", "N", [&](int value) {
    if (value < 1) throw OptionError("must be at least 1");
    values.push_back(value);
  });
  parser.parse_command_line({"prog", "--workers=4"});
  EXPECT_EQ(values, std::vector<int>{4});
  expect_option_error(
      [&] {
        parser.parse_command_line({"prog", "--workers=0"});
      },
      "--workers: must be at least 1");
  EXPECT_EQ(parser.get<int>("workers"), 4);
  // `set` is not parsing: no callback.
  parser.set("workers", 0);
  EXPECT_EQ(values.size(), 1u);
}

TEST(Options, LoggingOptionSetsLevel) {
  LevelGuard guard;
  OptionParser parser;
  options::define_logging_options(parser);
  EXPECT_EQ(parser.get<std::string>("logging"), "info");
  parser.parse_command_line({"prog", "--logging=warning"});
  EXPECT_EQ(tornado::log::level(), tornado::log::Level::warning);
  parser.parse_command_line({"prog", "--logging", "none"});
  EXPECT_EQ(tornado::log::level(), tornado::log::Level::none);
  expect_option_error(
      [&] {
        parser.parse_command_line({"prog", "--logging=loud"});
      },
      "--logging: 'loud' is not one of debug, info, warning, error, none");
  EXPECT_EQ(parser.get<std::string>("logging"), "none");
  EXPECT_NE(parser.help_text().find("--logging=debug|info|warning|error|none"), std::string::npos);
}

TEST(Options, ConfigText) {
  OptionParser parser = app_parser();
  parser.parse_config_text(
      "# a comment\n"
      "\n"
      "port = 8000   # trailing comment\n"
      "address='10.0.0.1'\n"
      "debug = True\n"
      "max_body_size = 104857600\n"
      "ratio = 1e3\n"
      "hosts = [\"one\", 'two, three', four ]\n"
      "  \r\n",
      "app.conf");
  EXPECT_EQ(parser.get<int>("port"), 8000);
  EXPECT_EQ(parser.get<std::string>("address"), "10.0.0.1");
  EXPECT_TRUE(parser.get<bool>("debug"));
  EXPECT_EQ(parser.get<std::int64_t>("max-body-size"), 104857600);
  EXPECT_EQ(parser.get<double>("ratio"), 1000.0);
  EXPECT_EQ(parser.get<std::vector<std::string>>("hosts"),
            (std::vector<std::string>{"one", "two, three", "four"}));
}

TEST(Options, ConfigStringLiterals) {
  OptionParser parser = app_parser();
  parser.parse_config_text(R"(address = "a \"quoted\" #not-a-comment\\ \n\t\x" # comment)");
  EXPECT_EQ(parser.get<std::string>("address"), "a \"quoted\" #not-a-comment\\ \n\t\\x");
  parser.parse_config_text("address = 'it\\'s'\nhosts = a,b\n", "", false);
  EXPECT_EQ(parser.get<std::string>("address"), "it's");
  EXPECT_EQ(parser.get<std::vector<std::string>>("hosts"), (std::vector<std::string>{"a", "b"}));
}

TEST(Options, ConfigErrorsNameFileAndLine) {
  OptionParser parser = app_parser();
  expect_option_error([&] { parser.parse_config_text("port = 1\nprot = 2\n", "app.conf"); },
                      "app.conf:2: unknown option 'prot'");
  expect_option_error([&] { parser.parse_config_text("\n\nport = abc", "app.conf"); },
                      "app.conf:3: port: 'abc' is not an integer");
  expect_option_error([&] { parser.parse_config_text("port 8000", "app.conf"); },
                      "app.conf:1: expected 'name = value'");
  expect_option_error([&] { parser.parse_config_text("address = \"open", "c"); },
                      "c:1: address: unterminated string");
  expect_option_error([&] { parser.parse_config_text("address = \"a\" b", "c"); },
                      "c:1: address: unexpected text after the value: 'b'");
  expect_option_error([&] { parser.parse_config_text("port = [1]", "c"); },
                      "c:1: port: a list is only allowed for a multiple option");
  expect_option_error([&] { parser.parse_config_text("hosts = [\"a\"", "c"); },
                      "c:1: hosts: unterminated list");
}

TEST(Options, ConfigFile) {
  auto path = std::filesystem::temp_directory_path() / "tornado_options_test.conf";
  {
    std::ofstream out(path);
    out << "port = 8123\naddress = \"::1\"\n";
  }
  OptionParser parser = app_parser();
  parser.parse_config_file(path);
  std::filesystem::remove(path);
  EXPECT_EQ(parser.get<int>("port"), 8123);
  EXPECT_EQ(parser.get<std::string>("address"), "::1");
  EXPECT_THROW(parser.parse_config_file(path), OptionError);
}

// The free functions use the process-wide parser; exiting paths run in a
// child process (death tests).
TEST(OptionsDeathTest, BadValueExitsTwoWithOneLine) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  options::define("port", 8888, "port");
  const char* argv[] = {"prog", "--port=abc"};
  EXPECT_EXIT(options::parse_command_line(2, argv), ::testing::ExitedWithCode(2),
              "^error: --port: 'abc' is not an integer\n$");
  const char* unknown[] = {"prog", "--nope"};
  EXPECT_EXIT(options::parse_command_line(2, unknown), ::testing::ExitedWithCode(2),
              "^error: unrecognized option '--nope' \\(see --help\\)\n$");
}

TEST(OptionsDeathTest, HelpExitsZero) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  const char* argv[] = {"prog", "--help"};
  EXPECT_EXIT(
      {
        // The help goes to stdout; the matcher reads stderr, so copy it there.
        std::fflush(stdout);
        dup2(2, 1);
        options::parse_command_line(2, argv);
      },
      ::testing::ExitedWithCode(0), "--logging=debug\\|info\\|warning\\|error\\|none");
}

TEST(Options, DefaultParserHasHelpAndLogging) {
  EXPECT_TRUE(options::options().contains("help"));
  EXPECT_TRUE(options::options().contains("logging"));
  options::define("options_test_flag", true, "a flag");
  EXPECT_TRUE(options::get<bool>("options-test-flag"));
  const char* argv[] = {"prog", "--options-test-flag=false", "rest"};
  auto rest = options::parse_command_line(3, argv);
  EXPECT_FALSE(options::get<bool>("options_test_flag"));
  EXPECT_EQ(rest, std::vector<std::string>{"rest"});
}
