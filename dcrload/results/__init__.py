"""Results: the files every run leaves (summary, time series, pictures), written whole."""
