"""Soak runs for docs/RELIABILITY.md: does memory stay flat and latency stay put over a long run?

    python scripts/soak.py live  [--frames 10000] [--source lavfi:testsrc2=size=64x48:rate=1000]
    python scripts/soak.py video [--frames 3000]  [--size 64x48]

`live` runs the real `derain live ... --no-display --max-frames N --json` as a child process and
reads its resident memory from /proc every half second; the latency per period comes from the
run's own summary. `video` makes a long clip and runs derain_video (what `derain video` runs) on
it in a child process the same way, and takes the time per frame for each tenth of the run from
the progress it reports. Both print
one JSON object: RSS after warm-up, at the end, at most, and the latency or frame time per period.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "tests"))  # the test clip maker


def rss_mib(pid: int) -> float | None:
    try:
        with open(f"/proc/{pid}/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def watch(command: list[str], on_line=None) -> tuple[subprocess.CompletedProcess, list[tuple[float, float]]]:
    """Run `command`, sampling its RSS; `on_line(t, line)` sees each stderr line as it comes."""
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
    samples: list[tuple[float, float]] = []
    err_lines: list[str] = []
    def read_err() -> None:
        for line in process.stderr:
            err_lines.append(line)
            if on_line:
                on_line(time.monotonic() - started, line)

    reader = threading.Thread(target=read_err, daemon=True)
    reader.start()
    while process.poll() is None:
        rss = rss_mib(process.pid)
        if rss is not None:
            samples.append((round(time.monotonic() - started, 2), round(rss, 1)))
        time.sleep(0.5)
    out = process.stdout.read()
    reader.join()
    return subprocess.CompletedProcess(command, process.returncode, out, "".join(err_lines)), samples


def rss_report(samples: list[tuple[float, float]], warm_time: float) -> dict:
    """RSS once warmed up (from `warm_time` seconds on), at the end, and at most."""
    end_time = samples[-1][0]
    warm = next(rss for t, rss in samples if t >= warm_time)
    steady = [rss for t, rss in samples if t >= warm_time]
    return {
        "rss_mib_after_warmup": warm, "rss_mib_end": samples[-1][1], "rss_mib_max": max(rss for _, rss in samples),
        "rss_mib_growth_after_warmup": round(samples[-1][1] - warm, 1),
        "rss_mib_steady_range": [min(steady), max(steady)], "samples": len(samples), "seconds": end_time,
        # RSS at each tenth of the run: a leak climbs to the end, a warm-up levels off
        "rss_mib_per_tenth": [next(rss for t, rss in samples if t >= end_time * i / 10) for i in range(1, 11)],
    }


def soak_live(args: argparse.Namespace) -> dict:
    command = [sys.executable, str(REPO / "cli.py"), "live", args.source, "--no-display", "--max-frames", str(args.frames),
               "--json", "--backend", args.backend, "--device", args.device, "-q"]
    done, samples = watch(command)
    if done.returncode:
        raise SystemExit(done.stderr)
    summary = json.loads(done.stdout.splitlines()[-1])
    # no progress to go by: a tenth of the run (start-up takes a few seconds of it)
    return {"command": "derain " + " ".join(command[2:]), **rss_report(samples, samples[-1][0] / 10),
            "frames_out": summary["frames_out"], "fps_out": summary["fps_out"], "latency_ms": summary["latency_ms"],
            "inference_ms": summary["inference_ms"], "period_s": summary["period_s"],
            "latency_p95_ms_per_period": summary["latency_p95_ms_per_period"]}


def soak_video(args: argparse.Namespace) -> dict:
    from test_video_clips import make_clip

    width, height = (int(v) for v in args.size.split("x"))
    folder = Path(tempfile.mkdtemp(prefix="soak-"))
    clip = folder / "long.mp4"
    make_clip(clip, frames=args.frames, size=(width, height), rate=25)
    # the library's derain_video, as `derain video` calls it, in a child process whose progress
    # callback prints each count: a progress bar draws nothing when stderr is not a terminal
    child = (
        "import sys, time\n"
        "from stream_derain.pipeline import derain_video\n"
        "summary = derain_video(sys.argv[1], sys.argv[2], backend=sys.argv[3], device=sys.argv[4], progress=lambda done, total: "
        "print(f'@@ {time.monotonic()} {done}', file=sys.stderr, flush=True))\n"
        "import json; print(json.dumps(summary.to_dict()))\n"
    )
    command = [sys.executable, "-c", child, str(clip), str(folder / "out.mp4"), args.backend, args.device]
    progress: list[tuple[float, int]] = []

    def on_line(t: float, line: str) -> None:
        if line.startswith("@@ "):
            progress.append((t, int(line.split()[2])))

    done, samples = watch(command, on_line)
    if done.returncode:
        raise SystemExit(done.stderr)
    summary = json.loads(done.stdout.splitlines()[-1])
    periods = []
    if len(progress) > 10:  # ms per frame over each tenth of the run
        marks = [progress[round(i * (len(progress) - 1) / 10)] for i in range(11)]
        periods = [round(1e3 * (t1 - t0) / max(n1 - n0, 1), 2) for (t0, n0), (t1, n1) in zip(marks, marks[1:])]
    return {"command": f"derain_video({clip.name}, out.mp4, backend={args.backend!r}, device={args.device!r}) (as derain video)", "clip": f"{args.frames} frames {args.size}",
            **rss_report(samples, next(t for t, n in progress if n >= args.frames / 10)), "frames": summary["frames"], "fps": summary["fps"], "ms_per_frame_per_tenth": periods}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=("live", "video"))
    parser.add_argument("--frames", type=int, default=None)
    parser.add_argument("--source", default="lavfi:testsrc2=size=64x48:rate=1000")
    parser.add_argument("--size", default="64x48")
    parser.add_argument("--backend", default="torch")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    args.frames = args.frames or (10_000 if args.mode == "live" else 3000)
    report = soak_live(args) if args.mode == "live" else soak_video(args)
    print(json.dumps(report))


if __name__ == "__main__":
    main()
