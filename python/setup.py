"""The package's version is the CMake project's (../CMakeLists.txt)."""
import os
import re

from setuptools import setup


def cmake_version():
    here = os.path.dirname(os.path.abspath(__file__))
    with open(os.path.join(here, os.pardir, "CMakeLists.txt"), encoding="utf-8") as f:
        match = re.search(r"project\s*\(\s*wsc\s+VERSION\s+([0-9][0-9.]*)", f.read())
    if not match:
        raise RuntimeError("no project(wsc VERSION ...) in ../CMakeLists.txt")
    return match.group(1)


setup(version=cmake_version())
