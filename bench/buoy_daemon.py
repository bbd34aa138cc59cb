"""What the buoy daemon costs as a whole process: CPU per cycle, peak memory, card writes, drain.

Everything is measured from outside, on real processes (``nemopi buoy run --simulate``,
``nemopi ingest``, a private Mosquitto), through ``/proc/<pid>``:

1. **Steady state.** The ingest runs; the buoy samples at the default 60 s interval on a reef
   clock ``--speedup`` times faster than real time, so each cycle is also delivered and
   confirmed live. After a warm-up, ``--windows`` windows of ``--window-s`` real seconds each
   give utime+stime of the daemon process divided by the samples it appended to its outbox
   (its ``next_seq`` counter). The emulator threads (GPS sentence writer, paddle-wheel pulse
   generator, w1 FIFO server), which a real buoy does not have, are measured per thread
   (``/proc/<pid>/task``) and subtracted; emulator work done synchronously in the calling
   thread (the I2C and serial emulators answering a driver, the reef model) cannot be told
   apart and stays in the figure. Status reports go out every 900 simulated seconds, as on
   the buoy, so their share per cycle is the real one.
2. **Peak RSS**: ``VmHWM`` of the daemon at the end of each phase.
3. **Card writes per day**: ``write_bytes`` (bytes the process dirtied in the page cache of a
   block-backed file system: outbox inserts, sent marks and deletes, the WAL and its
   checkpoints, the calibration and command logs) and ``wchar`` (every ``write()`` call,
   pipes and sockets included) over the steady-state windows, per sample, times 1,440 samples
   a day. The simulated w1 tree (FIFOs) lives on tmpfs, as sysfs does on the buoy. Compared
   with the readings themselves in wire format (one-sample batches, as sent live, and the
   per-sample share of a full 60-sample batch).
4. **Backlog drain**: a second buoy samples at ``--backlog-speedup`` with no broker and no
   ingest until ``--backlog`` samples wait; it is stopped, the broker and ingest start, and
   the buoy starts again on a real-time clock (as on the buoy, so pacing and resend timers are
   real seconds). Timed from the first confirmed row to an empty outbox.

    PYTHONPATH=. .venv/bin/python bench/buoy_daemon.py [--speedup 60] [--windows 5] \
        [--window-s 15] [--backlog 2000] [--backlog-speedup 300]
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from buoy.daemon import OUTBOX_FILE
from buoy.outbox import _unpack as unpack_outbox_row
from nemopi.demo_configs import (
    DEMO_BUOYS,
    SAMPLING_INTERVAL_S,
    DemoBuoy,
    write_buoy_config,
    write_ingest_config,
)
from nemopi.wire import Batch, encode
from tests.brokers import Mosquitto

NEMOPI = Path(sys.executable).with_name("nemopi")
DEFAULT_INTERVAL_S = 60.0
SAMPLES_PER_DAY = 86_400 / DEFAULT_INTERVAL_S
EMULATOR_THREADS = ("nmea-gps", "paddle-wheel", "w1-emulator")
TICKS = os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------ /proc readings


@dataclass(frozen=True)
class Snapshot:
    cpu_s: float
    emulator_cpu_s: float
    write_bytes: int
    wchar: int
    samples: int


def cpu_s(stat_path: Path) -> float:
    fields = stat_path.read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime (fields 14, 15)


def emulator_cpu_s(pid: int) -> float:
    total = 0.0
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            if task.joinpath("comm").read_text().strip() in EMULATOR_THREADS:
                total += cpu_s(task / "stat")
        except FileNotFoundError:  # the thread ended between listing and reading
            continue
    return total


def proc_io(pid: int) -> dict[str, int]:
    lines = Path(f"/proc/{pid}/io").read_text().splitlines()
    return {key: int(value) for key, value in (line.split(": ") for line in lines)}


def vm_hwm_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmHWM for pid {pid}")


def outbox_counts(data_dir: Path) -> tuple[int, int]:
    """(samples ever appended, samples waiting), read without writing the outbox."""
    path = data_dir / OUTBOX_FILE
    if not path.exists():
        return 0, 0
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)
    try:
        next_seq = db.execute("SELECT value FROM meta WHERE key = 'next_seq'").fetchone()
        depth = db.execute("SELECT COUNT(*) FROM samples").fetchone()[0]
    except sqlite3.OperationalError:  # tables not created yet
        return 0, 0
    finally:
        db.close()
    return (0 if next_seq is None else int(next_seq[0]) - 1), int(depth)


def snapshot(pid: int, data_dir: Path) -> Snapshot:
    io = proc_io(pid)
    return Snapshot(
        cpu_s(Path(f"/proc/{pid}/stat")),
        emulator_cpu_s(pid),
        io["write_bytes"],
        io["wchar"],
        outbox_counts(data_dir)[0],
    )


# ------------------------------------------------------------------ processes


@contextmanager
def process(args: list[str], log: Path) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        stop(proc)


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def wait_for(what: str, condition: Callable[[], bool], timeout_s: float, *procs: object) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        for proc in procs:
            if isinstance(proc, subprocess.Popen) and proc.poll() is not None:
                raise RuntimeError(f"{what}: {proc.args[:3]} exited with {proc.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what}: not within {timeout_s:.0f} s")
        time.sleep(0.1)


def buoy_config(folder: Path, buoy: DemoBuoy, port: int, speedup: float) -> tuple[Path, Path]:
    """The demo buoy's file at the default 60 s interval; its data folder, with the simulated
    w1 tree on tmpfs (it is sysfs on the buoy, not the card)."""
    path = write_buoy_config(folder, buoy, port, speedup)
    demo_line = f"interval_s = {SAMPLING_INTERVAL_S!r}\n"
    text = path.read_text()
    if demo_line not in text:
        raise RuntimeError(f"{path}: no {demo_line.strip()!r} to replace")
    path.write_text(text.replace(demo_line, f"interval_s = {DEFAULT_INTERVAL_S!r}\n"))
    data_dir = folder / "buoys" / buoy.buoy_id
    simulation = data_dir / "simulation"
    if not simulation.exists() and Path("/dev/shm").is_dir():
        simulation.symlink_to(tempfile.mkdtemp(prefix="nemopi-bench-", dir="/dev/shm"))
    return path, data_dir


def run_buoy(config: Path) -> list[str]:
    return [str(NEMOPI), "buoy", "run", "--config", str(config), "--simulate"]


# ------------------------------------------------------------------ the phases


def steady_state(folder: Path, broker: Mosquitto, args: argparse.Namespace) -> list[Snapshot]:
    config, data_dir = buoy_config(folder, DEMO_BUOYS[0], broker.port, args.speedup)
    ingest_config = write_ingest_config(folder, broker.port)
    ingest_cmd = [str(NEMOPI), "ingest", "--config", str(ingest_config)]
    buoy_cmd = run_buoy(config)
    with (
        process(ingest_cmd, folder / "ingest.log") as ingest,
        process(buoy_cmd, folder / "buoy.log") as buoy,
    ):
        wait_for("first sample", lambda: outbox_counts(data_dir)[0] > 0, 60, buoy, ingest)
        time.sleep(args.warmup_s)
        snaps = [snapshot(buoy.pid, data_dir)]
        for _ in range(args.windows):
            time.sleep(args.window_s)
            if buoy.poll() is not None or ingest.poll() is not None:
                raise RuntimeError("a process ended during the steady-state run; see the logs")
            snaps.append(snapshot(buoy.pid, data_dir))
        depth = outbox_counts(data_dir)[1]
        peak = vm_hwm_kib(buoy.pid)
    print(
        f"steady state: {DEMO_BUOYS[0].buoy_id}, interval {DEFAULT_INTERVAL_S:g} s, "
        f"speed-up {args.speedup:g} ({DEFAULT_INTERVAL_S / args.speedup:.2f} real s/cycle), "
        f"{args.windows} windows of {args.window_s:g} s after {args.warmup_s:g} s warm-up"
    )
    print(f"  outbox depth at the end: {depth} (live delivery keeps up when this stays small)")
    print(f"  peak RSS (VmHWM) of the daemon: {peak / 1024:.1f} MiB")
    return snaps


def report_cpu(snaps: list[Snapshot]) -> None:
    whole, emulators, net = [], [], []
    for a, b in itertools.pairwise(snaps):
        n = b.samples - a.samples
        if n <= 0:
            raise RuntimeError("a window without samples: the daemon stopped sampling")
        whole.append((b.cpu_s - a.cpu_s) / n * 1000)
        emulators.append((b.emulator_cpu_s - a.emulator_cpu_s) / n * 1000)
        net.append(whole[-1] - emulators[-1])
    print("  CPU per sampling cycle (ms, median of windows [min-max]):")
    for label, values in (
        ("whole daemon process", whole),
        ("emulator threads only", emulators),
        ("daemon minus emulator threads", net),
    ):
        print(
            f"    {label:30s} {statistics.median(values):7.2f}  "
            f"[{min(values):.2f}-{max(values):.2f}]"
        )


def wire_bytes_per_sample(data_dir: Path, buoy: str) -> tuple[float, float, int]:
    """(bytes of a one-sample batch, per-sample share of a 60-sample batch, readings a sample),
    from rows of a real outbox."""
    db = sqlite3.connect(f"file:{data_dir / OUTBOX_FILE}?mode=ro", uri=True, timeout=5)
    try:
        rows = db.execute("SELECT seq, body FROM samples ORDER BY seq LIMIT 600").fetchall()
    finally:
        db.close()
    if len(rows) < 60:
        raise RuntimeError(f"only {len(rows)} rows to size the wire format with")
    samples = [unpack_outbox_row(seq, body) for seq, body in rows]
    single = statistics.mean(len(encode(Batch(buoy, (s,)))) for s in samples)
    full = statistics.mean(
        len(encode(Batch(buoy, tuple(samples[i : i + 60])))) / 60
        for i in range(0, len(samples) - 59, 60)
    )
    readings = round(statistics.mean(len(s.values) for s in samples))
    return single, full, readings


def report_writes(snaps: list[Snapshot], single: float, full: float) -> None:
    n = snaps[-1].samples - snaps[0].samples
    write_bytes = (snaps[-1].write_bytes - snaps[0].write_bytes) / n
    wchar = (snaps[-1].wchar - snaps[0].wchar) / n
    print(
        f"card writes at the default schedule ({SAMPLES_PER_DAY:.0f} samples a day), "
        f"over {n} steady-state samples:"
    )
    print(
        f"  write_bytes {write_bytes:8.0f} B/sample  {write_bytes * SAMPLES_PER_DAY / 1e6:6.2f}"
        " MB/day  (outbox insert+sent mark+delete, WAL and checkpoints, calibration/command "
        "logs; page-granular)"
    )
    print(
        f"  wchar       {wchar:8.0f} B/sample  {wchar * SAMPLES_PER_DAY / 1e6:6.2f}"
        " MB/day  (every write() call, sockets, pipes and log lines included)"
    )
    print(
        f"  readings in wire format: {single:.0f} B/sample in a one-sample batch (live), "
        f"{full:.0f} B/sample in a 60-sample batch"
    )
    print(
        f"  write amplification (write_bytes / wire bytes): {write_bytes / single:.0f}x "
        f"against one-sample batches, {write_bytes / full:.0f}x against 60-sample batches"
    )


def backlog(folder: Path, args: argparse.Namespace) -> tuple[float, float, int]:
    """Accumulate ``args.backlog`` samples with no link, then drain them: (samples/s, seconds
    from the restart to the first confirmation, peak RSS KiB while draining)."""
    buoy = DEMO_BUOYS[1]
    broker_dir = folder / "broker-backlog"
    broker_dir.mkdir()
    broker = Mosquitto(broker_dir)  # not started: the link is down while the backlog grows
    config, data_dir = buoy_config(folder / "backlog", buoy, broker.port, args.backlog_speedup)
    started = time.monotonic()
    with process(run_buoy(config), folder / "backlog.log") as daemon:
        wait_for(
            f"{args.backlog} samples in the outbox",
            lambda: outbox_counts(data_dir)[0] >= args.backlog,
            args.timeout_s,
            daemon,
        )
    appended, waiting = outbox_counts(data_dir)
    print(
        f"backlog: {appended} samples appended in {time.monotonic() - started:.0f} s "
        f"at speed-up {args.backlog_speedup:g} with no broker; {waiting} wait"
    )
    single, full, readings = wire_bytes_per_sample(data_dir, buoy.buoy_id)
    text = config.read_text()
    config.write_text(text.replace(f"speedup = {args.backlog_speedup!r}", "speedup = 1.0"))
    ingest_config = write_ingest_config(folder / "backlog", broker.port)
    broker.start()
    try:
        ingest_cmd = [str(NEMOPI), "ingest", "--config", str(ingest_config)]
        with process(ingest_cmd, folder / "backlog-ingest.log") as ingest:
            time.sleep(3)  # the ingest subscribes before the buoy sends
            restarted = time.monotonic()
            with process(run_buoy(config), folder / "backlog.log") as d:
                wait_for(
                    "first confirmation",
                    lambda: outbox_counts(data_dir)[1] < waiting,
                    args.timeout_s,
                    d,
                    ingest,
                )
                first = time.monotonic()
                before = outbox_counts(data_dir)[1]
                wait_for(
                    "an empty outbox",
                    lambda: outbox_counts(data_dir)[1] == 0,
                    args.timeout_s,
                    d,
                    ingest,
                )
                drained = time.monotonic()
                peak = vm_hwm_kib(d.pid)
    finally:
        broker.stop()
    rate = before / (drained - first)
    print(
        f"  drain on a real-time clock: first confirmation {first - restarted:.1f} s after the "
        f"restart, then {before} samples in {drained - first:.1f} s"
    )
    print(
        f"  drain rate: {rate:,.0f} samples/s = {rate * readings:,.0f} readings/s "
        f"({readings} readings a sample)"
    )
    print(f"  peak RSS (VmHWM) of the daemon while draining: {peak / 1024:.1f} MiB")
    return single, full, readings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speedup", type=float, default=60.0)
    parser.add_argument("--warmup-s", type=float, default=15.0)
    parser.add_argument("--windows", type=int, default=5)
    parser.add_argument("--window-s", type=float, default=15.0)
    parser.add_argument("--backlog", type=int, default=2000)
    parser.add_argument("--backlog-speedup", type=float, default=300.0)
    parser.add_argument("--timeout-s", type=float, default=300.0)
    parser.add_argument("--keep", action="store_true", help="keep the work folder and logs")
    args = parser.parse_args()
    folder = Path(tempfile.mkdtemp(prefix="nemopi-bench-"))  # on disk: write_bytes needs it
    try:
        broker_dir = folder / "broker"
        broker_dir.mkdir()
        broker = Mosquitto(broker_dir).start()
        try:
            snaps = steady_state(folder, broker, args)
        finally:
            broker.stop()
        report_cpu(snaps)
        single, full, _ = backlog(folder, args)
        report_writes(snaps, single, full)
    finally:
        for link in [p for p in folder.rglob("simulation") if p.is_symlink()]:
            shutil.rmtree(link.resolve(), ignore_errors=True)
        if args.keep:
            print(f"work folder kept: {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
