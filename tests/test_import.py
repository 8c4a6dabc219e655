import subprocess
import sys
import time


def test_import_is_fast_and_compiles_nothing():
    code = ("import sys, time; t = time.time(); import illusion_torch; "
            "print(time.time() - t, 'qtorch' in sys.modules, 'torch.utils.cpp_extension' in sys.modules)")
    started = time.time()
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert float(out[0]) < 5.0 and time.time() - started < 10
    assert out[1] == "False", "import illusion_torch must not import qtorch"
    assert out[2] == "False", "import illusion_torch must not load the C++ extension builder"
