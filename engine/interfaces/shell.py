"""The interactive ``dawn [DATABASE]`` shell (10/11, first step), on prompt_toolkit.

A statement may span lines; it is submitted when it ends in ``;`` (outside strings and comments).
History is kept in ``~/.dawn_history``; Tab completes keywords, tables, columns and functions
(the name being typed);
SQL is highlighted (pygments' SQL lexer). After each statement the shell prints its elapsed time
and run id. Ctrl-C while a statement runs cancels the statement, not the shell; at the prompt it
clears the line; Ctrl-D quits. ``~/.dawnrc`` (or ``$DAWNRC``) is read first, line by line, as
if typed.

Dot commands (as the duckdb and sqlite shells) and psql's aliases:
``.tables`` / ``\\dt``, ``.schema [t]`` / ``\\d [t]``, ``.mode box|csv|json|markdown|line``,
``\\x`` (line mode on and off), ``.timer on|off`` / ``\\timing``, ``.maxrows N``, ``.read FILE``,
``.output [FILE]``, ``.help``, ``.quit`` / ``\\q``.
"""
from __future__ import annotations

import csv
import io
import json
import os
import sys
import time

MODES = ("box", "csv", "json", "markdown", "line")
HELP = """.tables, \\dt            list tables and views
.schema [TABLE], \\d [t]   columns and types (every table without a name)
.mode box|csv|json|markdown|line   how results print (\\x toggles line)
.timer on|off, \\timing   elapsed time after each statement
.maxrows N               rows shown in box mode
.read FILE               run a SQL file
.output [FILE]           results to FILE (no FILE: back to the terminal)
.help                    this text
.quit, \\q                leave (or Ctrl-D)"""


def statement_complete(text: str) -> bool:
    """Whether ``text`` ends a statement: its last token is ``;`` (a string or comment that is
    still open, or a ``;`` inside one, does not count)."""
    from sqlglot.tokens import TokenType
    from engine.sql.dialect import Dawn
    if not text.strip():
        return False
    try:
        tokens = Dawn().tokenize(text)
    except Exception:
        return False      # an unterminated string or comment: keep reading
    return bool(tokens) and tokens[-1].token_type == TokenType.SEMICOLON


class Shell:
    """Runs what the user types: meta commands and SQL (the terminal loop is ``interactive``)."""

    def __init__(self, con, out=None, err=None) -> None:
        self.con = con
        self.out, self.err = out or sys.stdout, err or sys.stderr
        self.mode, self.timer, self.maxrows = "box", True, 40
        self.target = None             # .output FILE
        self.done = False
        # on a terminal: a progress bar on long statements, results as rich tables
        self.terminal = all(hasattr(f, "isatty") and f.isatty() for f in (self.out, self.err))

    # ---- meta commands
    def meta(self, line: str) -> None:
        words = line.strip().split()
        cmd, args = words[0], words[1:]
        alias = {"\\dt": ".tables", "\\q": ".quit", "\\timing": ".timer", "\\x": ".x", "\\?": ".help"}
        if cmd == "\\d":
            cmd = ".schema" if args else ".tables"
        cmd = alias.get(cmd, cmd)
        if cmd in (".quit", ".exit"):
            self.done = True
        elif cmd == ".help":
            print(HELP, file=self.err)
        elif cmd == ".tables":
            names = [n for n in self.con._session.catalog.names() if not n.startswith("dawn.")]
            print("\n".join(names) if names else "(no tables)", file=self._dest())
        elif cmd == ".schema":
            names = args or [n for n in self.con._session.catalog.names() if not n.startswith("dawn.")]
            for n in names:
                self.run(f"DESCRIBE {n}", echo_time=False)
        elif cmd == ".mode":
            if len(args) != 1 or args[0] not in MODES:
                raise ValueError(f".mode takes one of {', '.join(MODES)}")
            self.mode = args[0]
        elif cmd == ".x":
            self.mode = "box" if self.mode == "line" else "line"
            print(f"Expanded display is {'on' if self.mode == 'line' else 'off'}.", file=self.err)
        elif cmd == ".timer":
            if args and args[0] not in ("on", "off"):
                raise ValueError(".timer takes on or off")
            self.timer = (not self.timer) if not args else args[0] == "on"
            print(f"Timing is {'on' if self.timer else 'off'}.", file=self.err)
        elif cmd == ".maxrows":
            if len(args) != 1 or not args[0].isdigit():
                raise ValueError(".maxrows takes a number of rows")
            self.maxrows = int(args[0])
        elif cmd == ".read":
            if len(args) != 1:
                raise ValueError(".read takes a file name")
            with open(args[0], encoding="utf-8") as f:
                self.run(f.read())
        elif cmd == ".output":
            if self.target is not None:
                self.target.close()
            self.target = open(args[0], "w", encoding="utf-8") if args else None
        else:
            raise ValueError(f'unknown command "{cmd}" (.help lists them)')

    def _dest(self):
        return self.target or self.out

    # ---- SQL
    def run(self, sql: str, echo_time: bool = True) -> bool:
        """Run the statements in ``sql``; an error is one line on stderr. False if one failed."""
        from engine.interfaces.cli import describe, fail
        from engine.interfaces.progress import StatementProgress
        session = self.con._session
        statements = session.execute_each(sql)
        while True:
            t0 = time.perf_counter()
            try:
                if self.terminal:
                    with StatementProgress(session, file=self.err):
                        res = next(statements)
                else:
                    res = next(statements)
            except StopIteration:
                return True
            except KeyboardInterrupt:
                print("Cancelled: the statement was interrupted (Ctrl-C); the shell goes on.", file=self.err)
                return False
            except Exception as e:
                fail(describe(e), self.err)
                return False
            try:
                self.show(res)
            except KeyboardInterrupt:
                if res.stream is not None:
                    res.stream.close()
                print("Cancelled while printing the result.", file=self.err)
                return False
            if echo_time and self.timer:
                run = f", run {res.run_id}" if res.run_id else ""
                print(f"({(time.perf_counter() - t0) * 1000:.0f} ms{run})", file=self.err)

    def show(self, res) -> None:
        from engine.interfaces.render import head_and_tail, render_result, render_rich
        dest = self._dest()
        if res.stream is not None and self.mode == "box" and self.terminal and self.target is None \
                and getattr(res, "plan_text", None) is None:
            from rich.console import Console
            shown, total = head_and_tail(res.stream, self.maxrows)
            render_rich(shown, total, self.maxrows, Console(file=dest))
            return
        if res.stream is None or self.mode == "box":
            text = render_result(res, max_rows=self.maxrows) if res.stream is not None else render_result(res)
            if text:
                print(text, file=dest)
            return
        table = res.table
        rows = table.to_pylist()
        names = table.column_names
        if self.mode == "csv":
            buf = io.StringIO()
            w = csv.writer(buf, lineterminator="\n")
            w.writerow(names)
            w.writerows([["" if r[n] is None else r[n] for n in names] for r in rows])
            print(buf.getvalue(), end="", file=dest)
        elif self.mode == "json":
            print(json.dumps(rows, default=str, indent=None), file=dest)
        elif self.mode == "markdown":
            def cell(v):
                return "NULL" if v is None else str(v).replace("|", "\\|")
            print("| " + " | ".join(names) + " |", file=dest)
            print("|" + "|".join("---" for _ in names) + "|", file=dest)
            for r in rows:
                print("| " + " | ".join(cell(r[n]) for n in names) + " |", file=dest)
        else:   # line
            width = max((len(n) for n in names), default=0)
            for i, r in enumerate(rows):
                if i:
                    print(file=dest)
                for n in names:
                    print(f"{n.rjust(width)} = {'NULL' if r[n] is None else r[n]}", file=dest)

    def feed(self, text: str) -> None:
        """One submitted entry: a meta command (a line starting with '.' or '\\') or SQL."""
        stripped = text.strip()
        if not stripped:
            return
        if stripped[0] in ".\\":
            try:
                self.meta(stripped)
            except (ValueError, OSError) as e:
                print(f"Error: {e}", file=self.err)
            return
        self.run(text)


def words_for_completion(con) -> list[str]:
    from sqlglot.tokens import Tokenizer
    session = con._session
    words = {k.upper() for k in Tokenizer.KEYWORDS if k.isalpha()}
    for name in session.catalog.names():
        words.add(name)
        src = session.catalog.get(name)
        schema = getattr(src, "schema", None)
        if schema is not None and not callable(schema):
            words.update(schema.names)
    words.update(session.functions.names())
    return sorted(words)


def completer_for(con):
    """Completes the name being typed (``FROM sal<Tab>``, ``dawn.ru<Tab>``) from the keywords,
    tables, columns and functions: the word before the cursor, dots included."""
    import re
    from prompt_toolkit.completion import WordCompleter
    # prompt_toolkit matches the pattern against the text before the cursor reversed
    return WordCompleter(words_for_completion(con), ignore_case=True, pattern=re.compile(r"^[\w.]+"))


def run_rc(shell: Shell) -> None:
    path = os.environ.get("DAWNRC") or os.path.expanduser("~/.dawnrc")
    if not os.path.isfile(path):
        return
    pending = ""
    with open(path, encoding="utf-8") as f:
        for line in f:
            if not pending and line.strip()[:1] in (".", "\\"):
                shell.feed(line)
                continue
            pending += line
            if statement_complete(pending):
                shell.feed(pending)
                pending = ""


def interactive(con, database: str) -> int:
    """The prompt loop on a terminal."""
    from prompt_toolkit import PromptSession
    from prompt_toolkit.history import FileHistory
    from prompt_toolkit.key_binding import KeyBindings
    from prompt_toolkit.lexers import PygmentsLexer
    from pygments.lexers.sql import SqlLexer

    shell = Shell(con)
    run_rc(shell)
    kb = KeyBindings()

    @kb.add("enter")
    @kb.add("c-j")   # Enter typed ahead, while a statement ran, arrives as \n (the tty's ICRNL)
    def _(event):
        buf = event.current_buffer
        text = buf.text
        if not text.strip() or text.strip()[0] in ".\\" or statement_complete(text):
            buf.validate_and_handle()
        else:
            buf.insert_text("\n")

    completer = completer_for(con)
    session = PromptSession(history=FileHistory(os.path.expanduser("~/.dawn_history")),
                            lexer=PygmentsLexer(SqlLexer), completer=completer, key_bindings=kb,
                            complete_while_typing=False,   # Tab completes, as in psql and duckdb
                            multiline=True, prompt_continuation="   ...> ")
    print(f"Dawn shell on {database}: statements end with ';', .help for commands, Ctrl-D quits.",
          file=sys.stderr)
    while not shell.done:
        try:
            text = session.prompt("dawn> ")
        except KeyboardInterrupt:
            continue          # Ctrl-C at the prompt clears the line
        except EOFError:
            break
        shell.feed(text)
        session.completer = completer_for(con)
    return 0
