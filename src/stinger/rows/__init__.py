"""Row sinks: where the per-request rows go (`output.rows`, `--save-requests[=csv|parquet]`); rows/base.py."""
