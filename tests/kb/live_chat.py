"""A running `ruta chat --json` and staff publishing beside it, as separate processes (tests and bench)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import Self

from tests.ruta_process import RUTA, run_ruta, ruta_env

QUESTION = "donde queda sercotec en copiapo"
OFFICE_LINE = "  name: Centro de Negocios Sercotec Copiapó\n"


class RunningChat:
    """`ruta chat --json` in `home`, kept running; `ask` sends a line and returns the replies' text."""

    def __init__(self, home: Path, **settings: str) -> None:
        self.home = home
        self.process = subprocess.Popen(
            [str(RUTA), "chat", "--json", "--user", "staff-test"],
            env=ruta_env(home, **settings),
            cwd=home,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )

    def ask(self, text: str) -> str:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()
        return "\n".join(reply["text"] for reply in json.loads(self.process.stdout.readline()))

    def wait_for(self, wanted: str, timeout: float = 20.0) -> float:
        """Ask the office question until a reply holds `wanted`; the seconds it took."""
        started = time.monotonic()
        while wanted not in self.ask(QUESTION):
            if time.monotonic() - started > timeout:
                raise AssertionError(f"{wanted!r} never shown")
            time.sleep(0.05)
        return time.monotonic() - started

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self.process.stdin is not None:
            self.process.stdin.close()
        self.process.wait(timeout=30)


def publish_address(home: Path, address: str, **settings: str) -> None:
    """As staff would from the shell: export the serving version, fill the Copiapó centre's address, import."""
    out = home / "export"
    assert run_ruta(home, "kb", "export", str(out), **settings).returncode == 0
    offices = (out / "offices.yml").read_text()
    start = offices.index(OFFICE_LINE)
    before, after = offices[:start], offices[start:]
    (out / "offices.yml").write_text(before + _replace_first_address(after, address))
    done = run_ruta(home, "kb", "import", str(out), "--note", f"dirección {address}", **settings)
    assert done.returncode == 0, done.stdout + done.stderr


def _replace_first_address(text: str, address: str) -> str:
    line_start = text.index("  address: ")
    line_end = text.index("\n", line_start)
    return text[:line_start] + f'  address: "{address}"' + text[line_end:]
