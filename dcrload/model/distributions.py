"""Random durations in scenarios (session lengths, service times, clock offsets).

Each distribution is a small frozen pydantic model chosen by its `dist` field, with a
`sample(rng)` that draws from the `random.Random` it is handed (never the global one), a
`sampler()` that returns the same draws as a function with the fields read once (for a
loop that samples millions of times), and a `mean` that tests and the analytic checks use.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Annotated, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from dcrload.core.durations import parse_duration
from dcrload.core.streams import Rng

Duration = Annotated[float, BeforeValidator(parse_duration)]
"""Seconds, written in a scenario as "15ms", "6h", "2d" or a bare number of seconds."""


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Fixed(_Frozen):
    """Always `value`."""

    dist: Literal["fixed"] = "fixed"
    value: Duration

    @property
    def mean(self) -> float:
        return self.value

    def sample(self, rng: Rng) -> float:
        return self.value

    def sampler(self) -> Callable[[Rng], float]:
        value = self.value
        return lambda rng: value


class Exponential(_Frozen):
    """Memoryless, mean `mean` (service times, gaps between independent events)."""

    dist: Literal["exponential"] = "exponential"
    mean_value: Duration = Field(alias="mean", gt=0)

    @property
    def mean(self) -> float:
        return self.mean_value

    def sample(self, rng: Rng) -> float:
        return rng.expovariate(1.0 / self.mean_value)

    def sampler(self) -> Callable[[Rng], float]:
        lambd = 1.0 / self.mean_value
        return lambda rng: rng.expovariate(lambd)


class LogNormal(_Frozen):
    """Median `median`, log-scale spread `sigma` (session lengths: many short, a long tail)."""

    dist: Literal["lognormal"] = "lognormal"
    median: Duration = Field(gt=0)
    sigma: float = Field(ge=0, le=10, default=0.8)  # beyond 10, draws overflow a float

    @property
    def mean(self) -> float:
        return self.median * math.exp(self.sigma**2 / 2)

    def sample(self, rng: Rng) -> float:
        return rng.lognormvariate(math.log(self.median), self.sigma)

    def sampler(self) -> Callable[[Rng], float]:
        mu, sigma = math.log(self.median), self.sigma
        return lambda rng: rng.lognormvariate(mu, sigma)


class Uniform(_Frozen):
    """Evenly between `low` and `high`."""

    dist: Literal["uniform"] = "uniform"
    low: Duration
    high: Duration

    @model_validator(mode="after")
    def _ordered(self) -> Uniform:
        if self.high < self.low:
            raise ValueError("high must be at least low")
        return self

    @property
    def mean(self) -> float:
        return (self.low + self.high) / 2

    def sample(self, rng: Rng) -> float:
        return rng.uniform(self.low, self.high)

    def sampler(self) -> Callable[[Rng], float]:
        low, high = self.low, self.high
        return lambda rng: rng.uniform(low, high)


class Normal(_Frozen):
    """Mean `mean`, standard deviation `sd` (clock offsets around zero)."""

    dist: Literal["normal"] = "normal"
    mean_value: Duration = Field(alias="mean", default=0.0)
    sd: Duration = Field(ge=0)

    @property
    def mean(self) -> float:
        return self.mean_value

    def sample(self, rng: Rng) -> float:
        return rng.gauss(self.mean_value, self.sd)

    def sampler(self) -> Callable[[Rng], float]:
        mean, sd = self.mean_value, self.sd
        return lambda rng: rng.gauss(mean, sd)


Distribution = Annotated[
    Fixed | Exponential | LogNormal | Uniform | Normal, Field(discriminator="dist")
]
"""A table such as `{dist = "lognormal", median = "25m", sigma = 0.8}`."""
