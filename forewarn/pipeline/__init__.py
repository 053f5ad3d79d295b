"""The reading pipeline: one path for every reading, however it arrives.

Every way in hands its readings to the same `ReadingPipeline` (built once in
`forewarn.runtime.build_runtime`, as `runtime.pipeline`):

- `POST /api/v1/devices/{id}/telemetry` (`api/routes/telemetry.py`, transport "http"),
- `POST /api/v1/ml/predict[/batch]` (`api/routes/predict.py`, "http"),
- MQTT ingest (`ingest/writer.py`, "mqtt"), one transaction per batch of messages,
- `forewarn import-csv` (`cli/imports.py`, "csv"), one transaction per file,
- the simulator, which posts to the HTTP API or publishes to the MQTT broker.

The path, one transaction for all of it:

1. **Validate** at the entry point, with the one reading rule (`telemetry/readings.py`): metric-name
   pattern, finite value, timestamp format and range, metrics per reading, batch limit.
2. **Store** the readings (`telemetry.store.storing`: COPY on PostgreSQL, from a helper thread
   for large batches while step 3 runs).
3. **Score** every series that has an active model, in time order, and add its anomalies to
   the transaction (`score.py` for readings by device, `predict.py` for readings by series).
4. **Stages** (`stages.py`): each `Stage` in `ReadingPipeline.stages` gets the scored series
   (`ScoredSeries`: model, readings, verdicts) inside the transaction; if one raises, nothing
   is kept. There are none yet; alarm rules will be the first.
5. The caller's own rows (the dead letters of an MQTT batch), then **commit**.
6. **Publish and count**: the scorer's after-commit hook (`stream/commit.py`) hands the
   committed anomalies to the live stream, and `readings_ingested{transport}` is counted.
   Nothing rolled back is ever published.
"""
