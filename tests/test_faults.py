"""Fault injection: whatever goes wrong (a callback raising at any event, NaN losses, Ctrl-C at any batch, the process
killed while training or while writing a checkpoint, bad input), nothing is lost or left inconsistent, and a resumed
run ends exactly where the uninterrupted one does."""
import os, signal, subprocess, sys, time
from pathlib import Path
from types import SimpleNamespace
import numpy as np
import pytest
import torch
from torch import nn
from hypothesis import given, settings, HealthCheck, strategies as st

from fastcb.callback import Callback, CallbackHandler, fit, _events as EVENTS
from fastcb.optimizer import OptimWrapper
from fastcb.learner import Learner, DataBunch, Recorder, digits_databunch, digits_cnn, accuracy
from fastcb.checkpoint import CheckpointCallback

ROOT = Path(__file__).resolve().parent.parent
from fastcb.tracker import EarlyStoppingCallback, SaveModelCallback, TerminateOnNaNCallback
from fastcb.precision import GradientAccumulation, MixedPrecision
from fastcb.monitor import CSVLogger

@pytest.fixture(autouse=True, scope='module')
def one_thread():
    "Bitwise comparisons across processes need the same reduction order: one thread everywhere."
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)

# ---------------------------------------------------------------------------------------------------------------
# Small pieces
def tiny_data(n_train=12, n_valid=6, bs=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    x, y = torch.randn(n_train + n_valid, 2, generator=g), torch.randn(n_train + n_valid, 1, generator=g)
    ds = lambda a, b: torch.utils.data.TensorDataset(x[a:b], y[a:b])
    return SimpleNamespace(train_dl=torch.utils.data.DataLoader(ds(0, n_train), batch_size=bs, shuffle=True, generator=g),
                           valid_dl=torch.utils.data.DataLoader(ds(n_train, n_train + n_valid), batch_size=bs))

def tiny_fit(cbs, epochs=2, model=None, data=None, loss_func=nn.functional.mse_loss, lr=0.1):
    model = model if model is not None else nn.Linear(2, 1)
    opt = OptimWrapper.create(torch.optim.SGD, lr, [model])
    fit(epochs, model, loss_func, opt, data or tiny_data(), cbs, silent=True)
    return model, opt

class SeeEnd(Callback):
    def state_dict(self): return None
    def on_train_end(self, exception, **kwargs): self.exception = exception

# ---------------------------------------------------------------------------------------------------------------
# A callback raising at every event in turn

def raising(event):
    def f(self, **kwargs): raise ValueError(f'boom at {event}')
    return type('Raiser', (Callback,), {f'on_{event}': f, 'state_dict': lambda self: None})()

@pytest.mark.parametrize('event', EVENTS)
def test_raise_in_every_event(event):
    end, model = SeeEnd(), nn.Linear(2, 1)
    with pytest.raises(ValueError, match=f'boom at {event}') as ei:
        tiny_fit([end, raising(event)], model=model)
    assert any(f'callback Raiser, on_{event}' in n for n in ei.value.__notes__)   # names the callback and the event
    assert end.exception is (None if event == 'train_end' else ei.value)   # on_train_end ran, and got the error
    # the model and the optimizer are still usable: training goes on and changes the weights
    w = model.weight.detach().clone()
    tiny_fit([], model=model)
    assert torch.isfinite(model.weight).all() and not torch.equal(model.weight, w)

# ---------------------------------------------------------------------------------------------------------------
# NaN and inf losses
def nan_at(it, val=float('nan')):
    state = {'n': 0}
    def loss(out, targ):
        l = nn.functional.mse_loss(out, targ)
        if out.requires_grad:
            state['n'] += 1
            if state['n'] == it + 1: l = l * val
        return l
    return loss

class Losses(Callback):
    def state_dict(self): return None
    def on_train_begin(self, **kwargs): self.losses, self.smooth = [], []
    def on_backward_begin(self, last_loss, smooth_loss, **kwargs): self.losses.append(last_loss.item()); self.smooth.append(smooth_loss)

@pytest.mark.parametrize('val', [float('nan'), float('inf')])
def test_nonfinite_loss(val):
    # left alone, training goes on (no exception, no hang), and the smoothed loss shows it
    rec, end = Losses(), SeeEnd()
    tiny_fit([rec, end], loss_func=nan_at(4, val))
    assert end.exception is None and not np.isfinite(rec.losses[4]) and not np.isfinite(rec.smooth[-1])
    # a callback can skip that step and stop cleanly: the weights stay finite, on_train_end sees a normal end
    rec, end, model = Losses(), SeeEnd(), nn.Linear(2, 1)
    tiny_fit([rec, end, TerminateOnNaNCallback()], loss_func=nan_at(4, val), model=model, epochs=3)
    assert end.exception is None and len(rec.losses) == 5 and torch.isfinite(model.weight).all()

# ---------------------------------------------------------------------------------------------------------------
# The digits learner used for resuming
def tracker_fns():
    "The trackers the acceptance asks for: SaveModel (reloads the best at the end) and EarlyStopping (patience kept)."
    return [lambda l: SaveModelCallback(l), lambda l: EarlyStoppingCallback(l, patience=10)]

def learner(path, ckpt=None, cnn=False):
    "A digits learner: a CNN (BatchNorm) or an MLP with dropout, with trackers and, if `ckpt` (kwargs), checkpoints."
    torch.manual_seed(0)
    model = digits_cnn() if cnn else nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Dropout(0.1), nn.Linear(32, 10))
    fns = tracker_fns() + ([lambda l: CheckpointCallback(l, **ckpt)] if ckpt is not None else [])
    return Learner(digits_databunch(flat=not cnn), model, loss_func=nn.functional.cross_entropy, metrics=[accuracy],
                   path=path, silent=True, callback_fns=fns)

def trackers(learn):
    "The trackers' state: (best, wait) of EarlyStopping, (best, best_epoch) of SaveModel."
    es, sm = learn.early_stopping_callback, learn.save_model_callback
    return [(es.best, es.wait), (sm.best, sm.best_epoch)]

def assert_same(a, b):
    "Bitwise the same weights, optimizer state and hyper-parameters, Recorder history and tracker state."
    for (k, x), y in zip(a.model.state_dict().items(), b.model.state_dict().values()): assert torch.equal(x, y), k
    sa, sb = a.opt.state_dict(), b.opt.state_dict()
    assert sa['hps'] == sb['hps']
    for k, s in sa['opt']['state'].items():
        for n, v in s.items(): assert torch.equal(torch.as_tensor(v), torch.as_tensor(sb['opt']['state'][k][n])), (k, n)
    for attr in ('losses', 'lrs', 'moms', 'val_losses', 'metrics', 'nb_batches'):
        assert getattr(a.recorder, attr) == getattr(b.recorder, attr), attr
    assert trackers(a) == trackers(b) and trackers(a)

@pytest.fixture(scope='module')
def straight(tmp_path_factory):
    "The uninterrupted runs: 4 epochs of 1cycle, MLP and CNN."
    res = {}
    for cnn in (False, True):
        learn = learner(tmp_path_factory.mktemp('straight'), cnn=cnn)
        learn.fit_one_cycle(4, 1e-2)
        res[cnn] = learn
    return res

class CrashAt(Callback):
    "Raise `exc` at training iteration `it`."
    def __init__(self, it, exc=RuntimeError('crash')): self.it, self.exc = it, exc
    def state_dict(self): return None
    def on_batch_begin(self, iteration, train, **kwargs):
        if train and iteration == self.it: raise self.exc

class SigintAt(Callback):
    "Send SIGINT to this process during training iteration `it` (after its backward pass)."
    def __init__(self, it): self.it = it
    def state_dict(self): return None
    def on_backward_end(self, iteration, **kwargs):
        if iteration == self.it: os.kill(os.getpid(), signal.SIGINT)

# ---------------------------------------------------------------------------------------------------------------
# Acceptance: 4 epochs straight == 2 epochs, stop, resume (at an epoch's end, mid-epoch, after SIGKILL)
@pytest.mark.parametrize('cnn', [False, True], ids=['mlp', 'cnn'])
def test_resume_after_two_epochs(tmp_path, straight, cnn):
    learn = learner(tmp_path, ckpt={}, cnn=cnn)
    n = len(learn.data.train_dl)
    with pytest.raises(RuntimeError, match='crash'): learn.fit_one_cycle(4, 1e-2, callbacks=[CrashAt(2*n)])
    assert [p.name for p in learn.checkpoints()] == ['ckpt_e1_b0.pth', 'ckpt_e2_b0.pth']
    learn = learner(tmp_path, ckpt={}, cnn=cnn)       # as in a new process
    learn.fit_one_cycle(4, 1e-2, resume=learn.checkpoints()[-1])
    assert_same(straight[cnn], learn)

@pytest.mark.parametrize('cnn', [False, True], ids=['mlp', 'cnn'])
@pytest.mark.parametrize('seed', [0, 1])
def test_ctrl_c_at_random_batch_then_resume(tmp_path, straight, cnn, seed):
    learn = learner(tmp_path, ckpt={}, cnn=cnn)
    n = len(learn.data.train_dl)
    it = int(np.random.RandomState(seed).randint(1, 4*n - 1))
    end = SeeEnd()
    with pytest.raises(KeyboardInterrupt) as ei: learn.fit_one_cycle(4, 1e-2, callbacks=[SigintAt(it), end])
    assert end.exception is ei.value                                  # on_train_end got it
    rec = learn.recorder                                              # consistent: batch `it` finished, no more
    assert len(rec.losses) == len(rec.lrs) == it + 1 and len(rec.val_losses) == it // n
    e, b = it // n, it % n + 1
    assert learn.checkpoints()[-1].name == f'ckpt_e{e}_b{b}.pth'     # written where it stopped
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    learn = learner(tmp_path, ckpt={}, cnn=cnn)
    learn.fit_one_cycle(4, 1e-2, resume=learn.checkpoints()[-1])
    assert_same(straight[cnn], learn)

def test_ctrl_c_in_last_batch_of_epoch_then_resume(tmp_path, straight):
    "Stopped after the last batch of epoch 1, before its validation: the resumed run skips every batch and validates."
    learn = learner(tmp_path, ckpt={})
    n = len(learn.data.train_dl)
    with pytest.raises(KeyboardInterrupt): learn.fit_one_cycle(4, 1e-2, callbacks=[SigintAt(2*n - 1)])
    assert learn.checkpoints()[-1].name == f'ckpt_e1_b{n}.pth' and len(learn.recorder.val_losses) == 1
    learn = learner(tmp_path, ckpt={})
    learn.fit_one_cycle(4, 1e-2, resume=learn.checkpoints()[-1])
    assert_same(straight[False], learn)

def test_mid_epoch_checkpoints_resume(tmp_path, straight):
    learn = learner(tmp_path, ckpt={'every_batches': 7, 'keep': 3})
    n = len(learn.data.train_dl)
    with pytest.raises(RuntimeError): learn.fit_one_cycle(4, 1e-2, callbacks=[CrashAt(2*n + 5)])
    names = [p.name for p in learn.checkpoints()]
    assert len(names) == 3 and not list((tmp_path/'models').glob('.*.tmp'))
    learn = learner(tmp_path, ckpt={'every_batches': 7, 'keep': 3})
    learn.fit_one_cycle(4, 1e-2, resume=learn.checkpoints()[-1])
    assert_same(straight[False], learn)

# ---------------------------------------------------------------------------------------------------------------
# Resuming with gradient accumulation (a checkpoint inside a group) and with a CSV log
def accum_learner(path, every, mp=False):
    "A digits MLP accumulating gradients over 4 batches (in fp16 if `mp`), with a checkpoint every `every` batches."
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(64, 32), nn.ReLU(), nn.Linear(32, 10))
    fns = [lambda l: GradientAccumulation(4), lambda l: CheckpointCallback(l, every_batches=every)]
    if mp: fns.append(lambda l: MixedPrecision(dtype=torch.float16, init_scale=2.**8))
    return Learner(digits_databunch(flat=True), model, loss_func=nn.functional.cross_entropy, path=path, silent=True,
                   callback_fns=fns)

@pytest.mark.parametrize('mp', [False, True], ids=['fp32', 'fp16'])
@pytest.mark.parametrize('stop', ['crash', 'ctrl_c'])
def test_resume_inside_an_accumulation_group(tmp_path, mp, stop):
    "Checkpoints every 6 batches, groups of 4: the last checkpoint (after batch 6) is inside a group, whose gradients it keeps."
    straight = accum_learner(tmp_path/'a', 6, mp)
    straight.fit(2, 1e-2)
    learn = accum_learner(tmp_path/'b', 6, mp)
    if stop == 'crash':
        with pytest.raises(RuntimeError, match='crash'): learn.fit(2, 1e-2, callbacks=[CrashAt(9)])
    else:
        with pytest.raises(KeyboardInterrupt): learn.fit(2, 1e-2, callbacks=[SigintAt(5)])   # checkpoint after batch 5
    ck = learn.checkpoints()[-1]
    assert ck.name == 'ckpt_e0_b6.pth'                                    # batches 4, 5 of the group 4..7 done
    assert torch.load(ck, weights_only=False)['handler']['callbacks']['GradientAccumulation.0']['grads']
    assert all(p.grad is None for p in learn.model.parameters())         # the stopped group's gradients were dropped
    learn = accum_learner(tmp_path/'b', 6, mp)
    learn.fit(2, 1e-2, resume=ck)
    for (k, x), y in zip(straight.model.state_dict().items(), learn.model.state_dict().values()): assert torch.equal(x, y), k

def test_csv_logger_resume_keeps_history(tmp_path):
    "A resumed fit keeps the rows before its checkpoint and rewrites those after it: the file is the straight run's."
    def make(path):
        torch.manual_seed(0)
        return Learner(digits_databunch(flat=True), nn.Sequential(nn.Linear(64, 10)), loss_func=nn.functional.cross_entropy,
                       metrics=[accuracy], path=path, silent=True, callback_fns=[CSVLogger, lambda l: CheckpointCallback(l, keep=3)])
    rows = lambda path: [l.split(',')[:-1] for l in (path/'history.csv').read_text().splitlines()]   # all but the time
    straight = make(tmp_path/'a'); straight.fit(4, 1e-2)
    learn = make(tmp_path/'b')
    n = len(learn.data.train_dl)
    with pytest.raises(RuntimeError, match='crash'): learn.fit(4, 1e-2, callbacks=[CrashAt(3*n + 2)])
    assert [r[0] for r in rows(tmp_path/'b')] == ['epoch', '0', '1', '2']
    ck = learn.checkpoints()[-2]
    assert ck.name == 'ckpt_e2_b0.pth'                  # an older checkpoint: the crashed run wrote epoch 2 after it
    learn = make(tmp_path/'b')
    learn.fit(4, 1e-2, resume=ck)
    assert rows(tmp_path/'b') == rows(tmp_path/'a') and len(rows(tmp_path/'a')) == 5

SCRIPT = """
import os, signal, sys, torch
sys.path.insert(0, {root!r}); sys.path.insert(0, {tests!r})
torch.set_num_threads(1)
from test_faults import learner, Callback
class KillAt(Callback):
    def __init__(self, it): self.it = it
    def state_dict(self): return None
    def on_batch_begin(self, iteration, train, **kwargs):
        if train and iteration == self.it: os.kill(os.getpid(), signal.SIGKILL)
mode, path, it = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode == 'fsync':   # hang inside the fsync of the second checkpoint, for the parent to kill us there
    real, calls = os.fsync, []
    def fsync(fd):
        calls.append(fd)
        if len(calls) == it: open(os.path.join(path, 'writing'), 'w').close(); import time; time.sleep(120)
        real(fd)
    os.fsync = fsync
learn = learner(path, ckpt={{'every_batches': 10}})
learn.fit_one_cycle(4, 1e-2, callbacks=[KillAt(it)] if mode == 'kill' else [])
"""

def run_script(tmp_path, *args, wait=True):
    script = tmp_path/'train.py'
    script.write_text(SCRIPT.format(root=str(ROOT), tests=str(ROOT/'tests')))
    env = {**os.environ, 'PYTHONPATH': str(ROOT), 'MPLBACKEND': 'agg'}
    p = subprocess.Popen([sys.executable, str(script), *map(str, args)], env=env, cwd=tmp_path,
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if wait: p.wait(timeout=300)
    return p

def test_sigkill_then_resume_is_bitwise_identical(tmp_path, straight):
    "The training process is killed (SIGKILL: no cleanup at all) at batch 57; resuming from its last checkpoint (mid-epoch)."
    with run_script(tmp_path, 'kill', tmp_path, 57) as p:   # `with`: the pipes are closed after
        assert p.returncode == -signal.SIGKILL, p.stderr.read().decode()[-2000:]
    learn = learner(tmp_path, ckpt={'every_batches': 10})
    last, n = learn.checkpoints()[-1], len(learn.data.train_dl)
    assert last.name == f'ckpt_e{50 // n}_b{50 % n}.pth' and 50 % n     # after batch 49, inside epoch 2'
    learn.fit_one_cycle(4, 1e-2, resume=last)
    assert_same(straight[False], learn)

def test_sigkill_while_writing_a_checkpoint(tmp_path, straight):
    "Killed inside the fsync of the second checkpoint: the first still loads, and resuming from it is exact."
    with run_script(tmp_path, 'fsync', tmp_path, 2, wait=False) as p:
        try:
            for _ in range(1200):
                if (tmp_path/'writing').exists() or p.poll() is not None: break
                time.sleep(0.1)
            assert (tmp_path/'writing').exists(), p.stderr.read().decode()[-2000:] if p.poll() is not None else 'timeout'
            p.kill(); p.wait(timeout=60)
        finally:
            if p.poll() is None: p.kill()
    models = tmp_path/'models'
    assert [f.name for f in models.glob('ckpt_*.pth')] == ['ckpt_e0_b10.pth']   # the second never took the name
    assert len(list(models.glob('.ckpt_e0_b20.pth.*.tmp'))) == 1                 # its half-written temporary file
    learn = learner(tmp_path, ckpt={'every_batches': 10})
    learn.fit_one_cycle(4, 1e-2, resume=learn.checkpoints()[-1])
    assert_same(straight[False], learn)

# ---------------------------------------------------------------------------------------------------------------
# Property: whatever flags the callbacks return, the loop's bookkeeping holds
FLAGS = ['stop_epoch', 'stop_training', 'skip_step', 'skip_zero', 'skip_bwd', 'skip_validate']
FLAG_EVENTS = ['epoch_begin', 'batch_begin', 'backward_begin', 'backward_end', 'step_end', 'batch_end', 'epoch_end']

class Scripted(Callback):
    "Return the next dict of `script` at every event (a dict of flags, or None)."
    order = 5
    def __init__(self, script): self.script, self.i = script, 0
    def _next(self):
        res = self.script[self.i % len(self.script)] if self.script else None
        self.i += 1
        return res
for _e in FLAG_EVENTS: setattr(Scripted, f'on_{_e}', lambda self, **kwargs: self._next())

class Log(Callback):
    "Log each event with a copy of the state as it reaches this callback (order -100: before any change)."
    order = -100
    def __init__(self): self.log = []
    def _rec(self, event, kw): self.log.append((event, {k: kw[k] for k in ('epoch', 'iteration', 'num_batch', 'train', *FLAGS)}))
for _e in EVENTS: setattr(Log, f'on_{_e}', (lambda e: lambda self, **kwargs: self._rec(e, kwargs))(_e))

class After(Callback):
    "Log the state after `Scripted` changed it, at the end of each training batch and each epoch."
    order = 50
    def __init__(self): self.log = []
    def on_batch_end(self, train, epoch, stop_epoch, **kwargs): self.log.append(('batch_end', train, epoch, stop_epoch))
    def on_epoch_end(self, stop_training, **kwargs): self.log.append(('epoch_end', stop_training))

flag_dicts = st.one_of(st.none(), st.dictionaries(st.sampled_from(FLAGS), st.booleans(), max_size=3))

@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(script=st.lists(flag_dicts, max_size=12), epochs=st.integers(1, 3))
def test_loop_invariants(script, epochs):
    log, after = Log(), After()
    model, _ = tiny_fit([Scripted(script), log, after], epochs=epochs)
    events = [e for e, _ in log.log]
    assert events[0] == 'train_begin' and events[-1] == 'train_end'
    train_ends = [s for e, s in log.log if e == 'batch_end' and s['train']]
    assert [s['iteration'] for s in train_ends] == list(range(len(train_ends)))     # iteration counts train batches
    for s in [s for e, s in log.log if e == 'batch_begin' and s['train']]:           # flags reset at every batch
        assert not (s['stop_epoch'] or s['skip_step'] or s['skip_zero'] or s['skip_bwd'])
    epoch_ends = [s['epoch'] for e, s in log.log if e == 'epoch_end']
    assert epoch_ends == list(range(len(epoch_ends))) and 1 <= len(epoch_ends) <= epochs
    for e in range(len(epoch_ends)):                                                  # num_batch: 0, 1, 2… per epoch
        nb = [s['num_batch'] for s in train_ends if s['epoch'] == e]
        assert nb == list(range(len(nb))) and 1 <= len(nb) <= 3
    # stop_epoch after a training batch ends the epoch; stop_training after an epoch ends the training
    seq = after.log
    for i, x in enumerate(seq):
        if x[0] == 'batch_end' and x[1] and x[3]:
            assert not any(y[0] == 'batch_end' and y[1] and y[2] == x[2] for y in seq[i+1:])
    stops = [i for i, x in enumerate(seq) if x[0] == 'epoch_end' and x[1]]
    if stops: assert stops[0] == max(i for i, x in enumerate(seq) if x[0] == 'epoch_end')
    assert torch.isfinite(model.weight).all()

# ---------------------------------------------------------------------------------------------------------------
# Bad input: an error that names the problem
def test_bad_inputs(tmp_path):
    class Typo(Callback):
        def on_batch_end(self, **kwargs): return {'stop_epochs': True}
    with pytest.raises(KeyError, match="Callback Typo returned unknown state key 'stop_epochs'"): tiny_fit([Typo()])
    with pytest.raises(TypeError, match="got the class Recorder: pass Recorder"): CallbackHandler([Recorder])
    with pytest.raises(TypeError, match="is not a Callback"): CallbackHandler([print])
    data = digits_databunch(flat=True)
    learn = Learner(data, nn.Linear(64, 10), loss_func=nn.functional.cross_entropy, path=tmp_path, silent=True)
    with pytest.raises(TypeError, match='put it in callbacks instead'):
        Learner(data, nn.Linear(64, 10), loss_func=nn.functional.cross_entropy, callback_fns=[CheckpointCallback(learn)])
    opt = OptimWrapper(torch.optim.Adagrad(nn.Linear(2, 1).parameters(), lr=0.1))
    with pytest.raises(AttributeError, match="Adagrad has no 'mom'"): opt.mom
    empty = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(torch.zeros(0, 2), torch.zeros(0, 1)), batch_size=4)
    with pytest.raises(ValueError, match='train_dl is empty'): DataBunch(empty)
    with pytest.raises(ValueError, match='Epoch 0: data.train_dl yielded no batch'):
        tiny_fit([], data=SimpleNamespace(train_dl=empty, valid_dl=None))
    with pytest.raises(ValueError, match=r'loss_func must return a scalar tensor, got shape \(4, 1\)'):
        tiny_fit([], loss_func=lambda o, t: (o - t)**2)
    with pytest.raises(RuntimeError) as e: tiny_fit([], model=_Halve())   # the loss's own error, the cause noted
    assert 'output has batch size 2 (shape (2, 1)) but the target has 4' in e.value.__notes__[0]
    with pytest.raises(ValueError, match='every_batches must be a positive int'): CheckpointCallback(learn, every_batches=0)
    with pytest.raises(ValueError, match='keep must be a positive int'): CheckpointCallback(learn, keep=0)

class _Halve(nn.Module):
    "A model that drops half the batch: its output does not match the target's batch size."
    def __init__(self): super().__init__(); self.lin = nn.Linear(2, 1)
    def forward(self, x): return self.lin(x[:x.shape[0]//2])

def test_bad_checkpoints(tmp_path):
    learn = learner(tmp_path, ckpt={})
    learn.fit_one_cycle(1, 1e-2)
    ck = learn.checkpoints()[-1]
    other = Learner(digits_databunch(flat=True), nn.Linear(64, 10), loss_func=nn.functional.cross_entropy, path=tmp_path, silent=True)
    with pytest.raises(ValueError, match='was saved from another model'): other.fit(1, resume=ck)
    trunc = tmp_path/'trunc.pth'; trunc.write_bytes(ck.read_bytes()[:len(ck.read_bytes())//2])
    with pytest.raises(ValueError, match=r'not a readable checkpoint \(truncated or corrupt\?\)'): learner(tmp_path, ckpt={}).fit(1, resume=trunc)
    with pytest.raises(FileNotFoundError, match='No checkpoint at'): learner(tmp_path).fit(1, resume=tmp_path/'nope.pth')
    bare = Learner(digits_databunch(flat=True), learner(tmp_path).model, loss_func=nn.functional.cross_entropy, metrics=[accuracy],
                   path=tmp_path, silent=True)   # the same metrics, without the trackers
    with pytest.raises(ValueError, match=r'holds the state of callback\(s\) .*which this fit lacks'): bare.fit_one_cycle(1, 1e-2, resume=ck)
    class Fresh(Callback):
        def __init__(self): self.n = 0
    with pytest.raises(ValueError, match=r'taken at the end of its fit \(after epoch 0 of 1\): resuming would train nothing'):
        learner(tmp_path, ckpt={}).fit_one_cycle(1, 1e-2, resume=ck, callbacks=[Fresh()])
    mid = learner(tmp_path/'mid', ckpt={'every_batches': 5})
    try: mid.fit_one_cycle(1, 1e-2, callbacks=[_Crash(7)])
    except RuntimeError: pass
    with pytest.warns(UserWarning, match=r'Fresh.0 have no state in the checkpoint'):
        learner(tmp_path/'mid', ckpt={'every_batches': 5}).fit_one_cycle(1, 1e-2, resume=mid.checkpoints()[-1], callbacks=[Fresh()])

class _Crash(Callback):
    "Raise at the training batch `at`."
    def __init__(self, at): self.at = at
    def state_dict(self): return None   # not part of the run: a resume goes on without it
    def on_batch_begin(self, iteration, train, **kwargs):
        if train and iteration == self.at: raise RuntimeError('crash')

def test_checkpoint_rotation(tmp_path):
    learn = learner(tmp_path, ckpt={'every_batches': 5, 'keep': 2})
    learn.fit(1, 1e-3)
    n = len(learn.data.train_dl)
    names = [p.name for p in learn.checkpoints()]
    assert names == [f'ckpt_e0_b{5*(n//5)}.pth', 'ckpt_e1_b0.pth']
    assert sorted(os.listdir(tmp_path/'models')) == sorted(names + ['bestmodel.pth'])   # SaveModel's file and the kept checkpoints
