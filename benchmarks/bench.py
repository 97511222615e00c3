"""Seconds per training batch of fastcb's `fit` and `Learner.fit` against a hand-written PyTorch loop.

    python benchmarks/bench.py                 # the table in benchmarks/README.md (CPU, about 2 minutes)
    python benchmarks/bench.py --device cuda   # the same on a GPU, plus a check for host syncs per batch
    python benchmarks/bench.py --profile tiny  # cProfile of one Learner.fit: where fastcb's time goes
    python benchmarks/bench.py --against DIR   # this checkout's fit+5cb and Learner+5cb beside those of checkout DIR
    python benchmarks/bench.py --opcodes       # Python bytecodes run per batch: a count, free of timing noise

Every variant does the same work per epoch: for each training batch forward, loss, backward, step, zero_grad;
then a validation pass computing the loss and the accuracy, read once at the end of the epoch. All variants
iterate the same pre-built lists of batches (no DataLoader cost in either) and use plain SGD. The variants run
interleaved in the same process (one round = one run of each, in a seeded random order where no variant runs twice in a row), with
`torch.set_num_threads(1)`; the printed ratio is the median over rounds of (variant time / raw time in that round).
On the CPU the time is the process's CPU time (`time.process_time`), so other users of a shared machine slow the
benchmark down but barely change its numbers; with a GPU it is wall time between `torch.cuda.synchronize` calls.
"""
from __future__ import annotations
import argparse, collections, copy, gc, importlib.util, io, os, platform, random, resource, statistics, subprocess, sys, time, warnings
from datetime import date
from functools import partial
from pathlib import Path
from types import SimpleNamespace

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))   # run from a checkout without installing
import torch
from torch import nn
import torch.nn.functional as F
import fastcb
from fastcb.callback import Callback, fit
from fastcb.learner import Learner, DataBunch, accuracy
from fastcb.optimizer import OptimWrapper

WORKLOADS = {  # bs, layer sizes, training batches per epoch, validation batches per epoch, epochs per run
    'tiny':  dict(bs=64,  sizes=(20, 64, 10),       n_train=64, n_valid=16, epochs=2),
    'small': dict(bs=256, sizes=(20, 512, 512, 10), n_train=12, n_valid=3,  epochs=1),
}
LR = 1e-3

class NoOp(Callback):
    "A callback that overrides every event and does nothing."
    def on_train_begin(self, **kwargs): pass
    def on_epoch_begin(self, **kwargs): pass
    def on_batch_begin(self, **kwargs): pass
    def on_loss_begin(self, **kwargs): pass
    def on_backward_begin(self, **kwargs): pass
    def on_backward_end(self, **kwargs): pass
    def on_step_end(self, **kwargs): pass
    def on_batch_end(self, **kwargs): pass
    def on_epoch_end(self, **kwargs): pass
    def on_train_end(self, **kwargs): pass

class FakeTTY(io.TextIOBase):
    "A stdout that says it is a terminal (so fastcb draws real fastprogress console bars) and throws the text away."
    def isatty(self): return True
    def writable(self): return True
    def write(self, s): return len(s)

def mlp(sizes):
    layers = []
    for a, b in zip(sizes[:-1], sizes[1:]): layers += [nn.Linear(a, b), nn.ReLU()]
    return nn.Sequential(*layers[:-1])

def make_data(bs, sizes, n_train, n_valid, device, seed=0, **kwargs):
    "Pre-built lists of `(xb, yb)` batches on `device`: the same data pipeline for every variant."
    g = torch.Generator().manual_seed(seed)
    mk = lambda n: [(torch.randn(bs, sizes[0], generator=g).to(device),
                     torch.randint(0, sizes[-1], (bs,), generator=g).to(device)) for _ in range(n)]
    return mk(n_train), mk(n_valid)

# ---------------------------------------------------------------------------------------------- the variants
# Each `setup_*` builds what a run needs outside the timed region and returns a function doing one run.

def raw_loop(model, opt, train, valid, epochs):
    "The hand-written loop: what fastcb's loop does, with nothing else."
    for epoch in range(epochs):
        model.train()
        for xb, yb in train:
            loss = F.cross_entropy(model(xb), yb)
            loss.backward()
            opt.step()
            opt.zero_grad()
        model.eval()
        tot_loss, tot_acc, n = 0., 0., 0
        with torch.no_grad():
            for xb, yb in valid:
                out = model(xb)
                tot_loss = tot_loss + F.cross_entropy(out, yb) * len(yb)
                tot_acc = tot_acc + (out.argmax(dim=-1) == yb).float().sum()
                n += len(yb)
        val_loss, val_acc = float(tot_loss / n), float(tot_acc / n)   # one read per epoch, as fastcb does

def setup_raw(model, train, valid, epochs):
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    return lambda: raw_loop(model, opt, train, valid, epochs)

def setup_raw_ow(model, train, valid, epochs):
    "The raw loop with the optimizer the Learner builds: `OptimWrapper.create(SGD, ...)` (one group here: no norm layers)."
    opt = OptimWrapper.create(torch.optim.SGD, LR, model, wd=0., true_wd=True)
    return lambda: raw_loop(model, opt, train, valid, epochs)

HERE = SimpleNamespace(fit=fit, Learner=Learner, DataBunch=DataBunch, accuracy=accuracy, NoOp=NoOp)   # the fastcb the variants use

def _on_device(data, train, valid):
    "`data` iterating the lists `train` and `valid` themselves: off the CPU a DataBunch wraps them to move each batch to the device, which the raw loop does not pay for (they are there already)."
    for k, dl in (('train_dl', train), ('valid_dl', valid)):   # behind a property that wraps them, or (an older checkout's) plain attributes
        object.__setattr__(data, f'_{k}' if hasattr(data, f'_{k}') else k, dl)
    return data

def setup_fit(model, train, valid, epochs, n_cbs=0, pkg=HERE):
    "fastcb's `fit` with torch's SGD, the accuracy metric and `n_cbs` no-op callbacks, silent."
    opt = torch.optim.SGD(model.parameters(), lr=LR)
    data = _on_device(pkg.DataBunch(train, valid, device=train[0][0].device), train, valid)
    return lambda: pkg.fit(epochs, model, F.cross_entropy, opt, data, [pkg.NoOp() for _ in range(n_cbs)], [pkg.accuracy], silent=True)

def setup_learner(model, train, valid, epochs, n_cbs=0, bars=False, pkg=HERE):
    "`Learner.fit`: Recorder + accuracy + `n_cbs` no-op callbacks, SGD in an OptimWrapper; silent, or with bars."
    data = _on_device(pkg.DataBunch(train, valid, device=train[0][0].device), train, valid)
    learn = pkg.Learner(data, model, opt_func=torch.optim.SGD, loss_func=F.cross_entropy, metrics=[pkg.accuracy], wd=0.,
                        silent=not bars)
    learn.create_opt(LR, 0.)
    def run():
        if not bars: return learn.fit(epochs, LR, callbacks=[pkg.NoOp() for _ in range(n_cbs)])
        out, sys.stdout = sys.stdout, FakeTTY()   # real console bars (fastprogress), drawn into the void
        try: learn.fit(epochs, LR, callbacks=[pkg.NoOp() for _ in range(n_cbs)])
        finally: sys.stdout = out
    return run

VARIANTS = {
    'raw':              setup_raw,
    'raw+OptimWrapper': setup_raw_ow,
    'fit':              setup_fit,
    'fit+5cb':          partial(setup_fit, n_cbs=5),
    'Learner':          setup_learner,
    'Learner+5cb':      partial(setup_learner, n_cbs=5),
    'Learner+5cb bars': partial(setup_learner, n_cbs=5, bars=True),
}
DESCR = {
    'raw+OptimWrapper': 'raw loop, SGD in the OptimWrapper the Learner builds',
    'fit':              'fit, torch SGD, accuracy, silent',
    'fit+5cb':          'fit, torch SGD, accuracy, 5 no-op callbacks, silent',
    'Learner':          'Learner.fit: Recorder + accuracy, silent',
    'Learner+5cb':      'Learner.fit: Recorder + accuracy + 5 no-op callbacks, silent',
    'Learner+5cb bars': 'the same with fastprogress console bars drawn',
}

def load_checkout(root):
    "The fastcb of the checkout at `root`, imported as `fastcb_base` beside this one (its modules import each other relatively)."
    init = Path(root).resolve()/'fastcb'/'__init__.py'
    if not init.exists(): raise SystemExit(f"--against: no fastcb package in {root} (expected {init})")
    spec = importlib.util.spec_from_file_location('fastcb_base', init, submodule_search_locations=[str(init.parent)])
    sys.modules['fastcb_base'] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(sys.modules['fastcb_base'])
    cbm, lm = (importlib.import_module(f'fastcb_base.{m}') for m in ('callback', 'learner'))
    noop = type('NoOp', (cbm.Callback,), {k: v for k, v in vars(NoOp).items() if k.startswith('on_')})
    return SimpleNamespace(fit=cbm.fit, Learner=lm.Learner, DataBunch=lm.DataBunch, accuracy=lm.accuracy, NoOp=noop)

def against(root):
    "Variants timing this checkout's `fit+5cb` and `Learner+5cb` beside those of the checkout at `root`."
    base = load_checkout(root)
    return {'raw': setup_raw,
            'fit+5cb base': partial(setup_fit, n_cbs=5, pkg=base),     'fit+5cb': partial(setup_fit, n_cbs=5),
            'Learner+5cb base': partial(setup_learner, n_cbs=5, pkg=base), 'Learner+5cb': partial(setup_learner, n_cbs=5)}

# ------------------------------------------------------------------------------------------------- timing
def sync(device):
    if device.type == 'cuda': torch.cuda.synchronize(device)

def clock(device):
    "CPU time of this process on the CPU (robust to other users of a shared machine), wall time with a GPU."
    return time.process_time if device.type == 'cpu' else time.perf_counter

def make_runs(name, device):
    "One run function per variant on workload `name` (each with its own copy of the same model), and the training batches per run."
    w = WORKLOADS[name]
    train, valid = make_data(**w, device=device)
    torch.manual_seed(0)
    base = mlp(w['sizes']).to(device)
    return {k: setup(copy.deepcopy(base), train, valid, w['epochs']) for k, setup in VARIANTS.items()}, w['n_train'] * w['epochs']

def time_workload(name, device, rounds, warmup=3, budget=None, min_rounds=60):
    "Seconds per training batch of each variant, and the per-round ratios to `raw`: `rounds` rounds, fewer (not below `min_rounds`) if they would take over `budget` seconds; each round in a seeded random order."
    now, deadline = clock(device), time.perf_counter() + (budget or float('inf'))
    runs, n_batches = make_runs(name, device)
    times = {k: [] for k in runs}
    order, rng = list(runs), random.Random(0)
    gc.collect(); gc.freeze()   # set-up done: later collections skip torch's and the set-up's objects (~150 ms -> µs)
    try:
        for r in range(warmup + rounds):
            last = order[-1]
            rng.shuffle(order)   # each variant follows each other alike (under ABC CBA, `raw` ran right after itself every other round)
            if order[0] == last: order.append(order.pop(0))   # never twice in a row: the second run would find its caches warm
            for k in order:
                gc.collect()   # the last run's garbage, not collected inside the next one
                sync(device)
                t = now()
                runs[k]()
                sync(device)
                if r >= warmup: times[k].append((now() - t) / n_batches)
            done = r + 1 - warmup
            if done >= min_rounds and time.perf_counter() > deadline: break   # a slow machine
    finally: gc.unfreeze()
    ratios = {k: [t / tr for t, tr in zip(times[k], times['raw'])] for k in runs}
    return times, ratios

def median_se(xs, n_boot=200, seed=0):
    "The standard error of the median of `xs`, by bootstrap: how far the printed ratio could move with other rounds."
    rng = random.Random(seed)
    return statistics.stdev(statistics.median(rng.choices(xs, k=len(xs))) for _ in range(n_boot))

# ------------------------------------------------------------------------------------------------- memory
def peak_memory(name, variant, device):
    "Peak memory of one run of `variant` on workload `name`, measured in a fresh subprocess."
    cmd = [sys.executable, __file__, '--mem-child', name, variant, '--device', str(device)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    return [float(o) for o in out.split()]

def _status_kib(key):
    "A memory figure (KiB) from /proc/self/status."
    for line in open('/proc/self/status'):
        if line.startswith(key + ':'): return int(line.split()[1])

def reset_peak_rss():
    "Reset the peak RSS to the current RSS (Linux: /proc/self/clear_refs), and return the current RSS in KiB."
    try:
        with open('/proc/self/clear_refs', 'w') as f: f.write('5')
        return _status_kib('VmRSS')
    except OSError: return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss   # the high-water mark so far

def peak_rss():
    "Peak RSS in KiB since `reset_peak_rss`."
    try: return _status_kib('VmHWM')
    except OSError: return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss

def mem_child(name, variant, device):
    "Print: peak RSS growth during the run (MiB), Python-heap peak (tracemalloc, MiB), CUDA peak (MiB, else 0)."
    import tracemalloc
    torch.set_num_threads(1)
    w = WORKLOADS[name]
    train, valid = make_data(**w, device=device)
    torch.manual_seed(0)
    run = VARIANTS[variant](mlp(w['sizes']).to(device), train, valid, w['epochs'] * 4)
    run()   # warm: torch's one-time start-up (about 8.7 MiB, the same for every variant) is not the run's
    rss0 = reset_peak_rss()
    if device.type == 'cuda': torch.cuda.reset_peak_memory_stats(device); cuda0 = torch.cuda.memory_allocated(device)
    run(); sync(device)
    rss = (peak_rss() - rss0) / 1024
    cuda = (torch.cuda.max_memory_allocated(device) - cuda0) / 2**20 if device.type == 'cuda' else 0.
    tracemalloc.start(); run(); py = tracemalloc.get_traced_memory()[1] / 2**20; tracemalloc.stop()
    print(f'{rss:.2f} {py:.3f} {cuda:.2f}')

# --------------------------------------------------------------------------------------------- CUDA checks
def count_syncs(device, n_train, n_valid):
    "Host syncs warned by `torch.cuda.set_sync_debug_mode('warn')` in a `Learner.fit` epoch of `n_train` and `n_valid` batches, default callbacks."
    w = dict(WORKLOADS['tiny'], n_train=n_train, n_valid=n_valid)
    train, valid = make_data(**w, device=device)
    run = setup_learner(mlp(w['sizes']).to(device), train, valid, epochs=1)
    run()   # warm up (cuBLAS init etc.)
    with warnings.catch_warnings(record=True) as ws:
        warnings.simplefilter('always')
        torch.cuda.set_sync_debug_mode('warn')
        try: run(); sync(device)
        finally: torch.cuda.set_sync_debug_mode(0)
    return len([x for x in ws if 'synchroniz' in str(x.message).lower()])

# ------------------------------------------------------------------------------------------------ profile
def profile(name, device, n_cbs=5):
    "cProfile one `Learner.fit` (+ `n_cbs` no-op callbacks) on workload `name`: fastcb's top costs."
    import cProfile, pstats
    w = dict(WORKLOADS[name], epochs=10)
    train, valid = make_data(**w, device=device)
    run = setup_learner(mlp(w['sizes']).to(device), train, valid, w['epochs'], n_cbs=n_cbs)
    run()
    pr = cProfile.Profile(); pr.enable(); run(); pr.disable()
    print(f'cProfile of Learner.fit on {name}, {w["epochs"]} epochs of {w["n_train"]} batches, {n_cbs} no-op callbacks')
    pstats.Stats(pr).sort_stats('tottime').print_stats(25)

# ------------------------------------------------------------------------------------------------ opcodes
def count_opcodes(name, top=12):
    "Python bytecodes each variant runs per training batch (one traced run after a warm-up), and where `Learner+5cb`'s extra ones run."
    runs, n_batches = make_runs(name, torch.device('cpu'))
    counts = {}
    for k, run in runs.items():
        c = collections.Counter()
        def trace(frame, event, arg):
            frame.f_trace_opcodes = True
            if event == 'opcode': c[frame.f_code] += 1
            return trace
        run()
        sys.settrace(trace)
        try: run()
        finally: sys.settrace(None)
        counts[k] = c
    raw = sum(counts['raw'].values())
    print(f"\n## {name}: Python bytecodes run per training batch (traced with sys.settrace; a count, not a time)")
    print(f"{'variant':<18} {'per batch':>9} {'beyond raw':>10}")
    for k, c in counts.items(): print(f"{k:<18} {sum(c.values()) / n_batches:9.1f} {(sum(c.values()) - raw) / n_batches:10.1f}")
    k = 'Learner+5cb'
    extra = counts[k].copy(); extra.subtract(counts['raw'])
    print(f"\n{k}: where the bytecodes beyond raw run, per batch")
    for code, n in extra.most_common(top):
        print(f"{n / n_batches:9.1f}  {Path(code.co_filename).name}:{code.co_firstlineno} {code.co_name}")

# --------------------------------------------------------------------------------------------------- main
def fmt_us(s): return f'{s*1e6:8.1f}'

def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--device', default='cpu')
    p.add_argument('--rounds', type=int, default=None, help='interleaved rounds per workload (default: 400 tiny, 120 small)')
    p.add_argument('--budget', type=float, default=None, help='seconds of timing per workload, at most (default: 80 tiny, 72 small; '
                   'a slower machine runs fewer rounds, so the whole benchmark stays under 3 minutes)')
    p.add_argument('--workloads', nargs='+', default=list(WORKLOADS))
    p.add_argument('--no-mem', action='store_true', help='skip the peak-memory subprocesses')
    p.add_argument('--profile', metavar='WORKLOAD', help='profile one Learner.fit instead of timing')
    p.add_argument('--against', metavar='DIR', help="time fit+5cb and Learner+5cb of the checkout DIR (e.g. a git worktree) beside this one's")
    p.add_argument('--opcodes', action='store_true', help='count the Python bytecodes run per batch instead of timing')
    p.add_argument('--mem-child', nargs=2, help=argparse.SUPPRESS)
    a = p.parse_args()
    device = torch.device(a.device)
    if a.mem_child: return mem_child(*a.mem_child, device)
    torch.set_num_threads(1)
    if a.profile: return profile(a.profile, device)
    if a.against:
        VARIANTS.clear(); VARIANTS.update(against(a.against))
        a.no_mem = True
    if a.opcodes:
        for name in a.workloads: count_opcodes(name)
        return
    t0 = time.perf_counter()
    dev = torch.cuda.get_device_name(device) if device.type == 'cuda' else platform.processor() or platform.machine()
    print(f'fastcb {fastcb.__version__}, torch {torch.__version__}, Python {platform.python_version()}, '
          f'{device} ({dev}), {os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}, {date.today()}')
    targets = {('tiny', 'Learner+5cb'): 1.10, ('tiny', 'Learner+5cb bars'): 1.20,
               ('small', 'Learner+5cb'): 1.05, ('small', 'Learner+5cb bars'): 1.05}
    for name in a.workloads:
        w = WORKLOADS[name]
        rounds = a.rounds or {'tiny': 400, 'small': 120}.get(name, 120)
        budget = a.budget or (None if a.rounds else {'tiny': 80, 'small': 72}.get(name))
        t1 = time.perf_counter()
        times, ratios = time_workload(name, device, rounds, budget=budget)
        done = len(times['raw'])
        print(f"\n## {name}: batch {w['bs']}, MLP {'-'.join(map(str, w['sizes']))}, {w['n_train']} training + "
              f"{w['n_valid']} validation batches per epoch, {w['epochs']} epoch(s) per run, {done} rounds in "
              f"{time.perf_counter() - t1:.0f} s" + (f" (cut from {rounds} by the {budget:.0f} s budget)" if done < rounds else ''))
        print(f"{'variant':<18} {'us/batch':>8} {'ratio':>6} {'+-':>5} {'IQR of ratio':>14}  {'target':>6}")
        for k in times:
            q = statistics.quantiles(ratios[k], n=4)
            tgt = targets.get((name, k))
            mark = '' if tgt is None else f'<={tgt:.2f} ' + ('ok' if statistics.median(ratios[k]) <= tgt else 'MISSED')
            print(f"{k:<18} {fmt_us(statistics.median(times[k]))} {statistics.median(ratios[k]):6.3f} "
                  f"{median_se(ratios[k]):5.3f} {q[0]:6.3f}-{q[2]:6.3f}  {mark}")
        for k in [k for k in times if f'{k} base' in times]:   # --against: each round's own before/after ratio
            rel = statistics.median([t / b for t, b in zip(times[k], times[f'{k} base'])])
            diff = statistics.median(times[k]) - statistics.median(times[f'{k} base'])
            print(f"{k}: this checkout / base {rel:.3f} (median per round), {diff*1e6:+.1f} us per batch")
    if not a.no_mem:
        print('\n## peak memory of one run (4x the epochs above), each in a fresh process')
        print(f"{'workload':<8} {'variant':<18} {'peak RSS growth MiB':>19} {'Python heap peak MiB':>20} {'CUDA peak MiB':>13}")
        for name in a.workloads:
            for k in ('raw', 'Learner+5cb'):
                rss, py, cuda = peak_memory(name, k, device)
                print(f'{name:<8} {k:<18} {rss:19.2f} {py:20.3f} {cuda:13.2f}')
    if device.type == 'cuda':
        n, n_train, n_valid = count_syncs(device, 32, 8), count_syncs(device, 64, 8), count_syncs(device, 32, 16)   # more training, then validation batches
        per = lambda m, k: 'none' if m == n else f'{(m - n) / k:g}'
        print(f'\nhost syncs in one Learner.fit epoch (Recorder + accuracy): {n} with 32 training + 8 validation batches; '
              f'per training batch {per(n_train, 32)}, per validation batch {per(n_valid, 8)}')
    print(f'\ntotal {time.perf_counter() - t0:.0f} s')

if __name__ == '__main__': main()
