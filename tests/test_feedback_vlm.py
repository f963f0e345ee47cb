"""The vision-language judge (``--feedback vlm``): keyframes, the image parts the real ``openai``
client sends to a small OpenAI-compatible server on 127.0.0.1, the manual folder, strict parsing
with one retry, the combined selection, resume, and (slow) a design run judged end to end."""

from __future__ import annotations

import base64
import io
import json
import re
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest

from rewardsmith.contracts import Episode
from rewardsmith.feedback import collect, feedback_text, load, vlm
from rewardsmith.feedback.vlm import JudgeError, JudgeParseError, Shown
from rewardsmith.runs.files import read_json

TASK = "pendulum-balance-v0"
CAPTION = re.compile(r"^Candidate (\S+?)(?: \(|:)")


def _judgement(ids, ranking=None, **over) -> str:
    ranking = list(ids) if ranking is None else ranking
    data = {"candidates": [{"id": i, "does_what_asked": "partly", "what_it_does": f"{i} sways",
                            "what_is_wrong": f"{i} drifts to the side"} for i in ids],
            "ranking": ranking, "summary": "the first keeps the pole up longest", **over}
    return "Here is my judgement.\n\n```json\n" + json.dumps(data, indent=1) + "\n```\n"


class JudgeServer:
    """An OpenAI-compatible chat server that checks every image part (a PNG data URL of the size
    expected) and answers with a judgement ranking the candidates its captions name, in the order
    given by ``rank`` (default: as shown), unless ``script`` says otherwise."""

    def __init__(self):
        self.requests: list[dict] = []
        self.images: list[list[tuple[int, int, str]]] = []  # per request: (width, height, format)
        self.script: list[dict] = []
        self.rank = None  # ids -> ranking
        self.errors: list[str] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def _send(self, status, data):
                body = json.dumps(data).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                server.requests.append(body)
                step = server.script.pop(0) if server.script else {}
                if "status" in step:
                    return self._send(step["status"], {"error": {"message": step["message"]}})
                ids, images = [], []
                for m in body["messages"]:
                    if not isinstance(m["content"], list):
                        continue
                    for part in m["content"]:
                        if part["type"] == "text" and CAPTION.match(part["text"]):
                            ids.append(CAPTION.match(part["text"]).group(1))
                        elif part["type"] == "image_url":
                            url = part["image_url"]["url"]
                            head, _, b64 = url.partition(",")
                            if head != "data:image/png;base64":
                                server.errors.append(f"not a PNG data URL: {head}")
                                continue
                            from PIL import Image

                            raw = base64.b64decode(b64)
                            with Image.open(io.BytesIO(raw)) as im:
                                images.append((im.width, im.height, im.format))
                server.images.append(images)
                text = step.get("text") or _judgement(ids, server.rank(ids) if server.rank else None)
                self._send(200, {"id": "x", "object": "chat.completion", "created": 0,
                                 "model": body["model"],
                                 "choices": [{"index": 0, "finish_reason": "stop",
                                              "message": {"role": "assistant", "content": text}}],
                                 "usage": {"prompt_tokens": 1000, "completion_tokens": 200,
                                           "total_tokens": 1200}})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.02}, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    s = JudgeServer()
    yield s
    s.close()


def _judge(server, run: Path, **kw) -> vlm.OpenAIJudge:
    return vlm.make_judge("openai:tiny-vl", run_dir=run, base_url=server.url, max_retries=0,
                          timeout=10.0, **kw)


def _pngs(tmp_path: Path, ids, size=(300, 80)) -> list[Shown]:
    from PIL import Image

    out = []
    for k, cid in enumerate(ids):
        p = tmp_path / f"strip-{cid}.png"
        Image.new("RGB", size, (40 * k, 100, 200)).save(p)
        out.append(Shown(cid, p, "start (t=0.00 s), end (t=1.00 s)"))
    return out


# ----------------------------------------------------------------------------- parsing
def test_parse_accepts_a_judgement_and_rejects_what_is_wrong():
    ids = ["0-0", "0-1", "0-2"]
    j = vlm.parse(_judgement(ids, ["0-2", "0-0", "0-1"]), ids)
    assert j.ranking == ["0-2", "0-0", "0-1"] and j.verdicts["0-1"].does_what_asked == "partly"
    assert "drifts" in j.verdicts["0-0"].what_is_wrong
    bad = {
        "no code block here, just words": "no ```json block",
        "```json\n{\"ranking\": [\"0-0\",}\n```": "not valid JSON",
        _judgement(ids, ["0-0", "0-1", "9-9"]): "unknown candidate(s) 9-9",
        _judgement(ids, ["0-0", "0-1"]): "leaves out 0-2",
        _judgement(ids, ["0-0", "0-1", "0-1", "0-2"]): "more than once",
        _judgement(ids[:2], ids): "no verdict for 0-2",
        _judgement(ids, ids).replace('"partly"', '"maybe"', 1): "not \"yes\", \"partly\" or \"no\"",
        "```json\n[1, 2]\n```": "not an object",
    }
    for text, why in bad.items():
        with pytest.raises(JudgeParseError, match=re.escape(why)):
            vlm.parse(text, ids)


def test_combine_weighs_the_judge_against_the_task_score():
    judge = {"a": 1.0, "b": 0.0, "c": -1.0}  # the judge: a > b > c
    fitness = {"a": 10.0, "b": 30.0, "c": 20.0}  # the score: b > c > a
    alone, w = vlm.combine(judge, fitness, 1.0)
    assert w == 1.0 and max(alone, key=alone.get) == "a"
    score, _ = vlm.combine(judge, fitness, 0.0)
    assert max(score, key=score.get) == "b"
    mixed, _ = vlm.combine(judge, fitness, 0.5)
    assert mixed == {"a": 0.5, "b": 0.75, "c": 0.25}
    # a candidate without a task score (a task without a fitness): the judge alone
    nofit, w = vlm.combine(judge, {"a": None, "b": None, "c": None}, 0.5)
    assert w == 1.0 and max(nofit, key=nofit.get) == "a"


# ----------------------------------------------------------------------------- openai
def test_openai_judge_sends_one_png_per_candidate_and_counts_tokens(server, tmp_path, load_task):
    task = load_task(TASK)
    shown = _pngs(tmp_path, ["1-0", "1-1", "0-2"])
    j = _judge(server, tmp_path / "run")
    judgement, replies = vlm.judge(j, task, 1, shown, tmp_path, notify=lambda m: None)
    assert server.errors == []
    assert server.images == [[(300, 80, "PNG")] * 3]  # every strip arrived, whole, as a PNG
    msgs = server.requests[0]["messages"]
    assert msgs[0]["role"] == "system"
    text = msgs[1]["content"][0]["text"]
    assert task.description in text and '"1-0", "1-1", "0-2"' in text
    assert judgement.ranking == ["1-0", "1-1", "0-2"]
    assert replies[0].usage.prompt_tokens == 1000 and replies[0].usage.completion_tokens == 200
    assert (tmp_path / "reply-1.md").read_text().startswith("Here is my judgement")
    # asked again (a resumed run): the run's cache answers, the server is not asked
    again, replies2 = vlm.judge(_judge(server, tmp_path / "run"), task, 1, shown, tmp_path,
                                notify=lambda m: None)
    assert again == judgement and replies2[0].cached and len(server.requests) == 1


def test_a_garbage_answer_is_asked_again_once_then_a_clear_error(server, tmp_path, load_task):
    task = load_task(TASK)
    shown = _pngs(tmp_path, ["0-0", "0-1"])
    server.script = [{"text": "I like the second one."}]
    notes = []
    judgement, replies = vlm.judge(_judge(server, tmp_path / "run"), task, 0, shown, tmp_path,
                                   notify=notes.append)
    assert len(replies) == 2 and judgement.ranking == ["0-0", "0-1"]
    retry = server.requests[1]["messages"]
    assert retry[-2] == {"role": "assistant", "content": "I like the second one."}
    assert "no ```json block" in retry[-1]["content"] and "0-0, 0-1" in retry[-1]["content"]
    assert any("asking again" in n for n in notes)

    server.script = [{"text": "garbage"}, {"text": _judgement(["0-0", "7-7"])}]
    run = tmp_path / "run2"
    with pytest.raises(JudgeError, match=r"answered twice.*unknown candidate") as e:
        vlm.judge(_judge(server, run), task, 0, shown, tmp_path / "kept", notify=lambda m: None)
    assert "--resume" in e.value.hint
    assert (tmp_path / "kept" / "reply-1.md").read_text() == "garbage"  # the answers are kept
    assert not list((run / "llm" / "cache").rglob("*.json"))  # and not cached: resume asks again


def test_a_model_that_rejects_images_is_a_clear_error(server, tmp_path, load_task):
    server.script = [{"status": 400, "message": "Invalid content type. image_url is only "
                                                "supported by certain models."}]
    with pytest.raises(JudgeError, match="rejects images") as e:
        vlm.judge(_judge(server, tmp_path / "run"), load_task(TASK), 0, _pngs(tmp_path, ["0-0"]),
                  tmp_path, notify=lambda m: None)
    assert "vision-language" in e.value.hint


def test_make_judge_refuses_what_cannot_see(tmp_path):
    for spec in (None, "offline", "telepathy"):
        with pytest.raises(JudgeError, match="images|judge"):
            vlm.make_judge(spec, run_dir=tmp_path)


# ----------------------------------------------------------------------------- manual
def test_manual_judge_writes_frames_and_prompt_and_reads_the_answer(tmp_path, load_task):
    from fakes import wait_until

    task = load_task(TASK)
    shown = _pngs(tmp_path, ["2-0", "2-1"])
    judge = vlm.make_judge("manual", run_dir=tmp_path / "run", poll_s=0.02, timeout=30)
    folder = tmp_path / "run" / "feedback" / "vlm" / "iteration-2"
    out: dict = {}
    t = threading.Thread(target=lambda: out.update(r=vlm.judge(judge, task, 2, shown, folder,
                                                               notify=lambda m: None)))
    t.start()
    assert wait_until(lambda: (folder / "prompt.md").exists())
    prompt = (folder / "prompt.md").read_text()
    assert task.description in prompt and "![2-0](2-0.png)" in prompt and "answer.md" in prompt
    for s in shown:  # the frames, as files beside the prompt
        assert (folder / f"{s.id}.png").read_bytes() == s.strip.read_bytes()
    (folder / "answer.md").write_text("no json, sorry")  # garbage: a retry file, then answer-2.md
    assert wait_until(lambda: (folder / "retry-2.md").exists())
    assert "no ```json block" in (folder / "retry-2.md").read_text()
    (folder / "answer-2.md").write_text(_judgement(["2-0", "2-1"], ["2-1", "2-0"]))
    t.join(30)
    judgement, replies = out["r"]
    assert judgement.ranking == ["2-1", "2-0"] and replies[-1].model == "manual"


# ----------------------------------------------------------------------------- collect
@pytest.fixture(scope="module")
def gl():
    from rewardsmith.feedback.video import RenderError, gl_backend

    try:
        return gl_backend()
    except RenderError as e:
        pytest.skip(f"no offscreen OpenGL for MuJoCo here: {e}")


def _candidates(run: Path, task, fitness: list[float | None]) -> list[dict]:
    """Candidates whose recorded episodes move the cart to the right by different amounts."""
    spec = task.spec
    out = []
    for k, f in enumerate(fitness):
        folder = run / "candidates" / f"0-{k}"
        train = folder / "seed-0" / "train"
        train.mkdir(parents=True)
        states = np.zeros((41, spec.size))
        q = spec.fields["qpos"].offset
        states[:, q] = np.linspace(0, 0.3 * (k + 1), 41)  # slider
        states[:, q + 1] = np.linspace(0, 0.1 * k, 41)  # hinge
        states[:, spec.fields["time"].offset] = np.arange(41) * spec.dt
        Episode(states, np.zeros((40, 1)), np.ones(40), np.ones(40), {"upright": np.ones(40)},
                False, spec).save(train / "eval_episode_0.npz")
        out.append({"id": f"0-{k}", "source": f"def compute_reward(s, a, n):\n    w = {k}\n",
                    "fitness": f, "folder": folder})
    return out


def test_collect_renders_keyframes_judges_and_selects_with_the_task_score(server, tmp_path,
                                                                          load_task, gl):
    task = load_task(TASK)
    run = tmp_path / "run"
    cands = _candidates(run, task, [40.0, 10.0, 20.0])
    server.rank = lambda ids: sorted(ids, reverse=True)  # the judge: 0-2 > 0-1 > 0-0
    replies = []
    fb = collect("vlm", "web", run, 0, task, cands, judge=_judge(server, run), weight=0.5,
                 on_reply=replies.append)
    # the strips: one PNG each, of the keyframes' size, and the frames in the candidate folder
    for c in cands:
        meta = read_json(Path(c["folder"]) / "keyframes" / "keyframes.json")
        labels = [m["label"] for m in meta["moments"]]
        assert labels[0].startswith("start") and labels[-1].startswith("end"), labels
        assert len(meta["frames"]) >= 4
    n = len(meta["frames"])
    assert server.images == [[(n * 224 + (n - 1) * 2, 168 + 14, "PNG")] * 3]
    assert server.errors == []
    assert fb.source == "vlm" and fb.order == ["0-2", "0-1", "0-0"] and fb.full_order
    # combined: 0-2 (judge 1, score 0.33) 0.667; 0-0 (judge 0, score 1) 0.5; 0-1 (0.5, 0) 0.25
    assert fb.pick == "0-2" and fb.combined["0-0"] == pytest.approx(0.5)
    assert fb.verdicts["0-1"]["what_is_wrong"] == "0-1 drifts to the side"
    assert len(replies) == 1 and replies[0].usage.prompt_tokens == 1000
    rec = read_json(run / "feedback" / "iteration-0.json")
    assert rec["judge"]["frames"]["0-0"] == "candidates/0-0/keyframes/strip.png"
    prefs = read_json(run / "feedback" / "preferences.json")
    assert prefs["iterations"]["0"]["source"] == "vlm" and len(prefs["iterations"]["0"]["pairs"]) == 3
    # the judge's words go to the next prompt
    text = feedback_text(fb, {c["id"]: c for c in cands})
    assert "w = 2" in text and "w = 0" in text and "0-1 drifts to the side" in text
    assert "(selected)" in text and "weight 0.5" in text
    # answered: a resumed run is not asked again
    again = collect("vlm", "web", run, 0, task, cands, judge=_judge(server, run), weight=0.5)
    assert again == load(run, 0) and len(server.requests) == 1
    # the judge alone picks its first; so does a task whose candidates have no score
    fb1 = collect("vlm", "web", run, 1, task, cands, judge=_judge(server, run), weight=0.0)
    assert fb1.pick == "0-0"  # the score alone
    nofit = [{**c, "fitness": None} for c in cands]
    fb2 = collect("vlm", "web", run, 2, task, nofit, judge=_judge(server, run), weight=0.0)
    assert fb2.pick == "0-2" and fb2.weight == 1.0


# ----------------------------------------------------------------------------- end to end
@pytest.mark.slow
def test_design_run_judged_by_a_vision_language_model(server, tmp_path, load_task, gl):
    from fakes import ScriptedLLM, answer

    from rewardsmith import tasks
    from rewardsmith.loop.design import DesignConfig, DesignLoop
    from rewardsmith.report import write_report
    from rewardsmith.runs.rundir import RunDir

    task = load_task(TASK)
    server.rank = lambda ids: sorted(ids)  # the judge prefers the lowest id
    config = DesignConfig(iterations=2, samples=2, steps=1024, seeds=1, workers=2, final_seeds=0,
                          feedback="vlm", vlm="openai:tiny-vl", feedback_weight=1.0,
                          compare_baseline=False)
    run = RunDir.create(tmp_path / "run", {"task": task.id, "task_origin": tasks.recorded_origin(task),
                                           "config": config.__dict__, "llm": "scripted"})
    llm = ScriptedLLM([[answer(1.0), answer(2.0)], [answer(3.0), answer(4.0)]])
    judge = vlm.make_judge("openai:tiny-vl", run_dir=run.path, base_url=server.url, max_retries=0)
    summary = DesignLoop(task, run, config, llm, judge=judge).run_loop()
    assert server.errors == [] and len(server.requests) == 2
    assert [len(i) for i in server.images] == [2, 3]  # iteration 1 shows the previous best too
    assert summary["best"]["id"] == "0-0"  # the judge's first, twice (0-0 < 1-0 < 1-1)
    fb = load(run.path, 1)
    assert fb.pick == "0-0" and fb.order == ["0-0", "1-0", "1-1"]
    # the judge's words are the next iteration's prompt; its tokens count with the LLM's
    assert "0-0 drifts to the side" in llm.requests[1][-1]["content"]
    assert summary["tokens"]["prompt"] == 2 * 100 + 2 * 1000
    calls = [e for e in run.events() if e.get("event") == "judge_call"]
    assert [c["iteration"] for c in calls] == [0, 1]
    html = write_report(run.path).read_text()
    assert "keyframes/strip.png" in html and "1-1 drifts to the side" in html


def test_design_refuses_a_judge_that_cannot_see_before_the_run_exists(tmp_path):
    from typer.testing import CliRunner

    from rewardsmith.cli.main import app

    run = tmp_path / "run"
    for extra, why in ((["--llm", "offline"], "cannot look at images"),
                       (["--llm", "offline", "--vlm", "gpt-4o"], "unknown judge 'gpt-4o'")):
        out = CliRunner().invoke(app, ["design", "--task", TASK, "--feedback", "vlm",
                                       "--run-dir", str(run), *extra])
        assert out.exit_code != 0 and why in out.output, out.output
        assert not run.exists()
    out = CliRunner().invoke(app, ["design", "--task", TASK, "--feedback", "vlm",
                                   "--feedback-weight", "1.5", "--run-dir", str(run)])
    assert out.exit_code != 0 and not run.exists()
