"""The user's tutorial client (seed_client.py, its text unchanged but for
the port) against calcd, with code generated from the user's own IDL and
from calcd's shipped IDL."""

import os
import subprocess
import sys
import unittest

from calcd_harness import CALCD_WORK, DaemonTestCase

HERE = os.path.dirname(os.path.abspath(__file__))
SEED_CLIENT = os.environ.get("CALCD_SEED_CLIENT") or os.path.join(HERE, "seed_client.py")
EXPECTED = "5 + 3 = 8\n10 - 4 = 6\n"


class SeedClient(DaemonTestCase):

    def _run_seed(self, gen_dir):
        self.assertTrue(os.path.isdir(os.path.join(gen_dir, "tutorial", "calculator")),
                        "%s/tutorial/calculator missing: run through run.sh" % gen_dir)
        with open(SEED_CLIENT) as f:
            text = f.read()
        self.assertEqual(text.count("9090"), 1, "seed_client.py should name port 9090 once")
        self.assertIn("from tutorial.calculator import CalculatorService", text)
        port = self.daemon.port
        copy_dir = os.path.join(CALCD_WORK, "seed")
        os.makedirs(copy_dir, exist_ok=True)
        copy = os.path.join(copy_dir, "calculator_client_%d_%s.py"
                            % (port, os.path.basename(gen_dir)))
        with open(copy, "w") as f:
            f.write(text.replace("9090", str(port)))
        env = dict(os.environ)
        env["PYTHONPATH"] = gen_dir
        env["PYTHONDONTWRITEBYTECODE"] = "1"
        r = subprocess.run([sys.executable, copy], cwd=copy_dir, env=env,
                           stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout, EXPECTED)
        self.assertEqual(r.stderr, "")

    def test_seed_client_with_users_idl(self):
        self._run_seed(os.path.join(CALCD_WORK, "gen-py-seed"))

    def test_seed_client_with_calcd_idl(self):
        self._run_seed(os.path.join(CALCD_WORK, "gen-py-seed-calcd"))

    def test_seed_client_twice_in_a_row(self):
        # A second run on the same daemon: nothing left over from the first.
        self._run_seed(os.path.join(CALCD_WORK, "gen-py-seed"))
        self._run_seed(os.path.join(CALCD_WORK, "gen-py-seed"))


if __name__ == "__main__":
    unittest.main(verbosity=2)
