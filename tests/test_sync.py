"The notebooks are the source: exporting and cleaning them must reproduce the committed package and notebooks."
import shutil, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

def tracked()->list[str]:
    "Files git tracks (or every file under nbs/ and fastcb/ outside a git checkout)."
    try: return subprocess.run(['git', 'ls-files'], cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()
    except (OSError, subprocess.CalledProcessError): return [str(p.relative_to(ROOT)) for d in ('nbs', 'fastcb') for p in (ROOT/d).rglob('*') if p.is_file()]

def untracked_notebooks()->list[str]:
    "Notebooks under nbs/ that git does not track yet (a new one not `git add`ed): this test exports only what git tracks."
    try: out = subprocess.run(['git', 'ls-files', '--others', '--exclude-standard', 'nbs'], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError): return []
    return [f for f in out.split() if f.endswith('.ipynb')]

def test_export_and_clean_change_nothing(tmp_path):
    files = [f for f in tracked() if f.startswith(('nbs/', 'fastcb/')) or f == 'pyproject.toml']
    for f in files:
        (tmp_path/f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT/f, tmp_path/f)
    bin_dir = Path(sys.executable).parent
    for cmd in ('nbdev-export', 'nbdev-clean'):
        exe = shutil.which(cmd, path=str(bin_dir)) or shutil.which(cmd)
        assert exe, f"{cmd} not found: pip install -e '.[dev]' (nbdev 3.3.24 or later, as pyproject.toml pins it)"
        subprocess.run([exe], cwd=tmp_path, check=True, capture_output=True)
    changed = [f for f in files if (tmp_path/f).read_bytes() != (ROOT/f).read_bytes()]
    new = [str(p.relative_to(tmp_path)) for p in (tmp_path/'fastcb').rglob('*.py') if str(p.relative_to(tmp_path)) not in files]
    hint = f"; first `git add` the new notebooks {untracked_notebooks()}, which the package is exported from" if untracked_notebooks() else ''
    by_hand = [f for f in changed if f.startswith('fastcb/') and f != 'fastcb/_modidx.py']
    if by_hand and not [f for f in changed if f.startswith('nbs/')]:   # the package differs, its notebooks do not: edited by hand?
        hint += f"; if you edited {by_hand} itself, first carry the edit into its notebook with nbdev-update (nbdev-export overwrites it)"
    assert not changed and not new, f"Run nbdev-export and nbdev-clean, then commit: changed {changed}, not committed {new}{hint}"
