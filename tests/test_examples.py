"""Every example of the gallery runs as a script, at the smaller size of its fast mode."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("plot_*.py"))
# Examples that need an optional extra: skipped where its modules are missing.
REQUIRES = {"plot_onnx.py": ("onnx", "onnxruntime", "skl2onnx")}


@pytest.mark.examples
@pytest.mark.parametrize("script", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_example_runs(script, tmp_path):
    for module in REQUIRES.get(script.name, ()):
        pytest.importorskip(module)
    env = dict(os.environ)
    env.update(
        MPLBACKEND="Agg",
        # Fewer blocks, epochs or rows; the gallery build leaves it unset.
        SKLEARN_RESBOOST_FAST_EXAMPLES="1",
        OMP_NUM_THREADS="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")])),
    )
    result = subprocess.run(
        [sys.executable, str(script)],
        check=False,
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, f"{script.name} failed:\n{result.stdout}\n{result.stderr}"
