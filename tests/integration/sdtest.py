"""systemd-side test helpers for kibana-connector-monitor (issue 5).

* NotifySink: a test-owned NOTIFY_SOCKET (AF_UNIX datagram, SO_PASSCRED)
  collecting every message with the sender's pid (test-tooling.md section 3).
* A native journal protocol collector, run as
      python3 sdtest.py collect SOCKET OUTFILE
  that decodes KEY=VALUE\\n and KEY\\n<le64 len><bytes>\\n (and the memfd
  path) and appends one JSON line per entry to OUTFILE; and
      python3 sdtest.py stuck SOCKET
  that binds the socket and never reads (a stuck journald).
* JournalDaemon: starts the daemon inside a private mount namespace
  (`unshare -m`) where /run/systemd is a tmpfs and /run/systemd/journal/socket
  is owned by one of the above.  Needs root.
"""

import json
import os
import socket
import struct
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
JOURNAL_SOCKET = "/run/systemd/journal/socket"


class NotifySink:
    def __init__(self, path):
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.settimeout(0.2)
        self.messages = []      # (monotonic time, pid, text)
        self.lock = threading.Lock()
        self.running = True
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while self.running:
            try:
                data, anc, _, _ = self.sock.recvmsg(65536, socket.CMSG_SPACE(12))
            except socket.timeout:
                continue
            except OSError:
                return
            pid = None
            for level, typ, c in anc:
                if level == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("iII", c[:12])[0]
            with self.lock:
                self.messages.append((time.monotonic(), pid,
                                      data.decode("utf-8", "replace")))

    def snapshot(self):
        with self.lock:
            return list(self.messages)

    def assignments(self):
        """[(time, pid, {KEY: value})] per datagram."""
        out = []
        for t, pid, text in self.snapshot():
            kv = {}
            for line in text.split("\n"):
                if "=" in line:
                    k, v = line.split("=", 1)
                    kv[k] = v
            out.append((t, pid, kv))
        return out

    def close(self):
        self.running = False
        self.thread.join(2)
        self.sock.close()


# ---------------------------------------------------------------------------
# the native journal protocol

def parse_native(buf):
    """[(key, value)] from one native-protocol datagram (bytes values)."""
    fields = []
    i = 0
    n = len(buf)
    while i < n:
        nl = buf.find(b"\n", i)
        if nl < 0:
            raise ValueError("unterminated field at %d" % i)
        line = buf[i:nl]
        eq = line.find(b"=")
        if eq >= 0:
            fields.append((line[:eq].decode(), line[eq + 1:]))
            i = nl + 1
        else:
            key = line.decode()
            (ln,) = struct.unpack("<Q", buf[nl + 1:nl + 9])
            val = buf[nl + 9:nl + 9 + ln]
            if buf[nl + 9 + ln:nl + 10 + ln] != b"\n":
                raise ValueError("binary field %s not terminated" % key)
            fields.append((key, val))
            i = nl + 10 + ln
    return fields


def _bind(path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    s.bind(path)
    os.chmod(path, 0o666)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
    return s


def collect(path, outfile):
    s = _bind(path)
    with open(outfile, "a", encoding="utf-8") as out:
        out.write(json.dumps({"ready": True}) + "\n")
        out.flush()
        while True:
            data, anc, _, _ = s.recvmsg(16 * 1024 * 1024, socket.CMSG_SPACE(64))
            pid = None
            for level, typ, c in anc:
                if level == socket.SOL_SOCKET and typ == socket.SCM_RIGHTS:
                    fd = struct.unpack("i", c[:4])[0]
                    os.lseek(fd, 0, 0)
                    with os.fdopen(fd, "rb") as f:
                        data = f.read()
                elif level == socket.SOL_SOCKET and typ == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("iII", c[:12])[0]
            try:
                fields = [[k, v.decode("utf-8", "surrogateescape")]
                          for k, v in parse_native(data)]
                rec = {"pid": pid, "fields": fields}
            except (ValueError, struct.error) as e:
                rec = {"pid": pid, "error": str(e), "raw": data.decode("latin-1")}
            out.write(json.dumps(rec) + "\n")
            out.flush()


def stuck(path):
    s = _bind(path)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sys.stdout.write("ready\n")
    sys.stdout.flush()
    while True:
        time.sleep(3600)


def read_entries(outfile):
    """Entries the collector wrote: [{"pid":..,"fields":[[k,v],..]}]."""
    out = []
    try:
        with open(outfile, encoding="utf-8") as f:
            for line in f:
                if not line.endswith("\n"):
                    break
                rec = json.loads(line)
                if "ready" not in rec:
                    out.append(rec)
    except FileNotFoundError:
        pass
    return out


def can_unshare():
    if os.geteuid() != 0:
        return "needs root for unshare -m"
    p = subprocess.run(["unshare", "-m", "--propagation", "private", "true"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, timeout=10)
    if p.returncode != 0:
        return "unshare -m failed: %s" % p.stderr.decode(errors="replace").strip()
    return None


def namespace_wrapper(mode, tmp, journal_stream=False):
    """argv prefix that runs "$@" in a private mount namespace with a
    journal socket owned by `mode` (collect | stuck)."""
    out = os.path.join(tmp, "journal.jsonl")
    ready = os.path.join(tmp, "journal.ready")
    pidfile = os.path.join(tmp, "journal.pid")
    if mode == "collect":
        start = 'python3 %s collect %s %s & echo $! > %s\n' % (
            os.path.join(HERE, "sdtest.py"), JOURNAL_SOCKET, out, pidfile)
    else:
        start = 'python3 %s stuck %s > %s & echo $! > %s\n' % (
            os.path.join(HERE, "sdtest.py"), JOURNAL_SOCKET, ready, pidfile)
    script = (
        "set -e\n"
        "mkdir -p /run/systemd\n"
        "mount -t tmpfs -o mode=755 tmpfs /run/systemd\n"
        + start +
        "i=0; while [ ! -S %s ] && [ $i -lt 200 ]; do sleep 0.02; i=$((i+1)); done\n"
        % JOURNAL_SOCKET
        + ("export JOURNAL_STREAM=$(stat -L -c '%d:%i' /proc/self/fd/2)\n"
           if journal_stream else "")
        + 'exec "$@"\n')
    return ["unshare", "-m", "--propagation", "private", "sh", "-c", script, "sh"], out, pidfile


if __name__ == "__main__":
    if sys.argv[1] == "collect":
        collect(sys.argv[2], sys.argv[3])
    elif sys.argv[1] == "stuck":
        stuck(sys.argv[2])
    else:
        sys.exit("usage: sdtest.py collect SOCKET OUTFILE | stuck SOCKET")
