"""An interval holds the requests intended in it, a request intended exactly on its tick included: at
4/s over 4 s the intervals said scheduled 5, 4, 4, 3 (the request intended at 1.000 s was fired before
the tick's timer ran and counted in the second before). The open pump now runs the tick first."""

from __future__ import annotations

import csv
import math
from collections import Counter
from pathlib import Path

import stinger


def test_each_interval_schedules_the_requests_intended_in_it_boundaries_included(tmp_path):
    r = stinger.run({"target": {"type": "fake", "delay": "2ms"}, "load": {"rate": 4, "duration": "4s"},
                     "output": {"dir": str(tmp_path), "save_requests": True}}, outputs=["rundir"])
    d = Path(r.run_dir)
    intervals = list(csv.DictReader((d / "intervals.csv").open()))
    rows = list(csv.DictReader((d / "requests.csv").open()))
    intended = Counter(math.floor(float(x["intended_s"]) + 1e-9) for x in rows)
    assert sorted(intended) == [0, 1, 2, 3] and intended[1] == 4   # 1.000, 1.250, 1.500, 1.750
    assert [int(i["scheduled"]) for i in intervals] == [intended[k] for k in range(4)] == [4, 4, 4, 4]
    assert sum(int(i["scheduled"]) for i in intervals) == r.summary["variants"]["default"]["requests"]["scheduled"]
