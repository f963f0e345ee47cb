"""``rewardsmith videos RUN``: render any candidate's policy of a run to MP4 and GIF."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    from rewardsmith.cli.common import console, err_console, guarded, print_table

    @app.command()
    @guarded
    def videos(
        run: Annotated[Path, typer.Argument(help="A run directory (runs/<run-id>).")],
        candidate: Annotated[list[str] | None, typer.Option(
            "--candidate", "-c", help="Candidate ITER-K (repeatable; default: every trained one).")] = None,
        seconds: Annotated[float, typer.Option(
            "--seconds", "-s", min=0.1, help="Longest clip, in simulated seconds.")] = 6.0,
        source: Annotated[str, typer.Option(
            "--from", help="episode: replay a recorded evaluation episode (exact, fast); policy: run "
                           "the saved policy again; auto: episode when there is one.")] = "auto",
        width: Annotated[int, typer.Option("--width", min=16, max=1920)] = 320,
        height: Annotated[int, typer.Option("--height", min=16, max=1080)] = 240,
        fps: Annotated[float, typer.Option("--fps", min=1.0, max=120.0)] = 30.0,
        seed: Annotated[int, typer.Option("--seed", help="Env seed of a policy run (--from policy).")] = 0,
        force: Annotated[bool, typer.Option("--force", help="Render again even if a clip exists.")] = False,
    ):
        """Render candidates' behaviour offscreen (MuJoCo, camera on the robot) into
        candidates/<ITER-K>/video.mp4 and video.gif."""
        from rich.table import Table

        from rewardsmith.errors import RewardsmithError
        from rewardsmith.feedback.video import VideoSettings, prepare_gl, render_candidates
        from rewardsmith.runs.rundir import RunDir

        if source not in ("auto", "episode", "policy"):
            raise RewardsmithError(f"--from {source!r}: use auto, episode or policy")
        prepare_gl()  # before MuJoCo is imported, so this process renders itself
        from rewardsmith import tasks

        r = RunDir.open(run)
        m = r.manifest
        origin = m.get("task_origin")
        if not origin:
            raise RewardsmithError(f"{run} does not record its task (no task_origin in manifest.json)")
        task = tasks.from_origin(origin)
        root = r.path / "candidates"
        if candidate:
            folders = []
            for cid in candidate:
                d = root / cid
                if not d.is_dir():
                    have = sorted(p.name for p in root.iterdir()) if root.is_dir() else []
                    raise RewardsmithError(f"no candidate {cid} in {run}",
                                           f"candidates: {', '.join(have) or 'none'}")
                folders.append(d)
        else:
            folders = [root / c["id"] for c in r.candidates() if c.get("status") == "ok"]
            if not folders:
                raise RewardsmithError(f"{run} has no trained candidate yet")
        settings = VideoSettings(width=width, height=height, fps=fps, seconds=seconds)

        def done(folder: Path, video, error) -> None:
            if video is not None:
                err_console.print(f"  {folder.name}: {video.frames} frames ({video.source})", highlight=False)
            else:
                err_console.print(f"  [yellow]{folder.name}: {error}[/]", highlight=False)

        err_console.print(f"rendering {len(folders)} candidate(s) of {r.path.name}...")
        results = render_candidates(task, folders, source=source, settings=settings, seed=seed,
                                    force=force, on_done=done)
        table = Table(title=f"videos of {r.path}", title_justify="left")
        for col in ("candidate", "from", "seconds", "frames", "note"):
            table.add_column(col, overflow="fold")
        made = []
        for f in folders:
            v = results.get(f)
            if isinstance(v, str) or v is None:
                table.add_row(f.name, "-", "-", "-", f"[yellow]{v or 'not rendered'}[/]")
                continue
            note = f"[yellow]{v.mp4_error}[/]" if v.mp4_error else ("ended early" if v.terminated else "")
            table.add_row(f.name, v.source, f"{v.seconds:.1f}", str(v.frames), note)
            made += [str(f / name) for name in (v.mp4, v.gif) if name]
        print_table(table)
        for path in made:
            console.print(path, highlight=False, soft_wrap=True)
        if not made:
            raise typer.Exit(1)
