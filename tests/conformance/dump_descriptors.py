"""Write the protobuf descriptors compiled into the official Python SDK.

Usage: python dump_descriptors.py OUT.binpb

Imports every `*_pb2` module under `hatchet_sdk.contracts` and writes one
serialized `google.protobuf.FileDescriptorSet` holding each file that the
SDK's contracts define (google/* well-known types excluded). The Rust
conformance test compares that set with the descriptors of `hatchet-proto`.
"""

import importlib
import importlib.metadata
import pathlib
import sys

from google.protobuf import descriptor_pb2

import hatchet_sdk.contracts as contracts


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        return 2
    files = {}
    root = pathlib.Path(contracts.__file__).parent
    # Some contract folders have no __init__.py, so walk the files, not the packages.
    for path in sorted(root.rglob("*_pb2.py")):
        parts = path.relative_to(root).with_suffix("").parts
        module = importlib.import_module(".".join((contracts.__name__,) + parts))
        pending = [module.DESCRIPTOR]
        while pending:
            file = pending.pop()
            if file.name in files or file.name.startswith("google/"):
                continue
            proto = descriptor_pb2.FileDescriptorProto()
            file.CopyToProto(proto)
            files[file.name] = proto
            pending.extend(file.dependencies)
    out = descriptor_pb2.FileDescriptorSet()
    for name in sorted(files):
        out.file.append(files[name])
    with open(sys.argv[1], "wb") as handle:
        handle.write(out.SerializeToString())
    version = importlib.metadata.version("hatchet-sdk")
    print(f"hatchet-sdk {version}: {len(files)} descriptor files -> {sys.argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
