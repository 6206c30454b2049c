#!/usr/bin/python3
"""Expected values for HpsSharp's metric tests, computed independently with scipy/numpy.

Run once with the system Python (Debian python3-scipy); the output is committed:
    /usr/bin/python3 tools/gen_metric_fixtures.py > tests/fixtures/metrics/expected.json
"""
import json
import numpy as np
import scipy
from scipy import stats

HUMAN = {"Playground-v2.5": 12.79, "Kolors": 12.51, "Flux-dev": 11.97, "CogView4": 10.79, "Infinity": 10.61,
         "PixArt-Σ": 8.72, "Hunyuan": 6.79, "SDXL": 5.85, "SD3": 5.70, "SD2": 0.67}
# HPSv3 "All" column of the paper's benchmark table (docs/evaluation.md#generation-benchmark), same model order as HUMAN.
HPSV3_ALL = {"Playground-v2.5": 10.27, "Kolors": 10.55, "Flux-dev": 10.43, "CogView4": 9.61, "Infinity": 10.26,
             "PixArt-Σ": 9.37, "Hunyuan": 8.19, "SDXL": 8.20, "SD3": 5.31, "SD2": -0.24}


def nmse(x, y):
    x = np.asarray(x, float); y = np.asarray(y, float)
    nx = (x - x.min()) / (x.max() - x.min()); ny = (y - y.min()) / (y.max() - y.min())
    return float(np.mean((nx - ny) ** 2))


def case(name, x, y):
    rho = stats.spearmanr(x, y).statistic
    tau = stats.kendalltau(x, y, variant="b").statistic
    return {"name": name, "x": list(map(float, x)), "y": list(map(float, y)),
            "spearman": float(rho), "kendall_tau_b": float(tau), "normalized_mse": nmse(x, y),
            "ranks_x": list(map(float, stats.rankdata(x, method="average")))}


rng = np.random.default_rng(20260417)
cases = [
    case("paper_hpsv3_vs_human", [HPSV3_ALL[k] for k in HUMAN], [HUMAN[k] for k in HUMAN]),
    case("n2_increasing", [1.0, 2.0], [3.0, 5.0]),
    case("n2_decreasing", [1.0, 2.0], [5.0, 3.0]),
    case("ties_in_x", [1, 2, 2, 3, 4, 4, 4, 5], [2, 1, 4, 3, 6, 5, 8, 7]),
    case("ties_in_both", [1, 1, 2, 2, 3, 3], [1, 2, 1, 2, 3, 3]),
    case("perfect_inverse", [1, 2, 3, 4, 5], [50, 40, 30, 20, 10]),
    case("random_30", rng.normal(size=30).round(3), rng.normal(size=30).round(3)),
    case("random_ties_40", rng.integers(0, 6, size=40).astype(float), rng.integers(0, 6, size=40).astype(float)),
]

# Percentile quantiles with linear interpolation (numpy's default), for the bootstrap's quantile.
q_values = rng.normal(size=17).round(4)
quantiles = {"values": sorted(map(float, q_values)),
             "q": [0.0, 0.025, 0.5, 0.975, 1.0],
             "expected": [float(np.quantile(q_values, q)) for q in [0.0, 0.025, 0.5, 0.975, 1.0]]}

print(json.dumps({"generator": f"scipy {scipy.__version__}, numpy {np.__version__}", "cases": cases,
                  "quantiles": quantiles}, indent=1, ensure_ascii=False))
