"""Load tests: the Locust driver of the lifecycle and the mock DCR service they run against."""
