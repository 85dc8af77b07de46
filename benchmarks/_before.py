"""A recorded commit, built on its own, for before/after figures in one run (imported as a
sibling module by the benchmarks; `make bench` skips files starting with an underscore).

    with before_tree("bb5101e") as old:
        subprocess.run([sys.executable, ...], env=old.env())

The commit is checked out with ``git worktree add --detach`` into a temporary folder and its C
kernels are compiled there (setuptools build_ext --inplace, the same flags as its install).
Its packages are then laid out as an install would place them -- ``ttfs_lab/``, with
``widgets/`` as ``ttfs_lab/widgets`` (the package-dir mapping of pyproject.toml), and
``ttfs_lab_server/`` -- in a folder put first on PYTHONPATH. The current venv's editable
install (this tree) stays registered, but Python's path finder sees PYTHONPATH before it:
every ttfs_lab module of the process comes from the commit (``check_code`` verifies it in the
measured process). Mixing trees was the bug of the old ``kernel_cost.py --before`` (an old
core with the current widgets, and the current tree's compiled kernels).
"""
from __future__ import annotations

import contextlib
import glob
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


class Tree:
    def __init__(self, commit: str, root: Path, site: Path):
        self.commit, self.root, self.site = commit, root, site

    def env(self, **extra) -> dict:
        """This process's environment with the commit's packages first on PYTHONPATH."""
        paths = [str(self.site)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]
        return dict(os.environ, PYTHONPATH=os.pathsep.join(paths), **extra)

    def check_code(self) -> str:
        """Python that fails unless ttfs_lab, its widgets and its kernels come from this tree."""
        return check_code(self.site)


def check_code(root) -> str:
    """Python that fails unless ttfs_lab, its widgets and its compiled kernels load from under ``root``."""
    return (
        "import os, ttfs_lab, ttfs_lab.widgets, ttfs_lab.native as _n\n"
        "assert _n.available(), 'no native kernels'\n"
        "_files = [ttfs_lab.__file__, ttfs_lab.widgets.__file__, _n._native.__file__]\n"
        f"_bad = [f for f in _files if not os.path.abspath(f).startswith({os.path.abspath(root) + os.sep!r})]\n"
        "assert not _bad, ('modules from another tree:', _bad)\n"
    )


@contextlib.contextmanager
def before_tree(commit: str):
    """The commit checked out and built in a temporary folder (module doc); removed afterwards."""
    folder = Path(tempfile.mkdtemp(prefix=f"ttfs_before_{commit[:12]}_"))
    root = folder / "tree"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", "--quiet", str(root), commit], check=True)
    try:
        build = subprocess.run([sys.executable, "-c", "from setuptools import setup; setup()", "build_ext", "--inplace"],
                               cwd=root, capture_output=True, text=True)
        built = glob.glob(str(root / "ttfs_lab" / "_native*.so"))
        if build.returncode != 0 or not built:  # the extension is optional: a failed build is silent
            raise RuntimeError(f"could not compile the C kernels of {commit}:\n{build.stdout[-2000:]}{build.stderr[-2000:]}")
        site = folder / "site"
        package = site / "ttfs_lab"
        package.mkdir(parents=True)
        for entry in (root / "ttfs_lab").iterdir():
            if entry.name != "widgets":
                (package / entry.name).symlink_to(entry)
        (package / "widgets").symlink_to(root / "widgets")
        if (root / "ttfs_lab_server").is_dir():
            (site / "ttfs_lab_server").symlink_to(root / "ttfs_lab_server")
        yield Tree(commit, root, site)
    finally:
        subprocess.run(["git", "-C", str(REPO), "worktree", "remove", "--force", str(root)], capture_output=True)
        shutil.rmtree(folder, ignore_errors=True)
        subprocess.run(["git", "-C", str(REPO), "worktree", "prune"], capture_output=True)
