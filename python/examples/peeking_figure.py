"""The README's peeking figure: the false-positive rate of an A/A test
checked at 10 looks, for umpire's built-in methods and the custom
Bonferroni-over-looks method of python/examples/bonferroni_peeking.py, on
the same simulated data. Needs matplotlib (not a CI requirement).

    python python/examples/peeking_figure.py [OUT.png]
"""

import pathlib
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

import umpire  # noqa: E402

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(HERE))
from bonferroni_peeking import bonferroni_peeking  # noqa: E402


def main(out):
    res = umpire.run(
        ROOT / "scenarios" / "peeking_naive_vs_sequential.toml",
        methods={"bonferroni_peeking": bonferroni_peeking},
    )
    fpr = res.summary.query("measure == 'false_positive_rate'").sort_values("value")
    by_look = res.by_look
    alpha = res.json["alpha"]
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), gridspec_kw={"width_ratios": [1, 1.2]})
    colors = ["#c44e52" if m == "bonferroni_peeking" else "#4c72b0" for m in fpr.method]
    y = range(len(fpr))
    left.barh(y, fpr.value, color=colors,
              xerr=[fpr.value - fpr.low, fpr.high - fpr.value], capsize=3)
    left.set_yticks(list(y), fpr.method)
    left.axvline(alpha, color="k", ls="--", lw=1)
    left.set_xlabel("false-positive rate (95% Wilson interval)")
    left.set_title(f"A/A, 10 looks, {res.json['replications']:,} replications")
    palette = iter(["#4c72b0", "#55a868", "#8172b2", "#ccb974", "#64b5cd", "#8c8c8c", "#dd8452"])
    for method, rows in by_look.groupby("method", sort=False):
        mine = method == "bonferroni_peeking"
        right.plot(rows.look, rows.value, marker="o", ms=3, lw=2.5 if mine else 1.2,
                   color="#c44e52" if mine else next(palette), label=method)
    right.axhline(alpha, color="k", ls="--", lw=1, label=f"alpha = {alpha}")
    right.set_xlabel("look")
    right.set_ylabel("rejected by this look (cumulative)")
    right.set_title("Cumulative false-positive rate by look")
    right.legend(fontsize=8, ncol=2)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(fpr[["method", "value", "low", "high"]].to_string(index=False))
    print(f"wrote {out}")


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else ROOT / "docs" / "img" / "peeking_fpr.png")
