#!/usr/bin/env python3
"""Turns `streamrec eval --json` over several logs into docs/QUALITY.md's tables.

    build/streamrec eval --events ../shared/datasets --json > eval.json
    scripts/quality-tables.py eval.json

Prints three Markdown tables: per log the model and every baseline (recall@N, mrr@N,
coverage@N, the model's ratio to the best baseline by recall, the blend it learned);
the yardsticks of the model and the best baseline; and recall / NDCG by the user's
number of earlier events. A log with fewer than 1,000 scored events is marked too
small to judge."""

import json
import sys

TOO_SMALL = 1000
BUCKETS = ("1", "2-3", "4-10", ">10")


def best_baseline(models):
    return max((name for name in models if name != "model"), key=lambda name: models[name]["recall"])


def main_table(logs, n):
    print(f"| dataset | scored | model | recall@{n} | mrr@{n} | coverage@{n} | model / best baseline "
          "| blend learned (factorisation; co-occurrence, recency 7 d, recency 1 d, session neighbours relative to it) |")
    print("|---|---|---|---|---|---|---|---|")
    for name, rep in logs:
        models, blend = rep["models"], rep["blend"]
        best = best_baseline(models)
        label = name + (" (too small to judge)" if rep["scored"] < TOO_SMALL else "")
        ratio = models["model"]["recall"] / models[best]["recall"] if models[best]["recall"] > 0 else float("nan")
        first = True
        for model, m in models.items():
            bold = "**" if model == "model" else ""
            row = [label if first else "", f"{rep['scored']:,}" if first else "", f"{bold}{model}{bold}",
                   f"{bold}{m['recall']:.4f}{bold}", f"{m['mrr']:.4f}", f"{m['coverage']:.3f}",
                   f"{ratio:.3f}x {best}" if first else "",
                   f"{blend['mf']:.3f}; {blend['cooc']:.1f}, {blend['recency']:.3f}, {blend.get('short_recency', 0):.3f}, "
                   f"{blend.get('session', 0):.0f} "
                   f"({blend['steps']:,} outcomes)"
                   if first else ""]
            print("| " + " | ".join(row) + " |")
            first = False


def yardstick_table(logs, n):
    print(f"| dataset | model | precision@{n} | ndcg@{n} | novelty | diversity | popularity |")
    print("|---|---|---|---|---|---|---|")
    for name, rep in logs:
        if rep["scored"] < TOO_SMALL:
            continue
        models = rep["models"]
        for k, model in enumerate(("model", best_baseline(models))):
            y = models[model]["yardsticks"]["overall"]
            print(f"| {name if k == 0 else ''} | {model} | {y['precision']:.5f} | {y['ndcg']:.4f} | "
                  f"{y['novelty']:.2f} | {y['diversity']:.3f} | {y['popularity']:.1f} |")


def history_table(logs):
    print("| dataset (scored per bucket) | " + " | ".join(BUCKETS) + " |")
    print("|---|" + "---|" * len(BUCKETS))
    for name, rep in logs:
        if rep["scored"] < TOO_SMALL:
            continue
        models = rep["models"]
        best = best_baseline(models)
        ours, theirs = models["model"]["yardsticks"]["by_history"], models[best]["yardsticks"]["by_history"]
        counts = " / ".join(f"{ours[b]['lists']:,}" for b in BUCKETS)
        cells = [f"{ours[b]['recall']:.4f} / {ours[b]['ndcg']:.4f}, {best} {theirs[b]['recall']:.4f}" for b in BUCKETS]
        print(f"| {name} ({counts}) | " + " | ".join(cells) + " |")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    with open(sys.argv[1]) as f:
        report = json.load(f)
    logs = [(entry["log"], entry["report"]) for entry in report["logs"]] if "logs" in report else [("log", report)]
    n = logs[0][1]["n"]
    main_table(logs, n)
    print()
    yardstick_table(logs, n)
    print()
    print(f"recall@{n} / ndcg@{n} by the user's earlier events (model, then the best baseline's recall):")
    print()
    history_table(logs)


if __name__ == "__main__":
    main()
