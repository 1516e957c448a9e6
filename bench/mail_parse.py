"""Reading real mail: parse_letter + bounce_of + auto_reply_reason against the standard
library's parse of the same bytes, letter by letter, same run.

Method: every letter of tests/data/mail/real (228: bounces, CPython's test letters,
mail-parser's, talon's and dkimpy's samples, the hand-built Russian cases) is read R rounds;
per letter and round the reference is ``BytesParser(policy=default).parsebytes`` plus
``get_body()`` and its ``get_content()`` (what a minimal reader must do), and the desk's
reading is the full classification the intake runs before it touches the desk. The two
alternate per letter so machine noise hits both alike. Reports the median and p95 per
letter of each, the slowest letter, and ``RATIO reference/desk`` (medians).
"""

from __future__ import annotations

import sys
from pathlib import Path

_HERE = Path(__file__).resolve().parent
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != _HERE]
sys.path.insert(0, str(_HERE.parent))

import argparse  # noqa: E402
import statistics  # noqa: E402
import time  # noqa: E402
from email import policy  # noqa: E402
from email.message import EmailMessage  # noqa: E402
from email.parser import BytesParser  # noqa: E402

from adapters.email.message import UnreadableLetter, parse_letter  # noqa: E402
from adapters.email.noise import auto_reply_reason, bounce_of  # noqa: E402

REAL = _HERE.parent / "tests" / "data" / "mail" / "real"


def reference(raw: bytes) -> None:
    message = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(message, EmailMessage)
    try:
        body = message.get_body(("plain", "html"))
        if body is not None:
            body.get_content()
    except (LookupError, KeyError, ValueError):
        pass


def desk(raw: bytes) -> None:
    try:
        letter = parse_letter(raw)
    except UnreadableLetter:
        return
    if bounce_of(letter.message) is None:
        auto_reply_reason(letter.message, letter.sender_email)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("-r", "--rounds", type=int, default=3)
    args = parser.parse_args()
    letters = sorted(p for p in REAL.glob("*/*") if p.suffix in (".eml", ".txt"))
    raws = [(p.relative_to(REAL), p.read_bytes()) for p in letters]
    for _, raw in raws[:20]:  # imports, regex caches, the detector's tables
        desk(raw)
        reference(raw)
    ours: list[float] = []
    theirs: list[float] = []
    slowest = (0.0, "")
    for _ in range(args.rounds):
        for name, raw in raws:
            started = time.perf_counter()
            reference(raw)
            theirs.append(time.perf_counter() - started)
            started = time.perf_counter()
            desk(raw)
            spent = time.perf_counter() - started
            ours.append(spent)
            slowest = max(slowest, (spent, f"{name} ({len(raw)} bytes)"))

    def ms(values: list[float], q: float) -> float:
        return sorted(values)[int(q * (len(values) - 1))] * 1000

    print(f"{len(raws)} letters x {args.rounds} rounds")
    print(f"reference (stdlib parse + body): median {statistics.median(theirs) * 1000:.2f} ms,"
          f" p95 {ms(theirs, 0.95):.2f} ms")
    print(f"desk (parse_letter + bounce_of + auto_reply_reason): median "
          f"{statistics.median(ours) * 1000:.2f} ms, p95 {ms(ours, 0.95):.2f} ms,"
          f" slowest {slowest[0] * 1000:.0f} ms {slowest[1]}")
    print(f"RATIO reference/desk = {statistics.median(theirs) / statistics.median(ours):.2f}")


if __name__ == "__main__":
    main()
