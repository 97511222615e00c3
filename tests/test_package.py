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

_BYTECODE_CASES = '''
import ast, dis, sys
import functools, inspect
from typing import Callable, Optional
ns = {'dis': dis, 'inspect': inspect, 'Callable': Callable, 'Optional': Optional}
for node in ast.parse(open(sys.argv[1]).read()).body:   # fastcb's bytecode readers alone: this Python may have no torch
    if isinstance(node, ast.FunctionDef) and node.name in ('_reads_name', '_loaded', '_forwards_only', '_called', '_callee'):
        exec(compile(ast.Module([node], []), 'callback.py', 'exec'), ns)
class C:
    def after_store(self, **kwargs):
        val = self.x
        return kwargs['last_loss']
    def comprehension(self, **kwargs): return [kwargs[k] for k in ('epoch',)]
    def loop(self, **kwargs):
        for k in ('epoch', 'last_metrics'): print(kwargs[k])
    def pair(self, **kwargs):
        y, z = self.x, 3
        return y, kwargs
    def unused(self, **kwargs): pass
    def rebound(self, **kwargs): kwargs = {}
def passes(func):   # as torch.no_grad() wraps a method
    @functools.wraps(func)
    def wrapper(*args, **kwargs): return func(*args, **kwargs)
    return wrapper
def passes_self(func):
    @functools.wraps(func)
    def wrapper(self, *args, **kwargs):
        y = self
        return func(y, *args, **kwargs)
    return wrapper
def by_default(func):
    @functools.wraps(func)
    def wrapper(*args, _f=func, **kwargs): return _f(*args, **kwargs)
    return wrapper
def logs(func):   # the hook would get the wrapped method's keys alone
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        print(dict(**kwargs))
        return func(*args, **kwargs)
    return wrapper
def calls_other(func):
    @functools.wraps(func)
    def wrapper(self, *args, **kwargs): return self.g(*args, **kwargs)
    return wrapper
def reads_too(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        for k in (1,): func(*args, **kwargs)
        return kwargs
    return wrapper
def shows(func):
    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        print(locals())
        return func(*args, **kwargs)
    return wrapper
def method(self, last_loss): pass
reads = [n for n in ('after_store', 'comprehension', 'loop', 'pair', 'unused', 'rebound') if ns['_reads_name'](getattr(C, n), 'kwargs')]
fwd = [d.__name__ for d in (passes, passes_self, by_default, logs, calls_other, reads_too, shows) if ns['_forwards_only'](d(method), 'kwargs')]
print(reads, fwd)
'''

def _pythons()->list[str]:
    "This Python and the other CPythons >= 3.11 found here (pyenv's, or on the PATH): each compiles methods its own way."
    import glob, shutil
    found = [sys.executable, *glob.glob(str(Path.home()/'.pyenv/versions/3.*/bin/python3')), *filter(None, map(shutil.which, [f'python3.{n}' for n in range(11, 16)]))]
    res, seen = [], set()
    for p in found:
        v = subprocess.run([p, '-c', 'import sys; print(sys.version_info >= (3, 11), sys.version.split()[0])'], capture_output=True, text=True)
        if v.returncode == 0 and v.stdout.startswith('True') and v.stdout.split()[1] not in seen: seen.add(v.stdout.split()[1]); res.append(p)
    return res

def test_bytecode_readers_on_each_python():
    "Which state keys a callback gets is read from its methods' bytecode (and a decorator's), which changes with each Python (3.13 joins a store and a load into one instruction): check the readers on every CPython >= 3.11 here."
    for py in _pythons():
        out = subprocess.run([py, '-c', _BYTECODE_CASES, str(ROOT/'fastcb'/'callback.py')], capture_output=True, text=True)
        assert out.returncode == 0, (py, out.stderr)
        assert out.stdout.split('\n')[0] == "['after_store', 'comprehension', 'loop', 'pair'] ['passes', 'passes_self', 'by_default']", (py, out.stdout)
