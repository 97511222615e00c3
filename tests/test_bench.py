"The benchmark script still runs: a few rounds of each mode, checked for the table it prints (never for its timings)."
import re, subprocess, sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT/'benchmarks'/'bench.py'

def bench(*args)->str:
    return subprocess.run([sys.executable, str(BENCH), *args], capture_output=True, text=True, check=True, cwd=ROOT).stdout

def rows(out:str)->dict:
    "The variant rows of a printed table: name -> (us/batch, ratio, its standard error)."
    pat = r'^(\S+(?: \S+)*?)\s+([\d.]+)\s+([\d.]+)\s+([\d.]+)\s+[\d.]+-\s*[\d.]+'
    return {m[1]: tuple(map(float, m.groups()[1:])) for m in re.finditer(pat, out, re.M)}

def test_timing_tables():
    out = bench('--rounds', '2', '--no-mem')
    assert '## tiny' in out and '## small' in out
    r = rows(out)
    for k in ('raw', 'raw+OptimWrapper', 'fit', 'fit+5cb', 'Learner', 'Learner+5cb', 'Learner+5cb bars'): assert k in r, (k, out)
    assert r['raw'][1:] == (1.0, 0.0)          # the ratio of raw to itself, with no spread
    assert all(t > 0 for t, *_ in r.values())
    assert re.search(r'Learner\+5cb .*<=1\.10 (ok|MISSED)', out) and re.search(r'bars .*<=1\.20 (ok|MISSED)', out)

def test_against_itself_and_opcodes():
    out = bench('--against', str(ROOT), '--workloads', 'tiny', '--rounds', '2')
    assert 'fit+5cb base' in rows(out) and re.search(r'Learner\+5cb: this checkout / base [\d.]+', out)
    out = bench('--opcodes', '--workloads', 'tiny')
    assert re.search(r'^Learner\+5cb\s+[\d.]+\s+[\d.]+$', out, re.M), out
