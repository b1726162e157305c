"""Loading ``MODULE:FUNCTION`` for ``staticad compile`` and compiling what the function returns.

Every failure is a :class:`CompileError` with a one-line message naming what is wrong.
"""
from __future__ import annotations

import importlib
import importlib.util
import inspect
import os
import re
import sys
from pathlib import Path

from .common import one_line


class CompileError(Exception):
    """A ``staticad compile`` failure: reported as one line on stderr, exit status ``status``
    (1; 2 for a malformed MODULE:FUNCTION)."""

    def __init__(self, message, status=1):
        super().__init__(message)
        self.status = status


def load_target(spec: str):
    """``MODULE:FUNCTION`` -> the callable. MODULE is a dotted module name (importable from the
    current directory) or a path to a ``.py`` file; FUNCTION may be dotted (``Class.method``)."""
    module_part, sep, attr = spec.rpartition(":")
    if not sep or not module_part or not attr:
        raise CompileError(f"expected MODULE:FUNCTION (e.g. examples/tiny_mlp.py:build or mypkg.models:build), "
                           f"got {spec!r}", status=2)
    is_path = module_part.endswith(".py") or "/" in module_part or os.sep in module_part
    if is_path:
        module = _import_file(Path(module_part))
    else:
        module = _import_module(module_part)
    obj = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError:
            raise CompileError(f"{module_part} has no function {attr!r}") from None
    if not callable(obj):
        raise CompileError(f"{module_part}:{attr} is not a function ({type(obj).__name__})")
    return obj


def _import_file(path: Path):
    if not path.is_file():
        raise CompileError(f"no such file: {path}")
    name = "_staticad_compile_" + re.sub(r"\W", "_", path.resolve().stem)
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise CompileError(f"cannot load {path} as a Python module")
    module = importlib.util.module_from_spec(spec)
    folder = str(path.resolve().parent)
    sys.path.insert(0, folder)  # the file may import its neighbours
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        sys.modules.pop(name, None)
        raise CompileError(f"importing {path} failed: {one_line(exc)}") from exc
    finally:
        try:
            sys.path.remove(folder)
        except ValueError:
            pass
    return module


def _import_module(name: str):
    cwd = os.getcwd()
    added = cwd not in sys.path and "" not in sys.path
    if added:
        sys.path.insert(0, cwd)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name and (name == exc.name or name.startswith(exc.name + ".")):
            raise CompileError(f"no module named {name!r} (not importable from {cwd})") from exc
        raise CompileError(f"importing {name} failed: {one_line(exc)}") from exc
    except Exception as exc:
        raise CompileError(f"importing {name} failed: {one_line(exc)}") from exc
    finally:
        if added:
            try:
                sys.path.remove(cwd)
            except ValueError:
                pass


def build_function(fn_obj, label: str, backend=None):
    """Call the target and compile what it returns. Returns ``(Function, compiled_here)``."""
    import staticad as sad
    from ..function import Function

    try:
        inspect.signature(fn_obj).bind()
    except TypeError as exc:
        raise CompileError(f"{label}() must be callable without arguments: {exc}") from None
    except ValueError:  # no signature (a builtin): just call it
        pass
    try:
        result = fn_obj()
    except (ValueError, TypeError) as exc:
        raise CompileError(f"graph error in {label}(): {one_line(exc)}") from exc
    except Exception as exc:
        raise CompileError(f"{label}() raised {one_line(exc)}") from exc
    if isinstance(result, Function):
        if backend is None or backend == result.backend.NAME:
            return result, False
        inputs, outputs, updates, name = result.inputs, result.program.outputs, result.updates, result.name
    elif isinstance(result, dict) and "inputs" in result and "outputs" in result:
        inputs, outputs, updates, name = result["inputs"], result["outputs"], result.get("updates"), label
    elif isinstance(result, (tuple, list)) and len(result) in (2, 3):
        inputs, outputs = result[0], result[1]
        updates = result[2] if len(result) == 3 else None
        name = label
    else:
        raise CompileError(f"{label}() returned {type(result).__name__}; expected a sad.function or "
                           "(inputs, outputs) / (inputs, outputs, updates)")
    try:
        return sad.function(inputs, outputs, updates=updates, backend=backend or "numba", name=name), True
    except (ValueError, TypeError) as exc:
        raise CompileError(f"graph error compiling {label}(): {one_line(exc)}") from exc
    except Exception as exc:
        raise CompileError(f"compiling {label}() failed: {one_line(exc)}") from exc
