#!/usr/bin/python3
"""check_code.py - the code rules a compiler does not check (a test of the test command).

  1. Library code (src/ outside src/cli/) never prints and never exits: no printf, puts,
     putchar, perror, dprintf, exit, _exit, no use of stdout or stderr, by stream or by
     descriptor (STDOUT_FILENO, STDERR_FILENO): errors travel as a status and a struct sf_err;
     only the CLI prints. Two exceptions, each for exactly one name in one file:
       - core's output files hand the caller stdout for "-" (src/core/outfile.c, stdout);
       - the logging module writes each log line on standard error (src/core/log.c,
         STDERR_FILENO): the serving processes must say what they do (access log, scaling
         decisions, launches) while they run, and one module doing it keeps every line escaped,
         in the one format chosen, and written whole (one write(2) of at most PIPE_BUF).
  2. Every message the CLI writes on stderr goes through its escaping helpers (sf_cli_error,
     sf_cli_note, sf_cli_fail, sf_cli_progress in src/cli/commands.c): messages echo file
     contents, arguments and peers' answers, and a terminal must never receive raw bytes.

Usage: check_code.py SOURCE_DIR   (exit 1 listing every violation as file:line: rule)
"""
import os
import re
import sys

LIBRARY_BANNED = re.compile(
    r"\b(printf|puts|putchar|perror|exit|_exit|vprintf|dprintf|vdprintf)\s*\("
    r"|\b(stdout|stderr|STDOUT_FILENO|STDERR_FILENO)\b")
# core's output file that returns stdout for "-", and the logging module's one write per line
LIBRARY_ALLOWED = {("src/core/outfile.c", "stdout"), ("src/core/log.c", "STDERR_FILENO")}
CLI_HELPERS = "src/cli/commands.c"
CLI_BANNED = re.compile(r"\b(v?fprintf|fputs|fwrite)\s*\(\s*stderr\b|\bperror\s*\(")


def strip_comments_and_strings(text):
    """Blanks comments and string/char literals, keeping line numbers."""
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + " " * (min(j, n) - i - 1) + (c if j < n else ""))
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def main(argv):
    if len(argv) != 2:
        sys.stderr.write(__doc__)
        return 2
    src = argv[1]
    problems = []
    for root, _, names in os.walk(os.path.join(src, "src")):
        for name in sorted(names):
            if not name.endswith((".c", ".h")):
                continue
            rel = os.path.relpath(os.path.join(root, name), src)
            code = strip_comments_and_strings(open(os.path.join(root, name), encoding="utf-8").read())
            in_cli = rel.startswith("src/cli/")
            for lineno, line in enumerate(code.split("\n"), 1):
                if not in_cli:
                    for m in LIBRARY_BANNED.finditer(line):
                        word = m.group(1) or m.group(2)
                        if (rel, word) in LIBRARY_ALLOWED:
                            continue
                        problems.append("%s:%d: library code uses %s (report through struct "
                                        "sf_err; only src/cli/ prints or exits)" % (rel, lineno, word))
                elif rel != CLI_HELPERS and CLI_BANNED.search(line):
                    problems.append("%s:%d: a message on stderr not through sf_cli_error / "
                                    "sf_cli_note / sf_cli_progress (they escape what they echo)"
                                    % (rel, lineno))
    for p in problems:
        sys.stderr.write("check_code: %s\n" % p)
    if not problems:
        sys.stdout.write("check_code: library code neither prints nor exits (only the log module "
                         "writes, on stderr); every CLI message is escaped\n")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
