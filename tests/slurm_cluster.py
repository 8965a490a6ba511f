"""A real single-node Slurm (Debian's slurm-wlm 22.05) with accounting, for the cluster test.

Starts munged, MariaDB, slurmdbd, slurmctld and slurmd in the foreground as child processes,
so that exactly those are stopped afterwards. The node offers GPUS schedulable GPUs, each backed
by /dev/null (no GPU is needed), so that two training jobs can run at once. Needs root: the
configuration must live in /etc/slurm, where the plugin's job step looks for it; files found
there are put back on stop.
"""

import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

CLUSTER, ACCOUNT, PARTITION, GPU_PARTITION = "unusedtokens", "testacct", "debug", "gpu"
GPUS = 2
DAEMONS = ("munged", "mariadbd", "slurmdbd", "slurmctld", "slurmd")
PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge", "slurmdbd", "mariadb-server")


def missing():
    """Why this machine cannot run the cluster, or None."""
    if os.geteuid() != 0:
        return "needs root"
    absent = [d for d in DAEMONS if shutil.which(d) is None]
    if absent:
        return f"missing {', '.join(absent)} (Debian packages {' '.join(PACKAGES)})"
    return None


def _wait(check, what, timeout=60):
    deadline = time.monotonic() + timeout
    while subprocess.run(check, capture_output=True).returncode != 0:
        if time.monotonic() > deadline:
            raise RuntimeError(f"Slurm test cluster: {what} did not come up within {timeout}s")
        time.sleep(0.5)


class SlurmCluster:
    def __init__(self, root):
        self.root = Path(root)
        self.processes = {}
        self.saved = {}
        self.host = socket.gethostname()

    # --- configuration -------------------------------------------------------------------

    def _node_line(self):
        detected = subprocess.run(["slurmd", "-C"], capture_output=True, text=True, check=True)
        node = detected.stdout.splitlines()[0]
        return f"{node} Gres=gpu:{GPUS} NodeAddr=127.0.0.1 State=UNKNOWN"

    def _write_config(self):
        for name in ("state", "spool", "log"):
            (self.root / name).mkdir(parents=True, exist_ok=True)
        gpus = [self.root / f"gpu{i}" for i in range(GPUS)]
        for gpu in gpus:
            gpu.symlink_to("/dev/null")
        log = self.root / "log"
        files = {
            "slurm.conf": f"""
ClusterName={CLUSTER}
SlurmctldHost={self.host}(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/backfill
MpiDefault=none
ReturnToService=2
StateSaveLocation={self.root}/state
SlurmdSpoolDir={self.root}/spool
SlurmctldPidFile={self.root}/slurmctld.pid
SlurmdPidFile={self.root}/slurmd.pid
SlurmctldLogFile={log}/slurmctld.log
SlurmdLogFile={log}/slurmd.log
AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=127.0.0.1
AccountingStorageTRES=gres/gpu
AccountingStoreFlags=job_comment
GresTypes=gpu
MinJobAge=300
{self._node_line()}
PartitionName={PARTITION} Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName={GPU_PARTITION} Nodes=ALL Default=NO MaxTime=INFINITE State=UP
""",
            "gres.conf": "AutoDetect=off\n"
            + "".join(f"NodeName={self.host} Name=gpu File={gpu}\n" for gpu in gpus),
            "slurmdbd.conf": f"""
AuthType=auth/munge
DbdAddr=127.0.0.1
DbdHost={self.host}
SlurmUser=root
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=slurm
StorageLoc=slurm_acct_db
LogFile={log}/slurmdbd.log
PidFile={self.root}/slurmdbd.pid
""",
        }
        etc = Path("/etc/slurm")
        etc.mkdir(exist_ok=True)
        for name, text in files.items():
            path = etc / name
            self.saved[path] = path.read_bytes() if path.exists() else None
            path.write_text(text.lstrip())
        (etc / "slurmdbd.conf").chmod(0o600)

    # --- daemons ---------------------------------------------------------------------------

    def _start(self, name, *cmd):
        out = open(self.root / "log" / f"{name}.out", "w")
        self.processes[name] = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)

    def start(self):
        self._write_config()
        for run_dir, owner in (("/run/munge", "munge"), ("/run/mysqld", "mysql")):
            Path(run_dir).mkdir(exist_ok=True)
            shutil.chown(run_dir, owner, owner)
        self._start("munged", "munged", "--foreground", "--force")
        _wait(["munge", "-n"], "munged")
        self._start("mariadbd", "mariadbd", "--user=mysql", "--bind-address=127.0.0.1")
        _wait(["mariadb", "-e", "select 1"], "mariadbd")
        subprocess.run(
            [
                "mariadb",
                "-e",
                "CREATE DATABASE IF NOT EXISTS slurm_acct_db;"
                "CREATE USER IF NOT EXISTS 'slurm'@'localhost' IDENTIFIED BY 'slurm';"
                "GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';",
            ],
            check=True,
        )
        self._start("slurmdbd", "slurmdbd", "-D")
        _wait(["sacctmgr", "-n", "list", "cluster"], "slurmdbd")
        subprocess.run(["sacctmgr", "-i", "add", "cluster", CLUSTER], capture_output=True)
        self._start("slurmctld", "slurmctld", "-D", "-c")
        _wait(["scontrol", "ping"], "slurmctld")
        self._start("slurmd", "slurmd", "-D")
        _wait(["sh", "-c", f"sinfo -h -n {self.host} -o %T | grep -qx idle"], "the node")
        subprocess.run(
            ["sacctmgr", "-i", "add", "account", ACCOUNT, f"Cluster={CLUSTER}"], capture_output=True
        )
        subprocess.run(
            [
                "sacctmgr",
                "-i",
                "add",
                "user",
                "root",
                f"Account={ACCOUNT}",
                f"DefaultAccount={ACCOUNT}",
            ],
            capture_output=True,
        )

    def stop(self):
        """Stop the daemons started here (in reverse order) and put /etc/slurm back."""
        for name in reversed(list(self.processes)):
            process = self.processes[name]
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
        for path, content in self.saved.items():
            if content is None:
                path.unlink(missing_ok=True)
            else:
                path.write_bytes(content)
        self.saved = {}

    def running(self):
        return [name for name, p in self.processes.items() if p.poll() is None]
