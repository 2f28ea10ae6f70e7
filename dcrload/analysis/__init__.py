"""Analysis of counted runs: prediction check, thresholds, statistics, recommendation."""
