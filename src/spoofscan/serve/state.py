"""What the routes of one app share: :class:`ServiceState`, kept on ``app.state.serve``."""

from __future__ import annotations

from contextlib import asynccontextmanager
from pathlib import Path

from fastapi import Request

from .batcher import Batcher
from .errors import ServeError
from .prometheus import Metrics
from .results import model_info
from .settings import ServeSettings

STATIC_DIR = Path(__file__).parent / "static"


class ServiceState:
    """What the routes share: detector, settings, metrics, the batcher, the admission count and the page.

    Parameters
    ----------
    detector : a loaded :class:`~spoofscan.detector.Detector` (either backend)
    settings : the service's limits and switches
    model_path : the model file, for its hash and name in every answer
    """

    def __init__(self, detector, settings: ServeSettings, model_path=None):
        self.detector = detector
        self.settings = settings
        self.metrics = Metrics()
        self.batcher = Batcher(detector, settings, self.metrics)
        self.model = model_info(detector, model_path)
        self.page = (STATIC_DIR / "index.html").read_text(encoding="utf-8")
        self.pending = 0  # detection requests admitted (touched on the event loop only)
        self.metrics.pending.set_function(lambda: self.pending)

    @asynccontextmanager
    async def admit(self):
        """Hold one of ``max_pending`` places for a detection request, or refuse it (503)."""
        if self.pending >= self.settings.max_pending:
            raise ServeError(503, "queue_full", f"the server is busy ({self.pending} requests in hand, the limit); "
                             f"try again in {self.settings.retry_after} s",
                             {"Retry-After": str(self.settings.retry_after)})
        self.pending += 1
        try:
            yield
        finally:
            self.pending -= 1

    def ready(self) -> tuple[bool, str]:
        """Whether the service takes requests now, and why not."""
        if not self.batcher.alive:
            return False, "the inference worker is not running"
        if self.pending >= self.settings.max_pending:
            return False, "saturated: max_pending requests in hand"
        return True, "ready"


def get_state(request: Request) -> ServiceState:
    """The dependency that gives a route its app's :class:`ServiceState`."""
    return request.app.state.serve
