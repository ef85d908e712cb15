// Renders the 100-row table page (tests/data/template/table: a base layout,
// a child template with a loop, conditionals, escaping and formatting) and
// reports renders per second. tools/template-bench/template_bench.py runs the
// same page through Tornado's engine for comparison.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>

#include "tornado/escape.h"
#include "tornado/template.h"

namespace {

std::string page_dir() {
  const char* override_dir = std::getenv("TEMPLATE_BENCH_PAGE");
  return override_dir ? override_dir : TEMPLATE_BENCH_PAGE;
}

nlohmann::json page_values() {
  std::ifstream in(page_dir() + "/case.json");
  std::stringstream text;
  text << in.rdbuf();
  return nlohmann::json::parse(text.str()).at("values");
}

void BM_RenderTablePage(benchmark::State& state) {
  tornado::template_::Loader loader(page_dir());
  const auto page = loader.load("table.html");
  const nlohmann::json values = page_values();
  std::string out;
  for (auto _ : state) {
    out.clear();
    page->generate_to(out, values);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * out.size()));
  state.counters["renders_per_second"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_RenderTablePage);

void BM_RenderTablePageFreshString(benchmark::State& state) {
  tornado::template_::Loader loader(page_dir());
  const auto page = loader.load("table.html");
  const nlohmann::json values = page_values();
  for (auto _ : state) {
    std::string out = page->generate(values);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_RenderTablePageFreshString);

void BM_CompileTablePage(benchmark::State& state) {
  for (auto _ : state) {
    tornado::template_::Loader loader(page_dir());
    benchmark::DoNotOptimize(loader.load("table.html").get());
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CompileTablePage);

void BM_XhtmlEscape(benchmark::State& state) {
  const std::string text = "Item <42> & \"friends\" say 'hi' to everyone in the room";
  for (auto _ : state) benchmark::DoNotOptimize(tornado::escape::xhtml_escape(text));
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * text.size()));
}
BENCHMARK(BM_XhtmlEscape);

}  // namespace

BENCHMARK_MAIN();
