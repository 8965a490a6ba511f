"""Train jobs that hand their run to a warm trainer process (runtime.shared_process).

A fresh train job pays, before its model is on the device, for starting Python, importing torch
and torch.compile's machinery and creating the device's context: on the lent GPUs about 14 of a
warm job's 26-29 s (docs/speed.md). With runtime.shared_process the train rule's job stays a
job of its own (its outputs, log, benchmark and rerun semantics are Snakemake's, as before), but
its script only hands the job over to a trainer, a process that outlives it: the first job on a
machine starts one, and the jobs after it find it warm. The trainer runs exactly what the
script would have run (train_job.train_stage), writes the job's log file and sends the log's
lines back, which the script prints, so that the console reads the same.

A trainer trains one run at a time. Jobs side by side (`--resources gpu=N`) each hold a slot, a
file lock, with its own trainer, so that at most N trainers run. A trainer ends after IDLE_S
seconds without a job and after any job that fails. Trainers are keyed by the working
directory, the Python, the hashes of the train rule's helper modules and the environment that
torch reads, so an edited module or another environment gets a new trainer, never a stale one.
Ctrl-C or a scheduler's SIGTERM reaches the trainer through the job's script; a script that is
killed outright closes its connection, which the trainer takes for SIGTERM. Either way the run
stops as it would alone, its state saved for the next try.

The trainer and its jobs share a machine (a Unix socket under the temporary folder): on a cluster
each job starts its own, which gains nothing and costs nothing. The trainers' folder is the
user's alone (mode 0700, checked with its owner before any use): a job is a pickle, and a
folder another user made beforehand would let that user's process take it.
"""

import contextlib
import hashlib
import json
import logging
import os
import pickle
import signal
import socket
import stat
import struct
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from ..pipeline.errors import INTERRUPTED

IDLE_S = 60  # a trainer without a job for this long ends
START_S = 600  # how long a job waits for a new trainer to listen
SLOTS = 64  # trainers side by side at most, one per job
ENVIRONMENT = ("CUDA", "TORCH", "PYTORCH", "OMP", "MKL")  # variables that shape a trainer
PACKAGE_PARENT = Path(__file__).resolve().parents[2]  # the folder holding unused_tokens/


class TrainerGone(Exception):
    """The trainer ended without finishing the job (a plain rerun goes on)."""


class NoTrainer(Exception):
    """No trainer could take the job: its folder is unsafe, or the trainer could not start."""


def hand_over(job):
    """The train rule's script with runtime.shared_process: the job runs in a warm trainer;
    exits with the trainer's status (0 when the run's outputs are written)."""
    try:
        status = submit(job)
    except TrainerGone as err:
        status = say(job, f"{err}; run the same command again to go on", 1)
    except (NoTrainer, OSError) as err:
        status = say(
            job,
            f"the shared trainer process failed: {err}; set "
            "runtime.shared_process: false to train in the job's own process",
            1,
        )
    except KeyboardInterrupt:
        status = say(
            job,
            "interrupted (Ctrl-C) before a trainer took the job; run the same "
            "command again to go on",
            INTERRUPTED,
        )
    if status:
        sys.exit(status)


def say(job, line, status):
    """Add `line` to the job's log and the console; returns `status`."""
    with open(job.log[0], "a") as log:
        log.write(f"train: {line}\n")
    print(f"train: {line}", file=sys.stderr)
    return status


def submit(job, trainers=None):
    """Run `job` in a trainer of the folder `trainers` (the job's own by default), started if
    none is warm; its log lines go to stderr as they come; returns its exit status."""
    trainers = Path(trainers or trainers_folder(job))
    with Slot(trainers) as slot:
        with connect(trainers, slot) as conn:
            send(conn, pickle.dumps(job))
            return relay(conn, trainers / f"slot{slot}.log")


def trainers_folder(job):
    """The folder of the trainers that may take `job`: one per working directory, Python,
    helper modules and torch's environment, under the temporary folder."""
    identity = [os.getcwd(), sys.executable, json.dumps(job.params.helpers, sort_keys=True)]
    identity += sorted(f"{k}={v}" for k, v in os.environ.items() if k.startswith(ENVIRONMENT))
    key = hashlib.sha256("\0".join(identity).encode()).hexdigest()[:16]
    folder = private_folder(Path(tempfile.gettempdir()) / f"unused-tokens-trainers-{os.getuid()}")
    (folder / key).mkdir(exist_ok=True)
    return folder / key


def private_folder(path):
    """`path`, made with mode 0700 where it is missing; NoTrainer where it is not a folder of
    this user's that only this user may enter (a link, another user's, open to others)."""
    with contextlib.suppress(FileExistsError):
        path.mkdir(mode=0o700)
    info, elsewhere = os.lstat(path), "or set TMPDIR to a folder of your own"
    if not stat.S_ISDIR(info.st_mode):
        raise NoTrainer(f"{path} is not a folder: remove it, {elsewhere}")
    if info.st_uid != os.getuid():
        raise NoTrainer(
            f"{path} belongs to user {info.st_uid}, not to this user ({os.getuid()}), who could "
            f"read the jobs handed there: remove it, {elsewhere}"
        )
    if info.st_mode & 0o077:
        raise NoTrainer(
            f"{path} may be entered by other users (mode {stat.S_IMODE(info.st_mode):o}, not "
            f"700): chmod 700 it, {elsewhere}"
        )
    return path


class Slot:
    """The first free slot of a trainers folder, held (a file lock) for one job."""

    def __init__(self, folder):
        self.folder = folder

    def __enter__(self):
        for number in range(SLOTS):
            self.lock = take_lock(self.folder / f"slot{number}.lock")
            if self.lock is not None:
                return number
        raise NoTrainer(f"all {SLOTS} trainer slots in {self.folder} are taken")

    def __exit__(self, *exc):
        os.close(self.lock)


def take_lock(path):
    """A descriptor holding the exclusive lock on `path`, or None when another process has it."""
    import fcntl  # POSIX only, like the Unix socket

    descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(descriptor)
        return None
    return descriptor


def connect(folder, slot):
    """A connection to the slot's trainer, started when none listens (a socket left by a
    trainer that died is removed first)."""
    path = folder / f"slot{slot}.sock"
    try:
        return dial(path)
    except (FileNotFoundError, ConnectionRefusedError):
        path.unlink(missing_ok=True)
    log = folder / f"slot{slot}.log"
    python_path = [str(PACKAGE_PARENT), *filter(None, [os.environ.get("PYTHONPATH")])]
    with open(log, "ab") as output:
        trainer = subprocess.Popen(
            [sys.executable, "-m", __name__, str(folder), str(slot)],
            env={**os.environ, "PYTHONPATH": os.pathsep.join(python_path)},
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C reaches it through the job, which forwards it
        )
    deadline = time.monotonic() + START_S
    while True:
        try:
            return dial(path)
        except (FileNotFoundError, ConnectionRefusedError):
            if trainer.poll() is not None:
                raise NoTrainer(
                    f"the trainer ended at its start with status {trainer.returncode}; "
                    f"its output is in {log}"
                ) from None
            if time.monotonic() > deadline:
                trainer.kill()
                raise NoTrainer(f"the trainer did not listen within {START_S} s") from None
            time.sleep(0.05)


def dial(path):
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        with inside(path.parent):
            conn.connect(path.name)
    except OSError:
        conn.close()
        raise
    return conn


@contextlib.contextmanager
def inside(folder):
    """`folder` as the working directory meanwhile: sockets are named relative to it, as a Unix
    socket's whole path must stay under about 100 bytes (a deep $TMPDIR's would not)."""
    back = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(back)


def relay(conn, trainer_log):
    """Print the trainer's messages until its exit status, which is returned. Ctrl-C and
    SIGTERM received meanwhile are passed on to the trainer, which stops the run as the job
    would alone."""
    trainer = None

    def pass_on(signum, frame):
        if trainer is None:
            raise KeyboardInterrupt
        os.kill(trainer, signum)

    previous = {s: signal.signal(s, pass_on) for s in (signal.SIGINT, signal.SIGTERM)}
    try:
        for line in conn.makefile("rb"):
            message = json.loads(line)
            if "exit" in message:
                return message["exit"]
            if "pid" in message:
                trainer = message["pid"]
            else:
                sys.stderr.write(message["text"])
                sys.stderr.flush()
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    output = trainer_log.exists() and trainer_log.stat().st_size
    said = f" (its last output is in {trainer_log})" if output else ""
    raise TrainerGone(
        f"the trainer process{f' {trainer}' if trainer else ''} ended during the job without "
        f"finishing it (killed?){said}; the run's state is saved every "
        "runtime.checkpoint_every steps"
    )


def send(conn, payload):
    conn.sendall(struct.pack("!Q", len(payload)) + payload)


def receive(conn):
    """One payload that `send` sent."""
    stream = conn.makefile("rb")
    (size,) = struct.unpack("!Q", stream.read(8))
    return stream.read(size)


class Messages:
    """The trainer's side of a connection: JSON lines, one writer at a time (the log's heartbeat
    writes from its own thread). As a file, it sends what is written as text lines."""

    def __init__(self, conn):
        self.conn, self.lock = conn, threading.Lock()

    def send(self, **message):
        with self.lock:
            self.conn.sendall(json.dumps(message).encode() + b"\n")

    def write(self, text):
        """Send `text`, while the job's script is there to print it (the log file keeps it)."""
        if text:
            with contextlib.suppress(OSError):
                self.send(text=text)
        return len(text)

    def flush(self):
        pass


def serve(folder, slot, run=None):
    """A trainer: take one job at a time on the slot's socket and run it with `run` (the train
    rule's stage by default), until a job fails, Ctrl-C or SIGTERM comes, or IDLE_S seconds
    pass with the slot free; then it leaves nothing behind in `folder` but what says why a job
    failed."""
    folder = Path(folder)
    path, lock, stop, jobs = folder / f"slot{slot}.sock", None, Stop(), 0
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    with inside(folder):
        # The socket takes its name only once it listens: a job that finds it bound but deaf
        # would take it for a dead trainer's, remove it and start another trainer.
        unnamed = Path(f"{path.name}.new")
        unnamed.unlink(missing_ok=True)  # left by a trainer killed at its start
        listener.bind(unnamed.name)
        listener.listen(1)
        own = unnamed.stat().st_ino  # before it has the name another may then take
        unnamed.rename(path.name)
    listener.settimeout(IDLE_S)
    try:
        while lock is None and not stop.noted:
            try:
                with stop.allowed():
                    conn, _ = listener.accept()
            except TimeoutError:
                lock = take_lock(folder / f"slot{slot}.lock")  # None: a job is on its way
                continue
            except KeyboardInterrupt:
                break
            with conn:
                jobs += 1
                if serve_one(conn, jobs, run or run_train_stage, stop):
                    break
    finally:
        with contextlib.suppress(FileNotFoundError):
            if path.stat().st_ino == own:  # not a trainer's started after this one seemed dead
                path.unlink()
        listener.close()
    if stop.noted and lock is None:
        lock = take_lock(folder / f"slot{slot}.lock")
    if lock is not None:
        for name in (f"slot{slot}.log", f"slot{slot}.lock"):
            (folder / name).unlink(missing_ok=True)
        for empty in (folder, folder.parent):
            try:
                empty.rmdir()
            except OSError:  # another slot's files, or another study's trainers
                break


class Stop:
    """Ctrl-C and SIGTERM to a trainer: a KeyboardInterrupt where it may stop at once (waiting
    for a job, or running one, where the run's own handling takes over), noted elsewhere
    (between a job's end and its reply), so that the trainer always ends cleanly."""

    def __init__(self):
        self.now = self.noted = False
        for each in (signal.SIGINT, signal.SIGTERM):
            signal.signal(each, self.note)

    def note(self, signum, frame):
        self.noted = True
        if self.now:
            raise KeyboardInterrupt

    @contextlib.contextmanager
    def allowed(self):
        self.now = True
        try:
            if self.noted:
                raise KeyboardInterrupt
            yield
        finally:
            self.now = False


def serve_one(conn, jobs, run, stop):
    """Run the job sent on `conn` with `run`, sending its log's lines and then its exit status,
    which is returned. The job's end of the connection closing means its script was killed:
    the run is stopped as by SIGTERM."""
    conn.settimeout(None)
    messages = Messages(conn)
    messages.send(pid=os.getpid())
    job = pickle.loads(receive(conn))
    finished = threading.Event()

    def watch():
        try:
            conn.recv(1)
        except OSError:
            pass
        if not finished.is_set():
            os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=watch, daemon=True).start()
    console = sys.stderr
    sys.stderr = messages
    try:
        with stop.allowed():
            run(job, jobs)
        status = 0
    except SystemExit as end:
        status = (end.code or 0) if isinstance(end.code, int | None) else 1
    except KeyboardInterrupt:  # before the run began, or as it ended
        status = say(
            job,
            "interrupted as the trainer began or ended the run; run the same command again "
            "to go on",
            INTERRUPTED,
        )
    finally:
        sys.stderr = console
        finished.set()
        for handler in logging.root.handlers[:]:  # the job's log file and its console
            logging.root.removeHandler(handler)
            handler.close()
    try:
        messages.send(exit=status)
    except OSError:
        status = status or 1
    return status


def run_train_stage(job, jobs):
    """The train rule's stage, as its script would run it, then the trainer tidied for the
    next job."""
    from .train_job import forget_run, train_stage

    train_stage(job, trainer=(os.getpid(), jobs))
    forget_run()


if __name__ == "__main__":
    serve(sys.argv[1], int(sys.argv[2]))
