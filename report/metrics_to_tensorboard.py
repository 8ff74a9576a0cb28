#!/usr/bin/env python3
"""Training curves for TensorBoard: every metrics.jsonl below RUNS_DIR as TensorBoard event files.

One TensorBoard run per run folder, named by its path below RUNS_DIR, with a scalar per number
of each metrics.jsonl line: train/loss, train/lr, train/images_per_second, ... at each log line,
eval/top1, eval/top5, eval/loss at each evaluation (fractions, as logged), and the accuracy as
inherited (run.json's initial_top1/initial_top5) as eval/top1 and eval/top5 at step 0. Read the
same way as `tleg report`'s curves (report/curves.cpp): a step logged twice (a resumed run
repeats the steps after its checkpoint) keeps its last line; a line cut by a kill is left out.

usage: metrics_to_tensorboard.py RUNS_DIR [--out DIR]; then tensorboard --logdir DIR
Needs tensorboardX (setup/install-deps.sh installs it into tleg's Python environment).
"""
import argparse
import json
import os
import sys

from tensorboardX import SummaryWriter

EVENT_FILE_PREFIX = "events.out.tfevents."
NOT_SCALARS = ("step", "epoch", "phase")


def read_metrics(path):
    """{phase: {step: {name: value}}} and the number of lines left out."""
    phases, unreadable = {}, 0
    with open(path) as lines:
        for text in lines:
            if not text.strip():
                continue
            try:
                line = json.loads(text)
                phase, step = line["phase"], line["step"]
                if not isinstance(phase, str) or not isinstance(step, (int, float)):
                    raise ValueError
            except (ValueError, KeyError, TypeError):
                unreadable += 1
                continue
            # NaN and infinities are written as null: no point.
            values = {name: value for name, value in line.items()
                      if name not in NOT_SCALARS and isinstance(value, (int, float))
                      and not isinstance(value, bool)}
            phases.setdefault(phase, {})[int(step)] = values
    return phases, unreadable


def inherited_accuracy(run_json):
    """run.json's accuracy before the first step, as eval scalars; {} when it has none."""
    if not os.path.isfile(run_json):
        return {}
    with open(run_json) as f:
        record = json.load(f)
    return {name: record[key] for name, key in (("top1", "initial_top1"), ("top5", "initial_top5"))
            if isinstance(record.get(key), (int, float))}


def run_folders(runs_dir, out_dir):
    """The folders below runs_dir that hold a metrics.jsonl, sorted; never those below out_dir."""
    found = []
    for folder, subfolders, files in os.walk(runs_dir):
        subfolders[:] = sorted(s for s in subfolders
                               if os.path.realpath(os.path.join(folder, s)) != out_dir)
        if "metrics.jsonl" in files:
            found.append(folder)
    return found


def convert(folder, logdir):
    """Writes one run's event file into logdir (replacing an earlier conversion's)."""
    phases, unreadable = read_metrics(os.path.join(folder, "metrics.jsonl"))
    counts = {phase: len(steps) for phase, steps in phases.items()}
    inherited = inherited_accuracy(os.path.join(folder, "run.json"))
    if inherited:
        phases.setdefault("eval", {}).setdefault(0, {}).update(inherited)
    os.makedirs(logdir, exist_ok=True)
    # Two event files of one run would show every point twice.
    for name in os.listdir(logdir):
        if name.startswith(EVENT_FILE_PREFIX):
            os.remove(os.path.join(logdir, name))
    writer = SummaryWriter(logdir)
    for phase in sorted(phases):
        for step in sorted(phases[phase]):
            for name, value in sorted(phases[phase][step].items()):
                writer.add_scalar(f"{phase}/{name}", value, step)
    writer.close()
    return counts, unreadable


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("runs_dir", metavar="RUNS_DIR",
                        help="a folder of runs (searched recursively for metrics.jsonl)")
    parser.add_argument("--out", metavar="DIR",
                        help="where the event files go, one folder per run "
                             "(default: RUNS_DIR/tensorboard)")
    args = parser.parse_args()
    out = args.out or os.path.join(args.runs_dir, "tensorboard")
    if not os.path.isdir(args.runs_dir):
        sys.exit(f"{args.runs_dir}: no such folder (pass a folder of runs)")
    folders = run_folders(args.runs_dir, os.path.realpath(out))
    if not folders:
        sys.exit(f"{args.runs_dir}: no metrics.jsonl in this folder or below it (every training "
                 "command writes one into its --run.dir)")
    for folder in folders:
        name = os.path.relpath(folder, args.runs_dir)
        if name == ".":
            name = os.path.basename(os.path.abspath(folder))
        counts, unreadable = convert(folder, os.path.join(out, name))
        note = f", {unreadable} unreadable line(s) left out (a run killed while writing one)" \
            if unreadable else ""
        print(f"{name}: {counts.get('train', 0)} log line(s), {counts.get('eval', 0)} "
              f"evaluation(s){note}")
    print(f"wrote {len(folders)} run(s) to {out}; view them with: tensorboard --logdir {out}")


if __name__ == "__main__":
    main()
