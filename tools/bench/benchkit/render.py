"""The render step: the terminal table, docs/performance.md and the plot, from a results file."""

import os
import shutil
import tempfile

from .common import CEILING, PERFORMANCE_MD, PROJECT, REFERENCE, ROOT, log, run_command


# ---------------------------------------------------------------------------
# Render


def fmt_value(value, unit):
    if value is None:
        return "-"
    if unit == "KiB/conn":
        return f"{value:.2f}"
    if unit == "MiB":
        return f"{value:,.1f}"
    return f"{value:,.0f}"


def cell(entry, case, name, figure="value"):
    if entry is None or entry.get(figure) is None:
        return "n/a"
    suffix = "" if figure == "value" else "_per_cpu"
    text = fmt_value(entry.get(figure), case.unit)
    ratios = []
    if name != REFERENCE and "vs_tornado" + suffix in entry:
        ratios.append(f"{entry['vs_tornado' + suffix]:.2f}×T")
    if name != CEILING and "vs_ceiling" + suffix in entry:
        ratios.append(f"{entry['vs_ceiling' + suffix]:.2f}×C")
    if ratios:
        text += " (" + ", ".join(ratios) + ")"
    if figure == "value":
        if "p99_ms" in entry:
            text += f", p99 {entry['p99_ms']:.2f} ms"
        if "server_cpu" in entry:
            text += f", cpu {entry['server_cpu']:.0%}"
    if entry.get("errors"):
        text += f", {entry['errors']} errors"
    return text


def table_rows(results, cases, main_only=True, figure="value"):
    names = list(results.keys())
    header = ["case"] + [n + (" (skipped)" if "skipped" in results[n] else "") for n in names]
    rows = []
    for c in cases:
        if main_only and not c.main:
            continue
        if figure != "value" and c.kind == "memory":
            continue
        unit = c.unit if figure == "value" else c.unit.replace("/s", " per CPU-s")
        row = [f"{c.label} ({unit})"]
        for n in names:
            if "skipped" in results[n]:
                row.append("-")
            else:
                row.append(cell(results[n].get(c.id), c, n, figure))
        rows.append(row)
    return header, rows


def print_table(results, cases):
    for figure, title in (("value", "Throughput (median of the runs)"),
                          ("per_cpu_s", "Work per second of server CPU")):
        header, rows = table_rows(results, cases, main_only=False, figure=figure)
        widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
        print(f"\n{title}")
        print("  ".join(h.ljust(w) for h, w in zip(header, widths)))
        print("  ".join("-" * w for w in widths))
        for r in rows:
            print("  ".join(v.ljust(w) for v, w in zip(r, widths)))
    print("\n×T: ratio to Tornado, ×C: ratio to the ceiling, each the median of the ratios "
          "taken within each run; cpu: the server's share of its core during the case.")
    for n, per_case in results.items():
        if "skipped" in per_case:
            print(f"{n}: skipped ({per_case['skipped']})")


def markdown_table(report, cases):
    header, rows = table_rows(report["results"], cases)
    cpu_header, cpu_rows = table_rows(report["results"], cases, figure="per_cpu_s")
    lines = [
        f"Measured {report['date']} at commit `{report['commit']}`"
        f"{' (--quick)' if report['quick'] else ''}: median of {report['runs']} runs, "
        f"{report['duration_s']:g} s per case, server on one core, load from the other; "
        f"load average {report['load_average']['before']:.1f} at the start and "
        f"{report['load_average']['after']:.1f} at the end (this machine has "
        f"{report['machine'].get('nproc', '?')} cores and other jobs ran beside the bench). "
        "×T is the ratio to Tornado, ×C to the ceiling: the median of the ratios taken "
        "within each run, seconds apart (so not always the quotient of the medians shown); "
        "cpu is the server's share of its core.",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join("---" for _ in header) + "|",
    ]
    for r in rows:
        lines.append("| " + " | ".join(r) + " |")
    lines += ["", "The same work per second of server CPU (the figure divided by the server's "
              "share of its core, which varies on a shared machine):", "",
              "| " + " | ".join(cpu_header) + " |",
              "|" + "|".join("---" for _ in cpu_header) + "|"]
    for r in cpu_rows:
        lines.append("| " + " | ".join(r) + " |")
    skipped = [f"{n}: {p['skipped']}" for n, p in report["results"].items() if "skipped" in p]
    if skipped:
        lines += ["", "Skipped in this run: " + "; ".join(skipped) + "."]
    return "\n".join(lines)


def replace_between(path, name, content):
    """Replaces what lies between <!-- NAME:begin --> and <!-- NAME:end -->."""
    begin, end = f"<!-- {name}:begin -->", f"<!-- {name}:end -->"
    try:
        with open(path) as f:
            text = f.read()
    except OSError:
        return
    if begin not in text or end not in text:
        return
    before, rest = text.split(begin, 1)
    _, after = rest.split(end, 1)
    with open(path, "w") as f:
        f.write(before + begin + "\n" + content + "\n" + end + after)
    log(f"updated {name} in {os.path.relpath(path, ROOT)}")


def summary_table(report, cases):
    """The README's short table: tornado-cpp's figure and its ratios."""
    results = report["results"]
    mine = results.get(PROJECT, {})
    lines = ["| case | tornado-cpp | × Tornado | × ceiling | per server CPU-s (× ceiling) "
             "| Node ws |", "|---|---|---|---|---|---|"]
    for c in cases:
        if not c.main or c.id not in mine:
            continue
        e = mine[c.id]
        node = results.get("Node ws", {}).get(c.id)
        p99 = f" (p99 {e['p99_ms']:.2f} ms)" if "p99_ms" in e else ""
        ratio = lambda key: f"{e[key]:.2f}" if key in e else "-"
        per_cpu = "-"
        if e.get("per_cpu_s") is not None:
            per_cpu = fmt_value(e["per_cpu_s"], c.unit)
            if "vs_ceiling_per_cpu" in e:
                per_cpu += f" ({e['vs_ceiling_per_cpu']:.2f})"
        lines.append(f"| {c.label} ({c.unit}) | {fmt_value(e['value'], c.unit)}{p99} | "
                     f"{ratio('vs_tornado')} | {ratio('vs_ceiling')} | {per_cpu} | "
                     f"{fmt_value(node['value'], c.unit) if node else 'n/a'} |")
    lines.append("")
    lines.append(f"Median of {report['runs']} runs, {report['date']}, commit `{report['commit']}`, "
                 "server on one core, load from the other; method, every target's figures and "
                 "the plot in [docs/performance.md](docs/performance.md).")
    return "\n".join(lines)


def update_performance_md(report, cases):
    from .deflate import update_docs  # the compression cases' own table
    replace_between(PERFORMANCE_MD, "bench-table", markdown_table(report, cases))
    update_docs(report, replace_between)
    replace_between(os.path.join(ROOT, "README.md"), "bench-summary", summary_table(report, cases))


def plot(report, png_path):
    """requests/s and messages/s by connection count, one line per target."""
    if not shutil.which("gnuplot"):
        log("gnuplot not found: no plot")
        return
    series = {"http": ("http_plaintext_c10", "http_plaintext_c100", "http_plaintext_c1000"),
              "ws": ("ws_20b_c10", "ws_20b_c100", "ws_20b_c1000")}
    names = [n for n, p in report["results"].items() if "skipped" not in p]
    with tempfile.TemporaryDirectory() as tmp:
        script = [
            "set terminal pngcairo size 1400,560 font 'sans,11'",
            f"set output '{png_path}'",
            "set multiplot layout 1,2 title 'tornado-cpp bench, "
            f"{report['date']} {report['commit']}: one server core'",
            "set logscale x", "set xtics ('10' 10, '100' 100, '1,000' 1000)",
            "set xrange [7:1400]", "set logscale y", "set format y '%.0s%c'",
            "set grid", "set key outside bottom center horizontal", "set xlabel 'connections'",
        ]
        for kind, title, ylabel in (("http", "HTTP GET /plaintext (wrk)", "requests/s"),
                                    ("ws", "WebSocket echo, 20 B, 1 in flight (wsload)",
                                     "messages/s")):
            plots = []
            for n in names:
                data = os.path.join(tmp, f"{kind}-{len(plots)}-{abs(hash(n))}.dat")
                points = []
                for cid in series[kind]:
                    entry = report["results"][n].get(cid)
                    conns = int(cid.rsplit("_c", 1)[1])
                    if entry and entry.get("value"):
                        points.append(f"{conns} {entry['value']}")
                if not points:
                    continue
                with open(data, "w") as f:
                    f.write("\n".join(points) + "\n")
                plots.append(f"'{data}' using 1:2 with linespoints lw 2 pt 7 title '{n}'")
            script += [f"set title '{title}'", f"set ylabel '{ylabel}'"]
            script.append("plot " + ", ".join(plots) if plots else
                          "plot 1/0 notitle")
        script.append("unset multiplot")
        path = os.path.join(tmp, "plot.gp")
        with open(path, "w") as f:
            f.write("\n".join(script) + "\n")
        r = run_command(["gnuplot", path], 60)
        if r.returncode != 0:
            log(f"gnuplot failed: {r.stderr.strip()}")
        else:
            log(f"plot: {os.path.relpath(png_path, ROOT)}")
