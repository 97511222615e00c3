"Cross-cutting checks on the exported package: imports, dependencies, the loop's size."
import ast, inspect, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ORDER = ['core', 'optimizer', 'callback', 'annealing', 'schedulers', 'learner', 'tracker', 'monitor', 'precision', 'rnn',
         'checkpoint', 'distributed']   # notebook order

def test_import_runs_no_code_and_needs_no_dev_packages():
    "Importing `fastcb.all` defines things and trains nothing: no sklearn, nbdev or IPython gets imported, nor pyplot (imported to plot) or a web stack."
    code = "import sys, fastcb.all; print(sorted(m for m in ('sklearn', 'nbdev', 'IPython', 'matplotlib.pyplot', 'fasthtml') if m in sys.modules))"
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, check=True, cwd=ROOT).stdout
    assert out.strip() == '[]', out

def test_imports_flow_in_notebook_order():
    "A module imports only fastcb modules that come before it in notebook order."
    mods = {p.stem: p for p in (ROOT/'fastcb').glob('*.py') if not p.stem.startswith('_') and p.stem != 'all'}
    for name, path in mods.items():
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.level == 1 and node.module:
                dep = node.module.split('.')[0]
                if name in ORDER and dep in ORDER: assert ORDER.index(dep) < ORDER.index(name), f"{name} imports later module {dep}"

def test_every_module_is_placed_and_reexported():
    "A new module has its place in `ORDER` and is re-exported by `fastcb.all` (nbs/99_all.ipynb): else no `import *` brings its names."
    mods = {p.stem for p in (ROOT/'fastcb').glob('*.py') if not p.stem.startswith('_') and p.stem != 'all'}
    assert mods == set(ORDER), f"modules missing from ORDER: {sorted(mods - set(ORDER))}; in ORDER but gone: {sorted(set(ORDER) - mods)}"
    import fastcb.all
    assert [m.__name__.split('.')[-1] for m in fastcb.all._modules] == ORDER

def test_fit_stays_small():
    from fastcb.callback import fit
    assert len(inspect.getsource(fit).splitlines()) <= 35

def test_runtime_dependencies():
    import tomllib
    deps = tomllib.loads((ROOT/'pyproject.toml').read_text())['project']['dependencies']
    assert sorted(d.split('>')[0].split('=')[0].split('<')[0] for d in deps) == ['fastprogress', 'matplotlib', 'numpy', 'torch']

def test_no_undefined_names():
    "Every name the exported modules use is defined or imported there: a notebook's test cells can import what its export cells forget."
    from pyflakes.checker import Checker
    from pyflakes.messages import UndefinedName
    undefined = [f"{p.name}:{m.lineno}: {m.message % m.message_args}" for p in sorted((ROOT/'fastcb').glob('*.py'))
                 for m in Checker(ast.parse(p.read_text()), str(p)).messages if isinstance(m, UndefinedName)]
    assert not undefined, '\n'.join(undefined)
