"""The progress bars: redrawn in place on a terminal, a plain line at most once a minute in a log file."""

import io
import sys

from spoofscan.progress import progress_bar


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_file_gets_whole_lines_not_carriage_returns(monkeypatch):
    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    with progress_bar(total=1000, desc="corpus full", unit="pair") as bar:
        for _ in range(1000):
            bar.update(1)
    text = log.getvalue()
    assert "\r" not in text
    lines = text.splitlines()
    # the first state, then (well within a minute) only the last one: no line per update
    assert len(lines) == 2, lines
    assert lines[0].startswith("corpus full:") and "0/1000" in lines[0]
    assert "1000/1000" in lines[-1] and "pair" in lines[-1]


def test_a_bar_that_clears_itself_still_leaves_its_last_line_in_a_log(monkeypatch):
    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    assert list(progress_bar(range(5), desc="epoch 1/3", leave=False)) == [0, 1, 2, 3, 4]
    lines = log.getvalue().splitlines()
    assert lines and "5/5" in lines[-1] and all(line.strip() for line in lines)


def test_a_terminal_gets_the_bar_redrawn_in_place(monkeypatch):
    term = _Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    for _ in progress_bar(range(3), desc="evaluate", unit="file"):
        pass
    assert "\r" in term.getvalue() and "3/3" in term.getvalue()


def test_a_disabled_bar_writes_nothing_and_still_iterates(monkeypatch):
    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    assert list(progress_bar(range(4), desc="quiet", enabled=False)) == [0, 1, 2, 3]
    with progress_bar(total=3, desc="quiet", enabled=False) as bar:
        bar.update(3)
    assert log.getvalue() == ""
