"""The README's "Bring your own method" example runs as written, and its
method is python/examples/bonferroni_peeking.py verbatim (the figure script
imports it), so the docs cannot drift from the code."""

import contextlib
import io
import os
import re

from conftest import ROOT

SECTION = "## README: \"Bring your own method\""


def example_blocks():
    """The ```python blocks of the README's section (of the doc draft while
    the README has no such section)."""
    readme = (ROOT / "README.md").read_text()
    start = readme.find("Bring your own method")
    if start >= 0 and "```python" in readme[start:]:
        text = readme[start:]
        end = re.search(r"\n## ", text)
        text = text[: end.start()] if end else text
    else:
        draft = (ROOT / "docs" / "i14-py.md").read_text()
        text = draft[draft.index(SECTION):]
        text = text[: text.index("\n## ARCHITECTURE")]
    return re.findall(r"```python\n(.*?)```", text, flags=re.S)


def test_method_block_is_the_example_file():
    blocks = example_blocks()
    assert len(blocks) == 2
    assert blocks[0] == (ROOT / "python" / "examples" / "bonferroni_peeking.py").read_text()


def test_readme_example_runs(monkeypatch):
    monkeypatch.chdir(ROOT)
    namespace = {"__name__": "readme_example"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for block in example_blocks():
            exec(compile(block, "README.md", "exec"), namespace)
    fpr = namespace["fpr"].set_index("method")
    assert "method" in out.getvalue() and "bonferroni_peeking" in out.getvalue()
    mine, naive = fpr.loc["bonferroni_peeking"], fpr.loc["naive"]
    # Bonferroni over the looks is valid under peeking: its false-positive
    # rate's 95% interval lies at or under alpha; naive peeking's lies above.
    assert mine.low <= 0.05
    assert naive.low > 0.05
    assert mine.trials == 4000
    assert os.path.exists(ROOT / "docs" / "img" / "peeking_fpr.png")
