"""`sagebox wheels`: the offline wheelhouse script-mode jobs install requirements.txt from. `add`
downloads with the host's pip, for the images' Pythons; `list` shows what is there. (A job
installing from it is in test_framework_pytorch.py.)"""

import subprocess

from support import sagebox_binary


def sagebox(*args, env=None):
    return subprocess.run([str(sagebox_binary()), *args], capture_output=True, text=True, timeout=600, env=env)


def test_wheels_add_downloads_for_the_images_pythons_and_list_shows_them(tmp_path):
    wheelhouse = tmp_path / "wheelhouse"
    proc = sagebox("wheels", "add", "--wheelhouse", str(wheelhouse), "tabulate==0.9.0")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout == "wheelhouse: %s\n" % wheelhouse
    assert "wheels for Python 3.13" in proc.stderr and "wheels for Python 3.11" in proc.stderr
    assert sorted(p.name for p in wheelhouse.iterdir()) == ["tabulate-0.9.0-py3-none-any.whl"]
    proc = sagebox("wheels", "list", "--wheelhouse", str(wheelhouse))
    assert proc.returncode == 0 and proc.stdout == "# %s\ntabulate-0.9.0-py3-none-any.whl\n" % wheelhouse


def test_wheels_add_without_packages_says_what_to_give(tmp_path):
    proc = sagebox("wheels", "add", "--wheelhouse", str(tmp_path / "w"))
    assert proc.returncode != 0
    assert "name the packages to add" in proc.stderr and "-r" in proc.stderr
    assert not (tmp_path / "w").exists()


def test_a_package_without_a_wheel_for_the_images_is_refused_with_the_reason(tmp_path):
    # an sdist-only package cannot be installed offline without building it: refused, not fetched
    wheelhouse = tmp_path / "w"
    proc = sagebox("wheels", "add", "--wheelhouse", str(wheelhouse), "--no-deps", "sagebox-no-such-package-xyz==1.0")
    assert proc.returncode != 0
    assert "pip download for Python 3.13 failed" in proc.stderr, proc.stderr[-2000:]
