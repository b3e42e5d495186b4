"""The Dawn SQL dialect: DuckDB's grammar plus Dawn's own statements, parsed into real nodes.

Queries parse with sqlglot through ``Dawn`` (later features add clauses such as
``ERROR WITHIN ... AT CONFIDENCE``). Dawn's own statements, which no sqlglot dialect knows, are
parsed by the same parser into the nodes below, so they work anywhere a statement does (inside a
multi-statement string, after a comment, with parameters refused cleanly):

    CREATE [OR REPLACE] FUNCTION name FROM 'package.module:attribute'     -> CreateFunction
    DROP FUNCTION [IF EXISTS] name                                       -> DropObject
    SHOW FUNCTIONS                                                       -> ShowFunctions
    CREATE [OR REPLACE] VIDEO name FROM 'path.mp4' [WITH (fps = 5, ...)] -> CreateVideo
    DROP VIDEO [IF EXISTS] name                                          -> DropObject
    EXPLAIN [ANALYZE] [VERBOSE] statement                                -> Explain

A query may end in Dawn's approximation clauses (ERROR WITHIN ... AT CONFIDENCE p%, LIMIT k GAP g,
RECALL/PRECISION TARGET ..., ORACLE LIMIT n, USING PROXY expr): engine/sql/approx_clauses.py reads
them off the statement's tokens and keeps them in the query's ``meta["dawn_approx"]``.

A statement sqlglot cannot parse (it would fall back to an opaque ``Command``) is kept as that
``Command`` without sqlglot's log warning; the session refuses it by name.

The parser overrides one sqlglot internal (``_parse_type``, for ``DATE '...'::VARCHAR``), so
pyproject.toml pins sqlglot's version range.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from sqlglot import exp
from sqlglot.dialects.duckdb import DuckDB
from sqlglot.errors import ErrorLevel
from sqlglot.expressions import Expr, Func
from sqlglot.tokenizer_core import TokenizerCore
from sqlglot.tokens import TokenType


class CreateFunction(exp.Expression):
    arg_types = {"this": True, "target": True, "replace": False}


class CreateVideo(exp.Expression):
    arg_types = {"this": True, "target": True, "replace": False, "options": False}


class CreateModel(exp.Expression):
    """CREATE [OR REPLACE] [LABEL] MODEL name [WITH (option = value, ...)] AS query (9/11)."""
    arg_types = {"this": True, "label": False, "replace": False, "options": False, "query": True}


class DropObject(exp.Expression):
    """DROP FUNCTION / DROP VIDEO: ``kind`` is 'function' or 'video'."""
    arg_types = {"this": True, "kind": True, "exists": False}


class ShowFunctions(exp.Expression):
    arg_types = {}


class Explain(exp.Expression):
    arg_types = {"this": True, "analyze": False, "verbose": False}


DAWN_STATEMENTS = (CreateFunction, CreateVideo, CreateModel, DropObject, ShowFunctions, Explain)


def _counting(builder):
    if getattr(builder, "__func__", None) is Func.from_arg_list.__func__:
        return builder  # the default builder keeps every argument (or raises)

    def build(args, dialect=None):
        # the parser calls builder(args) and, on TypeError, builder(args, dialect=...)
        node = builder(args) if dialect is None else builder(args, dialect=dialect)
        if isinstance(node, Expr):
            node.meta["dawn_argc"] = len(args)
        return node
    return build


class _DollarTokenizerCore(TokenizerCore):
    """sqlglot reads ``$1,$2`` as a dollar-quoted string tagged ``1,`` (a tag is checked only
    for being all digits): in DuckDB a tag never starts with a digit, so ``$`` before a digit
    is a parameter, which is also what ``?, ?`` are rewritten to (parser.number_placeholders)."""
    __slots__ = ()

    def _scan_string(self, start: str) -> bool:
        if start == "$" and self._peek.isdigit():
            self._add(TokenType.PARAMETER)
            return True
        return super()._scan_string(start)


class Dawn(DuckDB):
    # the parser records each function's name as written (node.meta["dawn_name"]): messages and
    # name lookups use the user's spelling, not sqlglot's class for it (instr parses as StrPosition)
    ORIGINAL_NAME_META_KEY = "dawn_name"

    class Tokenizer(DuckDB.Tokenizer):
        # EXPLAIN is a statement Dawn parses (sqlglot would swallow the rest of the text as a string)
        KEYWORDS = {k: v for k, v in DuckDB.Tokenizer.KEYWORDS.items() if k != "EXPLAIN"}

        def _init_core(self):
            core = super()._init_core()
            if type(core) is TokenizerCore:   # the pure-Python tokenizer (not sqlglotc's)
                core.__class__ = _DollarTokenizerCore
            return core

    class Parser(DuckDB.Parser):
        # sqlglot's custom function builders read the arguments they know and drop the rest
        # (regexp_extract's fifth): each node records how many arguments were written, so the
        # binder can refuse a call whose arguments it did not all receive
        FUNCTIONS = {name: _counting(builder) for name, builder in DuckDB.Parser.FUNCTIONS.items()}

        def validate_expression(self, expression, args=None):
            # a function call with the wrong arguments is reported by the name the user wrote,
            # not as "Required keyword: 'substr' missing for <class ...StrPosition>"
            if isinstance(expression, Func) and self.error_level != ErrorLevel.IGNORE \
                    and expression.error_messages(args):
                name = self._call_name() or expression.sql_name().lower()
                if args is not None:
                    self.raise_error(f'Function "{name}" does not take {len(args)} argument(s)')
                else:
                    self.raise_error(f'Function "{name}" is missing an argument')
            return super().validate_expression(expression, args)

        def _call_name(self) -> str | None:
            """The name before the '(' of the call being parsed."""
            depth, i = 0, min(self._index, len(self._tokens)) - 1
            while i > 0:
                kind = self._tokens[i].token_type
                if kind == TokenType.R_PAREN:
                    depth += 1
                elif kind == TokenType.L_PAREN:
                    if depth == 0:
                        return self._tokens[i - 1].text
                    depth -= 1
                i -= 1
            return None

        def _peek_words(self, n: int) -> list[str]:
            """The upper-cased texts of the next ``n`` tokens (fewer at the end)."""
            return [t.text.upper() for t in self._tokens[self._index:self._index + n]]

        def _parse_statement(self):
            if self._index == 0 and self._tokens:
                # Dawn's approximation clauses end the statement: take them off, parse the rest
                from engine.sql.approx_clauses import META_KEY, extract
                tokens, clause = extract(self, self._tokens)
                if clause is not None:
                    self._tokens, self._tokens_size, self._index = tokens, len(tokens), -1
                    self._advance()
                    node = self._parse_statement()
                    target = node.this if isinstance(node, Explain) else node
                    if not isinstance(target, exp.Query):
                        self.raise_error(f"{clause.describe().split(' AT ')[0]} applies to a query "
                                         f"(SELECT), not to this statement", tokens[0])
                    target.meta[META_KEY] = clause
                    return node
            words = self._peek_words(4)
            if words[:1] == ["EXPLAIN"]:
                self._advance()
                analyze = bool(self._match_text_seq("ANALYZE"))
                verbose = bool(self._match_text_seq("VERBOSE"))
                inner = self._parse_statement()
                if inner is None:
                    self.raise_error("EXPLAIN needs a statement to explain")
                return self.expression(Explain(this=inner, analyze=analyze, verbose=verbose))
            if words[:2] == ["SHOW", "FUNCTIONS"]:
                self._advance(2)
                return self.expression(ShowFunctions())
            if words[:1] == ["DROP"] and words[1:2] in (["FUNCTION"], ["VIDEO"], ["MODEL"]):
                self._advance(2)
                exists = bool(self._match_text_seq("IF", "EXISTS"))
                name = self._parse_id_var(any_token=False)
                if name is None:
                    self.raise_error(f"DROP {words[1]} needs a name")
                return self.expression(DropObject(this=name, kind=words[1].lower(), exists=exists))
            if words[:1] == ["CREATE"]:
                ahead = self._peek_words(6)
                i = 3 if ahead[1:3] == ["OR", "REPLACE"] else 1
                kind = ahead[i:i + 1]
                if kind == ["VIDEO"] or (kind == ["FUNCTION"] and ahead[i + 2:i + 3] == ["FROM"]):
                    return self._parse_dawn_create()
                if kind == ["MODEL"] or ahead[i:i + 2] == ["LABEL", "MODEL"]:
                    return self._parse_create_model()
            return super()._parse_statement()

        def _parse_dawn_create(self):
            self._advance()  # CREATE
            replace = bool(self._match_text_seq("OR", "REPLACE"))
            kind = self._curr.text.upper()
            self._advance()
            name = self._parse_id_var(any_token=False)
            if name is None:
                self.raise_error(f"CREATE {kind} needs a name")
            if not self._match(TokenType.FROM):
                self.raise_error(f"Expected FROM '<{'path' if kind == 'VIDEO' else 'module:attribute'}>' "
                                 f"after CREATE {kind} {name.name}")
            target = self._parse_string()
            if target is None:
                self.raise_error(f"CREATE {kind} {name.name} FROM needs a quoted string")
            if kind == "FUNCTION":
                return self.expression(CreateFunction(this=name, target=target, replace=replace))
            options = []
            if self._match(TokenType.WITH):
                self._match_l_paren()
                while True:
                    key = self._parse_id_var(any_token=True)
                    if key is None or not self._match(TokenType.EQ):
                        self.raise_error("Video options are written name = value")
                    value = self._parse_unary()
                    options.append(exp.PropertyEQ(this=key, expression=value))
                    if not self._match(TokenType.COMMA):
                        break
                self._match_r_paren()
            return self.expression(CreateVideo(this=name, target=target, replace=replace,
                                               options=options))

        def _parse_create_model(self):
            self._advance()  # CREATE
            replace = bool(self._match_text_seq("OR", "REPLACE"))
            label = bool(self._match_text_seq("LABEL"))
            self._match_text_seq("MODEL")
            what = "CREATE LABEL MODEL" if label else "CREATE MODEL"
            name = self._parse_id_var(any_token=False)
            if name is None:
                self.raise_error(f"{what} needs a name")
            options = []
            if self._match(TokenType.WITH):
                if not self._match(TokenType.L_PAREN):
                    self.raise_error(f"{what} {name.name} WITH needs (option = value, ...)")
                while True:
                    key = self._parse_id_var(any_token=True)
                    if key is None or not self._match(TokenType.EQ):
                        self.raise_error("Model options are written name = value")
                    options.append(exp.PropertyEQ(this=key, expression=self._parse_bitwise()))
                    if not self._match(TokenType.COMMA):
                        break
                if not self._match(TokenType.R_PAREN):
                    self.raise_error(f"Expected ) after the options of {what} {name.name}")
            if not self._match(TokenType.ALIAS):
                self.raise_error(f"Expected AS SELECT ... after {what} {name.name}")
            query = self._parse_statement()
            if not isinstance(query, exp.Query):
                self.raise_error(f"{what} {name.name} AS needs a query (SELECT ...)")
            return self.expression(CreateModel(this=name, label=label, replace=replace, options=options,
                                               query=query))

        def _parse_simplified_pivot(self, is_unpivot=None):
            """DuckDB's PIVOT/UNPIVOT statement may end in ORDER BY / LIMIT, which sqlglot does not
            read: they apply to the pivoted rows, as ``SELECT * FROM (PIVOT ...) ORDER BY ...``."""
            pivot = super()._parse_simplified_pivot(is_unpivot=is_unpivot)
            if self._curr is not None and self._curr.token_type in (TokenType.ORDER_BY, TokenType.LIMIT,
                                                                     TokenType.OFFSET):
                wrapped = exp.select("*").from_(exp.Subquery(this=pivot))
                return self._parse_query_modifiers(wrapped)
            return pivot

        def _warn_unsupported(self) -> None:
            # statements sqlglot cannot parse stay a Command, which the session refuses by name;
            # sqlglot's "falling back to parsing as a Command" log line is not for Dawn's users
            return

        def _parse_type(self, parse_interval: bool = True, fallback_to_identifier: bool = False):
            """A typed literal binds tighter than ``::``: ``DATE '2000-02-29'::VARCHAR`` is
            ``CAST(DATE '2000-02-29' AS VARCHAR)`` in DuckDB, while sqlglot casts the string to
            VARCHAR first and then to DATE."""
            index = self._index
            if self._curr is not None and self._curr.token_type in self.TYPE_TOKENS \
                    and self._curr.token_type != TokenType.INTERVAL and self._next is not None and self._next.token_type == TokenType.STRING \
                    and not fallback_to_identifier:
                data_type = self._parse_types(check_func=True, allow_identifiers=False)
                if isinstance(data_type, exp.DataType) and self._curr is not None \
                        and self._curr.token_type == TokenType.STRING:
                    literal = self.expression(exp.Literal(this=self._curr.text, is_string=True))
                    self._advance()
                    parser = self.TYPE_LITERAL_PARSERS.get(data_type.this)
                    typed = parser(self, literal, data_type) if parser else \
                        self.expression(exp.Cast(this=literal, to=data_type))
                    return self._parse_column_ops(typed)
                self._retreat(index)
            return super()._parse_type(parse_interval, fallback_to_identifier)

    class Generator(DuckDB.Generator):
        pass


@dataclass
class DawnStatement:
    """One of Dawn's catalog statements, as the code that runs it (engine/functions_ddl.py) reads it."""
    kind: str                 # create_function | drop_function | show_functions | create_video | drop_video
    #                           | create_model | create_label_model | drop_model
    name: str = ""
    target: str = ""
    replace: bool = False
    if_exists: bool = False
    options: dict = field(default_factory=dict)
    query: exp.Expression | None = None


def dawn_statement(node: exp.Expression) -> DawnStatement:
    """The DawnStatement for a parsed CreateFunction / CreateVideo / DropObject / ShowFunctions."""
    from engine.errors import ProgrammingError
    if isinstance(node, ShowFunctions):
        return DawnStatement("show_functions")
    if isinstance(node, DropObject):
        return DawnStatement(f"drop_{node.args['kind']}", name=node.this.name,
                             if_exists=bool(node.args.get("exists")))
    if isinstance(node, CreateModel):
        return DawnStatement("create_label_model" if node.args.get("label") else "create_model",
                             name=node.this.name, replace=bool(node.args.get("replace")),
                             options={o.this.name.lower(): o.expression for o in node.args.get("options") or []},
                             query=node.args["query"])
    kind = "create_function" if isinstance(node, CreateFunction) else "create_video"
    st = DawnStatement(kind, name=node.this.name, target=node.args["target"].this,
                       replace=bool(node.args.get("replace")))
    for opt in node.args.get("options") or []:
        key, value = opt.this.name.lower(), opt.expression
        neg = isinstance(value, exp.Neg)
        lit = value.this if neg else value
        if not isinstance(lit, exp.Literal) or lit.is_string:
            raise ProgrammingError(f"Video option {key} must be a number, got {value.sql()}")
        v = float(lit.this) if any(c in lit.this for c in ".eE") else int(lit.this)
        st.options[key] = -v if neg else v
    return st
