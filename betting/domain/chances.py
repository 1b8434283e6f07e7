"""Win chances from finishing-time distributions, in integers only.

Each runner's time still to go is taken as normal, with a mean and a spread. A runner wins when
its time is the smallest, so its chance is the integral over t of its density at t times every
other runner's chance of finishing after t. That integral is taken on a fixed grid (a quadrature):
the runner's probability mass in each cell times the others' survival at the cell's edges,
averaged. Every quantity is a fixed-point integer (`SCALE` is one), so the result is the same on
every machine and no float enters the domain.

The standard normal distribution function comes from a table built at import by summing the
Taylor series of the integral of exp(-u^2/2) in 200-bit fixed point, normalised by its value
at 8 (which differs from the limit by about 1e-15): no float, and no constant to copy in.
"""

from __future__ import annotations

from collections.abc import Sequence

SCALE_BITS = 32
SCALE = 1 << SCALE_BITS  # a probability of one
Z_STEPS_PER_UNIT = 32  # table resolution: linear interpolation is then good to about 3e-5
Z_MAX = 8  # beyond eight standard deviations a runner's time is certain to be on one side
GRID_CELLS = 64  # quadrature cells: errors stay below a few hundredths of a point
GRID_Z = 6  # the grid spans six spreads: the mass beyond is 1e-9
_SERIES_BITS = 200


def _normal_integrals() -> list[int]:
    """Integral of exp(-u^2/2) from 0 to k/Z_STEPS_PER_UNIT, for k up to Z_MAX * steps, in
    fixed point with `_SERIES_BITS` fractional bits."""
    one = 1 << _SERIES_BITS
    steps = Z_STEPS_PER_UNIT
    values = []
    for k in range(Z_MAX * steps + 1):
        # term_n = z^(2n+1) / (2^n n! (2n+1)), alternating; a_n is the part before (2n+1).
        a = one * k // steps
        total, n = 0, 0
        while a:
            term = a // (2 * n + 1)
            total += -term if n % 2 else term
            a = a * k * k // (steps * steps * 2 * (n + 1))
            n += 1
        values.append(total)
    return values


def _cdf_table() -> tuple[int, ...]:
    integrals = _normal_integrals()
    half_total = integrals[-1]  # the integral to infinity, to 1e-15
    return tuple(SCALE // 2 + integral * SCALE // (2 * half_total) for integral in integrals)


_CDF = _cdf_table()  # Phi(k / Z_STEPS_PER_UNIT) * SCALE for k >= 0
_TABLE_MAX = len(_CDF) - 1


def normal_cdf(numerator: int, denominator: int) -> int:
    """Phi(numerator / denominator) * SCALE, by linear interpolation in the table."""
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    negative = numerator < 0
    position = abs(numerator) * Z_STEPS_PER_UNIT  # the table index is position / denominator
    index, remainder = divmod(position, denominator)
    if index >= _TABLE_MAX:
        value = SCALE
    else:
        low, high = _CDF[index], _CDF[index + 1]
        value = low + (high - low) * remainder // denominator
    return SCALE - value if negative else value


def win_chances(means: Sequence[int], spreads: Sequence[int]) -> list[int]:
    """Each runner's chance (SCALE is one) that its normal time is the smallest.

    `means` and `spreads` are in any one unit of time (the race model uses microseconds); a
    spread below one is taken as one. The chances are normalised to sum to SCALE exactly, the
    remainder going to the first runners in order, so equal runners stay equal to one part.
    """
    count = len(means)
    if count == 0 or len(spreads) != count:
        raise ValueError("one mean and one spread per runner, at least one runner")
    if count == 1:
        return [SCALE]
    spreads = [max(1, spread) for spread in spreads]
    low = min(mean - GRID_Z * spread for mean, spread in zip(means, spreads, strict=True))
    # Past the earliest of the latest finishes someone has certainly finished: nobody else wins.
    high = min(mean + GRID_Z * spread for mean, spread in zip(means, spreads, strict=True))
    width = max(1, high - low)
    # A runner certain to finish after `high` has no chance and leaves the others' unchanged.
    contenders = [i for i in range(count) if means[i] - GRID_Z * spreads[i] < high]
    survival = [_survival_row(low, width, means[i], spreads[i]) for i in contenders]
    raw = [0] * len(contenders)
    for k in range(GRID_CELLS):
        others = _products_of_others([(row[k] + row[k + 1]) >> 1 for row in survival])
        for i, row in enumerate(survival):
            raw[i] += (row[k] - row[k + 1]) * others[i]
    chances = [0] * count
    for i, chance in zip(contenders, _normalised(raw), strict=True):
        chances[i] = chance
    return chances


def _survival_row(low: int, width: int, mean: int, spread: int) -> list[int]:
    """1 - Phi at each grid edge t_k = low + width * k / GRID_CELLS, for one runner."""
    denominator = spread * GRID_CELLS
    start = (low - mean) * GRID_CELLS
    return [SCALE - normal_cdf(start + width * k, denominator) for k in range(GRID_CELLS + 1)]


def _products_of_others(values: list[int]) -> list[int]:
    """For each i, the product of every value but the i-th, in fixed point (prefix x suffix)."""
    count = len(values)
    prefix = [SCALE] * (count + 1)
    for i, value in enumerate(values):
        prefix[i + 1] = prefix[i] * value >> SCALE_BITS
    result = [0] * count
    suffix = SCALE
    for i in range(count - 1, -1, -1):
        result[i] = prefix[i] * suffix >> SCALE_BITS
        suffix = suffix * values[i] >> SCALE_BITS
    return result


def _normalised(raw: list[int]) -> list[int]:
    total = sum(raw)
    if total <= 0:  # no runner has any mass on the grid: cannot happen, but stay defined
        return [SCALE // len(raw) + (1 if i < SCALE % len(raw) else 0) for i in range(len(raw))]
    chances = [weight * SCALE // total for weight in raw]
    shortfall = SCALE - sum(chances)
    for i in range(shortfall):
        chances[i % len(chances)] += 1
    return chances
