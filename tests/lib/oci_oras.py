"""oras-py (the OCI Registry As Storage Python SDK, pinned in tests/lib/oci.sh) as a command line for the tests.

Run through `oci_oras` of tests/lib/oci.sh (the venv's python, HOME in the test's dir). Every request goes through
oras-py's own client: its requests session and its auth (the token flow by default: a 401's Bearer challenge, then
the realm with Basic credentials; --auth basic sends Basic after each 401 instead).

    oci_oras.py COMMAND [--creds USER:PASSWORD] [--auth token|basic] ...

    push REF FILE[:MEDIATYPE]... [--artifact-type TYPE] [--subject REF] [--chunked]
        oras-py's push: one layer per file (title: the file's name), the config `{}` with TYPE as its media type
        (oras' "unknown" config type without it), `subject` the descriptor of the manifest REF names; a monolithic
        upload (POST, then PUT with the data) unless --chunked (POST, PATCH…, PUT). Prints the manifest's digest.
    pull REF OUTDIR                 oras-py's pull: the layers as files in OUTDIR; prints their paths
    tags HOST/NAME                  the tags (oras-py follows the Link pagination), one a line
    descriptor REF                  the manifest's descriptor as JSON: mediaType, digest (of the bytes), size
    attach HOST/NAME SUBJECT FILE --artifact-type TYPE [--media-type MEDIATYPE]
        an OCI 1.1 artifact manifest built here (artifactType TYPE, the empty config, FILE as its layer, `subject`
        the descriptor of SUBJECT: a tag or a digest of NAME), its blobs uploaded with oras-py and the manifest
        PUT by digest with its session. Prints {"digest": …, "ociSubject": the OCI-Subject header or null}.
    referrers HOST/NAME DIGEST [--artifact-type TYPE]
        GET /v2/NAME/referrers/DIGEST (?artifactType=TYPE); prints the body (an image index)

Exit status 1 with a message on stderr when the registry refuses something.
"""

import argparse
import datetime
import hashlib
import json
import os
import sys
import tempfile
import time

import oras.client
import oras.container
import oras.decorator
import oras.defaults
import oras.oci
import oras.utils

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_EMPTY = "application/vnd.oci.empty.v1+json"
ACCEPT = ", ".join(
    [
        OCI_MANIFEST,
        OCI_INDEX,
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)

# oras-py retries a failed request after 3 + 3**attempt seconds, five times (two minutes in all): a test wants the
# failure now, so the waits are cut short (the retries themselves stay).
_real_sleep = time.sleep
oras.decorator.time.sleep = lambda seconds: _real_sleep(min(seconds, 0.2))


class Refused(Exception):
    pass


def client_for(host, args):
    client = oras.client.OrasClient(hostname=host, insecure=True, auth_backend=args.auth)
    if args.creds:
        user, _, password = args.creds.partition(":")
        # (not client.login: it would write ~/.docker/config.json)
        client.auth.set_basic_auth(user, password)
    return client


def split_ref(ref):
    """HOST/NAME[:TAG|@DIGEST] -> (host, container)"""
    host = ref.split("/", 1)[0]
    return host, oras.container.Container(ref)


def check(response, what):
    if response.status_code not in (200, 201, 202):
        raise Refused(f"{what}: HTTP {response.status_code} {response.text[:500]}")
    return response


def fetch_manifest(client, container):
    """The manifest's bytes and media type, as served."""
    url = f"{client.prefix}://{container.manifest_url()}"
    response = check(client.do_request(url, "GET", headers={"Accept": ACCEPT}), f"GET {url}")
    media_type = response.headers.get("Content-Type", "").split(";")[0].strip()
    if not media_type:
        media_type = json.loads(response.content).get("mediaType", "")
    return response.content, media_type


def descriptor(client, container):
    body, media_type = fetch_manifest(client, container)
    return {"mediaType": media_type, "digest": "sha256:" + hashlib.sha256(body).hexdigest(), "size": len(body)}


def subject_container(name_container, subject):
    """SUBJECT is a tag or a digest of the repository, or a whole reference."""
    if "/" in subject:
        return oras.container.Container(subject)
    base = f"{name_container.registry}/{name_container.api_prefix}"
    return oras.container.Container(f"{base}@{subject}" if subject.startswith("sha256:") else f"{base}:{subject}")


def cmd_push(args):
    host, container = split_ref(args.ref)
    client = client_for(host, args)
    subject = None
    if args.subject:
        d = descriptor(client, subject_container(container, args.subject))
        subject = oras.oci.Subject(mediaType=d["mediaType"], digest=d["digest"], size=d["size"])
    with tempfile.TemporaryDirectory() as tmp:
        manifest_config = None
        if args.artifact_type:
            config = os.path.join(tmp, "config.json")
            with open(config, "w") as f:
                f.write("{}")
            manifest_config = f"{config}:{args.artifact_type}"
        response = client.push(
            target=args.ref,
            files=args.files,
            manifest_config=manifest_config,
            subject=subject,
            disable_path_validation=True,
            do_chunked=args.chunked,
            chunk_size=args.chunk_size,
            quiet=True,
        )
    check(response, f"push {args.ref}")
    digest = response.headers.get("Docker-Content-Digest")
    if not digest:
        digest = descriptor(client, container)["digest"]
    print(digest)


def cmd_pull(args):
    host, _ = split_ref(args.ref)
    client = client_for(host, args)
    os.makedirs(args.outdir, exist_ok=True)
    for path in client.pull(target=args.ref, outdir=args.outdir):
        print(path)


def cmd_tags(args):
    host, container = split_ref(args.name)
    for tag in client_for(host, args).get_tags(container):
        print(tag)


def cmd_descriptor(args):
    host, container = split_ref(args.ref)
    print(json.dumps(descriptor(client_for(host, args), container)))


def upload(client, container, path, media_type):
    layer = {
        "mediaType": media_type,
        "digest": "sha256:" + oras.utils.get_file_hash(path),
        "size": os.path.getsize(path),
    }
    check(client.upload_blob(path, container, layer), f"upload of {path}")
    return layer


def cmd_attach(args):
    host, container = split_ref(args.name)
    client = client_for(host, args)
    subject = descriptor(client, subject_container(container, args.subject))
    with tempfile.TemporaryDirectory() as tmp:
        empty = os.path.join(tmp, "empty.json")
        with open(empty, "w") as f:
            f.write("{}")
        config = upload(client, container, empty, OCI_EMPTY)
        layer = upload(client, container, args.file, args.media_type)
    layer["annotations"] = {oras.defaults.annotation_title: os.path.basename(args.file)}
    created = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "artifactType": args.artifact_type,
        "config": config,
        "layers": [layer],
        "subject": subject,
        "annotations": {"org.opencontainers.image.created": created},
    }
    body = json.dumps(manifest, separators=(",", ":")).encode()
    digest = "sha256:" + hashlib.sha256(body).hexdigest()
    url = f"{client.prefix}://{host}/v2/{container.api_prefix}/manifests/{digest}"
    response = check(
        client.do_request(url, "PUT", data=body, headers={"Content-Type": OCI_MANIFEST}), f"PUT {url}"
    )
    if response.headers.get("Docker-Content-Digest", digest) != digest:
        raise Refused(f"PUT {url}: the registry says the digest is {response.headers['Docker-Content-Digest']}")
    print(json.dumps({"digest": digest, "ociSubject": response.headers.get("OCI-Subject")}))


def cmd_referrers(args):
    host, container = split_ref(args.name)
    client = client_for(host, args)
    url = f"{client.prefix}://{host}/v2/{container.api_prefix}/referrers/{args.digest}"
    if args.artifact_type:
        url = oras.utils.append_url_params(url, {"artifactType": args.artifact_type})
    response = check(client.do_request(url, "GET", headers={"Accept": OCI_INDEX}), f"GET {url}")
    sys.stdout.write(response.text)
    if not response.text.endswith("\n"):
        sys.stdout.write("\n")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    # the options every command takes (after its name)
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--creds", help="USER:PASSWORD (anonymous without it)")
    common.add_argument("--auth", choices=["token", "basic"], default="token")
    commands = parser.add_subparsers(dest="command", required=True)

    def sub(name):
        return commands.add_parser(name, parents=[common])

    p = sub("push")
    p.add_argument("ref")
    p.add_argument("files", nargs="+")
    p.add_argument("--artifact-type")
    p.add_argument("--subject")
    p.add_argument("--chunked", action="store_true")
    p.add_argument("--chunk-size", type=int, default=oras.defaults.default_chunksize)
    p.set_defaults(run=cmd_push)

    p = sub("pull")
    p.add_argument("ref")
    p.add_argument("outdir")
    p.set_defaults(run=cmd_pull)

    p = sub("tags")
    p.add_argument("name")
    p.set_defaults(run=cmd_tags)

    p = sub("descriptor")
    p.add_argument("ref")
    p.set_defaults(run=cmd_descriptor)

    p = sub("attach")
    p.add_argument("name")
    p.add_argument("subject")
    p.add_argument("file")
    p.add_argument("--artifact-type", required=True)
    p.add_argument("--media-type", default="application/json")
    p.set_defaults(run=cmd_attach)

    p = sub("referrers")
    p.add_argument("name")
    p.add_argument("digest")
    p.add_argument("--artifact-type")
    p.set_defaults(run=cmd_referrers)

    args = parser.parse_args()
    try:
        args.run(args)
    except Refused as e:
        sys.exit(f"oci_oras.py {args.command}: {e}")
    except ValueError as e:
        # oras-py raises ValueError for a refused request ("Issue with …")
        sys.exit(f"oci_oras.py {args.command}: {e}")


if __name__ == "__main__":
    main()
