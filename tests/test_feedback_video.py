"""Videos: offscreen MuJoCo frames that are not blank, MP4 + GIF in the candidate folder,
replay of recorded episodes and a fresh run of a saved policy, and ``rewardsmith videos``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rewardsmith.feedback import video
from rewardsmith.feedback.video import RenderError, VideoSettings

TASK = "hopper-forward-v0"
SHORT = VideoSettings(width=96, height=72, fps=25.0, seconds=0.6, gif_width=64, hold_last_s=0.0)


@pytest.fixture(scope="module")
def gl():
    try:
        return video.gl_backend()
    except RenderError as e:
        pytest.skip(f"no offscreen OpenGL for MuJoCo here: {e}")


def _record_candidate(folder: Path, task, make_venv, seed: int = 0) -> None:
    """A candidate folder holding one recorded episode of random actions (the hopper falls)."""
    train = folder / "seed-0" / "train"
    train.mkdir(parents=True)
    venv = make_venv(task, program=None, n_envs=1, seed=seed)
    rng = np.random.default_rng(seed)
    venv.reset()
    while not venv.episodes:
        a = rng.uniform(venv.action_space.low, venv.action_space.high, size=(1, *venv.action_space.shape))
        venv.step(a)
    venv.close()
    venv.episodes[0][0].save(train / "eval_episode_0.npz")


def _frames_mp4(path: Path) -> list[np.ndarray]:
    import imageio.v2 as iio

    return [np.asarray(f) for f in iio.mimread(str(path))]


def _frames_gif(path: Path) -> list[np.ndarray]:
    from PIL import Image, ImageSequence

    with Image.open(path) as im:
        return [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(im)]


def _not_blank(frames: list[np.ndarray]) -> None:
    assert len(frames) >= 3
    for f in frames:
        assert f.std() > 8.0, "a blank frame"  # the robot on a checkered floor, not one colour
    # the robot moves: the clip is not one still picture
    assert np.abs(frames[0].astype(float) - frames[-1].astype(float)).mean() > 1.0


def test_replay_of_a_recorded_episode_gives_frames_that_are_not_blank(tmp_path, gl, load_task, make_venv):
    task = load_task(TASK)
    folder = tmp_path / "candidates" / "0-0"
    _record_candidate(folder, task, make_venv)
    res = video.render_candidates(task, [folder], source="episode", settings=SHORT)
    v = res[folder]
    assert isinstance(v, video.Video), v
    assert v.source == "episode" and v.episode == "eval_episode_0.npz" and v.seed_dir == "seed-0"
    assert v.fps == pytest.approx(1 / (task.spec.dt * 5))  # 0.008 s steps, every 5th: 25 fps
    assert (folder / "video.mp4").stat().st_size > 1000 and (folder / "video.gif").exists()
    mp4 = _frames_mp4(folder / "video.mp4")
    assert mp4[0].shape == (72, 96, 3)
    _not_blank(mp4)
    gif = _frames_gif(folder / "video.gif")
    assert gif[0].shape[1] == 64
    _not_blank(gif)
    # a second call finds the clip and does not render again
    written = {p.name: p.stat().st_mtime_ns for p in folder.glob("video.*")}
    again = video.render_candidates(task, [folder], source="episode", settings=SHORT)
    assert again[folder] == v
    assert {p.name: p.stat().st_mtime_ns for p in folder.glob("video.*")} == written


def test_a_candidate_without_training_output_reports_why(tmp_path, gl, load_task):
    task = load_task(TASK)
    empty = tmp_path / "candidates" / "0-1"
    empty.mkdir(parents=True)
    res = video.render_candidates(task, [empty], settings=SHORT)
    assert isinstance(res[empty], str) and "no recorded evaluation episode and no saved policy" in res[empty]


def test_a_saved_policy_runs_again_on_camera(tmp_path, gl, load_task, make_venv):
    from rewardsmith.train import sb3

    task = load_task(TASK)
    folder = tmp_path / "candidates" / "0-0"
    train = folder / "seed-0" / "train"
    train.mkdir(parents=True)
    hp = sb3.settings(task)
    model, wrapped = sb3._build_model(task, hp, make_venv(task, program=None, n_envs=1), seed=0)
    model.save(train / "policy.zip")
    wrapped.save(str(train / "vecnormalize.pkl"))
    res = video.render_candidates(task, [folder], source="policy", settings=SHORT)
    v = res[folder]
    assert isinstance(v, video.Video), v
    assert v.source == "policy" and v.steps > 0
    _not_blank(_frames_mp4(folder / "video.mp4"))


@pytest.mark.slow
def test_without_offscreen_gl_here_a_child_process_renders_videos_and_keyframes(
        tmp_path, gl, load_task, make_venv, monkeypatch):
    """The child's protocol, shared by videos and keyframes: one result per folder, a broken
    folder reported without hiding the others, each result handed on as it comes."""
    from rewardsmith.feedback import keyframes

    task = load_task(TASK)
    good, empty = tmp_path / "candidates" / "0-0", tmp_path / "candidates" / "0-1"
    _record_candidate(good, task, make_venv)
    empty.mkdir(parents=True)
    monkeypatch.setattr(video, "can_render_here", lambda: False)
    monkeypatch.setattr(keyframes, "can_render_here", lambda: False)
    done = []
    res = video.render_candidates(task, [good, empty], source="episode", settings=SHORT,
                                  on_done=lambda f, v, err: done.append((f, v, err)))
    assert isinstance(res[good], video.Video) and res[good].episode == "eval_episode_0.npz"
    _not_blank(_frames_mp4(good / "video.mp4"))
    assert isinstance(res[empty], str) and "no recorded evaluation episode" in res[empty]
    assert done == [(good, res[good], None), (empty, None, res[empty])]
    strips = keyframes.render_keyframes(task, [good, empty],
                                        keyframes.KeyframeSettings(width=64, height=48))
    assert isinstance(strips[good], keyframes.Keyframes), strips[good]
    assert (good / "keyframes" / "strip.png").stat().st_size > 500
    assert isinstance(strips[empty], str) and "no recorded evaluation episode" in strips[empty]


def test_write_video_from_frames(tmp_path):
    frames = [np.full((30, 41, 3), 40 * k, dtype=np.uint8) for k in range(6)]  # odd width
    err = video.write_video(frames, 10.0, tmp_path / "a.mp4", tmp_path / "a.gif", SHORT)
    assert err is None
    back = _frames_mp4(tmp_path / "a.mp4")
    assert back[0].shape == (30, 42, 3) and len(back) == 6  # padded to an even size for H.264
    assert len(_frames_gif(tmp_path / "a.gif")) >= 2


def test_no_offscreen_gl_is_a_clear_error_naming_the_packages(monkeypatch):
    video._working_backends.cache_clear()
    monkeypatch.setattr(video, "_probe", lambda backend: f"cannot load lib{backend}")
    try:
        with pytest.raises(RenderError) as e:
            video.gl_backend()
        msg = str(e.value)
        assert "MUJOCO_GL=egl" in msg and "MUJOCO_GL=osmesa" in msg
        assert "libosmesa6" in msg and "libegl1" in msg
    finally:
        monkeypatch.undo()
        video._working_backends.cache_clear()


def test_videos_command_renders_a_runs_candidates(tmp_path, gl, load_task, make_venv):
    import typer
    from typer.testing import CliRunner

    from rewardsmith.cli.feedback import register
    from rewardsmith.runs.rundir import RunDir

    task = load_task(TASK)
    run = RunDir.create(tmp_path / "run", {"task": task.id, "task_origin": dict(task.origin)})
    for k in range(2):
        _record_candidate(run.candidate_dir(0, k), task, make_venv, seed=k)
        run.finish_candidate(0, k, {"id": f"0-{k}", "status": "ok", "fitness": float(k)})
    app = typer.Typer()

    @app.callback()
    def _root():  # a group, as the real app is
        pass

    register(app)
    r = CliRunner().invoke(app, ["videos", str(run.path), "--seconds", "0.3", "--width", "64",
                                 "--height", "48", "--candidate", "0-1"])
    assert r.exit_code == 0, r.output
    assert (run.candidate_dir(0, 1) / "video.mp4").exists()
    assert not (run.candidate_dir(0, 0) / "video.mp4").exists()
    r = CliRunner().invoke(app, ["videos", str(run.path), "--candidate", "7-7"])
    assert r.exit_code == 2 and "no candidate 7-7" in r.output


def test_collect_in_human_mode_renders_the_clips_first(tmp_path, gl, load_task, make_venv):
    import io

    from rich.console import Console

    from rewardsmith.feedback import collect

    task = load_task(TASK)
    cands = []
    for k in range(2):
        folder = tmp_path / "candidates" / f"0-{k}"
        _record_candidate(folder, task, make_venv, seed=k)
        cands.append({"id": f"0-{k}", "source": "def compute_reward(s, a, n):\n    return 0, {}\n",
                      "fitness": None, "folder": folder})
    notes: list[str] = []
    out = io.StringIO()
    fb = collect("human", "cli", tmp_path, 0, task, cands, video_settings=SHORT, notify=notes.append,
                 console=Console(file=out, width=200), input_stream=io.StringIO("2\nfell later\n"))
    assert (fb.best, fb.worst, fb.comment) == ("0-1", "0-0", "fell later")
    for c in cands:
        assert (c["folder"] / "video.mp4").exists() and (c["folder"] / "video.gif").exists()
        assert str(c["folder"] / "video.mp4") in out.getvalue().replace("\n", "")
    assert any("rendering 2 video(s)" in n for n in notes)
