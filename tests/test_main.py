"""The command line entry point ``python -m sklearn_resboost``."""

import subprocess
import sys

import pytest

from sklearn_resboost.__main__ import main


@pytest.mark.parametrize("dataset", ["breast_cancer", "diabetes"])
def test_main_reports_staged_scores(dataset, capsys):
    assert main(["--dataset", dataset, "--n-estimators", "2", "--epochs-per-block", "1"]) == 0
    out = capsys.readouterr().out
    assert "Iter" in out and "blocks  test" in out
    assert "fitted 2 blocks" in out or "fitted 1 blocks" in out


def test_main_runs_as_a_module():
    result = subprocess.run(
        [sys.executable, "-m", "sklearn_resboost", "--help"],
        capture_output=True, text=True, check=True,
    )
    assert "--dataset" in result.stdout


def test_main_rejects_unknown_dataset():
    with pytest.raises(SystemExit):
        main(["--dataset", "mnist"])
