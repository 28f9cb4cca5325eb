"""The README's "Bring your own method" Python examples run as written and
print exactly what the page shows, and the method block is
python/examples/bonferroni_peeking.py verbatim (the figure script imports
it), so the docs cannot drift from the code."""

import contextlib
import io
import os
import re

from conftest import ROOT

EXAMPLE = ROOT / "python" / "examples" / "bonferroni_peeking.py"


def section():
    """The README's "From Python" part of "Bring your own method"."""
    readme = (ROOT / "README.md").read_text()
    start = readme.index("\n## Bring your own method\n")
    text = readme[start:]
    return text[: text.index("\n### From Rust\n")]


def example_blocks():
    """Every ```python block of the section, each with the ```text block that
    follows it directly (the output the page shows), or None."""
    pattern = r"```python\n(.*?)```\n(?:\n```text\n(.*?)```\n)?"
    return re.findall(pattern, section(), flags=re.S)


def test_method_block_is_the_example_file():
    blocks = [code for code, _ in example_blocks()]
    assert EXAMPLE.read_text() in blocks


def test_readme_examples_print_what_the_page_shows(monkeypatch):
    monkeypatch.chdir(ROOT)
    blocks = example_blocks()
    assert len(blocks) >= 4 and sum(1 for _, shown in blocks if shown) >= 2
    namespace = {"__name__": "readme_example"}
    for i, (code, shown) in enumerate(blocks):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            exec(compile(code, f"README.md python block {i + 1}", "exec"), namespace)
        if shown:
            printed = [line.rstrip() for line in out.getvalue().splitlines()]
            expected = [line.rstrip() for line in shown.splitlines()]
            assert printed == expected, f"python block {i + 1} printed:\n{out.getvalue()}"
    fpr = namespace["fpr"].set_index("method")
    mine, naive = fpr.loc["bonferroni_peeking"], fpr.loc["naive"]
    # Bonferroni over the looks is valid under peeking: its false-positive
    # rate's 95% interval lies at or under alpha; naive peeking's lies above.
    assert mine.low <= 0.05
    assert naive.low > 0.05
    assert mine.trials == 4000
    assert os.path.exists(ROOT / "docs" / "img" / "peeking_fpr.png")

