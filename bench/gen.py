"""Write a deterministic fixture CSV of N posts for the load benchmark."""

from __future__ import annotations

import csv
import random
from datetime import datetime, timedelta
from pathlib import Path

SEED = 20181003
WORDS = [
    "the",
    "quick",
    "brown",
    "fox",
    "jumps",
    "over",
    "a",
    "lazy",
    "dog",
    "while",
    "postctl",
    "loads",
    "fixtures",
    "안녕하세요",
    "게시물",
    "데이터베이스",
    "한국어",
    "문장",
    "오늘",
    "날씨",
    "좋네요",
    "감사합니다",
    "🚀",
    "🎉",
    "✨",
    "🐍",
    "—",
    "café",
    "naïve",
    "東京",
    "data",
    "row",
    "column",
]
PUNCTUATION = ("", "", "", "", ",", ".", "!", '"quoted"', "\n")
START = datetime(2018, 1, 1)


def content(rng: random.Random) -> str:
    """Return a post of a few hundred characters mixing Latin, Korean and emoji."""
    words = rng.choices(WORDS, k=rng.randint(20, 40))
    tail = rng.choice(PUNCTUATION)
    return " ".join(words) + tail


def write(path: Path, n: int, seed: int = SEED) -> Path:
    """Write n posts with ids 1..n to path (a header line first) and return it."""
    rng = random.Random(seed)
    with open(path, "w", encoding="utf-8", newline="") as out:
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(("id", "content", "author_email", "created_time"))
        for i in range(1, n + 1):
            when = START + timedelta(seconds=rng.randrange(200_000_000))
            writer.writerow(
                (
                    i,
                    content(rng),
                    f"user{rng.randrange(100_000)}@example{rng.randrange(50)}.com",
                    when.strftime("%Y-%m-%d %H:%M:%S"),
                )
            )
    return path
