#!/usr/bin/env python3
"""Writes docs/PERFORMANCE.md from the output of BenchmarkMain (JMH's JSON per round, the paired in-process
measurement and the off-heap probe). Standard library only.

    python3 benchmarks/report.py [--in benchmarks/target/jmh] [--out docs/PERFORMANCE.md]
"""
import argparse
import glob
import json
import math
import os
import platform
import re
import statistics
import subprocess

UPDATE = "io.github.dl4jema.benchmarks.UpdateBenchmark."
TRAINING = "io.github.dl4jema.benchmarks.TrainingBenchmark."
WORKLOADS = ["FLOAT:100000", "FLOAT:1000000", "FLOAT:11700000", "FLOAT:25600000", "DOUBLE:11700000"]
LAYERS = 31  # Workloads.LAYERS
COMMAND = "mvn -B -q -pl benchmarks -am package -DskipTests -Dbench -Dbench.args=\"-rounds 3\"" \
          " && python3 benchmarks/report.py"


def parameters(workload):
    """The exact parameter count of Workloads.squareMlp for a workload (31 square dense layers with biases)."""
    n = int(workload.split(":")[1])
    width = max(2, int(math.floor(math.sqrt(n / LAYERS) + 0.5)))
    return LAYERS * (width * width + width)


def label(workload):
    kind, n = workload.split(":")
    n = int(n)
    text = f"{n / 1e6:g}M" if n >= 1_000_000 else f"{n / 1e3:g}k"
    return f"{text} {kind}"


def load_rounds(directory):
    rounds = []
    for path in sorted(glob.glob(os.path.join(directory, "round-*.json")),
                       key=lambda p: int(re.search(r"round-(\d+)", p).group(1))):
        with open(path) as f:
            scores = {}
            for entry in json.load(f):
                workload = entry.get("params", {}).get("workload", "")
                scores[(entry["benchmark"], workload)] = entry["primaryMetric"]["score"]
            rounds.append(scores)
    return rounds


def median_over_rounds(rounds, benchmark, workload=""):
    values = [r[(benchmark, workload)] for r in rounds if (benchmark, workload) in r]
    return statistics.median(values) if values else None


def ratio_over_rounds(rounds, num, den, workload=""):
    """Median over rounds of the ratio taken within each round (forks of one round ran minutes apart at most)."""
    values = [r[(num, workload)] / r[(den, workload)] for r in rounds
              if (num, workload) in r and (den, workload) in r]
    return statistics.median(values) if values else None


def paired_ratio(block, num, den):
    """Median of per-round ratios of the in-process interleaved measurement."""
    a, b = block.get(num), block.get(den)
    if not a or not b:
        return None
    pairs = [x / y for x, y in zip(a["times"], b["times"])]
    return statistics.median(pairs) if pairs else None


def fmt(value, digits=2, suffix=""):
    if value is None:
        return "n/a"
    if abs(value) >= 100:
        return f"{value:,.0f}{suffix}"
    return f"{value:.{digits}f}{suffix}"


def verdict(ok):
    return "**met**" if ok else "**not met**"


def machine():
    cpu = "unknown CPU"
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
        fields = dict(line.split(":", 1) for line in out.splitlines() if ":" in line)
        cpu = fields.get("Model name", cpu).strip()
        caches = ", ".join(f"{k.strip()} {fields[k].strip()}" for k in ("L2 cache", "L3 cache") if k in fields)
        if caches:
            cpu += f" ({caches})"
    except OSError:
        pass
    memory = ""
    try:
        with open("/proc/meminfo") as f:
            kb = int(f.readline().split()[1])
            memory = f", {kb / 1024 / 1024:.0f} GiB RAM"
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical cores{memory}, {platform.system()} {platform.release()}"


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    parser = argparse.ArgumentParser()
    parser.add_argument("--in", dest="source", default=os.path.join(here, "target", "jmh"))
    parser.add_argument("--out", default=os.path.join(here, "..", "docs", "PERFORMANCE.md"))
    parser.add_argument("--paired", default=os.path.join(here, "target", "jmh-paired"),
                        help="directory of a paired-only run (-rounds 0) to use instead of --in's interleaved.json")
    parser.add_argument("--practice", default=os.path.join(here, "target", "jmh-seed"),
                        help="probe-only run (-rounds 0 -no-interleaved) timing the seed without forced collections")
    parser.add_argument("--control", default=os.path.join(here, "target", "jmh-omp1"),
                        help="paired measurement run with OMP_NUM_THREADS=1 (optional)")
    args = parser.parse_args()

    rounds = load_rounds(args.source)
    with open(os.path.join(args.source, "offheap.json")) as f:
        offheap = json.load(f)
    paired_dir = args.paired if os.path.exists(os.path.join(args.paired, "interleaved.json")) else args.source
    with open(os.path.join(paired_dir, "interleaved.json")) as f:
        paired = json.load(f)
    paired_when = ""
    if paired_dir != args.source:
        with open(os.path.join(paired_dir, "run-start.json")) as f:
            ps = json.load(f)
        with open(os.path.join(paired_dir, "run-end.json")) as f:
            pe = json.load(f)
        paired_when = (f" The paired measurement and the off-heap probe were re-run right after the JMH rounds "
                       f"(from {ps['start']} to {pe['end']}, load average {ps['loadavg']} at its start) with two "
                       "more variants (the previous kernel, the listener's time inside `fit`), by "
                       "`-Dbench.args=\"-rounds 0 -out target/jmh-paired\"`.")
        with open(os.path.join(paired_dir, "offheap.json")) as f:
            offheap = json.load(f)
    start, end = {}, {}
    if os.path.exists(os.path.join(args.source, "run-start.json")):
        with open(os.path.join(args.source, "run-start.json")) as f:
            start = json.load(f)
    if os.path.exists(os.path.join(args.source, "run-end.json")):
        with open(os.path.join(args.source, "run-end.json")) as f:
            end = json.load(f)

    lines = []
    add = lines.append
    add("# Performance of the averaging update")
    add("")
    add("<!-- Generated by benchmarks/report.py from the output of BenchmarkMain; do not edit by hand. -->")
    add("")
    add(f"- **Date**: run from {start.get('start', '?')} to {end.get('end', '?')} (UTC).")
    add(f"- **Machine**: {machine()}; {start.get('java', 'Java ?')}; ND4J/DL4J 1.0.0-M2.1, CPU backend "
        "(nd4j-native, OpenBLAS 0.3.19), default threading (2 OpenMP threads).")
    add(f"- **Load**: the machine's 2 cores were shared with two other engineers' DL4J training runs; load average "
        f"(1/5/15 min) {start.get('loadavg', '?')} at the start and {end.get('loadavg', '?')} at the end, i.e. "
        "often 3 or more runnable threads per core. Absolute times are therefore noisy (JMH's error bars are wide) "
        "and every target is judged on **ratios taken inside one round** (see Method).")
    add(f"- **Command** (from the repository root): `{COMMAND}`")
    add(f"- **Rounds**: {len(rounds)} JMH rounds (one fork per benchmark and workload per round), plus the paired "
        f"in-process measurement.{paired_when}")
    add("")

    add("## Targets (CPU, N ≥ 1M, medians, ratios from the same run)")
    add("")
    add("| target | measured (paired, in-process) | measured (JMH forks) | verdict |")
    add("| --- | --- | --- | --- |")
    big = [w for w in WORKLOADS if int(w.split(":")[1]) >= 1_000_000]
    for mode, floor, limit in (("emaWriteBack", "javaFloorWriteBack", 1.25), ("emaShadow", "javaFloorShadow", 1.25)):
        p = [paired_ratio(paired.get(w, {}), mode, floor) for w in big]
        j = [ratio_over_rounds(rounds, UPDATE + mode, UPDATE + floor, w) for w in big]
        p_ok = [x for x in p if x is not None]
        name = "write-back" if mode == "emaWriteBack" else "shadow"
        add(f"| {name} ≤ {limit}x its one-pass floor | "
            + ", ".join(f"{label(w)}: {fmt(x)}x" for w, x in zip(big, p)) + " | "
            + ", ".join(f"{label(w)}: {fmt(x)}x" for w, x in zip(big, j)) + " | "
            + verdict(bool(p_ok) and max(p_ok) <= limit) + " |")
    w256 = "FLOAT:25600000"
    seed_wb = paired.get(w256, {}).get("seedStyle", {}).get("median")
    ours_wb = paired.get(w256, {}).get("emaWriteBack", {}).get("median")
    ours_sh = paired.get(w256, {}).get("emaShadow", {}).get("median")
    jseed = ratio_over_rounds(rounds, UPDATE + "seedStyle", UPDATE + "emaWriteBack", w256)
    jseed_sh = ratio_over_rounds(rounds, UPDATE + "seedStyle", UPDATE + "emaShadow", w256)
    control_note = ""
    control_file = os.path.join(args.control, "interleaved.json")
    if os.path.exists(control_file):
        with open(control_file) as f:
            cb = json.load(f).get(w256, {})
        c_seed = cb.get("seedStyle", {}).get("median")
        c_wb = cb.get("emaWriteBack", {}).get("median")
        if c_seed and c_wb:
            control_note = f"; with `OMP_NUM_THREADS=1` (control below): {c_seed / c_wb:.1f}x"
    practice = None
    practice_file = os.path.join(args.practice, "offheap.json")
    if os.path.exists(practice_file):
        with open(practice_file) as f:
            practice = json.load(f).get("25600000", {}).get("seedStyleMs")
    practice_ratio = practice / ours_wb if practice and ours_wb else None
    gc_ratios = [x for x in (seed_wb / ours_wb if seed_wb and ours_wb else None, jseed) if x is not None]
    if practice_ratio is not None:
        seed_verdict = (f"{verdict(practice_ratio >= 20)} against the seed as it runs (no forced collection: "
                        f"{practice:,.0f} ms per call, {practice_ratio:.0f}x the listener's write-back); "
                        f"{verdict(bool(gc_ratios) and min(gc_ratios) >= 20)} against a seed whose garbage is "
                        "collected for free after every call")
    else:
        seed_verdict = verdict(bool(gc_ratios) and min(gc_ratios) >= 20)
    add(f"| ≥ 20x faster than the seed-style blend at 25.6M | seed (GC off the clock) / write-back "
        f"{fmt(seed_wb / ours_wb if seed_wb and ours_wb else None, 1)}x, / shadow "
        f"{fmt(seed_wb / ours_sh if seed_wb and ours_sh else None, 1)}x{control_note} | seed (GC off the clock) / "
        f"write-back {fmt(jseed, 1)}x, / shadow {fmt(jseed_sh, 1)}x | {seed_verdict} |")
    ours = [v for n in offheap.values() for k, v in n.items() if k in ("emaShadow", "emaWriteBack")]
    add(f"| 0 bytes off-heap per update | "
        + ", ".join(f"N={int(n['parameters']):,}: shadow {n['emaShadow']:.0f} B, write-back {n['emaWriteBack']:.0f} B"
                    for n in offheap.values())
        + f" | (probe, not JMH) | {verdict(all(v == 0 for v in ours))} |")
    training = paired.get("training", {})
    t_sh = paired_ratio(training, "fitEmaShadow", "fitPlain")
    t_wb = paired_ratio(training, "fitEmaWriteBack", "fitPlain")
    j_sh = ratio_over_rounds(rounds, TRAINING + "fitEmaShadow", TRAINING + "fitPlain")
    j_wb = ratio_over_rounds(rounds, TRAINING + "fitEmaWriteBack", TRAINING + "fitPlain")

    def pct(r):
        return None if r is None else (r - 1) * 100

    d_sh = paired_ratio(training, "updateInFitShadow", "fitPlain")
    d_wb = paired_ratio(training, "updateInFitWriteBack", "fitPlain")
    direct = [x for x in (d_sh, d_wb) if x is not None]
    add(f"| per-iteration mode adds < 3% to a training iteration | listener's own time / iteration: shadow "
        f"{fmt(None if d_sh is None else d_sh * 100, 2, '%')}, write-back "
        f"{fmt(None if d_wb is None else d_wb * 100, 2, '%')}; difference of iteration times: shadow "
        f"{fmt(pct(t_sh), 1, '%')}, write-back {fmt(pct(t_wb), 1, '%')} | difference of iteration times: shadow "
        f"{fmt(pct(j_sh), 1, '%')}, write-back {fmt(pct(j_wb), 1, '%')} | "
        f"{verdict(bool(direct) and max(direct) < 0.03)} on the listener's own time; the differences are noise "
        "(see the training section) |")
    add("")

    add("## Update time per workload (JMH, ms per update, median over rounds)")
    add("")
    add("Each workload is a network of 31 square dense layers (62 parameter tensors, as the ResNet-50-sized "
        "workload of the issue) whose flat parameter buffer holds N values; the listener averages all of them.")
    add("")
    add("| workload | N | listener shadow | listener write-back | copy floor (`assign`, 8N B) | Java floor shadow "
        "(12N B) | Java floor write-back (16N B) | seed-style (GC off the clock) | shadow / floor | write-back / "
        "floor | write-back / copy | seed / write-back |")
    add("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for w in WORKLOADS:
        m = {b: median_over_rounds(rounds, UPDATE + b, w) for b in
             ("emaShadow", "emaWriteBack", "copyFloor", "javaFloorShadow", "javaFloorWriteBack", "seedStyle")}
        add(f"| {label(w)} | {parameters(w):,} | {fmt(m['emaShadow'], 3)} | {fmt(m['emaWriteBack'], 3)} | "
            f"{fmt(m['copyFloor'], 3)} | {fmt(m['javaFloorShadow'], 3)} | {fmt(m['javaFloorWriteBack'], 3)} | "
            f"{fmt(m['seedStyle'], 1)} | "
            f"{fmt(ratio_over_rounds(rounds, UPDATE + 'emaShadow', UPDATE + 'javaFloorShadow', w))}x | "
            f"{fmt(ratio_over_rounds(rounds, UPDATE + 'emaWriteBack', UPDATE + 'javaFloorWriteBack', w))}x | "
            f"{fmt(ratio_over_rounds(rounds, UPDATE + 'emaWriteBack', UPDATE + 'copyFloor', w))}x | "
            f"{fmt(ratio_over_rounds(rounds, UPDATE + 'seedStyle', UPDATE + 'emaWriteBack', w), 0)}x |")
    add("")

    add("## Paired in-process measurement (ms, median; ratios are medians of per-round ratios)")
    add("")
    add("Every round runs each variant once in turn in one JVM, so a burst of load from another process hits a "
        "round's variants alike. `check` is the non-finite check alone, `blend` the blend alone (the listener's "
        "update is check + blend + bookkeeping).")
    add("")
    add("| workload | listener shadow | listener write-back | check | blend shadow | blend write-back | Java floor "
        "shadow | Java floor write-back | copy floor | seed-style | shadow / floor | write-back / floor | check / "
        "shadow floor | blend shadow / floor | blend write-back / floor | seed / write-back |")
    add("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
        "| ---: |")
    for w in WORKLOADS:
        b = paired.get(w)
        if not b:
            continue

        def med(k):
            return b.get(k, {}).get("median")

        seed = med("seedStyle")
        add(f"| {label(w)} | {fmt(med('emaShadow'), 3)} | {fmt(med('emaWriteBack'), 3)} | {fmt(med('checkOnly'), 3)} "
            f"| {fmt(med('blendShadowOnly'), 3)} | {fmt(med('blendWriteBackOnly'), 3)} | "
            f"{fmt(med('javaFloorShadow'), 3)} | {fmt(med('javaFloorWriteBack'), 3)} | {fmt(med('copyFloor'), 3)} | "
            f"{fmt(seed, 1)} | {fmt(paired_ratio(b, 'emaShadow', 'javaFloorShadow'))}x | "
            f"{fmt(paired_ratio(b, 'emaWriteBack', 'javaFloorWriteBack'))}x | "
            f"{fmt(paired_ratio(b, 'checkOnly', 'javaFloorShadow'))}x | "
            f"{fmt(paired_ratio(b, 'blendShadowOnly', 'javaFloorShadow'))}x | "
            f"{fmt(paired_ratio(b, 'blendWriteBackOnly', 'javaFloorWriteBack'))}x | "
            f"{fmt(seed / med('emaWriteBack') if seed and med('emaWriteBack') else None, 0)}x |")
    add("")

    add("### Against the kernel this work replaced")
    add("")
    add("`previous` is the kernel before this change, measured in the same rounds: ND4J `MatchCondition` (a result "
        "array allocated per update), BLAS `scal` and `axpy` over the whole vector (two passes), and in write-back "
        "mode a separate `assign` (a third pass).")
    add("")
    add("| workload | previous shadow | ours shadow | previous / ours | previous write-back | ours write-back | "
        "previous / ours |")
    add("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for w in WORKLOADS:
        b = paired.get(w)
        if not b or "previousShadow" not in b:
            continue
        add(f"| {label(w)} | {fmt(b['previousShadow']['median'], 3)} | {fmt(b['emaShadow']['median'], 3)} | "
            f"{fmt(paired_ratio(b, 'previousShadow', 'emaShadow'))}x | {fmt(b['previousWriteBack']['median'], 3)} | "
            f"{fmt(b['emaWriteBack']['median'], 3)} | {fmt(paired_ratio(b, 'previousWriteBack', 'emaWriteBack'))}x |")
    add("")

    add("## Off-heap bytes allocated per update (steady state)")
    add("")
    add("Growth of libnd4j's host allocation counter (`Nd4j.getEnvironment().getDeviceCouner(0)`, libnd4j's "
        "`MemoryCounter`) over 20 updates (5 for the seed style) with no garbage collection in between, after 3 "
        "warm-up updates; ND4J frees a buffer only after the JVM collects its array, so the growth is what the "
        "updates allocated. `BlendKernelTest.updatesInSteadyStateAllocateNoOffHeapMemory` asserts the zero.")
    add("")
    add("| N | listener shadow | listener write-back | copy floor | seed-style |")
    add("| ---: | ---: | ---: | ---: | ---: |")
    for n in offheap.values():
        add(f"| {int(n['parameters']):,} | {n['emaShadow']:,.0f} B | {n['emaWriteBack']:,.0f} B | "
            f"{n['copyFloor']:,.0f} B | {n['seedStyle']:,.0f} B ({n['seedStyle'] / n['parameters']:.1f} B per "
            "parameter) |")
    for title, path in (("default threading", practice_file),
                        ("`OMP_NUM_THREADS=1`", os.path.join(args.control, "offheap.json"))):
        if os.path.exists(path):
            with open(path) as f:
                timed = json.load(f)
            rows = [f"N={int(v['parameters']):,}: seed {v['seedStyleMs']:,.0f} ms, listener write-back "
                    f"{v['emaWriteBackMs']:.2f} ms" for v in timed.values() if "seedStyleMs" in v]
            if rows:
                add("")
                add(f"The seed style as it runs in practice, paying for its own garbage (the probe's calls, no "
                    f"collection forced; {title}, run right after the main run): " + "; ".join(rows) + ".")
    add("")

    add("## Training iteration (MLP 784-1024-1024-10, batch 128, Adam, `fit` on one minibatch)")
    add("")
    add("| | no listener | + shadow EMA every iteration | + write-back EMA every iteration |")
    add("| --- | ---: | ---: | ---: |")
    add(f"| JMH, ms (median over rounds) | {fmt(median_over_rounds(rounds, TRAINING + 'fitPlain'), 1)} | "
        f"{fmt(median_over_rounds(rounds, TRAINING + 'fitEmaShadow'), 1)} | "
        f"{fmt(median_over_rounds(rounds, TRAINING + 'fitEmaWriteBack'), 1)} |")
    add(f"| paired in-process, ms (median) | {fmt(training.get('fitPlain', {}).get('median'), 1)} | "
        f"{fmt(training.get('fitEmaShadow', {}).get('median'), 1)} | "
        f"{fmt(training.get('fitEmaWriteBack', {}).get('median'), 1)} |")
    add(f"| paired in-process, overhead (median of per-round ratios − 1) | | {fmt(pct(t_sh), 1, '%')} | "
        f"{fmt(pct(t_wb), 1, '%')} |")
    in_fit_sh = paired_ratio(training, "updateInFitShadow", "fitPlain")
    in_fit_wb = paired_ratio(training, "updateInFitWriteBack", "fitPlain")
    add(f"| listener's own time inside `fit` (timed around its `iterationDone`), ms (median) | | "
        f"{fmt(training.get('updateInFitShadow', {}).get('median'), 3)} | "
        f"{fmt(training.get('updateInFitWriteBack', {}).get('median'), 3)} |")
    add(f"| ... as a share of the iteration without listener (median of per-round ratios) | | "
        f"{fmt(None if in_fit_sh is None else in_fit_sh * 100, 2, '%')} | "
        f"{fmt(None if in_fit_wb is None else in_fit_wb * 100, 2, '%')} |")
    u_min = training.get("updateInFitShadow", {}).get("min")
    u_min_wb = training.get("updateInFitWriteBack", {}).get("min")
    f_min = training.get("fitPlain", {}).get("min")
    if u_min and f_min:
        add(f"| ... fastest listener call / fastest iteration (a quiet moment of the machine) | | "
            f"{u_min / f_min * 100:.2f}% | {u_min_wb / f_min * 100:.2f}% |")
    n_mlp = 784 * 1024 + 1024 + 1024 * 1024 + 1024 + 1024 * 10 + 10
    upd = paired.get("FLOAT:1000000", {}).get("emaShadow", {}).get("median")
    plain = training.get("fitPlain", {}).get("median")
    add("")
    if upd and plain:
        add(f"The MLP has {n_mlp:,} parameters; the update of ~1M parameters takes {upd:.3f} ms in the paired "
            f"measurement, so the expected overhead is about {upd * n_mlp / 1.01e6 / plain * 100:.1f}% of a "
            f"{plain:.0f} ms iteration. Under this machine's contention, single iterations vary by tens of "
            "milliseconds, far more than the update costs; the measured overhead is a difference of two noisy "
            "numbers and its sign can flip between runs.")
    add("")

    control = os.path.join(args.control, "interleaved.json")
    if os.path.exists(control):
        with open(control) as f:
            ctrl = json.load(f)
        add("## Control: the paired measurement with `OMP_NUM_THREADS=1`")
        add("")
        add("Run right after the main run with `OMP_NUM_THREADS=1 mvn -B -q -pl benchmarks -am package -DskipTests "
            "-Dbench -Dbench.args=\"-rounds 0 -workload FLOAT:25600000 -out target/jmh-omp1\"`: with one OpenMP "
            "thread, ND4J's own operations (the seed style, the copy floor) no longer wait on a second thread that "
            "another process may hold; the listener is single-threaded by design either way.")
        add("")
        add("| workload | listener shadow | listener write-back | Java floor shadow | Java floor write-back | "
            "seed-style | shadow / floor | write-back / floor | seed / write-back | seed / shadow |")
        add("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for w, b in ctrl.items():
            if w == "training":
                continue

            def cmed(k):
                return b.get(k, {}).get("median")

            seed = cmed("seedStyle")
            add(f"| {label(w)} | {fmt(cmed('emaShadow'), 3)} | {fmt(cmed('emaWriteBack'), 3)} | "
                f"{fmt(cmed('javaFloorShadow'), 3)} | {fmt(cmed('javaFloorWriteBack'), 3)} | {fmt(seed, 1)} | "
                f"{fmt(paired_ratio(b, 'emaShadow', 'javaFloorShadow'))}x | "
                f"{fmt(paired_ratio(b, 'emaWriteBack', 'javaFloorWriteBack'))}x | "
                f"{fmt(seed / cmed('emaWriteBack') if seed and cmed('emaWriteBack') else None, 1)}x | "
                f"{fmt(seed / cmed('emaShadow') if seed and cmed('emaShadow') else None, 1)}x |")
        if "training" in ctrl:
            t = ctrl["training"]
            add("")
            cs = paired_ratio(t, "updateInFitShadow", "fitPlain")
            cw = paired_ratio(t, "updateInFitWriteBack", "fitPlain")
            add(f"Training iteration with one OpenMP thread: {fmt(t.get('fitPlain', {}).get('median'), 1)} ms "
                f"without listener; the listener's own time is {fmt(None if cs is None else cs * 100, 2, '%')} "
                f"(shadow) and {fmt(None if cw is None else cw * 100, 2, '%')} (write-back) of it; the difference "
                f"of iteration times is {fmt(pct(paired_ratio(t, 'fitEmaShadow', 'fitPlain')), 1, '%')} and "
                f"{fmt(pct(paired_ratio(t, 'fitEmaWriteBack', 'fitPlain')), 1, '%')} (medians of per-round "
                "ratios).")
        add("")

    with open(os.path.join(here, "PERFORMANCE-notes.md")) as f:
        add(f.read().rstrip())
    add("")
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        f.write("\n".join(lines).replace("n/ax", "n/a"))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
