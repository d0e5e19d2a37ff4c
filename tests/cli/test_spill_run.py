"""A real run whose coordinator spills cells (core/cellstore.py) still writes the same run directory.

`timeout: 0.1s` puts the horizon (request timeout + one interval) two intervals
behind the workers, so a 7 s run spills most of its cells while it runs, and
the run directory is written from the spill file. An output looking at the
merged metrics at the end sees that; then the files must be the run's usual
ones (the scratch file gone with the metrics), and what they hold must be
whole: the per-second series and the HDR log account for every successful
request the summary counts, second by second.
"""

from __future__ import annotations

import csv
import gc

import stinger
from stinger.core.histogram import read_histogram_log
from stinger.outputs.rundir import SPILL, RunDirOutput


class Probe:
    """An output that notes, at the end, how the cells were kept."""

    name = "probe"
    wants_intervals = False

    def __init__(self) -> None:
        self.seen: dict = {}

    def start(self, info):
        pass

    def interval(self, snapshot):
        pass

    def finish(self, result):
        store = result.metrics.variants["default"].cells
        self.seen.update(versions=result.metrics.spill_file.versions, in_memory=store.in_memory, cells=len(store),
                         path=result.metrics.spill_file.path)


def test_a_spilling_run_writes_the_usual_complete_run_directory(endpoint, tmp_path):
    probe = Probe()
    spec = {"target": {"url": endpoint + "/ok"}, "load": {"rate": 150, "duration": "7s", "timeout": "0.1s"}}
    # the run directory first: it is written before the probe looks
    result = stinger.run(spec, outputs=[RunDirOutput(tmp_path, "spill"), probe])
    assert result.exit_code == 0
    seen = probe.seen
    assert seen["path"] == str(result.run_dir / SPILL)
    assert seen["cells"] >= 7 and seen["versions"] >= 3 and seen["in_memory"] <= 4, seen   # most were spilled
    gc.collect()
    names = sorted(p.name for p in result.run_dir.iterdir())
    assert names == ["histograms.hlog", "intervals.csv", "report.html", "series.csv", "spec.yaml", "summary.json"], names
    ok = result.summary["variants"]["default"]["requests"]["ok"]
    assert ok >= 900
    with open(result.run_dir / "intervals.csv", newline="") as fp:
        rows = list(csv.DictReader(fp))
    assert [float(r["t"]) for r in rows][:7] == [0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0]
    assert sum(int(r["ok"]) for r in rows) == ok
    logged = {item.start_s: item.hist.total_count for item in read_histogram_log(result.run_dir / "histograms.hlog")
              if item.tag == "latency/default"}
    assert sum(logged.values()) == ok
    for r in rows:
        if int(r["ok"]):
            assert logged[float(r["t"])] == int(r["ok"])
