#!/usr/bin/python3
"""Test helper: a containerd proxy snapshotter whose snapshots are ext4 images
on loop devices, so containerd hands out rootfs mounts such as
{type: "ext4", source: "/dev/loop3", options: ["rw"]} (the shape devmapper's
mounts have) on hosts without device-mapper.

    blk_snapshotter.py DIR SOCKET

DIR keeps the state (state.json), the images (images/*.img) and the protobuf
modules generated at start-up (gen/). SOCKET is the gRPC unix socket to give
containerd as a proxy plugin (see README.md). Needs root, losetup, mkfs.ext4,
cp, protoc, and Debian's python3-grpcio and python3-protobuf.

Environment: BLK_SNAPSHOTTER_SIZE, size of a parentless snapshot's filesystem
(truncate(1) syntax, default 256M).
"""

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
from concurrent import futures

import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
SERVICE = "containerd.services.snapshots.v1.Snapshots"
IMAGE_SIZE = os.environ.get("BLK_SNAPSHOTTER_SIZE", "256M")


def log(msg):
    sys.stderr.write("%s blk-snapshotter: %s\n" % (time.strftime("%H:%M:%S"), msg))
    sys.stderr.flush()


def generate_protos(out_dir):
    """Compiles snapshots.proto and mount.proto into out_dir, returns the modules."""
    os.makedirs(out_dir, exist_ok=True)
    cmd = ["protoc", "-I", HERE]
    if os.path.isfile("/usr/include/google/protobuf/empty.proto"):
        cmd += ["-I", "/usr/include"]
    cmd += ["--python_out=" + out_dir, os.path.join(HERE, "mount.proto"), os.path.join(HERE, "snapshots.proto")]
    subprocess.run(cmd, check=True)
    sys.path.insert(0, out_dir)
    import mount_pb2  # noqa: E402  (generated just now)
    import snapshots_pb2  # noqa: E402
    from google.protobuf import empty_pb2  # noqa: E402

    return mount_pb2, snapshots_pb2, empty_pb2


class RpcError(Exception):
    def __init__(self, code, msg):
        super().__init__(msg)
        self.code = code


def run(cmd):
    """Runs cmd, returns its stdout stripped; raises RpcError(INTERNAL) on failure."""
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if p.returncode != 0:
        raise RpcError(grpc.StatusCode.INTERNAL, "%s: %s" % (" ".join(cmd), p.stderr.strip()))
    return p.stdout.strip()


def loop_backing_file(dev):
    p = subprocess.run(["losetup", "--noheadings", "-O", "BACK-FILE", dev],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return p.stdout.strip() if p.returncode == 0 else ""


def loops_of(image):
    """Loop devices currently backed by image."""
    p = subprocess.run(["losetup", "--noheadings", "-O", "NAME", "-j", image],
                       stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return [l.strip() for l in p.stdout.splitlines() if l.strip()]


# --- containerd filter syntax, the part a snapshotter may see -----------------
# A filter is selectors joined by ","; a snapshot matches when all match.
# Filters in a list are OR-ed. Selector: FIELDPATH [(==|!=|~=) VALUE], where
# FIELDPATH is name, parent, kind or labels.KEY (KEY possibly "quoted").
_SEL = re.compile(r'\s*(name|parent|kind|labels\.(?:"(?:[^"\\]|\\.)*"|[A-Za-z0-9_./-]+))'
                  r'\s*(?:(==|!=|~=)\s*("(?:[^"\\]|\\.)*"|/(?:[^/\\]|\\.)*/|[^,]*))?\s*(?:,|$)')


def _unquote(s):
    if len(s) >= 2 and s[0] == s[-1] and s[0] in "\"/":
        return re.sub(r"\\(.)", r"\1", s[1:-1])
    return s.strip()


def parse_filter(text):
    sels, pos = [], 0
    while pos < len(text):
        m = _SEL.match(text, pos)
        if not m or m.end() == pos:
            raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, "unsupported filter %r" % text)
        field, op, value = m.group(1), m.group(2), m.group(3)
        if field.startswith("labels."):
            field = ("labels", _unquote(field[len("labels."):]))
        sels.append((field, op, _unquote(value) if value is not None else None))
        pos = m.end()
    return sels


KIND_NAMES = {1: "view", 2: "active", 3: "committed"}


def filter_matches(sels, key, s):
    for field, op, value in sels:
        if isinstance(field, tuple):
            have = s["labels"].get(field[1])
        elif field == "name":
            have = key
        elif field == "parent":
            have = s["parent"] or None
        else:
            have = KIND_NAMES.get(s["kind"])
        if op is None:
            ok = have is not None
        elif op == "==":
            ok = have == value
        elif op == "!=":
            ok = have != value
        else:
            ok = have is not None and re.search(value, have) is not None
        if not ok:
            return False
    return True


class Snapshotter:
    def __init__(self, root, pb):
        self.root = root
        self.images = os.path.join(root, "images")
        os.makedirs(self.images, exist_ok=True)
        self.state_path = os.path.join(root, "state.json")
        self.mount_pb2, self.pb, self.empty_pb2 = pb
        self.k = self.pb  # the Kind values are module constants there: VIEW, ACTIVE, COMMITTED
        self.lock = threading.Lock()
        self.attached = set()  # loop devices this process attached
        self.snaps = {}  # key -> {parent, kind, created, updated, labels, image, loop}
        self.next_id = 1
        if os.path.exists(self.state_path):
            with open(self.state_path) as f:
                st = json.load(f)
            self.snaps, self.next_id = st["snapshots"], st["next_id"]
        # Snapshots that were active across a restart: adopt or re-attach.
        for key, s in self.snaps.items():
            s["loop"] = ""
            if s["kind"] in (self.k.ACTIVE, self.k.VIEW):
                have = loops_of(s["image"])
                s["loop"] = have[0] if have else self._attach(s["image"], s["kind"] == self.k.VIEW)
                self.attached.add(s["loop"])
        self._save()

    # --- helpers (called with self.lock held) ---------------------------------
    def _save(self):
        tmp = self.state_path + ".tmp"
        with open(tmp, "w") as f:
            json.dump({"snapshots": self.snaps, "next_id": self.next_id}, f, indent=1, sort_keys=True)
        os.replace(tmp, self.state_path)

    def _attach(self, image, readonly):
        dev = run(["losetup", "--find", "--show"] + (["-r"] if readonly else []) + [image])
        self.attached.add(dev)
        return dev

    def _detach(self, dev, image):
        """Detaches dev if it is still backed by image (never someone else's)."""
        self.attached.discard(dev)
        if dev and loop_backing_file(dev) == image:
            run(["losetup", "-d", dev])

    def _get(self, key):
        s = self.snaps.get(key)
        if s is None:
            raise RpcError(grpc.StatusCode.NOT_FOUND, "snapshot %r not found" % key)
        return s

    def _new_image(self, parent):
        image = os.path.join(self.images, "%d.img" % self.next_id)
        self.next_id += 1
        try:
            if parent:
                run(["cp", "--sparse=always", self.snaps[parent]["image"], image])
            else:
                run(["truncate", "-s", IMAGE_SIZE, image])
                run(["mkfs.ext4", "-q", "-F", "-E", "nodiscard,lazy_itable_init=1,lazy_journal_init=1", image])
        except Exception:
            if os.path.exists(image):
                os.unlink(image)
            raise
        return image

    def _info(self, key, s):
        info = self.pb.Info(name=key, parent=s["parent"], kind=s["kind"], labels=s["labels"])
        info.created_at.FromNanoseconds(s["created"])
        info.updated_at.FromNanoseconds(s["updated"])
        return info

    def _mounts(self, s):
        return [self.mount_pb2.Mount(type="ext4", source=s["loop"],
                                     options=["ro"] if s["kind"] == self.k.VIEW else ["rw"])]

    def _create(self, key, parent, labels, kind):
        if key in self.snaps:
            raise RpcError(grpc.StatusCode.ALREADY_EXISTS, "snapshot %r already exists" % key)
        if parent:
            p = self._get(parent)
            if p["kind"] != self.k.COMMITTED:
                raise RpcError(grpc.StatusCode.FAILED_PRECONDITION, "parent %r is not committed" % parent)
        image = self._new_image(parent)
        try:
            loop = self._attach(image, kind == self.k.VIEW)
        except Exception:
            os.unlink(image)
            raise
        now = time.time_ns()
        s = {"parent": parent, "kind": kind, "created": now, "updated": now,
             "labels": dict(labels), "image": image, "loop": loop}
        self.snaps[key] = s
        self._save()
        return s

    # --- RPCs -----------------------------------------------------------------
    def Prepare(self, req):
        with self.lock:
            s = self._create(req.key, req.parent, req.labels, self.k.ACTIVE)
            return self.pb.PrepareSnapshotResponse(mounts=self._mounts(s))

    def View(self, req):
        with self.lock:
            s = self._create(req.key, req.parent, req.labels, self.k.VIEW)
            return self.pb.ViewSnapshotResponse(mounts=self._mounts(s))

    def Mounts(self, req):
        with self.lock:
            s = self._get(req.key)
            if s["kind"] == self.k.COMMITTED:
                raise RpcError(grpc.StatusCode.FAILED_PRECONDITION, "snapshot %r is committed" % req.key)
            return self.pb.MountsResponse(mounts=self._mounts(s))

    def Commit(self, req):
        with self.lock:
            s = self._get(req.key)
            if s["kind"] != self.k.ACTIVE:
                raise RpcError(grpc.StatusCode.FAILED_PRECONDITION, "snapshot %r is not active" % req.key)
            if req.name in self.snaps:
                raise RpcError(grpc.StatusCode.ALREADY_EXISTS, "snapshot %r already exists" % req.name)
            self._detach(s["loop"], s["image"])
            now = time.time_ns()
            del self.snaps[req.key]
            self.snaps[req.name] = {"parent": s["parent"], "kind": self.k.COMMITTED, "created": now,
                                    "updated": now, "labels": dict(req.labels), "image": s["image"], "loop": ""}
            self._save()
            return self.empty_pb2.Empty()

    def Remove(self, req):
        with self.lock:
            s = self._get(req.key)
            kids = [k for k, c in self.snaps.items() if c["parent"] == req.key]
            if kids:
                raise RpcError(grpc.StatusCode.FAILED_PRECONDITION,
                               "snapshot %r has children: %s" % (req.key, ", ".join(kids)))
            self._detach(s["loop"], s["image"])
            if os.path.exists(s["image"]):
                os.unlink(s["image"])
            del self.snaps[req.key]
            self._save()
            return self.empty_pb2.Empty()

    def Stat(self, req):
        with self.lock:
            return self.pb.StatSnapshotResponse(info=self._info(req.key, self._get(req.key)))

    def Update(self, req):
        with self.lock:
            s = self._get(req.info.name)
            paths = list(req.update_mask.paths) if req.HasField("update_mask") else []
            if not paths:
                s["labels"] = dict(req.info.labels)
            for p in paths:
                if p == "labels":
                    s["labels"] = dict(req.info.labels)
                elif p.startswith("labels."):
                    lk = p[len("labels."):]
                    if lk in req.info.labels:
                        s["labels"][lk] = req.info.labels[lk]
                    else:
                        s["labels"].pop(lk, None)
                else:
                    raise RpcError(grpc.StatusCode.INVALID_ARGUMENT, "cannot update %r of a snapshot" % p)
            s["updated"] = time.time_ns()
            self._save()
            return self.pb.UpdateSnapshotResponse(info=self._info(req.info.name, s))

    def List(self, req):
        filters = [parse_filter(f) for f in req.filters]
        with self.lock:
            infos = [self._info(k, s) for k, s in sorted(self.snaps.items())
                     if not filters or any(filter_matches(f, k, s) for f in filters)]
        for i in range(0, len(infos), 100):
            yield self.pb.ListSnapshotsResponse(info=infos[i:i + 100])

    def Usage(self, req):
        with self.lock:
            s = self._get(req.key)
            return self.pb.UsageResponse(size=os.stat(s["image"]).st_blocks * 512, inodes=1)

    def Cleanup(self, req):
        """Drops what no snapshot owns: stray images and their loop devices."""
        with self.lock:
            owned = {s["image"] for s in self.snaps.values()}
            for name in os.listdir(self.images):
                image = os.path.join(self.images, name)
                if image in owned:
                    continue
                for dev in loops_of(image):
                    self._detach(dev, image)
                os.unlink(image)
                log("Cleanup removed stray %s" % image)
            return self.empty_pb2.Empty()

    def shutdown(self):
        """Detaches every loop device this process attached (images stay)."""
        with self.lock:
            for key, s in self.snaps.items():
                if s["loop"]:
                    try:
                        self._detach(s["loop"], s["image"])
                    except RpcError as e:
                        log("shutdown: %s" % e)
                    s["loop"] = ""
            for dev in list(self.attached):
                log("shutdown: %s left attached by a forgotten snapshot" % dev)
            self._save()


def summarize(msg):
    """One-line rendering of a request or response for the log."""
    parts = []
    for fd, value in msg.ListFields():
        if fd.name == "snapshotter":
            continue
        if fd.message_type is not None and fd.message_type.GetOptions().map_entry:
            value = "{%s}" % ", ".join("%s=%s" % kv for kv in sorted(value.items()))
        elif fd.label == fd.LABEL_REPEATED:
            value = "[%s]" % ", ".join(summarize(v) if fd.message_type else repr(v) for v in value)
        elif fd.message_type is not None:
            value = "(%s)" % summarize(value)
        else:
            value = repr(value)
        parts.append("%s=%s" % (fd.name, value))
    return " ".join(parts)


def make_handler(impl, name, streaming):
    method = getattr(impl, name)

    def unary(req, context):
        try:
            resp = method(req)
        except RpcError as e:
            log("%s %s -> %s: %s" % (name, summarize(req), e.code.name, e))
            context.abort(e.code, str(e))
        except Exception as e:  # noqa: BLE001  (report, don't kill the server)
            log("%s %s -> INTERNAL: %r" % (name, summarize(req), e))
            context.abort(grpc.StatusCode.INTERNAL, repr(e))
        log("%s %s -> OK %s" % (name, summarize(req), summarize(resp)))
        return resp

    def stream(req, context):
        n = 0
        try:
            for resp in method(req):
                n += len(resp.info)
                yield resp
        except RpcError as e:
            log("%s %s -> %s: %s" % (name, summarize(req), e.code.name, e))
            context.abort(e.code, str(e))
        log("%s %s -> OK %d snapshot(s)" % (name, summarize(req), n))

    return stream if streaming else unary


def main():
    if len(sys.argv) != 3:
        sys.stderr.write("usage: %s DIR SOCKET\n" % sys.argv[0])
        return 2
    root, sock = os.path.abspath(sys.argv[1]), os.path.abspath(sys.argv[2])
    os.makedirs(root, exist_ok=True)
    pb = generate_protos(os.path.join(root, "gen"))
    snaps_pb2, empty_pb2 = pb[1], pb[2]
    impl = Snapshotter(root, pb)

    types = {  # method -> (request, response, server-streaming)
        "Prepare": (snaps_pb2.PrepareSnapshotRequest, snaps_pb2.PrepareSnapshotResponse, False),
        "View": (snaps_pb2.ViewSnapshotRequest, snaps_pb2.ViewSnapshotResponse, False),
        "Mounts": (snaps_pb2.MountsRequest, snaps_pb2.MountsResponse, False),
        "Commit": (snaps_pb2.CommitSnapshotRequest, empty_pb2.Empty, False),
        "Remove": (snaps_pb2.RemoveSnapshotRequest, empty_pb2.Empty, False),
        "Stat": (snaps_pb2.StatSnapshotRequest, snaps_pb2.StatSnapshotResponse, False),
        "Update": (snaps_pb2.UpdateSnapshotRequest, snaps_pb2.UpdateSnapshotResponse, False),
        "List": (snaps_pb2.ListSnapshotsRequest, snaps_pb2.ListSnapshotsResponse, True),
        "Usage": (snaps_pb2.UsageRequest, snaps_pb2.UsageResponse, False),
        "Cleanup": (snaps_pb2.CleanupRequest, empty_pb2.Empty, False),
    }
    handlers = {}
    for name, (req, resp, streaming) in types.items():
        mk = grpc.unary_stream_rpc_method_handler if streaming else grpc.unary_unary_rpc_method_handler
        handlers[name] = mk(make_handler(impl, name, streaming),
                            request_deserializer=req.FromString, response_serializer=resp.SerializeToString)

    if os.path.exists(sock):
        os.unlink(sock)
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(SERVICE, handlers),))
    server.add_insecure_port("unix:" + sock)

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    server.start()
    log("serving %s on unix:%s, state in %s" % (SERVICE, sock, root))
    while not stop.wait(1):
        pass
    log("stopping")
    server.stop(grace=2).wait()
    impl.shutdown()
    if os.path.exists(sock):
        os.unlink(sock)
    log("stopped")
    return 0


if __name__ == "__main__":
    sys.exit(main())
