"""The product's retraining schedule, used wherever a replay must run as the product does.

Refit after every week of readings at the usual 5-minute sampling (2,016 rows), on the
trailing four weeks (8,064 rows). `forewarn evaluate`, `POST /api/v1/ml/evaluate` and
benchmarks/bench_nab.py all replay with it, so their figures agree.
"""

from __future__ import annotations

RETRAIN_EVERY_ROWS = 2_016
RETRAIN_WINDOW_ROWS = 8_064
