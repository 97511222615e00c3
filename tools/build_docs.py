#!/usr/bin/env python
"""Build the docs site (`docs/`) and `README.md` from the notebooks, offline and without Quarto.

    python tools/build_docs.py             # nbdev-export, then write docs/ and README.md
    python tools/build_docs.py --check     # rebuild into a temp dir; exit 1 if docs/ or README.md differ

Each `nbs/NN_name.ipynb` becomes `name.html`: its prose, shown code and saved outputs (text, HTML, PNG/SVG plots)
in order, and after every exported definition a doc entry made from the live object (signature, docstring,
parameter table, source link, the tests that use it and the one pytest command that runs them). `nbs/index.ipynb`
becomes `index.html` and `README.md`. MkDocs (readthedocs theme, its offline search) turns the Markdown into
HTML; the Markdown itself is kept beside each page as `name.html.md`, where the module docstrings nbdev writes
link. The build exits 1, naming them, when a public name has no doc entry or no test.
"""
import argparse, ast, base64, filecmp, importlib, inspect, logging, os, re, shutil, subprocess, sys, tempfile, textwrap, tomllib
from pathlib import Path
from fastcore.nbio import read_nb
from fastcore.docments import MarkdownRenderer, docments, _type_str

ROOT = Path(__file__).resolve().parent.parent
HIDE = {'hide', 'default_exp'}                 # directives that drop a code cell from the page
EXPORT = {'export', 'exporti', 'exports'}      # cells that define the library, not tests
MAGICS = re.compile(r'^\s*%(matplotlib|load_ext|reload_ext|autoreload|config)\b.*$\n?', re.M)
ANSI = re.compile(r'\x1B(?:[@-Z\\-_]|\[[0-?]*[ -/]*[@-~])')

# ---- project, public names, notebooks ----------------------------------------------------------------------------
class Project:
    "Paths and links read from `root/pyproject.toml` ([project], [project.urls], [tool.nbdev])."
    def __init__(self, root:Path):
        self.root = Path(root).resolve()
        pp = tomllib.loads((self.root/'pyproject.toml').read_text())
        nbd, proj = pp.get('tool', {}).get('nbdev', {}), pp.get('project', {})
        self.name = proj.get('name', self.root.name)
        self.description = proj.get('description', '')
        self.nbs = self.root/nbd.get('nbs_path', 'nbs')
        self.lib = nbd.get('lib_path', self.name)
        self.repo = proj.get('urls', {}).get('Repository', '').rstrip('/')
        self.site_url = proj.get('urls', {}).get('Documentation')   # 404.html links absolutely under it
        self.branch = nbd.get('branch', 'main')

    def blob(self, path, line=None):
        "GitHub URL of `path` (relative to the repo root) at `line`."
        return f"{self.repo}/blob/{self.branch}/{path}" + (f"#L{line}" if line else '')

def public_names(p:Project) -> dict:
    "Public name -> object: `<lib>.all`'s namespace, else the union of the modules' `__all__`."
    if str(p.root) not in sys.path: sys.path.insert(0, str(p.root))
    if (p.root/p.lib/'all.py').exists():
        m = importlib.import_module(f'{p.lib}.all')
        names = getattr(m, '__all__', None) or [n for n in vars(m) if not n.startswith('_')]
        return {n: getattr(m, n) for n in names if not inspect.ismodule(getattr(m, n))}
    res = {}
    for f in sorted((p.root/p.lib).glob('*.py')):
        if f.stem.startswith('_'): continue
        m = importlib.import_module(f'{p.lib}.{f.stem}')
        res.update({n: getattr(m, n) for n in getattr(m, '__all__', [])})
    return res

def page_name(nb:Path) -> str: return 'index' if nb.stem == 'index' else re.sub(r'^\d+[a-z]?_', '', nb.stem)

def notebooks(p:Project) -> list: return sorted(f for f in p.nbs.glob('*.ipynb') if re.match(r'\d', f.name))

def src(cell) -> str:
    "Cell source as shown: directive lines, `hide_line` lines and housekeeping magics removed."
    lines = [l for l in cell.source.splitlines() if not re.match(r'\s*#\s*\|', l) and not re.search(r'#\|\s*hide_line\s*$', l)]
    return MAGICS.sub('', '\n'.join(lines)).strip()

def parse(code:str):
    try: return ast.parse(code)
    except SyntaxError: return None

def show_doc_args(cell) -> list:
    "Expressions documented by `show_doc(...)` calls in `cell`."
    t = parse(src(cell)) if cell.cell_type == 'code' else None
    return [ast.unparse(s.value.args[0]) for s in (t.body if t else []) if isinstance(s, ast.Expr) and
            isinstance(s.value, ast.Call) and getattr(s.value.func, 'id', '') == 'show_doc' and s.value.args]

DEFS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)

def definitions(cell) -> list:
    "`(name, statement)` for what an exported cell defines: functions, classes (`Class.meth` if `@patch`ed), assignments."
    res = []
    for s in getattr(parse(src(cell)), 'body', []):
        if isinstance(s, DEFS):
            ann = s.args.args[0].annotation if not isinstance(s, ast.ClassDef) and s.args.args else None
            patched = ann is not None and any('patch' in ast.unparse(d) for d in s.decorator_list)
            res.append((f'{ast.unparse(ann)}.{s.name}' if patched else s.name, s))
        elif isinstance(s, (ast.Assign, ast.AnnAssign)):
            res += [(n, s) for t in (s.targets if isinstance(s, ast.Assign) else [s.target]) for n in targets(t)]
    return [(n, s) for n, s in res if not n.split('.')[-1].startswith('_')]

def targets(t) -> list:
    "The names an assignment target binds: `x`, `Class.attr` (a method attached by assignment), each of a tuple's."
    if isinstance(t, ast.Name): return [t.id]
    if isinstance(t, ast.Attribute) and isinstance(t.value, ast.Name): return [f'{t.value.id}.{t.attr}']
    if isinstance(t, (ast.Tuple, ast.List)): return [n for e in t.elts for n in targets(e)]
    return []

def defined_names(cell) -> list: return [n for n, _ in definitions(cell)]

# ---- symbol -> tests ----------------------------------------------------------------------------------------------
def is_test_cell(cell) -> bool:
    "A code cell that runs under the notebook tests and is neither library code, an import nor a `show_doc`."
    d = cell.directives if cell.cell_type == 'code' else {}
    if cell.cell_type != 'code' or d.keys() & (EXPORT | {'default_exp'}) or d.get('eval', '') == 'false': return False
    t = parse(src(cell))
    if t is None: return True
    return bool(t.body) and not all(isinstance(s, (ast.Import, ast.ImportFrom)) for s in t.body) and not show_doc_args(cell)

def test_index(p:Project, nbs:dict) -> tuple:
    "What `find_tests` searches, parsed once: notebook test cells `(nb, i, cell, source)`, each notebook's code, and `tests/*.py` test functions with the names they use."
    cells = [(nb, i, c, src(c)) for nb, cs in nbs.items() for i, c in enumerate(cs) if is_test_cell(c)]
    texts = {nb: '\n'.join(c.source for c in cs if c.cell_type == 'code') for nb, cs in nbs.items()}
    funcs = []
    for f in sorted((p.root/'tests').glob('test_*.py')):
        if f.stem.startswith('test_docs') or not (t := parse(f.read_text())): continue
        for node in t.body:
            fs = [(node.name, node)] if isinstance(node, ast.FunctionDef) else [(f'{node.name}::{m.name}', m)
                  for m in node.body if isinstance(m, ast.FunctionDef)] if isinstance(node, ast.ClassDef) else []
            for nm, fn in fs:
                if fn.name.startswith('test'):
                    used = {n.id for n in ast.walk(fn) if isinstance(n, ast.Name)} | {n.attr for n in ast.walk(fn) if isinstance(n, ast.Attribute)}
                    funcs.append((f'tests/{f.name}::{nm}', used))
    return cells, texts, funcs

def find_tests(index:tuple, names) -> dict:
    "name -> sorted test locations `(label, nodeid)` in `index` (`test_index`): notebook test cells (numbered from 1, as nbdev's errors say) and `tests/*.py` functions using the name."
    cells, texts, funcs = index
    res = {}
    for name in names:
        short = name.split('.')[-1]
        pat = re.compile(rf'(\.|\bdef ){re.escape(short)}\b' if '.' in name else rf'(?<![\w.]){re.escape(name)}(?!\w)')
        cls = re.compile(rf'\b{re.escape(name.split(".")[0])}\b') if '.' in name else None   # a method: its class's notebooks
        found = [(f'{nb.name} cell {i + 1}', f"tests/test_notebooks.py::test_notebook{'_slow' if 'slow' in c.directives else ''}[{nb.stem}]")
                 for nb, i, c, code in cells if pat.search(code) and (not cls or cls.search(texts[nb]))]
        res[name] = found + [(nid, nid) for nid, used in funcs if short in used]
    return res

def test_command(tests) -> str:
    ids = list(dict.fromkeys(nid for _, nid in tests))
    return 'pytest -sv ' + ' '.join(f'"{i}"' if '[' in i else i for i in ids)

# ---- rendering ----------------------------------------------------------------------------------------------------
def fence(text:str, lang='') -> str:
    ticks = '`' * max(3, max((len(m) for m in re.findall(r'`+', text)), default=0) + 1)
    return f'{ticks}{lang}\n{text.rstrip()}\n{ticks}'

def sig_md(obj, name:str) -> str:
    "Signature as a python block (nbdev/fastcore's show_doc rendering), then the docstring."
    md = MarkdownRenderer(obj, name=name)._repr_markdown_()
    return md.replace('```python\ndef ', '```python\nclass ', 1) if inspect.isclass(obj) else md

def param_table(obj) -> str:
    "Markdown table of parameters: type hint, default and docments comment (empty columns dropped)."
    try: dm = {k: v for k, v in docments(obj, full=True).items() if k not in ('self', 'cls')}
    except Exception: return ''
    E = inspect.Parameter.empty
    code = lambda s: f"`{str(s).replace('|', chr(92)+'|')}`"
    anno = lambda v: code(_type_str(v['anno'])) if v.get('anno') not in (None, E) else ''
    dflt = lambda o: re.sub(r' at 0x[0-9a-f]+', '', getattr(o, '__name__', None) or repr(o))   # no memory addresses
    rows = [[code(k), anno(v), code(dflt(v['default'])) if v['default'] is not E else '', v['docment'] or '']
            for k, v in dm.items() if k != 'return']
    if not rows: return ''
    if (ret := dm.get('return', {})) and (anno(ret) or ret.get('docment')): rows.append(['**returns**', anno(ret), '', ret.get('docment') or ''])
    cols = [0] + [j for j in (1, 2, 3) if any(r[j] for r in rows)]
    hdr = [['Parameter', 'Type', 'Default', 'Details'], ['---']*4]
    return '\n'.join('| ' + ' | '.join(r[j] for j in cols) + ' |' for r in hdr + rows)

def source_line(p:Project, obj, name:str, mod):
    "Repo-relative file and line that defines `obj` (assignments are found by name in the module source)."
    try:
        f = Path(inspect.getsourcefile(obj)).resolve(); line = inspect.getsourcelines(obj)[1]
        if f.is_relative_to(p.root): return f.relative_to(p.root).as_posix(), line
    except (TypeError, OSError): pass
    if mod is None: return '', None
    f = Path(mod.__file__).resolve()
    m = re.search(rf'^{re.escape(name)}\s*[:=]', f.read_text(), re.M)
    return f.relative_to(p.root).as_posix(), (f.read_text()[:m.start()].count('\n') + 1 if m else None)

class Entries:
    "Renders doc entries and remembers which names got one."
    def __init__(self, p:Project, public:dict, index:tuple, tests:dict, pages:dict):
        self.p, self.public, self.index, self.tests, self.pages, self.documented, self.shown = p, public, index, tests, pages, [], []

    def resolve(self, expr:str, mod):
        ns = {**(vars(mod) if mod else {}), **self.public}
        try: return eval(expr, ns)
        except Exception as e: print(f'warning: cannot document {expr!r}: {e}', file=sys.stderr)

    def entry(self, name:str, obj, mod, nb:Path, assign_src=None, level=3) -> str:
        path, line = source_line(self.p, obj, name, mod)
        links = [f'<a href="{self.p.blob(path, line)}">source</a>'] * bool(path) + [f'<a href="{self.p.blob(nb.relative_to(self.p.root).as_posix())}">notebook</a>']
        md = ['<div class="doc-entry" markdown="1">', f'<p class="doc-links">{" · ".join(links)}</p>',
              *[f'<a id="{name.lower()}"></a>'] * (name.lower() != name),   # where nbdev's `_modidx` links (see `drop_twin_anchors`)
              f"{'#'*level} `{name}` {{: #{name} .doc-name }}"]
        if assign_src: md.append(fence(assign_src, 'python'))
        else: md += [sig_md(obj, name), param_table(obj)]
        tests = self.tests[name] if name in self.tests else find_tests(self.index, [name])[name]
        md.append(self.tests_md(name, tests))
        if '.' not in name or name in self.public: self.documented.append(name)
        if inspect.isclass(obj) and not assign_src: md += [self.method(name, m, obj, mod, nb) for m in self.methods(obj)]
        return '\n\n'.join(s for s in md if s) + '\n\n</div>'

    def methods(self, cls) -> list:
        "Public methods and properties defined in the class body (not `@patch`ed in), unless shown with `show_doc`."
        try: body = ast.parse(textwrap.dedent(inspect.getsource(cls))).body[0].body
        except (OSError, TypeError, SyntaxError): return []
        return list(dict.fromkeys(s.name for s in body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef)) and not s.name.startswith('_')
                and f'{cls.__name__}.{s.name}' not in self.shown and s.name in vars(cls)))   # a property's setter: the same entry

    def method(self, cname, m, cls, mod, nb) -> str:
        return self.entry(f'{cname}.{m}', getattr(cls, m) if not isinstance(vars(cls)[m], property) else vars(cls)[m], mod, nb, level=4)

    def tests_md(self, name, tests) -> str:
        "The one command running `tests`, then where they are: notebook cells (linked, per notebook) and test functions."
        if not tests: return f'<p class="doc-tests">No tests found for <code>{name}</code>.</p>'
        by_nb = {}
        for label, _ in tests:
            nb, _, i = label.partition(' cell ')
            page = self.pages.get((nb, int(i or 0)))
            if i: by_nb.setdefault(nb, []).append(f'<a href="{page}.html#cell-{i}">{i}</a>' if page else f'{i} (hidden)')
        items = [f'{nb} cell{"s" * (len(ls) > 1)} {", ".join(ls)}' for nb, ls in by_nb.items()]
        items += [label for label, _ in tests if ' cell ' not in label]
        return (f'<div class="doc-tests"><p>Tests found for <code>{name}</code>: <code>{test_command(tests)}</code></p>'
                f'<ul>{"".join(f"<li>{i}</li>" for i in items)}</ul></div>')

def outputs_md(cell, files:dict, stem:str, i:int) -> list:
    "Markdown for a code cell's saved outputs; images go to `files` (path -> bytes)."
    res = []
    for k, o in enumerate(cell.get('outputs', [])):
        t = o.get('output_type')
        if t == 'stream': res.append(fence(ANSI.sub('', ''.join(o.get('text', ''))), 'text'))
        elif t == 'error': res.append(fence(f"{o.get('ename')}: {ANSI.sub('', o.get('evalue', ''))}", 'text'))
        elif t in ('execute_result', 'display_data'):
            d = {mt: ''.join(v) if isinstance(v, list) else v for mt, v in o.get('data', {}).items()}
            img = next((mt for mt in ('image/png', 'image/jpeg', 'image/svg+xml') if mt in d), None)
            if img:
                fn = f"{stem}_files/cell{i}_{k}.{img.split('/')[1].split('+')[0].replace('jpeg', 'jpg')}"
                files[fn] = d[img].encode() if img == 'image/svg+xml' else base64.b64decode(d[img])
                res.append(f'![output of cell {i + 1}]({fn}){{: .nb-plot }}')
            elif 'text/html' in d and '<script' not in d['text/html']:
                html = re.sub(r'\n\s*\n', '\n', d['text/html'].strip())
                res.append(f'<div class="nb-output nb-html" markdown="0">\n{html}\n</div>')
            elif 'text/markdown' in d: res.append(d['text/markdown'])
            elif 'text/plain' in d: res.append(fence(ANSI.sub('', d['text/plain']), 'text'))
    return res

def linkify(md:str, anchors:dict, page:str) -> str:
    "Link `Name` and `Name.meth` in prose to their doc entries (fenced blocks untouched)."
    def sub(m):
        a = anchors.get(m.group(1))
        return f'[`{m.group(1)}`]({"" if a == page else a + ".html"}#{m.group(1)})' if a else m.group(0)
    parts = re.split(r'(^```.*?^```)', md, flags=re.M | re.S)
    return ''.join(s if s.startswith('```') else re.sub(r'(?<!\[)`([A-Za-z_][\w.]*)`(?![\]\(])', sub, s) for s in parts)

def render_nb(nb:Path, cells, ents:Entries, mod, files:dict, anchors:dict) -> str:
    "Markdown page for one notebook, in cell order."
    page, out = page_name(nb), []
    ents.shown = [a for c in cells for a in show_doc_args(c)]
    for i, c in enumerate(cells):
        if c.cell_type == 'markdown':
            s = c.source
            if i == 0 or not out: s = re.sub(r'^\s*-\s+\w+:.*$\n?', '', s, flags=re.M)  # nbdev frontmatter list
            for fn, data in (c.get('attachments') or {}).items():
                mt, b64 = next(iter(data.items()))
                files[f'{page}_files/{i}_{fn}'] = base64.b64decode(''.join(b64) if isinstance(b64, list) else b64)
                s = s.replace(f'attachment:{fn}', f'{page}_files/{i}_{fn}')
            out.append(linkify(s, anchors, page))
            continue
        if c.cell_type != 'code': continue
        d = c.directives
        if d.keys() & HIDE or d.get('include') == 'false': continue
        if shown := show_doc_args(c):
            out += [ents.entry(a, o, mod, nb) for a in shown if (o := ents.resolve(a, mod)) is not None]
            continue
        if d.keys() & EXPORT:
            out += export_md(c, cells, ents, nb)
            if 'exports' not in d: continue
        body = [fence(src(c), 'python')] if src(c) and d.get('echo') != 'false' else []
        if d.get('output') != 'false' and (outs := outputs_md(c, files, page, i)):
            body.append('<div class="nb-output" markdown="1">\n\n' + '\n\n'.join(outs) + '\n\n</div>')
        if body: out.append(f'<div class="nb-cell" id="cell-{i + 1}" markdown="1">\n\n' + '\n\n'.join(body) + '\n\n</div>')
    return '\n\n'.join(out) + '\n'

def export_md(c, cells, ents:Entries, nb:Path) -> list:
    "Doc entries for the public names an exported cell defines, then its source folded away (`#| exports` shows it)."
    d, code, res = c.directives, src(c), []
    if 'exporti' in d: return []     # internal: no docs, like nbdev
    mod = importlib.import_module(f"{ents.p.lib}.{d.get('export') or d.get('exports') or mod_name(cells)}")
    for n, stmt in definitions(c):
        obj = None if n in ents.shown else ents.resolve(n, mod)
        if obj is None or (n not in ents.public and '.' not in n): continue
        method = '.' in n and inspect.isfunction(obj)   # `Learner.save = _save`: shown as the method it is
        res.append(ents.entry(n, obj, mod, nb, assign_src=None if isinstance(stmt, DEFS) or method else ast.get_source_segment(code, stmt)))
    if 'exports' not in d and any(isinstance(s, DEFS) for _, s in definitions(c)):
        res.append(f'<details class="nb-source" markdown="1"><summary>Exported source</summary>\n\n{fence(code, "python")}\n\n</details>')
    return res

def mod_name(cells) -> str:
    return next((c.directives['default_exp'] for c in cells if c.cell_type == 'code' and 'default_exp' in c.directives), '')

def readme_md(cells) -> str:
    "README: markdown cells, code as fenced python, text outputs; hidden cells and directives dropped."
    out = []
    for i, c in enumerate(cells):
        if c.cell_type == 'markdown': out.append(re.sub(r'^\s*-\s+\w+:.*$\n?', '', c.source, flags=re.M) if i == 0 else c.source)
        if c.cell_type != 'code' or c.directives.keys() & (HIDE | EXPORT) or c.directives.get('include') == 'false': continue
        if src(c) and c.directives.get('echo') != 'false': out.append(fence(src(c), 'python'))
        for o in c.get('outputs', []):
            txt = ''.join(o.get('text', '')) if o.get('output_type') == 'stream' else ''.join(o.get('data', {}).get('text/plain', ''))
            if txt and 'image/png' not in o.get('data', {}): out.append(fence(ANSI.sub('', txt), 'text'))
    return '\n\n'.join(s.strip() for s in out if s.strip()) + '\n'

# ---- build --------------------------------------------------------------------------------------------------------
def build(root=ROOT, site:Path=None, readme:Path=None) -> list:
    "Write the site to `site` and README to `readme`; return the problems found (names without docs or tests)."
    p = Project(root)
    site, readme = Path(site or p.root/'docs'), Path(readme or p.root/'README.md')
    public = public_names(p)
    nbs = {nb: read_nb(nb).cells for nb in notebooks(p)}
    for nb in sorted(set(p.nbs.glob('*.ipynb')) - set(nbs) - {p.nbs/'index.ipynb'}):
        print(f"warning: {nb.name} gets no page: the docs are made of numbered notebooks, NN_name.ipynb (and index.ipynb)", file=sys.stderr)
    index = p.nbs/'index.ipynb'
    idx_cells = read_nb(index).cells if index.exists() else None
    tindex = test_index(p, nbs)
    tests = find_tests(tindex, list(public))
    shown = lambda c: c.cell_type != 'code' or not (c.directives.keys() & HIDE or c.directives.get('include') == 'false')
    pages = {(nb.name, i + 1): page_name(nb) for nb, cs in nbs.items() for i, c in enumerate(cs) if shown(c)}  # link targets: cells numbered from 1
    ents = Entries(p, public, tindex, tests, pages)
    anchors = {n: page_name(nb) for nb, cs in nbs.items() for c in cs if c.cell_type == 'code'
               for n in (defined_names(c) if c.directives.keys() & {'export', 'exports'} else []) + show_doc_args(c)}
    with tempfile.TemporaryDirectory() as tmp:
        mdir, files, nav, toc = Path(tmp)/'md', {}, [{'Home': 'index.md'}], []
        mdir.mkdir()
        for nb, cells in nbs.items():
            mod = importlib.import_module(f'{p.lib}.{mod_name(cells)}') if mod_name(cells) else None
            (mdir/f'{page_name(nb)}.md').write_text(render_nb(nb, cells, ents, mod, files, anchors), encoding='utf-8')
            first = next((c.source.strip() for c in cells if c.cell_type == 'markdown'), '')
            title, summary = re.match(r'(?:#\s+(.+))?\s*(?:>\s*(.+))?', first).groups()
            nav.append({title or nb.stem: f'{page_name(nb)}.md'})
            toc.append(f'- [{title or nb.stem}]({page_name(nb)}.md)' + (f': {summary}' if summary else ''))
        if idx_cells is not None:
            (mdir/'index.md').write_text(render_nb(index, idx_cells, ents, None, files, anchors), encoding='utf-8')
            readme.parent.mkdir(parents=True, exist_ok=True)
            readme.write_text(readme_md(idx_cells), encoding='utf-8')
        else:
            (mdir/'index.md').write_text(f'# {p.name}\n\n> {p.description}\n\n' + linkify('\n'.join(toc), anchors, 'index') + '\n', encoding='utf-8')
        for fn, data in files.items(): (mdir/fn).parent.mkdir(exist_ok=True); (mdir/fn).write_bytes(data)
        shutil.copytree(Path(__file__).parent/'docs_theme', mdir/'css')
        from pygments.formatters import HtmlFormatter
        (mdir/'css'/'pygments.css').write_text(HtmlFormatter(style='default').get_style_defs('.codehilite') + '\n')
        mkdocs_build(p, mdir, site, nav)
        for md in mdir.glob('*.md'): (site/f'{md.stem}.html.md').write_bytes(md.read_bytes())   # each page's Markdown: nbdev's module docstrings link it
    problems = []
    if miss := [n for n in public if n not in ents.documented]: problems.append('Public names with no doc entry: ' + ', '.join(miss))
    if miss := [n for n in public if not tests[n]]: problems.append('Public names with no test: ' + ', '.join(miss))
    return problems

def mkdocs_build(p:Project, mdir:Path, site:Path, nav:list):
    from mkdocs.config import load_config
    from mkdocs.commands.build import build as mk_build
    logging.getLogger('mkdocs').setLevel(logging.ERROR)
    os.environ['SOURCE_DATE_EPOCH'] = '0'   # mkdocs stamps the build date into index.html otherwise
    cfg = load_config(str(Path(__file__).parent.parent/'mkdocs.yml'), docs_dir=str(mdir), site_dir=str(site),
                      nav=nav, site_name=p.name, site_description=p.description, repo_url=p.repo or None, site_url=p.site_url)
    mk_build(cfg)
    for f in ('sitemap.xml', 'sitemap.xml.gz'): (site/f).unlink(missing_ok=True)   # carry build dates
    for f in site.glob('*.html'): f.write_text(drop_twin_anchors(f.read_text(encoding='utf-8')), encoding='utf-8')
    (site/'.nojekyll').write_text('')

def drop_twin_anchors(html:str) -> str:
    "Drop the empty `<a id=...>` of an entry whose id the page has already (a section headed by the same name): ids must be unique."
    ids = re.findall(r'\bid="([^"]+)"', html)
    return re.sub(r'<a id="([^"]+)"></a>', lambda m: '' if ids.count(m[1]) > 1 else m[0], html)

def diff_trees(a:Path, b:Path) -> list:
    "Relative paths that differ between directory trees `a` and `b`."
    c, res = filecmp.dircmp(a, b), []
    res += [f for f in c.left_only + c.right_only + c.funny_files]
    res += [f for f in c.common_files if (a/f).read_bytes() != (b/f).read_bytes()]
    for d in c.common_dirs: res += [f'{d}/{f}' for f in diff_trees(a/d, b/d)]
    return sorted(res)

def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--check', action='store_true', help='rebuild into a temp dir and fail if docs/ or README.md differ')
    ap.add_argument('--no-export', action='store_true', help='skip nbdev-export (always skipped by --check)')
    ap.add_argument('--out', type=Path, help='write OUT/docs and OUT/README.md instead of the repo\'s')
    ap.add_argument('--root', type=Path, default=ROOT, help='project to build (default: this repo)')
    args = ap.parse_args(argv)
    root = args.root.resolve()
    if not (args.check or args.no_export):
        subprocess.run([sys.executable, '-c', 'from nbdev.doclinks import nbdev_export; nbdev_export()'], cwd=root, check=True)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) if args.check else args.out
        problems = build(root, out and out/'docs', out and out/'README.md')
        if args.check:
            diffs = [f'docs/{f}' for f in diff_trees(root/'docs', out/'docs')] if (root/'docs').is_dir() else ['docs/']
            new, old = out/'README.md', root/'README.md'
            if new.exists() and (not old.exists() or new.read_bytes() != old.read_bytes()): diffs.append('README.md')
            if diffs: problems.append('Committed docs differ from a fresh build (run python tools/build_docs.py): ' + ', '.join(diffs))
    for pr in problems: print(f'build_docs: {pr}', file=sys.stderr)
    if problems: sys.exit(1)
    print('docs are up to date' if args.check else f"docs written to {(args.out or root)/'docs'}")

if __name__ == '__main__': main()
