"""Distributed data-parallel training on 2 CPU processes (gloo, loopback), launched with `torch.distributed.run`.

One launch trains digits on 2 ranks with early stopping, a callback that saves the best model and fastcb.tracker's
SaveModelCallback, and each rank writes what it saw to a file; the checks compare them here."""
import os, signal, subprocess, sys, textwrap
from pathlib import Path
import pytest
import torch
from torch import nn

from fastcb.distributed import find_free_port

ROOT = Path(__file__).resolve().parent.parent

WORKER = textwrap.dedent('''
    "One rank: train digits with early stopping and a saver; record everything in OUT/rank{r}.pt."
    import os, sys
    from functools import partial
    from pathlib import Path
    import torch
    from torch import nn
    from fastcb.all import *
    from fastcb.distributed import setup_distributed, cleanup_distributed, barrier

    out, n_epochs = Path(sys.argv[1]), int(sys.argv[2])
    run_dir = (out/'run').resolve()
    written, auditing = [], True
    _write_flags = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC
    def audit(event, args):
        "Record every file this process creates, writes, renames or removes under `run_dir`."
        if not auditing: return
        path = None
        if event == 'open' and isinstance(args[0], (str, os.PathLike)):
            p, mode, flags = args
            if (mode and any(c in mode for c in 'wax+')) or (flags and flags & _write_flags): path = p
        elif event in ('os.rename', 'os.remove', 'os.mkdir'): path = args[0]
        if path is not None and str(Path(path).resolve()).startswith(str(run_dir)): written.append(str(path))
    sys.addaudithook(audit)

    class LocalMetrics(Callback):
        "Keep this rank's own validation metrics, before DistributedTrainer (order -15) reduces them."
        order = -18
        def on_train_begin(self, **kwargs): self.vals = []
        def on_epoch_end(self, last_metrics, **kwargs): self.vals.append(list(last_metrics))

    class SaveOnImprovement(LearnerCallback):
        "Keep the (reduced) metrics of each epoch, and save the model when the validation loss improves by 0.01."
        order = 20
        def on_train_begin(self, **kwargs): self.best, self.seen = float('inf'), []
        def on_epoch_end(self, last_metrics, **kwargs):
            self.seen.append(list(last_metrics))
            if last_metrics[0] < self.best - 0.01: self.best = last_metrics[0]; self.learn.save('best')

    class SeenSync(Callback):
        "Record whether DDP averages the gradients of each training batch."
        def on_train_begin(self, **kwargs): self.flags = []
        def on_backward_begin(self, model, **kwargs): self.flags.append(model.require_backward_grad_sync)

    class StopOnRank1(Callback):
        "A decision from rank-local information: only rank 1 stops, after the first epoch."
        def on_epoch_end(self, **kwargs): return {'stop_training': True} if rank == 1 else None

    rank, world_size, _ = setup_distributed()
    data = digits_databunch(bs=64 // world_size)
    # 359 validation items: shards of 180 and 179, so 2 batches on rank 0 and 1 on rank 1
    data.valid_dl = torch.utils.data.DataLoader(data.valid_dl.dataset, batch_size=179)
    learn = Learner(data, digits_cnn(), loss_func=nn.functional.cross_entropy, metrics=[accuracy], path=run_dir)
    learn.to_distributed()
    local, saver, stopper = LocalMetrics(), SaveOnImprovement(learn), EarlyStoppingCallback(learn, min_delta=0.01, patience=1)
    learn.fit(n_epochs, 1e-2, callbacks=[local, saver, stopper])
    final = {k: v.clone() for k, v in learn.model.state_dict().items()}
    val_losses, metrics = learn.recorder.val_losses, learn.recorder.metrics
    learn.export()
    learn.load('best')   # every rank reads the file rank 0 wrote
    best = {k: v.clone() for k, v in learn.model.state_dict().items()}
    seen_sync = SeenSync()
    # fastcb.precision's accumulation: no_sync on the batches that do not step, from the 2nd epoch; a checkpoint per epoch
    learn.fit(2, 1e-3, callbacks=[GradientAccumulation(3), seen_sync, CheckpointCallback(learn)])
    accum = {k: v.clone() for k, v in learn.model.state_dict().items()}
    barrier()   # CheckpointCallback writes on rank 0 only: wait for it before reading
    learn.fit(2, 1e-3, callbacks=[GradientAccumulation(3), SeenSync(), CheckpointCallback(learn)],
              resume=learn.path/learn.model_dir/'ckpt_e1_b0.pth')
    resumed = {k: v.clone() for k, v in learn.model.state_dict().items()}
    learn.fit(3, 1e-3, callbacks=[StopOnRank1(), SaveModelCallback(learn, name='sm')])   # AgreeToStop: both ranks stop after epoch 0; saving is collective (hung before)
    n_epochs_rank_local_stop = len(learn.recorder.val_losses)
    # a CheckpointCallback given before to_distributed adds AgreeToStop: the checkpoint must still record the common decision
    stop_learn = Learner(digits_databunch(flat=True), nn.Linear(64, 10), loss_func=nn.functional.cross_entropy, path=run_dir,
                         silent=True, callback_fns=[partial(CheckpointCallback, name='stop')]).to_distributed()
    stop_learn.fit(3, 1e-2, callbacks=[StopOnRank1()])
    barrier()
    stop_ck = stop_learn.checkpoints('stop')[-1]
    ck_stop = dict(name=stop_ck.name, stop=torch.load(stop_ck, weights_only=False)['handler']['position']['stop_training'])
    try: stop_learn.fit(3, 1e-2, callbacks=[StopOnRank1()], resume=stop_ck); ck_stop['resume'] = 'accepted'
    except ValueError as e: ck_stop['resume'] = 'refused' if 'stopped its fit early' in str(e) else str(e)   # on both ranks: nothing to train
    # a tracker of 'train_loss' reads the ranks' mean (each rank's own: the lrs parted); a mid-fit validate() refuses this rank's shard
    class SeenTrainLoss(LearnerCallback):
        order = 25
        def on_train_begin(self, **kwargs): self.vals, self.got = [], None
        def on_epoch_end(self, smooth_loss, **kwargs):
            self.vals.append(float(smooth_loss))
            try: self.learn.validate(); self.got = 'ran'
            except RuntimeError as e: self.got = str(e)
    plateau = Learner(digits_databunch(flat=True), nn.Linear(64, 10), loss_func=nn.functional.cross_entropy, path=run_dir,
                      silent=True).to_distributed()
    seen_loss = SeenTrainLoss(plateau)
    plateau.fit(3, 1e-2, callbacks=[ReduceLROnPlateauCallback(plateau, monitor='train_loss', patience=0, factor=0.5), seen_loss])
    from fastcb.distributed import reduce_weighted
    reduced = reduce_weighted([float('nan'), 2. if rank == 0 else None, None], 10)
    auditing = False
    torch.save(dict(train_losses=seen_loss.vals, mid_validate=seen_loss.got, plateau_lr=plateau.opt.lr, reduced=reduced, ck_stop=ck_stop, accum=accum, resumed=resumed, sync_flags=seen_sync.flags, n_local_stop=n_epochs_rank_local_stop, final=final, best=best, val_losses=val_losses,
                    metrics=metrics, local=local.vals, seen=saver.seen, stop_epoch=stopper.stopped_epoch,
                    written=sorted(set(written))), out/f'rank{rank}.pt')
    cleanup_distributed()
''')

def launch(script:Path, *args, nproc:int=2, timeout:int=180)->subprocess.CompletedProcess:
    "Run `script` on `nproc` CPU processes with torch's launcher, on the loopback interface; kill them all on timeout."
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get('PYTHONPATH', ''))
    cmd = [sys.executable, '-m', 'torch.distributed.run', f'--nproc_per_node={nproc}', '--nnodes=1',
           '--master_addr=127.0.0.1', f'--master_port={find_free_port()}', str(script), *map(str, args)]
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=script.parent,
                         start_new_session=True)   # its own process group, so that a hang can be killed whole
    try: out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(p.pid, signal.SIGKILL)
        out, err = p.communicate()
        pytest.fail(f"the ranks hung for {timeout}s (disagreeing about when to stop?):\n{out}\n{err}")
    assert p.returncode == 0, f"launch failed:\n{out}\n{err}"
    return subprocess.CompletedProcess(cmd, p.returncode, out, err)

@pytest.fixture(scope='module')
def ddp_run(tmp_path_factory):
    "Launch the 2-rank training once; give its output and both ranks' records."
    out = tmp_path_factory.mktemp('ddp')
    (out/'worker.py').write_text(WORKER)
    res = launch(out/'worker.py', out, 12)
    return res, out, [torch.load(out/f'rank{r}.pt') for r in range(2)]

def test_same_weights_on_both_ranks(ddp_run):
    _, _, (r0, r1) = ddp_run
    for state in ('final', 'best'):
        assert r0[state].keys() == r1[state].keys()
        for k in r0[state]: assert torch.equal(r0[state][k], r1[state][k]), f"{state} {k} differs between ranks"
    assert any(not torch.equal(r0['final'][k], r0['best'][k]) for k in r0['final'])   # 'best' was really loaded

def test_metrics_are_a_single_process_evaluation(ddp_run):
    "The reduced metrics of the last epoch are those of the final model evaluated in one process on the whole set."
    from fastcb.learner import Learner, digits_databunch, digits_cnn, accuracy
    _, _, (r0, r1) = ddp_run
    assert r0['seen'] == r1['seen'] and r0['val_losses'] == r1['val_losses'] and r0['metrics'] == r1['metrics']
    assert r0['seen'] == [[l, *m] for l, m in zip(r0['val_losses'], r0['metrics'])]   # the Recorder saw what the tracker saw
    learn = Learner(digits_databunch(), digits_cnn(seed=1), loss_func=nn.functional.cross_entropy, metrics=[accuracy])
    learn.model.load_state_dict(r0['final'])
    loss, acc = learn.validate()
    assert len(learn.data.valid_dl.dataset) == 359
    assert abs(r0['val_losses'][-1] - loss) < 1e-5 and abs(r0['metrics'][-1][0] - acc) < 1e-6, (r0['seen'][-1], loss, acc)
    # the ranks' own figures differ from each other and from the global one: the reduction did something
    assert r0['local'] != r1['local'] and r0['local'][-1] != r0['seen'][-1]
    # and it is the weighted mean: 180 items on rank 0, 179 on rank 1
    for l0, l1, g in zip(r0['local'], r1['local'], r0['seen']):
        for a, b, c in zip(l0, l1, g): assert abs((a*180 + b*179)/359 - c) < 1e-6

def test_early_stopping_agrees(ddp_run):
    _, _, (r0, r1) = ddp_run
    assert r0['stop_epoch'] is not None and r0['stop_epoch'] == r1['stop_epoch'] < 11
    assert len(r0['seen']) == len(r1['seen']) == r0['stop_epoch'] + 1

def test_resume_from_a_checkpoint_is_exact(ddp_run):
    "Resuming the accumulation fit from its epoch-1 checkpoint (written by rank 0) ends with the same weights."
    _, out, (r0, r1) = ddp_run
    for k in r0['accum']:
        assert torch.equal(r0['resumed'][k], r1['resumed'][k]) and torch.equal(r0['resumed'][k], r0['accum'][k]), k
    assert sorted(p.name for p in (out/'run'/'models').glob('ckpt_*')) == ['ckpt_e1_b0.pth', 'ckpt_e2_b0.pth']

def test_a_rank_local_stop_stops_every_rank(ddp_run):
    _, _, (r0, r1) = ddp_run
    assert r0['n_local_stop'] == r1['n_local_stop'] == 1

def test_the_checkpoint_records_the_common_stop(ddp_run):
    "AgreeToStop (999) runs before CheckpointCallback (1000): rank 0's checkpoint says stop, though rank 0 alone did not; a resume trains no more."
    _, _, (r0, r1) = ddp_run
    assert r0['ck_stop'] == r1['ck_stop'] == dict(name='stop_e1_b0.pth', stop=True, resume='refused')

def test_only_rank0_writes(ddp_run):
    res, out, (r0, r1) = ddp_run
    assert r1['written'] == []
    assert any(p.endswith('best.pth') or '.best.pth.' in p for p in r0['written'])
    assert (out/'run'/'models'/'best.pth').exists() and (out/'run'/'export.pkl').exists()
    saved = torch.load(out/'run'/'models'/'best.pth')['model']
    for k in saved: assert torch.equal(saved[k], r1['best'][k])   # rank 1 loaded what rank 0 wrote
    headers = [l for l in res.stdout.splitlines() if l.startswith('epoch') and 'valid_loss' in l]
    assert len(headers) == 4   # one results table per fit (4 fits), rank 0's only

def test_accumulation_skips_the_average_and_stays_in_step(ddp_run):
    "With fastcb.precision's GradientAccumulation over 3 batches, the 2nd epoch averages only the batches that step; weights still agree."
    _, _, (r0, r1) = ddp_run
    flags = r0['sync_flags']
    n = len(flags) // 2   # 23 batches per epoch on each rank: 719 items (1438 split evenly, no padding), bs 32
    assert flags[:n] == [True]*n and flags[n:] == [(i + 1) % 3 == 0 or i + 1 == n for i in range(n)]
    assert r0['sync_flags'] == r1['sync_flags'] and not all(flags)
    for k in r0['accum']: assert torch.equal(r0['accum'][k], r1['accum'][k]), k
    assert any(not torch.equal(r0['accum'][k], r0['best'][k]) for k in r0['accum'])   # it did train

def test_reaches_the_single_process_accuracy(ddp_run):
    _, _, (r0, _) = ddp_run
    assert r0['metrics'][-1][0] >= 0.96, r0['metrics']

def test_train_loss_is_the_ranks_mean(ddp_run):
    "Trackers monitoring 'train_loss' read the same figure on every rank, so they decide alike (each rank's own smoothed loss parted the lrs, and hung collective saves)."
    _, _, (r0, r1) = ddp_run
    assert r0['train_losses'] == r1['train_losses'] and r0['plateau_lr'] == r1['plateau_lr']

def test_midfit_validate_refuses_the_shard(ddp_run):
    _, _, (r0, r1) = ddp_run
    assert "this rank's shard" in r0['mid_validate'] and "this rank's shard" in r1['mid_validate']

def test_reduction_keeps_nan_and_none(ddp_run):
    "A NaN (a diverged loss) stays NaN; a value one rank has is that rank's; one no rank has stays None."
    import math
    _, _, (r0, r1) = ddp_run
    for r in (r0['reduced'], r1['reduced']): assert math.isnan(r[0]) and r[1:] == [2., None]
