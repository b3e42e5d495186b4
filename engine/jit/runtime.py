"""The LLVM side of the JIT: one long-lived MCJIT engine, the code cache and the on-disk object cache.

llvmlite is imported here and only here (``engine/jit/codegen.py`` builds IR with ``llvmlite.ir``,
which needs no native initialisation), and only when a pipeline is first compiled, so
``import engine`` stays fast. Code is generated for the host CPU (its name and features), at -O3.

Kernels are keyed by their shape (``codegen.Kernel.key``: the pipeline's expressions with their
literals replaced by parameter slots, the physical types of the columns, which columns have NULLs):
``x < 5`` and ``x < 7`` share machine code. In a process, ``compile_kernel`` returns the address it
compiled before; across processes the object code sits in a cache directory
(``$DAWN_JIT_CACHE``, else ``~/.cache/dawn/jit``), written by MCJIT's object-cache ``notify`` callback
and read back by its ``getbuffer`` callback, so a new process parses the IR but neither optimizes nor
generates code. A file's name hashes the key with the LLVM version, the CPU and the code generator's
source, so a cache copied to another machine, or left by another version of Dawn, is not used.
"""
from __future__ import annotations

import hashlib
import os
import threading
import time
from dataclasses import dataclass

_LOCK = threading.Lock()
_STATE: "_Jit | None" = None


def cache_dir() -> str:
    """Where compiled objects are kept between processes."""
    d = os.environ.get("DAWN_JIT_CACHE")
    if not d:
        d = os.path.join(os.path.expanduser("~"), ".cache", "dawn", "jit")
    return d


@dataclass
class Compiled:
    """A kernel's machine code: its address, and how it was obtained for EXPLAIN ANALYZE."""
    address: int
    how: str            # "compiled", "memory" (this process had it), "disk" (the object cache)
    seconds: float      # compile (or load) time spent now; 0 for "memory"


class _Jit:
    def __init__(self) -> None:
        import llvmlite.binding as llvm
        self.llvm = llvm
        llvm.initialize_native_target()
        llvm.initialize_native_asmprinter()
        target = llvm.Target.from_default_triple()
        self.cpu = llvm.get_host_cpu_name()
        self.features = llvm.get_host_cpu_features().flatten()
        self.tm = target.create_target_machine(cpu=self.cpu, features=self.features, opt=3)
        self.triple = llvm.get_process_triple()
        # the engine owns an empty module; each kernel is added as a module of its own
        empty = llvm.parse_assembly("")
        empty.triple = self.triple
        self.engine = llvm.create_mcjit_compiler(empty, self.tm)
        self.engine.set_object_cache(self._notify, self._getbuffer)
        # the code generator's own text is in the salt: a changed generator never loads old code
        from engine.jit import codegen, kernel
        h = hashlib.sha256()
        for mod in (codegen, kernel):
            with open(mod.__file__, "rb") as f:
                h.update(f.read())
        gen = h.hexdigest()[:16]
        self.salt = f"{'.'.join(map(str, llvm.llvm_version_info))}|{self.cpu}|{self.features}|{gen}"
        self.addresses: dict[str, int] = {}
        self.modules: list = []  # kept alive: their code is referenced by address
        # the cached object of the module being added, by module name: MCJIT asks the cache
        # about every module it compiles (the engine's own empty one too, on the first
        # finalize), and only the module it was read for may take it
        self._pending_disk: tuple[str, bytes] | None = None
        self._disk_hit = False

    # -- MCJIT object cache callbacks
    def _path(self, name: str) -> str:
        return os.path.join(cache_dir(), name + ".o")

    def _notify(self, module, buffer: bytes) -> None:
        if not module.name.startswith("dawn_") or self._pending_disk is not None:
            return  # the engine's empty module, or a module left unoptimized for its cached
            # object (MCJIT did not take it): never store code the optimizer has not seen
        try:
            os.makedirs(cache_dir(), exist_ok=True)
            tmp = self._path(module.name) + f".{os.getpid()}.tmp"
            with open(tmp, "wb") as f:
                f.write(buffer)
            os.replace(tmp, self._path(module.name))  # atomic: a reader sees all or nothing
        except OSError:
            pass  # a read-only home: the code still runs, only later processes recompile

    def _getbuffer(self, module) -> bytes | None:
        pending = self._pending_disk
        if pending is None or pending[0] != module.name:
            return None
        self._pending_disk = None
        self._disk_hit = True
        return pending[1]

    # -- compiling
    def module_name(self, key: str) -> str:
        return "dawn_" + hashlib.sha256((self.salt + "\n" + key).encode()).hexdigest()[:32]

    def compile(self, key: str, build_ir) -> Compiled:
        name = self.module_name(key)
        addr = self.addresses.get(name)
        if addr is not None:
            return Compiled(addr, "memory", 0.0)
        llvm = self.llvm
        t0 = time.perf_counter()
        try:
            with open(self._path(name), "rb") as f:
                cached = f.read()
        except OSError:
            cached = None
        mod = llvm.parse_assembly(build_ir(name))
        mod.name = name
        mod.triple = self.triple
        mod.data_layout = str(self.tm.target_data)
        if cached is None:
            mod.verify()
            self._optimize(mod)
        self._pending_disk = (name, cached) if cached is not None else None
        self._disk_hit = False
        self.engine.add_module(mod)
        self.engine.finalize_object()
        self._pending_disk = None
        addr = self.engine.get_function_address(name)
        self.modules.append(mod)
        self.addresses[name] = addr
        how = "disk" if self._disk_hit else "compiled"
        return Compiled(addr, how, time.perf_counter() - t0)

    def assembly(self, ir_text: str) -> str:
        """Machine code for ``ir_text`` as assembly (for looking at what a kernel became)."""
        llvm = self.llvm
        mod = llvm.parse_assembly(ir_text)
        mod.triple = self.triple
        mod.data_layout = str(self.tm.target_data)
        self._optimize(mod)
        return self.tm.emit_assembly(mod)

    def _optimize(self, mod) -> None:
        llvm = self.llvm
        pto = llvm.create_pipeline_tuning_options(speed_level=3)
        pto.loop_vectorization = True
        pto.slp_vectorization = True
        pb = llvm.create_pass_builder(self.tm, pto)
        pb.getModulePassManager().run(mod, pb)


def jit() -> _Jit:
    """The process's JIT (created on first use)."""
    global _STATE
    if _STATE is None:
        with _LOCK:
            if _STATE is None:
                _STATE = _Jit()
    return _STATE


def compile_kernel(key: str, build_ir) -> Compiled:
    """The machine code of the kernel ``key``: ``build_ir(name)`` gives the IR text of a module
    defining the function ``name`` (called only when this process has not got it yet)."""
    j = jit()
    with _LOCK:
        return j.compile(key, build_ir)
