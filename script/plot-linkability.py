#!/usr/bin/env python3
"""Draws build/linkability/linkability.png from the JSON `zkcredits linkability` writes.

Left: how well the provider re-links calls (adjusted Rand index, 0 = random guessing) under
each setting of the mitigations, with the random baseline and the target. Right: what each
setting costs (added latency, overcharge, extra bytes).
"""

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

source = Path(sys.argv[1] if len(sys.argv) > 1 else "build/linkability/linkability.json")
report = json.loads(source.read_text())
rows = report["rows"] + [dict(report["model_operator"], setting=dict(
    report["model_operator"]["setting"], name="all on, against a provider that runs the model"))]
names = [row["setting"]["name"] for row in rows]
ari = [row["score"]["ari"] for row in rows]
random_ari = [row["random"]["ari"] for row in rows]

fig, (left, right) = plt.subplots(1, 2, figsize=(15, 0.55 * len(rows) + 2.2),
                                  gridspec_kw={"width_ratios": [3, 2]}, sharey=True)
positions = list(range(len(rows)))[::-1]
left.barh(positions, ari, color="#4c72b0", label="attacker (best feature set)")
left.scatter(random_ari, positions, color="black", marker="|", s=200, zorder=3,
             label="random guessing")
left.axvline(report["target_ari"], color="#c44e52", linestyle="--",
             label=f"target: within {report['target_ari']:.2f} of random")
for y, value in zip(positions, ari):
    left.text(value + 0.01, y, f"{value:.3f}", va="center", fontsize=8)
left.set_yticks(positions)
left.set_yticklabels(names, fontsize=8)
left.set_xlim(-0.02, 1.1)
left.set_xlabel("re-linking: adjusted Rand index (0 = random, 1 = every call re-linked)")
left.legend(loc="lower right", fontsize=8)
left.set_title(f"{report['users']} users, {report['calls']} calls over {report['days']} days, "
               f"seed {report['seed']}", fontsize=10)

latency = [row["added_latency_secs"] for row in rows]
overcharge = [100 * row["overcharge"] for row in rows]
extra = [100 * row["extra_bytes"] for row in rows]
height = 0.27
right.barh([p + height for p in positions], overcharge, height, color="#dd8452",
           label="overcharge, %")
right.barh(positions, extra, height, color="#55a868", label="extra bytes, %")
right.barh([p - height for p in positions], [min(s, 600) for s in latency], height,
           color="#8172b3", label="added latency, s (cut at 600)")
right.set_xscale("symlog", linthresh=10)
right.set_xlabel("cost of the setting")
right.legend(loc="upper right", fontsize=8)

fig.tight_layout()
target = source.with_suffix(".png")
fig.savefig(target, dpi=110)
print(f"wrote {target}")
