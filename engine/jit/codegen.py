"""LLVM IR for one fused pipeline: scan of Arrow buffers -> filters -> expressions -> aggregate sink.

A ``Template`` (engine/jit/kernel.py, built by engine/jit/lower.py) holds the pipeline's expressions over the scan's columns: the
filter conjuncts, the group keys and the aggregate calls. ``plan_kernel(template, signature)``
turns it, for the physical column types and NULL presence of a chunk (``ColSig``), into a
``KernelPlan``: the cache key, which literals become parameters, which dictionary tables the
caller supplies per chunk, the accumulator states, and ``ir(name)``, the module text. One
function, called once per chunk:

    i32 kernel(i64 n, i8** data, i8** validity, i64* offsets, i8** aux, i64* params,
               i64* groups, i8** states)

``data[j]``/``validity[j]``/``offsets[j]``: column j's value buffer, validity bitmap (NULL when
it has no NULLs, and then never read) and Arrow offset. ``aux``: per dictionary use, an int8
truth table over the dictionary (a predicate, evaluated by Dawn's own kernels on the dictionary
values; two bytes an entry, value and validity, the last entry for a NULL row) or an int32 table of
group codes. ``params``: the literals, 8 bytes each. ``groups``: per key its stride and lowest
value. ``states``: the accumulator arrays, one slot per group (1 when ungrouped). Returns 0, or 1
when an integer or decimal overflow happened on a row that counts: the caller then runs the
vectorized path, which raises the error Dawn gives (or finds the row filtered out).

The loop is branch-free: every conjunct is evaluated on every row and the row's flag selects what
the accumulators add (SQL's three-valued logic as value/valid pairs; a NULL predicate drops the
row; aggregates skip NULL arguments; COUNT(*) counts rows). Ungrouped accumulators live in
registers (so the loop vectorizes); grouped ones are arrays indexed by the combined dense key.
Decimal columns (Parquet's decimal128) are exact scaled integers in aggregate arguments (SUM of
decimal products summed as i128) and, where Dawn's plan computes in DOUBLE (predicates, mixing with
floats), are converted exactly as Arrow's cast does (``k * 1e-s``), so a predicate keeps the same
rows as the vectorized path. Anything else raises ``Unsupported`` with the reason.
"""
from __future__ import annotations

import datetime as _dt
from dataclasses import dataclass

import pyarrow as pa

from engine.jit.kernel import (_ARITH, _CMP, _LOGIC, DICT_BITS, INT_BITS, SELECT, AggOut, ColSig,
                               KernelPlan, State, Template, Unsupported)
from engine.plan.expressions import Call, Cast, ColumnRef, Expr, InList, Literal
from engine.plan.functions.names import VOLATILE


@dataclass
class V:
    """A value in the loop: ``rep`` int (``bits``), f64, bool, dec (i64 scaled by ``scale``);
    ``valid`` an i1, or None when never NULL."""
    rep: str
    v: object
    valid: object = None
    bits: int = 64
    scale: int = 0


def _one_string_predicate(e: Expr, strings: set[int]) -> bool:
    """A boolean over one string column and constants, with no user function, subquery or
    volatile call: evaluated on the column's dictionary by Dawn's own kernels, looked up per row."""
    from engine.plan.expressions import SubqueryExpr, UdfCall
    if not pa.types.is_boolean(e.dtype) or isinstance(e, ColumnRef):
        return False
    cols = e.columns()
    if len(cols) != 1 or not cols <= strings:
        return False
    return not any(isinstance(x, (UdfCall, SubqueryExpr)) or (isinstance(x, Call) and x.fn in VOLATILE)
                   for x in e.walk())


def _check_static(e: Expr, strings: set[int] = frozenset()) -> None:
    """Node kinds the JIT can compile at all (types are checked when a chunk's are known)."""
    if _one_string_predicate(e, strings):
        return
    for x in e.children():
        if not isinstance(x, (ColumnRef, Literal)):
            _check_static(x, strings)
    for x in (e,):
        if isinstance(x, (ColumnRef, Literal)):
            continue
        if isinstance(x, Call):
            if x.fn in VOLATILE or x.fn not in _CMP + _ARITH + _LOGIC:
                raise Unsupported(f"function {x.fn}")
            continue
        if isinstance(x, Cast):
            if x.safe:
                raise Unsupported("TRY_CAST")
            continue
        if isinstance(x, InList):
            continue
        raise Unsupported(f"expression {type(x).__name__}")


_PLANS: dict[str, KernelPlan] = {}


def plan_kernel(t: Template, sig: list[ColSig]) -> KernelPlan:
    """The kernel for ``t`` over columns shaped ``sig`` (raises Unsupported); memoised by shape
    (literals are parameters, so ``x < 5`` and ``x < 7`` share one plan and one machine code)."""
    key = f"{t.shape()}|{','.join(s.text() for s in sig)}"
    p = _PLANS.get(key)
    if p is None:
        from llvmlite import ir
        p = _PLANS[key] = _Emitter(t, sig, ir).build()
    return p


class _Emitter:
    def __init__(self, t: Template, sig: list[ColSig], ir) -> None:
        self.t, self.sig, self.ir = t, sig, ir
        self.col = {k: i for i, k in enumerate(t.columns)}
        self.nodes = t.nodes()
        self.node_index = {id(n): i for i, n in enumerate(self.nodes)}
        self.params: list[int] = []
        self.aux: list[tuple[str, int, int]] = []
        self.states: list[State] = [State("i64")]  # 0: rows per group
        self.state_of: dict = {}
        self.merges: dict[int, tuple[str, int]] = {}  # min/max state -> (fn, its seen-count state)
        self.i1, self.i8, self.i32, self.i64 = ir.IntType(1), ir.IntType(8), ir.IntType(32), ir.IntType(64)
        self.i128, self.f64 = ir.IntType(128), ir.DoubleType()
        self.ops: list = []  # deferred: callables emitting the loop body, run once the IR exists

    # ------------------------------------------------------------------ planning + IR in one walk
    def build(self) -> KernelPlan:
        ir = self.ir
        strings = {int(k[1:]) for k, ty in zip(self.t.columns, self.t.types) if pa.types.is_string(ty)}
        for e in self.t.roots():
            _check_static(e, strings)
        key = f"v1|{self.t.shape()}|{','.join(s.text() for s in self.sig)}"
        mod = ir.Module(name="dawn")
        i8p = self.i8.as_pointer()
        fnty = ir.FunctionType(self.i32, [self.i64, i8p.as_pointer(), i8p.as_pointer(),
                                          self.i64.as_pointer(), i8p.as_pointer(),
                                          self.i64.as_pointer(), self.i64.as_pointer(),
                                          i8p.as_pointer()])
        fn = ir.Function(mod, fnty, name="KERNEL")
        self.mod, self.fn = mod, fn
        n, data, valid, offs, aux, params, groups, states = fn.args
        self.a_data, self.a_valid, self.a_offs, self.a_aux = data, valid, offs, aux
        self.a_params, self.a_groups, self.a_states = params, groups, states
        entry = fn.append_basic_block("entry")
        loop = fn.append_basic_block("loop")
        done = fn.append_basic_block("done")
        self.b = b = ir.IRBuilder(entry)
        self.entry_builder = b
        self.ovf = b.alloca(self.i1, name="ovf")
        b.store(ir.Constant(self.i1, 0), self.ovf)
        self.hoisted: dict = {}
        # the loop body is emitted into ``loop`` while the entry block collects hoisted loads
        body = ir.IRBuilder(loop)
        i = body.phi(self.i64, name="i")
        self.i_val = i
        self.b = body
        self.row_cache: dict = {}
        grouped = bool(self.t.groups)
        self.grouped = grouped
        # the row's flag: every conjunct TRUE
        keep = ir.Constant(self.i1, 1)
        for f in self.t.filters:
            x = self.emit(f, exact=False)
            if x.rep != "bool":
                raise Unsupported(f"filter {f.sql()} is not boolean")
            keep = body.and_(keep, self.truth(x))
        self.keep = keep
        # the group slot
        self.keys: list[tuple[str, int]] = []
        slot = ir.Constant(self.i64, 0)
        for k, g in enumerate(self.t.groups):
            slot = body.add(slot, body.mul(self.group_code(g, k), self.gparam(2 * k)))
        self.slot = slot
        # the accumulators
        self.accs: dict[int, object] = {}   # state index -> alloca (ungrouped)
        self.acc_ptrs: dict[int, object] = {}
        if self.t.aggs == [SELECT]:
            # the selection-vector sink (a compiled scan filter): every row writes its number at
            # the count of rows kept so far, which moves only when the row is kept (branch-free);
            # the vector is the aux pointer after the dictionary predicates' truth tables
            if grouped:
                raise Unsupported("a selection vector with group keys")
            at = body.load(self.acc_ref(0), align=8)
            sel = self.aux_ptr(len(self.aux), self.i32)
            body.store(body.trunc(i, self.i32), body.gep(sel, [at]), align=4)
            outs = []
        else:
            outs = [self.aggregate(fn_, arg) for fn_, arg in self.t.aggs]
        self.update_state(0, "count", None, keep)
        nxt = body.add(i, ir.Constant(self.i64, 1))
        body.cbranch(body.icmp_signed("<", nxt, n), loop, done)
        i.add_incoming(ir.Constant(self.i64, 0), entry)
        i.add_incoming(nxt, loop)
        # entry: hoisted loads are already in; allocas' initial values, then into the loop
        for s, ptr in self.accs.items():
            arr = self.state_ptr(s, self.entry_builder)
            ty = self.state_type(self.states[s].kind)
            self.entry_builder.store(self.entry_builder.load(arr, align=8), ptr, align=8)
        self.entry_builder.cbranch(self.entry_builder.icmp_signed(">", n, ir.Constant(self.i64, 0)),
                                   loop, done)
        db = ir.IRBuilder(done)
        for s, ptr in self.accs.items():
            db.store(db.load(ptr, align=8), self.state_ptr(s, db), align=8)
        db.ret(db.zext(db.load(self.ovf), self.i32))
        text_template = str(mod)
        plan = KernelPlan(key, self.params, self.aux, self.states, outs, self.keys,
                          meta={"merge": dict(self.merges)})

        def ir_text(name: str, text=text_template) -> str:
            # reductions may be reassociated (so they vectorize): a sum's rounding then depends on
            # the machine code, as Arrow's pairwise sums depend on its batch sizes
            lines = []
            for line in text.replace('@"KERNEL"', f'@"{name}"').split("\n"):
                if '%"racc' in line.split("=")[0] and "= fadd double" in line:
                    line = line.replace("= fadd double", "= fadd reassoc double")
                lines.append(line)
            return "\n".join(lines)
        plan.ir = ir_text
        return plan

    # ------------------------------------------------------------------ helpers
    def hoist(self, key, make):
        v = self.hoisted.get(key)
        if v is None:
            v = self.hoisted[key] = make(self.entry_builder)
        return v

    def param(self, idx: int, rep: str):
        ir = self.ir

        def make(b):
            p = b.load(b.gep(self.a_params, [ir.Constant(self.i64, idx)]), align=8)
            return b.bitcast(p, self.f64) if rep == "f64" else p
        return self.hoist(("param", idx, rep), make)

    def gparam(self, idx: int):
        ir = self.ir
        return self.hoist(("g", idx), lambda b: b.load(b.gep(self.a_groups, [ir.Constant(self.i64, idx)]), align=8))

    def base(self, j: int, ty):
        ir = self.ir

        def make(b):
            p = b.load(b.gep(self.a_data, [ir.Constant(self.i64, j)]), align=8)
            return b.bitcast(p, ty.as_pointer())
        return self.hoist(("data", j, str(ty)), make)

    def pos(self, j: int):
        ir = self.ir
        off = self.hoist(("off", j), lambda b: b.load(b.gep(self.a_offs, [ir.Constant(self.i64, j)]), align=8))
        key = ("pos", j)
        if key not in self.row_cache:
            self.row_cache[key] = self.b.add(off, self.i_val)
        return self.row_cache[key]

    def bit(self, ptr, pos):
        b, ir = self.b, self.ir
        byte = b.load(b.gep(ptr, [b.lshr(pos, ir.Constant(self.i64, 3))]))
        sh = b.trunc(b.and_(pos, ir.Constant(self.i64, 7)), self.i8)
        return b.trunc(b.lshr(byte, sh), self.i1)

    def validity(self, j: int):
        if not self.sig[j].nulls:
            return None
        key = ("valid", j)
        if key not in self.row_cache:
            ir = self.ir
            ptr = self.hoist(("vptr", j), lambda b: b.load(b.gep(self.a_valid, [ir.Constant(self.i64, j)]), align=8))
            self.row_cache[key] = self.bit(ptr, self.pos(j))
        return self.row_cache[key]

    def and_valid(self, *vs):
        out = None
        for v in vs:
            if v is None:
                continue
            out = v if out is None else self.b.and_(out, v)
        return out

    def truth(self, x: V):
        """A boolean's TRUE (not FALSE, not NULL)."""
        return x.v if x.valid is None else self.b.and_(x.v, x.valid)

    def flag_overflow(self, ovf, valid) -> None:
        b = self.b
        if valid is not None:
            ovf = b.and_(ovf, valid)
        b.store(b.or_(b.load(self.ovf), ovf), self.ovf)

    # ------------------------------------------------------------------ expressions
    def column(self, e: ColumnRef, exact: bool) -> V:
        ir, b = self.ir, self.b
        if e.key not in self.col:
            raise Unsupported(f"column {e.sql()} is not read by the scan")
        j = self.col[e.key]
        s = self.sig[j]
        key = ("col", j)
        if key in self.row_cache:
            v = self.row_cache[key]
        else:
            if s.kind in INT_BITS:
                ty = ir.IntType(INT_BITS[s.kind])
                v = V("int", b.load(b.gep(self.base(j, ty), [self.pos(j)])), self.validity(j), INT_BITS[s.kind])
            elif s.kind == "f64":
                v = V("f64", b.load(b.gep(self.base(j, self.f64), [self.pos(j)])), self.validity(j))
            elif s.kind == "bool":
                v = V("bool", self.bit(self.base(j, self.i8), self.pos(j)), self.validity(j))
            elif s.kind == "dec":
                # the low word of a little-endian decimal128 (precision <= 18: it is the value)
                two = b.mul(self.pos(j), ir.Constant(self.i64, 2))
                v = V("dec", b.load(b.gep(self.base(j, self.i64), [two]), align=8), self.validity(j),
                      scale=s.scale)
            else:
                raise Unsupported(f"column {e.name} ({s.kind}) used as a value")
            self.row_cache[key] = v
        if v.rep == "dec" and not exact:
            return self.to_f64(v)
        return v

    def literal(self, e: Literal) -> V:
        ir = self.ir
        t = e.dtype
        if e.value is None:
            raise Unsupported("NULL literal")
        idx = self.node_index[id(e)]
        if idx not in self.params:
            self.params.append(idx)
        slot = self.params.index(idx)
        if pa.types.is_floating(t) and t == pa.float64():
            return V("f64", self.param(slot, "f64"))
        if pa.types.is_boolean(t):
            return V("bool", self.hoist(("lb", slot), lambda b: b.trunc(self.param(slot, "i64"), self.i1)))
        if pa.types.is_date32(t) or (pa.types.is_integer(t) and pa.types.is_signed_integer(t)):
            return V("int", self.param(slot, "i64"), None, 64)
        raise Unsupported(f"literal of type {t}")

    def to_f64(self, x: V) -> V:
        ir, b = self.ir, self.b
        if x.rep == "f64":
            return x
        if x.rep == "int":
            return V("f64", b.sitofp(x.v, self.f64), x.valid)
        if x.rep == "dec":
            v = b.sitofp(x.v, self.f64)
            if x.scale:
                v = b.fmul(v, ir.Constant(self.f64, float(f"1e-{x.scale}")))
            return V("f64", v, x.valid)
        raise Unsupported("boolean used as a number")

    def to_int(self, x: V, bits: int) -> V:
        b = self.b
        if x.rep != "int":
            raise Unsupported("non-integer in integer arithmetic")
        ty = self.ir.IntType(bits)
        if x.bits == bits:
            return x
        if x.bits < bits:
            return V("int", b.sext(x.v, ty), x.valid, bits)
        # a literal (held as i64) narrowed to the plan's type: its value fits (the binder typed it)
        return V("int", b.trunc(x.v, ty), x.valid, bits)

    def emit(self, e: Expr, exact: bool) -> V:
        if isinstance(e, ColumnRef):
            return self.column(e, exact)
        if isinstance(e, Literal):
            return self.literal(e)
        if pa.types.is_boolean(e.dtype) and self.dict_predicate(e):
            return self.dict_lookup(e)
        if isinstance(e, Cast):
            return self.cast(e, exact)
        if isinstance(e, InList):
            return self.in_list(e)
        if isinstance(e, Call):
            if e.fn in _CMP:
                return self.compare(e)
            if e.fn in ("and", "or", "not"):
                return self.logic(e)
            if e.fn in ("is_null", "is_not_null"):
                x = self.emit(e.args[0], exact)
                ir = self.ir
                if x.valid is None:
                    return V("bool", ir.Constant(self.i1, 1 if e.fn == "is_not_null" else 0))
                return V("bool", x.valid if e.fn == "is_not_null" else self.b.not_(x.valid))
            if e.fn in _ARITH:
                return self.arith(e, exact)
        raise Unsupported(f"expression {e.sql()}")

    def dict_predicate(self, e: Expr) -> bool:
        """A boolean over one dictionary column only: computed on the dictionary, looked up."""
        cols = e.columns()
        if len(cols) != 1 or isinstance(e, ColumnRef):
            return False
        key = f"#{next(iter(cols))}"
        j = self.col.get(key)
        return j is not None and self.sig[j].kind in DICT_BITS

    def dict_index(self, j: int):
        """Row's dictionary index as i64, the dictionary's length (the NULL entry) if NULL."""
        key = ("didx", j)
        if key in self.row_cache:
            return self.row_cache[key]
        ir, b = self.ir, self.b
        ty = ir.IntType(DICT_BITS[self.sig[j].kind])
        idx = b.sext(b.load(b.gep(self.base(j, ty), [self.pos(j)])), self.i64)
        valid = self.validity(j)
        if valid is not None:
            # the NULL entry's position, from groups' tail: aux tables carry it as their length
            nlen = self.hoist(("dlen", j), lambda bb: bb.load(bb.gep(self.a_groups, [ir.Constant(self.i64, 2 * len(self.t.groups) + j)]), align=8))
            idx = b.select(valid, idx, nlen)
        self.row_cache[key] = idx
        return idx

    def aux_ptr(self, k: int, ty):
        ir = self.ir

        def make(b):
            p = b.load(b.gep(self.a_aux, [ir.Constant(self.i64, k)]), align=8)
            return b.bitcast(p, ty.as_pointer())
        return self.hoist(("aux", k), make)

    def dict_lookup(self, e: Expr) -> V:
        ir, b = self.ir, self.b
        j = self.col[f"#{next(iter(e.columns()))}"]
        k = len(self.aux)
        self.aux.append(("pred", self.node_index[id(e)], j))
        idx = self.dict_index(j)
        table = self.aux_ptr(k, self.i8)
        two = b.mul(idx, ir.Constant(self.i64, 2))
        val = b.trunc(b.load(b.gep(table, [two])), self.i1)
        ok = b.trunc(b.load(b.gep(table, [b.add(two, ir.Constant(self.i64, 1))])), self.i1)
        return V("bool", val, ok)

    def cast(self, e: Cast, exact: bool) -> V:
        x = self.emit(e.arg, exact)
        t = e.dtype
        if t == pa.float64():
            if exact and x.rep in ("dec", "int"):
                return x  # exact until something needs a DOUBLE
            return self.to_f64(x)
        if pa.types.is_integer(t) and pa.types.is_signed_integer(t) and x.rep == "int":
            bits = t.bit_width
            if bits < x.bits:
                raise Unsupported("narrowing integer cast")
            return self.to_int(x, bits)
        if pa.types.is_date32(t) and x.rep == "int" and pa.types.is_date32(e.arg.dtype):
            return x
        if pa.types.is_boolean(t) and x.rep == "bool":
            return x
        raise Unsupported(f"cast to {t}")

    def compare(self, e: Call) -> V:
        ir = self.ir
        a, c = (self.emit(x, exact=False) for x in e.args)
        b = self.b
        valid = self.and_valid(a.valid, c.valid)
        op = e.fn
        if a.rep == "bool" and c.rep == "bool":
            a, c = V("int", b.zext(a.v, self.i64), a.valid, 64), V("int", b.zext(c.v, self.i64), c.valid, 64)
        if a.rep == "f64" or c.rep == "f64":
            x, y = self.to_f64(a).v, self.to_f64(c).v
            lit = [isinstance(z, Literal) and not (isinstance(z.value, float) and z.value != z.value)
                   for z in e.args]
            if lit[0] or lit[1]:
                # against a number (the shape says it is not NaN) one comparison does: a NaN
                # operand sorts above it, i.e. compares as "unordered or greater"
                if lit[0]:
                    x, y = y, x
                    op = {"lt": "gt", "lte": "gte", "gt": "lt", "gte": "lte"}.get(op, op)
                if op in ("lt", "lte", "eq"):
                    r = b.fcmp_ordered({"lt": "<", "lte": "<=", "eq": "=="}[op], x, y)
                else:
                    r = b.fcmp_unordered({"gt": ">", "gte": ">=", "neq": "!="}[op], x, y)
                return V("bool", r, valid)
            xn, yn = b.fcmp_unordered("uno", x, x), b.fcmp_unordered("uno", y, y)
            # NaN equals itself and sorts above every number (DuckDB's order, Dawn's compare)
            if op in ("eq", "neq"):
                r = b.or_(b.fcmp_ordered("==", x, y), b.and_(xn, yn))
                if op == "neq":
                    r = b.not_(r)
            elif op in ("lt", "gt"):
                if op == "gt":
                    x, y, xn, yn = y, x, yn, xn
                r = b.or_(b.fcmp_ordered("<", x, y), b.and_(b.not_(xn), yn))
            else:
                if op == "gte":
                    x, y, xn, yn = y, x, yn, xn
                r = b.or_(b.fcmp_ordered("<=", x, y), yn)
            return V("bool", r, valid)
        if a.rep == "int" and c.rep == "int":
            x, y = self.to_int(a, 64).v, self.to_int(c, 64).v
            sym = {"eq": "==", "neq": "!=", "lt": "<", "lte": "<=", "gt": ">", "gte": ">="}[op]
            return V("bool", b.icmp_signed(sym, x, y), valid)
        raise Unsupported(f"comparison {e.sql()}")

    def logic(self, e: Call) -> V:
        ir = self.ir
        if e.fn == "not":
            x = self.emit(e.args[0], exact=False)
            if x.rep != "bool":
                raise Unsupported("NOT of a non-boolean")
            return V("bool", self.b.not_(x.v), x.valid)
        x, y = (self.emit(a, exact=False) for a in e.args)
        if x.rep != "bool" or y.rep != "bool":
            raise Unsupported(f"{e.fn} of a non-boolean")
        b = self.b
        one = ir.Constant(self.i1, 1)
        xv, yv = x.valid or one, y.valid or one
        if e.fn == "and":
            v = b.and_(x.v, y.v)
            decided = b.or_(b.and_(xv, b.not_(x.v)), b.and_(yv, b.not_(y.v)))
        else:
            v = b.or_(x.v, y.v)
            decided = b.or_(b.and_(xv, x.v), b.and_(yv, y.v))
        if x.valid is None and y.valid is None:
            return V("bool", v)
        return V("bool", v, b.or_(b.and_(xv, yv), decided))

    def in_list(self, e: InList) -> V:
        x = self.emit(e.arg, exact=False)
        if not all(isinstance(v, Literal) and v.value is not None for v in e.values) or not e.values:
            raise Unsupported("IN list of non-constants or NULL")
        b = self.b
        r = None
        for lit in e.values:
            y = self.literal(lit)
            if x.rep == "f64" or y.rep == "f64":
                xx, yy = self.to_f64(x).v, self.to_f64(y).v
                eq = b.or_(b.fcmp_ordered("==", xx, yy),
                           b.and_(b.fcmp_unordered("uno", xx, xx), b.fcmp_unordered("uno", yy, yy)))
            elif x.rep == "int" and y.rep == "int":
                eq = b.icmp_signed("==", self.to_int(x, 64).v, self.to_int(y, 64).v)
            else:
                raise Unsupported(f"IN list over {x.rep}")
            r = eq if r is None else b.or_(r, eq)
        if e.negated:
            r = b.not_(r)
        return V("bool", r, x.valid)

    def arith(self, e: Call, exact: bool) -> V:
        ir = self.ir
        t = e.dtype
        a, c = (self.emit(x, exact) for x in e.args)
        b = self.b
        valid = self.and_valid(a.valid, c.valid)
        op = e.fn
        if t == pa.float64():
            if exact and op != "divide" and a.rep in ("dec", "int") and c.rep in ("dec", "int") \
                    and "dec" in (a.rep, c.rep):
                return self.dec_arith(op, a, c, valid)
            x, y = self.to_f64(a).v, self.to_f64(c).v
            f = {"add": b.fadd, "subtract": b.fsub, "multiply": b.fmul, "divide": b.fdiv}[op]
            return V("f64", f(x, y), valid)
        if pa.types.is_integer(t) and pa.types.is_signed_integer(t) and op != "divide":
            bits = t.bit_width
            if bits not in (32, 64):
                raise Unsupported(f"arithmetic in {t}")
            x, y = self.to_int(a, bits).v, self.to_int(c, bits).v
            f = {"add": b.sadd_with_overflow, "subtract": b.ssub_with_overflow,
                 "multiply": b.smul_with_overflow}[op]
            r = f(x, y)
            self.flag_overflow(b.extract_value(r, 1), valid)
            return V("int", b.extract_value(r, 0), valid, bits)
        raise Unsupported(f"arithmetic {e.sql()} of type {t}")

    def rescale(self, x: V, scale: int) -> object:
        ir, b = self.ir, self.b
        v = self.to_int(x, 64).v if x.rep == "int" else x.v
        have = x.scale if x.rep == "dec" else 0
        if scale == have:
            return v
        r = b.smul_with_overflow(v, ir.Constant(self.i64, 10 ** (scale - have)))
        self.flag_overflow(b.extract_value(r, 1), x.valid)
        return b.extract_value(r, 0)

    def dec_arith(self, op: str, a: V, c: V, valid) -> V:
        ir, b = self.ir, self.b
        if op == "multiply":
            sa = a.scale if a.rep == "dec" else 0
            sc = c.scale if c.rep == "dec" else 0
            if sa + sc > 18:
                raise Unsupported("decimal scale above 18")
            x, y = self.rescale(a, sa), self.rescale(c, sc)
            r = b.smul_with_overflow(x, y)
            self.flag_overflow(b.extract_value(r, 1), valid)
            return V("dec", b.extract_value(r, 0), valid, scale=sa + sc)
        s = max(a.scale if a.rep == "dec" else 0, c.scale if c.rep == "dec" else 0)
        x, y = self.rescale(a, s), self.rescale(c, s)
        r = (b.sadd_with_overflow if op == "add" else b.ssub_with_overflow)(x, y)
        self.flag_overflow(b.extract_value(r, 1), valid)
        return V("dec", b.extract_value(r, 0), valid, scale=s)

    # ------------------------------------------------------------------ group keys
    def group_code(self, g: Expr, k: int):
        """The key's code: 0 for NULL, 1.. for values (a dictionary's group codes come from an
        aux table, an integer's are value - lowest + 1, a boolean's value + 1)."""
        ir, b = self.ir, self.b
        if not isinstance(g, ColumnRef) or g.key not in self.col:
            raise Unsupported("a group key that is not a column")
        j = self.col[g.key]
        s = self.sig[j]
        if s.kind in DICT_BITS:
            a = len(self.aux)
            self.aux.append(("group", self.node_index[id(g)], j))
            self.keys.append(("dict", j))
            table = self.aux_ptr(a, self.i32)
            return b.sext(b.load(b.gep(table, [self.dict_index(j)])), self.i64)
        x = self.column(g, exact=True)
        if s.kind == "bool":
            self.keys.append(("bool", j))
            code = b.add(b.zext(x.v, self.i64), ir.Constant(self.i64, 1))
        elif s.kind in INT_BITS:
            self.keys.append(("int", j))
            code = b.add(b.sub(self.to_int(x, 64).v, self.gparam(2 * k + 1)), ir.Constant(self.i64, 1))
        else:
            raise Unsupported(f"group key of kind {s.kind}")
        if x.valid is not None:
            code = b.select(x.valid, code, ir.Constant(self.i64, 0))
        return code

    # ------------------------------------------------------------------ accumulators
    def state_type(self, kind: str):
        return {"i64": self.i64, "i128": self.i128, "f64": self.f64}[kind]

    def new_state(self, kind: str, key) -> int:
        if key in self.state_of:
            return self.state_of[key]
        self.states.append(State(kind))
        s = self.state_of[key] = len(self.states) - 1
        return s

    def state_ptr(self, s: int, b, slot=None):
        ir = self.ir
        ty = self.state_type(self.states[s].kind)
        arr = b.bitcast(b.load(b.gep(self.a_states, [ir.Constant(self.i64, s)]), align=8), ty.as_pointer())
        return arr if slot is None else b.gep(arr, [slot])

    def acc_ref(self, s: int):
        """Where state ``s`` of this row's group lives: a register (ungrouped) or the array slot."""
        if not self.grouped:
            ptr = self.accs.get(s)
            if ptr is None:
                ty = self.state_type(self.states[s].kind)
                ptr = self.accs[s] = self.entry_builder.alloca(ty, name=f"racc{s}")
            return ptr
        arr = self.acc_ptrs.get(s)
        if arr is None:
            ir = self.ir
            ty = self.state_type(self.states[s].kind)
            arr = self.acc_ptrs[s] = self.hoist(("state", s), lambda bb: bb.bitcast(
                bb.load(bb.gep(self.a_states, [ir.Constant(self.i64, s)]), align=8), ty.as_pointer()))
        return self.b.gep(arr, [self.slot])

    def update_state(self, s: int, how: str, x, active) -> None:
        ir, b = self.ir, self.b
        kind = self.states[s].kind
        ty = self.state_type(kind)
        ptr = self.acc_ref(s)
        cur = b.load(ptr, align=8)
        name = f"racc{s}n"
        if how == "count":
            new = b.add(cur, b.zext(active, self.i64), name=name)
        elif how == "sum":
            if kind == "f64":
                new = b.fadd(cur, b.select(active, x, ir.Constant(self.f64, 0.0)), name=name)
            else:
                v = b.sext(x, self.i128) if x.type != self.i128 else x
                new = b.add(cur, b.select(active, v, ir.Constant(self.i128, 0)), name=name)
        else:  # min / max; ``how`` carries the count state that says whether one was seen
            _, cnt_state = how
            seen = b.icmp_signed(">", b.load(self.acc_ref(cnt_state), align=8), ir.Constant(self.i64, 0))
            is_min = how[0] == "min"
            if kind == "f64":
                xn = b.fcmp_unordered("uno", x, x)
                cn = b.fcmp_unordered("uno", cur, cur)
                if is_min:   # NaN sorts last: the smallest is NaN only when all are
                    better = b.or_(b.fcmp_ordered("<", x, cur), b.and_(cn, b.not_(xn)))
                else:
                    better = b.or_(b.fcmp_ordered(">", x, cur), b.and_(xn, b.not_(cn)))
            else:
                better = b.icmp_signed("<" if is_min else ">", x, cur)
            take = b.and_(active, b.or_(b.not_(seen), better))
            new = b.select(take, x, cur, name=name)
        b.store(new, ptr, align=8)

    def aggregate(self, fn: str, arg: Expr | None) -> AggOut:
        ir, b = self.ir, self.b
        if fn == "count_star":
            return AggOut(fn, None, 0)
        x = self.emit(arg, exact=True)
        if x.rep == "bool":
            raise Unsupported(f"{fn} of a boolean")
        active = self.keep if x.valid is None else b.and_(self.keep, x.valid)
        cnt = 0
        if x.valid is not None:
            cnt = self.new_state("i64", ("cnt", arg))
            if ("cnt", arg) not in self.ops:
                self.ops.append(("cnt", arg))
                self.update_state(cnt, "count", None, active)
        if fn == "count":
            return AggOut(fn, None, cnt)
        if fn in ("sum", "avg"):
            if x.rep == "f64":
                s = self.new_state("f64", ("sum", arg))
                rep = "f64"
            else:
                s = self.new_state("i128", ("sum", arg))
                rep = "dec" if x.rep == "dec" else "int"
            if ("sum", arg) not in self.ops:
                self.ops.append(("sum", arg))
                self.update_state(s, "sum", x.v, active)
            return AggOut(fn, s, cnt, rep, x.scale)
        if fn in ("min", "max"):
            if x.rep == "f64":
                kind, v, rep = "f64", x.v, "f64"
            else:
                kind, v = "i64", (self.to_int(x, 64).v if x.rep == "int" else x.v)
                rep = "dec" if x.rep == "dec" else "int"
            # min/max's own seen-count: the shared count is updated after it in the same row
            seen = self.new_state("i64", ("seen", fn, arg))
            s = self.new_state(kind, (fn, arg))
            self.merges[s] = (fn, seen)
            if (fn, arg) not in self.ops:
                self.ops.append((fn, arg))
                self.update_state(s, (fn, seen), v, active)
                self.update_state(seen, "count", None, active)
            return AggOut(fn, s, cnt, rep, x.scale)
        raise Unsupported(f"aggregate {fn}")
