#!/usr/bin/env python3
"""OCI layouts of random images for the big-image tests and the benchmark (tests/lib/oci.sh: oci_layout_variants).

Usage: oci_layouts.py PREFIX VARIANTS SIZE... — VARIANTS OCI layouts PREFIX-1 … PREFIX-VARIANTS (tag latest), each an
image with one layer of SIZE bytes of random data per SIZE: a tar in a gzip stream of stored deflate blocks (a valid
tar+gzip layer that skopeo pushes as it is, without recompressing). The random data of a layer is drawn and hashed
once; each variant's copy of it gets a last tar entry of its own (variant.txt), so every variant's blobs have new
digests while a variant costs little more than the copy.
"""
import hashlib, json, os, shutil, struct, sys, tarfile, zlib

prefix, variants, sizes = sys.argv[1], int(sys.argv[2]), [int(s) for s in sys.argv[3:]]
STORED = 65535  # the most a deflate stored block holds
CHUNK = 64 * STORED
GZIP_HEADER = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff"  # deflate, no name, mtime 0, unknown OS

def stored_blocks(data, final):
    out = bytearray()
    for start in range(0, len(data), STORED) if data else [0]:
        piece = data[start:start + STORED]
        last = final and start + STORED >= len(data)
        out += struct.pack("<BHH", 1 if last else 0, len(piece), len(piece) ^ 0xFFFF) + piece
    return bytes(out)

def tar_header(name, size):
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = size, 0o644, 0
    return info.tobuf(tarfile.USTAR_FORMAT)

def pad(n):
    return b"\0" * (-n % 512)

dirs = [f"{prefix}-{v}" for v in range(1, variants + 1)]
for d in dirs:
    os.makedirs(os.path.join(d, "blobs", "sha256"), exist_ok=True)

def put(d, data):
    digest = hashlib.sha256(data).hexdigest()
    with open(os.path.join(d, "blobs", "sha256", digest), "wb") as f:
        f.write(data)
    return "sha256:" + digest

class Shared:
    """The common start of a layer's variants: the gzip header and the stored blocks of the random entry, written
    to a file, with the running hashes of the tar and the gzip stream and the tar's CRC-32 and length."""
    def __init__(self, path):
        self.f = open(path, "wb")
        self.tar, self.gz, self.crc, self.len = hashlib.sha256(), hashlib.sha256(), 0, 0
        self.f.write(GZIP_HEADER)
        self.gz.update(GZIP_HEADER)
    def add(self, tar_bytes):
        gz = stored_blocks(tar_bytes, False)
        self.tar.update(tar_bytes)
        self.gz.update(gz)
        self.crc = zlib.crc32(tar_bytes, self.crc)
        self.len += len(tar_bytes)
        self.f.write(gz)

layers, diff_ids = [[] for _ in dirs], [[] for _ in dirs]
for i, size in enumerate(sizes):
    path = f"{prefix}.layer-{i}"
    shared = Shared(path)
    shared.add(tar_header(f"data/layer-{i:04d}.bin", size))
    left = size
    while left:
        n = min(left, CHUNK)
        shared.add(os.urandom(n))
        left -= n
    shared.add(pad(size))
    shared.f.close()
    for v, d in enumerate(dirs):
        note = f"variant {v + 1} of layer {i}\n".encode()
        tail = tar_header("data/variant.txt", len(note)) + note + pad(len(note)) + b"\0" * 1024
        tar_hash, gz_hash = shared.tar.copy(), shared.gz.copy()
        tar_hash.update(tail)
        gz_tail = stored_blocks(tail, True) + struct.pack(
            "<II", zlib.crc32(tail, shared.crc), (shared.len + len(tail)) & 0xFFFFFFFF)
        gz_hash.update(gz_tail)
        blob = os.path.join(d, "blobs", "sha256", gz_hash.hexdigest())
        shutil.copyfile(path, blob)
        with open(blob, "ab") as f:
            f.write(gz_tail)
        layers[v].append({"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                          "digest": "sha256:" + gz_hash.hexdigest(), "size": os.path.getsize(blob)})
        diff_ids[v].append("sha256:" + tar_hash.hexdigest())
    os.remove(path)

for v, d in enumerate(dirs):
    config = json.dumps({
        "created": "1970-01-01T00:00:00Z", "architecture": "amd64", "os": "linux", "config": {},
        "rootfs": {"type": "layers", "diff_ids": diff_ids[v]},
        "history": [{"created": "1970-01-01T00:00:00Z", "created_by": "tests/lib/oci_layouts.py"} for _ in sizes],
    }, separators=(",", ":")).encode()
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": put(d, config),
                   "size": len(config)},
        "layers": layers[v],
    }, separators=(",", ":")).encode()
    with open(os.path.join(d, "oci-layout"), "w") as f:
        json.dump({"imageLayoutVersion": "1.0.0"}, f)
    with open(os.path.join(d, "index.json"), "w") as f:
        json.dump({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [{
            "mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": put(d, manifest),
            "size": len(manifest), "annotations": {"org.opencontainers.image.ref.name": "latest"}}]}, f)
