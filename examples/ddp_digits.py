"""Train a small CNN on scikit-learn's digits data-parallel, on every process of a torchrun launch.

Run: torchrun --nproc_per_node=2 examples/ddp_digits.py [--epochs 5] [--lr 1e-2] [--bs 64]
`--bs` is the batch size of a step, split between the processes. Rank 0 prints the table and the accuracy."""
import argparse
from torch import nn
from fastcb.all import *
from fastcb.distributed import setup_distributed, cleanup_distributed

def main(epochs:int=5, lr:float=1e-2, bs:int=64)->float:
    "Train with 1cycle on every rank; return the validation accuracy (the same on every rank)."
    rank, world_size, _ = setup_distributed()
    data = digits_databunch(bs=bs // world_size)
    learn = Learner(data, digits_cnn(), loss_func=nn.functional.cross_entropy, metrics=[accuracy], silent=rank != 0)
    learn.to_distributed()
    learn.fit_one_cycle(epochs, lr)
    acc = learn.recorder.metrics[-1][0]   # reduced over the ranks: the accuracy on the whole validation set
    if is_main_process(): print(f"validation accuracy on {world_size} process(es): {acc:.4f}")
    cleanup_distributed()
    return acc

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--epochs', type=int, default=5)
    p.add_argument('--lr', type=float, default=1e-2)
    p.add_argument('--bs', type=int, default=64)
    main(**vars(p.parse_args()))
