"""Running the command line in-process with captured output."""
import contextlib
import io

from staticad.cli import main


def run_cli(argv):
    """``main(argv)`` with stdout and stderr captured: ``(exit status, stdout, stderr)``."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = main(argv)
    return rc, out.getvalue(), err.getvalue()
