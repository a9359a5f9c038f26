"""An Azure Blob Storage test server: the block-blob subset of the Blob service REST API that
Passerelle and the official `azure-storage-blob` SDK use, on loopback, with real Shared Key
and SAS verification. It stands in for Azure in the tests (Azurite is an npm package, out of
reach here); `test_azure_fake.py` checks it against the official SDK.

Emulator addressing: http://127.0.0.1:PORT/ACCOUNT/CONTAINER/BLOB.

    python3 azure_fake.py --port P --dir D --account A --key BASE64KEY

Implemented: Create/Delete/Get Container Properties, List Containers, List Blobs (prefix,
delimiter, marker, maxresults, include=metadata), Put Blob, Put Block, Put Block List, Get
Block List, Get Blob (Range / x-ms-range, If-Match, If-None-Match), Get Blob Properties,
Set Blob Metadata, Set Blob Properties, Delete Blob, Copy Blob (same account, synchronous).
Blobs live in files (streamed, never held whole in memory); an index is rebuilt at start,
so a killed server restarts with every committed blob."""
import argparse
import base64
import email.utils
import hashlib
import hmac
import itertools
import json
import os
import re
import shutil
import sys
import threading
import time
import uuid
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import unquote, urlsplit
from xml.etree import ElementTree
from xml.sax.saxutils import escape

CHUNK = 1 << 20
STANDARD_HEADERS = ["content-encoding", "content-language", "content-length", "content-md5", "content-type", "date",
                    "if-modified-since", "if-match", "if-none-match", "if-unmodified-since", "range"]
_etags = itertools.count()


class AzureError(Exception):
    def __init__(self, status, code, message, detail=None, headers=None):
        super().__init__(message)
        self.status, self.code, self.message, self.detail, self.headers = status, code, message, detail, headers or {}


def parse_query(raw):
    """Query parameters decoded with unquote (a '+' stays a plus, as Azure reads it)."""
    out = {}
    for part in raw.split("&") if raw else []:
        name, _, value = part.partition("=")
        out.setdefault(unquote(name), []).append(unquote(value))
    return out


def shared_key_string(method, headers, account, path, query):
    lines = [method]
    for name in STANDARD_HEADERS:
        v = headers.get(name, "")
        lines.append("" if name == "content-length" and v == "0" else v)
    text = "\n".join(lines) + "\n"
    for name in sorted(h for h in headers if h.startswith("x-ms-")):
        text += f"{name}:{headers[name].strip()}\n"
    text += f"/{account}{path}"
    for name in sorted(query):
        text += f"\n{name.lower()}:{','.join(query[name])}"
    return text


def sign(key, text):
    return base64.b64encode(hmac.new(key, text.encode(), hashlib.sha256).digest()).decode()


def now_rfc1123():
    return email.utils.formatdate(usegmt=True)


def new_etag():
    return f'"0x8D{time.time_ns():X}{next(_etags):04X}"'


def parse_time(text):
    for fmt in ("%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%dT%H:%M:%S.%fZ", "%Y-%m-%dT%H:%MZ", "%Y-%m-%d"):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=timezone.utc)
        except ValueError:
            pass
    raise AzureError(403, "AuthenticationFailed", "Signature fields not well formed.", f"cannot parse the time '{text}'")


class Store:
    """Containers and blobs on disk; an in-memory index guarded by one lock."""

    def __init__(self, root):
        self.root = root
        self.lock = threading.RLock()
        self.containers = {}  # name -> {"created": str, "etag": str, "blobs": {name: meta}}
        os.makedirs(os.path.join(root, "tmp"), exist_ok=True)
        shutil.rmtree(os.path.join(root, "tmp"))
        os.makedirs(os.path.join(root, "tmp"))
        for c in sorted(os.listdir(root)):
            info = os.path.join(root, c, "container.json")
            if not os.path.exists(info):
                continue
            with open(info) as f:
                entry = json.load(f)
            entry["blobs"] = {}
            meta_dir = os.path.join(root, c, "meta")
            for m in os.listdir(meta_dir):
                if m.endswith(".json"):
                    with open(os.path.join(meta_dir, m)) as f:
                        meta = json.load(f)
                    entry["blobs"][meta["name"]] = meta
            self.containers[c] = entry

    @staticmethod
    def hashed(name):
        return hashlib.sha256(name.encode()).hexdigest()

    def tmp(self):
        return os.path.join(self.root, "tmp", uuid.uuid4().hex)

    def container(self, name):
        c = self.containers.get(name)
        if c is None:
            raise AzureError(404, "ContainerNotFound", "The specified container does not exist.")
        return c

    def create_container(self, name):
        if not re.fullmatch(r"[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]", name):
            raise AzureError(400, "InvalidResourceName", "The specifed resource name contains invalid characters.")
        with self.lock:
            if name in self.containers:
                raise AzureError(409, "ContainerAlreadyExists", "The specified container already exists.")
            base = os.path.join(self.root, name)
            for d in ("meta", "data", "blocks"):
                os.makedirs(os.path.join(base, d), exist_ok=True)
            entry = {"created": now_rfc1123(), "etag": new_etag()}
            self.write_json(os.path.join(base, "container.json"), entry)
            entry["blobs"] = {}
            self.containers[name] = entry
            return entry

    def delete_container(self, name):
        with self.lock:
            self.container(name)
            del self.containers[name]
            shutil.rmtree(os.path.join(self.root, name), ignore_errors=True)

    def write_json(self, path, value):
        tmp = self.tmp()
        with open(tmp, "w") as f:
            json.dump(value, f)
        os.replace(tmp, path)

    def blob(self, container, name):
        meta = self.container(container)["blobs"].get(name)
        if meta is None:
            raise AzureError(404, "BlobNotFound", "The specified blob does not exist.")
        return meta

    def data_path(self, container, meta):
        return os.path.join(self.root, container, "data", meta["data"])

    def commit(self, container, name, data_tmp, meta):
        """Makes `data_tmp` the content of `name`: data file, then its meta file (atomic)."""
        with self.lock:
            c = self.container(container)
            data = uuid.uuid4().hex
            os.replace(data_tmp, os.path.join(self.root, container, "data", data))
            meta.update(name=name, data=data, etag=new_etag(), modified=now_rfc1123())
            old = c["blobs"].get(name)
            meta.setdefault("created", old["created"] if old else meta["modified"])
            self.write_json(os.path.join(self.root, container, "meta", self.hashed(name) + ".json"), meta)
            c["blobs"][name] = meta
            if old:
                try:
                    os.unlink(self.data_path(container, old))
                except FileNotFoundError:
                    pass
            shutil.rmtree(self.blocks_dir(container, name), ignore_errors=True)
            return meta

    def update_meta(self, container, name, **changes):
        with self.lock:
            meta = dict(self.blob(container, name))
            meta.update(changes, etag=new_etag(), modified=now_rfc1123())
            self.write_json(os.path.join(self.root, container, "meta", self.hashed(name) + ".json"), meta)
            self.container(container)["blobs"][name] = meta
            return meta

    def delete_blob(self, container, name):
        with self.lock:
            meta = self.blob(container, name)
            os.unlink(os.path.join(self.root, container, "meta", self.hashed(name) + ".json"))
            del self.container(container)["blobs"][name]
            try:
                os.unlink(self.data_path(container, meta))
            except FileNotFoundError:
                pass
            shutil.rmtree(self.blocks_dir(container, name), ignore_errors=True)

    def blocks_dir(self, container, name):
        return os.path.join(self.root, container, "blocks", self.hashed(name))


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "PasserelleAzureTest/1.0"

    def log_message(self, fmt, *args):
        if self.server.verbose:
            super().log_message(fmt, *args)

    # -- plumbing ---------------------------------------------------------------------------
    def do_GET(self):
        self.dispatch()

    def do_HEAD(self):
        self.dispatch()

    def do_PUT(self):
        self.dispatch()

    def do_DELETE(self):
        self.dispatch()

    def do_POST(self):
        self.dispatch()

    def dispatch(self):
        self.request_id = str(uuid.uuid4())
        self.body_read = False
        try:
            split = urlsplit(self.path)
            self.raw_path = split.path
            self.query = parse_query(split.query)
            self.h = {k.lower(): v for k, v in self.headers.items()}
            segments = split.path.split("/", 3)  # "", account, container, blob
            account = unquote(segments[1]) if len(segments) > 1 else ""
            if account != self.server.account:
                raise AzureError(400, "InvalidUri", "The requested URI does not represent any resource on the server.")
            self.container_name = unquote(segments[2]) if len(segments) > 2 and segments[2] else None
            self.blob_name = unquote(segments[3]) if len(segments) > 3 and segments[3] else None
            self.authenticate()
            self.route()
        except AzureError as e:
            self.drain()
            self.send_error_response(e)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        except Exception as e:  # a bug in this server: say so, as Azure would with a 500
            self.drain()
            self.send_error_response(AzureError(500, "InternalError", f"{type(e).__name__}: {e}"))

    def q(self, name, default=None):
        v = self.query.get(name)
        return v[0] if v else default

    def drain(self):
        """Reads an unread request body so the connection can be reused (small bodies only)."""
        if self.body_read:
            return
        length = int(self.h.get("content-length", "0") or 0)
        if 0 < length <= 16 * CHUNK:
            self.rfile.read(length)
        elif length:
            self.close_connection = True
        self.body_read = True

    def send_error_response(self, e):
        body = b""
        if self.command != "HEAD" and e.status != 304:
            text = (f'<?xml version="1.0" encoding="utf-8"?><Error><Code>{e.code}</Code>'
                    f"<Message>{escape(e.message)}\nRequestId:{self.request_id}\nTime:{datetime.now(timezone.utc).isoformat()}</Message>")
            if e.detail:
                text += f"<AuthenticationErrorDetail>{escape(e.detail)}</AuthenticationErrorDetail>"
            body = (text + "</Error>").encode()
        headers = {"x-ms-error-code": e.code, "Content-Type": "application/xml"}
        headers.update(e.headers)
        self.respond(e.status, headers, body, length=len(body))

    def respond(self, status, headers=None, body=b"", length=None):
        self.send_response(status)
        all_headers = {"x-ms-request-id": self.request_id, "x-ms-version": self.h.get("x-ms-version", "2023-11-03"), "Date": now_rfc1123()}
        all_headers.update(headers or {})
        if "Content-Length" not in all_headers:
            all_headers["Content-Length"] = str(len(body) if length is None else length)
        for k, v in all_headers.items():
            self.send_header(k, v)
        self.end_headers()
        if body and self.command != "HEAD":
            self.wfile.write(body)

    # -- authentication ---------------------------------------------------------------------
    def authenticate(self):
        if "sig" in self.query:
            self.authenticate_sas()
            return
        auth = self.h.get("authorization")
        if not auth:
            raise AzureError(401, "NoAuthenticationInformation", "Server failed to authenticate the request. Please refer to the information in the www-authenticate header.",
                             headers={"WWW-Authenticate": "SharedKey"})
        if "x-ms-version" not in self.h:
            raise AzureError(400, "MissingRequiredHeader", "An HTTP header that's mandatory for this request is not specified.")
        scheme, _, credentials = auth.partition(" ")
        account, _, signature = credentials.partition(":")
        if scheme != "SharedKey" or account != self.server.account:
            raise AzureError(403, "AuthenticationFailed", "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.",
                             "The Authorization header is not a SharedKey header of this account.")
        date = self.h.get("x-ms-date") or self.h.get("date")
        parsed = email.utils.parsedate_to_datetime(date) if date else None
        if parsed is None or abs(time.time() - parsed.timestamp()) > 15 * 60:
            raise AzureError(403, "AuthenticationFailed", "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.",
                             f"Request date header too old or missing: '{date}'")
        text = shared_key_string(self.command, self.h, self.server.account, self.raw_path, self.query)
        if not hmac.compare_digest(sign(self.server.key, text), signature):
            raise AzureError(403, "AuthenticationFailed", "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.",
                             f"The MAC signature found in the HTTP request '{signature}' is not the same as any computed signature. Server used following string to sign: '{text}'.")
        self.permissions = None  # the account key may do anything

    def authenticate_sas(self):
        q = lambda n: self.q(n, "")
        sv = q("sv")
        if sv < "2020-12-06":
            raise AzureError(403, "AuthenticationFailed", "Signature fields not well formed.", f"signed version {sv} is not supported by this test server")
        expiry = parse_time(q("se")) if q("se") else None
        start = parse_time(q("st")) if q("st") else None
        now = datetime.now(timezone.utc)
        if expiry is None or now > expiry or (start and now < start):
            raise AzureError(403, "AuthenticationFailed", "Server failed to authenticate the request.", "Signed expiry time has passed or the start time is in the future.")
        if q("spr") and "http" not in q("spr").split(","):
            raise AzureError(403, "AuthorizationProtocolMismatch", "This request is not authorized to perform this operation using this protocol.")
        if q("ss"):  # account SAS
            text = "\n".join([self.server.account, q("sp"), q("ss"), q("srt"), q("st"), q("se"), q("sip"), q("spr"), sv, q("ses")]) + "\n"
            level = "o" if self.blob_name else "c" if self.container_name else "s"
            if "b" not in q("ss") or level not in q("srt"):
                raise AzureError(403, "AuthorizationResourceTypeMismatch", "This request is not authorized to perform this operation using this resource type.")
        else:  # service SAS for a container or a blob
            resource = f"/blob/{self.server.account}/{self.container_name or ''}"
            if q("sr") == "b":
                resource += f"/{self.blob_name or ''}"
            elif q("sr") != "c":
                raise AzureError(403, "AuthenticationFailed", "Signature fields not well formed.", f"unsupported signed resource '{q('sr')}'")
            if not self.container_name:
                raise AzureError(403, "AuthorizationResourceTypeMismatch", "This request is not authorized to perform this operation using this resource type.")
            text = "\n".join([q("sp"), q("st"), q("se"), resource, q("si"), q("sip"), q("spr"), sv, q("sr"), "", q("ses"),
                              q("rscc"), q("rscd"), q("rsce"), q("rscl"), q("rsct")])
        if not hmac.compare_digest(sign(self.server.key, text), q("sig")):
            raise AzureError(403, "AuthenticationFailed", "Server failed to authenticate the request. Make sure the value of Authorization header is formed correctly including the signature.",
                             f"Signature did not match. String to sign used was {text}")
        self.permissions = q("sp")
        self.sas_container = self.container_name if not q("ss") else None
        self.sas_blob = self.blob_name if q("sr") == "b" else None

    def allow(self, *letters):
        if self.permissions is not None and not any(l in self.permissions for l in letters):
            raise AzureError(403, "AuthorizationPermissionMismatch", "This request is not authorized to perform this operation using this permission.")

    # -- routing ----------------------------------------------------------------------------
    def route(self):
        store = self.server.store
        restype, comp, m = self.q("restype"), self.q("comp"), self.command
        if self.container_name is None:
            if m == "GET" and comp == "list":
                return self.list_containers()
            if comp == "properties" and restype == "service":
                return self.respond(200, {"Content-Type": "application/xml"},
                                    b'<?xml version="1.0" encoding="utf-8"?><StorageServiceProperties></StorageServiceProperties>')
            raise AzureError(400, "UnsupportedHttpVerb", "The resource doesn't support the specified HTTP verb.")
        if self.blob_name is None:
            if restype != "container":
                raise AzureError(400, "InvalidQueryParameterValue", "Value for one of the query parameters specified in the request URI is invalid.")
            if m == "PUT" and comp is None:
                self.allow("c", "w")
                if self.permissions is not None and getattr(self, "sas_container", None):
                    raise AzureError(403, "AuthorizationResourceTypeMismatch", "This request is not authorized to perform this operation using this resource type.")
                c = store.create_container(self.container_name)
                return self.respond(201, {"ETag": c["etag"], "Last-Modified": c["created"]})
            if m == "DELETE" and comp is None:
                self.allow("d")
                store.delete_container(self.container_name)
                return self.respond(202)
            if m in ("GET", "HEAD") and comp is None:
                self.allow("r")
                c = store.container(self.container_name)
                return self.respond(200, {"ETag": c["etag"], "Last-Modified": c["created"], "x-ms-lease-state": "available", "x-ms-lease-status": "unlocked"})
            if m == "GET" and comp == "list":
                self.allow("l")
                return self.list_blobs()
            raise AzureError(400, "UnsupportedHttpVerb", "The resource doesn't support the specified HTTP verb.")
        if getattr(self, "sas_blob", None) is not None and self.sas_blob != self.blob_name:
            raise AzureError(403, "AuthenticationFailed", "Server failed to authenticate the request.", "the SAS names another blob")
        if m == "PUT":
            if comp == "block":
                self.allow("w", "a")
                return self.put_block()
            if comp == "blocklist":
                self.allow("w")
                return self.put_block_list()
            if comp == "metadata":
                self.allow("w")
                meta = store.update_meta(self.container_name, self.blob_name, metadata=self.metadata_headers())
                self.drain()
                return self.respond(200, {"ETag": meta["etag"], "Last-Modified": meta["modified"]})
            if comp == "properties":
                self.allow("w")
                return self.set_properties()
            if comp is None and "x-ms-copy-source" in self.h:
                self.allow("w", "c")
                return self.copy_blob()
            if comp is None:
                self.allow("w", "c")
                return self.put_blob()
        if m in ("GET", "HEAD") and comp is None:
            self.allow("r")
            return self.get_blob()
        if m == "GET" and comp == "blocklist":
            self.allow("r")
            return self.get_block_list()
        if m == "DELETE" and comp is None:
            self.allow("d")
            self.check_conditions(store.blob(self.container_name, self.blob_name))
            store.delete_blob(self.container_name, self.blob_name)
            return self.respond(202, {"x-ms-delete-type-permanent": "true"})
        raise AzureError(400, "UnsupportedHttpVerb", "The resource doesn't support the specified HTTP verb.")

    # -- helpers ----------------------------------------------------------------------------
    def metadata_headers(self):
        meta = {}
        for k, v in self.headers.items():
            if k.lower().startswith("x-ms-meta-"):
                name = k[len("x-ms-meta-"):]
                if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
                    raise AzureError(400, "InvalidMetadata", "The metadata specified is invalid. It has characters that are not permitted.")
                meta[name.lower()] = v
        return meta

    def check_conditions(self, meta):
        """If-Match / If-None-Match against the current blob (None when absent)."""
        if_match, if_none = self.h.get("if-match"), self.h.get("if-none-match")
        if if_match and (meta is None or (if_match != "*" and if_match != meta["etag"])):
            raise AzureError(412, "ConditionNotMet", "The condition specified using HTTP conditional header(s) is not met.")
        if if_none and meta is not None and (if_none == "*" or if_none == meta["etag"]):
            if self.command in ("GET", "HEAD"):
                raise AzureError(304, "ConditionNotMet", "The condition specified using HTTP conditional header(s) is not met.")
            raise AzureError(409, "BlobAlreadyExists", "The specified blob already exists.")

    def current(self):
        return self.server.store.container(self.container_name)["blobs"].get(self.blob_name)

    def receive_body(self):
        """Streams the request body to a temporary file; returns (path, size, md5)."""
        if "content-length" not in self.h:
            raise AzureError(411, "MissingContentLengthHeader", "Content-Length HTTP header is missing.")
        try:
            length = int(self.h["content-length"])
        except ValueError:
            raise AzureError(400, "InvalidHeaderValue", "The value for one of the HTTP headers is not in the correct format.")
        if length > 5000 * CHUNK:
            raise AzureError(413, "RequestBodyTooLarge", "The request body is too large and exceeds the maximum permissible limit.")
        path = self.server.store.tmp()
        digest = hashlib.md5()
        remaining = length
        self.body_read = True
        with open(path, "wb") as f:
            while remaining:
                chunk = self.rfile.read(min(CHUNK, remaining))
                if not chunk:
                    f.close()
                    os.unlink(path)
                    self.close_connection = True
                    raise ConnectionError("client closed the connection mid-body")
                f.write(chunk)
                digest.update(chunk)
                remaining -= len(chunk)
        if "content-md5" in self.h and base64.b64encode(digest.digest()).decode() != self.h["content-md5"]:
            os.unlink(path)
            raise AzureError(400, "Md5Mismatch", "The MD5 value specified in the request did not match with the MD5 value calculated by the server.")
        return path, length, digest.digest()

    def properties_from_headers(self):
        props = {"content_type": self.h.get("x-ms-blob-content-type") or "application/octet-stream"}
        for field, header in (("content_encoding", "x-ms-blob-content-encoding"), ("content_language", "x-ms-blob-content-language"),
                              ("content_disposition", "x-ms-blob-content-disposition"), ("cache_control", "x-ms-blob-cache-control")):
            if header in self.h:
                props[field] = self.h[header]
        return props

    # -- blob operations --------------------------------------------------------------------
    def put_blob(self):
        if self.h.get("x-ms-blob-type") != "BlockBlob":
            raise AzureError(400, "InvalidHeaderValue", "This test server only stores block blobs (x-ms-blob-type: BlockBlob).")
        store = self.server.store
        store.container(self.container_name)
        self.check_conditions(self.current())
        path, size, md5 = self.receive_body()
        meta = {"size": size, "md5": base64.b64encode(md5).decode(), "metadata": self.metadata_headers(), "blocks": []}
        meta.update(self.properties_from_headers())
        if self.h.get("content-type") and "x-ms-blob-content-type" not in self.h:
            meta["content_type"] = self.h["content-type"]
        if "x-ms-blob-content-md5" in self.h:
            meta["md5"] = self.h["x-ms-blob-content-md5"]
        with store.lock:
            self.check_conditions(self.current())
            meta = store.commit(self.container_name, self.blob_name, path, meta)
        self.respond(201, {"ETag": meta["etag"], "Last-Modified": meta["modified"], "Content-MD5": base64.b64encode(md5).decode(),
                           "x-ms-request-server-encrypted": "true"})

    def block_file(self, block_id):
        try:
            raw = base64.b64decode(block_id, validate=True)
        except ValueError:
            raise AzureError(400, "InvalidQueryParameterValue", "Value for one of the query parameters specified in the request URI is invalid.")
        if not raw or len(raw) > 64:
            raise AzureError(400, "InvalidQueryParameterValue", "The block id must be 1 to 64 bytes before encoding.")
        return os.path.join(self.server.store.blocks_dir(self.container_name, self.blob_name), raw.hex())

    def put_block(self):
        store = self.server.store
        store.container(self.container_name)
        block_id = self.q("blockid") or ""
        target = self.block_file(block_id)
        directory = os.path.dirname(target)
        os.makedirs(directory, exist_ok=True)
        lengths = {len(n) for n in os.listdir(directory)} | {len(base64.b64decode(b[0]).hex()) for b in (self.current() or {}).get("blocks", [])}
        if lengths and lengths != {len(os.path.basename(target))}:
            raise AzureError(400, "InvalidBlobOrBlock", "The specified blob or block content is invalid.")
        path, size, md5 = self.receive_body()
        if size > 4000 * CHUNK:
            os.unlink(path)
            raise AzureError(413, "RequestBodyTooLarge", "The request body is too large and exceeds the maximum permissible limit.")
        os.makedirs(directory, exist_ok=True)
        os.replace(path, target)
        self.respond(201, {"Content-MD5": base64.b64encode(md5).decode(), "x-ms-request-server-encrypted": "true"})

    def put_block_list(self):
        store = self.server.store
        store.container(self.container_name)
        path, size, _ = self.receive_body()
        if size > 4 * CHUNK:
            raise AzureError(413, "RequestBodyTooLarge", "The block list is too large.")
        with open(path, "rb") as f:
            text = f.read()
        os.unlink(path)
        try:
            root = ElementTree.fromstring(text)
        except ElementTree.ParseError:
            raise AzureError(400, "InvalidXmlDocument", "XML specified is not syntactically valid.")
        if root.tag != "BlockList":
            raise AzureError(400, "InvalidXmlDocument", "XML specified is not syntactically valid.")
        with store.lock:
            current = self.current()
            self.check_conditions(current)
            committed = {}
            offset = 0
            for block_id, length in (current or {}).get("blocks", []):
                committed[block_id] = (offset, length)
                offset += length
            sources = []
            for el in root:
                block_id = el.text or ""
                uncommitted = self.block_file(block_id)
                if el.tag in ("Latest", "Uncommitted") and os.path.exists(uncommitted):
                    sources.append((block_id, uncommitted, None))
                elif el.tag in ("Latest", "Committed") and block_id in committed:
                    sources.append((block_id, self.server.store.data_path(self.container_name, current), committed[block_id]))
                else:
                    raise AzureError(400, "InvalidBlockList", "The specified block list is invalid.")
            if len(sources) > 50_000:
                raise AzureError(400, "BlockCountExceedsLimit", "The committed block count cannot exceed the maximum limit of 50,000 blocks.")
            out = store.tmp()
            blocks = []
            total = 0
            with open(out, "wb") as dst:
                for block_id, src, extent in sources:
                    with open(src, "rb") as f:
                        start, length = extent if extent else (0, os.path.getsize(src))
                        f.seek(start)
                        remaining = length
                        while remaining:
                            chunk = f.read(min(CHUNK, remaining))
                            dst.write(chunk)
                            remaining -= len(chunk)
                    blocks.append([block_id, length])
                    total += length
            meta = {"size": total, "md5": self.h.get("x-ms-blob-content-md5"), "metadata": self.metadata_headers(), "blocks": blocks}
            meta.update(self.properties_from_headers())
            meta = store.commit(self.container_name, self.blob_name, out, meta)
        self.respond(201, {"ETag": meta["etag"], "Last-Modified": meta["modified"], "x-ms-request-server-encrypted": "true"})

    def get_block_list(self):
        meta = self.current()
        directory = self.server.store.blocks_dir(self.container_name, self.blob_name)
        uncommitted = sorted(os.listdir(directory)) if os.path.isdir(directory) else []
        if meta is None and not uncommitted:
            raise AzureError(404, "BlobNotFound", "The specified blob does not exist.")
        kind = self.q("blocklisttype", "committed")
        parts = ['<?xml version="1.0" encoding="utf-8"?><BlockList>']
        if kind in ("committed", "all"):
            parts.append("<CommittedBlocks>")
            for block_id, length in (meta or {}).get("blocks", []):
                parts.append(f"<Block><Name>{block_id}</Name><Size>{length}</Size></Block>")
            parts.append("</CommittedBlocks>")
        if kind in ("uncommitted", "all"):
            parts.append("<UncommittedBlocks>")
            for name in uncommitted:
                size = os.path.getsize(os.path.join(directory, name))
                parts.append(f"<Block><Name>{base64.b64encode(bytes.fromhex(name)).decode()}</Name><Size>{size}</Size></Block>")
            parts.append("</UncommittedBlocks>")
        parts.append("</BlockList>")
        body = "".join(parts).encode()
        headers = {"Content-Type": "application/xml"}
        if meta:
            headers.update({"ETag": meta["etag"], "Last-Modified": meta["modified"], "x-ms-blob-content-length": str(meta["size"])})
        self.respond(200, headers, body)

    def blob_headers(self, meta):
        h = {"ETag": meta["etag"], "Last-Modified": meta["modified"], "x-ms-creation-time": meta["created"],
             "Content-Type": meta.get("content_type") or "application/octet-stream", "x-ms-blob-type": "BlockBlob",
             "Accept-Ranges": "bytes", "x-ms-lease-state": "available", "x-ms-lease-status": "unlocked", "x-ms-server-encrypted": "true"}
        for field, header in (("content_encoding", "Content-Encoding"), ("content_language", "Content-Language"),
                              ("content_disposition", "Content-Disposition"), ("cache_control", "Cache-Control")):
            if meta.get(field):
                h[header] = meta[field]
        for k, v in meta.get("metadata", {}).items():
            h["x-ms-meta-" + k] = v
        if meta.get("copy_status"):
            h["x-ms-copy-status"] = meta["copy_status"]
            h["x-ms-copy-id"] = meta["copy_id"]
        return h

    def requested_range(self, size):
        spec = self.h.get("x-ms-range") or self.h.get("range")
        if not spec:
            return None
        m = re.fullmatch(r"bytes=(\d+)-(\d*)", spec.strip())
        if not m:
            raise AzureError(400, "InvalidHeaderValue", "The value for one of the HTTP headers is not in the correct format.")
        start = int(m.group(1))
        end = int(m.group(2)) if m.group(2) else size - 1
        if start >= size or end < start:
            raise AzureError(416, "InvalidRange", "The range specified is invalid for the current size of the resource.",
                             headers={"Content-Range": f"bytes */{size}"})
        return start, min(end, size - 1)

    def get_blob(self):
        store = self.server.store
        with store.lock:
            meta = store.blob(self.container_name, self.blob_name)
            self.check_conditions(meta)
            # Hold the data file open: a concurrent overwrite replaces the name, not these bytes.
            f = open(store.data_path(self.container_name, meta), "rb")
        with f:
            size = meta["size"]
            headers = self.blob_headers(meta)
            rng = self.requested_range(size) if self.command == "GET" else None
            if rng:
                start, end = rng
                headers["Content-Range"] = f"bytes {start}-{end}/{size}"
                if meta.get("md5"):
                    headers["x-ms-blob-content-md5"] = meta["md5"]
                status, length = 206, end - start + 1
            else:
                start, status, length = 0, 200, size
                if meta.get("md5"):
                    headers["Content-MD5"] = meta["md5"]
            headers["Content-Length"] = str(length)
            self.respond(status, headers)
            if self.command == "HEAD":
                return
            f.seek(start)
            remaining = length
            while remaining:
                chunk = f.read(min(CHUNK, remaining))
                if not chunk:
                    break
                self.wfile.write(chunk)
                remaining -= len(chunk)

    def set_properties(self):
        store = self.server.store
        meta = store.blob(self.container_name, self.blob_name)
        self.check_conditions(meta)
        self.drain()
        props = {"content_type": self.h.get("x-ms-blob-content-type"), "md5": self.h.get("x-ms-blob-content-md5")}
        for field, header in (("content_encoding", "x-ms-blob-content-encoding"), ("content_language", "x-ms-blob-content-language"),
                              ("content_disposition", "x-ms-blob-content-disposition"), ("cache_control", "x-ms-blob-cache-control")):
            props[field] = self.h.get(header)
        meta = store.update_meta(self.container_name, self.blob_name, **props)
        self.respond(200, {"ETag": meta["etag"], "Last-Modified": meta["modified"]})

    def copy_blob(self):
        store = self.server.store
        source = urlsplit(self.h["x-ms-copy-source"])
        parts = source.path.split("/", 3)
        if len(parts) < 4 or unquote(parts[1]) != self.server.account:
            raise AzureError(400, "CannotVerifyCopySource", "This test server only copies within its account.")
        self.drain()
        with store.lock:
            src = store.blob(unquote(parts[2]), unquote(parts[3]))
            store.container(self.container_name)
            self.check_conditions(self.current())
            tmp = store.tmp()
            shutil.copyfile(store.data_path(unquote(parts[2]), src), tmp)
            meta = {k: v for k, v in src.items() if k not in ("name", "data", "etag", "modified", "created")}
            given = self.metadata_headers()
            if given:
                meta["metadata"] = given
            meta.update(copy_status="success", copy_id=str(uuid.uuid4()))
            meta = store.commit(self.container_name, self.blob_name, tmp, meta)
        self.respond(202, {"ETag": meta["etag"], "Last-Modified": meta["modified"], "x-ms-copy-id": meta["copy_id"], "x-ms-copy-status": "success"})

    # -- listings ---------------------------------------------------------------------------
    def list_containers(self):
        self.allow("l")
        prefix = self.q("prefix", "")
        names = sorted(n for n in self.server.store.containers if n.startswith(prefix))
        items = "".join(f"<Container><Name>{escape(n)}</Name><Properties><Last-Modified>{self.server.store.containers[n]['created']}</Last-Modified>"
                        f"<Etag>{self.server.store.containers[n]['etag']}</Etag></Properties></Container>" for n in names)
        body = (f'<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="http://{self.h.get("host", "")}/{self.server.account}/">'
                f"<Prefix>{escape(prefix)}</Prefix><Containers>{items}</Containers><NextMarker /></EnumerationResults>").encode()
        self.respond(200, {"Content-Type": "application/xml"}, body)

    def list_blobs(self):
        store = self.server.store
        prefix, delimiter, marker = self.q("prefix", ""), self.q("delimiter", ""), self.q("marker", "")
        try:
            limit = int(self.q("maxresults", "5000"))
        except ValueError:
            limit = -1
        if not 1 <= limit <= 5000:
            raise AzureError(400, "OutOfRangeQueryParameterValue", "One of the query parameters specified in the request URI is outside the permissible range.")
        include = (self.q("include") or "").split(",")
        with store.lock:
            blobs = dict(store.container(self.container_name)["blobs"])
        entries, seen_prefixes, next_marker = [], set(), ""
        for name in sorted(blobs):
            if not name.startswith(prefix) or name < marker:
                continue
            if delimiter:
                cut = name.find(delimiter, len(prefix))
                if cut >= 0:
                    p = name[:cut + len(delimiter)]
                    if p in seen_prefixes:
                        continue
                    if len(entries) == limit:
                        next_marker = name
                        break
                    seen_prefixes.add(p)
                    entries.append(("prefix", p))
                    continue
            if len(entries) == limit:
                next_marker = name
                break
            entries.append(("blob", name))
        out = [f'<?xml version="1.0" encoding="utf-8"?><EnumerationResults ServiceEndpoint="http://{self.h.get("host", "")}/{self.server.account}/" '
               f'ContainerName="{escape(self.container_name)}"><Prefix>{escape(prefix)}</Prefix><Marker>{escape(marker)}</Marker>'
               f"<MaxResults>{limit}</MaxResults><Delimiter>{escape(delimiter)}</Delimiter><Blobs>"]
        for kind, name in entries:
            if kind == "prefix":
                out.append(f"<BlobPrefix><Name>{escape(name)}</Name></BlobPrefix>")
                continue
            meta = blobs[name]
            out.append(f"<Blob><Name>{escape(name)}</Name><Properties><Creation-Time>{meta['created']}</Creation-Time>"
                       f"<Last-Modified>{meta['modified']}</Last-Modified><Etag>{meta['etag']}</Etag>"
                       f"<Content-Length>{meta['size']}</Content-Length><Content-Type>{escape(meta.get('content_type') or '')}</Content-Type>"
                       f"<Content-MD5>{meta.get('md5') or ''}</Content-MD5><BlobType>BlockBlob</BlobType>"
                       f"<LeaseStatus>unlocked</LeaseStatus><LeaseState>available</LeaseState><ServerEncrypted>true</ServerEncrypted></Properties>")
            if "metadata" in include:
                out.append("<Metadata>" + "".join(f"<{k}>{escape(v)}</{k}>" for k, v in meta.get("metadata", {}).items()) + "</Metadata>")
            out.append("</Blob>")
        out.append(f"</Blobs><NextMarker>{escape(next_marker)}</NextMarker></EnumerationResults>")
        self.respond(200, {"Content-Type": "application/xml"}, "".join(out).encode())


class Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port, root, account, key, verbose=False):
        super().__init__(("127.0.0.1", port), Handler)
        self.store = Store(root)
        self.account = account
        self.key = base64.b64decode(key)
        self.verbose = verbose


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--dir", required=True)
    ap.add_argument("--account", default="devstoreaccount1")
    ap.add_argument("--key", required=True, help="the account key, base64")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    server = Server(args.port, args.dir, args.account, args.key, args.verbose)
    print(f"azure test server on http://127.0.0.1:{args.port}/{args.account}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
