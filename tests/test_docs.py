"The offline docs build (tools/build_docs.py): deterministic, complete for `fastcb.all`, strict about untested names."
import base64, json, os, re, struct, subprocess, sys, zlib
from pathlib import Path
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT/'tools'))
import build_docs as bd

def png(w=40, h=30) -> bytes:
    "A small valid RGB PNG: a diagonal gradient."
    rows = b''.join(b'\0' + bytes(c for x in range(w) for c in (x*6 % 256, y*8 % 256, 160)) for y in range(h))
    chunk = lambda t, d: struct.pack('>I', len(d)) + t + d + struct.pack('>I', zlib.crc32(t + d))
    return b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, 8, 2, 0, 0, 0)) + chunk(b'IDAT', zlib.compress(rows)) + chunk(b'IEND', b'')

def cell(src, outputs=None, kind='code'):
    c = {'cell_type': kind, 'metadata': {}, 'source': src}
    return c | ({'execution_count': None, 'outputs': outputs or []} if kind == 'code' else {})
def md(src): return cell(src, kind='markdown')
def nb(cells): return {'cells': cells, 'metadata': {'kernelspec': {'name': 'python3', 'language': 'python', 'display_name': 'Python 3'}}, 'nbformat': 4, 'nbformat_minor': 5}

LIB = '''__all__ = {all}

def double(x:int, # the number to double
          )->int:
    "Double `x`."
    return 2*x

class Thing:
    "A thing that goes."
    def __init__(self, n:int=1): self.n = n
    def go(self, k:int=2)->int:
        "Go `k` steps."
        return self.n*k
{extra}'''

def make_sample(root:Path, untested=False, undocumented=False) -> Path:
    "A tiny nbdev project: one notebook (plot, HTML table, hidden cell, tests), an index notebook, a tests/ file."
    lib = 'smp_' + re.sub(r'\W', '', root.name)[-12:]  # unique per tmp dir: several samples share sys.modules
    names = ['double', 'Thing'] + ['lonely']*untested + ['ghost']*undocumented
    extra = ('\ndef lonely(): "Never tested."\n' if untested else '') + ('\ndef ghost(): "In __all__, not in a notebook."\n' if undocumented else '')
    (root/lib).mkdir(parents=True); (root/'nbs').mkdir(); (root/'tests').mkdir()
    (root/lib/'__init__.py').write_text('')
    (root/lib/'core.py').write_text(LIB.format(all=names, extra=extra))
    (root/'pyproject.toml').write_text(f'[project]\nname = "{lib}"\ndescription = "A sample"\n[project.urls]\nRepository = "https://github.com/x/{lib}"\n'
                                       f'[tool.nbdev]\nnbs_path = "nbs"\nlib_path = "{lib}"\n')
    img = {'output_type': 'display_data', 'metadata': {}, 'data': {'image/png': base64.b64encode(png()).decode(), 'text/plain': '<Figure>'}}
    html = {'output_type': 'execute_result', 'metadata': {}, 'execution_count': 1,
            'data': {'text/html': '<table class="dataframe"><tr><th>epoch</th><th>loss</th></tr><tr><td>0</td><td>0.5</td></tr></table>', 'text/plain': 'table'}}
    cells = [md('# Sample core\n\n> Things that double and go.\n\n- skip_exec: true'), cell('#| default_exp core'),
             md('## Doubling\nWe use `double` a lot.'),
             cell('#| export\ndef double(x:int, # the number to double\n          )->int:\n    "Double `x`."\n    return 2*x\n\nclass Thing:\n    "A thing that goes."\n'
                  '    def __init__(self, n:int=1): self.n = n\n    def go(self, k:int=2)->int:\n        "Go `k` steps."\n        return self.n*k'),
             cell('#| hide\nHIDDEN_CELL_MARKER = double(0)'),
             cell('#| eval: false\nprint("shown code")\nx = 1  #| hide_line'),
             cell('assert double(2) == 4\nplot_of_doubles()', [img]),
             cell('Thing(2).go(3)', [html]),
             cell('#| echo: false\nprint("only the output")', [{'output_type': 'stream', 'name': 'stdout', 'text': 'only the output\n'}])]
    if untested: cells.append(cell('#| export\ndef lonely(): "Never tested."'))
    (root/'nbs'/'00_core.ipynb').write_text(json.dumps(nb(cells), indent=1))
    (root/'nbs'/'index.ipynb').write_text(json.dumps(nb([
        md(f'# {lib}\n\n> A sample'), cell(f'#| hide\nfrom {lib}.core import *'), md('Double a number:'),
        cell('double(3)', [{'output_type': 'execute_result', 'metadata': {}, 'execution_count': 1, 'data': {'text/plain': '6'}}])]), indent=1))
    (root/'tests'/'test_sample.py').write_text(f'from {lib}.core import Thing\ndef test_thing(): assert Thing().go() == 2\n')
    return root

def run_build(*args, seed='0'):
    return subprocess.run([sys.executable, str(ROOT/'tools'/'build_docs.py'), '--no-export', *map(str, args)],
                          capture_output=True, text=True, env=os.environ | {'PYTHONHASHSEED': seed})

@pytest.fixture(scope='module')
def sample(tmp_path_factory):
    root = make_sample(tmp_path_factory.mktemp('sample'))
    assert bd.build(root, root/'out'/'docs', root/'out'/'README.md') == []
    return root

def test_sample_page(sample):
    page = (sample/'out'/'docs'/'core.html').read_text()
    assert 'id="double"' in page and 'id="Thing"' in page and 'id="Thing.go"' in page          # entries, methods too
    assert 'the number to double' in page                                                     # docments param note
    assert re.search(r'href="https://github.com/x/smp_\w+/blob/main/smp_\w+/core.py#L3"', page)  # source link, line
    assert 'tests/test_notebooks.py::test_notebook[00_core]' in page and 'tests/test_sample.py::test_thing' in page
    assert 'HIDDEN_CELL_MARKER' not in page and '#|' not in page and 'skip_exec' not in page    # hidden, directives
    assert '00_core.ipynb cells 5 (hidden), <a href="core.html#cell-7">7</a>' in page       # test cells of `double`, numbered from 1 as nbdev's errors
    assert 'shown code' in page and 'only the output' in page and 'print(&quot;only' not in page
    assert '<table class="dataframe">' in page and 'core_files/cell6_0.png' in page
    assert (sample/'out'/'docs'/'core_files'/'cell6_0.png').read_bytes() == png()
    assert '<a href="#double"><code>double</code></a>' in page                                  # prose links to entry

def test_sample_readme(sample):
    readme = (sample/'out'/'README.md').read_text()
    assert readme.startswith('# smp_') and '> A sample' in readme
    assert '```python\ndouble(3)\n```' in readme and '```text\n6\n```' in readme and 'import' not in readme

def test_sample_deterministic(sample, tmp_path):
    for seed, d in (('1', tmp_path/'a'), ('2', tmp_path/'b')):
        r = run_build('--root', sample, '--out', d, seed=seed); assert r.returncode == 0, r.stderr
    assert bd.diff_trees(tmp_path/'a', tmp_path/'b') == []
    assert not list((tmp_path/'a'/'docs').glob('sitemap*'))

@pytest.mark.parametrize('kind,msg', [('untested', 'no test: lonely'), ('undocumented', 'no doc entry: ghost')])
def test_coverage_fails_build(tmp_path, kind, msg):
    root = make_sample(tmp_path, **{kind: True})
    r = run_build('--root', root, '--out', tmp_path/'out')
    assert r.returncode == 1 and msg in r.stderr, r.stderr

def test_unnumbered_notebook_named(tmp_path):
    root = make_sample(tmp_path)
    (root/'nbs'/'extra.ipynb').write_text(json.dumps(nb([md('# Extra')])))
    r = run_build('--root', root, '--out', tmp_path/'out')
    assert r.returncode == 0 and 'extra.ipynb gets no page' in r.stderr and not (tmp_path/'out'/'docs'/'extra.html').exists(), r.stderr

def test_check_mode_detects_stale_docs(sample, tmp_path):
    r = run_build('--root', sample, '--check'); assert r.returncode == 1 and 'docs/' in r.stderr   # nothing committed
    assert run_build('--root', sample).returncode == 0                                              # write docs/, README
    assert run_build('--root', sample, '--check').returncode == 0
    (sample/'README.md').write_text('edited\n')
    r = run_build('--root', sample, '--check'); assert r.returncode == 1 and 'README.md' in r.stderr

def test_fastcb_build(tmp_path):
    "The real docs: every public name of fastcb.all has an entry and a test; two builds (different hash seeds) agree."
    for seed, d in (('1', tmp_path/'a'), ('2', tmp_path/'b')):
        r = run_build('--out', d, seed=seed); assert r.returncode == 0, r.stderr
    assert bd.diff_trees(tmp_path/'a', tmp_path/'b') == []
    html = ''.join(f.read_text() for f in (tmp_path/'a'/'docs').glob('*.html'))
    names = bd.public_names(bd.Project(ROOT))
    assert names and [n for n in names if f'id="{n}"' not in html] == []
    attached = ['Learner.save', 'Learner.get_preds', 'Learner.freeze_to', 'Recorder.plot_metrics']   # `Learner.save = _save`
    assert [n for n in attached if f'id="{n}"' not in html] == []

def test_ids_unique_and_nbdev_links_land():
    "Every id on a page is unique, and every link nbdev publishes for other projects (`_modidx`, lower-case anchors) finds its id."
    from fastcb._modidx import d
    pages = {f.name: re.findall(r'\bid="([^"]+)"', f.read_text()) for f in (ROOT/'docs').glob('*.html')}
    assert {p: sorted({i for i in ids if ids.count(i) > 1}) for p, ids in pages.items() if len(set(ids)) < len(ids)} == {}
    links = [url for mod in d['syms'].values() for sym, (url, _) in mod.items() if not any(w.startswith('_') for w in sym.split('.')[1:])]
    missed = [u for u in links if (page := u.split('#')[0]) in pages and u.split('#')[1] not in pages[page]]
    assert links and missed == []

def test_module_docstring_links_resolve():
    "Each module's docstring (written by nbdev-export) links its page's Markdown, `NAME.html.md`: the build writes it."
    links = {f.name: re.search(r'Docs: \S+/([\w-]+\.html\.md)', f.read_text()) for f in (ROOT/'fastcb').glob('*.py')}
    links = {k: m.group(1) for k, m in links.items() if m}
    assert len(links) >= 10 and [f for f, page in links.items() if not (ROOT/'docs'/page).is_file()] == []

def test_committed_docs_are_current():
    "The committed docs/ and README.md are what the notebooks build today (rebuild: python tools/build_docs.py)."
    r = run_build('--check')
    assert r.returncode == 0, r.stdout + r.stderr
