"Every notebook is a test: its inline test cells run top to bottom, as `nbdev-test` would run them."
import json, re
from pathlib import Path
import pytest
from nbdev.test import test_nb as run_nb

NBS = sorted((Path(__file__).resolve().parent.parent/'nbs').glob('*.ipynb'))

_slow = re.compile(r'^\s*#\s*\|\s*slow\b', re.M)   # `#| slow`, `#|slow`, below another directive: as nbdev reads them

def has_slow(nb:Path)->bool:
    "`True` if `nb` has a cell flagged `#| slow`."
    cells = json.loads(nb.read_text())['cells']
    return any(_slow.search(''.join(c['source'])) for c in cells if c['cell_type']=='code')

@pytest.mark.parametrize('nb', NBS, ids=lambda p: p.stem)
def test_notebook(nb):
    "Run `nb` without its `#| slow` cells."
    ok, _ = run_nb(nb, skip_flags=['slow'])
    assert ok, f'{nb.name} failed: its traceback is in the captured output below'

@pytest.mark.slow
@pytest.mark.parametrize('nb', [nb for nb in NBS if has_slow(nb)], ids=lambda p: p.stem)
def test_notebook_slow(nb):
    "Run `nb` with its `#| slow` cells too."
    ok, _ = run_nb(nb, skip_flags=[], force_flags=['slow'])
    assert ok, f'{nb.name} (with slow cells) failed: its traceback is in the captured output below'

@pytest.mark.slow
@pytest.mark.parametrize('nb', NBS, ids=lambda p: p.stem)
def test_notebook_in_jupyter(nb, monkeypatch):
    "Run `nb` as a reader does, every cell in a Jupyter kernel: there fastprogress draws HTML bars and plots show in the cell, so what a cell prints or saves differs from a script's."
    import nbformat
    from nbclient import NotebookClient
    monkeypatch.delenv('MPLBACKEND', raising=False)   # Jupyter's own inline plots, not the tests' agg
    book = nbformat.read(nb, as_version=4)
    NotebookClient(book, timeout=600, kernel_name='python3', resources={'metadata': {'path': str(nb.parent)}}).execute()   # raises at a failing cell
