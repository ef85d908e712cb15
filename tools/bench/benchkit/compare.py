"""The regression check (--compare)."""



from .common import CEILING, PROJECT, THRESHOLD


# ---------------------------------------------------------------------------
# Regression check


def compare(old, new, cases_by_id):
    """Prints every figure more than 5% worse; returns the tornado-cpp ones."""
    flagged, project_flags = [], []
    old_results, new_results = old.get("results", {}), new.get("results", {})
    print(f"\nComparing {new.get('date')} {new.get('commit')} with "
          f"{old.get('date')} {old.get('commit')} (threshold {THRESHOLD:.0%}):")

    def relative(results, name, cid):
        entry = results.get(name, {}).get(cid, {})
        if entry.get("vs_ceiling") is not None:
            return entry["vs_ceiling"]
        ceiling = results.get(CEILING, {}).get(cid, {})
        value = entry.get("value")
        if ceiling.get("value") and value is not None:
            return value / ceiling["value"]
        return None

    for name, per_case in new_results.items():
        old_cases = old_results.get(name, {})
        if "skipped" in per_case or "skipped" in old_cases:
            continue
        for cid, entry in per_case.items():
            old_entry = old_cases.get(cid)
            if not old_entry or old_entry.get("value") in (None, 0) or entry.get("value") is None:
                continue
            case = cases_by_id.get(cid)
            higher_better = case.higher_is_better if case else not cid.startswith("mem")
            change = entry["value"] / old_entry["value"] - 1
            worse = -change if higher_better else change
            norm_worse = None
            if higher_better and name != CEILING:
                a, b = relative(old_results, name, cid), relative(new_results, name, cid)
                if a and b:
                    norm_worse = round(1 - b / a, 6) + 0.0  # no "-0.0%"
            label = case.label if case else cid
            if worse > THRESHOLD:
                note = ""
                if norm_worse is not None:
                    note = f"; relative to the ceiling {0.0 - norm_worse:+.1%}"
                line = (f"  WORSE  {name:12} {label:34} {old_entry['value']:,.2f} -> "
                        f"{entry['value']:,.2f} ({change:+.1%}{note})")
                flagged.append(line)
                if name == PROJECT and (norm_worse is None or norm_worse > THRESHOLD):
                    project_flags.append(line)
            if "p99_ms" in entry and old_entry.get("p99_ms"):
                p99_change = entry["p99_ms"] / old_entry["p99_ms"] - 1
                if p99_change > THRESHOLD:
                    flagged.append(f"  WORSE  {name:12} {label:34} p99 {old_entry['p99_ms']:.2f}"
                                   f" -> {entry['p99_ms']:.2f} ms ({p99_change:+.1%})")
    if flagged:
        print("\n".join(flagged))
    else:
        print("  no figure is more than 5% worse")
    if project_flags:
        print(f"\n{len(project_flags)} tornado-cpp figure(s) regressed by more than "
              f"{THRESHOLD:.0%}.")
    elif PROJECT not in new_results or "skipped" in new_results.get(PROJECT, {}):
        print(f"\n{PROJECT} was not measured in this run: nothing of its own to compare.")
    return project_flags


# ---------------------------------------------------------------------------
