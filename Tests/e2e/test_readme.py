"""Every shell example in README.md runs as written against a fresh server, and prints what README shows.

Rules (keep README within them):
- Every ```sh block is run, in README order, in one temp directory holding a fresh server's database
  `./tokenmeter.sqlite`, with `tokenmeter` on PATH (the built binary) and `localhost:9477` rewritten
  to the test server's port. Blocks share that server, so later examples see earlier ones' records.
- A block that cannot run here says so in its fence: ```` ```sh no-test: <reason> ```` (GitHub and
  other renderers read only the first word, `sh`). Such blocks are listed by this test, never run.
- In a block, a line whose first word is a command (`curl`, `printf`, `tokenmeter`) starts a
  command; lines ending in `\\` or `|` continue it, and so do lines inside an open quote. `#` lines
  are comments. Any other line is output: what the command before it prints.
- Output is compared after a small normalization of both sides: line breaks and the indentation after
  them are removed (README wraps long JSON lines), RFC 3339 times become `<time>`, dates `<date>`,
  UUIDs `<uuid>`. In README's output `…` stands for any text (elided fields, volatile numbers).
  A command with no output under it must still exit 0 and must not print a JSON `{"error": …}`
  answer (curl -s exits 0 on a 4xx).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

from conftest import REPO_ROOT, binary_path

README = REPO_ROOT / "README.md"
COMMANDS = ("curl", "printf", "tokenmeter")
FENCE = re.compile(r"^```sh(?:[ \t]+(.*))?$")


class Example:
    def __init__(self, block: int, line: int, command: str):
        self.block, self.line, self.command, self.output = block, line, command, []

    def __repr__(self) -> str:
        return f"README.md:{self.line}: {self.command.splitlines()[0]}"


def _open_quote(text: str) -> bool:
    try:
        shlex.split(text, comments=True)
        return False
    except ValueError:
        return True


def blocks() -> list[tuple[int, str | None, list[str]]]:
    """(first line number, no-test reason or None, lines) for every ```sh block."""
    found, lines = [], README.read_text(encoding="utf-8").splitlines()
    i = 0
    while i < len(lines):
        match = FENCE.match(lines[i])
        if not match:
            i += 1
            continue
        info = (match.group(1) or "").strip()
        reason = info[len("no-test:"):].strip() if info.startswith("no-test:") else None
        assert not info or reason, f"README.md:{i + 1}: unknown fence info '{info}' (only 'no-test: <reason>')"
        start, body = i + 2, []
        i += 1
        while lines[i] != "```":
            body.append(lines[i])
            i += 1
        found.append((start, reason, body))
        i += 1
    return found


def examples(start: int, body: list[str], block: int) -> list[Example]:
    result: list[Example] = []
    current: Example | None = None
    continuing = False
    for offset, line in enumerate(body):
        words = line.split()
        if continuing and current is not None:
            current.command += "\n" + line
        elif words and words[0] in COMMANDS:
            current = Example(block, start + offset, line)
            result.append(current)
        elif line.lstrip().startswith("#") or not line.strip():
            continue
        else:
            assert current is not None, f"README.md:{start + offset}: output before any command"
            current.output.append(line)
            continue
        stripped = current.command.rstrip()
        continuing = stripped.endswith("\\") or stripped.endswith("|") or _open_quote(current.command)
    return result


def normalize(text: str) -> str:
    text = re.sub(r"\n[ \t]*", "", text.strip())
    text = re.sub(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})", "<time>", text)
    text = re.sub(r"\d{4}-\d{2}-\d{2}", "<date>", text)
    return re.sub(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}", "<uuid>", text)


def matches(expected: list[str], actual: str) -> bool:
    pattern = "".join(".*?" if part == "…" else re.escape(part) for part in re.split("(…)", normalize("\n".join(expected))))
    return re.fullmatch(pattern, normalize(actual), re.DOTALL) is not None


def _is_error_answer(text: str) -> bool:
    try:
        value = json.loads(text)
    except ValueError:
        return False
    return isinstance(value, dict) and "error" in value


@pytest.mark.parametrize("expected, actual, same", [
    (['{"a":1,"b":2}'], '{"a":1,"b":2}\n', True),
    (['{"a":1,', ' "b":2}'], '{"a":1,"b":2}', True),             # wrapped lines
    (['{"a":1,…}'], '{"a":1,"b":2,"c":3}', True),                 # elision
    (['{"from":"2026-11-24T14:34:26.851Z"}'], '{"from":"2027-01-02T03:04:05Z"}', True),
    (['{"id":"0f8fad5b-d9cb-469f-a165-70867728950e"}'], '{"id":"7c9e6679-7425-40de-944b-e07fc1f90ae7"}', True),
    (['{"a":1}'], '{"a":2}', False),
    (['{"a":1,…}'], '{"b":1,"a":1}', False),
    (['x'], '', False),
])
def test_output_matching_rule(expected, actual, same):
    assert matches(expected, actual) is same


def test_the_readme_follows_its_own_rules():
    found = blocks()
    assert len([b for b in found if b[1] is None]) >= 5, "README lost its runnable examples"
    for number, (start, reason, body) in enumerate(found):
        if reason is None:
            assert examples(start, body, number), f"README.md:{start}: a runnable block with no command"


def test_every_readme_example_runs_and_prints_what_readme_shows(server_factory, tmp_path):
    work = tmp_path / "work"  # the examples' working directory: the server's database is ./tokenmeter.sqlite
    work.mkdir()
    server = server_factory(db=work / "tokenmeter.sqlite").start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKENMETER_")}
    bin_dir = tmp_path / "bin"  # `tokenmeter` on PATH, whatever the built binary's file is called
    bin_dir.mkdir()
    (bin_dir / "tokenmeter").symlink_to(Path(binary_path()).resolve())
    env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"

    failures, skipped, ran = [], [], 0
    for number, (start, reason, body) in enumerate(blocks()):
        if reason is not None:
            skipped.append(f"README.md:{start}: {reason}")
            continue
        for example in examples(start, body, number):
            command = example.command.replace("localhost:9477", f"localhost:{server.port}")
            run = subprocess.run(["bash", "-o", "pipefail", "-c", command], cwd=work, env=env,
                                 capture_output=True, text=True, timeout=120)
            ran += 1
            if run.returncode != 0:
                failures.append(f"{example!r} exited {run.returncode}:\n{run.stdout}{run.stderr}")
            elif not example.output and _is_error_answer(run.stdout):
                failures.append(f"{example!r} answered an error:\n{run.stdout}")
            elif example.output and not matches(example.output, run.stdout):
                failures.append(f"{example!r} printed:\n{run.stdout}\nREADME shows:\n" + "\n".join(example.output)
                                + f"\n(normalized: {normalize(run.stdout)!r}\n vs {normalize(chr(10).join(example.output))!r})")
    print(f"ran {ran} README commands; not run:\n" + "\n".join(skipped))
    assert ran >= 10
    assert not failures, "\n\n".join(failures) + f"\n\nserver log:\n{server.log()}"
