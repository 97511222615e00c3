"""Train a small CNN on scikit-learn's bundled digits with fastcb: the LR finder, then 1cycle.

Prints the results table and the validation accuracy, and writes `lr_find.png` and `losses.png` to `--out`.
Run: python examples/digits.py [--epochs 5] [--lr 1e-2] [--out .]"""
import argparse
from pathlib import Path
import matplotlib
matplotlib.use('agg')
from torch import nn
from fastcb.all import *

def main(epochs:int=5, lr:float=1e-2, out:str='.')->float:
    "Find a learning rate, train with 1cycle, save the plots; return the validation accuracy."
    out = Path(out); out.mkdir(parents=True, exist_ok=True)
    learn = Learner(digits_databunch(), digits_cnn(), loss_func=nn.functional.cross_entropy, metrics=[accuracy])
    learn.lr_find()
    learn.recorder.plot(suggestion=True, return_fig=True).savefig(out/'lr_find.png')
    print(f"Training with max_lr={lr:g} (the LR finder's steepest slope was at {learn.recorder.min_grad_lr:.2g})")
    learn.fit_one_cycle(epochs, lr)
    learn.recorder.plot_losses(return_fig=True).savefig(out/'losses.png')
    acc = learn.validate()[1]
    print(f"validation accuracy: {acc:.4f}; plots written to {out/'lr_find.png'} and {out/'losses.png'}")
    return acc

if __name__ == '__main__':
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--epochs', type=int, default=5)
    p.add_argument('--lr', type=float, default=1e-2)
    p.add_argument('--out', default='.')
    main(**vars(p.parse_args()))
