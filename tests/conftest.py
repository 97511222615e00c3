import os, signal
import pytest
os.environ.setdefault('MPLBACKEND', 'agg')

@pytest.fixture(autouse=True)
def restore_sigint():
    "nbdev's notebook runner installs a SIGINT handler that exits the process; put back the one we had after each test."
    old = signal.getsignal(signal.SIGINT)
    yield
    signal.signal(signal.SIGINT, old)
